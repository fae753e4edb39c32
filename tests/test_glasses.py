"""A glasses frame stays on the head while the brows and lids move under it (``engine/render/portrait/glasses.py``).

Checked on Grace Hopper's photo (the one real photo with glasses that installs from a registry), on rectangular
frames drawn here onto other people's photos (the finder was worked out on her browline frame and on round frames
drawn on other photos), and on the set's photos without glasses, where it must find none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import photo_set
from facecast.engine.face.landmarks import eye_centres
from facecast.engine.render.portrait import PortraitRenderer
from facecast.engine.render.portrait import renderer as renderer_module
from facecast.engine.render.portrait.glasses import find_glasses
from facecast.engine.render.portrait.mesh import build_mesh
from facecast.engine.render.portrait.photo import check_photo, read_photo
from facecast.engine.render.portrait.rig import crop_portrait
from facecast.engine.types import NUM_ARKIT, FaceSample, PixelFormat, arkit_index

SIZE = 256
#: Expressions that move the skin under a frame: the brows both ways, the lids shut and wide.
MOVING = (("browOuterUpLeft", "browOuterUpRight"), ("browInnerUp",), ("browDownLeft", "browDownRight"),
          ("eyeBlinkLeft", "eyeBlinkRight"), ("eyeWideLeft", "eyeWideRight"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    accepted, _ = photo_set.build(tmp_path_factory.mktemp("photos"))
    return accepted


def _weights(*names: str) -> FaceSample:
    w = np.zeros(NUM_ARKIT, np.float32)
    for n in names:
        w[arkit_index(n)] = 1.0
    return FaceSample(capture_wall_ns=0, weights=w)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _rectangular_frame(rgb: np.ndarray, landmarks: np.ndarray, *, colour: tuple[int, int, int] = (60, 42, 30)
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(photo with a rectangular frame drawn on, dark brown unless ``colour``, (H, W) uint8 mask of the frame),
    drawn anti-aliased around the eyes from MediaPipe's ``landmarks`` (N, 2+) photo pixels: two lenses 0.8 x 0.45
    IOD with rounded corners, a bridge and two arms, 0.035 IOD thick."""
    import cv2

    right, left = eye_centres(landmarks[:, :2])
    iod = float(np.linalg.norm(left - right))
    along = (left - right) / iod
    down = np.array([-along[1], along[0]])
    thick = max(2, int(round(0.035 * iod)))
    out, mask = rgb.copy(), np.zeros(rgb.shape[:2], np.uint8)

    def to_px(p):
        return np.round(np.asarray(p) * 16).astype(np.int32)  # cv2's shift=4: sixteenths of a pixel

    half, round_ = np.array([0.4, 0.225]) * iod, 0.08 * iod
    for eye in (right, left):
        middle = eye + 0.04 * iod * down
        pts = []
        for quarter, (sx, sy) in enumerate(((1, 1), (-1, 1), (-1, -1), (1, -1))):  # rounded corners, in order
            c = middle + sx * (half[0] - round_) * along + sy * (half[1] - round_) * down
            for t in np.linspace(0, np.pi / 2, 6) + quarter * np.pi / 2:
                pts.append(c + round_ * (np.cos(t) * along + np.sin(t) * down))
        poly = [to_px(pts)]
        for canvas, ink in ((out, colour), (mask, 255)):
            cv2.polylines(canvas, poly, True, ink, thick, cv2.LINE_AA, shift=4)
    top = (right + left) / 2 - 0.1 * iod * down
    for canvas, ink in ((out, colour), (mask, 255)):
        cv2.line(canvas, tuple(to_px(top - 0.12 * iod * along)), tuple(to_px(top + 0.12 * iod * along)), ink,
                 thick, cv2.LINE_AA, shift=4)
        for eye, side in ((right, -1), (left, 1)):
            start = eye + side * 0.4 * iod * along - 0.1 * iod * down
            cv2.line(canvas, tuple(to_px(start)), tuple(to_px(start + side * 0.3 * iod * along)), ink, thick,
                     cv2.LINE_AA, shift=4)
    return out, mask


