"""The portrait renderer on real photos of several people (tests/photo_set.py): every usable photo animates
every shape, every bad input is refused with its reason, user file formats read upright, crops never mirror."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Optional
from pathlib import Path

import numpy as np
import pytest

import photo_set
from facecast.calibration.eval.realism import luma as realism_luma
from facecast.engine.render.base import RendererUnavailable
from facecast.engine.render.portrait import PortraitRenderer
from facecast.engine.render.portrait.photo import MAX_PITCH_DEG, MAX_YAW_DEG, _judge, check_photo, read_photo
from facecast.engine.types import ARKIT_NAMES, NUM_ARKIT, FaceSample, PixelFormat, arkit_index

FACECAST = [sys.executable, "-m", "facecast.engine.cli"]
#: At weight 1, every single shape shows at least this share of itself on every accepted photo (the fold
#: guard may hold back only what would fold the face).
MIN_SHOWN = 0.5


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, Path]:
    return photo_set.build(tmp_path_factory.mktemp("photos"))


def test_the_set_holds_several_people_and_the_variations(photos):
    accepted, refused = photos
    names = {p.name for p in accepted.iterdir()}
    assert {"obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png", "32bit.png", "grace_hopper.jpg"} <= names
    assert len(names) >= 18 and {p.name for p in refused.iterdir()} == set(photo_set.REFUSED)


def test_every_accepted_photo_animates_every_shape(photos):
    accepted, _ = photos
    held = {}
    for photo in sorted(accepted.iterdir()):
        renderer = PortraitRenderer(portrait=photo, width=512, height=512)
        renderer.prepare()  # raises for a refused photo
        # the photo's own weights draw the photo: no vertex moves
        photo_pose = renderer.deformer.pose(renderer.rest_weights)
        np.testing.assert_allclose(photo_pose.vertices, renderer.deformer.rest, atol=1e-3, err_msg=photo.name)
        assert renderer.deformer.pose(np.zeros(NUM_ARKIT)).scale == 1.0, photo.name  # the neutral face, whole
        for k in range(NUM_ARKIT):
            w = np.zeros(NUM_ARKIT, np.float32)
            w[k] = 1.0
            scale = renderer.deformer.pose(w).scale
            if scale < MIN_SHOWN:
                held[f"{photo.name}:{ARKIT_NAMES[k]}"] = scale
        brow_iods, lid_light = blink_brow_and_lid(renderer)
        assert brow_iods < MAX_BLINK_BROW_IODS, (photo.name, brow_iods)
        assert lid_light > MIN_CLOSED_LID_LIGHT, (photo.name, lid_light)
        renderer.close()
    assert not held, f"the fold guard froze these shapes (share shown at weight 1): {held}"


#: The most the inner lips' motion bends from one point of their line to the next (the second difference of each
#: point's motion from the neutral face along the mouth's upper and lower chains, inter-ocular distances): jawOpen
#: alone, a smooth field whose corners stay put, bends 0.09 on obama3. A fold repair that tore the O bent it 0.16-0.18.
MAX_LIP_BEND_IODS = 0.1


def test_speech_combinations_the_repair_would_tear_are_scaled_back_smooth(photos):
    """A funnel with the jaw part open (an "oo" in speech) folds a few triangles of obama3's lower lip with his fitted
    gains. The frame's repair (``deform.unfold``) averaged their corners' motion, moved a point of the upper lip
    0.14 IOD and bent the lips' inner lines into a ragged hole. Such a repair is not kept
    (:data:`~.deform.REPAIR_MAX_IODS`): the guard scales the expression back, and the lines stay smooth (0.035-0.048
    measured, at scales 0.80-0.85)."""
    accepted, _ = photos
    gains = np.ones(NUM_ARKIT, np.float32)  # obama3's fitted gains for these shapes (facecast calibrate fit-portrait)
    for name, gain in {"mouthFunnel": 1.2, "jawOpen": 0.85}.items():
        gains[arkit_index(name)] = gain
    r = PortraitRenderer(portrait=accepted / "obama3.jpg", width=512, height=512, gains=gains)
    r.prepare()
    d = r.deformer
    for jaw in (0.3, 0.5):
        w = np.zeros(NUM_ARKIT)
        w[arkit_index("mouthFunnel")], w[arkit_index("jawOpen")] = 1.0, jaw
        assert not d._valid(d._contact(d.rest + d.expression(w)))  # it folds, so the guard acts
        pose = d.pose(w)
        motion = pose.vertices.astype(np.float64) - d._neutral_face
        bend = max(float(np.abs(np.diff(motion[list(chain)], 2, axis=0)).max())
                   for chain in (d.mesh.mouth.upper, d.mesh.mouth.lower))
        assert bend < MAX_LIP_BEND_IODS * r.rig.iod_px, (jaw, bend / r.rig.iod_px)
        assert pose.scale >= MIN_SHOWN, (jaw, pose.scale)  # and still shows most of it
    r.close()


#: A blink moves the brow less than this (inter-ocular distances). Before the lid skin stopped at the crease, a
#: closing lid dragged the brow 0.06 to 0.14 IOD down (the most on obama2, whose brows sit low over the eyes).
MAX_BLINK_BROW_IODS = 0.01
#: A closed upper lid is at least this share of the cheeks' brightness. Stretching the photo's fold and lashes
#: drew it at 0.22 to 0.25 on obama2 and its variations (a dark smear; MediaPipe read the eye half open); the
#: closed lid's own skin draws 0.48 to 0.92 over the set.
MIN_CLOSED_LID_LIGHT = 0.4


def blink_brow_and_lid(renderer: PortraitRenderer) -> tuple[float, float]:
    """(how far the subject's left brow moves at eyeBlinkLeft = 1, IODs; the mean brightness of the skin its
    lid closes over, as a share of the cheek's under the eye)."""
    import cv2
    from facecast.engine.face.landmarks import connection_points
    from facecast.engine.types import FaceSample

    w = np.zeros(NUM_ARKIT, np.float32)
    w[arkit_index("eyeBlinkLeft")] = 1.0
    shut, zero = FaceSample(capture_wall_ns=0, weights=w), FaceSample(capture_wall_ns=0, weights=np.zeros_like(w))
    brow = sorted(connection_points("FACE_LANDMARKS_LEFT_EYEBROW"))
    iod = renderer.rig.iod_px
    moved = renderer.drawn_landmarks(shut)[brow] - renderer.drawn_landmarks(zero)[brow]
    lum = renderer.pixel_format.rgb(renderer.render(shut)).astype(np.float64) @ [0.299, 0.587, 0.114]
    o, rest = renderer.mesh.eye_left, renderer.rest_vertices
    lid = np.concatenate([rest[o.upper], renderer.pose(shut).vertices[o.upper][::-1]])
    mask = np.zeros(lum.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(lid - 0.5).astype(np.int32)], 1)
    cheek = np.concatenate([rest[o.lower[1:-1]] + [0.0, k * iod] for k in np.linspace(0.15, 0.3, 6)]).astype(int)
    return (float(np.linalg.norm(moved, axis=1).max()) / iod,
            float(lum[mask > 0].mean() / np.median(lum[cheek[:, 1], cheek[:, 0]])))


def test_a_mouth_tracked_with_crossed_lip_lines_opens_with_the_jaw(photos):
    """Biden's closed mouth is tracked with the lower inner lip line above the upper one. Which chain is upper
    comes from MediaPipe's topology, and the openings are wound as if open: the jaw drops the lower lip and
    leaves the upper one (before: both went down together, half the jaw's drop each, and nothing opened), and
    the upper lip's own points with it."""
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / "biden.jpg", width=256, height=256)
    r.prepare()
    lm = r.rig.landmarks
    assert lm[14, 1] < lm[13, 1], "the photo no longer has crossed lip lines: the test needs one that has"
    w = np.zeros(NUM_ARKIT, np.float32)
    w[arkit_index("jawOpen")] = 1.0
    neutral = r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32)))
    moved = r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=w)) - neutral
    # the upper lip: 0.03 IOD measured (a cheek triangle unfolded near the corner); 0.25 with the bug
    assert abs(moved[13, 1]) < 0.08 * r.rig.iod_px and moved[14, 1] > 0.3 * r.rig.iod_px
    # the upper lip's own points near the corners, which lie below the crossed lower lip line, stay with it: they
    # curve down into the corners with the upper lip, no farther than the corners go (0.12 IOD measured, the corners
    # 0.18); carried with the jaw (0.5 IOD), they stretched an upper-lip triangle across the open mouth
    corners = moved[list(r.mesh.mouth.corners), 1].min()
    assert np.abs(moved[[183, 184, 407, 408], 1]).max() <= corners + 0.01 * r.rig.iod_px, moved[[183, 184, 407, 408]]
    assert r.pose(FaceSample(capture_wall_ns=0, weights=w)).scale == 1.0


def test_a_closed_mouth_stays_closed_on_the_neutral_face_and_parts_evenly(photos):
    """Biden's closed mouth, tracked with its lip lines crossed at every column but one (0.05 px apart there):
    taking his pressed, rolled-in lips out moves both lips together, so the neutral face's mouth stays closed and
    the jaw parts it along one curve. Before, the upper lip's points below the mouth line were smoothed with the
    lower lip and the one above it was left behind: the neutral face opened a 2.9 px notch there, and jawOpen 0.15
    opened that column 7.5 px while its neighbours parted 1.1 (a white diamond of teeth at one spot)."""
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / "biden.jpg", width=512, height=512)
    r.prepare()
    d, o = r.deformer, r.mesh.mouth
    up, low = np.array(o.upper[1:-1]), np.array(o.lower[1:-1])
    photo_gap = (r._rest[low] - r._rest[up]) @ d._down
    zero = np.zeros(NUM_ARKIT)
    neutral = d.pose(zero).vertices
    gap = (neutral[low] - neutral[up]) @ d._down
    assert (gap <= np.maximum(photo_gap, 0.0) + 0.5).all(), np.round(gap, 2)  # 0.04 px measured (2.9 before)
    jaw = zero.copy()
    jaw[arkit_index("jawOpen")] = 0.15
    v = d.pose(jaw).vertices
    parted = (v[low] - v[up]) @ d._down
    middle = parted[len(parted) // 4: -(len(parted) // 4)]
    assert parted.max() < 1.3 * np.median(middle), np.round(parted, 2)  # 1.03 measured (6.6 before)


@pytest.mark.parametrize("name", ["obama2.jpg", "astronaut.png", "obama.jpg", "32bit.png"])
def test_a_sealed_mouths_seam_is_darker_than_its_lips(photos, name):
    """A photo open at rest has its lips sealed on the neutral face, each lip onto the other's line. The mouth's
    opening is measured across its line, not between a column's two points, which the seal leaves apart sideways:
    obama2's lips 1 px apart measured 2-4.7 px, the teeth behind showed at half strength, and the seam was a light
    grey line between the lips (obama2: luma 104 between lips of 63 and 120); now 47-50, the lips' colour darkened."""
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, pixel_format=PixelFormat.RGB8, width=512, height=512)
    r.prepare()
    zero = FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32))
    pose = r.deformer.pose(np.zeros(NUM_ARKIT))
    o = r.mesh.mouth
    assert pose.opening_px[o.upper[1:-1]].max() < 2.5  # the seal's gap (4.7 between partners before)
    frame = r.render(zero)[..., :3].astype(np.float64)
    luma = realism_luma(frame)
    d = r.drawn_landmarks(zero)[:, :2]
    lips_red = r._lips_rgb[0] / r._lips_rgb[1]  # the lips' hue: red over green
    mid = len(o.upper) // 2
    for up, low in zip(o.upper[mid - 2: mid + 3], o.lower[mid - 2: mid + 3]):
        x = int((d[up, 0] + d[low, 0]) / 2)
        y0, y1 = int(np.floor(min(d[up, 1], d[low, 1]))) - 1, int(np.ceil(max(d[up, 1], d[low, 1]))) + 1
        seam = luma[y0:y1 + 1, x].min()
        lips = (luma[y0 - 3:y0 - 1, x].mean() + luma[y1 + 2:y1 + 4, x].mean()) / 2
        assert seam < 0.8 * lips, (up, low, luma[y0 - 3:y1 + 4, x].round())
        # ... and no greyer than the lips (raster.SEAM_DARK): the teeth and the cavity's shadow greyed it (obama2's red
        # over green 0.69 of its lips'; 0.85-1.05 now on nine photos of the set, the least on 32bit, a seam pixel shared
        # with a lower lip whose own hue is 0.93 of the lips')
        rgb = frame[y0 + int(np.argmin(luma[y0:y1 + 1, x])), x]
        assert rgb[0] / max(rgb[1], 1.0) > 0.8 * lips_red, (rgb, r._lips_rgb)


def test_a_funnel_reads_as_one_from_the_drawn_landmarks_on_a_closed_mouth(photos):
    """MediaPipe's blendshape model on the drawn landmarks (the geometry channel) reads Biden's funnel at weight 1
    with his fitted gain as 0.39 (issue 16's goal: a range of 0.3): with the lips' rise kept at 0.4 of itself out to the corners it read
    0.27-0.30, and the skin beside the corners tore into a horizontal step."""
    from facecast.calibration.eval.landmark_blendshapes import LandmarkBlendshapes
    from facecast.engine.types import FaceSample
    from facecast.engine.render.portrait.gains import DEFAULT_GAINS
    accepted, _ = photos
    k = arkit_index("mouthFunnel")
    gains = DEFAULT_GAINS.copy()
    gains[k] = 1.2  # Biden's own fit (facecast calibrate fit-portrait)
    r = PortraitRenderer(portrait=accepted / "biden.jpg", pixel_format=PixelFormat.RGB8, width=512, height=512,
                         gains=gains)
    r.prepare()
    geometry = LandmarkBlendshapes()
    read = []
    for x in (0.0, 1.0):
        w = np.zeros(NUM_ARKIT, np.float32)
        w[k] = x
        read.append(geometry(r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=w)))[k])
    assert read[1] - read[0] > 0.33, read


@pytest.mark.parametrize("mirrored", [False, True])
def test_a_closed_mouth_with_crossed_lip_lines_draws_no_black_pixels(photos, tmp_path, mirrored):
    """Biden's closed mouth, tracked with its lip lines crossed, turns the mouth's triangles over. Drawn as the mouth's
    interior, their attributes ran off their range and left single pixels of luma 0-7 along his lips (their 5x5
    median 45-54), and a skin triangle's soft edge blended over a hidden one against the photo instead of what was
    drawn there. Now they are drawn as the skin they cover, the photo's own seam while the mouth stays shut.

    The mirrored copy (not one the fix was made on) showed a dark dot on its lips: where its folded skin overlaps
    there, two skin triangles' soft edges added up past full coverage."""
    import cv2
    from PIL import Image, ImageOps
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    photo = accepted / "biden.jpg"
    if mirrored:
        ImageOps.mirror(Image.open(photo)).save(tmp_path / "biden_mirrored.png")
        photo = tmp_path / "biden_mirrored.png"
    r = PortraitRenderer(portrait=photo, pixel_format=PixelFormat.RGB8, width=512, height=512)
    r.prepare()
    zero = FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32))
    own = FaceSample(capture_wall_ns=0, weights=np.asarray(r.rest_weights, np.float32))
    d = r.drawn_landmarks(zero)[:, :2]
    lips = d[np.concatenate([r.mesh.mouth.upper, r.mesh.mouth.lower])]
    x0, x1 = int(lips[:, 0].min()), int(lips[:, 0].max()) + 1
    y0, y1 = int(lips[:, 1].min()) - 3, int(lips[:, 1].max()) + 4

    def darkest(sample):  # the darkest pixel about the lips against its 5x5 median
        luma = realism_luma(r.render(sample)[..., :3])
        median = cv2.medianBlur(np.clip(luma, 0, 255).astype(np.uint8), 5).astype(np.float64)
        return (luma[y0:y1, x0:x1] / np.maximum(median[y0:y1, x0:x1], 1.0)).min()

    # against the photo's own (its lips' dark corners: 0.69, the mirrored copy 0.46): 0.62 measured here (0.04 before);
    # the mirrored copy 0.42 (0.29 while soft edges could add up past full coverage)
    assert darkest(zero) > 0.8 * darkest(own), (photo.name, darkest(zero), darkest(own))


