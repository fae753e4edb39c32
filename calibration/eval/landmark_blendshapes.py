"""MediaPipe's blendshape model run on landmarks alone: the geometry channel of
``facecast eval``.

FaceLandmarker scores a picture in two steps. A landmark network reads 478
points from the pixels; then a small model, ``face_blendshapes.tflite`` in the
same ``face_landmarker.task``, maps 146 of those points (image pixels) to the 52
scores. :class:`LandmarkBlendshapes` runs the second step on any landmarks.

Fed a renderer's *drawn* landmarks (where its mesh put MediaPipe's points), it
gives the scores FaceLandmarker would report if its landmark network followed
the drawing exactly: the renderer's geometry measured by MediaPipe's own
yardstick, apart from how the landmark network reads the picture. ``facecast
eval`` reports it next to the closed loop; a shape that passes here and fails
there is drawn far enough but not read back from the pixels.

Fed FaceLandmarker's own landmarks it reproduces FaceLandmarker's scores (a test
checks this), so the two channels differ only by the landmark network.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.diagnostics import quiet_native_stderr
from facecast.engine.face.landmarks import NUM_LANDMARKS
from facecast.engine.face.models import resolve_face_landmarker
from facecast.engine.types import arkit_from_mediapipe

#: The landmarks FaceLandmarker's blendshape step reads, in its order (MediaPipe's
#: face_blendshapes_graph.cc, ``kLandmarksSubsetIdxs``; must match it).
BLENDSHAPE_LANDMARKS = np.array([
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70, 78, 80,
    81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145, 146, 148, 149, 150, 152, 153,
    154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251,
    263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317,
    318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384,
    385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473, 474,
    475, 476, 477])
#: The blendshape model's member in ``face_landmarker.task`` (a zip archive).
MODEL_MEMBER = "face_blendshapes.tflite"


class GeometryUnavailable(RuntimeError):
    """The blendshape model cannot run here (the message says why and what to do)."""


class LandmarkBlendshapes:
    """MediaPipe's blendshape model on (478, 2) landmarks in image pixels.

    Args:
        model_path: ``face_landmarker.task``; None finds it as the webcam source does.

    Raises:
        GeometryUnavailable: LiteRT (``pip install ai-edge-litert``) is missing, or the
            task file has no blendshape model.
    """

    def __init__(self, model_path: Optional[Path] = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise GeometryUnavailable("the geometry channel runs MediaPipe's blendshape model on LiteRT (ai-edge-litert): "
                                      "pip install 'facecast[eval]'") from None
        task = resolve_face_landmarker(model_path)
        try:
            with zipfile.ZipFile(task) as archive:
                model = archive.read(MODEL_MEMBER)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise GeometryUnavailable(f"{task} holds no {MODEL_MEMBER} ({exc}); use the FaceLandmarker "
                                      "task with blendshapes (face_landmarker.task, float16/1)") from None
        with quiet_native_stderr():  # TFLite's delegate notice (``-v`` shows it)
            self._interpreter = Interpreter(model_content=model, num_threads=1)
            self._interpreter.allocate_tensors()
        (inp,), (out,) = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if tuple(inp["shape"][-2:]) != (len(BLENDSHAPE_LANDMARKS), 2):
            raise GeometryUnavailable(f"{MODEL_MEMBER} takes input {tuple(inp['shape'])}, expected "
                                      f"(1, {len(BLENDSHAPE_LANDMARKS)}, 2)")
        self._in, self._out = inp["index"], out["index"]
        self._buffer = np.zeros((1, len(BLENDSHAPE_LANDMARKS), 2), np.float32)

    def __call__(self, landmarks_px: np.ndarray) -> np.ndarray:
        """(52,) ARKit-order scores in [0, 1] for ``landmarks_px`` (478, 2 or 3), x and y
        in image pixels (only x and y are read).

        Raises:
            ValueError: wrong shape or non-finite landmarks.
        """
        lm = np.asarray(landmarks_px)
        if lm.ndim != 2 or lm.shape[0] != NUM_LANDMARKS or lm.shape[1] < 2:
            raise ValueError(f"expected (478, 2) landmarks in pixels, got shape {lm.shape}")
        picked = lm[BLENDSHAPE_LANDMARKS, :2]
        if not np.isfinite(picked).all():
            raise ValueError("landmarks must be finite")
        self._buffer[0] = picked
        self._interpreter.set_tensor(self._in, self._buffer)
        self._interpreter.invoke()
        scores = self._interpreter.get_tensor(self._out).reshape(-1)
        return np.clip(arkit_from_mediapipe(scores), 0.0, 1.0)
