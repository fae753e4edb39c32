"""MediaPipe FaceLandmarker for one image or a video stream: ARKit weights, head rotation, 478 landmarks.

Used by the webcam/video source, the portrait renderer (tracking its photo once), ArcFace enrollment and
``facecast eval``.

Head rotation comes from FaceLandmarker's facial transformation matrix ``R``
(canonical face -> camera; camera x right, y up, z toward the viewer),
decomposed as ``R = Ry(yaw) Rx(pitch) Rz(roll)``:

- yaw > 0: the face turns toward the image's right (the subject's left);
- pitch > 0: the face tilts down;
- roll > 0: the top of the head tilts toward the image's left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.diagnostics import quiet_native_stderr
from facecast.engine.face.models import FaceModelError, resolve_face_landmarker
from facecast.engine.types import arkit_from_mediapipe


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
        FaceModelError: the model cannot be found or MediaPipe cannot load it.
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
            raise FaceModelError(f"MediaPipe cannot load {path}: {exc}") from None
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