def test_a_jaw_passing_the_photos_own_opening_shows_one_mouth_not_a_patchwork(photos):
    """obama2's mouth is open at rest, and the photo's own opening shows while the mouth is at its rest size. Judged
    per pixel, the columns near their rest height showed the photo's mouth and the others the synthesised one as the
    jaw passed it: at jawOpen 0.55 the photo's share went 0.0 to 1.0 across the mouth's columns, a dark rest corner
    beside synthesised teeth. Now one share holds for the whole mouth (:func:`.raster.mouth_rest_share`)."""
    from facecast.engine.render.portrait import raster
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / "obama2.jpg", pixel_format=PixelFormat.RGB8, width=512, height=512)
    r.prepare()
    for jaw in (0.55, 0.6, 0.65):
        w = np.zeros(NUM_ARKIT, np.float32)
        w[arkit_index("jawOpen")] = jaw
        sample = FaceSample(capture_wall_ns=0, weights=w)
        pose = r.pose(sample)
        frame = r.render(sample)[..., :3].astype(np.float64)
        ends = []
        for share in (0.0, 1.0):  # the synthesised mouth alone, the photo's alone
            mp = r.frame_params(pose, sample)
            mp[raster.P_MOUTH_REST] = share
            out = r._base.copy()
            raster.draw(out, r._scene, dst=pose.vertices, opening_px=pose.opening_px, eye_affine=r._eye_affine(pose),
                        neutral=r.deformer.neutral_vertices, params=mp)
            ends.append(out[..., :3].astype(np.float64))
        synth, photo = ends
        apart = np.abs(photo - synth).sum(2) > 30
        shares = []
        for x in pose.vertices[r.mesh.mouth.upper[1:-1], 0]:  # each column's share of the photo's mouth
            cols = slice(int(x) - 1, int(x) + 2)
            m = apart[:, cols]
            if m.sum() >= 5:
                d, f = (photo - synth)[:, cols][m], (frame - synth)[:, cols][m]
                shares.append(float((d * f).sum() / (d * d).sum()))
        assert len(shares) >= 5 and max(shares) - min(shares) < 0.1, (jaw, shares)


@pytest.mark.parametrize("name", ["astronaut.png", "obama2.jpg", "biden.jpg"])
def test_an_open_jaw_is_a_lens_hinged_at_the_mouth_corners(photos, name):
    """The lips hinge at the corners: the lower lip drops along a half ellipse and the upper lip curves down into
    the corners (a lower lip that dropped whole left the open mouth a box with straight skin walls at its sides).
    On a closed mouth, one open at rest (obama2: the lip seal lets go as the jaw opens) and one tracked with its lip
    lines crossed (Biden)."""
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512)
    r.prepare()
    d, o = r.deformer, r.mesh.mouth
    zero = np.zeros(NUM_ARKIT)
    jaw = zero.copy()
    jaw[arkit_index("jawOpen")] = 1.0
    down = (d.pose(jaw).vertices - d.pose(zero).vertices) @ d._down
    across = r._rest @ d._across
    corners = across[[o.upper[0], o.upper[-1]]]
    t = np.abs(across - corners.mean()) / (np.abs(np.diff(corners))[0] / 2)  # 0 mid-lip, 1 at the corners
    lower, upper = np.array(o.lower[1:-1]), np.array(o.upper[1:-1])
    mid = down[lower[t[lower] < 0.25]].mean()
    assert mid > 0.4 * r.rig.iod_px
    outer = lower[t[lower] > 0.75]
    # the lower lip's last quarter drops 0.55-0.72 of its middle on these photos (1.0 before)
    assert len(outer) and (down[outer] < 0.85 * mid).all() and (down[outer] > 0.3 * mid).all()
    # falling toward the corners: the seal letting go of obama2's lips column by column leaves a wobble of 3 px
    assert np.diff(down[lower][np.argsort(t[lower])]).max() < 0.06 * mid
    upper_mid = down[upper[t[upper] < 0.25]]
    assert np.abs(upper_mid).max() < 0.1 * mid  # the upper lip stays mid-lip (the seal lets go: 2-4 px),
    assert down[upper[t[upper] > 0.75]].min() > upper_mid.max() + 0.02 * mid  # and curves down into the corners


@pytest.mark.parametrize("name", ["astronaut.png", "biden.jpg", "obama3.jpg", "obama_tight.jpg", "obama_turned.png"])
def test_an_open_jaw_folds_no_skin_about_the_lips(photos, name):
    """The lips' corners are four landmarks a side (the outer contour's, the inner one's and the two rings' between),
    1-2 px apart. The jaw moved two of them (and took the outer one as the outer point nearest the inner corner: on
    12 of the 17 photos an upper or lower lip point), the rings' corners stayed put, and the lower lip's inner edge
    dropped past its own ring beside the corner: the lips' skin turned over at both corners, 30-330 px^2 of it at
    jawOpen 1, drawn as slivers and dark specks beside the opening (0-2 px^2 now)."""
    from facecast.engine.render.portrait.mesh import MOUTH, signed_areas
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512)
    r.prepare()
    d, tris = r.deformer, r.mesh.triangles
    neutral = d.pose(np.zeros(NUM_ARKIT)).vertices
    near = np.linalg.norm(neutral[tris].mean(1) - neutral[list(r.mesh.mouth.corners)].mean(0), axis=1)
    about_lips = (r.mesh.kinds != MOUTH) & (near < 0.6 * r.rig.iod_px) & (signed_areas(neutral, tris) > 0)
    for jaw in (0.5, 1.0):
        w = np.zeros(NUM_ARKIT)
        w[arkit_index("jawOpen")] = jaw
        area = signed_areas(d.pose(w).vertices, tris)
        turned = -area[about_lips & (area < 0)].sum() / 2
        assert turned < 5.0, (name, jaw, turned)


@pytest.mark.parametrize("gain", [0.85, 1.0])
def test_an_open_jaws_lower_lip_has_no_step(photos, gain):
    """At obama3's right mouth corner the jaw's field folds a few skin triangles, and the fold repair averaged motion
    over them for 50 rounds: it spread into the lower lip beside them and took 3.4 px of the drop at point 402, a
    step in the lip that the lower teeth and the tongue followed (-2.4 / -3.3 px off its neighbours' mean at
    jawOpen 0.7 / 1 with the fitted gain, 0.85). The repair now gives every point back its own motion where that
    folds none of its triangles (deform.give_back_motion): -0.3 / -0.2 px, and the set's other photos' lips are as
    they were (within 0.1 px)."""
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    gains = np.ones(NUM_ARKIT)
    gains[arkit_index("jawOpen")] = gain
    r = PortraitRenderer(portrait=accepted / "obama3.jpg", width=512, height=512, pixel_format=PixelFormat.RGB8,
                         gains=gains)
    r.prepare()
    lower = list(r.mesh.mouth.lower)
    for jaw in (0.7, 1.0):
        w = np.zeros(NUM_ARKIT, np.float32)
        w[arkit_index("jawOpen")] = jaw
        y = r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=w))[lower, 1]
        kink = (y[1:-1] - 0.5 * (y[:-2] + y[2:]))[1:-1]  # down is +y: a lip dropping as an arc bends the other way
        assert kink.min() > -1.0, (gain, jaw, lower[2 + int(np.argmin(kink))], kink.min())
    assert r.deformer.pose(w).scale == 1.0


@pytest.mark.parametrize("name", ["biden.jpg", "obama.jpg", "astronaut.png"])
def test_a_jaw_moved_sideways_leaves_the_upper_teeth_where_they_are(photos, name):
    """The upper teeth are in the skull: jawLeft moves the lower lip and the lower teeth, not them. Their columns were
    interpolated across the opening's triangles, from the upper lip's to the lower lip's, so a jaw moved sideways
    sheared them: the drawn teeth's gaps and the photo's own teeth ran in slanted stripes. Now each row takes its own
    lip's column. Mid-mouth, just under the upper lip (which stays there), jawOpen 0.3 with and without jawLeft 0.4
    differ by 0.14-0.27 grey levels on these photos (2.6 / 5.4 / 5.2 sheared)."""
    from facecast.calibration.eval import realism

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    still = realism.weights_of({"jawOpen": 0.3}, r.rest_weights)
    moved = realism.weights_of({"jawOpen": 0.3, "jawLeft": 0.4}, r.rest_weights)
    a, b = (realism.render_rgb(r, w).astype(np.float64) for w in (still, moved))
    la, lb = realism._drawn(r, still), realism._drawn(r, moved)
    assert np.abs(lb[13] - la[13]).max() < 0.1  # the upper lip's middle stays put
    assert np.abs(lb[14, 0] - la[14, 0]) > 0.03 * r.rig.iod_px  # the lower lip moves sideways
    x0, x1 = la[[61, 291], 0].min(), la[[61, 291], 0].max()
    top = int(round(max(la[13, 1], lb[13, 1]))) + 1
    band = (slice(top, top + int(0.05 * r.rig.iod_px)), slice(int(x0 + (x1 - x0) / 3), int(x1 - (x1 - x0) / 3)))
    assert np.abs(a[band] - b[band]).mean() < 1.0


@pytest.mark.parametrize("name", ["biden.jpg", "obama3.jpg", "obama.jpg"])
def test_a_mouth_open_for_speech_shows_dark_between_its_tooth_rows(photos, name):
    """jawOpen 0.3 opens these mouths 14-20 px (0.14-0.2 IOD). A relaxed mouth shows a few millimetres of its upper
    teeth, more as it opens wide; drawn 0.13 IOD long at any opening, the upper row and the lower met and filled the
    opening with white: the middle column's darkest 0.90 and 0.64 of its lightest on the closed mouths, 0.45 and 0.29
    now (0.17-0.36 on the set's other photos). obama.jpg grins with its teeth bare, and its teeth hung whole from the lip its neutral face lowers (0.80;
    0.18 now)."""
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, pixel_format=PixelFormat.RGB8, width=512, height=512)
    r.prepare()
    weights = np.zeros(NUM_ARKIT, np.float32)
    weights[arkit_index("jawOpen")] = 0.3
    s = FaceSample(capture_wall_ns=0, weights=weights)
    g = realism_luma(np.ascontiguousarray(r.render(s)[..., :3]))
    d = r.drawn_landmarks(s)
    x, top, bottom = int(round(d[13, 0])), d[13, 1], d[14, 1]  # the inner lips' middle
    assert bottom - top > 0.12 * r.rig.iod_px
    column = g[int(np.ceil(top)) + 1:int(np.floor(bottom)) - 1, x - 2:x + 3].mean(1)
    assert column.min() < 0.55 * column.max(), column.min() / column.max()


def _teeth_luma(r: PortraitRenderer) -> float:
    """The luma of the colour ``r`` draws its teeth in."""
    from facecast.calibration.eval import realism
    from facecast.engine.render.portrait import raster
    return float(realism.luma(r._params[raster.P_TEETH:raster.P_TEETH + 3].astype(np.float64)[None, None])[0, 0])


def _inner_lips(r: PortraitRenderer) -> list[int]:
    """The inner lips' landmarks around the mouth (the renderer's mouth opening: its upper chain, then its lower
    chain back)."""
    return [int(i) for i in r.mesh.mouth.upper] + [int(i) for i in r.mesh.mouth.lower[-2:0:-1]]


def _inner_mouth(r: PortraitRenderer, drawn: np.ndarray, shape_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(the pixels inside the drawn inner lips, each pixel's place across the mouth: -1 and 1 at its corners)."""
    from PIL import Image, ImageDraw
    mask = Image.new("L", (shape_hw[1], shape_hw[0]))
    ImageDraw.Draw(mask).polygon([tuple(drawn[i, :2]) for i in _inner_lips(r)], fill=1)
    left, right = (drawn[i, :2] for i in r.mesh.mouth.corners)
    axis = (right - left) / np.linalg.norm(right - left)
    ys, xs = np.mgrid[0:shape_hw[0], 0:shape_hw[1]]
    x = ((np.stack([xs, ys], -1) + 0.5 - (left + right) / 2) @ axis) / (0.5 * np.linalg.norm(right - left))
    return np.asarray(mask) > 0, x


@pytest.mark.parametrize("name", ["astronaut.png", "biden.jpg", "obama2.jpg", "two_faces.jpg"])
def test_a_mouth_just_open_is_in_shadow_but_for_its_front_teeth(photos, name):
    """Lips parted 0.05 IOD (about 3 mm, speech's most common opening) let little light in. obama3's photo is such a
    mouth (0.059 IOD): its middle half is 0.38 of the teeth's colour, and its front teeth catch light, 1.57 times its
    sides. The renderer drew a flat slab of teeth there, 0.64-0.78 of their colour on these photos, the front 1.13-1.19
    times the sides (a grey-white band between the lips); 0.54-0.68 and 1.36-1.53 now. Opened 0.14 IOD, as wide as
    the astronaut's and obama.jpg's own grins, the mouth is as light as before (0.80-0.94; the photos' 0.90-0.91)."""
    from facecast.calibration.eval import realism
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, pixel_format=PixelFormat.RGB8, width=512, height=512)
    r.prepare()
    iod = r.rig.iod_px
    teeth = _teeth_luma(r)
    jaw = next(j for j in np.arange(0.02, 0.4, 0.01)  # the first opening of 0.05 IOD
               if np.subtract(*realism._drawn(r, realism.weights_of({"jawOpen": j}, r.rest_weights))[[14, 13], 1])
               >= 0.05 * iod)
    w = realism.weights_of({"jawOpen": jaw}, r.rest_weights)
    frame = realism.luma(realism.render_rgb(r, w))
    inside, x = _inner_mouth(r, realism._drawn(r, w), frame.shape)
    x = np.abs(x)
    middle = float(frame[inside & (x < 0.5)].mean()) / teeth
    front = float(frame[inside & (x < 0.15)].mean()) / float(frame[inside & (x > 0.4) & (x < 0.7)].mean())
    assert middle < 0.7, middle
    assert front > 1.3, front


@pytest.mark.parametrize("name", ["astronaut.png", "obama.jpg", "two_faces.jpg"])
def test_lips_that_meet_roll_in_toward_their_seam(photos, name):
    """These photos' mouths are open, and their neutral faces close them: the lips' edges, lit in the photo up to
    the teeth, met in a line one pixel wide, as if drawn with a pen. Lips that meet roll in toward the seam, in the
    upper lip's shadow. Over the middle half of the mouth, the lips 0.01 IOD from the seam against their body
    (0.05-0.07 IOD from it), the mean of the upper and the lower lip's: 0.94-0.98 before, 0.82-0.86 now."""
    from facecast.calibration.eval import realism
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, pixel_format=PixelFormat.RGB8, width=512, height=512)
    r.prepare()
    w = realism.weights_of({}, r.rest_weights)
    frame, d, iod = realism.luma(realism.render_rgb(r, w)), realism._drawn(r, w), r.rig.iod_px
    mouth = r.mesh.mouth
    x0, x1 = sorted(d[list(mouth.corners), 0])
    xs = np.arange(int(x0 + 0.25 * (x1 - x0)), int(x0 + 0.75 * (x1 - x0)))
    up, low = (np.interp(xs + 0.5, *d[np.asarray(chain)[np.argsort(d[chain, 0])], :2].T)
               for chain in (mouth.upper, mouth.lower))
    assert np.median(low - up) < 0.02 * iod  # the lips meet

    def at(ys: np.ndarray) -> np.ndarray:  # luma at (column, y), linear down each column
        return np.array([np.interp(y - 0.5, np.arange(frame.shape[0]), frame[:, x]) for x, y in zip(xs, ys)])

    def body(chain_y: np.ndarray, sign: float) -> np.ndarray:
        return np.median([at(chain_y + sign * f * iod) for f in (0.05, 0.06, 0.07)], axis=0)

    upper = np.median(at(up - 0.01 * iod) / body(up, -1.0))
    lower = np.median(at(low + 0.01 * iod) / body(low, 1.0))
    assert (upper + lower) / 2 < 0.9, (upper, lower)


def test_a_photos_own_closed_lips_keep_their_own_seam(photos):
    """Biden's lips meet in his photo: his own seam is in its pixels, and the lips' roll toward the seam is not drawn
    over it (the astronaut's, drawn from an open mouth, is)."""
    from facecast.calibration.eval import realism
    from facecast.engine.render.portrait import raster
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    for name, changed in (("biden.jpg", False), ("astronaut.png", True)):
        r = PortraitRenderer(portrait=accepted / name, pixel_format=PixelFormat.RGB8, width=512, height=512)
        r.prepare()
        for jaw in (0.0, 0.03):  # the neutral face, and lips just parted (the photo's own mouth no longer drawn)
            s = FaceSample(capture_wall_ns=0, weights=realism.weights_of({"jawOpen": jaw}, r.rest_weights))
            frame = np.ascontiguousarray(r.render(s)[..., :3])
            again = frame.copy()
            pose = r.pose(s)
            sc = r._scene
            raster._seam_shadow(again, sc.channels, pose.vertices, sc.mouth_upper, sc.mouth_lower, sc.attr_h0,
                                r.frame_params(pose, s))
            if changed and jaw == 0.0:
                assert np.abs(again.astype(int) - frame).max() > 10, name
            elif not changed:
                assert np.array_equal(again, frame), (name, jaw)


