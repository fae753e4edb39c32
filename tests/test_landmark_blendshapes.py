"""MediaPipe's blendshape model on landmarks alone (the geometry channel of
``facecast eval``): it must reproduce FaceLandmarker's own scores."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from skimage import data

from facecast.calibration.eval import landmark_blendshapes as lb
from facecast.engine.face.tracker import FaceTracker
from facecast.engine.types import arkit_index


@pytest.fixture(scope="module")
def model():
    return lb.LandmarkBlendshapes()


@pytest.fixture(scope="module")
def tracked():
    """(image, FaceLandmarker's result) for the astronaut photo and a crop of it."""
    tracker = FaceTracker()
    try:
        images = (data.astronaut(), np.ascontiguousarray(data.astronaut()[40:300, 100:380]))
        return [(img, tracker.track(img)) for img in images]
    finally:
        tracker.close()


def _pixels(img, result):
    return result.landmarks[:, :2] * [img.shape[1], img.shape[0]]


def test_reproduces_face_landmarker_from_its_own_landmarks(model, tracked):
    for img, result in tracked:
        scores = model(_pixels(img, result))
        assert scores.shape == (52,)
        np.testing.assert_allclose(scores, result.weights, atol=1e-4)
        assert scores[arkit_index("mouthSmileLeft")] > 0.5  # she smiles


def test_scores_follow_the_landmarks(model, tracked):
    """A lid contour moved up reads as a wider eye on that side only."""
    lm = _pixels(*tracked[0])
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
    with pytest.raises(lb.GeometryUnavailable, match="holds no no_such_model.tflite"):
        lb.LandmarkBlendshapes()


def test_without_litert_eval_reports_why_and_still_measures(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import fails as if not installed
    with pytest.raises(lb.GeometryUnavailable, match=r"pip install 'facecast\[eval\]'"):
        lb.LandmarkBlendshapes()
    from facecast.engine.cli import main
    assert main(["eval", "--sequence", "sweep:jawOpen", "--size", "256x256", "--identity-model", "none",
                 "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["geometry"]["available"] is False and "ai-edge-litert" in m["geometry"]["reason"]
    assert m["shapes"]["JawOpen"]["passes"] and "geometry" not in m["shapes"]["JawOpen"]
