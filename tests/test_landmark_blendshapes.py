"""MediaPipe's blendshape model on landmarks alone (the geometry channel of
``facecast eval``): it must reproduce FaceLandmarker's own scores."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from facecast.calibration import landmark_blendshapes as lb
from facecast.engine.sources.mediapipe_source import FaceTracker
from facecast.engine.types import arkit_index


@pytest.fixture(scope="module")
def model():
    return lb.LandmarkBlendshapes()


def test_reproduces_face_landmarker_from_its_own_landmarks(model):
    tracker = FaceTracker()
    try:
        for img in (data.astronaut(), np.ascontiguousarray(data.astronaut()[40:300, 100:380])):
            tracked = tracker.track(img)
            h, w = img.shape[:2]
            scores = model(tracked.landmarks[:, :2] * [w, h])
            assert scores.shape == (52,)
            np.testing.assert_allclose(scores, tracked.weights, atol=1e-4)
            assert scores[arkit_index("mouthSmileLeft")] > 0.5  # she smiles
    finally:
        tracker.close()


def test_scores_follow_the_landmarks(model):
    """A lid contour moved up reads as a wider eye on that side only."""
    tracker = FaceTracker()
    img = data.astronaut()
    lm = tracker.track(img).landmarks[:, :2] * [img.shape[1], img.shape[0]]
    tracker.close()
    upper_left_lid = [466, 388, 387, 386, 385, 384, 398]
    wide = lm.copy()
    wide[upper_left_lid, 1] -= 5.0
    before, after = model(lm), model(wide)
    k, m = arkit_index("eyeWideLeft"), arkit_index("eyeWideRight")
    assert after[k] > before[k] + 0.2 and abs(after[m] - before[m]) < 0.05


def test_bad_landmarks_are_refused(model):
    with pytest.raises(ValueError, match="478"):
        model(np.zeros((468, 2)))
    bad = np.full((478, 2), 100.0)
    bad[386, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        model(bad)


def test_task_without_the_model_says_what_to_do(monkeypatch):
    monkeypatch.setattr(lb, "MODEL_MEMBER", "no_such_model.tflite")
    with pytest.raises(lb.GeometryUnavailable, match="face_landmarker.task"):
        lb.LandmarkBlendshapes()