@pytest.mark.parametrize("name", ["biden.jpg", "obama3_gray.png"])
def test_an_open_mouths_drawn_teeth_go_into_shadow_toward_its_corners(photos, name):
    """Real teeth toward a mouth's corners lie in the cheeks' shadow (the buccal corridor). The drawn rows hung from
    the lips into the corners at their full light, and with the lower row they ringed the dark opening in a light
    band 1-3 px wide (issue 17's halo): in the opening's outer fifth each side, 0.46-0.61 of the pixels were lighter
    than half the teeth's colour at jawOpen 0.4 and 0.7 on these closed mouths; 0.18-0.32 now (the rest is mostly the
    lips' own edge inside the drawn contour)."""
    from facecast.calibration.eval import realism
    from facecast.engine.render.portrait import raster
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, pixel_format=PixelFormat.RGB8, width=512, height=512)
    r.prepare()
    assert r._params[raster.P_PHOTO_TEETH] == 0.0  # every tooth in the opening is drawn
    teeth = _teeth_luma(r)
    for jaw in (0.4, 0.7):
        w = realism.weights_of({"jawOpen": jaw}, r.rest_weights)
        frame = realism.luma(realism.render_rgb(r, w))
        inside, x = _inner_mouth(r, realism._drawn(r, w), frame.shape)
        sides = inside & (np.abs(x) > 0.8)
        assert sides.sum() > 20  # the mouth is open to its corners
        lit = float((frame[sides] > 0.5 * teeth).mean())
        assert lit < 0.4, (jaw, lit)


@pytest.mark.parametrize("name", ["obama.jpg", "astronaut.png"])
def test_a_grins_own_teeth_stay_in_the_skull_as_its_lip_comes_down(photos, name):
    """These photos grin with their upper teeth bare. Their neutral face brings the middle of the upper lip 7-9 px
    down over the teeth; the teeth stay where the photo has them, their tops hidden. Hung whole from the lowered
    lip, they reached that far below their own tips. Between the lip and the photo's tips, the mouth open for speech
    (jawOpen 0.3) draws what the photo has there: a mean luma difference of 4.8 and 6.7 (30.3 and 20.2 with the
    teeth hung from the lip)."""
    from facecast.engine.render.portrait import raster
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, pixel_format=PixelFormat.RGB8, width=512, height=512)
    r.prepare()
    rest = FaceSample(capture_wall_ns=0, weights=np.asarray(r.rest_weights, np.float32))
    photo, at_rest = realism_luma(np.ascontiguousarray(r.render(rest)[..., :3])), r.drawn_landmarks(rest)
    weights = np.zeros(NUM_ARKIT, np.float32)
    weights[arkit_index("jawOpen")] = 0.3
    s = FaceSample(capture_wall_ns=0, weights=weights)
    g, d = realism_luma(np.ascontiguousarray(r.render(s)[..., :3])), r.drawn_landmarks(s)
    mid = slice(raster.TEETH_RUN_BINS * 7 // 16, raster.TEETH_RUN_BINS * 9 // 16)
    tip = at_rest[13, 1] + float(r._scene.teeth_run[0, mid].mean())  # the photo's upper teeth's tips, mid-mouth
    assert d[13, 1] - at_rest[13, 1] > 4.0  # the lip has come down
    x, rows = int(round(d[13, 0])), slice(int(np.ceil(d[13, 1])) + 2, int(tip) - 2)
    assert rows.stop - rows.start >= 3
    diff = float(np.abs(g[rows, x - 10:x + 11] - photo[rows, x - 10:x + 11]).mean())
    assert diff < 10.0, diff


@pytest.mark.parametrize("name", ["obama3.jpg", "biden.jpg", "astronaut.png", "obama2.jpg"])
def test_a_fold_the_jaw_opens_at_a_mouth_corner_shows_the_lips_corner(photos, name):
    """MediaPipe's mesh folds at the mouth corners: triangles of 1-7 px^2 face away in the photo. An open jaw
    opens them, and where no skin covers them they are drawn from their own source. Blurred as far as their
    stretch asked (11 px), they drew the skin around the corner, lighter than the lips' corner, as light
    slivers beside the opening (a median 29 grey levels off the corner they stand for on obama3, 25 on obama2)."""
    from facecast.engine.render.portrait.mesh import FOLDED
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512)
    r.prepare()
    w = np.zeros(NUM_ARKIT, np.float32)
    w[arkit_index("jawOpen")] = 1.0
    sample = FaceSample(capture_wall_ns=0, weights=w)
    frame = r.render(sample)[..., :3].astype(np.float64)
    v, tris, kinds = r.pose(sample).vertices, r.mesh.triangles, r.mesh.kinds
    mouth = set(r.mesh.mouth.upper) | set(r.mesh.mouth.lower)
    lips = v[sorted(mouth)]
    x0, y0 = np.floor(lips.min(0) - 10).astype(int)
    x1, y1 = np.ceil(lips.max(0) + 10).astype(int)
    gy, gx = np.mgrid[y0:y1, x0:x1] + 0.5
    pts = np.stack([gx.ravel(), gy.ravel()], 1)

    def inside(t):  # barycentrics of every pixel centre in frame triangle t, and whether it is inside
        a, b, c = v[tris[t]]
        m = np.array([b - a, c - a]).T
        if abs(np.linalg.det(m)) < 1e-6:
            return None, np.zeros(len(pts), bool)
        bc = np.linalg.solve(m, (pts - a).T).T
        return bc, (bc >= 0).all(1) & (bc.sum(1) <= 1)

    near = [t for t in range(len(tris)) if np.linalg.norm(v[tris[t]].mean(0) - lips.mean(0)) < 0.8 * r.rig.iod_px]
    covered = np.zeros(len(pts), bool)
    for t in near:
        if kinds[t] != FOLDED:
            covered |= inside(t)[1]
    luma = np.array([0.299, 0.587, 0.114])
    drawn, source = [], []
    for t in near:
        if kinds[t] != FOLDED or not set(tris[t]) & mouth:
            continue
        bc, ins = inside(t)
        ins &= ~covered
        if not ins.any():
            continue
        a, b, c = r._rest[tris[t]]
        src = a + bc[ins, :1] * (b - a) + bc[ins, 1:] * (c - a)
        xy = np.clip(np.floor(src).astype(int), 0, [r.rig.image.shape[1] - 1, r.rig.image.shape[0] - 1])
        source.append(r._scene.fill_img[xy[:, 1], xy[:, 0], :3] @ luma)
        px = pts[ins].astype(int)
        drawn.append(frame[px[:, 1], px[:, 0]] @ luma)
    drawn, source = np.concatenate(drawn), np.concatenate(source)
    assert len(drawn) >= 20  # the folds are open and show
    # the lips' corner they stand for (the photo with its openings filled, as the warp samples it): the light they
    # add over it, summed over their pixels, in grey levels per IOD^2: 0.04-0.18 on these photos. While the upper lip
    # stood still at the corners as they dropped, the jaw opened 2-4x as much of the folds: 0.09-0.47 (the astronaut
    # the most, a light sliver up from each corner); blurred 11 px, obama3's were 29 grey levels lighter in the median
    excess = np.clip(drawn - source, 0.0, None).sum() / r.rig.iod_px ** 2
    assert excess < 0.25, (excess, len(drawn), np.median(drawn), np.median(source))


def _shut_eyes(photos, name: str) -> tuple[np.ndarray, np.ndarray, list, PortraitRenderer]:
    """(frame (H, W, 3) uint8, its grey levels (H, W) float64, per eye its (lid, cheek) masks
    (``portrait_helpers.lid_and_cheek_masks``), the renderer) of the photo ``name`` of the set at 512x512, both
    eyes shut."""
    from facecast.engine.types import FaceSample
    from portrait_helpers import lid_and_cheek_masks

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512)
    r.prepare()
    w = np.zeros(NUM_ARKIT, np.float32)
    w[[arkit_index("eyeBlinkLeft"), arkit_index("eyeBlinkRight")]] = 1.0
    sample = FaceSample(capture_wall_ns=0, weights=w)
    frame = np.ascontiguousarray(r.pixel_format.rgb(r.render(sample)))
    grey = frame.astype(np.float64) @ [0.299, 0.587, 0.114]
    pose = r.pose(sample)
    masks = [lid_and_cheek_masks(pose.vertices[o.upper], grey.shape, r.rig.iod_px)
             for o in (r.mesh.eye_right, r.mesh.eye_left)]
    return frame, grey, masks, r


@pytest.mark.parametrize("name", ["biden.jpg", "obama.jpg", "obama_dark.jpg", "two_faces.jpg"])
def test_a_shut_lid_has_the_grain_of_the_photos_skin(photos, name):
    """The closed lid's skin is a smooth colour (nothing in it to streak as the lid skin stretches), and on these
    grainy photos it showed as a flat patch pasted over the eye. Grain is laid over it in the frame's own pixels
    (``eyes.skin_grain``): as grainy as the face's skin at large (``portrait_helpers.face_grain`` of the neutral
    face: 1.12-1.24 of it measured), and not in streaks (the streak energies across x over across y, under 0.5:
    0.12-0.31 measured, the cheeks' 0.12-0.26; a grain sampled where the photo's skin is instead drew vertical
    streaks, 0.57-1.85). With all of the grain of the skin under the eyes (``eyes.lid_grain_share`` 1), a grin's
    squint wrinkles drew the lid as wood grain, 1.76 of the face's on obama.jpg (Biden's 1.39); without grain it
    is 0.38-0.40. Tuned on obama.jpg and Biden; the dark Obama and two_faces (obama.jpg's grin, re-encoded beside a
    smaller obama2) were not: 1.66-1.89 before, 1.02-1.11 now."""
    from facecast.calibration.eval.realism import streak_energies
    from facecast.engine.face.landmarks import NUM_LANDMARKS
    from facecast.engine.render.portrait.eyes import _fine_detail
    from facecast.engine.types import FaceSample
    from portrait_helpers import face_grain

    frame, _, masks, r = _shut_eyes(photos, name)
    neutral = FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32))
    skin = face_grain(r.pixel_format.rgb(r.render(neutral)), r.pose(neutral).vertices[:NUM_LANDMARKS], r.rig.iod_px)
    detail = _fine_detail(frame)
    for lid, _ in masks:
        ratio = detail[lid].std() / skin
        assert 0.5 < ratio < 1.3, ratio
        across_x, across_y = streak_energies(frame, lid, sigma_px=1.0)
        assert across_x / across_y < 0.5, across_x / across_y


@pytest.mark.parametrize("name", ["obama.jpg", "obama_turned.png", "obama_small.jpg", "obama2.jpg"])
def test_the_photos_own_weights_draw_the_photo(photos, name):
    """The astronaut's rest pose is her photo (``test_portrait.py``), and so is every photo's. Grinning photos were
    not: the stretch blur's pinch (skin squeezed across x) was measured from the neutral face, from which a grin's
    cheeks are squeezed, so the rest pose blurred the photo's own nasolabial folds and laid grain over them (mean
    difference 0.21-0.35 grey levels over the frame, 99.9th percentile 17-28 on the Obama grins). The pinch is now
    the lesser of the one from the neutral face and the one from the photo: 0.02-0.04, 5-9."""
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    from facecast.engine.types import FaceSample

    out = r.render(FaceSample(capture_wall_ns=0, weights=r.rest_weights.astype(np.float32)))
    diff = np.abs(out.astype(np.int16) - r.rig.image).max(2)
    assert diff.mean() < 0.05 and np.percentile(diff, 99.9) <= 12, (diff.mean(), np.percentile(diff, 99.9))


def test_a_crack_between_folding_triangles_shows_no_teeth(photos):
    """Every frame starts from the portrait and the warp draws over it. Where folding skin beside a moving mouth
    leaves a pixel or two that no triangle covers (the turned Obama's pucker: 1-2 pixels), that pixel showed the
    photo's own teeth: a white speck at the mouth's corner, (232, 228, 222) among lips of (101, 64, 50). Frames now
    start from the portrait with its openings filled."""
    from facecast.engine.render.portrait.eyes import opening_mask
    from facecast.engine.types import FaceSample

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / "obama_turned.png", width=512, height=512,
                         pixel_format=PixelFormat.RGB8)
    r.prepare()
    mouth = opening_mask(r._skin.shape[:2], r._rest, r.mesh.mouth) > 0
    teeth = r._teeth_rgb.mean()
    assert r._skin[mouth].mean() > 0.8 * teeth  # the grin shows its teeth
    assert r._base[mouth][:, :3].mean() < 0.7 * teeth  # the frame's base does not
    # and the crack itself, where this CPU's frame has one: found by drawing over a magenta base
    w = np.zeros(NUM_ARKIT, np.float32)
    w[arkit_index("mouthPucker")] = 1.0
    sample = FaceSample(capture_wall_ns=0, weights=w)
    frame = r.render(sample)
    base = r._base
    r._base = base.copy()
    r._base[..., :3] = (255, 0, 255)
    holes = np.all(r.render(sample)[..., :3] == (255, 0, 255), axis=-1)
    r._base = base
    assert holes.sum() < 20
    if holes.any():  # what the crack shows is not the teeth (the speck was 32 from their colour; the fill's skin
        # (192, 141, 122) on one build of the turned photo, 107 from it)
        off = np.linalg.norm(frame[holes][:, :3].astype(np.float64) - r._teeth_rgb, axis=1)
        assert off.min() > 60.0, off


def test_blurred_skin_gets_back_no_more_grain_than_the_photo_has_there(photos):
    """Skin the stretch blur smooths gets grain back (``eyes.skin_grain``, the grain under the eyes, the face's
    strongest). At full strength it glittered on obama.jpg's neutral chin and mouth corners, whose own fine detail
    is weaker; it now comes back at the photo's own strength at each source pixel (``eyes.grain_amplitude``).
    Drawn with the strength forced to all of it, the neutral face moves away from the render without grain 1.3x
    or more as far as it does now (1.6 measured), and not without any (blurred skin still gets some)."""
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / "obama.jpg", width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    from facecast.engine.types import FaceSample

    neutral = FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32))
    scene = r._scene
    frames = {}
    for label, amplitude in (("none", 0.0), ("photo's", None), ("all", 1.0)):
        grain = scene.grain_img.copy()
        if amplitude is not None:
            grain[..., 1] = amplitude
        r._scene = scene._replace(grain_img=grain)
        frames[label] = r.render(neutral).astype(np.float64)
    r._scene = scene
    ours = np.abs(frames["photo's"] - frames["none"]).sum()
    full = np.abs(frames["all"] - frames["none"]).sum()
    assert ours > 0 and full > 1.3 * ours, (ours, full)


@pytest.mark.parametrize("name", ["obama2.jpg", "32bit.png", "obama2_16bit.png", "obama2_exif_rotated.jpg"])
def test_a_shut_lid_under_a_low_brow_is_not_the_folds_shadow(photos, name):
    """On obama2's photos the upper lid lies in the brow's shadow (0.1-0.3 of the cheeks' brightness just above the
    lashes). A blink stretched that shadow over the shut lid: a dark grey patch, its skin 0.59-0.63 of the cheek's
    brightness under the eye. Where the unfolding skin is darker than the closed lid's, the lid now shows more of
    the closed lid's skin (``eyes.SHADOWED_UNFOLD``): 0.78-0.83. Not all of it: no paler than the cheek (a flat
    pale almond). Tuned on obama2; its 16-bit and EXIF-rotated copies are decoded and cropped apart from it and
    read the same. The lower bound lies between before and after; the render is deterministic to a grey level on
    any CPU."""
    _, grey, masks, _ = _shut_eyes(photos, name)
    for lid, cheek in masks:
        share = np.median(grey[lid]) / np.median(grey[cheek])
        assert 0.7 < share < 0.95, share


