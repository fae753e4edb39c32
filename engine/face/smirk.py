"""SMIRK's FLAME expression from a face image: the crop, the checkpoint, the estimate.

The Arc2Face expression adapter was trained on SMIRK's FLAME parameters (50 expression, 2 eyelid,
3 jaw), so SMIRK run on the user's own face gives the adapter the input it knows. Three parts, as
SMIRK's demo and Arc2Face's ``exp_utils.py`` do it:

1. **Crop** (:func:`crop_matrix`, :func:`crop_face`): the box around all 478 MediaPipe landmarks, its
   mean side times 1.4, centred on the box, as a square scaled to 224x224 (a similarity; bilinear
   sampling, black outside the image, values truncated to uint8 as scikit-image's ``warp`` with
   ``preserve_range`` then ``astype(uint8)`` gives);
2. **Checkpoint** (:func:`load_expression_encoder`): ``SMIRK_em1.pt`` holds SMIRK's whole model; the
   expression encoder is the entries under ``smirk_encoder.expression_encoder.``, with that prefix
   taken off (the other encoders and the generator are ignored). Read with ``weights_only=True``:
   no pickled code runs;
3. **Estimate** (:class:`SmirkExpression`): the crop as RGB in [0, 1] through the encoder. (SMIRK's
   demo feeds RGB; Arc2Face's Gradio demo passes an RGB image into code written for OpenCV's BGR, so
   its encoder sees the channels swapped. facecast feeds RGB, what SMIRK was trained on.)

The weights are the user's download (SMIRK's README; Arc2Face's README puts them in
``models/smirk/SMIRK_em1.pt``). Importing this module does not import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

#: SMIRK's input side, pixels.
INPUT_PX = 224
#: The crop's side over the landmarks' mean box side.
CROP_SCALE = 1.4
CHECKPOINT_PREFIX = "smirk_encoder.expression_encoder."
CHECKPOINT_NAME = "SMIRK_em1.pt"
#: Where the checkpoint comes from: the Google Drive file SMIRK's README and quick_install.sh download.
URL = "https://drive.google.com/uc?id=1T65uEd9dVLHgVw5KiUYL66NUee-MCzoE"


def download_command(folder: str) -> str:
    """The shell line that puts ``SMIRK_em1.pt`` in ``folder``."""
    return f"pip install gdown && mkdir -p {folder} && gdown '{URL}' -O {folder}/{CHECKPOINT_NAME}"


DOWNLOAD = ("SMIRK_em1.pt is not on the Hugging Face hub: get it as SMIRK's and Arc2Face's READMEs say, e.g. "
            + download_command("models/smirk"))


class SmirkError(ValueError):
    """The SMIRK checkpoint is missing or not SMIRK's; the message says what to do."""


def crop_matrix(landmarks_px: np.ndarray) -> np.ndarray:
    """(2, 3) float64 similarity taking image pixels to crop pixels (pixel centres at integers).

    Args:
        landmarks_px: (N, 2+) landmarks in pixels (x right, y down); N >= 2.
    """
    p = np.asarray(landmarks_px, np.float64)[:, :2]
    if p.ndim != 2 or len(p) < 2 or not np.isfinite(p).all():
        raise ValueError(f"landmarks must be (N, 2) finite pixel positions, got shape {np.shape(landmarks_px)}")
    left, top = p.min(0)
    right, bottom = p.max(0)
    size = int((right - left + bottom - top) / 2 * CROP_SCALE)
    if size < 1:
        raise ValueError("the landmarks span less than a pixel")
    centre = np.array([right - (right - left) / 2, bottom - (bottom - top) / 2])
    scale = (INPUT_PX - 1) / size
    corner = centre - size / 2
    return np.array([[scale, 0.0, -scale * corner[0]], [0.0, scale, -scale * corner[1]]])


