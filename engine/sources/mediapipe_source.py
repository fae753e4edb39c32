"""``webcam:[INDEX]`` and ``video:PATH``: OpenCV capture + MediaPipe FaceLandmarker.

:class:`FaceTracker` wraps FaceLandmarker (Tasks API) for one image or a video
stream and returns ARKit weights, the head rotation and the 478 landmarks.
:class:`MediaPipeSource` runs it on a camera or a video file.

Head rotation comes from FaceLandmarker's facial transformation matrix ``R``
(canonical face -> camera; camera x right, y up, z toward the viewer),
decomposed as ``R = Ry(yaw) Rx(pitch) Rz(roll)``:

- yaw > 0: the face turns toward the image's right (the subject's left);
- pitch > 0: the face tilts down;
- roll > 0: the top of the head tilts toward the image's left.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.diagnostics import TRACE, quiet_native_stderr
from facecast.engine.sources.base import Emit, Source, SourceError
from facecast.engine.sources.models import resolve_face_landmarker
from facecast.engine.types import NUM_ARKIT, FaceSample, arkit_from_mediapipe

log = logging.getLogger(__name__)

#: A video falling this many frames behind its schedule skips to the frame due now.
LATE_SKIP_FRAMES = 2


def head_rotation_rad(matrix: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) radians of the 3x3 (or 4x4) rotation part of ``matrix``."""
    r = np.asarray(matrix, np.float64)[:3, :3]
    pitch = math.asin(max(-1.0, min(1.0, -r[1, 2])))
    yaw = math.atan2(r[0, 2], r[2, 2])
    roll = math.atan2(r[1, 0], r[1, 1])
    return np.array([yaw, pitch, roll], np.float32)


@dataclass(frozen=True)
class TrackResult:
    """One tracked face: ``weights`` (52,) ARKit order in [0, 1], ``head_rad`` (3,)
    yaw/pitch/roll, ``landmarks`` (478, 3) normalised x, y in [0, 1] of the image
    and MediaPipe's relative depth z (None when not asked for)."""

    weights: np.ndarray
    head_rad: np.ndarray
    landmarks: Optional[np.ndarray]


class FaceTracker:
    """FaceLandmarker for single images (``video=False``) or a stream of frames.

    Create once, call :meth:`track` per image, then :meth:`close`.

    Raises:
        SourceError: the model cannot be found or MediaPipe cannot load it.
    """

    def __init__(self, model_path: Optional[Path] = None, *, video: bool = False, num_faces: int = 1) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        path = resolve_face_landmarker(model_path)
        mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)), running_mode=mode, num_faces=num_faces,
            output_face_blendshapes=True, output_facial_transformation_matrixes=True)
        try:
            with quiet_native_stderr():  # its graph's routine warnings (``-v`` shows them)
                self._landmarker = vision.FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise SourceError(f"MediaPipe cannot load {path}: {exc}") from None
        self._mp = mp
        self._video = video
        self._last_ms = -1
        self._tracked_once = False

    def track(self, rgb: np.ndarray, *, timestamp_ms: Optional[int] = None,
              landmarks: bool = True) -> Optional[TrackResult]:
        """Track the face in an (H, W, 3) uint8 RGB image; None when there is none.

        In video mode ``timestamp_ms`` must increase; when it does not (or is
        None) the tracker advances it by 1 ms. ``landmarks=False`` skips
        converting the 478 landmarks (``TrackResult.landmarks`` is then None).
        """
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if self._video:
            ts = timestamp_ms if timestamp_ms is not None and timestamp_ms > self._last_ms else self._last_ms + 1
            self._last_ms = ts
            result = self._detect(lambda: self._landmarker.detect_for_video(image, ts))
        else:
            result = self._detect(lambda: self._landmarker.detect(image))
        return _face(result, 0, landmarks=landmarks) if result.face_landmarks else None

    def track_all(self, rgb: np.ndarray) -> list[TrackResult]:
        """Every face in an (H, W, 3) uint8 RGB image (up to ``num_faces``), with landmarks; image mode only."""
        if self._video:
            raise ValueError("track_all is for single images (a tracker made with video=False)")
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._detect(lambda: self._landmarker.detect(image))
        faces = (_face(result, k, landmarks=True) for k in range(len(result.face_landmarks)))
        return [f for f in faces if f is not None]

    def _detect(self, call):
        """Run one inference; the first sets up TFLite, which logs routine notices (held back, ``-v`` shows them)."""
        if self._tracked_once:
            return call()
        self._tracked_once = True
        with quiet_native_stderr():
            return call()

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None


def _face(result, k: int, *, landmarks: bool) -> Optional[TrackResult]:
    """Face ``k`` of a FaceLandmarker result as a :class:`TrackResult` (None without its blendshapes)."""
    if k >= len(result.face_blendshapes):
        return None
    scores = [c.score for c in result.face_blendshapes[k]]
    points = np.array([(p.x, p.y, p.z) for p in result.face_landmarks[k]], np.float32) if landmarks else None
    matrices = result.facial_transformation_matrixes
    head = head_rotation_rad(np.array(matrices[k])) if matrices and k < len(matrices) else np.zeros(3, np.float32)
    return TrackResult(weights=np.clip(arkit_from_mediapipe(scores), 0.0, 1.0), head_rad=head, landmarks=points)


class MediaPipeSource(Source):
    """Frames from OpenCV (camera or file) through :class:`FaceTracker`.

    Use :meth:`webcam` or :meth:`video` to create one. A video plays in real time
    at its own frame rate; when tracking falls :data:`LATE_SKIP_FRAMES` or more
    frames behind, the missed frames are skipped undecoded (``skipped_frames``
    counts them). A camera keeps no queue of stale frames (driver buffer of one).
    Frames with no face give samples with ``valid=False``.
    """

    name = "mediapipe"

    def __init__(self, *, device: int | str, is_file: bool, model_path: Optional[Path], loop: bool) -> None:
        self._device = device
        self._is_file = is_file
        self._model_path = model_path
        self._loop = loop
        self._capture = None
        self._tracker: Optional[FaceTracker] = None
        self._frame_period_s = 0.0
        self.skipped_frames = 0

    @classmethod
    def webcam(cls, index: int = 0, *, model_path: Optional[Path] = None) -> "MediaPipeSource":
        src = cls(device=index, is_file=False, model_path=model_path, loop=False)
        src.name = "webcam"
        return src

    @classmethod
    def video(cls, path: Path, *, model_path: Optional[Path] = None, loop: bool = False) -> "MediaPipeSource":
        src = cls(device=str(path), is_file=True, model_path=model_path, loop=loop)
        src.name = "video"
        return src

    def open(self) -> None:
        import cv2

        if self._is_file and not Path(self._device).is_file():
            raise SourceError(f"video file {self._device} not found")
        self._tracker = FaceTracker(self._model_path, video=True)
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
            result = tracker.track(rgb, timestamp_ms=int((time.monotonic() - t0) * 1000), landmarks=False)
            if result is None:
                emit(FaceSample(capture_wall_ns=captured_ns, weights=np.zeros(NUM_ARKIT, np.float32), valid=False,
                                source=self.name))
            else:
                emit(FaceSample(capture_wall_ns=captured_ns, weights=result.weights, head_rad=result.head_rad,
                                source=self.name))
            log.log(TRACE, "%s: frame %d face=%s", self.name, frame_index, result is not None)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