def _lid_profile(frame: np.ndarray, upper: np.ndarray, iod_px: float, heights_iods: np.ndarray) -> np.ndarray:
    """The median grey level of ``frame`` (H, W) across the middle 40% of a shut eye whose upper lid chain is
    ``upper`` ((N, 2) px), at each of ``heights_iods`` above that chain."""
    order = np.argsort(upper[:, 0])
    span = np.ptp(upper[:, 0])
    xs = np.arange(int(upper[:, 0].min() + 0.3 * span), int(upper[:, 0].max() - 0.3 * span))
    line = np.interp(xs + 0.5, upper[order, 0], upper[order, 1])
    return np.array([np.median(frame[np.round(line - k * iod_px - 0.5).astype(int), xs]) for k in heights_iods])


@pytest.mark.parametrize("name", ["astronaut.png", "obama2.jpg", "obama.jpg", "biden.jpg", "obama3.jpg"])
def test_a_shut_lid_has_a_crease_above_its_bulge(photos, name):
    """A shut lid was a flat almond of the closed lid's smooth skin. It is drawn with a relief now
    (:func:`.eyes.lid_landing`): a crease where the skin lands :data:`~.eyes.LID_CREASE_IODS` above the shut
    lashes, and a bulge below it. Against the same frame drawn flat (the relief taken out), along the middle of
    each shut eye: the darkest row lies 0.14-0.17 IOD above the lashes (a tarsal plate's height), 0.80-0.92 of the
    flat lid's brightness there (measured; the flat lid is 1 by construction), and the lid between it and the
    lashes is lighter (1.05-1.07 at most). Only the shut lid: a lifted brow bares the same closed lid's skin without
    it (its frame is the flat one to the grey level). Tuned by eye on obama2, the astronaut and obama3."""
    frame, grey, _, r = _shut_eyes(photos, name)
    scene = r._scene
    flat_unfold = scene.unfold_img.copy()
    flat_unfold[..., 5] = 0.0  # no relief
    w = np.zeros(NUM_ARKIT, np.float32)
    w[[arkit_index("eyeBlinkLeft"), arkit_index("eyeBlinkRight")]] = 1.0
    shut = FaceSample(capture_wall_ns=0, weights=w)
    w = np.zeros(NUM_ARKIT, np.float32)
    w[[arkit_index("browInnerUp"), arkit_index("browOuterUpLeft"), arkit_index("browOuterUpRight")]] = 1.5
    lifted = FaceSample(capture_wall_ns=0, weights=w)
    brow = r.render(lifted)
    r._scene = scene._replace(unfold_img=flat_unfold)
    flat = r.pixel_format.rgb(r.render(shut)).astype(np.float64) @ [0.299, 0.587, 0.114]
    assert np.array_equal(r.render(lifted), brow)
    r._scene = scene
    heights = np.arange(0.02, 0.26, 0.01)
    vertices = r.pose(shut).vertices
    for o in (r.mesh.eye_right, r.mesh.eye_left):
        upper = vertices[list(o.upper)]
        ratio = _lid_profile(grey, upper, r.rig.iod_px, heights) / _lid_profile(flat, upper, r.rig.iod_px, heights)
        crease = int(np.argmin(ratio))
        assert 0.1 <= heights[crease] <= 0.2 and ratio[crease] < 0.95, (heights[crease], ratio[crease])
        assert ratio[:crease].max() > 1.02, ratio


@pytest.mark.parametrize("name", ["obama_turned.png", "obama_dark.jpg"])
def test_the_shut_eyes_lashes_taper_on_a_turned_and_a_dark_photo(photos, name):
    """The lash taper's test (``test_portrait_raster.py``, tuned on the astronaut) on photos it was not tuned on: a
    head turned 26 degrees, whose lid chain's points crowd the eye's corners (2 px apart at its ends, 5-9 px in
    the middle: a taper counted in chain segments drew no lashes at the outer end), and a dark photo, whose lashes
    darken the skin by fewer grey levels."""
    import test_portrait_raster as raster_tests
    from facecast.engine.types import PixelFormat

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, pixel_format=PixelFormat.RGB8)
    r.prepare()
    raster_tests.test_the_shut_eyes_lashes_taper_to_the_corners_and_hang_over_the_lower_lid(r)


@pytest.mark.parametrize("name", ["biden.jpg", "obama.jpg"])
def test_a_lit_shut_lid_keeps_its_skin(photos, name, monkeypatch):
    """Where the lid is not in shadow (Biden's, Obama's in obama.jpg: the shut lid as bright as the cheek or more),
    the closed lid's skin is not raised: the shut lid reads within 0.01 of the cheek's brightness share with the
    raise off (measured: 0.000 and 0.006-0.008)."""
    from facecast.engine.render.portrait import eyes

    def shares():
        _, grey, masks, _ = _shut_eyes(photos, name)
        return np.array([np.median(grey[lid]) / np.median(grey[cheek]) for lid, cheek in masks])

    raised = shares()
    monkeypatch.setattr(eyes, "SHADOWED_UNFOLD", 0.0)
    assert np.abs(raised - shares()).max() < 0.015


def _corner_dark_px(grey: np.ndarray, corner: np.ndarray, outward: np.ndarray, iod_px: float) -> float:
    """How far (pixels) a mouth corner's dark reaches out from ``corner`` ((2,) px) along ``outward`` (unit) in the
    luma frame ``grey``: the equivalent width (area over depth) of what is darker than the cheek over 0.25 IOD out,
    the cheek's level being the median from 0.25 to 0.35 IOD out."""
    import cv2

    s = np.arange(0.0, 0.35 * iod_px, 0.25)
    pts = (corner + s[:, None] * outward - 0.5).astype(np.float32)
    v = cv2.remap(grey.astype(np.float32), pts[None, :, 0], pts[None, :, 1], cv2.INTER_LINEAR)[0]
    dark = np.clip(np.median(v[s > 0.25 * iod_px]) - v[s <= 0.25 * iod_px], 0.0, None)
    return float(dark.sum() * 0.25 / max(dark.max(), 1e-3))


@pytest.mark.parametrize("name", ["obama_turned.png", "obama.jpg", "obama_turned mirrored"])
def test_a_grins_faded_folds_leave_its_neutral_face_reading_no_smile(photos, name, tmp_path):
    """A grin's folds fade as its smile is taken out (``test_portrait_folds.py``). Faded in full, the turned Obama's
    near fold read 0.32 as a smile (0.24 with the folds as they are; issue 17's goal is 0.3): the neutral fit fades
    that side 0.19 of the way (reads 0.25), and the far side and the frontal grin in full. The same photo mirrored,
    which the fit was not made on, reads 0.14 with both folds faded in full: the fit measures each photo."""
    from PIL import Image, ImageOps

    from facecast.engine.face.tracker import FaceTracker

    accepted, _ = photos
    path = accepted / name.split()[0]
    if name.endswith("mirrored"):
        path = tmp_path / "turned_mirrored.png"
        ImageOps.mirror(Image.open(accepted / "obama_turned.png").convert("RGB")).save(path)
    r = PortraitRenderer(portrait=path, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    tracker = FaceTracker()
    try:
        frame = r.render(FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32)))
        read = tracker.track(np.ascontiguousarray(frame[..., :3])).weights
    finally:
        tracker.close()
    smiles = read[[arkit_index("mouthSmileRight"), arkit_index("mouthSmileLeft")]]
    assert smiles.max() <= 0.3, smiles
    if name == "obama.jpg":
        assert (r.fold_fade == 1.0).all(), r.fold_fade
    elif name == "obama_turned.png":
        assert r.fold_fade[0] < 0.5 and r.fold_fade[1] == 1.0, r.fold_fade


@pytest.mark.parametrize("name", ["obama3.jpg", "biden.jpg"])
def test_a_pucker_carries_the_dark_of_its_mouth_corners_in(photos, name):
    """A photo's mouth corner is a dark crease reaching past the corner landmark. A pucker moved the skin there 0.65 of
    the corner's way: the crease stretched out behind the corner, 1.18x (obama3) and 1.27x (Biden) as long as at rest
    (mean of both corners), the mouth still looked as wide, and MediaPipe read mouthPucker 0.02 and 0.05 at weight 1
    (their fitted gain, 0.7; issue 16's goal is 0.3). The skin at the corners now moves with them
    (fields.CORNER_SKIN_IODS): 0.84x and 0.95x, read 0.23 and 0.28."""
    from facecast.engine.face.tracker import FaceTracker
    from facecast.engine.render.portrait.gains import DEFAULT_GAINS

    accepted, _ = photos
    k = arkit_index("mouthPucker")
    gains = DEFAULT_GAINS.copy()
    gains[k] = 0.7
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8, gains=gains)
    r.prepare()
    tracker = FaceTracker()
    reach, read = [], []
    for x in (0.0, 1.0):
        w = np.zeros(NUM_ARKIT, np.float32)
        w[k] = x
        sample = FaceSample(capture_wall_ns=0, weights=w)
        frame = np.ascontiguousarray(r.render(sample)[..., :3])
        drawn = r.drawn_landmarks(sample)
        along = (drawn[291] - drawn[61]) / np.linalg.norm(drawn[291] - drawn[61])
        grey = realism_luma(frame)
        reach.append(np.mean([_corner_dark_px(grey, drawn[61], -along, r.rig.iod_px),
                              _corner_dark_px(grey, drawn[291], along, r.rig.iod_px)]))
        read.append(tracker.track(frame).weights[k])
    assert reach[1] < 1.08 * reach[0], reach
    assert read[1] - read[0] > 0.15, read


@pytest.mark.parametrize("name, shapes", [("obama2.jpg", ("mouthFunnel",)),
                                           ("astronaut_rolled.png", ("mouthFunnel", "mouthPucker"))])
def test_lips_squeezed_narrow_keep_the_photos_texture_direction(photos, name, shapes):
    """A funnel and a pucker squeeze the lips a third narrower and more, and that drew the photo's vertical lip
    creases twice as close: streaks, 1.66x (obama2's funnel) and 1.83x / 3.07x (the rolled astronaut's funnel and
    pucker) the photo's vertical over horizontal energy, against issue 17's 1.5x. Skin squeezed across x from the
    neutral face is now blurred along x (raster.PINCH_BLUR): 1.34x, 1.44x and 1.23x measured. Photos the fix was
    not tuned on; the astronaut's own goals are in test_realism."""
    from facecast.calibration.eval import realism

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    measured = realism.measure_streaks(r, shapes={k: realism.STREAK_SHAPES[k] for k in shapes})
    for shape in shapes:
        assert measured["shapes"][shape]["passes"], (shape, measured["shapes"][shape])


@pytest.mark.parametrize("name", ["obama2.jpg", "obama2_16bit.png", "32bit.png", "obama_mirrored.jpg"])
def test_expressions_that_do_not_open_the_mouth_keep_a_sealed_mouth_closed(photos, name):
    """These photos' mouths are open at rest, and the neutral face seals them. Where an expression folded a
    triangle, the fold repair made the whole motion from the photo locally rigid, the seal's included, and the
    photo's open mouth came back: obama2's sadness parted the lips by 0.13 IOD and showed his teeth, the smile of
    the 32-bit and 16-bit copies by 0.14-0.15, the mirrored Obama's anger by 0.06. The repair now works on the
    motion from the neutral face (0.028 IOD at most measured, the neutral face's own 0.01-0.02)."""
    from facecast.engine.offline.presets import preset_weights
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=256, height=256)
    r.prepare()
    d, o, iod = r.deformer, r.mesh.mouth, r.rig.iod_px
    assert d._rest_open > 0  # a sealed mouth
    for preset in ("sadness", "anger", "smile"):
        v = d.pose(preset_weights(preset)).vertices
        assert ((v[o.lower] - v[o.upper]) @ d._down).max() < 0.04 * iod, preset


@pytest.mark.parametrize("name", ["obama.jpg", "obama2_exif_rotated.jpg", "biden.jpg"])
def test_a_small_blink_draws_no_lid_layer_across_an_open_eye(photos, name):
    """MediaPipe reads open eyes as blinks of 0.1-0.3. The lid layer drew the blink weight's share of the eye
    shut wherever the lids had closed less than that from the photo: with a brow raised (sadness), or on a neutral
    face that opens the photo's narrowed eyes (Obama's smile taken out), a thin dark lash line across the open eye.
    Blinks of 0.2 drew it on 13 of the set's 17 photos (0.05-0.20 of the eye), sadness on 17. It now shows only
    what the guard held back and what a blink field with a gain under 1 falls short of."""
    from facecast.engine.offline.presets import preset_weights
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=256, height=256)
    r.prepare()
    small = np.zeros(NUM_ARKIT)
    small[[arkit_index("eyeBlinkLeft"), arkit_index("eyeBlinkRight")]] = 0.2
    for weights in (small, preset_weights("sadness")):
        assert (r.deformer.pose(weights).lid_cover < 0.01).all()  # 0.12-0.20 before
    shut = r.deformer.pose(small * 5.0)
    assert (shut.lid_cover == 1.0).all() or shut.opening_px[r.mesh.eye_left.upper].max() < 1.0


@pytest.mark.parametrize("name", ["astronaut_rolled.png", "obama2_exif_rotated.jpg", "obama_small.jpg", "biden.jpg"])
def test_a_wide_eyes_upper_lid_rises_along_its_whole_line(photos, name):
    """eyeWide took the upper lid to one arch between the eye's corners. Where the lid's own line runs above that
    arch near the outer corner (MediaPipe's points crowd there), those points stayed while the middle rose: a tent
    with a kink at the outer third, the two points by the outer corner rising 0-0.04 IOD of the middle's 0.11-0.13 on
    14 of the set's 17 photos. The lid now rises on an ellipse's profile: the second point from each corner rises
    0.40-0.56 of the most (measured), whatever the photo's line."""
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=256, height=256)
    r.prepare()
    rest = r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32)))
    for shape, o in (("eyeWideLeft", r.mesh.eye_left), ("eyeWideRight", r.mesh.eye_right)):
        w = np.zeros(NUM_ARKIT, np.float32)
        w[arkit_index(shape)] = 1.0
        wide = r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=w))
        rise = rest[o.upper[1:-1], 1] - wide[o.upper[1:-1], 1]
        assert rise.max() > 0.08 * r.rig.iod_px
        assert min(rise[1], rise[-2]) > 0.3 * rise.max(), (shape, rise / r.rig.iod_px)


@pytest.mark.parametrize("name", ["biden.jpg", "obama3.jpg", "obama_small.jpg", "obama_turned.png"])
def test_a_raised_upper_lid_is_a_dome_not_a_tent(photos, name):
    """Surprise and fear raise the brows and widen the eyes: the upper lid's middle rose more than its sides, and its
    7-9 points drew a tent, straight sides meeting at a peak, turning 61-80 degrees at one point (the neutral face's
    lids: 36-49). A lid raised above the neutral face's and the photo's now goes up to one smooth arc as high as its
    own peak (``deform.lid_arc``): 33-45 degrees at most, 58 on obama2, whose skin would fold on the way (half way
    there). Looked at on the astronaut, obama, biden and obama2 while it was made."""
    from facecast.engine.offline.presets import preset_weights
    from facecast.engine.types import FaceSample

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()

    def sharpest_turn_deg(weights: np.ndarray) -> float:
        v = r.pose(FaceSample(capture_wall_ns=0, weights=weights.astype(np.float32))).vertices
        worst = 0.0
        for o in (r.mesh.eye_left, r.mesh.eye_right):
            seg = np.diff(v[o.upper][1:-1], axis=0)
            worst = max(worst, float(np.degrees(np.abs(np.diff(np.arctan2(seg[:, 1], seg[:, 0])))).max()))
        return worst

    for preset in ("surprise", "fear"):
        assert sharpest_turn_deg(preset_weights(preset)) < 50.0, preset
    rest = r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=r.rest_weights.astype(np.float32)))
    assert np.allclose(rest, r.rig.landmarks[:, :2], atol=1e-3)  # the photo's own lids keep their line