def _round_frame(rgb: np.ndarray, landmarks: np.ndarray, *, colour: tuple[int, int, int]) -> np.ndarray:
    """The photo with a round frame drawn on: elliptical lenses 0.84 x 0.56 IOD, 0.04 IOD thick, a bridge and arms."""
    import cv2

    right, left = eye_centres(landmarks[:, :2])
    iod = float(np.linalg.norm(left - right))
    along = (left - right) / iod
    down = np.array([-along[1], along[0]])
    angle = float(np.degrees(np.arctan2(along[1], along[0])))
    thick = max(2, int(round(0.04 * iod)))
    out = rgb.copy()

    def to_px(p):
        return tuple(int(v) for v in np.round(np.asarray(p) * 16))

    for eye in (right, left):
        cv2.ellipse(out, to_px(eye + 0.05 * iod * down), (int(0.42 * iod * 16), int(0.28 * iod * 16)), angle, 0, 360,
                    colour, thick, cv2.LINE_AA, shift=4)
    top = (right + left) / 2 - 0.1 * iod * down
    cv2.line(out, to_px(top - 0.08 * iod * along), to_px(top + 0.08 * iod * along), colour, thick, cv2.LINE_AA, shift=4)
    for eye, side in ((right, -1), (left, 1)):
        start = eye + side * 0.42 * iod * along
        cv2.line(out, to_px(start), to_px(start + side * 0.35 * iod * along), colour, thick, cv2.LINE_AA, shift=4)
    return out


@pytest.fixture(scope="module")
def framed(photos, tmp_path_factory) -> dict[str, tuple[Path, np.ndarray]]:
    """Per photo: the photo with a rectangular frame drawn on, and the frame's mask in a SIZE crop of it."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("framed")
    out = {}
    for name in ("biden.jpg", "obama3.jpg"):
        rgb = read_photo(photos / name)
        check = check_photo(rgb, name=name, use_cache=False)
        drawn, mask = _rectangular_frame(rgb, check.landmarks)
        path = folder / f"{Path(name).stem}_framed.png"
        Image.fromarray(drawn).save(path)
        framed_check = check_photo(drawn, name=path.name, use_cache=False)
        crop = crop_portrait(np.repeat(mask[..., None], 3, 2), framed_check.landmarks, name="mask", width=SIZE,
                             height=SIZE)
        out[name] = (path, crop.image[..., 0] > 128)
    return out


def _glasses_in(photo: Path, size: int):
    rgb = read_photo(photo)
    check = check_photo(rgb, name=photo.name, use_cache=False)
    rig = crop_portrait(rgb, check.landmarks, name=photo.stem, width=size, height=size)
    mesh, _ = build_mesh(rig.landmarks[:, :2], size_wh=(size, size))
    return find_glasses(rig.image, rig.landmarks, rig.iod_px, mesh=mesh)


def test_glasses_are_found_on_grace_hopper_and_on_no_photo_without_them(photos):
    """The set's 17 other photos (four people; a grin, a turned head, a dark, a grey, a small copy...) show no
    glasses; Grace Hopper's browline frame is found at any output size."""
    for photo in sorted(photos.iterdir()):
        found = _glasses_in(photo, SIZE)
        assert (found is not None) == (photo.name == "grace_hopper.jpg"), photo.name
    for size in (512, 1024):
        assert _glasses_in(photos / "grace_hopper.jpg", size) is not None, size


def test_a_light_frame_on_dark_skin_puts_no_lids_or_brows_on_a_layer(photos, tmp_path):
    """A light frame's bridge on dark skin leaves a faint dark band beside it, and the lids' creases and the brows
    are the dark rings nearest the eyes: taken for a frame, they would stand still on a layer. The bridge must be
    darker than the skin by grey levels too, not only by a share of a dark skin's luma."""
    from PIL import Image

    rgb = read_photo(photos / "obama_dark.jpg")
    drawn = _round_frame(rgb, check_photo(rgb, name="obama_dark", use_cache=False).landmarks, colour=(200, 170, 140))
    path = tmp_path / "obama_dark_light_frame.png"
    Image.fromarray(drawn).save(path)
    for size in (SIZE, 1024):
        assert _glasses_in(path, size) is None, size


