"""SMIRK, the FLAME side of the diffusion renderer: the expression encoder against timm's own
backbone, the checkpoint in SMIRK's key layout, the crop, ``calibrate make-pairs`` -> ``fit-mapping`` ->
``run --renderer diffusion`` on a clip of the astronaut, and the ``--flame smirk:`` source variant.
Random weights throughout (``tiny_smirk.py``, ``tiny_arc2face.py``)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
from tiny_arc2face import write_tiny_arc2face  # noqa: E402
from tiny_smirk import EXPRESSION_PREFIX, HEAD_SCALE, seeded_state, write_smirk_checkpoint  # noqa: E402

from facecast.engine.face import smirk  # noqa: E402

GOLDEN = Path(__file__).parent / "golden" / "smirk_timm.npz"
FACECAST = [sys.executable, "-m", "facecast.engine.cli"]
FPS = 20
FACE_FRAMES = 24


def cli(*args, env=None, timeout=300):
    return subprocess.run(FACECAST + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_smirk_checkpoint(tmp_path_factory.mktemp("smirk") / "SMIRK_em1.pt")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """An MJPG clip of the astronaut (public domain): 24 frames moving and turning a little, then 3 blank."""
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    turns = [cv2.getRotationMatrix2D((256, 200), 4 * np.sin(i / 3), 1.0 + 0.04 * np.cos(i / 4))
             for i in range(FACE_FRAMES)]
    frames = [cv2.warpAffine(face, m, (512, 512), borderMode=cv2.BORDER_REFLECT) for m in turns]
    frames += [np.full((512, 512, 3), 90, np.uint8)] * 3
    path = tmp_path_factory.mktemp("clip") / "astronaut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (512, 512))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def test_the_backbone_is_timms_tf_mobilenetv3_large_minimal():
    """Same keys, shapes and outputs as timm's ``tf_mobilenetv3_large_minimal_100`` feature backbone
    (SMIRK's), on seeded weights: the golden file was made with timm itself (golden/make_smirk_golden.py)."""
    from facecast.engine.face.smirk_model import ExpressionEncoder, clamp_flame

    golden = np.load(GOLDEN)
    want = {str(k): tuple(int(v) for v in str(s).split(",") if v) for k, s in zip(golden["keys"], golden["shapes"])}
    assert smirk.expression_encoder_shapes() == want
    encoder = ExpressionEncoder().eval()
    weights = seeded_state(want, seed=int(golden["weights_seed"]))
    encoder.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    images = np.random.default_rng(int(golden["images_seed"])).uniform(0, 1, (2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        raw = encoder.raw(torch.from_numpy(images))
        clamped = encoder(torch.from_numpy(images))
    scale = np.abs(golden["raw"]).max()
    assert np.abs(raw.numpy() - golden["raw"]).max() <= 1e-5 * scale
    assert torch.equal(clamped, clamp_flame(raw))
    lids, jaw = clamped[:, 50:52], clamped[:, 52:]
    assert lids.min() >= 0 and lids.max() <= 1 and jaw[:, 0].min() >= 0 and jaw[:, 1:].abs().max() <= 0.2


class _NotWeights:
    """A pickled object: what ``weights_only=True`` refuses to build."""


def test_the_checkpoint_loads_in_smirks_key_layout_and_nothing_else(checkpoint, tmp_path):
    encoder = smirk.load_expression_encoder(checkpoint)
    want = seeded_state(smirk.expression_encoder_shapes())
    want["expression_layers.0.weight"] = want["expression_layers.0.weight"] * HEAD_SCALE
    got = encoder.state_dict()
    assert all(np.array_equal(got[k].numpy(), v) for k, v in want.items())
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    torch.save({"anything": _NotWeights()}, tmp_path / "pickled.pt")
    torch.save({"encoder.conv_stem.weight": torch.zeros(1)}, tmp_path / "other.pt")
    state = torch.load(checkpoint, weights_only=True)
    del state[EXPRESSION_PREFIX + "encoder.blocks.3.1.conv_dw.weight"]
    torch.save(state, tmp_path / "short.pt")
    for name, message in (("garbage.pt", "cannot read"), ("pickled.pt", "cannot read"),
                          ("other.pt", "not SMIRK's checkpoint"), ("short.pt", "1 missing"),
                          ("absent.pt", "no SMIRK checkpoint")):
        with pytest.raises(smirk.SmirkError, match=message) as info:
            smirk.load_expression_encoder(tmp_path / name)
        assert "gdown" in str(info.value)  # and where to get the real one


def test_the_crop_is_smirks_box_of_the_landmarks():
    """On the astronaut's real landmarks: the square 1.4 times the landmarks' mean box side, the
    same pixels scikit-image's ``warp`` gives SMIRK's demo (it is the reference here)."""
    from skimage import data
    from skimage.transform import SimilarityTransform, warp

    from facecast.engine.face.tracker import FaceTracker

    rgb = data.astronaut()
    tracker = FaceTracker()
    lm = tracker.track(rgb).landmarks[:, :2] * np.array([rgb.shape[1], rgb.shape[0]])
    tracker.close()
    left, top = lm.min(0)
    right, bottom = lm.max(0)
    size = int((right - left + bottom - top) / 2 * 1.4)
    centre = np.array([(left + right) / 2, (top + bottom) / 2])
    src = np.array([centre - size / 2, centre + [-size / 2, size / 2], centre + [size / 2, -size / 2]])
    tform = SimilarityTransform.from_estimate(src, np.array([[0, 0], [0, 223], [223, 0]]))
    want = warp(rgb, tform.inverse, output_shape=(224, 224), preserve_range=True).astype(np.uint8)
    assert np.array_equal(smirk.crop_face(rgb, lm), want)
    with pytest.raises(ValueError, match="landmarks"):
        smirk.crop_matrix(np.full((478, 2), np.nan))


def _frames_and_landmarks(clip):
    """The clip decoded, and MediaPipe's landmarks of each frame as the video source tracks them."""
    from facecast.engine.face.tracker import FaceTracker

    capture = cv2.VideoCapture(str(clip))
    tracker = FaceTracker(video=True)
    frames, landmarks = [], []
    index = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        result = tracker.track(rgb, timestamp_ms=int(index * 1000 / FPS))
        frames.append(rgb)
        landmarks.append(None if result is None else result.landmarks)
        index += 1
    capture.release()
    tracker.close()
    return frames, landmarks


@pytest.fixture(scope="module")
def diffusion_env(tmp_path_factory):
    """Tiny Arc2Face models and an identity enrolled from an embedding, in a private cache."""
    cache = tmp_path_factory.mktemp("cache")
    env = {"FACECAST_CACHE_DIR": str(cache)}
    models = write_tiny_arc2face(tmp_path_factory.mktemp("models"), lcm_lora=True)
    np.save(cache / "e.npy", np.random.default_rng(0).standard_normal(512))
    enrolled = cli("enroll", "--embedding", cache / "e.npy", "--name", "astro", env=env)
    assert enrolled.returncode == 0, enrolled.stderr
    return env, models


def stream_diffusion(endpoint: str, env: dict, *options) -> tuple[list, str]:
    """Three frames of ``facecast run --renderer diffusion OPTIONS`` (tiny models, 64x64, the CPU, the
    clip looping) received over ZeroMQ, and the run's stderr."""
    from facecast.bridge.protocol import TOPIC_FRAME
    from facecast.bridge.receiver import Receiver

    command = FACECAST + ["run", "--renderer", "diffusion", "--identity", "astro", "--loop", "--size", "64x64",
                          "--format", "rgb8", "--device", "cpu", "--duration", "60", "--publish", endpoint,
                          *map(str, options)]
    with Receiver(endpoint, topics=(TOPIC_FRAME,)) as rx:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **env})
        try:
            msgs = [rx.recv(90.0) for _ in range(3)]
        finally:
            proc.terminate()
            _, err = proc.communicate(30)
    assert all(m is not None for m in msgs), err
    return msgs, err


def test_make_pairs_then_fit_mapping_then_run_the_diffusion_renderer(clip, checkpoint, diffusion_env, tmp_path,
                                                                     endpoint):
    """The acceptance path on a clip of the astronaut with random weights: every frame with a face gives
    MediaPipe's weights and SMIRK's FLAME of that frame, the map is fitted and remembers what on, and the
    diffusion renderer streams with it."""
    env, models = diffusion_env
    made = cli("calibrate", "make-pairs", "--video", clip, "--smirk", checkpoint, "--out", tmp_path / "pairs.npz",
               env=env)
    assert made.returncode == 0, made.stderr
    assert f"{FACE_FRAMES} pairs from {FACE_FRAMES + 3} frames" in made.stdout and "frames" in made.stderr  # progress
    with np.load(tmp_path / "pairs.npz") as z:
        arkit, flame, frame = z["arkit"], z["flame"], z["frame"]
        assert (str(z["tracker"]), str(z["profile"])) == ("mediapipe", "")
    frames, landmarks = _frames_and_landmarks(clip)
    assert frame.tolist() == [i for i, lm in enumerate(landmarks) if lm is not None]
    estimator = smirk.SmirkExpression(checkpoint)
    for k in (0, FACE_FRAMES // 2, FACE_FRAMES - 1):  # SMIRK on that frame's own crop
        assert np.allclose(flame[k], estimator.flame(frames[frame[k]], landmarks[frame[k]]), atol=1e-4)
    assert arkit.shape == (FACE_FRAMES, 52) and flame.shape == (FACE_FRAMES, 55)
    assert flame[:, :50].std(0).max() > 1e-3  # the frames differ, and so do their estimates

    fitted = cli("calibrate", "fit-mapping", tmp_path / "pairs.npz", "--out", tmp_path / "map.npz", env=env)
    assert fitted.returncode == 0 and "fitted on mediapipe weights, profile none" in fitted.stdout, fitted.stderr
    msgs, err = stream_diffusion(endpoint, env, "--source", f"video:{clip}", "--models", models,
                                 "--flame-map", tmp_path / "map.npz")
    assert all(m.pixels.shape == (64, 64, 3) and m.flame.shape == (55,) for m in msgs)
    assert "may not fit" not in err  # the map's own tracker and profile


def test_a_map_fed_another_trackers_weights_is_warned_about(tmp_path, caplog):
    from facecast.engine.retarget.flame import LinearFlameMap
    from facecast.engine.session import SessionSpec

    path = LinearFlameMap(np.zeros((55, 52)), np.zeros(55), tracker="mediapipe", profile="").save(tmp_path / "m.npz")
    with caplog.at_level(logging.WARNING, logger="facecast.engine.session"):
        SessionSpec(renderer="none", flame_map=str(path), tracker="mediapipe").open()
        assert not caplog.records
        SessionSpec(renderer="none", flame_map=str(path), tracker="arkit").open()
    assert "fitted on mediapipe blendshapes and this session's source gives arkit" in caplog.text
    loaded = LinearFlameMap.load(path)
    assert (loaded.tracker, loaded.profile) == ("mediapipe", "")
    assert loaded.mismatches(tracker="mediapipe", profile="me") == [
        "it was fitted on weights calibrated with no profile, and this session runs with profile 'me'"]


class _FirstLandmark:
    """Stands in for SMIRK where only the weights are looked at: the first landmark, as 55 values."""

    def flame(self, rgb, landmarks):
        return np.resize(np.asarray(landmarks[0], np.float32), 55)


def test_pairs_are_taken_after_the_calibration_profile(clip):
    from facecast.calibration.pairs import make_pairs
    from facecast.engine.retarget.profile import Profile
    from facecast.engine.retarget.steps import ProfileCurves
    from facecast.engine.types import FaceSample

    estimator = _FirstLandmark()
    raw = make_pairs(clip, smirk=estimator)
    profile = Profile(name="me")
    profile = profile.with_changes(offset=np.full(52, 0.02, np.float32), gain=np.full(52, 1.5, np.float32))
    calibrated = make_pairs(clip, smirk=estimator, profile=profile)
    curves = ProfileCurves(profile)
    want = np.stack([curves(FaceSample(capture_wall_ns=0, weights=w)).weights for w in raw.arkit])
    assert calibrated.profile == "me" and np.allclose(calibrated.arkit, want)
    assert not np.allclose(calibrated.arkit, raw.arkit) and np.array_equal(calibrated.flame, raw.flame)


def test_the_smirk_source_variant_carries_flame_and_still_publishes_arkit(clip, checkpoint, diffusion_env, endpoint):
    """``--source video:CLIP --flame smirk:PATH``: no map; the renderer gets SMIRK's FLAME of each frame,
    the clients still get the ARKit weights."""
    from facecast.engine.sources import SourceError, SourceOptions, open_source

    with pytest.raises(SourceError, match="needs the frames"):
        open_source("demo", SourceOptions(flame=f"smirk:{checkpoint}"))
    with pytest.raises(SourceError, match="smirk:PATH"):
        open_source(f"video:{clip}", SourceOptions(flame="emoca:x"))
    env, models = diffusion_env
    msgs, _ = stream_diffusion(endpoint, env, "--source", f"video:{clip}", "--flame", f"smirk:{checkpoint}",
                               "--models", models)
    assert all(m.pixels.shape == (64, 64, 3) and m.flame.shape == (55,) and m.arkit.shape == (52,) for m in msgs)
    assert any(np.abs(m.flame[:50]).max() > 1e-3 for m in msgs) and any(m.arkit.max() > 0 for m in msgs)
    from facecast.engine.session import SessionError, SessionSpec

    with pytest.raises(SessionError, match="choose one"):
        SessionSpec(renderer="none", flame_map="m.npz", flame_from_source=True).open()


def test_the_video_source_attaches_smirks_flame_to_each_sample(clip, checkpoint):
    from conftest import running

    from facecast.engine.sources import SourceOptions, open_source

    source = open_source(f"video:{clip}", SourceOptions(flame=f"smirk:{checkpoint}"))
    got = []
    with running(source, got.append) as (_, thread):
        thread.join(30)
    with_face = [s for s in got if s.valid]
    assert with_face and all(s.flame is not None and s.flame.head_rad is not None for s in with_face)
    assert all(s.flame is None for s in got if not s.valid)