def _brow_and_lid_rise_px(r: PortraitRenderer, weights: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """Per (right, left) eye: the most the brow's lower edge moves (px, up or down) from the neutral face at
    ``weights``, and how far each point of the upper lid's margin (its corners left out) rises."""
    from facecast.engine.render.portrait.eyes import brow_lower_edge

    def pose(w):
        return r.pose(FaceSample(capture_wall_ns=0, weights=w.astype(np.float32))).vertices

    d = pose(weights) - pose(np.zeros(NUM_ARKIT))
    rest = r._rest.astype(np.float64)
    return [(float(np.abs(d[brow_lower_edge(rest, e), 1]).max()), -d[o.upper[1:-1], 1])
            for e, o in enumerate((r.mesh.eye_right, r.mesh.eye_left))]


@pytest.mark.parametrize("name", ["astronaut.png", "obama2.jpg", "biden.jpg"])
def test_a_raised_brow_lifts_the_upper_lid_evenly_not_into_a_tent(photos, name):
    """A raised brow's motion followed the skin down to the upper lid's mean height, so an arched lid's middle (above
    its mean) rose with the brow while its sides stayed: a tent over the iris, the middle rising 2.2-2.5 times the
    lid's mean rise (astronaut, obama2) and up to 0.2 of the brow. The lid's margin now follows
    :data:`~.fields.BROW_LID_FOLLOW` of the brow in every column: its most at most 1.6 times its mean (measured
    1.2-1.3), and at most 0.15 of the brow."""
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    checked = 0
    for shape in ("browOuterUpLeft", "browOuterUpRight", "browInnerUp"):
        w = np.zeros(NUM_ARKIT)
        w[arkit_index(shape)] = 1.5  # a fitted gain's size
        for brow_px, rise_px in _brow_and_lid_rise_px(r, w):
            if brow_px > 0.05 * r.rig.iod_px:  # (the other side's brow, for one side's shape, stays)
                assert rise_px.max() < 0.15 * brow_px, (shape, brow_px, rise_px)
                assert rise_px.max() < 1.6 * max(rise_px.mean(), 1e-3), (shape, rise_px)
                checked += 1
    assert checked == 4


@pytest.mark.parametrize("name, least", [("obama2.jpg", 0.3), ("obama.jpg", 0.65)])
def test_a_lifted_brow_shows_skin_below_it_not_its_stretched_hair(photos, name, least):
    """Raised, a dark brow stretched the hair below its lower points down to the lid, blurred as it stretched: a dark
    grey-brown smear. The hair between a lifted brow and its eye now takes the closed lid's hair-free colour as the
    brow lifts (:func:`.eyes.brow_skin_image`, :data:`~.raster.P_BROW_LIFT`), and the skin there keeps its shading.
    The middle of that band, as a share of that colour's brightness (median; the lid's skin lies in shade on
    obama2), per (right, left) eye, measured with the lift and without it: obama2 0.60/0.40 and 0.19/0.18 (black
    hair), obama 0.81/0.69 and 0.75/0.60."""
    from facecast.engine.render.portrait.eyes import brow_lower_edge

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    w = np.zeros(NUM_ARKIT, np.float32)
    w[[arkit_index("browOuterUpLeft"), arkit_index("browOuterUpRight")]] = 1.5  # a fitted gain's size
    sample_ = FaceSample(capture_wall_ns=0, weights=w)
    frame, v = realism_luma(r.render(sample_)), r.pose(sample_).vertices
    skin = realism_luma(r._scene.lid_img)
    iod = r.rig.iod_px
    for e, o in enumerate((r.mesh.eye_right, r.mesh.eye_left)):
        lid = v[list(o.upper)]
        x, lid_y = lid[len(lid) // 2]
        edge = v[brow_lower_edge(r._rest.astype(np.float64), e)]
        edge_y = float(np.interp(x, *edge[np.argsort(edge[:, 0])].T))
        band = frame[int(edge_y + 0.3 * (lid_y - edge_y)):int(edge_y + 0.7 * (lid_y - edge_y)),
                     int(x - 0.08 * iod):int(x + 0.08 * iod)]
        reference = float(np.median(skin[r._scene.unfold_img[..., 2 + e] > 0.5]))
        assert np.median(band) > least * reference, (e, np.median(band), reference)


@pytest.mark.parametrize("name", ["obama3_gray.png", "obama2_16bit.png"])
def test_a_grey_photo_stays_grey_with_its_mouth_open_and_its_tongue_out(photos, name):
    """The mouth's synthesised colours (the cavity, the tongue, enamel where the photo shows no teeth) came in fixed
    hues: a grey photo's open mouth was drawn dark red with a pink tongue (up to 59 grey levels between a pixel's
    channels). They now keep as much colour as the photo's lips have (:data:`~.renderer.LIP_SATURATION`): none."""
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    for spec in ({"jawOpen": 0.6}, {"jawOpen": 0.5, "tongueOut": 1.0}):
        w = np.zeros(NUM_ARKIT, np.float32)
        for k, v in spec.items():
            w[arkit_index(k)] = v
        frame = r.render(FaceSample(capture_wall_ns=0, weights=w)).astype(np.int16)
        assert (frame.max(-1) - frame.min(-1)).max() <= 2, spec


@pytest.mark.parametrize("name", ["astronaut.png", "obama2.jpg", "obama3.jpg", "biden.jpg"])
def test_a_frown_hoods_the_lids_without_shutting_the_eyes(photos, name):
    """browDown's 0.3 IOD took the brow past the upper lid on every photo of the set (their brows' lower edges sit
    0.09-0.26 IOD above the lids): the skin between folded, the fold repair carried the lids down with the brow, and
    at weight 1 and a gain of 1 the eyes showed 0.15-0.43 of their neutral opening (`anger` drew shut eyes). A
    lowered brow now comes down at most :data:`~.fields.BROW_DOWN_ROOM_SHARE` of the skin above the lid: the eyes
    keep 0.67-0.88 of their neutral opening here (a neutral face that takes a photo's frown out opens the eyes
    wider than the photo's, 4 px on obama2, and a frown takes them back past the photo's), and the brow's lower edge
    still comes down 0.11-0.17 IOD."""
    from facecast.calibration.portrait_fit import eye_open_share
    from facecast.engine.render.portrait.eyes import brow_lower_edge

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    frown = [arkit_index("browDownLeft"), arkit_index("browDownRight")]
    for k in frown:
        r.set_gain(k, 1.0)
    w = np.zeros(NUM_ARKIT, np.float32)
    w[frown] = 1.0
    neutral, frowning = (r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=x))
                         for x in (np.zeros(NUM_ARKIT, np.float32), w))
    assert eye_open_share(r, FaceSample(capture_wall_ns=0, weights=w)) > 0.6
    for e in range(2):
        edge = brow_lower_edge(r._rest.astype(np.float64), e)
        assert (frowning[edge, 1] - neutral[edge, 1]).max() > 0.06 * r.rig.iod_px, e


def test_the_fit_never_shuts_the_eyes_under_a_frown(photos):
    """A gain that narrows an eye below MIN_EYE_OPEN_SHARE of its neutral opening, for a shape other than the eyes'
    own closing, is refused however well MediaPipe reads it (the fit had taken browDown to 2.1-2.5 on obama2's
    photos: eyes shut under the brows). obama3's browDownLeft at 2.1 reads back 0.7 with the eye shut; offered only
    that gain, the fit keeps the shipped one."""
    from facecast.calibration import portrait_fit
    from facecast.engine.render.portrait.gains import DEFAULT_GAINS

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / "obama3.jpg", width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    k = arkit_index("browDownLeft")
    r.set_gain(k, 2.1)
    w = np.zeros(NUM_ARKIT, np.float32)
    w[k] = 1.0
    assert portrait_fit.eye_open_share(r, FaceSample(capture_wall_ns=0, weights=w)) < portrait_fit.MIN_EYE_OPEN_SHARE
    with pytest.MonkeyPatch.context() as m:
        m.setattr(portrait_fit, "GAIN_CANDIDATES", (2.1,))
        gains, fits = portrait_fit.fit_gains(r, read_photo(accepted / "obama3.jpg"), shapes=("browDownLeft",),
                                             identity=False, progress=False)
    assert fits[0].reason.startswith("no gain passed") and gains[k] == DEFAULT_GAINS[k]


def test_the_fit_checks_a_gain_on_evals_finer_sweep(photos):
    """The fit sweeps each candidate gain over 6 weights; ``facecast eval`` over 11. A reading that dips between two of
    the fit's points passed the fit and failed eval (obama2_16bit's jawOpen: rho 0.94 on 6 points, 0.87 on 11). A
    gain is now accepted only if it reads back with rho >= MIN_RHO on eval's sweep too (``_eval_rho``)."""
    from facecast.calibration import portrait_fit

    class Frames:  # draws the weight itself, which the reader reads back with dips at 0.7 and 0.9
        def render(self, sample):
            return np.full((2, 2, 3), float(sample.weights.max()), np.float32)

    class Reader:
        def track(self, frame):
            x = float(frame[0, 0, 0])
            read = 0.1 if abs(x - 0.7) < 1e-3 else 0.35 if abs(x - 0.9) < 1e-3 else x
            return type("Tracked", (), {"weights": np.full(NUM_ARKIT, read)})()

    coarse = np.array([Reader().track(Frames().render(portrait_fit._sample(0, x))).weights[0]
                       for x in portrait_fit.SWEEP])
    assert portrait_fit.spearman(portrait_fit.SWEEP, coarse) >= portrait_fit.MIN_RHO  # the 6 points miss the dip
    assert portrait_fit._eval_rho(Frames(), Reader(), 0) < portrait_fit.MIN_RHO

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / "obama3.jpg", width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    reasons = []
    for eval_rho in (portrait_fit._eval_rho, lambda *_: 0.5):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(portrait_fit, "GAIN_CANDIDATES", (1.0,))
            m.setattr(portrait_fit, "_eval_rho", eval_rho)
            _, fits = portrait_fit.fit_gains(r, read_photo(accepted / "obama3.jpg"), shapes=("jawOpen",),
                                             identity=False, progress=False)
        reasons.append(fits[0].reason)
    assert reasons[0] == "reaches the target range" and reasons[1].startswith("no gain passed"), reasons


@pytest.mark.parametrize("name", ["astronaut.png", "obama3.jpg", "biden.jpg"])
def test_a_lip_moved_on_one_side_bends_smoothly_across_the_middle(photos, name):
    """One side's lip motion (mouthLowerDown, mouthUpperUp, mouthStretch's lower lip, ... Left or Right) was split at
    the midline by the faces' soft left/right blend (0.05 IOD each way): the lip's line stepped under the nose
    (Biden's mouthStretchLeft: 5 px). It now fades out across the middle of the mouth (:func:`.fields.lip_side`). The
    most the line's slope turns between neighbouring points of the lips' chains in the middle half of the mouth, at
    weight 1 and a gain of 1: 0.48-0.83 before (mouthLowerDownLeft), now 0.15-0.32 on the set's photos."""
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    neutral = r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32)))
    corners_x = neutral[list(r.mesh.mouth.corners), 0]
    middle, half = corners_x.mean(), abs(corners_x[1] - corners_x[0]) / 2
    for shape in ("mouthLowerDownLeft", "mouthUpperUpRight"):
        k = arkit_index(shape)
        r.set_gain(k, 1.0)
        w = np.zeros(NUM_ARKIT, np.float32)
        w[k] = 1.0
        moved = r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=w))
        for chain in (r.mesh.mouth.upper, r.mesh.mouth.lower):
            c = np.asarray(chain)[np.argsort(neutral[list(chain), 0])]
            x, dy = neutral[c, 0], moved[c, 1] - neutral[c, 1]
            turn = np.abs(np.diff(np.diff(dy) / np.maximum(np.diff(x), 1e-3)))
            assert turn[np.abs(x[1:-1] - middle) < 0.5 * half].max() < 0.4, (shape, turn)


@pytest.mark.parametrize("name", ["obama.jpg", "obama_small.jpg", "two_faces.jpg"])
def test_a_squinting_photos_neutral_eye_keeps_its_lash_band(photos, name):
    """The lash band thins and its lashes darken as a lid retracts past its rest opening (eyeWide). Taking a smile's
    squint out opens Obama's eyes 1.2-1.4x wider on the neutral face, and that counted as wide: the band drawn thin
    ringed every neutral eye like eyeliner. Only an opening past the neutral face's counts now. The band in the
    middle column (drawn white over a black eyeball, 1024x1024; the photo's 6.8-8.6 px): 4-5 px on the neutral face
    before, 7-8 then (6.0-7.8 since the fields' fold repair gives points back their own motion), and 4-5 at eyeWide 1."""
    from facecast.engine.render.portrait import raster
    from facecast.engine.types import FaceSample

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=1024, height=1024, pixel_format=PixelFormat.RGB8)
    r.prepare()
    white = np.full_like(r._scene.skin_img, 255)
    levels = np.stack([white] * len(raster.STRETCH_LEVELS))
    scene = r._scene._replace(skin_img=white, fill_img=white, blur_x_img=levels, blur_y_img=levels,
                              eye_img=np.zeros_like(white), eye_wide_img=np.zeros_like(white),
                              grain_img=np.zeros_like(r._scene.grain_img), lid_img=white)
    o = r.mesh.eye_right
    middle = o.upper[len(o.upper) // 2]
    band = float(r._band[middle])

    def band_drawn(wide: float) -> float:
        """px of white below the lid's middle point, the mean of five columns (one column's whole pixels moved by
        one with a 0.5 px change of the neutral face)."""
        w = np.zeros(NUM_ARKIT, np.float32)
        w[arkit_index("eyeWideRight")] = wide
        s = FaceSample(capture_wall_ns=0, weights=w)
        pose = r.pose(s)
        out = np.zeros((1024, 1024, 3), np.uint8)
        raster.draw(out, scene, dst=pose.vertices, opening_px=pose.opening_px, eye_affine=r._eye_affine(pose),
                    neutral=r.deformer.neutral_vertices, params=r.frame_params(pose, s))
        x, y = pose.vertices[middle]
        runs = []
        for dx in range(-2, 3):
            column = out[:, int(x) + dx, 0]
            top, run = int(np.ceil(y)), 0
            while column[top + run] > 128:
                run += 1
            runs.append(run)
        return float(np.mean(runs))

    assert r._params[raster.P_NEUTRAL_OPEN] > 1.1  # the squint taken out
    assert band_drawn(0.0) >= 0.75 * band
    assert band_drawn(1.0) <= 0.75 * band  # and a wide eye's thins (0.56-0.70 of the photo's, five-column mean)


@pytest.mark.parametrize("name", ["obama3.jpg", "biden.jpg", "obama_small.jpg"])
def test_half_closed_eyes_show_one_lid_edge_at_a_blink_gain_under_one(photos, name):
    """The lid layer's loop (test_portrait_raster, tuned on the astronaut) on photos it was not tuned on, with the
    blink gains the fit often picks (0.7): thin dark rows added by blinks of 0.2, 0.3, 0.4 and 0.5
    (``portrait_helpers.lid_loop_rows``), with the loop (d43d8a5) / without: obama3 56 to 105 / -16 to 0, Biden 47
    to 97 / -59 to -40, obama_small 17 to 110 / -69 to -33 (fewer than at rest: the closing lid covers lashes)."""
    from facecast.engine.render.portrait.gains import DEFAULT_GAINS
    from portrait_helpers import lid_loop_rows

    accepted, _ = photos
    gains = DEFAULT_GAINS.copy()
    gains[arkit_index("eyeBlinkLeft")] = gains[arkit_index("eyeBlinkRight")] = 0.7
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8, gains=gains)
    r.prepare()
    added = lid_loop_rows(r)
    assert np.mean(added) < 40.0, added


def _wide_eyes_bared_sclera(r, *, below_band_px: tuple[float, float], above_iris_radii: Optional[float] = None):
    """``r``'s frame (512x512 RGB, float) with both eyes wide at weight 1, and (512, 512) bool: the eyeball it bares,
    between ``below_band_px`` under the lash band hanging from the raised lid, 1.2 iris radii or more from the
    iris's centre, and with ``above_iris_radii``, that many radii or more above it."""
    import cv2
    from facecast.engine.render.portrait.eyes import IRIS
    from facecast.engine.types import FaceSample
    w = np.zeros(NUM_ARKIT, np.float32)
    w[arkit_index("eyeWideLeft")] = w[arkit_index("eyeWideRight")] = 1.0
    s = FaceSample(capture_wall_ns=0, weights=w)
    rgb = r.render(s)[..., :3].astype(np.float64)
    v, drawn = r.pose(s).vertices, r.drawn_landmarks(s)
    yy, xx = np.mgrid[:512, :512] + 0.5
    bared = np.zeros((512, 512), bool)
    for o, side in ((r.mesh.eye_right, "right"), (r.mesh.eye_left, "left")):
        inside = np.zeros((512, 512), np.uint8)
        poly = np.concatenate([v[o.upper], v[o.lower][::-1]]) - 0.5
        cv2.fillPoly(inside, [np.round(poly * 16).astype(np.int32)], 1, shift=4)
        lid = np.ones((512, 512), np.uint8)
        cv2.polylines(lid, [np.round((v[o.upper] - 0.5) * 16).astype(np.int32)], False, 0, shift=4)
        below_lid = cv2.distanceTransform(lid, cv2.DIST_L2, 5)
        band = float(r._band[o.upper].max())  # the lash band hanging from the raised lid
        centre, rim = IRIS[side]
        radius = np.linalg.norm(drawn[list(rim)] - drawn[centre], axis=1).mean()
        eye = ((inside > 0) & (below_lid > band + below_band_px[0]) & (below_lid < band + below_band_px[1])
               & (np.hypot(xx - drawn[centre, 0], yy - drawn[centre, 1]) > 1.2 * radius))
        if above_iris_radii is not None:
            eye &= yy < drawn[centre, 1] - above_iris_radii * radius
        bared |= eye
    return rgb, bared


