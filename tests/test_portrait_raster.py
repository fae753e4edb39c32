"""The portrait warp's synthesis (issue 17): fractional coverage where skin meets an opening, no photo
teeth on the lips' edges, the mouth interior (cavity, tongue, teeth rows, the photo's own teeth), skin
stretched one way blurred across the stretch, lashes where the lids meet, soft eyeball edges.

Each property is checked against a planted version of its bug (a binary mask, the photo instead of the
filled photo, no blur, no lashes, a dark tooth divider), so that the test fails if the property is lost."""

from __future__ import annotations

import dataclasses

import math
from typing import Optional

import numpy as np
import pytest

from facecast.engine.render.portrait import PortraitRenderer, raster
from facecast.engine.render.portrait.eyes import (DEFAULT_SCLERA, SCLERA_BRIGHTEST, _at_colour_scale, _keep_photo,
                                                  _median_colour, _synthesised_eyeball, opening_mask)
from facecast.engine.render.portrait.mesh import SKIN
from facecast.engine.types import NUM_ARKIT, FaceSample, PixelFormat, arkit_index


def sample(**weights) -> FaceSample:
    w = np.zeros(NUM_ARKIT, np.float32)
    for name, value in weights.items():
        w[arkit_index(name)] = value
    return FaceSample(capture_wall_ns=0, weights=w)


@pytest.fixture(scope="module")
def renderer():
    r = PortraitRenderer(pixel_format=PixelFormat.RGB8)
    r.prepare()
    return r


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def draw(r: PortraitRenderer, scene: raster.Scene, pose, params: np.ndarray) -> np.ndarray:
    out = np.zeros((*r.rig.image.shape[:2], 3), np.uint8)
    raster.draw(out, scene, dst=pose.vertices, opening_px=pose.opening_px, eye_affine=r._eye_affine(pose),
                neutral=r.deformer.neutral_vertices, params=params)
    return out


def frame_params(r: PortraitRenderer, pose, s: FaceSample) -> np.ndarray:
    """The per-frame parameters ``render`` passes (so a test can change one)."""
    return r.frame_params(pose, s)


def flat_scene(scene: raster.Scene) -> raster.Scene:
    """White skin everywhere, the openings black (no photo in them): a frame's grey level is the skin's coverage."""
    white = np.full_like(scene.skin_img, 255)
    levels = np.stack([white] * len(raster.STRETCH_LEVELS))
    return scene._replace(skin_img=white, fill_img=white, blur_x_img=levels, blur_y_img=levels,
                          eye_img=np.zeros_like(white), eye_wide_img=np.zeros_like(white),
                          teeth_alpha=np.zeros_like(scene.teeth_alpha), attr_h0=np.zeros_like(scene.attr_h0),
                          attr_band=np.full_like(scene.attr_band, 1e-3))


def black_interior(params: np.ndarray) -> np.ndarray:
    mp = params.copy()
    for at in (raster.P_TEETH, raster.P_TONGUE_RGB, raster.P_CAVITY_RGB):
        mp[at:at + 3] = 0.0
    mp[raster.P_LID_RGB:raster.P_LID_RGB + 6] = 0.0
    return mp


