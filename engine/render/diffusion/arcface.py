"""ArcFace identity embeddings: a 5-point aligned 112x112 crop through an ArcFace
ONNX model (Arc2Face ships one as ``arcface.onnx``) with onnxruntime.

The five points (eye centres, nose tip, mouth corners) come from MediaPipe
FaceLandmarker, which facecast already uses, so no insightface install is needed.
The crop is RGB, scaled to [-1, 1] as ``(x - 127.5) / 127.5``, NCHW.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

#: ArcFace's 112x112 alignment targets (insightface convention): the eye on the
#: image's left, the other eye, the nose tip, the mouth corners left then right.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
#: FaceLandmarker indices of the nose tip and the mouth corners (image left, then right).
_NOSE_TIP, _MOUTH_RIGHT, _MOUTH_LEFT = 1, 61, 291


class ArcFace:
    """An ArcFace ONNX model on a 5-point aligned crop.

    Args:
        model_path: the ``.onnx`` file, input (1, 3, 112, 112), output (1, D) (D = 512 for ArcFace).

    Raises:
        RuntimeError: onnxruntime missing, or the file is not a usable model.
    """

    def __init__(self, model_path: Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError("ArcFace needs onnxruntime: pip install onnxruntime") from None
        if not Path(model_path).is_file():
            raise RuntimeError(f"ArcFace model {model_path} does not exist")
        try:
            self._session = ort.InferenceSession(str(model_path), providers=ort.get_available_providers())
        except Exception as exc:  # onnxruntime raises its own exception types
            raise RuntimeError(f"onnxruntime cannot load {model_path}: {exc}") from None
        self._input = self._session.get_inputs()[0].name
        self._tracker = None  # made on the first call without landmarks

    def align(self, rgb: np.ndarray, landmarks: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """(112, 112, 3) uint8 aligned crop, or None without a face. ``landmarks``:
        FaceLandmarker's (478, 2+) normalised landmarks of ``rgb`` when the caller
        has tracked it already (else it is tracked here)."""
        import cv2

        from facecast.engine.render.portrait.mesh import eye_centres

        if landmarks is None:
            if self._tracker is None:
                from facecast.engine.sources.mediapipe_source import FaceTracker
                self._tracker = FaceTracker()
            tracked = self._tracker.track(np.ascontiguousarray(rgb[..., :3]))
            if tracked is None:
                return None
            landmarks = tracked.landmarks
        h, w = rgb.shape[:2]
        lm = np.asarray(landmarks)[:, :2] * np.array([w, h])
        right, left = eye_centres(lm)
        points = np.array([right, left, lm[_NOSE_TIP], lm[_MOUTH_RIGHT], lm[_MOUTH_LEFT]], np.float32)
        m, _ = cv2.estimateAffinePartial2D(points, ARCFACE_TEMPLATE, method=cv2.LMEDS)
        if m is None:
            return None
        return cv2.warpAffine(np.ascontiguousarray(rgb[..., :3]), m, (112, 112), borderValue=0)

    def embed(self, rgb: np.ndarray, landmarks: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """(D,) float64 L2-normalised embedding, or None without a face (``landmarks``: see :meth:`align`)."""
        crop = self.align(rgb, landmarks)
        if crop is None:
            return None
        x = ((crop.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        e = np.asarray(self._session.run(None, {self._input: x})[0], np.float64).reshape(-1)
        return e / max(np.linalg.norm(e), 1e-12)

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
