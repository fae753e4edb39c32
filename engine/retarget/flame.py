"""ARKit -> FLAME: the linear map (plus bias) the diffusion renderer's expression
adapter needs, loaded from a mapping file made by ``facecast calibrate fit-mapping``.

Mapping file (``.npz``, no pickles):

- ``weight``: (55, 52) float, FLAME vector per unit of each ARKit weight (ARKit order of
  :data:`~facecast.engine.types.ARKIT_NAMES`);
- ``bias``: (55,) float, the FLAME vector of the all-zero ARKit input;
- ``arkit_names``: (52,) str, must equal :data:`~facecast.engine.types.ARKIT_NAMES`;
- optional ``cv_rmse`` (55,), ``ridge_lambda`` (): how the fit went.

The 55-d vector is FLAME's 50 expression coefficients, 2 eyelid values and 3 jaw
values; the adapter's clamps (eyelids to [0, 1], jaw opening >= 0, the other two
within +-0.2 rad) are applied after the map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from facecast.engine.types import ARKIT_NAMES, FLAME_DIM, NUM_ARKIT, FaceSample, FlameParams


class MappingError(ValueError):
    """A mapping file is missing or malformed; the message says how to make one."""


HOW_TO_MAKE = ("make one with 'facecast calibrate fit-mapping PAIRS.npz --out MAP.npz' "
               "(see docs/renderers.md: pairs of MediaPipe ARKit weights and FLAME parameters of the same frames)")


class LinearFlameMap:
    """``flame = clamp(weight @ arkit + bias)``; call it with a :class:`FaceSample`.

    Args:
        weight: (55, 52).
        bias: (55,).
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        weight = np.asarray(weight, np.float64)
        bias = np.asarray(bias, np.float64)
        if weight.shape != (FLAME_DIM, NUM_ARKIT) or bias.shape != (FLAME_DIM,):
            raise MappingError(f"mapping must be weight (55, 52) and bias (55,), got {weight.shape} and {bias.shape}")
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise MappingError("mapping has NaN or infinite values; refit it")
        self.weight = weight.astype(np.float32)
        self.bias = bias.astype(np.float32)

    @classmethod
    def load(cls, path: Union[str, Path]) -> "LinearFlameMap":
        """Read a mapping file. Raises :class:`MappingError` saying what is wrong and what to do."""
        path = Path(path)
        if not path.is_file():
            raise MappingError(f"no ARKit -> FLAME mapping at {path}: {HOW_TO_MAKE}")
        try:
            with np.load(path, allow_pickle=False) as z:
                names = tuple(str(n) for n in z["arkit_names"])
                weight, bias = z["weight"], z["bias"]
        except (OSError, KeyError, ValueError) as exc:
            raise MappingError(f"cannot read the mapping {path} ({exc}): {HOW_TO_MAKE}") from None
        if names != ARKIT_NAMES:
            raise MappingError(f"{path} was fitted for other ARKit channel names; refit it: {HOW_TO_MAKE}")
        return cls(weight, bias)

    def save(self, path: Union[str, Path], **extra: np.ndarray) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, weight=self.weight, bias=self.bias, arkit_names=np.array(ARKIT_NAMES), **extra)
        return path

    def vector(self, weights: np.ndarray) -> np.ndarray:
        """(52,) or (N, 52) ARKit weights -> (55,) or (N, 55) FLAME vectors, before clamping."""
        return np.asarray(weights, np.float32) @ self.weight.T + self.bias

    def __call__(self, sample: FaceSample) -> FlameParams:
        return FlameParams.from_vector(self.vector(sample.weights), clamp=True, head_rad=sample.head_rad)
