"""``webcam:[INDEX]`` and ``video:PATH``: OpenCV capture + MediaPipe FaceLandmarker
(:class:`~facecast.engine.face.tracker.FaceTracker`; head angles as it defines them), and with a SMIRK
checkpoint (``--flame smirk:PATH``) SMIRK's FLAME estimate of every frame as well
(:class:`~facecast.engine.face.smirk.SmirkExpression`, on MediaPipe's landmarks of the same frame)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.diagnostics import TRACE
from facecast.engine.sources.base import Emit, Source, SourceError
from facecast.engine.face.models import FaceModelError
from facecast.engine.face.smirk import SmirkError, SmirkExpression
from facecast.engine.face.tracker import FaceTracker
from facecast.engine.types import NUM_ARKIT, FaceSample, FlameParams

log = logging.getLogger(__name__)

#: A video falling this many frames behind its schedule skips to the frame due now.
LATE_SKIP_FRAMES = 2


class MediaPipeSource(Source):
    """Frames from OpenCV (camera or file) through :class:`FaceTracker`.

    Use :meth:`webcam` or :meth:`video` to create one. A video plays in real time
    at its own frame rate; when tracking falls :data:`LATE_SKIP_FRAMES` or more
    frames behind, the missed frames are skipped undecoded (``skipped_frames``
    counts them). A camera keeps no queue of stale frames (driver buffer of one).
    Frames with no face give samples with ``valid=False``. With ``smirk`` (a ``SMIRK_em1.pt``), every
    sample also carries SMIRK's FLAME estimate of its frame (``FaceSample.flame``).
    """

    name = "mediapipe"

    def __init__(self, *, device: int | str, is_file: bool, model_path: Optional[Path], loop: bool,
                 smirk: Optional[Path] = None) -> None:
        self._device = device
        self._is_file = is_file
        self._model_path = model_path
        self._loop = loop
        self._smirk_path = smirk
        self._smirk: Optional[SmirkExpression] = None
        self._capture = None
        self._tracker: Optional[FaceTracker] = None
        self._frame_period_s = 0.0
        self.skipped_frames = 0

    @classmethod
    def webcam(cls, index: int = 0, *, model_path: Optional[Path] = None,
               smirk: Optional[Path] = None) -> "MediaPipeSource":
        src = cls(device=index, is_file=False, model_path=model_path, loop=False, smirk=smirk)
        src.name = "webcam"
        return src

    @classmethod
    def video(cls, path: Path, *, model_path: Optional[Path] = None, loop: bool = False,
              smirk: Optional[Path] = None) -> "MediaPipeSource":
        src = cls(device=str(path), is_file=True, model_path=model_path, loop=loop, smirk=smirk)
        src.name = "video"
        return src

    def open(self) -> None:
        import cv2

        if self._is_file and not Path(self._device).is_file():
            raise SourceError(f"video file {self._device} not found")
        if self._smirk_path is not None:
            try:
                self._smirk = SmirkExpression(self._smirk_path, device=_smirk_device())
            except (SmirkError, RuntimeError) as exc:
                raise SourceError(f"--flame smirk: {exc}") from None
        try:
            self._tracker = FaceTracker(self._model_path, video=True)
        except FaceModelError as exc:
            raise SourceError(str(exc)) from None
        quiet = getattr(getattr(cv2, "utils", None), "logging", None)
        level = quiet.getLogLevel() if quiet else None
        if quiet:  # our own message below says what failed; OpenCV's probe errors only confuse
            quiet.setLogLevel(quiet.LOG_LEVEL_SILENT)
        try:
            capture = cv2.VideoCapture(self._device)
        finally:
            if quiet:
                quiet.setLogLevel(level)
        if not capture.isOpened():
            capture.release()
            self._tracker.close()
            if self._is_file:
                raise SourceError(f"OpenCV cannot read the video {self._device}; convert it to MP4 (H.264)")
            raise SourceError(f"no camera at index {self._device}; check that it is connected and not in use "
                              "by another program, or try webcam:1")
        if not self._is_file:  # newest wins: no queue of stale frames in the driver
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        fps = capture.get(cv2.CAP_PROP_FPS) if self._is_file else 0.0
        self._frame_period_s = 1.0 / fps if fps and 1.0 <= fps <= 240.0 else (1.0 / 30.0 if self._is_file else 0.0)
        self._capture = capture

    def run(self, emit: Emit, stop: threading.Event) -> None:
        import cv2

        capture, tracker = self._capture, self._tracker
        if capture is None or tracker is None:
            raise SourceError(f"{self.name}: run() before open()")
        t0 = time.monotonic()
        frame_index = 0
        while not stop.is_set():
            if self._frame_period_s:  # a file: play at its own rate
                due_s = t0 + frame_index * self._frame_period_s
                if stop.wait(max(0.0, due_s - time.monotonic())):
                    return
                # Behind (tracking slower than the file): skip to the frame due now, undecoded.
                behind = int((time.monotonic() - due_s) / self._frame_period_s)
                if behind >= LATE_SKIP_FRAMES:
                    for _ in range(behind):
                        if not capture.grab():
                            break
                        frame_index += 1
                        self.skipped_frames += 1
            ok, bgr = capture.read()
            captured_ns = time.time_ns()
            if not ok:
                if self._is_file and self._loop and frame_index > 0:
                    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                if self._is_file:
                    return  # end of the file
                raise SourceError(f"camera {self._device} stopped delivering frames")
            frame_index += 1
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            result = tracker.track(rgb, timestamp_ms=int((time.monotonic() - t0) * 1000),
                                   landmarks=self._smirk is not None)
            if result is None:
                emit(FaceSample(capture_wall_ns=captured_ns, weights=np.zeros(NUM_ARKIT, np.float32), valid=False,
                                source=self.name))
            else:
                flame = None
                if self._smirk is not None:
                    flame = FlameParams.from_vector(self._smirk.flame(rgb, result.landmarks), clamp=True,
                                                    head_rad=result.head_rad)
                emit(FaceSample(capture_wall_ns=captured_ns, weights=result.weights, head_rad=result.head_rad,
                                source=self.name, flame=flame))
            log.log(TRACE, "%s: frame %d face=%s", self.name, frame_index, result is not None)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
        self._smirk = None


def _smirk_device() -> str:
    """SMIRK runs on the GPU when there is one."""
    try:
        import torch
    except ImportError:  # SmirkExpression says what to install
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
