"""ARKit -> FLAME: the linear map (plus bias) the diffusion renderer's expression
adapter needs, loaded from a mapping file made by ``facecast calibrate fit-mapping``;
and :class:`SourceFlame`, for sources that estimate FLAME themselves (``--flame smirk:PATH``).

Mapping file (``.npz``, no pickles):

- ``weight``: (55, 52) float, FLAME vector per unit of each ARKit weight (ARKit order of
  :data:`~facecast.engine.types.ARKIT_NAMES`);
- ``bias``: (55,) float, the FLAME vector of the all-zero ARKit input;
- ``arkit_names``: (52,) str, must equal :data:`~facecast.engine.types.ARKIT_NAMES`;
- optional ``tracker`` () str: whose blendshapes it was fitted on (``mediapipe``, ``arkit``, ...;
  see :func:`facecast.engine.sources.family.tracker_of`), and ``profile`` () str: the calibration
  profile applied to them first ("" for none). The map is right for weights like those: the
  session warns when it runs with another tracker or profile;
- optional ``cv_rmse`` (55,), ``ridge_lambda`` (): how the fit went.

The 55-d vector is FLAME's 50 expression coefficients, 2 eyelid values and 3 jaw
values; the adapter's clamps (eyelids to [0, 1], jaw opening >= 0, the other two
within +-0.2 rad) are applied after the map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np

from facecast.engine.types import ARKIT_NAMES, FLAME_DIM, NUM_ARKIT, FaceSample, FlameParams


class MappingError(ValueError):
    """A mapping file is missing or malformed; the message says how to make one."""


HOW_TO_MAKE = ("record a video of your face, then 'facecast calibrate make-pairs --video CLIP --smirk SMIRK_em1.pt "
               "--out PAIRS.npz' and 'facecast calibrate fit-mapping PAIRS.npz --out MAP.npz'; or, with a webcam or "
               "video source, estimate FLAME from the frames with --flame smirk:SMIRK_em1.pt (see docs/diffusion.md)")


class LinearFlameMap:
    """``flame = clamp(weight @ arkit + bias)``; call it with a :class:`FaceSample`.

    Args:
        weight: (55, 52).
        bias: (55,).
        tracker: whose blendshapes it was fitted on (None: not recorded).
        profile: the calibration profile applied to them before the fit ("" for none; None: not recorded).
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray, *, tracker: Optional[str] = None,
                 profile: Optional[str] = None) -> None:
        weight = np.asarray(weight, np.float64)
        bias = np.asarray(bias, np.float64)
        if weight.shape != (FLAME_DIM, NUM_ARKIT) or bias.shape != (FLAME_DIM,):
            raise MappingError(f"mapping must be weight (55, 52) and bias (55,), got {weight.shape} and {bias.shape}")
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise MappingError("mapping has NaN or infinite values; refit it")
        self.weight = weight.astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.tracker = tracker
        self.profile = profile

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
                tracker = str(z["tracker"]) if "tracker" in z else None
                profile = str(z["profile"]) if "profile" in z else None
        except (OSError, KeyError, ValueError) as exc:
            raise MappingError(f"cannot read the mapping {path} ({exc}): {HOW_TO_MAKE}") from None
        if names != ARKIT_NAMES:
            raise MappingError(f"{path} was fitted for other ARKit channel names; refit it: {HOW_TO_MAKE}")
        return cls(weight, bias, tracker=tracker, profile=profile)

    def save(self, path: Union[str, Path], **extra: np.ndarray) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fitted = {k: np.array(v) for k, v in (("tracker", self.tracker), ("profile", self.profile)) if v is not None}
        np.savez(path, weight=self.weight, bias=self.bias, arkit_names=np.array(ARKIT_NAMES), **fitted, **extra)
        return path

    def mismatches(self, *, tracker: Optional[str], profile: Optional[str]) -> list[str]:
        """How a session feeding this map ``tracker``'s weights after ``profile`` ("" or None: none)
        differs from what it was fitted on (empty: as fitted, or not recorded)."""
        out = []
        if self.tracker is not None and tracker is not None and tracker != self.tracker:
            out.append(f"it was fitted on {self.tracker} blendshapes and this session's source gives {tracker} ones")
        if self.profile is not None and (profile or "") != self.profile:
            fitted = f"profile {self.profile!r}" if self.profile else "no profile"
            now = f"profile {profile!r}" if profile else "no profile"
            out.append(f"it was fitted on weights calibrated with {fitted}, and this session runs with {now}")
        return out

    def vector(self, weights: np.ndarray) -> np.ndarray:
        """(52,) or (N, 52) ARKit weights -> (55,) or (N, 55) FLAME vectors, before clamping."""
        return np.asarray(weights, np.float32) @ self.weight.T + self.bias

    def __call__(self, sample: FaceSample) -> FlameParams:
        return FlameParams.from_vector(self.vector(sample.weights), clamp=True, head_rad=sample.head_rad)


class SourceFlame:
    """The FLAME parameters a source estimated from the frame itself (``FaceSample.flame``, e.g. SMIRK
    on the webcam's frames): the retarget stage's FLAME when no map is used. A sample without them
    (the tracker lost the face) keeps the last ones (neutral before the first)."""

    def __init__(self) -> None:
        self._last = FlameParams.neutral()

    def __call__(self, sample: FaceSample) -> FlameParams:
        if sample.flame is not None:
            self._last = sample.flame
        return self._last
