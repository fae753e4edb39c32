"""FaceLandmarker's landmark geometry: the count, named connection sets and eye centres."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: FaceLandmarker's landmarks: 468 of the face mesh, then 5 per iris.
NUM_LANDMARKS = 478


@lru_cache(maxsize=None)
def connection_points(name: str) -> frozenset[int]:
    """Landmark indices of one ``FaceLandmarksConnections`` set (e.g. ``FACE_LANDMARKS_LIPS``)."""
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections  # heavy: on first use

    return frozenset(p for c in getattr(FaceLandmarksConnections, name) for p in (c.start, c.end))


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, left) eye centres, the means of FaceLandmarker's eye contours, from
    (478, 2+) landmarks. The subject's right eye is on the image's left."""
    right = landmarks[sorted(connection_points("FACE_LANDMARKS_RIGHT_EYE")), :2].mean(0)
    left = landmarks[sorted(connection_points("FACE_LANDMARKS_LEFT_EYE")), :2].mean(0)
    return right, left