def polygon_coverage(poly: np.ndarray, shape_hw: tuple[int, int], supersample: int = 16) -> np.ndarray:
    """(H, W) share of each pixel inside ``poly`` (pixel i spans [i, i + 1))."""
    import cv2

    h, w = shape_hw
    big = np.zeros((h * supersample, w * supersample), np.uint8)
    cv2.fillPoly(big, [np.round(poly * supersample * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return big.reshape(h, supersample, w, supersample).mean((1, 3))


def opened_mouth(r: PortraitRenderer, drop_px: float = 7.3):
    """The photo's own mesh with the lower lip and everything below it moved ``drop_px`` down: an open mouth
    whose lips keep their rest shape (nothing folds along the lip lines)."""
    o = r.mesh.mouth
    v = r._rest.copy()
    line = 0.5 * (v[o.upper, 1].mean() + v[o.lower, 1].mean())
    move = v[:, 1] > line
    move[o.upper] = False
    move[o.lower] = True
    move[list(o.corners)] = False
    v[move, 1] += drop_px
    opening = np.zeros(len(v), np.float32)
    h = np.linalg.norm(v[o.lower] - v[o.upper], axis=1)
    opening[o.upper], opening[o.lower] = h, h
    opening[list(o.corners)] = 0.0
    return dataclasses.replace(r.pose(sample()), vertices=v.astype(np.float32), opening_px=opening)


def test_the_lips_edge_is_covered_by_area_not_by_a_binary_test(renderer):
    r = renderer
    pose = opened_mouth(r)
    mp = black_interior(r._params)
    o = r.mesh.mouth
    v = pose.vertices
    skin = 1.0 - polygon_coverage(np.concatenate([v[o.upper], v[o.lower][::-1]]), (512, 512))
    c0, c1 = v[list(o.corners)]
    x = np.arange(512)[None, :] + 0.5
    middle = (x > c0[0] + 0.2 * (c1[0] - c0[0])) & (x < c1[0] - 0.2 * (c1[0] - c0[0]))  # away from the corners
    edge = (skin > 0.02) & (skin < 0.98) & middle
    assert edge.sum() > 60

    def errors(scene):
        got = draw(r, scene, pose, mp)[..., 0] / 255.0
        err = np.abs(got - skin)[edge]
        return float(err.mean()), float(np.percentile(err, 95))

    mean, p95 = errors(flat_scene(r._scene))
    assert mean < 0.08 and p95 < 0.25, (mean, p95)
    binary = flat_scene(r._scene)._replace(soft=np.zeros_like(r._scene.soft))  # the planted bug: no soft edges
    mean, p95 = errors(binary)
    assert mean > 0.15, (mean, p95)


def test_coverage_adds_up_where_the_lids_meet(renderer):
    """A shut eye's line is all skin: the upper and lower lids' shares of a pixel add up to one, no opening
    shows between them (compositing one over the other would leave a quarter of it)."""
    r = renderer
    pose = r.pose(sample())
    v, opening = pose.vertices.copy(), pose.opening_px.copy()
    o = r.mesh.eye_right
    v[o.lower] = v[o.upper] + np.array([0.0, 0.01], np.float32)
    opening[o.upper] = opening[o.lower] = 0.01
    shut = dataclasses.replace(pose, vertices=v, opening_px=opening)
    mp = black_interior(r._params)
    got = draw(r, flat_scene(r._scene), shut, mp)[..., 0]
    xs = np.arange(int(np.ceil(v[o.upper[1], 0])), int(v[o.upper[-2], 0]))
    ys = np.interp(xs + 0.5, v[o.upper, 0], v[o.upper, 1])
    line = np.array([got[int(y) - 1:int(y) + 2, x].min() for x, y in zip(xs, ys)])
    assert line.min() >= 225, line


def test_neighbouring_skin_triangles_agree_where_the_lash_line_is(renderer):
    """The lash line drawn where a closing eye's lids meet is a function of the distance to the eye's chain. Each
    triangle measured it to its own chain edge or, touching the chain at one vertex, to that vertex alone: on the
    edge two such triangles share they disagreed (by up to half a chain segment), and the line came out
    stair-stepped. Now each measures to the chain around where it touches it (``edge_tables``' ``chain_run``): on
    every shared edge within a lash line's reach of the chain, both give the same distance, and the same distance
    along the chain to its ends where the lashes taper."""
    r = renderer
    pose = r.pose(sample(eyeBlinkLeft=1.0, eyeBlinkRight=1.0))
    dst, h = pose.vertices.astype(np.float32), pose.opening_px.astype(np.float32)
    soft, chain, run, _ = raster.edge_tables(r.mesh)
    lash = raster.LASH_IODS * r.rig.iod_px
    owners: dict = {}
    for t in np.nonzero(chain)[0]:
        tri = r.mesh.triangles[t]
        for k in range(3):
            owners.setdefault(tuple(sorted((int(tri[k]), int(tri[(k + 1) % 3])))), []).append(int(t))
    checked, worst = 0, 0.0
    for (a, b), ts in owners.items():
        if len(ts) != 2 or chain[ts[0]] != chain[ts[1]]:
            continue
        for f in np.linspace(0.0, 1.0, 9):
            x, y = dst[a] + f * (dst[b] - dst[a])
            d0, _, first0, last0 = raster._chain_distance(x, y, run[ts[0]], dst, h)
            d1, _, first1, last1 = raster._chain_distance(x, y, run[ts[1]], dst, h)
            if min(d0, d1) < lash:
                checked += 1
                worst = max(worst, abs(d0 - d1))
                # and on how far the chain's ends are (the lashes taper toward them)
                worst = max(worst, abs(first0 - first1), abs(last0 - last1))
    assert checked > 100
    assert worst < 1e-3, worst
    # the chain runs: consecutive vertices of one eye's upper or lower chain
    for t in np.nonzero(chain)[0]:
        seq = run[t, :raster.RUN_LEN][run[t, :raster.RUN_LEN] >= 0]
        assert len(seq) >= 2 and len(set(seq.tolist())) == len(seq)


def test_the_lips_edge_shows_no_photo_teeth(renderer):
    """Skin at the lips' edge, once the mouth opens, samples the photo with its opening filled from the lips:
    no light halo of the photo's teeth along the lips. The photo's opening is painted green to see it."""
    r = renderer
    green = r._skin.copy()
    green[opening_mask(green.shape[:2], r._rest, r.mesh.mouth) > 0] = (0, 255, 0)
    base = r._scene._replace(skin_img=green, teeth_alpha=np.zeros_like(r._scene.teeth_alpha),
                             attr_h0=np.zeros_like(r._scene.attr_h0))
    s = sample(jawOpen=0.5)
    pose = r.pose(s)

    def greenish(scene):
        out = draw(r, scene, pose, frame_params(r, pose, s)).astype(int)
        return int(((out[..., 1] - np.maximum(out[..., 0], out[..., 2])) > 20).sum())

    assert greenish(base) <= 25
    assert greenish(base._replace(fill_img=green)) > 60  # the planted bug: the lips sample the photo (106 pixels)


#: A tooth row's outline in an upright frame: the length's change along x, x and the distance from the lip per
#: frame pixel along x and y (x does not change with the pixel: the outline is covered along the distance only).
UPRIGHT = (0.0, 0.0, 0.0, 0.0, 1.0)


#: ``_mouth_rgb``'s lips argument: no lip chains, the depths from the lips are ``v * h`` and ``(1 - v) * h``.
BY_V = np.array([1e30, 0.0, 0.0, 1e30, 0.0, 0.0], np.float32)


def upright(h: float) -> np.ndarray:
    """``_mouth_rgb``'s attribute gradients for an upright opening ``h`` px high, u not changing across pixels."""
    return np.array([0.0, 0.0, 0.0, 1.0 / h, 0.0, 0.0], np.float32)


def test_teeth_rows_have_rounded_tips_and_soft_gaps():
    iod, half_width = 100.0, 50.0
    tooth = raster.LOWER_TOOTH_IODS * iod
    length = raster.LOWER_TEETH_IODS * iod
    xs = np.arange(-0.6, 0.6, 0.1 / half_width)  # front teeth, 0.1 px apart
    shades = np.array([raster._tooth_row(x, 0.6 * length, length, tooth, half_width, iod, 1.0, 1.0, *UPRIGHT, raster.LOWER_ROW)[1]
                       for x in xs])
    # gaps no darker than interdental shadows: a tooth's rounded side and the gap's shadow, and the teeth behind the
    # incisors a little darker (the fourth from the midline is the farthest these columns reach), nothing more
    darkest_tooth = raster.LOWER_TEETH_TONES[3]
    assert shades.min() / shades.max() >= (1.0 - raster.GAP_SHADE) * (1.0 - raster.TOOTH_CURVE) * darkest_tooth - 1e-6
    assert np.abs(np.diff(shades)).max() < 0.03  # and no hard dividers
    assert shades.max() - shades.min() > 0.03  # but the teeth are told apart
    # rounded faces: toward its tip a tooth is lighter at its middle than a fifth of its width from its side, where
    # the gap's shadow has faded (4% measured with raster.TOOTH_CURVE 0.1; drawn flat, 0%)
    gap, middle = 0.0, 0.5 * tooth / half_width

    def shade_at(x):
        return raster._tooth_row(x, 0.9 * length, length, tooth, half_width, iod, 1.0, 1.0, *UPRIGHT, raster.LOWER_ROW)[1]

    assert shade_at(middle) > 1.025 * shade_at(0.2 * tooth / half_width)
    # rounded tips: near its tip a tooth covers less at a gap than at its middle, with a ramp
    at_gap = raster._tooth_row(gap + 1e-4, length - 0.5, length, tooth, half_width, iod, 1.0, 1.0, *UPRIGHT, raster.LOWER_ROW)[0]
    at_middle = raster._tooth_row(middle, length - 0.5, length, tooth, half_width, iod, 1.0, 1.0, *UPRIGHT, raster.LOWER_ROW)[0]
    assert at_middle > 0.9 and at_gap < 0.5
    ramp = [raster._tooth_row(middle, length + d, length, tooth, half_width, iod, 1.0, 1.0, *UPRIGHT, raster.LOWER_ROW)[0]
            for d in (-0.25, 0.0, 0.25)]
    assert 0.1 < ramp[1] < 0.9 and ramp[0] > ramp[1] > ramp[2]


def test_an_upper_row_has_long_central_incisors_narrower_laterals_and_pointed_canines():
    """The drawn upper row follows a real row out from the midline (central incisor, lateral, canine), not one
    tooth repeated (a row of piano keys); its outline has no step where two teeth of different lengths meet; and
    without the sequence's lengths (``anatomy`` 0: a photo that shows its own upper teeth, or rows that meet) every
    tooth is the row's length."""
    iod, half_width = 100.0, 60.0
    tooth, length = raster.UPPER_TOOTH_IODS * iod, raster.UPPER_TEETH_MAX_IODS * iod
    xs = np.linspace(0.0, 0.7, 7001)  # 0.006 px apart

    def tips(anatomy, row=raster.UPPER_ROW):
        return np.array([raster._tooth_tip(float(x), length, tooth, half_width, 1.0, anatomy, row) for x in xs])

    t = tips(1.0)
    gaps = np.flatnonzero((t[1:-1, 1] < t[:-2, 1]) & (t[1:-1, 1] < t[2:, 1])) + 1  # where ``across`` is least
    gaps = np.concatenate([[0], gaps])
    assert len(gaps) >= 4
    teeth = [t[a:b] for a, b in zip(gaps[:-1], gaps[1:])]
    widths = [tt[:, 2].max() for tt in teeth[:3]]
    longest = [tt[:, 0].max() for tt in teeth[:3]]
    # the central incisor is the widest and longest; the lateral narrower and shorter by about a millimetre (a
    # twelfth of the row at its longest); the canine's point reaches further than the lateral
    assert widths[0] > 1.15 * widths[1] and widths[2] > widths[1], widths
    assert longest[0] - longest[1] > 0.08 * length and longest[2] > longest[1] + 0.03 * length, longest
    # the canine is pointed: its tip falls off from its middle on both sides more than the central's rounded one
    canine, central = teeth[2][:, 0], teeth[0][:, 0]
    mid = len(canine) // 2
    assert canine[mid] - canine[len(canine) // 4] > 0.03 * length
    assert central[len(central) // 2] - central[len(central) // 4] < 0.01 * length
    # one outline without steps: neighbouring columns 0.006 px apart differ by less than 0.5 px everywhere (a rounded
    # corner's side rises 0.15 px in its first 0.006 px; the lateral's shortening as a step was 1.57 px)
    assert np.abs(np.diff(t[:, 0])).max() < 0.5
    # the tone changes across a gap smoothly too, and each tooth out is darker
    assert np.abs(np.diff(t[:, 4])).max() < 0.01
    assert t[gaps[0] + 5, 4] > t[gaps[1] + 5 + len(teeth[1]) // 2, 4] > t[gaps[2] + len(teeth[2]) // 2, 4]
    # without the sequence's lengths (beside the photo's own teeth, or where the rows meet), every tooth is the row's
    # length at its middle
    plain = tips(0.0)
    middles = [gaps[i] + (gaps[i + 1] - gaps[i]) // 2 for i in range(3)]
    assert np.abs(plain[middles, 0] - length).max() < 1e-6
    # the lower incisors are alike: the lower row's first two teeth are as long as each other
    lower = tips(1.0, raster.LOWER_ROW)
    low_gaps = np.flatnonzero((lower[1:-1, 1] < lower[:-2, 1]) & (lower[1:-1, 1] < lower[2:, 1])) + 1
    first, second = lower[:low_gaps[0], 0].max(), lower[low_gaps[0]:low_gaps[1], 0].max()
    assert abs(first - length) < 1e-6 and abs(second - length) < 1e-6, (first, second)


def test_tooth_outlines_are_covered_across_the_outline_not_only_along_the_teeth():
    """Pixel coverage of a tooth row against the same row supersampled 16x16: the notches between rounded tips
    and the rows' ends toward the mouth corners run steeply across the pixel grid, and covered over a pixel along
    the teeth only they came out stair-stepped (the planted bug below)."""
    iod, half_width = 100.0, 50.0
    tooth, length = raster.UPPER_TOOTH_IODS * iod, raster.UPPER_TEETH_MAX_IODS * iod  # a wide-open mouth's row
    x_px = 1.0 / half_width  # x (-1..1 across the mouth) per frame pixel

    def row_length(x):
        return length * math.sqrt(max(1.0 - x * x, 0.0))  # shorter toward the corners, as drawn

    def cover(px, py, across_outline):
        x = px * x_px
        slope = -length * x / math.sqrt(max(1.0 - x * x, 1e-9))
        grads = (slope, x_px, 0.0, 0.0, 1.0) if across_outline else (0.0, 0.0, 0.0, 0.0, 1.0)
        return raster._tooth_row(x, py, row_length(x), tooth, half_width, iod, 1.0, 1.0, *grads, raster.UPPER_ROW)[0]

    def truth(px, py):
        sub = (np.arange(16) + 0.5) / 16 - 0.5
        x = (px + sub[:, None]) * x_px
        inside = [raster._tooth_tip(float(a), row_length(float(a)), tooth, half_width, 1.0, 1.0, raster.UPPER_ROW)[0] > py + b
                  for a in x[:, 0] for b in sub]
        return float(np.mean(inside))

    pixels = [(px, py) for px in np.arange(-49.5, 50.0, 1.0) for py in np.arange(0.5, length + 2.0)]
    pixels = [(px, py) for px, py in pixels if 0.0 < truth(px, py) < 1.0]  # those the outline crosses
    assert len(pixels) > 100
    err = np.array([abs(cover(px, py, True) - truth(px, py)) for px, py in pixels])
    planted = np.array([abs(cover(px, py, False) - truth(px, py)) for px, py in pixels])
    # within a twelfth of a pixel's coverage but at the cusps between two rounded tips (one pixel each, up to 0.26
    # off): 95% of the pixels the outline crosses (0.071 measured; the planted bug 0.109, a ninth of the teeth's
    # contrast with the cavity; with one tooth repeated along the row, 0.08 and 0.15)
    ours, bug = np.percentile(err, 95), np.percentile(planted, 95)
    assert ours < 0.085 and bug > 0.1, (ours, bug)


def test_the_photos_upper_teeth_end_along_one_even_edge():
    """The reach of the photo's upper teeth per column is closed over :data:`raster.TEETH_EDGE_BINS`: a dip where
    the photo shows a dark gap between two teeth (the astronaut's left of centre, which the open jaw drew as a
    notch 5 px deep) is filled, and the row is not widened."""
    run = np.zeros(64)
    run[20:44] = 1.0
    run[30:32] = 0.25  # a gap in the photo
    even = raster._teeth_edge(run)
    assert even[22:42].min() > 0.95
    assert even[:16].max() < 0.01 and even[48:].max() < 0.01  # no wider than the photo's teeth, give or take
    assert np.abs(np.diff(even)).max() < 0.4  # and it ends in a ramp, not a step


def test_the_tongues_top_follows_the_lower_lip_without_steps(renderer):
    """The tongue rises a height above the lower lip. Measured as ``(1 - v) * h``, a product of attributes linear
    over each triangle, that height is kinked at every triangle's edge, and the tongue's top came out sawn into
    steps along the open mouth (second differences of its height across columns up to 1.49 px on the astronaut at
    jawOpen 1; 0.27 measured from the lower lip's own chain, 0.23-0.80 over the photo set)."""
    r = renderer
    s = sample(jawOpen=1.0)
    pose = r.pose(s)
    mp = black_interior(frame_params(r, pose, s))
    mp[raster.P_TONGUE_RGB:raster.P_TONGUE_RGB + 3] = 250.0  # a light tongue in a black mouth
    g = draw(r, flat_scene(r._scene), pose, mp)[..., 0].astype(np.float64)
    o, v = r.mesh.mouth, pose.vertices
    c0, c1 = v[o.upper[0], 0], v[o.upper[-1], 0]
    tops = []
    for x in range(int(c0 + 0.15 * (c1 - c0)), int(c1 - 0.15 * (c1 - c0))):
        y_up = int(np.interp(x + 0.5, v[o.upper, 0], v[o.upper, 1])) + 2
        col = g[y_up:int(np.interp(x + 0.5, v[o.lower, 0], v[o.lower, 1])) - 1, x]
        half = 0.5 * col.max()  # going down from the upper lip: black teeth and cavity, then the tongue
        k = int(np.argmax(col > half))
        tops.append(y_up + k - 1 + (half - col[k - 1]) / max(col[k] - col[k - 1], 1e-6))
    assert len(tops) > 40
    assert np.abs(np.diff(tops, 2)).max() < 0.7, np.abs(np.diff(tops, 2)).max()


def test_tooth_rows_that_nearly_meet_show_teeth_where_they_meet(renderer):
    """A mouth a little open shows two tooth rows almost touching. Their rounded tips' notches showed the tongue
    behind them as a jagged pink line (and, darkened, as dots): rows that nearly meet have square tips, and what
    shows between them is in shadow."""
    r = renderer
    mp = r._params.copy()
    iod = float(mp[raster.P_IOD])
    teeth = mp[raster.P_TEETH:raster.P_TEETH + 3].astype(np.float64)
    t_up, t_low = raster.UPPER_TEETH_IODS * iod, raster.LOWER_TEETH_IODS * iod  # mid-mouth
    rgb, scratch, scratch2 = np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    img, alpha, run = r._skin, np.zeros_like(r._scene.teeth_alpha), np.zeros_like(r._scene.teeth_run)

    def grid(h: float, d_ups: np.ndarray) -> np.ndarray:  # (rows, columns, 3) across the front teeth
        out = np.zeros((len(d_ups), 120, 3))
        for i, d_up in enumerate(d_ups):
            for j, u in enumerate(np.linspace(0.44, 0.56, 120)):
                raster._mouth_rgb(img, alpha, run, u, d_up / h, h, 0.0, 0.0, 0.0, 0.0, 0.0, upright(h), BY_V, mp, rgb,
                                  scratch, scratch2)
                out[i, j] = rgb
        return out

    h = t_up + t_low + 0.3
    off = np.linalg.norm(grid(h, np.linspace(t_up - 3.0, t_up - 0.7, 6)) - teeth, axis=2) / np.linalg.norm(teeth)
    # the last 3 px of the upper teeth: teeth, told apart only by their own soft gaps (they vary 0.16 at most),
    # not notches showing what is behind (0.6 of the teeth's colour off across a row)
    assert (off.max(1) - off.min(1)).max() < 0.25, (off.max(1) - off.min(1)).max()
    # rows well apart: the tongue shows between them, not the shadow (a mouth open this wide lets light in)
    h = 0.5 * iod
    mp[raster.P_MOUTH_OPEN] = mp[raster.P_JAW_OPEN] = h  # the jaw opened it
    apart = grid(h, np.array([h - t_low - 1.0]))[0]  # a pixel above the lower teeth: the tongue
    tongue = mp[raster.P_TONGUE_RGB:raster.P_TONGUE_RGB + 3]
    assert (apart[:, 0] > 0.5 * tongue[0]).all()


def test_lips_the_jaw_parts_a_little_shade_the_teeth_more_than_lips_pulled_back(renderer):
    """Lips parted 0.05 IOD by the jaw let little light in: the teeth behind them are in shadow, but for the front
    ones right behind the lips (a flat slab of lit teeth there drew a grey-white band between the lips). Lips pulled
    apart as far with the jaw shut (a stretch, a grimace) lie drawn back over the teeth, which keep more light (shaded
    like the jaw's, MediaPipe read obama.jpg's stretch 0.57 -> 0.34). Measured on the astronaut: the jaw's middle 0.59
    of the teeth's colour, its front 1.66 times its sides; pulled, 0.79."""
    r = renderer
    mp = r._params.copy()
    iod = float(mp[raster.P_IOD])
    h = 0.05 * iod
    rgb, scratch, scratch2 = np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    img, alpha, run = r._skin, np.zeros_like(r._scene.teeth_alpha), np.zeros_like(r._scene.teeth_run)
    teeth = float(luma(mp[raster.P_TEETH:raster.P_TEETH + 3].astype(np.float64)))

    def across(jaw_px: float) -> np.ndarray:  # luma / the teeth's across the mouth (u 0..1), mid-opening
        mp[raster.P_MOUTH_OPEN], mp[raster.P_JAW_OPEN] = h, jaw_px
        out = []
        for u in np.linspace(0.05, 0.95, 19):
            raster._mouth_rgb(img, alpha, run, u, 0.5, h, 0.0, 0.0, 0.0, 0.0, 0.0, upright(h), BY_V, mp, rgb,
                              scratch, scratch2)
            out.append(float(luma(rgb.astype(np.float64))) / teeth)
        return np.array(out)

    jaw, pulled = across(h), across(0.0)
    middle, front, sides = slice(5, 14), slice(8, 11), np.r_[2:5, 14:17]
    assert jaw[middle].mean() < 0.65, jaw[middle].mean()  # in shadow (0.59) ...
    assert jaw[front].mean() > 1.3 * jaw[sides].mean(), (jaw[front].mean(), jaw[sides].mean())  # ... but the front
    assert pulled[middle].mean() > jaw[middle].mean() + 0.12, (pulled[middle].mean(), jaw[middle].mean())


def test_the_mouth_shows_the_photos_own_opening_whole_or_not_at_all():
    """One share for the whole mouth, from its most changed column. Judged per pixel, the columns near their rest
    height showed the photo's mouth and the others the synthesised one as the jaw passed the photo's opening:
    obama2's dark rest corner beside synthesised teeth."""
    rest = np.array([0.0, 20.0, 30.0, 34.0, 30.0, 20.0, 0.0])
    assert raster.mouth_rest_share(rest, rest) == 1.0
    assert raster.mouth_rest_share(rest + 0.3, rest) == 1.0  # under 0.03 of the rest height, or 0.45 px
    one_off = rest.copy()
    one_off[1] *= 1.1  # one column a tenth taller: the photo's mouth no longer fits it, anywhere
    assert raster.mouth_rest_share(one_off, rest) == 0.0
    partly = rest.copy()
    partly[3] *= 1.05
    assert 0.0 < raster.mouth_rest_share(partly, rest) < 1.0
    shut = np.zeros(7)
    assert raster.mouth_rest_share(shut + 0.2, shut) == 1.0  # a closed mouth shows its own seam while it stays shut
    assert raster.mouth_rest_share(shut + 2.0, shut) == 0.0


def test_overlapping_tooth_rows_show_the_upper_rows_edge(renderer):
    """A mouth a little open (speech's most common) shows the upper teeth over the lower ones. The lower teeth right
    under the upper row's tips lie in its shadow, so the upper row's edge is a line across them; without it both
    rows were one white slab (the lower teeth 0.9 of the upper's colour, as light at the tips as 2 px below)."""
    r = renderer
    mp = r._params.copy()
    iod = float(mp[raster.P_IOD])
    t_up, t_low = raster.UPPER_TEETH_IODS * iod, raster.LOWER_TEETH_IODS * iod  # mid-mouth
    rgb, scratch, scratch2 = np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    img, alpha, run = r._skin, np.zeros_like(r._scene.teeth_alpha), np.zeros_like(r._scene.teeth_run)
    h = t_up + 0.6 * t_low  # the rows overlap by 0.4 of the lower teeth's length
    mp[raster.P_JAW_OPEN] = h  # the jaw opened it (speech; the rows' lengths are those of a mouth just open)

    def lower_tooth(d_up: float) -> float:  # the mean grey of a tooth's width of the lower row, d_up below the lip
        out = []
        for u in np.linspace(0.47, 0.53, 24):
            raster._mouth_rgb(img, alpha, run, u, d_up / h, h, 0.0, 0.0, 0.0, 0.0, 0.0, upright(h), BY_V, mp, rgb,
                              scratch, scratch2)
            out.append(float(rgb.mean()))
        return float(np.mean(out))

    # 0.80 here; 1.01 without the shadow (the lower teeth darken toward the lower lip, not toward the tips)
    at_tips, below = lower_tooth(t_up + 0.6), lower_tooth(t_up + 2.0)
    assert at_tips < 0.9 * below, (at_tips, below)


def test_the_cavity_is_darker_at_the_back_and_under_the_upper_lip():
    iod, t_up = 100.0, 25.0
    shade = lambda d_up, d_low: raster._cavity_shade(d_up, d_low, t_up, iod)[0]  # noqa: E731
    assert shade(60.0, 40.0) < 0.75 * shade(60.0, 2.0)  # the back against the front (by the lower lip)
    assert shade(t_up + 1.0, 40.0) < 0.8 * shade(t_up + 20.0, 40.0)  # right under the upper teeth
    assert 0.0 < shade(60.0, 40.0)


def test_lips_squeezed_into_an_o_show_the_middle_teeth_at_their_size_set_back_in_shadow(renderer):
    """A funnel's O is half the neutral mouth's width. The teeth behind it do not shrink with it: the O shows the
    middle of the row at the teeth's own width (squeezed into it, the whole row was drawn as narrow teeth, a white
    grille filling the O). The lips, pushed out, hide more of the rows, and the cavity between them is darker."""
    r = renderer
    iod = float(r._params[raster.P_IOD])
    rgb, scratch, scratch2 = np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    img, alpha, run = r._skin, np.zeros_like(r._scene.teeth_alpha), np.zeros_like(r._scene.teeth_run)
    h = 0.3 * iod

    def pixel(mp: np.ndarray, u: float, d_up: float) -> np.ndarray:
        raster._mouth_rgb(img, alpha, run, u, d_up / h, h, 0.0, 0.0, 0.0, 0.0, 0.0, upright(h), BY_V, mp, rgb,
                          scratch, scratch2)
        return rgb.astype(np.float64).copy()

    def middle_tooth_u(mp: np.ndarray, d_up: float) -> float:
        """The share of the opening's width a front tooth spans: from the gap at the midline to the next."""
        us = np.linspace(0.51, 0.99, 961)
        lum = np.array([pixel(mp, u, d_up).sum() for u in us])
        return next(us[i] for i in range(1, len(us) - 1) if lum[i] < lum[i - 1] and lum[i] <= lum[i + 1]) - 0.5

    at_rest, squeezed = r._params.copy(), r._params.copy()
    at_rest[raster.P_PHOTO_TEETH] = squeezed[raster.P_PHOTO_TEETH] = 0.0  # a photo that shows no teeth of its own
    at_rest[raster.P_MOUTH_OPEN] = squeezed[raster.P_MOUTH_OPEN] = h
    at_rest[raster.P_JAW_OPEN] = squeezed[raster.P_JAW_OPEN] = h
    squeezed[raster.P_MOUTH_SHARE] = 0.5
    near_lip = 0.01 * iod  # inside the upper row at either squeeze
    # the same teeth, twice the share of an opening half as wide (the bug: the same share, teeth half as wide)
    ratio = middle_tooth_u(squeezed, near_lip) / middle_tooth_u(at_rest, near_lip)
    assert 1.8 < ratio < 2.2, ratio
    teeth = r._params[raster.P_TEETH:raster.P_TEETH + 3].astype(np.float64)
    shown = 1.0 - raster.RECEDE_HIDE
    # below what the lips leave of the upper row: no teeth, where at rest they hang
    below = raster.UPPER_TEETH_IODS * iod * (shown + 1.0) / 2
    assert np.linalg.norm(pixel(at_rest, 0.5, below) - teeth) < 0.2 * np.linalg.norm(teeth)
    assert np.linalg.norm(pixel(squeezed, 0.5, below) - teeth) > 0.5 * np.linalg.norm(teeth)
    # where the photo shows its own upper teeth, they set the rows' length (hidden beside them, the rows left the
    # cavity's shadow in ragged patches around the photo's teeth), in the shadow of the lips pushed out: darker,
    # least in the lips' colour (the light in it comes off them)
    with_teeth = squeezed.copy()
    with_teeth[raster.P_PHOTO_TEETH] = 1.0
    lips = np.asarray(r._lips_rgb, np.float64)
    in_shadow = teeth * (1.0 - raster.RECEDE_TEETH_SHADE * (1.0 - raster.LIP_BOUNCE * lips / lips.max()))
    assert np.linalg.norm(pixel(with_teeth, 0.5, below) - in_shadow) < 0.2 * np.linalg.norm(in_shadow)
    assert np.linalg.norm(pixel(with_teeth, 0.5, below) - teeth) > 0.3 * np.linalg.norm(teeth)
    got = pixel(with_teeth, 0.5, below)
    assert got[0] / got[2] > 1.1 * teeth[0] / teeth[2]  # warmer than the teeth in light
    # the tongue above the lower row: in the O's shadow (0.34 of its light at rest measured; 0.57 without it)
    tongue = h - (raster.LOWER_TEETH_IODS + 0.05) * iod
    assert pixel(squeezed, 0.5, tongue).sum() < 0.45 * pixel(at_rest, 0.5, tongue).sum()


#: :func:`mouth_column`'s opening, px.
COLUMN_PX = 60.0


def mouth_column(renderer, d_low: np.ndarray, *, h: float = COLUMN_PX, jaw_px: Optional[float] = None,
                 u: float = 0.5) -> np.ndarray:
    """(N, 3) mouth interior colours in the column ``u`` (0..1 across the opening; 0.5 its middle) of an opening ``h``
    px high, ``d_low`` px above the lower lip; the jaw opened it ``jaw_px`` (None: all of it)."""
    r = renderer
    mp = r._params.copy()
    mp[raster.P_MOUTH_OPEN] = h
    mp[raster.P_JAW_OPEN] = h if jaw_px is None else jaw_px
    rgb, scratch, scratch2 = np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    img, alpha, run = r._skin, np.zeros_like(r._scene.teeth_alpha), np.zeros_like(r._scene.teeth_run)
    out = []
    for d in d_low:
        raster._mouth_rgb(img, alpha, run, u, 1.0 - d / h, h, 0.0, 0.0, 0.0, 0.0, 0.0, upright(h), BY_V, mp, rgb,
                          scratch, scratch2)
        out.append(rgb.copy())
    return np.array(out)


def test_lips_parted_with_the_jaw_shut_show_the_teeth_clenched(renderer):
    """The lower teeth move with the jaw, not with the lower lip. Lips parted 0.25 IOD with the jaw shut (a stretch,
    a grimace) show the rows meeting, teeth from lip to lip; the same opening made by the jaw shows the cavity
    between them. (Grown from the lower lip alone, a stretch's rows stood apart over the dark, and MediaPipe read
    the astronaut's mouthStretchLeft 0.21 instead of 0.46.)"""
    iod = float(renderer._params[raster.P_IOD])
    h = 0.25 * iod
    d_low = np.linspace(0.5, h - 0.5, 40)
    shut = luma(mouth_column(renderer, d_low, h=h, jaw_px=0.0))
    opened = luma(mouth_column(renderer, d_low, h=h))
    assert shut.min() > 0.45 * shut.max(), shut.min() / shut.max()  # 0.58: the upper row's shadow on the lower
    assert opened.min() < 0.3 * opened.max(), opened.min() / opened.max()  # 0.09


def test_the_tongue_and_the_teeth_have_soft_edges(renderer):
    iod = float(renderer._params[raster.P_IOD])
    t_low = raster.LOWER_TEETH_IODS * iod
    # mouth_column's opening is all the jaw's: the tongue rises with it past speech's openings
    top = (t_low + raster.TONGUE_IODS * iod
           + raster.TONGUE_JAW_SHARE * max(COLUMN_PX - raster.TONGUE_JAW_FROM_IODS * iod, 0.0))
    for edge in (t_low, top):  # lower teeth over the tongue, the tongue's top over the cavity
        d = edge + np.arange(-3.0, 3.0, 0.25)
        grey = luma(mouth_column(renderer, d))
        steps = np.abs(np.diff(grey))
        assert steps.max() < 0.35 * np.abs(grey[-1] - grey[0]), (edge, grey)
    # the tongue is shaded, not a flat band: much darker toward its top, its back, which lies away from the light
    # (0.42 of its front's luma on the astronaut; 0.65 with raster.TONGUE_BACK_SHADE 0.3 from halfway up, a bright
    # dome with a hard rim against the cavity)
    tongue = luma(mouth_column(renderer, np.array([t_low + 2.0, top - 2.0])))
    assert tongue[1] < 0.55 * tongue[0], tongue[1] / tongue[0]


def test_a_mouth_opened_wide_shows_more_of_the_tongue(renderer, monkeypatch):
    """Past speech's openings the tongue rises with the jaw (the camera sees more of its back over the lower teeth):
    a jaw opened 0.6 IOD (jawOpen 1 on the set: 0.48-0.60) shows tongue, not the dark cavity, 0.05 IOD above the
    height it has in a mouth open for speech; a mouth open 0.2 IOD is drawn as before. (At a fixed height, a mouth
    opened wide was a flat dark hole over a thin pink band.)"""
    iod = float(renderer._params[raster.P_IOD])
    above = np.array([(raster.LOWER_TEETH_IODS + raster.TONGUE_IODS + 0.05) * iod])
    wide = luma(mouth_column(renderer, above, h=0.6 * iod))[0]
    speech = mouth_column(renderer, np.linspace(0.5, 0.2 * iod - 0.5, 20), h=0.2 * iod)
    monkeypatch.setattr(raster, "TONGUE_JAW_SHARE", 0.0)
    raster._mouth_rgb.recompile()
    try:
        fixed = luma(mouth_column(renderer, above, h=0.6 * iod))[0]
        speech_before = mouth_column(renderer, np.linspace(0.5, 0.2 * iod - 0.5, 20), h=0.2 * iod)
    finally:
        monkeypatch.undo()
        raster._mouth_rgb.recompile()
    assert wide > 2.0 * fixed, (wide, fixed)
    assert np.abs(speech - speech_before).max() < 1e-3


def test_the_tongue_lies_in_the_middle_of_a_wide_mouth_with_the_dark_beside_it(renderer):
    """The tongue's dome spans the middle :data:`~.raster.TONGUE_WIDTH_SHARE` of the opening. Toward the corners of a
    wide-open mouth (a tenth of its width in), 0.2 IOD above the lower lip (over the lower teeth there: the jaw opens
    the corners less), the cavity shows, not the tongue: drawn corner to corner, the tongue was a flat pink band there
    (0.85 of the middle's luma, against 0.27 now)."""
    iod = float(renderer._params[raster.P_IOD])
    h = 0.6 * iod
    above = np.array([0.2 * iod])
    middle = luma(mouth_column(renderer, above, h=h))[0]
    tongue = renderer._params[raster.P_TONGUE_RGB:raster.P_TONGUE_RGB + 3].astype(np.float64)
    # the tongue, lit (0.52 of its colour's luma three quarters of the way up its dome, toward its shaded back)
    assert middle > 0.45 * luma(tongue)
    for u in (0.1, 0.9):
        side = luma(mouth_column(renderer, above, h=h, u=u))[0]
        assert side < 0.35 * middle, (u, side / middle)


def test_the_photos_upper_teeth_hang_from_the_upper_lip(renderer):
    r = renderer
    run = r._scene.teeth_run[0]
    # the astronaut shows her upper teeth, reaching most of the way down her rest opening (px)
    assert run[len(run) // 2 - 4:len(run) // 2 + 4].min() > 0.5 * r._h0[r.mesh.mouth.upper].max()
    assert r._teeth_rgb is not None and r._teeth_rgb.mean() > r._lips_rgb.mean() + 20
    s = sample(jawOpen=0.5)
    pose = r.pose(s)
    out = r.render(s)
    o = r.mesh.mouth
    k = len(o.upper) // 2
    top, bottom = pose.vertices[o.upper[k]], pose.vertices[o.lower[k]]
    below_lip = np.round(top + (bottom - top) * np.linspace(0.1, 0.25, 4)[:, None]).astype(int)  # px inside
    teeth = out[below_lip[:, 1], below_lip[:, 0]].astype(float)
    assert luma(teeth).min() > 0.85 * luma(r._teeth_rgb)
    # a closed mouth shows no teeth of its own: the rows are drawn in the photo's light instead
    closed = r._skin.copy()
    closed[opening_mask(closed.shape[:2], r._rest, o) > 0] = r._lips_rgb.astype(np.uint8)
    _, run, colour = raster.teeth_layer(closed, r._rest.astype(np.float64), r.mesh, r.rig.iod_px, r._lips_rgb)
    assert colour is None and not run.any()


def stretched_lid_mask(r: PortraitRenderer, pose, *, min_ratio: float = 3.0) -> np.ndarray:
    import cv2

    v, src, tris = pose.vertices.astype(np.float64), r._rest.astype(np.float64), r.mesh.triangles
    mask = np.zeros((512, 512), np.uint8)
    for t, tri in enumerate(tris):
        if r.mesh.kinds[t] != SKIN:
            continue
        d = np.stack([v[tri[1]] - v[tri[0]], v[tri[2]] - v[tri[0]]], 1)
        s = np.stack([src[tri[1]] - src[tri[0]], src[tri[2]] - src[tri[0]]], 1)
        if abs(np.linalg.det(s)) < 1e-6:
            continue
        sv = np.linalg.svd(d @ np.linalg.inv(s), compute_uv=False)
        if sv[0] > min_ratio * max(sv[1], raster.SQUEEZE_FLOOR):
            cv2.fillPoly(mask, [np.round((v[tri] - 0.5) * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0


def test_skin_stretched_one_way_is_blurred_across_the_stretch(renderer):
    rest = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], np.float32)
    unit = 1.0
    for dst, blur_along in ((rest * [1.0, 3.0], "x"), (rest * [3.0, 1.0], "y"), (rest * [1.0, 0.4], "y")):
        sx, sy = raster._stretch_blur(dst.astype(np.float32), rest, 0, 1, 2, unit, rest)
        assert (sx > 1.0 and sy < 1e-3) if blur_along == "x" else (sy > 0.4 and sx < 1e-3), (dst, sx, sy)
    # a squeeze counts up to SQUEEZE_FLOOR: squashed flat (a shut eye's corner), a triangle asks for no more blur
    # than at half its height, where it asked for 18.5 px (a pale wedge of blurred photo around the corner)
    floor = (1.0 / raster.SQUEEZE_FLOOR - raster.STRETCH_LO) * unit
    for squeeze in (0.5, 0.2, 0.03):
        sx, sy = raster._stretch_blur((rest * [1.0, squeeze]).astype(np.float32), rest, 0, 1, 2, unit, rest)
        assert sx < 1e-3 and sy == pytest.approx(floor, abs=1e-3), (squeeze, sx, sy)
    # squeezed across x more than across y (a pucker's lips): blurred along x as well, by PINCH_BLUR per unit past
    # PINCH_LO of how much more of the neutral face a frame pixel spans across x than across y (each at most
    # 1 / SQUEEZE_FLOOR: squashed flat, it asks for no more than at half width)
    pinch = raster.PINCH_BLUR * (1.0 / raster.SQUEEZE_FLOOR - raster.PINCH_LO) * unit
    assert pinch > unit
    stretched_and_squeezed = (rest * [0.5, 3.0]).astype(np.float32)
    sx, sy = raster._stretch_blur(stretched_and_squeezed, rest, 0, 1, 2, unit, rest)
    assert sx == pytest.approx((3.0 / 0.5 - raster.STRETCH_LO) * unit + pinch, abs=1e-3) and sy < 1e-3
    # (the squeeze, the pinch, the stretch blur across x that it asks for as well: k = 1, 0.5 / 0.5 and 1 / 0.5
    # past 1.5); squeezed as much both ways, no streaks: no pinch
    for squeeze, pinched, stretch in (([0.5, 0.5], 0.0, 0.0), ([0.03, 0.5], 0.0, 0.0), ([0.2, 1.0], pinch, 0.5)):
        sx, sy = raster._stretch_blur((rest * squeeze).astype(np.float32), rest, 0, 1, 2, unit, rest)
        assert sx == pytest.approx(pinched + stretch * unit, abs=1e-3) and sy < 1e-3, (squeeze, sx, sy)
    sx, sy = raster._stretch_blur((rest * [0.8, 1.0]).astype(np.float32), rest, 0, 1, 2, unit, rest)
    assert sx == pytest.approx(raster.PINCH_BLUR * (1.25 - raster.PINCH_LO) * unit, abs=1e-3) and sy == 0.0
    # the squeeze is measured from the neutral face, not the photo: lips a smile stretched, narrowed back to the
    # neutral face, are not squeezed; narrowed from there, they are
    smiled = (rest * [1.25, 1.0]).astype(np.float32)
    assert raster._stretch_blur(rest, smiled, 0, 1, 2, unit, rest) == (0.0, 0.0)
    assert raster._stretch_blur((rest * [0.8, 1.0]).astype(np.float32), smiled, 0, 1, 2, unit, rest)[0] > 0.0
    c, s = np.cos(0.4), np.sin(0.4)
    for dst in (rest * 2.0, rest @ np.array([[c, s], [-s, c]], np.float32), rest * [1.0, 1.4], rest * [1.0, 0.8],
                rest * [0.95, 1.0]):
        assert raster._stretch_blur(dst.astype(np.float32), rest, 0, 1, 2, unit, rest) == (0.0, 0.0)  # no streaks there
    # a blink stretches the lids' skin: its variation across x (vertical streaks) drops with the blur, by at least
    # a fifth (by 0.26 at the shipped gains with the lids meeting where they first touch; 0.30 when they met lower,
    # stretching the lid further; without the blur, by nothing)
    r = renderer
    s = sample(eyeBlinkLeft=1.0, eyeBlinkRight=1.0)
    pose = r.pose(s)
    mask = stretched_lid_mask(r, pose)
    assert mask.sum() > 200
    mp = frame_params(r, pose, s)
    mp[raster.P_CLOSED:raster.P_CLOSED + 2] = 0.0  # the photo's own lid skin, stretched (not the closed lid's)
    fill = np.stack([r._scene.fill_img] * len(raster.STRETCH_LEVELS))
    energy = []
    for scene in (r._scene, r._scene._replace(blur_x_img=fill, blur_y_img=fill)):  # the planted bug: no blur
        grey = luma(draw(r, scene, pose, mp))
        energy.append(float((np.diff(grey, axis=1)[:-1, :][mask[:-1, :-1]] ** 2).mean()))
    assert energy[0] < 0.8 * energy[1], energy


def test_lashes_where_the_lids_meet(renderer):
    import cv2

    r = renderer
    s = sample(eyeBlinkLeft=1.0, eyeBlinkRight=1.0)
    pose = r.pose(s)
    o = r.mesh.eye_right
    assert pose.opening_px[o.upper].max() < 1.5  # the fields shut this eye (at the shipped gain, 1.2)
    up = pose.vertices[o.upper[1:-1]]
    line = np.zeros((512, 512), np.uint8)
    cv2.polylines(line, [np.round((up - 0.5) * 16).astype(np.int32)], False, 1, thickness=1, shift=4)
    near = cv2.dilate(line, np.ones((3, 3), np.uint8)) > 0
    lid = np.zeros((512, 512), bool)
    for x, y in up.astype(int):
        lid[y - 6:y - 3, x - 1:x + 2] = True

    def darkness(params):
        grey = luma(draw(r, r._scene, pose, params))
        columns = [x for x in range(int(up[0, 0]) + 1, int(up[-1, 0])) if near[:, x].any()]
        return float(np.mean([grey[:, x][near[:, x]].min() for x in columns]) / np.median(grey[lid]))

    mp = frame_params(r, pose, s)
    assert mp[raster.P_LASH] > 0.5
    assert darkness(mp) < 0.62
    mp[raster.P_LASH:raster.P_LASH + 2] = 0.0  # the planted bug: no lashes
    assert darkness(mp) > 0.68


def test_the_shut_eyes_lashes_taper_to_the_corners_and_hang_over_the_lower_lid(renderer):
    """The lash line where the lids meet thins out toward the inner corner and ends softly at the outer one (drawn
    at one width to both corners, it looked drawn with a marker), and the lashes hang over the lower lid below
    the line. Measured as what the lashes darken: the frame with them less the frame without, along the chain as
    a share of the way between the eye's corners (``test_photos.py`` runs this on a turned and a dark photo)."""
    r = renderer
    s = sample(eyeBlinkLeft=1.0, eyeBlinkRight=1.0)
    pose = r.pose(s)
    mp = frame_params(r, pose, s)
    with_lashes = luma(draw(r, r._scene, pose, mp))
    mp[raster.P_LASH:raster.P_LASH + 2] = 0.0
    darkened = luma(draw(r, r._scene, pose, mp)) - with_lashes
    lash = raster.LASH_IODS * r.rig.iod_px
    for o, inner_first in ((r.mesh.eye_right, False), (r.mesh.eye_left, True)):
        chain = pose.vertices[o.upper]
        if inner_first:  # the left eye's chain runs from its inner corner, the right eye's from its outer
            chain = chain[::-1]
        # per point along the chain (outer corner first, as a share of the way between the corners): the most the
        # lashes darken in its column
        axis = chain[-1] - chain[0]
        share = (chain - chain[0]) @ axis / (axis @ axis)
        along = np.linspace(0.0, 1.0, 65)
        points = np.stack([np.interp(along, share, chain[:, k]) for k in range(2)], 1)

        def column(x, y, lo, hi):
            return darkened[int(y + lo):int(y + hi) + 1, int(x)]

        line = np.array([column(x, y, -lash, lash).max() for x, y in points])
        in_middle = (along > 0.25) & (along < 0.75)
        middle = line[in_middle]
        # a tenth of the way in from each corner: thinned toward the inner one, full toward the outer one
        near_inner, near_outer = line[(along > 0.85) & (along < 0.92)], line[(along > 0.08) & (along < 0.15)]
        assert middle.min() > 20.0, middle.min()  # lashes all along the middle
        assert near_inner.mean() < 0.8 * middle.mean(), (near_inner.mean(), middle.mean())
        assert near_outer.mean() > 1.3 * near_inner.mean(), (near_outer.mean(), near_inner.mean())
        assert line[-1] < 0.15 * middle.mean() and line[0] < 0.15 * middle.mean()  # soft at both corners
        # the fringe: darker half a lash width to a lash width below the line, in the middle
        fringe = np.array([column(x, y, 0.5 * lash, lash).mean() for x, y in points[in_middle]])
        assert fringe.mean() > 0.1 * middle.mean(), (fringe.mean(), middle.mean())  # 0.04 before the fringe


def test_one_lash_line_where_the_lid_layer_covers_an_open_eye(renderer):
    """Where the lids stop short and the lid layer covers the rest, the layer's lower edge is the lash line; the
    mesh's upper edge above it draws none (two dark lines with the pale layer between them drew a loop)."""
    import cv2

    r = renderer
    s = sample(eyeBlinkRight=0.4)  # the lids a good way apart
    pose = r.pose(s)
    o = r.mesh.eye_right
    middle = o.upper[2:-2]  # the columns away from the corners
    assert pose.opening_px[middle].min() > 2 * raster.LASH_IODS * r.rig.iod_px
    up = pose.vertices[middle]
    line = np.zeros((512, 512), np.uint8)
    cv2.polylines(line, [np.round((up - 0.5) * 16).astype(np.int32)], False, 1, thickness=1, shift=4)
    near = cv2.dilate(line, np.ones((3, 3), np.uint8)) > 0  # the mesh's upper lid edge
    mp = frame_params(r, pose, s)
    mp[raster.P_LID] = 1.0  # the lid layer covers all of the opening, as when the guard holds a blink back
    mp[raster.P_LASH] = 1.0
    covered = luma(draw(r, r._scene, pose, mp))
    mp[raster.P_LASH] = 0.0
    no_lashes = luma(draw(r, r._scene, pose, mp))
    assert np.abs(covered - no_lashes)[near].max() < 2.0  # no line at the mesh's edge
    mp[raster.P_LID] = 0.0  # uncovered, the mesh's edge is the lid's edge and draws the lashes
    mp[raster.P_LASH] = 1.0
    assert (luma(draw(r, r._scene, pose, mp)) - no_lashes)[near].min() < -40.0


def test_closing_eyes_show_one_lid_edge_at_a_blink_gain_under_one():
    """A blink field with a gain under 1 (the fit chooses 0.7 for many photos' blinks) closes the eyes part of the
    way and the lid layer the rest. The photo's lash band hangs from the layer's edge, so while the layer was thin
    its own lash line above the band drew a dark loop around each half-closed eye (``portrait_helpers.lid_loop_rows``:
    on the astronaut at blinks of 0.2-0.5, 57-100 dark rows with the loop, 21-30 with the layer fading in and its
    line shown only as the band runs out of room; other photos in test_photos)."""
    from facecast.engine.render.portrait.gains import DEFAULT_GAINS
    from portrait_helpers import lid_loop_rows

    gains = DEFAULT_GAINS.copy()
    gains[arkit_index("eyeBlinkLeft")] = gains[arkit_index("eyeBlinkRight")] = 0.7
    r = PortraitRenderer(pixel_format=PixelFormat.RGB8, gains=gains)
    r.prepare()
    covers = [r.pose(sample(eyeBlinkLeft=w, eyeBlinkRight=w)).lid_cover.max() for w in (0.2, 0.3, 0.4, 0.5)]
    assert max(covers) > 0.1, covers  # the layer is drawn at these weights
    added = lid_loop_rows(r)
    assert np.mean(added) < 50.0, added
    assert r.pose(sample(eyeBlinkLeft=1.0, eyeBlinkRight=1.0)).lid_cover.min() > 0.5  # and finishes the blink


def test_a_wide_eyes_lash_band_thins_as_the_lid_retracts():
    """The photo's lash band hangs from the upper lid's edge; drawn at its full height over a wide eye it ringed the
    eye with a thick dark outline. It thins by :data:`~.raster.WIDE_BAND_THIN` as the lids open wide. Measured in the
    middle column with the band white and the eyeball black (1024x1024, the astronaut): 6 px at rest (band 7.2),
    4 at eyeWide 1 (7 drawn at full height)."""
    r = PortraitRenderer(pixel_format=PixelFormat.RGB8, width=1024, height=1024)
    r.prepare()
    white = np.full_like(r._scene.skin_img, 255)
    scene = r._scene._replace(skin_img=white, fill_img=white, blur_x_img=np.stack([white] * len(raster.STRETCH_LEVELS)),
                              blur_y_img=np.stack([white] * len(raster.STRETCH_LEVELS)), eye_img=np.zeros_like(white),
                              eye_wide_img=np.zeros_like(white), grain_img=np.zeros_like(r._scene.grain_img),
                              lid_img=white)
    o = r.mesh.eye_right
    middle = o.upper[len(o.upper) // 2]
    band = float(r._band[middle])

    def band_drawn(weight: float) -> int:
        s = sample(eyeWideRight=weight)
        pose = r.pose(s)
        out = np.zeros((1024, 1024, 3), np.uint8)
        raster.draw(out, scene, dst=pose.vertices, opening_px=pose.opening_px, eye_affine=r._eye_affine(pose),
                    neutral=r.deformer.neutral_vertices, params=frame_params(r, pose, s))
        x, y = pose.vertices[middle]
        column = out[:, int(x), 0]
        top = int(np.ceil(y))
        run = 0
        while column[top + run] > 128:
            run += 1
        return run

    assert band_drawn(0.0) >= 0.75 * band
    assert 0.4 * band <= band_drawn(1.0) <= 0.7 * band


def test_the_lid_layer_continues_the_skin_above_it(renderer):
    """Where the lid layer covers an open eye, its skin is what the skin just above the lash line shows: the photo
    smoothed where the frame shows none of the closed lid's skin there, the closed lid's where it shows all of it.
    (All closed lid's skin, the layer under a shadowed lid showed as a pale almond on obama2's photos.)"""
    import cv2

    r = renderer
    o = r.mesh.eye_right
    s = sample()  # the eye open
    pose = r.pose(s)
    mp = frame_params(r, pose, s)
    mp[raster.P_LID] = 1.0  # the layer covers the whole opening
    mp[raster.P_LASH:raster.P_LASH + 2] = 0.0
    i, j = o.upper[4], o.lower[4]  # the middle column
    x, y = pose.vertices[i]
    assert pose.vertices[j, 1] - y > 0.1 * r.rig.iod_px  # 8 px of layer over its lash line, at least
    top, bottom = r._scene.attr_top[i].astype(np.float64), r._scene.attr_bottom[i].astype(np.float64)
    up = top - bottom
    at = top + raster.LID_SKIN_IODS * r.rig.iod_px * up / np.linalg.norm(up) - 0.5

    def colour_at(img):
        return cv2.getRectSubPix(img.astype(np.float32), (1, 1), tuple(at))[0, 0]  # bilinear, centres at integers

    px = (int(x), int(np.ceil(y + 1.0)))
    smooth = r._scene.blur_x_img[len(raster.STRETCH_LEVELS) - 1]
    for share, expected in ((0.0, smooth), (1.0, r._scene.lid_img)):
        # without the grain (it has its own test)
        scene = r._scene._replace(unfold_img=np.full_like(r._scene.unfold_img, share),
                                  grain_img=np.zeros_like(r._scene.grain_img))
        params = mp.copy()
        params[raster.P_CLOSED:raster.P_CLOSED + 2] = 1.0
        got = draw(r, scene, pose, params)[px[1], px[0]].astype(np.float64)
        assert np.abs(got - colour_at(expected)).max() < 3.0, (share, got, colour_at(expected))
    assert np.abs(colour_at(smooth) - colour_at(r._scene.lid_img)).max() > 10.0  # the two differ here


def test_the_closed_lids_skin_fades_in_without_an_edge(renderer):
    """The share of the closed lid's skin each pixel shows (:func:`.eyes.unfold_image`) is smooth: linear over each
    triangle, it fell from 1 to 0 within a triangle at the eye's corners, and the faded-in lid showed that as an
    edge. Its steepest rise is now 41 per IOD on the astronaut (61 unblurred)."""
    iod = renderer.rig.iod_px
    for e in range(2):
        share = renderer._scene.unfold_img[..., e].astype(np.float64)
        assert share.max() > 0.99  # the lid margin's middle shows all of it
        gy, gx = np.gradient(share)
        assert np.hypot(gx, gy).max() * iod < 50.0


def test_the_lid_and_brow_images_made_around_the_eyes_are_those_of_the_whole_photo(renderer):
    """The closed lid's and the lifted brow's images are made over the eyes and brows (:func:`.eyes.eye_box`; over
    the whole photo, obama.jpg's 2048x2048 prepare() took 11.1 s, 5.2 s now). Inside the box they are what the whole
    photo gives (the crop keeps the blurs' reach), and nothing the whole photo's unfold image shows lies outside it
    (on the photo set it reaches 0.13 IOD past the eyes and brows; the box's margin is 0.35). A box without the
    blurs' reach around it changed the lid's colour by up to 30 grey levels at its edge; a margin of 0.05 IOD lost
    some of the unfold image."""
    from facecast.engine.render.portrait import eyes

    r = renderer
    filled, rest, iod = r._scene.fill_img, r._rest.astype(np.float64), r.rig.iod_px
    openings = (r.mesh.eye_right, r.mesh.eye_left)
    box = eyes.eye_box(rest, openings, iod, filled.shape[:2])
    assert box == r._eye_box and (box[2] - box[0]) * (box[3] - box[1]) < 0.4 * filled.shape[0] * filled.shape[1]
    inside = np.s_[box[1]:box[3], box[0]:box[2]]
    whole, cut = eyes.closed_lid_image(filled, rest, openings, iod), eyes.closed_lid_image(filled, rest, openings,
                                                                                         iod, box=box)
    assert np.array_equal(whole[inside], cut[inside])
    shadow = eyes.lid_shadow(filled, whole, iod)
    assert np.allclose(shadow[inside], eyes.lid_shadow(filled, whole, iod, box=box)[inside], atol=1e-12)
    brow = eyes.brow_skin_image(filled, rest, openings, iod)
    assert np.allclose(brow[inside], eyes.brow_skin_image(filled, rest, openings, iod, box=box)[inside], atol=1e-6)
    blinks = (arkit_index("eyeBlinkRight"), arkit_index("eyeBlinkLeft"))  # as the openings: (right, left)
    shares = np.stack([eyes.lid_unfold(r._blink_fields[k], o) for k, o in zip(blinks, openings)])
    args = (filled.shape[:2], rest, r.mesh.triangles, shares, openings, iod)
    margins = tuple(eyes.lid_margin_px(r._blink_fields[k], o) for k, o in zip(blinks, openings))
    image, per_triangle = eyes.unfold_image(*args, brow=brow, margins_px=margins, shadow=shadow)
    boxed, boxed_per_triangle = eyes.unfold_image(*args, brow=brow, margins_px=margins, shadow=shadow, box=box)
    assert image.max() > 0.99 and np.allclose(image, boxed, atol=1e-6)  # the same, outside the box too (0)
    assert np.allclose(per_triangle, boxed_per_triangle, atol=1e-6)
    assert np.allclose(boxed, r._scene.unfold_img, atol=1e-4)  # the renderer's (from its float64 vertices)


def test_a_slit_between_nearly_shut_lids_is_dark(renderer):
    """What shows between nearly shut lids (the lash band, the eyeball) lies in the lashes' shadow: a slit under
    :data:`~.raster.SLIT_IODS` is up to :data:`~.raster.SLIT_DARK` darker than it is wide open (it showed as a pale
    line between two dark ones)."""
    import cv2

    r = renderer
    o = r.mesh.eye_right
    for weight in np.linspace(0.6, 1.0, 17):  # the first weight that leaves a slit of about 2 px
        pose = r.pose(sample(eyeBlinkRight=float(weight)))
        if pose.opening_px[o.upper].max() < 3.0:
            break
    assert 1.0 < pose.opening_px[o.upper].max() < 3.0
    poly = np.concatenate([pose.vertices[o.upper], pose.vertices[o.lower][::-1]]) - 0.5
    inside = np.zeros((512, 512), np.uint8)
    cv2.fillPoly(inside, [np.round(poly * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    inside = cv2.erode(inside, np.ones((3, 1), np.uint8)) > 0  # off the lids' edges
    assert inside.sum() > 20
    s = sample(eyeBlinkRight=float(weight))
    grey = luma(draw(r, r._scene, pose, frame_params(r, pose, s)))
    above = luma(r._skin)[int(pose.vertices[o.upper, 1].min()) - 12, int(pose.vertices[o.upper, 0].mean())]
    assert grey[inside].mean() < 0.5 * above, (grey[inside].mean(), above)


def test_the_synthesised_eyeballs_edges_are_soft():
    from facecast.engine.render.portrait.mesh import Opening

    size, iod = 60, 100.0
    rest = np.zeros((478, 2))
    centre = np.array([30.3, 30.6])
    rest[468] = centre
    rest[469:473] = centre + 9.7 * np.array([[1, 0], [0, 1], [-1, 0], [0, -1]])
    o = Opening(upper=np.array([0, 1, 2]), lower=np.array([0, 3, 2]))
    rest[0], rest[2] = centre - [25, 0], centre + [25, 0]
    box = np.full((size, size, 3), 200.0)
    ball = _synthesised_eyeball(box, np.ones((size, size), bool), rest, o, "right", (0, 0), iod,
                                shown=np.zeros((size, size), bool))
    row = ball[int(centre[1]), :, 0]
    # the pupil's edge ramps over about a pixel: where the row crosses halfway between pupil and iris,
    # one of the two pixels lies on the ramp, not on either side's level (a binary pupil has no such pixel)
    pupil, iris = row.min(), row[int(centre[0]) + 5]
    half = 0.5 * (pupil + iris)
    crossings = np.nonzero((row[:-1] - half) * (row[1:] - half) < 0)[0]
    crossings = [i for i in crossings if abs(i + 0.5 - centre[0]) < 6]
    assert len(crossings) == 2, row
    for i in crossings:
        on_ramp = [pupil + 0.1 * (iris - pupil) < row[j] < iris - 0.1 * (iris - pupil) for j in (i, i + 1)]
        assert any(on_ramp), row[i - 2:i + 3]


def test_the_photos_eye_fades_into_the_eyeball_alike_at_any_size():
    """The photo's eye fades into the synthesised eyeball over the same share of the face at 512 as at 2048:
    issue 17's aliasing measure compares the two sizes. A margin of one pixel at either size drew the fade 0.75 px
    (of 512) apart, where a neutral face opens a squinting eye: Obama's eyes read 3.37 / p99 26.1 grey levels
    between the sizes at jawOpen 0.5, 2.65 / 15.1 with the margin in inter-ocular distances."""
    def keep(f: int) -> np.ndarray:  # black photo, white eyeball, photo seen inside a disk; at f times the size
        size = 40 * f
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        seen = np.hypot(xx - 20.3 * f, yy - 19.6 * f) < 8.2 * f
        box, synth = np.zeros((size, size, 3)), np.full((size, size, 3), 255.0)
        return _keep_photo(box, synth, seen, 100.0 * f)[..., 0].astype(np.float64)

    small = keep(1)
    reference = keep(4).reshape(40, 4, 40, 4).mean(axis=(1, 3))
    # the disk's edge rasterised at each size leaves 3.4 grey levels on average; a one-pixel margin, 6.7
    assert np.abs(small - reference).mean() < 4.5, np.abs(small - reference).mean()


def test_the_eyeballs_colours_are_the_same_at_any_size():
    """The sclera is the median of a photo's brightest pixels, and a sharper copy's brightest are brighter: picked
    from the photo as it is, a 2048 frame's synthesised sclera was lighter than a 512 frame's (Obama's eyeWide read
    4.0 grey levels apart between the sizes, 2.1 with the colours picked from the photo blurred in inter-ocular
    distances). Here: fine grain, and the same grain box-filtered to a quarter of the size."""
    rng = np.random.default_rng(3)
    big = np.clip(rng.normal(200.0, 25.0, (160, 160, 3)), 0, 255)
    small = big.reshape(40, 4, 40, 4, 3).mean(axis=(1, 3))
    picked = [_median_colour(_at_colour_scale(im, iod).reshape(-1, 3), DEFAULT_SCLERA, brightest=SCLERA_BRIGHTEST)
              for im, iod in ((small, 100.0), (big, 400.0))]
    assert np.abs(picked[0] - picked[1]).max() < 1.0, picked  # 20 grey levels apart picked from the grain itself


@pytest.mark.parametrize("iod_px", [100.0, 50.0])  # a 512x512 crop's inter-ocular distance, and a 256x256 one's
def test_openings_are_filled_alike_at_any_size(iod_px):
    """The filled photo (the openings painted over from the skin around them) is the same at 512 (or 256) as at 4x
    that, box-filtered: stripes of skin around a disk, filled at 1x and at 4x."""
    from facecast.engine.render.portrait.raster import inpaint

    def filled(f: int) -> np.ndarray:
        size = 48 * f
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        stripes = 150.0 + 60.0 * np.sin(xx / (3.0 * f)) * np.cos(yy / (5.0 * f))
        image = np.repeat(np.clip(stripes, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        hole = np.hypot(xx - 24.0 * f, yy - 24.0 * f) < 7.0 * f
        image[hole] = 0
        return inpaint(image, hole, iod_px * f)[..., 0].astype(np.float64), hole

    small, hole = filled(1)
    big = filled(4)[0].reshape(48, 4, 48, 4).mean(axis=(1, 3))
    # in the hole, at IOD 100 / 50: 3.6 / 4.2 grey levels apart on average; with 0.03 IOD but at least 3 px,
    # 3.6 / 4.9; with 3 px at any size, 5.6 at IOD 100
    assert np.abs(small - big)[hole].mean() < 4.6, np.abs(small - big)[hole].mean()


def test_every_layer_draws_the_same_bytes_each_time(renderer):
    s = sample(jawOpen=0.7, tongueOut=0.4, eyeBlinkLeft=1.0, mouthFunnel=0.5, eyeWideRight=0.8)
    s = dataclasses.replace(s, head_rad=np.array([0.2, -0.1, 0.05], np.float32))
    a, b = renderer.render(s), renderer.render(s)
    assert np.array_equal(a, b)


def test_every_output_size_draws_the_same_grain(renderer):
    """The skin's grain is made at the fit's width (512) for every output size: a 2048 frame's grain, box-filtered
    back to 512, is the 512 grain (the aliasing measure compares just those two). Scaled up with a cubic alone it
    came out smoothed, 1 grey level off on a shut lid."""
    import cv2

    from facecast.engine.render.portrait.eyes import skin_grain

    r = renderer
    eyes = (r.mesh.eye_right, r.mesh.eye_left)
    big = cv2.resize(r.rig.image, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    grain = skin_grain(big, r.rest_vertices * 4.0, eyes, r.rig.iod_px * 4.0, width_px=512)[..., 0]
    at_512 = skin_grain(cv2.resize(big, (512, 512), interpolation=cv2.INTER_AREA), r.rest_vertices, eyes,
                        r.rig.iod_px, width_px=512)[..., 0]
    assert grain.shape == (2048, 2048) and at_512.std() > 0.005
    assert np.abs(grain.reshape(512, 4, 512, 4).mean((1, 3)) - at_512).max() < 1e-4


def test_a_grins_squint_wrinkles_do_not_set_the_shut_lids_grain(renderer):
    """The grain (``eyes.skin_grain``) is the skin's under the eyes; the shut lid and the skin between lids and brows
    get ``eyes.lid_grain_share`` of it: its strength there is the geometric mean of the skin's under the eyes and
    the median of five squares (under each eye, each cheek, the forehead). At full strength, obama.jpg's grin set it
    with its squint wrinkles (0.08 of the skin's brightness, the astronaut's 0.014): shut lids drawn as wood grain.
    Here skin of even grain (grey noise on the astronaut's mesh) gets deep wrinkles under both eyes (horizontal
    stripes, +-40 grey levels, 3 px apart): the grain rises 11x, the lid's 3.4x (under 4.5x; with the squares' mean
    for their median, 8.7x). On even skin the lid gets all of it (a share of 1)."""
    from facecast.engine.render.portrait.eyes import lid_grain_share, skin_grain

    r = renderer
    eyes = (r.mesh.eye_right, r.mesh.eye_left)
    rest, iod = r.rest_vertices.astype(np.float64), r.rig.iod_px
    rng = np.random.default_rng(0)
    skin = 150.0 + rng.normal(0.0, 4.0, r.rig.image.shape[:2])[..., None] * np.ones(3)
    image = np.clip(skin, 0, 255).astype(np.uint8)
    wrinkled = skin.copy()
    for o in eyes:
        low = rest[o.lower[1:-1]]
        x, y = low[:, 0].mean(), low[:, 1].max()
        rows = slice(int(y + 0.03 * iod), int(y + 0.28 * iod))
        cols = slice(int(x - 0.12 * iod), int(x + 0.12 * iod))
        stripes = 40.0 * np.sign(np.sin(2 * np.pi * np.arange(rows.stop - rows.start) / 3.0))
        wrinkled[rows, cols] += stripes[:, None, None]
    wrinkled = np.clip(wrinkled, 0, 255).astype(np.uint8)
    width = image.shape[1]

    def lid(img):
        return skin_grain(img, rest, eyes, iod, width_px=width).std() * lid_grain_share(img, rest, eyes, iod,
                                                                                       width_px=width)

    assert lid_grain_share(image, rest, eyes, iod, width_px=width) > 0.9
    assert lid(image) > 0.005 and lid(wrinkled) < 4.5 * lid(image), (lid(image), lid(wrinkled))
    assert skin_grain(wrinkled, rest, eyes, iod, width_px=width).std() > 8 * lid(image)  # the skin's own, as before


def test_grain_amplitude_is_the_photos_own_fine_detail_as_a_share_of_the_grain():
    """``eyes.grain_amplitude``: 0 on smooth skin, the photo's own relative fine detail over the grain's where it
    has some, and never more than all of the grain."""
    from facecast.engine.render.portrait.eyes import grain_amplitude

    rng = np.random.default_rng(0)
    image = np.full((128, 128, 3), 128.0)
    image[:, 64:] += rng.normal(0.0, 6.0, (128, 64, 1))  # grainy right half, the same in every channel
    image = np.clip(image, 0, 255).astype(np.uint8)
    grain = (rng.normal(0.0, 1.0, (128, 128, 1)) * 0.08).astype(np.float32)
    amp = grain_amplitude(image, 100.0, grain, width_px=128)
    assert amp.shape == (128, 128) and amp.dtype == np.float32
    assert amp[:, :40].max() < 0.05  # smooth skin gets none back
    assert 0.2 < np.median(amp[:, 90:]) < 0.8  # the photo's own: its detail is weaker than the grain
    assert grain_amplitude(image, 100.0, grain * 0.05, width_px=128)[:, 90:].min() == 1.0  # at most all of it
    assert not grain_amplitude(image, 100.0, np.zeros_like(grain), width_px=128).any()


def test_the_lid_arc_is_a_dome_through_the_corners_as_high_as_the_lid():
    """``deform.lid_arc``: a tent's points (straight sides to a peak) go to a smooth dome through the same corners,
    whose highest point is the tent's; its sides are above the tent's (the lid is raised to it, never lowered)."""
    from facecast.engine.render.portrait.deform import lid_arc

    t = np.linspace(0.0, 1.0, 9)
    tent = -10.0 * (1.0 - np.abs(2.0 * t - 1.0)) + 2.0 * t  # depth below the corners' line; corners 0 and 2
    arc = lid_arc(t, tent)
    line = 2.0 * t
    assert arc[0] == pytest.approx(0.0) and arc[-1] == pytest.approx(2.0)
    assert (arc - line).min() == pytest.approx((tent - line).min(), abs=1e-9)
    assert (arc[1:-1] <= tent[1:-1] + 0.5).all() and (arc[[2, 6]] < tent[[2, 6]] - 1.0).all()

    def sharpest_turn(d: np.ndarray) -> float:  # between the points next to the corners, the eye 40 px wide
        return float(np.abs(np.diff(np.arctan2(np.diff(d[1:-1]), np.diff(t[1:-1]) * 40.0))).max())

    assert sharpest_turn(arc) < 0.5 * sharpest_turn(tent)


def test_the_tooth_row_carries_on_from_the_photos_teeth_along_the_arch():
    """raster.teeth_row_scale on a made-up reach (16 columns, 1 px per IOD so PAST_PHOTO_TIPS adds 0.012 px): the
    photo's teeth 10 px long in the middle six columns, tapering over two columns a side, none beyond."""
    bins = 16
    reach = np.zeros(bins, np.float32)
    reach[5:11] = 10.0
    reach[3:5] = (4.0, 7.0)
    reach[11:13] = (7.0, 4.0)
    scale = raster.teeth_row_scale(reach, 1.0)
    x = 2.0 * (np.arange(bins) + 0.5) / bins - 1.0
    arch = np.sqrt(1.0 - x * x)
    row = scale * arch
    past = raster.PAST_PHOTO_TIPS_IODS
    # where the photo's teeth reach their full length the row is as long as they are, a little past their tips
    np.testing.assert_allclose(row[5:11], 10.0 + past, rtol=1e-5)
    # beside them it goes on from their end, falling off as the arch does: never shorter than the photo's tapering
    # teeth (the step), never longer than their full length, and shorter toward each corner
    assert (row >= reach + past - 1e-4).all()
    assert row.max() <= 10.0 + past + 1e-4
    np.testing.assert_allclose(row[:5], (10.0 + past) / arch[5] * arch[:5], rtol=1e-5)
    assert (np.diff(row[:6]) > 0).all() and (np.diff(row[10:]) < 0).all()
    np.testing.assert_allclose(row, row[::-1], rtol=1e-5)  # the same both ways from the middle
    # lopsided teeth (a turned head): each side carries on from the teeth on its own side or nearer the middle
    lopsided = reach.copy()
    lopsided[:5] = 0.0
    lopsided[11:13] = (9.9, 9.8)
    both = raster.teeth_row_scale(lopsided, 1.0) * arch
    np.testing.assert_allclose(both, both[::-1], rtol=1e-5)
    assert both[3] >= (9.8 + past) * arch[3] / arch[12] - 1e-4
    # no teeth in the photo: no row beside them (the drawn row's own length then holds, raster._upper_teeth)
    assert not raster.teeth_row_scale(np.zeros(bins, np.float32), 1.0).any()