@pytest.mark.parametrize("name", ["biden.jpg", "obama3.jpg", "astronaut.png", "grace_hopper.jpg"])
def test_a_wide_eye_bares_a_sclera_not_the_lids_skin(photos, name):
    """A wide eye bares eyeball the photo does not show, drawn in the colour of the brightest of what the eye shows:
    on a small or shadowed eye that is the lids' pink skin, and the bared top was a skin-coloured hole. It is taken
    toward a white under the photo's light by the share it is darker (:func:`.eyes.lifted_sclera`). Measured on the
    bared band under the raised lash band, beside the iris, 512x512, median luma over that white's: Biden 0.38 ->
    0.68, obama3 0.57 -> 0.69, the astronaut (white sclera) 0.88 both; with the sclera shaded toward the lid
    (:data:`.eyes.SCLERA_TOP`, the band lies right under it) Biden 0.53, obama3 0.57, the astronaut 0.79.
    It is also near grey (:data:`.eyes.SCLERA_MAX_TINT`): with the skin's tint, Biden's was (165, 128, 127) and Grace
    Hopper's (behind glasses) (209, 130, 112), salmon pink; the band's tint (its channels' spread over their mean,
    the lid's shadow and the lash band's warm edge in it) read 0.29 and 0.67, now 0.21 and 0.29 (obama3 0.25 -> 0.24,
    the astronaut 0.14 both). Lifted by twice the share (:data:`.eyes.SCLERA_LIFT`): Biden 0.72, obama3 0.71, the
    astronaut 0.80, Grace Hopper 0.63; tints 0.19, 0.15, 0.14 and 0.30."""
    from facecast.engine.render.portrait.eyes import DEFAULT_SCLERA, LUMA
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    rgb, bared = _wide_eyes_bared_sclera(r, below_band_px=(1.5, 6.0))
    luma = rgb @ LUMA
    assert bared.sum() > 100
    white = float((r._light * DEFAULT_SCLERA) @ LUMA)
    assert np.median(luma[bared]) > 0.48 * white, (np.median(luma[bared]) / white)
    colour = np.median(rgb[bared], axis=0)
    assert (colour.max() - colour.min()) / colour.mean() < 0.35, colour


def test_a_wide_eyes_bared_sclera_is_as_bright_as_the_same_mans_in_full_light(photos):
    """Obama's grin photo shows his sclera in the lids' shadow, obama2 shows it in full light: the eyeball a wide
    eye bares over the iris (both eyes, median luma over the cheeks', the skin under the eyes) should come out as
    bright on both. Lifted toward the photo's white by the share it is darker alone, it was a grey dome on the grin
    photo: 0.76 against obama2's 0.89; now 0.90 and 0.90 (:data:`.eyes.SCLERA_LIFT`). Grace Hopper's (behind
    glasses, her lids' skin the brightest her eyes show) was 0.62, darker than her skin; 0.76 now."""
    from facecast.engine.render.portrait.eyes import LUMA, _cheek_colour
    accepted, _ = photos
    ratios = {}
    for name in ("obama.jpg", "obama2.jpg", "grace_hopper.jpg"):
        r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
        r.prepare()
        rgb, dome = _wide_eyes_bared_sclera(r, below_band_px=(1.5, 512.0), above_iris_radii=0.3)
        assert dome.sum() > 30, name
        cheeks = _cheek_colour(r._skin, r._rest.astype(np.float64), (r.mesh.eye_right, r.mesh.eye_left), r.rig.iod_px)
        ratios[name] = float(np.median(rgb[dome] @ LUMA) / (cheeks @ LUMA))
    assert abs(ratios["obama.jpg"] - ratios["obama2.jpg"]) < 0.06, ratios
    assert ratios["grace_hopper.jpg"] > 0.7, ratios


@pytest.mark.parametrize("bright, dark", [("obama.jpg", "obama_dark.jpg"), ("biden.jpg", 0.25)])
def test_a_darker_photo_draws_what_it_synthesises_as_much_darker(photos, tmp_path, bright, dark):
    """obama_dark is Obama's photo at 0.3 of its exposure. What the renderer synthesises (the tongue, the cavity, the
    enamel, the sclera a wide eye bares) is lit by the photo's light, which had a floor of 0.45 (its own is 0.28), and
    the cavity was half a fixed colour: they came out 0.42-0.60 as bright as on his photo, 1.4-2x too bright against
    his skin (his lips: 0.30). Now 0.30-0.31. Biden's photo, taken down to 0.25 here (not a photo the fix was made
    on): 0.39-0.55 with the floor (his enamel, drawn where the photo shows no teeth, 0.54), 0.245-0.248 now, his
    lips 0.249. A darker exposure scales every synthesised colour as it scales the photo's own lips."""
    from PIL import Image

    from facecast.engine.render.portrait import raster
    from facecast.engine.render.portrait.eyes import LUMA
    accepted, _ = photos
    if isinstance(dark, float):  # the bright photo at that share of its exposure
        pixels = np.asarray(Image.open(accepted / bright).convert("RGB"), np.float64) * dark
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "dark.png")
        dark_path = tmp_path / "dark.png"
    else:
        dark_path = accepted / dark
    drawn = []
    for path in (accepted / bright, dark_path):
        r = PortraitRenderer(portrait=path, width=512, height=512, pixel_format=PixelFormat.RGB8)
        r.prepare()
        mp = r._params  # what the frames are drawn with
        rgb, dome = _wide_eyes_bared_sclera(r, below_band_px=(1.5, 512.0), above_iris_radii=0.3)
        drawn.append({"lips": r._lips_rgb @ LUMA, "sclera": np.median(rgb[dome] @ LUMA),
                      **{name: mp[at:at + 3] @ LUMA for name, at in (("tongue", raster.P_TONGUE_RGB),
                                                                     ("cavity", raster.P_CAVITY_RGB),
                                                                     ("teeth", raster.P_TEETH))}})
    ratios = {k: float(drawn[1][k] / drawn[0][k]) for k in drawn[0]}
    assert 0.22 < ratios["lips"] < 0.33, ratios  # the photo's own (JPEG and 8-bit rounding)
    for k in ("sclera", "tongue", "cavity", "teeth"):
        assert abs(ratios[k] - ratios["lips"]) < 0.04, (k, ratios)


@pytest.mark.parametrize("name", ["astronaut.png", "obama3.jpg", "biden.jpg"])
def test_a_wide_eyes_bared_sclera_darkens_up_toward_the_lid(photos, name, monkeypatch):
    """The eyeball a wide eye bares is a sphere under the lid: its sclera darkens from the iris's centre up toward
    the lid, as it does toward the corners (it was as bright above the iris as beside it: a flat white dome).
    Measured against the same eyeball drawn flat, above the iris where the photo shows none of it."""
    from facecast.engine.render.portrait import eyes
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    openings = (r.mesh.eye_right, r.mesh.eye_left)
    args = (r.rig.image, r._rest, openings, r.rig.iod_px, r._band.astype(np.float64))
    white = r._light * eyes.DEFAULT_SCLERA
    shaded = realism_luma(eyes.eyeball_images(*args, white=white)[1])
    monkeypatch.setattr(eyes, "SCLERA_TOP", 0.0)
    flat = realism_luma(eyes.eyeball_images(*args, white=white)[1])
    for o, side in zip(openings, ("right", "left")):
        centre = eyes.IRIS[side][0]
        half = np.linalg.norm(r._rest[o.corners[1]] - r._rest[o.corners[0]]) / 2
        cx, cy = r._rest[centre] - 0.5
        y, x = int(round(cy - 0.6 * half)), int(round(cx))
        assert shaded[y, x] < 0.85 * flat[y, x], (side, shaded[y, x] / flat[y, x])  # 0.72-0.73 measured (1 before)


@pytest.mark.parametrize("name", ["astronaut.png", "astronaut_rolled.png", "obama_turned.png"])
def test_a_wide_eye_draws_one_lid_line_not_the_photos_lash_line_left_under_it(photos, name):
    """The lash band rises with a widening lid; where the photo's lash line lies below the band (the astronaut's
    inner lids, whose lifted margin is 2-3 px above it), the eyeball images kept it in place, and a wide eye drew two
    lid lines with a pale strip of skin between them. Columns with a second line 15+ grey levels deep
    (``realism.second_lid_line_columns``, ``facecast eval``'s lid lines) at eyeWide 0.5, 512x512, before / with the
    line taken out of the wide eyeball (:func:`.eyes._lash_line_below_band`): the astronaut 6 / 1, tilted 7 / 0,
    turned Obama 5 / 1 (all 18 photos: 76 / 33 of 481 columns, 125 / 74 at 0.3; the rest are the photos' own corners
    and creases)."""
    from facecast.calibration.eval.realism import second_lid_line_columns

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    lined, columns = second_lid_line_columns(r, 0.5)
    assert columns >= 15 and lined <= 2, (lined, columns)


def test_the_lash_line_a_wide_eye_covers_is_the_same_at_every_output_size(photos):
    """The lash line a wide eye's eyeball covers (:func:`.eyes._lash_line_below_band`) was found per pixel column at
    the output size: a 2048 frame took columns a 512 one did not (a marginal line at each inner corner), and
    obama_small's eye aliasing (512 against 2048 box-filtered to 512, issue 17's measure) read p99 33.6 at the neutral
    face and 29.4 at eyeWide (11.4 / 11.7 before the line was covered; goal 24). Found on the photo averaged down to
    about 100 px between the eyes, with marginal columns taken in part: 10.7 / 11.2."""
    from facecast.calibration.eval import realism

    accepted, _ = photos
    small, big = realism.make_renderers(accepted / "obama_small.jpg")
    aliasing = realism.measure_aliasing(small, big, poses={"eyeWide": realism.ALIAS_POSES["eyeWide"]})
    assert aliasing["poses"]["eyeWide"]["eyes"]["p99"] < 16.0, aliasing["poses"]["eyeWide"]["eyes"]


def test_the_lash_line_under_the_band_is_found_where_it_ends_sharply_beside_the_iris():
    """:func:`.eyes._lash_line_ends` on a made-up eye, 100 px between the eyes: four columns each of a lash line
    right under the band that ends sharply on the sclera (taken from the top down to where it has risen 0.8 of the
    way, in row 7), the lid's soft shadow fading over 10 px (not taken: a narrow eye's rim is all shadow), a flat
    sclera, and the same sharp line over the iris (not taken: the iris is not the lid)."""
    from facecast.engine.render.portrait import eyes

    h, w = 24, 16
    luma = np.full((h, w), 200.0)
    luma[4:6, 0:4] = 60.0  # the line: band foot at row 4, dark for 2 rows, sclera from row 7
    luma[6, 0:4] = 130.0
    luma[4:14, 4:8] = np.linspace(60.0, 200.0, 10)[:, None]  # the soft shadow
    luma[4:6, 12:16] = 60.0  # the line again, over the iris
    luma[6, 12:16] = 130.0
    box = np.repeat(luma[..., None], 3, axis=2)
    inside = np.zeros((h, w), bool)
    inside[4:20] = True
    clear = np.zeros((h, w), bool)
    clear[10:20] = True
    iris_centre, iris_radius = np.array([14.0, 10.0]), 4.0  # its top in row 6, under the line of columns 12-15
    line = eyes._lash_line_ends(box, inside, clear, iris_centre, iris_radius, 100.0)
    assert np.all(line[:7, 1:3] == 1.0) and 0.0 < line[7, 1:3].min() < 1.0  # ends in row 7 (the photo blurred 1 px)
    assert line[8:, 0:4].max() == 0.0  # the sclera below it stays the photo's
    assert line[:, 5:7].max() == 0.0 and line[:, 9:11].max() == 0.0 and line[:, 13:].max() == 0.0


def test_the_synthesised_sclera_is_no_more_tinted_than_a_sclera_can_be():
    from facecast.engine.render.portrait.eyes import SCLERA_MAX_TINT, sclera_tint_capped
    white = np.array([222.0, 210.0, 205.0])  # the astronaut's: kept as it is
    assert np.array_equal(sclera_tint_capped(white), white)
    skin = sclera_tint_capped(np.array([196.0, 96.0, 74.0]))  # the colour of Grace Hopper's lids' skin
    assert np.isclose(skin.mean(), 122.0) and np.isclose((skin.max() - skin.min()) / skin.mean(), SCLERA_MAX_TINT)
    assert skin[0] > skin[1] > skin[2]  # the same hue, less of it
    # continuous at the cap: a colour just past it comes out within a grey level of itself
    edge = 120.0 + np.array([1.0, 0.0, -1.0]) * SCLERA_MAX_TINT * 120.0 / 2 * 1.01
    assert np.abs(sclera_tint_capped(edge) - edge).max() < 1.0


def test_a_dark_sclera_is_lifted_toward_the_photos_white_by_twice_the_share_it_is_darker():
    from facecast.engine.render.portrait.eyes import lifted_sclera
    white = np.array([200.0, 190.0, 180.0])
    assert np.array_equal(lifted_sclera(np.array([210.0, 200.0, 190.0]), white), [210.0, 200.0, 190.0])  # as bright
    shaded = np.array([180.0, 171.0, 162.0])  # a tenth darker: 0.2 of the way
    assert np.allclose(lifted_sclera(shaded, white), shaded + 0.2 * (white - shaded))
    # half as bright or less (a squinting eye's sclera in the lids' shadow, or the lids' skin): the white
    assert np.allclose(lifted_sclera(np.array([100.0, 95.0, 90.0]), white), white)
    assert np.allclose(lifted_sclera(np.array([100.0, 60.0, 60.0]), white), white)
    assert np.array_equal(lifted_sclera(np.array([100.0, 60.0, 60.0]), None), [100.0, 60.0, 60.0])
    # continuous: a few grey levels apart in, as close out (the 512 and 2048 frames agree), on either side of the
    # point where the lift is whole
    for low in (165.0, 96.0):
        a = lifted_sclera(np.array([low + 8, low, low - 8]), white)
        b = lifted_sclera(np.array([low + 11, low + 3, low - 5]), white)
        assert np.abs(a - b).max() < 3.0


@pytest.mark.parametrize("name", ["obama2_exif_rotated.jpg", "obama3_gray.png"])
def test_a_funnels_o_shows_a_few_teeth_in_shadow_not_a_white_grille(photos, name):
    """A funnel at full weight squeezes the mouth to half its width. Its tooth rows were laid out across the
    opening, all of them squeezed into the O, as long as at rest: white filled 0.91 and 0.60 of the O on these
    two photos (0.90 on obama2, where it was tuned), and MediaPipe read obama2's funnel as 0.08. The O now shows the
    middle teeth at their own size, set back behind the lips, with the cavity dark around them (0.27 and 0.19
    measured; 0.27 on obama2)."""
    from PIL import Image, ImageDraw

    from facecast.engine.render.portrait import raster
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    assert r._params[raster.P_PHOTO_TEETH] == 0.0  # the photo shows no teeth of its own at rest
    w = np.zeros(NUM_ARKIT, np.float32)
    w[arkit_index("mouthFunnel")] = 1.0
    sample = FaceSample(capture_wall_ns=0, weights=w)
    frame, drawn = r.render(sample)[..., :3].astype(np.float64), r.drawn_landmarks(sample)
    mask = Image.new("L", (512, 512))
    ImageDraw.Draw(mask).polygon([tuple(drawn[i, :2]) for i in _inner_lips(r)], fill=1)
    inside = frame[np.asarray(mask) > 0]
    assert len(inside) > 200  # the O is open
    teeth = r._params[raster.P_TEETH:raster.P_TEETH + 3].astype(np.float64).mean()
    assert (inside.mean(1) > 0.7 * teeth).mean() < 0.45


