"""ArcFace identity embeddings: a 5-point aligned 112x112 crop through an ArcFace
ONNX model (Arc2Face ships one as ``arcface.onnx``) with onnxruntime.

The five points (eye centres, nose tip, mouth corners) come from MediaPipe
FaceLandmarker, which facecast already uses, so no insightface install is needed.
They are fitted, all five, by least squares to ArcFace's 112x112 template with a
similarity (rotation, uniform scale, translation; Umeyama's closed form), as
insightface's ``norm_crop`` does. The crop is RGB, NCHW.

Input normalisation belongs to the model file: most ArcFace exports (Arc2Face's
``arcface.onnx`` among them) take ``(x - 127.5) / 127.5``; some subtract and scale
inside the graph and take raw 0..255 pixels. ``input_scaling="auto"`` reads which
from the graph (a ``Sub`` and a ``Mul``/``Div`` among the first nodes, insightface's
own test), or pass ``"arcface"`` or ``"raw"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.face.landmarks import eye_centres
from facecast.engine.face.tracker import FaceTracker

#: ArcFace's 112x112 alignment targets (insightface convention): the eye on the
#: image's left, the other eye, the nose tip, the mouth corners left then right.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
#: FaceLandmarker indices of the nose tip and the mouth corners (image left, then right).
_NOSE_TIP, _MOUTH_RIGHT, _MOUTH_LEFT = 1, 61, 291
#: ``input_scaling`` values: read from the graph, ``(x - 127.5) / 127.5`` outside it, or raw pixels.
INPUT_SCALINGS = ("auto", "arcface", "raw")
#: How many of the graph's first nodes may hold its own input normalisation.
_NORMALISATION_NODES = 8


def similarity_to_template(points: np.ndarray, template: np.ndarray = ARCFACE_TEMPLATE) -> np.ndarray:
    """(2, 3) float64 similarity (rotation, uniform scale, translation) taking ``points`` (N, 2) to
    ``template`` (N, 2) with the least sum of squared distances over all N points (Umeyama 1991).

    Raises:
        ValueError: fewer than 2 points, non-finite values, or all points at one place.
    """
    src = np.asarray(points, np.float64)
    dst = np.asarray(template, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"points {src.shape} and template {dst.shape} must both be (N >= 2, 2)")
    if not np.isfinite(src).all():
        raise ValueError("face points have NaN or infinite values")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s ** 2).sum() / len(src)
    if var_s < 1e-12:
        raise ValueError("the face points coincide")
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    flip = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = u @ flip @ vt
    scale = float(np.trace(np.diag(sig) @ flip)) / var_s
    return np.hstack([scale * rotation, (mu_d - scale * rotation @ mu_s)[:, None]])


def graph_normalises_input(model_path: Path) -> bool:
    """Whether the ONNX model subtracts and scales its image input itself: a ``Sub`` and a ``Mul`` or
    ``Div`` among its first nodes (insightface's test for its own ArcFace exports)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    first = graph.node[:_NORMALISATION_NODES]
    kinds = {n.op_type for n in first}
    return "Sub" in kinds and bool(kinds & {"Mul", "Div"})


def five_points(landmarks: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """(5, 2) float32 pixels: the image-left eye centre, the other eye, the nose tip,
    the image-left and image-right mouth corners, from FaceLandmarker's landmarks."""
    h, w = shape_hw
    lm = np.asarray(landmarks)[:, :2] * np.array([w, h])
    right, left = eye_centres(lm)
    return np.array([right, left, lm[_NOSE_TIP], lm[_MOUTH_RIGHT], lm[_MOUTH_LEFT]], np.float32)


def reference_crop(rgb: np.ndarray, landmarks: np.ndarray, *, size: int = 512) -> np.ndarray:
    """(size, size, 3) uint8 face crop in the FFHQ framing Arc2Face's reference adapter
    expects: a square centred a little below the eyes, rotated so the eyes are
    level, about 4x the eye-to-mouth distance wide; outside the photo is edge-padded."""
    import cv2

    p = five_points(landmarks, rgb.shape[:2]).astype(np.float64)
    eye_l, eye_r, mouth_l, mouth_r = p[0], p[1], p[3], p[4]
    eyes = (eye_l + eye_r) / 2
    eye_to_eye = eye_r - eye_l
    eye_to_mouth = (mouth_l + mouth_r) / 2 - eyes
    axis = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])  # level-eyes direction
    axis /= max(np.hypot(*axis), 1e-9)
    half = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    x, y = axis * half, np.array([-axis[1], axis[0]]) * half
    centre = eyes + eye_to_mouth * 0.1
    src = np.float32([centre - x - y, centre - x + y, centre + x + y])
    dst = np.float32([[0, 0], [0, size], [size, size]])
    m = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(np.ascontiguousarray(rgb[..., :3]), m, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


class ArcFace:
    """An ArcFace ONNX model on a 5-point aligned crop.

    Args:
        model_path: the ``.onnx`` file, input (1, 3, 112, 112), output (1, D) (D = 512 for ArcFace).
        input_scaling: ``auto`` (read from the graph, see the module doc), ``arcface``
            (``(x - 127.5) / 127.5`` fed) or ``raw`` (0..255 fed: the graph normalises).

    Raises:
        RuntimeError: onnxruntime missing, or the file is not a usable model.
        ValueError: an unknown ``input_scaling``.
    """

    def __init__(self, model_path: Path, *, input_scaling: str = "auto") -> None:
        if input_scaling not in INPUT_SCALINGS:
            raise ValueError(f"input_scaling must be one of {', '.join(INPUT_SCALINGS)}, got {input_scaling!r}")
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
        if input_scaling == "auto":
            try:
                input_scaling = "raw" if graph_normalises_input(model_path) else "arcface"
            except ImportError:  # no onnx package: Arc2Face's arcface.onnx takes the scaled input
                input_scaling = "arcface"
        #: what is fed: ``arcface`` ((x - 127.5) / 127.5) or ``raw`` (0..255)
        self.input_scaling = input_scaling
        self._tracker = None  # made on the first call without landmarks

    def landmarks(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        """FaceLandmarker's (478, 3) normalised landmarks of ``rgb``, or None without a face."""
        if self._tracker is None:
            self._tracker = FaceTracker()
        tracked = self._tracker.track(np.ascontiguousarray(rgb[..., :3]))
        return None if tracked is None else tracked.landmarks

    def align(self, rgb: np.ndarray, landmarks: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """(112, 112, 3) uint8 aligned crop, or None without a face. ``landmarks``:
        FaceLandmarker's (478, 2+) normalised landmarks of ``rgb`` when the caller
        has tracked it already (else it is tracked here)."""
        import cv2

        if landmarks is None:
            landmarks = self.landmarks(rgb)
            if landmarks is None:
                return None
        try:
            m = similarity_to_template(five_points(landmarks, rgb.shape[:2]))
        except ValueError:
            return None
        return cv2.warpAffine(np.ascontiguousarray(rgb[..., :3]), m, (112, 112), borderValue=0)

    def embed(self, rgb: np.ndarray, landmarks: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """(D,) float64 L2-normalised embedding, or None without a face (``landmarks``: see :meth:`align`)."""
        crop = self.align(rgb, landmarks)
        if crop is None:
            return None
        pixels = crop.astype(np.float32)
        x = (pixels if self.input_scaling == "raw" else (pixels - 127.5) / 127.5).transpose(2, 0, 1)[None]
        e = np.asarray(self._session.run(None, {self._input: x})[0], np.float64).reshape(-1)
        return e / max(np.linalg.norm(e), 1e-12)

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
