"""``facecast calibrate make-pairs``: pairs of ARKit weights and FLAME parameters from one video, for
``calibrate fit-mapping``.

Every frame of the video goes through MediaPipe FaceLandmarker (the 52 blendshapes, as the ``webcam:``
and ``video:`` sources compute them, and the 478 landmarks) and SMIRK's expression encoder (FLAME's 50
expression, 2 eyelid and 3 jaw values, on the crop those landmarks give). Frames where MediaPipe finds
no face are skipped. With a calibration profile, the weights are taken after its per-channel curves
(offsets, gains, response, clamps), so the map is fitted on what the run-time retarget stage feeds it;
its time filters are left out (the map is linear: filtering before or after it is the same).

Pairs file (``.npz``, no pickles): ``arkit`` (N, 52) and ``flame`` (N, 55) float32 from the same
frames, ``frame`` (N,) their indices in the video, ``tracker`` () ``mediapipe``, ``profile`` () the
profile's name ("" without one), ``video`` () the clip's file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from facecast.engine.face.smirk import SmirkExpression
from facecast.engine.face.tracker import FaceTracker
from facecast.engine.retarget.profile import Profile
from facecast.engine.retarget.steps import ProfileCurves
from facecast.engine.types import FaceSample

#: The tracker make-pairs runs: the map is fitted on its blendshapes.
TRACKER = "mediapipe"


class PairsError(ValueError):
    """The video cannot be read or has no face; the message says what to do."""


@dataclass(frozen=True)
class Pairs:
    """Paired samples of one video.

    Attributes:
        arkit: (N, 52) float32 ARKit weights in [0, 1] (after the profile's curves, if any).
        flame: (N, 55) float32 FLAME vectors (SMIRK's, clamped as the adapter clamps).
        frame: (N,) int64 frame indices in the video.
        frames_read: frames in the video, with and without a face.
        profile: the profile's name ("" for none).
        video: the clip's file name.
    """

    arkit: np.ndarray
    flame: np.ndarray
    frame: np.ndarray
    frames_read: int
    profile: str
    video: str

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, arkit=self.arkit, flame=self.flame, frame=self.frame, tracker=np.array(TRACKER),
                 profile=np.array(self.profile), video=np.array(self.video))
        return path


def frame_count(video: Path) -> int:
    """The frame count the container declares (0 when it does not say)."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    try:
        return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        capture.release()


def make_pairs(video: Path, *, smirk: SmirkExpression, model_path: Optional[Path] = None,
               profile: Optional[Profile] = None,
               progress: Optional[Callable[[int, int], None]] = None) -> Pairs:
    """MediaPipe's weights and SMIRK's FLAME for every frame of ``video`` with a face.

    Args:
        smirk: the loaded SMIRK encoder.
        model_path: MediaPipe's ``face_landmarker.task`` (None: found as the sources find it).
        profile: apply its per-channel curves to the weights first.
        progress: called with (frames read, frames in the video (0: unknown)) after each frame.

    Raises:
        PairsError: the video cannot be opened, or no frame has a face.
        FaceModelError: MediaPipe's model cannot be found or loaded.
    """
    import cv2

    video = Path(video)
    if not video.is_file():
        raise PairsError(f"no video at {video}")
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        capture.release()
        raise PairsError(f"OpenCV cannot read the video {video}; convert it to MP4 (H.264)")
    fps = capture.get(cv2.CAP_PROP_FPS)
    period_ms = 1000.0 / fps if fps and 1.0 <= fps <= 240.0 else 1000.0 / 30.0
    total = frame_count(video)
    curves = ProfileCurves(profile) if profile is not None else None
    tracker = FaceTracker(model_path, video=True)
    arkit, flame, frames = [], [], []
    index = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            result = tracker.track(rgb, timestamp_ms=int(index * period_ms), landmarks=True)
            if result is not None:
                weights = result.weights
                if curves is not None:
                    weights = curves(FaceSample(capture_wall_ns=0, weights=weights)).weights
                arkit.append(np.asarray(weights, np.float32))
                flame.append(smirk.flame(rgb, result.landmarks))
                frames.append(index)
            index += 1
            if progress is not None:
                progress(index, total)
    finally:
        capture.release()
        tracker.close()
    if not frames:
        raise PairsError(f"no face in any of the {index} frames of {video}: record your face, lit, filling a good "
                         "part of the picture")
    return Pairs(arkit=np.stack(arkit), flame=np.stack(flame).astype(np.float32), frame=np.array(frames, np.int64),
                 frames_read=index, profile=profile.name if profile is not None else "", video=video.name)