@pytest.mark.parametrize("name", ["obama.jpg", "obama_turned.png"])
def test_a_funnels_o_shows_a_grins_own_teeth_at_their_own_size(photos, name):
    """A photo that shows its own upper teeth keeps them behind lips squeezed into a funnel's O, and they were
    sampled along the squeezed lip: all of the grin's teeth, squeezed into the O, a grille of narrow white stripes.
    Now the O shows the middle of the photo's row at its own size (raster._mouth_rgb's ``u_teeth``). Measured as the
    mean |d luma / dx| over the O's lighter pixels against the photo's own teeth at rest: 1.65 and 1.89 before,
    0.97 and 1.10 after (with the set's fitted gains: 1.79 / 1.70 -> 0.78 / 1.06).

    And they lie in the shadow of the lips pushed out (:data:`~.raster.RECEDE_TEETH_SHADE`): drawn in full light, the
    O's lighter pixels were as bright as the photo's teeth at rest (1.04 and 1.05 of their mean luma); in a light
    shade (0.6 with a bounce of 0.6) 0.70 and 0.71, still light beige teeth filling the O; 0.46 now."""
    import cv2
    from PIL import Image, ImageDraw

    from facecast.calibration.eval import realism
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    rest = realism.weights_of(None, r.rest_weights)
    photo = realism.luma(realism.render_rgb(r, rest))
    teeth = cv2.erode((r._teeth_alpha > 0.8).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert teeth.sum() > 200  # the photo shows its teeth
    across = float(np.abs(np.diff(photo, axis=1))[teeth[:, 1:]].mean())
    w = realism.weights_of({"mouthFunnel": 1.0}, rest)
    frame, drawn = realism.luma(realism.render_rgb(r, w)), realism._drawn(r, w)
    mask = Image.new("L", (512, 512))
    ImageDraw.Draw(mask).polygon([tuple(drawn[i, :2]) for i in _inner_lips(r)], fill=1)
    inside = cv2.erode(np.asarray(mask), np.ones((5, 5), np.uint8)) > 0
    assert inside.sum() > 100  # the O is open
    lit = inside & (frame > np.percentile(frame[inside], 40))  # the teeth, not the O's shadowed edge
    ratio = float(np.abs(np.diff(frame, axis=1))[lit[:, 1:]].mean()) / across
    assert ratio < 1.3, ratio
    shaded = float(frame[lit].mean()) / float(photo[teeth].mean())
    assert shaded < 0.6, shaded


def _upper_teeth_edge_px(frame: np.ndarray, landmarks: np.ndarray, upper_chain, *, margin: float = 0.25) -> np.ndarray:
    """Per column of the mouth but ``margin`` of its width at each end (the middle half), the row (subpixel) where the upper teeth end in the cavity: the
    first fall below half way between the column's lightest and darkest after its first run of light pixels at
    least 4 px long (the teeth; a highlight on the upper lip above them is a pixel or two: obama_turned, drawn by
    the renderer, has one in 3 columns)."""
    lum = frame.astype(np.float64) @ [0.299, 0.587, 0.114]
    x0, x1 = landmarks[[61, 291], 0].min(), landmarks[[61, 291], 0].max()
    inner_upper = landmarks[list(upper_chain), :2]  # the mouth's upper chain (``mesh.mouth.upper``)
    inner_upper = inner_upper[np.argsort(inner_upper[:, 0])]
    rows = []
    for x in range(int(x0 + margin * (x1 - x0)), int(x1 - margin * (x1 - x0))):
        top = int(np.interp(x, inner_upper[:, 0], inner_upper[:, 1])) - 2  # from the lip down (it curves into the corners)
        col = lum[top:top + 80, x]
        half = 0.5 * (col.max() + col.min())
        is_light = col > half
        runs = np.convolve(is_light.astype(int), np.ones(4, int), mode="valid") == 4  # 4 light pixels from here
        light = np.nonzero(runs)[0]
        dark = np.nonzero(col[light[0]:] < half)[0] + light[0] if len(light) else []
        if len(dark):
            # the edge itself: the steepest fall within a few pixels of that first dark one, crossed halfway between
            # the luma 2 px above and below it (teeth in a corner's shadow are dim, and the column's own halfway
            # level fell on them 2-3 px above their end: obama_turned's first columns at 0.12 of the mouth)
            j = dark[0]
            fall = col[max(j - 4, 1) - 1:j + 5] - col[max(j - 4, 1):j + 6]
            k = max(j - 4, 1) + int(np.argmax(fall))
            a, b = col[max(k - 3, 0)], col[min(k + 2, len(col) - 1)]
            level = 0.5 * (a + b)
            k = max(k - 3, 1) + int(np.argmax(col[max(k - 3, 1):k + 3] < level))
            rows.append(top + k - 1 + (col[k - 1] - level) / max(col[k - 1] - col[k], 1e-6))
    return np.array(rows)


@pytest.mark.parametrize("name", ["astronaut_rolled.png", "obama_mirrored.jpg", "obama_turned.png"])
def test_an_open_jaw_shows_the_photos_upper_teeth_ending_along_an_even_edge(photos, name):
    """Where the photo shows its upper teeth, the open jaw hangs them from the upper lip, and their lower end
    was the photo's: each tooth's own end, a dark gap between two, a tooth half hidden by the lower lip. Drawn
    open, that edge was jagged (notches up to 5 px deep): off its own 7-column mean by 0.35 px on average in the
    middle of the mouth on these photos. Then the photo's teeth stopped short of their reach along one even edge
    (raster.TEETH_EDGE_BINS, PHOTO_TEETH_CUT_IODS) and the tooth row under them, with square tips there, ended
    them: 0.09-0.13 px in the middle half, but 0.28-0.66 px over the middle three quarters, where the row's end,
    measured as ``v * h`` down each triangle of the opening and as a share of each column's rest opening, followed
    the triangles' edges and the lower lip's contour (hanging fangs at jaw 1). Now it ends at a smooth reach
    (raster.teeth_reach_px) below the upper lip's own chain (raster._lip_distances): 0.04-0.09 in the middle half
    and 0.13-0.14 over three quarters on the Obamas (the rolled astronaut's, 0.6 before and after, has steps
    between its outermost teeth that this did not change)."""
    from facecast.calibration.eval import realism

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    w = realism.weights_of({"jawOpen": 1.0}, r.rest_weights)
    frame, drawn = realism.render_rgb(r, w), realism._drawn(r, w)

    def roughness(margin: float) -> float:
        edge = _upper_teeth_edge_px(frame, drawn, r.mesh.mouth.upper, margin=margin)
        assert len(edge) > 30
        return float(np.abs(edge[3:-3] - np.convolve(edge, np.ones(7) / 7, mode="valid")).mean())

    assert roughness(0.25) < 0.15
    if name.startswith("obama"):
        assert roughness(0.12) < 0.2


@pytest.mark.parametrize("name", ["obama.jpg", "obama_turned.png"])
def test_the_drawn_tooth_row_meets_the_photos_own_teeth_without_a_step(photos, name):
    """Beside the photo's own upper teeth the row is drawn. At one length over the arch (the photo's longest
    reach), it met the photo's teeth where their reach tapers off toward their ends: a step 3-5 px high with a
    pointed tooth at each end of a grin's teeth, on jawOpen 0.5 and 1. Off its own 7-column mean by up to
    0.97-1.17 px over the middle three quarters of the mouth; carried on from the photo's teeth along the arch
    (raster.teeth_row_scale), 0.22-0.41. (With the edge found at its steepest fall, not at the column's halfway
    level, which dim teeth in a corner's shadow crossed 2-3 px above their end: the code before 843fb9b 0.97-1.20,
    now 0.27-0.46.)"""
    from facecast.calibration.eval import realism

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    for jaw in (0.5, 1.0):
        w = realism.weights_of({"jawOpen": jaw}, r.rest_weights)
        frame, drawn = realism.render_rgb(r, w), realism._drawn(r, w)
        edge = _upper_teeth_edge_px(frame, drawn, r.mesh.mouth.upper, margin=0.12)
        assert len(edge) > 40
        step = float(np.abs(edge[3:-3] - np.convolve(edge, np.ones(7) / 7, mode="valid")).max())
        assert step < 0.7, (jaw, step)


@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg"])
def test_every_output_size_draws_the_same_face(photos, name):
    """A 2048x2048 render is the 512x512 one, scaled: the neutral face and every shape at weight 1 put the
    landmarks at 4x the same place (within 0.01 px at 512). Before, a 2048 frame shut obama2's eyes 4x tighter
    (the lids' closest approach was in pixels), turned its slanted lid columns inside out and took a
    different blink (7 px apart); and Obama's neutral face was fitted on the 2048 frame shrunk to 512, which
    MediaPipe reads differently enough to take another bisection step (2 px apart)."""
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    small, big = (PortraitRenderer(portrait=accepted / name, width=s, height=s) for s in (512, 2048))
    small.prepare()
    big.prepare()
    for k in range(-1, NUM_ARKIT):
        w = np.zeros(NUM_ARKIT, np.float32)
        if k >= 0:
            w[k] = 1.0
        sample = FaceSample(capture_wall_ns=0, weights=w)
        gap = np.abs(small.drawn_landmarks(sample) - big.drawn_landmarks(sample) / 4).max()
        assert gap < 0.01, (ARKIT_NAMES[k] if k >= 0 else "neutral", gap)


def test_the_largest_of_several_faces_is_used_and_said(photos, caplog):
    accepted, _ = photos
    with caplog.at_level("WARNING"):
        renderer = PortraitRenderer(portrait=accepted / "two_faces.jpg", width=256, height=256)
        renderer.prepare()
    assert renderer.check.faces == 2
    assert any("2 faces in the photo: animating the largest" in r.getMessage() for r in caplog.records)
    alone = check_photo(read_photo(accepted / "obama.jpg"), name="obama")
    assert abs(renderer.check.iod_px - alone.iod_px) < 0.05 * alone.iod_px  # Obama's face, the larger one


@pytest.mark.parametrize("name", sorted(photo_set.REFUSED))
def test_every_bad_input_is_refused_with_its_reason(photos, name):
    _, refused = photos
    with pytest.raises(RendererUnavailable, match=photo_set.REFUSED[name]) as info:
        PortraitRenderer(portrait=refused / name, width=256, height=256).prepare()
    assert name in str(info.value)  # the message names the file


def test_turned_heads_shut_eyes_and_open_mouths_are_refused_with_the_limits(monkeypatch):
    """The judgement on measured values (no photo of a turned head installs from a registry)."""
    import facecast.engine.render.portrait.photo as photo

    monkeypatch.setattr(photo, "_iod", lambda landmarks: 100.0)  # eyes 100 px apart
    lm = np.full((478, 3), 300.0)  # the whole face inside a 600x600 photo

    def judge(head_deg=(0, 0, 0), **weights):
        w = np.zeros(NUM_ARKIT)
        for k, v in weights.items():
            w[arkit_index(k)] = v
        m = {"faces": np.array(1), "landmarks": lm, "steadiness": np.array(0.0), "weights": w,
             "head_rad": np.radians(head_deg)}
        return _judge(m, name="me.jpg", size_px=(600, 600))

    assert judge().refusal is None
    assert f"limits are {MAX_YAW_DEG:.0f} and {MAX_PITCH_DEG:.0f}" in judge((MAX_YAW_DEG + 5, 0, 0)).refusal
    assert "turned too far" in judge((0, -(MAX_PITCH_DEG + 5), 0)).refusal
    assert judge((MAX_YAW_DEG - 1, MAX_PITCH_DEG - 1, 40)).refusal is None  # roll is uprighted by the crop
    assert "eyes in me.jpg are closed" in judge(eyeBlinkLeft=0.9, eyeBlinkRight=0.9).refusal
    assert "mouth in me.jpg is wide open" in judge(jawOpen=0.8).refusal
    assert judge(jawOpen=0.3, mouthSmileLeft=0.8).refusal is None  # milder expressions are animated from


def test_phone_and_editor_formats_read_upright_in_8_bits(photos):
    accepted, _ = photos
    from PIL import Image

    upright = read_photo(accepted / "obama2.jpg").astype(np.int16)
    rotated = read_photo(accepted / "obama2_exif_rotated.jpg").astype(np.int16)
    assert rotated.shape == upright.shape and np.abs(rotated - upright).mean() < 4  # JPEG noise only
    deep = read_photo(accepted / "obama2_16bit.png").astype(np.int16)
    grey = np.asarray(Image.open(accepted / "obama2.jpg").convert("L"), np.int16)
    assert deep.shape == upright.shape and np.abs(deep[..., 0] - grey).max() <= 1  # scaled, not clipped to white
    cmyk = read_photo(accepted / "obama_cmyk.jpg").astype(np.int16)
    assert np.abs(cmyk - read_photo(accepted / "obama.jpg")).mean() < 12
    rgba = np.asarray(Image.open(accepted / "32bit.png"))
    assert rgba.shape[2] == 4 and read_photo(accepted / "32bit.png").shape == rgba.shape[:2] + (3,)
    for name in ("obama2_exif_rotated.jpg", "obama2_16bit.png", "obama_cmyk.jpg", "obama3_gray.png"):
        assert check_photo(read_photo(accepted / name), name=name).refusal is None, name


@pytest.mark.parametrize("name, turns", [("biden.jpg", 2), ("obama3.jpg", 3), ("astronaut.png", 2)])
def test_a_photo_lying_on_its_side_or_upside_down_is_animated_upright(photos, tmp_path, name, turns):
    """A scan or a photo saved without its EXIF orientation: MediaPipe finds upright faces only, or finds an upside
    down face as an upright one with its landmarks in the wrong places (the astronaut's eyes 24 px apart, not 43).
    The check stands the face up, says so, and measures exactly what it measures on the upright photo."""
    accepted, _ = photos
    from PIL import Image

    upright_rgb = read_photo(accepted / name)
    if max(upright_rgb.shape[:2]) > 800:  # the same test on fewer pixels: the upright photo is this copy
        with Image.open(accepted / name) as im:
            small = im.convert("RGB")
        small.thumbnail((800, 800))
        upright_path = tmp_path / f"upright_{Path(name).stem}.png"
        small.save(upright_path)
        upright_rgb = read_photo(upright_path)
    else:
        upright_path = accepted / name
    turned_path = tmp_path / f"turned_{Path(name).stem}.png"  # lossless: the same pixels, turned
    Image.fromarray(np.ascontiguousarray(np.rot90(upright_rgb, turns))).save(turned_path)
    upright = check_photo(upright_rgb, name=name, use_cache=False)
    turned = check_photo(read_photo(turned_path), name=turned_path.name, use_cache=False)
    assert turned.refusal is None and upright.refusal is None
    lies = "upside down" if turns == 2 else "on its side"
    assert any(f"lies {lies}" in n and "animating it upright" in n for n in turned.notes), turned.notes
    assert not any("lies" in n for n in upright.notes)
    assert abs(turned.iod_px - upright.iod_px) < 1e-3 * upright.iod_px  # the same pixels measured
    assert np.abs(turned.rest_weights - upright.rest_weights).max() < 1e-3
    # the landmarks are the turned photo's own: the upright ones carried along with its pixels (a quarter turn
    # counterclockwise of a picture W wide shows its point (x, y) at (y, W - x))
    along = upright.landmarks[:, :2].copy()
    width = upright_rgb.shape[1]
    for _ in range(turns):
        along[:, 0], along[:, 1] = along[:, 1], width - along[:, 0]
        width = upright_rgb.shape[0] + upright_rgb.shape[1] - width  # the turned picture's width is the height
    assert np.abs(along - turned.landmarks[:, :2]).max() < 1e-3 * upright.iod_px
    roll = turned.head_deg[2] - upright.head_deg[2]
    assert abs((roll - turns * 90.0 + 180.0) % 360.0 - 180.0) < 1.0  # np.rot90 turns counterclockwise: roll +90
    # the renderer crops it upright: the crops are the same picture
    crops = [PortraitRenderer(portrait=p, width=128, height=128) for p in (upright_path, turned_path)]
    for r in crops:
        r.prepare()
    assert np.abs(crops[0].rig.image.astype(np.int16) - crops[1].rig.image).mean() < 2.0


def test_the_likeness_is_measured_against_a_photo_lying_on_its_side(photos):
    """dlib's detector finds upright faces only: the reference of a photo on its side or upside down is its face
    turned upright (``portrait check`` said "dlib finds no face in the photo")."""
    from facecast.calibration.eval.fidelity import DlibIdentity

    import cv2

    accepted, _ = photos
    rgb = read_photo(accepted / "obama3.jpg")
    rgb = cv2.resize(rgb, (480, round(480 * rgb.shape[0] / rgb.shape[1])), interpolation=cv2.INTER_AREA)
    dlib = DlibIdentity()
    upright = dlib.embed(rgb)
    for turns in (1, 2):
        turned = dlib.embed(np.rot90(rgb, turns))
        assert turned is not None and dlib.distance(turned, upright) < 0.05, turns


def test_an_iphones_heic_photo_reads_like_its_jpeg_turned_as_its_orientation_says(photos, tmp_path):
    """iPhones save HEIC (HEIF, HEVC) by default. Written here by a real encoder (pillow-heif's x265), once upright and
    once with EXIF orientation 6 (rotate 90 deg clockwise to show, as a phone held upright writes it): each reads as
    the same photo saved as a JPEG with the same orientation reads (HEVC and JPEG noise apart), never turned twice."""
    from PIL import Image

    accepted, _ = photos
    with Image.open(accepted / "biden.jpg") as im:
        upright = im.convert("RGB")
    upright.thumbnail((1000, 1000))  # fewer pixels to encode: his eyes are still 55 px apart (the limit is 30)
    exif = Image.Exif()
    exif[0x0112] = 6
    for name, options in (("plain", {}), ("rotated", {"exif": exif.tobytes()})):
        upright.save(tmp_path / f"{name}.heic", quality=95, **options)
        upright.save(tmp_path / f"{name}.jpg", quality=95, **options)
        heic = read_photo(tmp_path / f"{name}.heic").astype(np.int16)
        jpeg = read_photo(tmp_path / f"{name}.jpg").astype(np.int16)
        assert heic.shape == jpeg.shape and np.abs(heic - jpeg).mean() < 4, (name, heic.shape, jpeg.shape)
    assert read_photo(tmp_path / "rotated.heic").shape[:2] == (upright.width, upright.height)  # shown turned
    assert check_photo(read_photo(tmp_path / "plain.heic"), name="plain.heic").refusal is None
    (tmp_path / "cut.heic").write_bytes((tmp_path / "plain.heic").read_bytes()[:3000])  # a download cut short
    with pytest.raises(RendererUnavailable, match=r"cut.heic is not a readable image \(.*file.*\); use a JPEG"):
        read_photo(tmp_path / "cut.heic")


def test_a_heic_photo_without_pillow_heif_says_what_to_install(tmp_path, monkeypatch):
    import facecast.engine.render.portrait.photo as photo

    monkeypatch.setattr(photo, "register_heif", lambda: False)
    (tmp_path / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    with pytest.raises(RendererUnavailable, match="pip install pillow-heif, or export it as JPEG"):
        read_photo(tmp_path / "IMG_0001.HEIC")


def test_a_one_bit_photo_is_read_as_grey(photos, tmp_path):
    """A 1-bit (dithered) photo: MediaPipe finds no face in the dots; read as their local grey, it tracks the face
    the colour photo shows."""
    accepted, _ = photos
    from PIL import Image

    for name in ("obama2.jpg", "biden.jpg"):
        path = tmp_path / f"{Path(name).stem}_1bit.png"
        with Image.open(accepted / name) as im:
            im.convert("1").save(path)
        bilevel = read_photo(path)
        assert len(np.unique(bilevel)) > 16  # grey levels, not black and white dots
        colour = check_photo(read_photo(accepted / name), name=name, use_cache=False)
        check = check_photo(bilevel, name=path.name, use_cache=False)
        assert check.refusal is None and abs(check.iod_px - colour.iod_px) < 0.05 * colour.iod_px, name


def test_the_crop_stays_inside_the_photo_and_never_mirrors(photos):
    accepted, _ = photos
    for name in ("obama.jpg", "biden.jpg", "astronaut.png", "obama3.jpg"):
        r = PortraitRenderer(portrait=accepted / name, width=256, height=256)
        r.prepare()
        assert r.rig.outside_px == 0, name  # moved or tightened to fit: nothing invented
    tight = PortraitRenderer(portrait=accepted / "obama_tight.jpg", width=256, height=256)
    tight.prepare()
    assert tight.rig.outside_px > 0  # the face fills this photo: a strip past its edge is unavoidable
    import cv2
    grey = cv2.cvtColor(tight.rig.image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    detail = np.abs(cv2.Laplacian(grey, cv2.CV_64F))
    edge = tight.rig.image.shape[1] - 6
    strip = detail[:, edge:] if detail[:, edge:].mean() < detail[:, :6].mean() else detail[:, :6]
    assert strip.mean() < 0.3 * detail[64:192, 64:192].mean()  # blurred edge, not a mirrored copy of the photo


def test_portrait_check_reports_and_draws_the_key_shapes(photos, tmp_path):
    accepted, refused = photos
    good = subprocess.run(FACECAST + ["portrait", "check", str(accepted / "obama.jpg"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert "eyes 102 px apart" in good.stdout and "usable: yes" in good.stdout and "head yaw" in good.stdout
    assert "taken out for the neutral face (weights are absolute): mouthSmile" in good.stdout  # his grin
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["glasses"] is False and "glasses:" not in good.stdout
    assert len(report["expression_shown"]) == 14 and min(report["expression_shown"].values()) >= MIN_SHOWN
    # the likeness, as eval measures it: dlib's distance from the photo of the neutral face and each key shape. The
    # grin taken out moves his neutral face 0.44-0.46 from the photo (eval, 2026-11-27), and the check says so
    distances = report["likeness"]["distances"]
    assert set(distances) == {"neutral", *report["expression_shown"]} and None not in distances.values()
    assert "likeness (dlib's face distance from the photo" in good.stdout
    assert f"neutral face {distances['neutral']:.3f}" in good.stdout and distances["neutral"] > 0.4
    assert "a photo with a relaxed, closed-mouth face keeps more of the likeness" in good.stdout
    past = good.stdout.split("past the goal:")[-1].split("\n")[0]
    for name in report["expression_shown"]:
        assert (f" {name} {distances[name]:.3f}" in past) == (distances[name] > report["likeness"]["goal"])
    from PIL import Image
    sheet = Image.open(tmp_path / "check.png").size  # photo, neutral face and 14 key shapes, 4 x 4
    assert sheet[0] >= 4 * 256 and sheet[1] >= 4 * 256
    bad = subprocess.run(FACECAST + ["portrait", "check", str(refused / "obama_partial_face.jpg")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "REFUSED: the face runs off the edge" in bad.stdout
    missing = subprocess.run(FACECAST + ["portrait", "check", str(tmp_path / "none.jpg")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_eval_over_a_portrait_set_tabulates_photos_and_refusals(photos, tmp_path):
    accepted, refused = photos
    folder = tmp_path / "set"
    folder.mkdir()
    for src in (accepted / "obama.jpg", accepted / "biden.jpg", refused / "wall.png"):
        (folder / src.name).write_bytes(src.read_bytes())
    result = subprocess.run(FACECAST + ["eval", "--portrait-set", str(folder), "--sequence", "sweep:jawOpen",
                                        "--size", "256x256", "--identity-model", "none", "--out",
                                        str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "no face found" in summary["wall.png"]["refused"]
    for name in ("obama.jpg", "biden.jpg"):
        row = summary[name]["shapes"]["JawOpen"]
        assert isinstance(row["closed_loop_range"], float) and isinstance(row["geometry_range"], float)
        assert summary[name]["geometry_total"] == 1 and summary[name]["closed_loop_total"] == 1
        assert (tmp_path / "out" / Path(name).stem / "report.png").is_file()
    obama = summary["obama.jpg"]["shapes"]["JawOpen"]  # measured: closed loop 0.66, geometry 0.88 at 512x512
    assert obama["closed_loop"] and obama["geometry"] and obama["closed_loop_range"] > 0.3
    # biden's closed mouth is tracked with its inner lip lines crossed; before the openings were wound by
    # MediaPipe's topology, opening it read as turning it inside out and the jaw dragged the upper lip along
    # (geometry range 0.02)
    biden = summary["biden.jpg"]["shapes"]["JawOpen"]
    assert biden["geometry"] and biden["geometry_range"] > 0.3
    assert "JawOpen" in result.stdout and "refused wall.png: no face found" in result.stdout


def test_eval_fit_gains_fits_each_photo_once_and_the_renderer_then_uses_it(photos, tmp_path, monkeypatch, capsys,
                                                                          caplog):
    """--fit-gains: a photo without a saved fit is fitted (and says so), the fit is saved for it, and a second
    run finds it and fits nothing; a refused photo is still refused, not fitted. The fit itself is tested in
    test_portrait.py (test_fit_portrait_saves_gains_the_renderer_then_uses); here it fits jawOpen only (all 14
    key shapes took 50 s of this test's 70)."""
    import functools

    from facecast.calibration import portrait_fit
    from facecast.engine.cli import main
    accepted, refused = photos
    folder = tmp_path / "set"
    folder.mkdir()
    for src in (accepted / "obama3.jpg", refused / "wall.png"):
        (folder / src.name).write_bytes(src.read_bytes())
    monkeypatch.setenv("FACECAST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(portrait_fit, "fit_photo", functools.partial(portrait_fit.fit_photo, shapes=("jawOpen",)))
    command = ["eval", "--portrait-set", str(folder), "--fit-gains", "--sequence", "sweep:jawOpen", "--size",
               "256x256", "--identity-model", "none", "--out", str(tmp_path / "out")]
    assert main(command) == 0
    first = capsys.readouterr().out
    assert "fitting the field gains of" in first and "obama3.jpg" in first
    assert len(list((tmp_path / "cache" / "portrait-gains").glob("*.npz"))) == 1  # the refused photo: none
    assert "no face found" in json.loads((tmp_path / "out" / "summary.json").read_text())["wall.png"]["refused"]
    caplog.clear()
    with caplog.at_level("INFO"):
        assert main(command) == 0
    assert "fitting the field gains" not in capsys.readouterr().out
    assert any("field gains fitted for this photo" in r.getMessage() for r in caplog.records)


def test_run_with_a_refused_photo_stops_with_the_reason_instead_of_a_stand_in(photos):
    _, refused = photos
    result = subprocess.run(FACECAST + ["run", "--portrait", str(refused / "wall.png"), "--duration", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no face found" in result.stderr and "wall.png" in result.stderr
    assert "testpattern" not in result.stdout + result.stderr  # no silent fallback to another renderer


@pytest.mark.parametrize("name", ["obama2.jpg", "obama_tight.jpg", "obama3.jpg"])
def test_a_wide_eye_keeps_the_photos_catchlight(photos, name):
    """A wide eye redraws the top of the iris (the photo has it cut flat by the lid there), and the catchlight, the
    light's reflection on the cornea, went with it: a dead, doll-like eye. The wide eyeball keeps the photo's own
    catchlight (:data:`.eyes.CATCHLIGHT_SHARES`). At the photo's brightest iris pixel, as a share of its excess over
    the iris's median, (right, left):

    - the wide eyeball (:func:`.eyes.eyeball_images`): obama2 0.18 / 0.01, obama_tight 0.53 / 0.68, obama3 0.19 /
      0.19 before; all of it now;
    - eyeWide 1 drawn at 512x512, where the lid's shadow falls on newly bared eyeball: obama2 0.17, obama_tight 0.49
      / 0.69, obama3 0.17 (right eyes) before; 0.55 / 0.39, 0.77 / 0.97, 0.96 / 0.95 now."""
    from facecast.engine.render.portrait import eyes
    from facecast.engine.types import FaceSample
    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / name, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    w = np.zeros(NUM_ARKIT, np.float32)
    w[arkit_index("eyeWideLeft")] = w[arkit_index("eyeWideRight")] = 1.0
    frame = realism_luma(r.render(FaceSample(capture_wall_ns=0, weights=w))[..., :3])
    openings, band = (r.mesh.eye_right, r.mesh.eye_left), r._band.astype(np.float64)
    eyeball = realism_luma(eyes.eyeball_images(r.rig.image, r._rest, openings, r.rig.iod_px, band,
                                               white=r._light * eyes.DEFAULT_SCLERA)[1])
    photo = realism_luma(r.rig.image[..., :3])
    yy, xx = np.mgrid[:512, :512]
    for o, side in zip(openings, ("right", "left")):
        centre, rim = eyes.IRIS[side]
        radius = np.linalg.norm(r._rest[list(rim)] - r._rest[centre], axis=1).mean()
        cx, cy = r._rest[centre] - 0.5
        iris = (eyes.opening_mask((512, 512), r._rest, o, band) > 0) & (np.hypot(xx - cx, yy - cy) < 0.8 * radius)
        y, x = np.unravel_index(np.argmax(np.where(iris, photo, -1.0)), photo.shape)
        base = np.median(photo[iris])
        assert photo[y, x] > 2.0 * base, (side, photo[y, x])  # the photo has a catchlight
        assert eyeball[y, x] - base > 0.95 * (photo[y, x] - base), (side, (eyeball[y, x] - base) / (photo[y, x] - base))
        assert frame[y, x] - base > 0.3 * (photo[y, x] - base), (side, (frame[y, x] - base) / (photo[y, x] - base))


@pytest.mark.parametrize("mirrored", [False, True])
def test_a_wide_eye_looking_aside_is_lit_about_the_eyeballs_middle(photos, tmp_path, mirrored):
    """The bared sclera is a lit sphere about the eyeball's middle (midway between the eye's corners), whatever way
    the eye looks. Shaded from the iris's column instead, obama2's eyes (looking aside, the iris 0.23-0.46 of the
    half width off the middle) were brightest right beside the iris: a white crescent against a grey sclera.
    Measured on the wide eyeball (:func:`.eyes.eyeball_images`) above the iris, at half the half width either side of
    the middle: the near side was 1.53 (obama2) and 1.31 (flipped) times the far side's luma (right eyes); now they
    match."""
    from PIL import Image
    from facecast.engine.render.portrait import eyes
    accepted, _ = photos
    path = accepted / "obama2.jpg"
    if mirrored:  # the iris off the middle the other way
        path = tmp_path / "obama2_flipped.png"
        Image.open(accepted / "obama2.jpg").transpose(Image.FLIP_LEFT_RIGHT).save(path)
    r = PortraitRenderer(portrait=path, width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    openings = (r.mesh.eye_right, r.mesh.eye_left)
    wide = realism_luma(eyes.eyeball_images(r.rig.image, r._rest, openings, r.rig.iod_px, r._band.astype(np.float64),
                                            white=r._light * eyes.DEFAULT_SCLERA)[1])
    for o, side in zip(openings, ("right", "left")):
        centre, rim = eyes.IRIS[side]
        radius = np.linalg.norm(r._rest[list(rim)] - r._rest[centre], axis=1).mean()
        corners = r._rest[list(o.corners)] - 0.5
        middle, half = corners[:, 0].mean(), abs(corners[1, 0] - corners[0, 0]) / 2
        off = (r._rest[centre, 0] - 0.5 - middle) / half
        assert abs(off) > 0.2, (side, off)  # looking aside
        y = int(round(r._rest[centre, 1] - 0.5 - 1.2 * radius))
        near, far = (wide[y, int(round(middle + s * 0.5 * half))] for s in (np.sign(off), -np.sign(off)))
        assert abs(near / far - 1.0) < 0.05, (side, near / far)


def test_the_smile_preset_reads_as_a_smile_on_a_face_that_does_not_smile(photos):
    """On a photo that smiles, a smile up to its own is drawn by taking out less of it; past that, and on a face
    that does not smile at all, the forward field draws it. At the field's own size the smile preset (smiles 0.7)
    read back 0.32 / 0.23 on Biden, whose photo reads 0.05: a mouth barely wider. Its shipped gain (1.3) reads
    0.52 / 0.39 and keeps his likeness (0.274 from his photo, 0.264 at 1)."""
    from facecast.calibration.eval.fidelity import DlibIdentity
    from facecast.engine.face.tracker import FaceTracker
    from facecast.engine.offline.presets import preset_weights
    from facecast.engine.render.portrait.rig import load_portrait

    accepted, _ = photos
    r = PortraitRenderer(portrait=accepted / "biden.jpg", width=512, height=512, pixel_format=PixelFormat.RGB8)
    r.prepare()
    left, right = arkit_index("mouthSmileLeft"), arkit_index("mouthSmileRight")
    assert r.rest_weights[[left, right]].max() < 0.1  # the photo does not smile
    frame = np.ascontiguousarray(r.render(FaceSample(capture_wall_ns=0, weights=preset_weights("smile")))[..., :3])
    tracker, identity = FaceTracker(), DlibIdentity()
    try:
        tracked = tracker.track(frame)
        assert tracked.weights[left] > 0.42 and tracked.weights[right] > 0.31, tracked.weights[[left, right]]
        photo, _ = load_portrait(accepted / "biden.jpg")
        assert identity.distance(identity.embed(frame, tracked.landmarks), identity.embed(photo)) < 0.35
    finally:
        tracker.close()
        identity.close()