@pytest.mark.parametrize("name", ["biden.jpg", "obama3.jpg"])
def test_a_drawn_frame_stays_still_while_the_brows_and_lids_move(framed, monkeypatch, name):
    path, frame_mask = framed[name]
    r = PortraitRenderer(portrait=path, width=SIZE, height=SIZE, pixel_format=PixelFormat.RGB8)
    r.prepare()
    assert r.glasses is not None
    layer = r.glasses.mask((SIZE, SIZE))
    rims = frame_mask & (np.abs(np.arange(SIZE)[None, :] - SIZE / 2) < 0.9 * r.rig.iod_px)  # lenses and bridge
    assert (layer[rims] > 0.5).mean() > 0.7  # the layer holds most of the frame
    import cv2

    edge = cv2.dilate(frame_mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # with its anti-aliased edge
    besides = (layer > 0.5) & ~edge
    assert besides.sum() < 0.25 * rims.sum(), (besides.sum(), rims.sum())  # and little besides (a brow's edge)
    rest = _luma(r.render(_weights()))
    moved = [np.abs(_luma(r.render(_weights(*names))) - rest)[rims].mean() for names in MOVING]
    assert max(moved) < 4.0, moved  # grey levels: the frame where it was
    # without the layer the same frame bends with the skin (the measure sees a frame that moves)
    monkeypatch.setattr(renderer_module, "find_glasses", lambda *a, **k: None)
    bare = PortraitRenderer(portrait=path, width=SIZE, height=SIZE, pixel_format=PixelFormat.RGB8)
    bare.prepare()
    rest = _luma(bare.render(_weights()))
    bent = [np.abs(_luma(bare.render(_weights(*names))) - rest)[rims].mean() for names in MOVING]
    assert max(bent) > 3 * max(max(moved), 1.0), (bent, moved)


def test_grace_hoppers_frame_moves_with_her_head_and_is_painted_out_of_her_skin(photos):
    r = PortraitRenderer(portrait=photos / "grace_hopper.jpg", width=SIZE, height=SIZE,
                         pixel_format=PixelFormat.RGB8)
    r.prepare()
    layer = r.glasses.mask((SIZE, SIZE))
    core = layer > 0.9
    photo = _luma(r.rig.image)
    assert photo[core].mean() < 80  # her black browline rim
    # under the layer the skin the fields move is skin: the rim painted out (its shine was in the layer too)
    assert np.median(_luma(r._skin)[core]) > 2.0 * np.median(photo[core])
    rest = _luma(r.render(_weights()))
    for names in MOVING:
        assert np.abs(_luma(r.render(_weights(*names))) - rest)[core].mean() < 4.0, names
    # a turned head carries the frame with it: where the head's motion takes the rim's pixels, the turned frame is
    # as dark as the rim
    yaw = FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32),
                     head_rad=np.array([0.25, 0.0, 0.0], np.float32))
    affine = r._head_affine(yaw.head_rad)
    ys, xs = np.nonzero(core)
    centres = np.stack([xs, ys], 1) + 0.5
    moved = centres @ affine[:, :2].T + affine[:, 2]
    assert np.abs(moved - centres).mean() > 3.0  # the turn moves it
    turned = _luma(r.render(yaw))
    at = np.floor(moved).astype(int)
    inside = (at[:, 0] >= 0) & (at[:, 0] < SIZE) & (at[:, 1] >= 0) & (at[:, 1] < SIZE)
    assert np.median(turned[at[inside, 1], at[inside, 0]]) < photo[core].mean() + 15
    left_behind = ~layer_at(r, yaw, SIZE)[ys, xs]  # rim pixels the moved layer no longer covers
    assert np.median(turned[ys[left_behind], xs[left_behind]]) > 2.0 * np.median(photo[core])  # skin there now


def test_portrait_check_says_it_found_glasses(photos, tmp_path):
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "facecast.engine.cli", "portrait", "check",
                           str(photos / "grace_hopper.jpg"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "glasses: a dark frame, drawn as a layer that stays on the head" in done.stdout
    assert json.loads((tmp_path / "check.json").read_text())["glasses"] is True


def layer_at(r: PortraitRenderer, sample: FaceSample, size: int) -> np.ndarray:
    """(size, size) bool where the glasses layer, moved by ``sample``'s head, covers more than half a pixel."""
    from facecast.engine.render.portrait.glasses import composite

    canvas = np.zeros((size, size, 3), np.uint8)
    white = type(r.glasses)(box=r.glasses.box, rgb=np.full_like(r.glasses.rgb, 255.0), alpha=r.glasses.alpha,
                            bridge_contrast=r.glasses.bridge_contrast)
    composite(canvas, white, np.array([0, 1, 2]), affine=r._head_affine(sample.head_rad))
    return canvas[..., 0] > 127