def crop_face(rgb: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray:
    """(224, 224, 3) uint8: ``rgb`` (H, W, 3) uint8 sampled bilinearly through :func:`crop_matrix`,
    zero outside the image, truncated to integers."""
    image = np.asarray(rgb)[..., :3]
    h, w = image.shape[:2]
    inverse = np.linalg.inv(np.vstack([crop_matrix(landmarks_px), [0.0, 0.0, 1.0]]))[:2]
    out = np.arange(INPUT_PX, dtype=np.float64)
    # the crop is axis-aligned (no rotation): a source column per output column, a source row per output row
    sx, sy = inverse[0, 0] * out + inverse[0, 2], inverse[1, 1] * out + inverse[1, 2]
    x0, y0 = np.floor(sx).astype(np.intp), np.floor(sy).astype(np.intp)
    fx, fy = (sx - x0)[None, :, None], (sy - y0)[:, None, None]

    def taps(start, size):  # the two neighbours' indices (clipped) and whether each is inside (else it reads 0)
        return [(np.clip(start + k, 0, size - 1), (start + k >= 0) & (start + k < size)) for k in (0, 1)]

    cols = taps(x0, w)
    corners = [[image[r][:, c] * (inside_r[:, None, None] & inside_c[None, :, None]) for c, inside_c in cols]
               for r, inside_r in taps(y0, h)]
    top, bottom = (left * (1 - fx) + right * fx for left, right in corners)
    return (top * (1 - fy) + bottom * fy).astype(np.uint8)


def expression_encoder_shapes() -> dict[str, tuple[int, ...]]:
    """The expression encoder's state-dict keys (without :data:`CHECKPOINT_PREFIX`) and shapes."""
    from facecast.engine.face.smirk_model import ExpressionEncoder  # imports torch

    return {k: tuple(v.shape) for k, v in ExpressionEncoder().state_dict().items()}


def load_expression_encoder(path: Path, *, device: str = "cpu"):
    """SMIRK's expression encoder from ``SMIRK_em1.pt`` (eval mode, no gradients).

    Raises:
        SmirkError: no file, not readable as weights, or not SMIRK's layout (the message says which keys).
    """
    import pickle

    import torch

    from facecast.engine.face.smirk_model import ExpressionEncoder

    path = Path(path)
    if not path.is_file():
        raise SmirkError(f"no SMIRK checkpoint at {path}. {DOWNLOAD}")
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise SmirkError(f"cannot read {path} as weights ({str(exc).splitlines()[0]}); {DOWNLOAD}") from None
    if not isinstance(checkpoint, dict):
        raise SmirkError(f"{path} is not a state dict; {DOWNLOAD}")
    state = {k[len(CHECKPOINT_PREFIX):]: v for k, v in checkpoint.items()
             if isinstance(k, str) and k.startswith(CHECKPOINT_PREFIX)}
    if not state:
        raise SmirkError(f"{path} has no '{CHECKPOINT_PREFIX}*' entries: it is not SMIRK's checkpoint. {DOWNLOAD}")
    encoder = ExpressionEncoder()
    expected = encoder.state_dict()
    missing = sorted(set(expected) - set(state))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or wrong:
        what = (f"{len(missing)} missing (e.g. {missing[0]})" if missing else "") + \
               (f"{', ' if missing else ''}{len(wrong)} of another shape (e.g. {wrong[0]})" if wrong else "")
        raise SmirkError(f"{path}: the expression encoder's weights do not fit: {what}; {DOWNLOAD}")
    encoder.load_state_dict({k: state[k] for k in expected})
    return encoder.to(device).eval().requires_grad_(False)


class SmirkExpression:
    """FLAME vectors of faces with SMIRK's expression encoder.

    Args:
        checkpoint: ``SMIRK_em1.pt``.
        device: torch device (``cpu``, ``cuda``).

    Raises:
        SmirkError: see :func:`load_expression_encoder`.
        RuntimeError: torch is not installed (the message says what to install).
    """

    def __init__(self, checkpoint: Path, *, device: str = "cpu") -> None:
        try:
            import torch
        except ImportError:
            raise RuntimeError("SMIRK needs torch: pip install 'facecast[diffusion]'") from None
        self._torch = torch
        self.device = device
        self.encoder = load_expression_encoder(checkpoint, device=device)

    def flame(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(55,) float32 FLAME vector of the face in ``rgb`` (H, W, 3) uint8.

        Args:
            landmarks: FaceLandmarker's (478, 2+) landmarks of ``rgb``, normalised (x, y in [0, 1]).
        """
        h, w = rgb.shape[:2]
        crop = crop_face(rgb, np.asarray(landmarks)[:, :2] * np.array([w, h]))
        return self.flame_of_crops(crop[None])[0]

    def flame_of_crops(self, crops: np.ndarray) -> np.ndarray:
        """(B, 55) float32 from (B, 224, 224, 3) uint8 RGB crops (:func:`crop_face`)."""
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().div(255.0)
        with torch.no_grad():
            return self.encoder(x.to(self.device)).float().cpu().numpy()


def default_checkpoint(models_root: Optional[Path]) -> Optional[Path]:
    """``models_root/smirk/SMIRK_em1.pt`` when it exists (Arc2Face's layout), else None."""
    if models_root is None:
        return None
    path = Path(models_root) / "smirk" / CHECKPOINT_NAME
    return path if path.is_file() else None
