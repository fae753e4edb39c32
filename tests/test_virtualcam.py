"""--virtualcam through pyvirtualcam: this machine has no v4l2loopback, so a recording backend is registered
in-process with pyvirtualcam's own ``register_backend`` (the path every real backend takes), and the real
backends are asked for the error a user without a device sees."""

from __future__ import annotations

import subprocess
import sys

import time

import numpy as np
import pyvirtualcam
import pytest

from conftest import wait_until
from facecast.engine.cli import main
from facecast.engine.outputs.fanout import Fanout
from facecast.engine.outputs.virtualcam import VirtualCamera, VirtualCameraError
from facecast.engine.types import NUM_ARKIT, FaceSample, Frame, PixelFormat

BACKEND = "facecast-test"


class RecordingBackend:
    """A pyvirtualcam backend that keeps what it is sent (``delay_s``: a slow device)."""

    frames: list[np.ndarray] = []
    delay_s = 0.0
    opened: list[tuple[int, int, float]] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw) -> None:
        self.shape = (height, width, 3)
        RecordingBackend.opened.append((width, height, fps))

    def send(self, frame: np.ndarray) -> None:
        if RecordingBackend.delay_s:
            time.sleep(RecordingBackend.delay_s)
        RecordingBackend.frames.append(frame.reshape(self.shape).copy())

    def close(self) -> None:
        pass

    def device(self) -> str:
        return "recording"

    def native_fourcc(self):
        return None


@pytest.fixture
def recorder():
    pyvirtualcam.register_backend(BACKEND, RecordingBackend)
    RecordingBackend.frames, RecordingBackend.opened, RecordingBackend.delay_s = [], [], 0.0
    yield RecordingBackend
    pyvirtualcam.camera.BACKENDS.pop(BACKEND, None)


def frame_of(pixels: np.ndarray, fmt: PixelFormat) -> Frame:
    return Frame(sample=FaceSample(capture_wall_ns=time.time_ns(), weights=np.zeros(NUM_ARKIT, np.float32)),
                 pixels=pixels, pixel_format=fmt)


@pytest.mark.parametrize("fmt", [PixelFormat.RGBA8, PixelFormat.BGRA8])
def test_frames_reach_the_camera_transparent_pixels_over_green(recorder, fmt):
    camera = VirtualCamera(width=8, height=4, fps=30, backend=BACKEND)
    rgba = np.zeros((4, 8, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[:, :4, 3] = 255   # left half opaque
    rgba[:, 4:6, 3] = 128  # a soft edge
    rgba[:, 6:, 3] = 0     # background
    pixels = rgba if fmt is PixelFormat.RGBA8 else rgba[..., [2, 1, 0, 3]].copy()
    try:
        camera.publish(frame_of(pixels, fmt))
        assert wait_until(lambda: recorder.frames)
    finally:
        camera.close()
    got = recorder.frames[0]
    assert got.shape == (4, 8, 3)
    assert tuple(got[0, 0]) == (200, 100, 50) and tuple(got[0, 7]) == (0, 255, 0)
    assert tuple(got[0, 4]) == (100, 177, 25)  # (200*128 + 0*127) / 255, (100*128 + 255*127) / 255, ...
    assert recorder.opened == [(8, 4, 30)] and camera.frames_sent == 1


def test_a_slow_camera_never_slows_the_engine_and_gets_the_newest_frame(recorder):
    """A device that takes 0.2 s a frame: 200 publishes take milliseconds (nothing waits, nothing queues), and
    the last frame published is the one the camera ends with."""
    recorder.delay_s = 0.2
    camera = VirtualCamera(width=4, height=2, fps=30, backend=BACKEND)
    try:
        t0 = time.perf_counter()
        for i in range(200):
            camera.publish(frame_of(np.full((2, 4, 3), i, np.uint8), PixelFormat.RGB8))
        publish_s = time.perf_counter() - t0
        assert wait_until(lambda: recorder.frames and recorder.frames[-1][0, 0, 0] == 199, 3.0)
    finally:
        camera.close()
    assert publish_s < 0.1
    assert len(recorder.frames) <= 3 and camera.frames_dropped >= 190


def test_a_wrong_size_is_counted_not_raised(recorder):
    camera = VirtualCamera(width=4, height=2, fps=30, backend=BACKEND)
    try:
        camera.publish(frame_of(np.zeros((3, 3, 3), np.uint8), PixelFormat.RGB8))
        assert wait_until(lambda: camera.errors.total() == 1)
        camera.publish(frame_of(np.zeros((2, 4, 3), np.uint8), PixelFormat.RGB8))
        assert wait_until(lambda: len(recorder.frames) == 1)
    finally:
        camera.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the v4l2loopback advice is Linux's")
def test_without_a_device_the_error_says_how_to_get_one():
    with pytest.raises(VirtualCameraError) as info:
        VirtualCamera(width=64, height=64, fps=30, backend="v4l2loopback")
    assert "modprobe v4l2loopback" in str(info.value) and "--virtualcam-device" in str(info.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="this machine's device-less state")
def test_run_virtualcam_without_a_device_exits_with_the_advice():
    result = subprocess.run([sys.executable, "-m", "facecast.engine.cli", "run", "--source", "demo", "--renderer",
                             "testpattern", "--virtualcam", "--duration", "1", "--publish", "tcp://127.0.0.1:0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "\nerror: no virtual camera" in "\n" + result.stderr, result.stderr
    assert "v4l2loopback" in result.stderr and "Traceback" not in result.stderr


def test_run_virtualcam_streams_the_renderer(recorder):
    """``facecast run --virtualcam`` as a user runs it (in this process, where the recording backend is
    registered after the real ones, which fail here): the test pattern's frames reach the camera."""
    code = main(["run", "--source", "demo", "--renderer", "testpattern", "--virtualcam", "--fps", "30",
                 "--duration", "1.5", "--size", "96x64", "--publish", "tcp://127.0.0.1:0"])
    assert code == 0
    assert recorder.opened == [(96, 64, 30.0)]
    assert len(recorder.frames) >= 10 and recorder.frames[-1].shape == (64, 96, 3)
    assert tuple(recorder.frames[-1][0, 0]) == (230, 40, 40)  # the test pattern's red top-left marker


def test_fanout_gives_every_output_the_frame_even_after_an_error():
    got: list[str] = []

    class Output:
        def __init__(self, name, fail=False):
            self.name, self.fail = name, fail

        def publish(self, frame):
            got.append(self.name)
            if self.fail:
                raise RuntimeError(f"{self.name} broke")
            return self.name

        def close(self):
            got.append(f"closed {self.name}")

    fan = Fanout([Output("zmq"), Output("camera", fail=True), Output("browser")])
    with pytest.raises(RuntimeError, match="camera broke"):
        fan.publish(frame_of(np.zeros((2, 2, 3), np.uint8), PixelFormat.RGB8))
    assert got == ["zmq", "camera", "browser"]
    assert Fanout([Output("zmq"), Output("browser")]).publish(None) == "zmq"
    fan.close()
    assert got[-3:] == ["closed zmq", "closed camera", "closed browser"]



