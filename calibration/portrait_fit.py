"""``facecast calibrate fit-portrait``: per-shape gains of the portrait renderer's
hand-authored fields, fitted in closed loop.

For each shape, candidate gains (bounded to stay near the hand-authored field,
:data:`GAIN_CANDIDATES`) are tried from small to large; each is rendered as a
0 -> 1 sweep, re-tracked with MediaPipe, and accepted only if

- the fold guard leaves the shape at full weight untouched (no folds),
- dlib's identity distance at full weight stays <= :data:`MAX_IDENTITY`,
- the response is monotone (Spearman rho >= 0.9).

The smallest gain whose measured range reaches :data:`TARGET_RANGE` wins;
otherwise the accepted gain with the largest range; otherwise 1. Nothing else
about the field changes, so a fit cannot invent a grotesque face to raise a score.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np

from facecast.calibration.eval.fidelity import DlibIdentity, KEY_SHAPES, spearman
from facecast.engine.face.tracker import FaceTracker
from facecast.engine.types import FaceSample, NUM_ARKIT, arkit_index


GAIN_CANDIDATES = (0.7, 0.85, 1.0, 1.2, 1.45, 1.75)
TARGET_RANGE = 0.35
MAX_IDENTITY = 0.4
SWEEP = np.linspace(0.0, 1.0, 6)


@dataclass(frozen=True)
class ShapeFit:
    shape: str
    gain: float
    range: float
    rho: float
    identity: float
    reason: str


def _measure(renderer, tracker, embedder, reference, k: int) -> tuple[float, float, float, bool]:
    """(measured range, Spearman rho, identity distance at full weight, unfolded at full weight)
    of shape ``k`` swept over :data:`SWEEP`."""
    measured, frame, tracked = [], None, None
    for x in SWEEP:
        w = np.zeros(NUM_ARKIT, np.float32)
        w[k] = x
        frame = np.ascontiguousarray(renderer.render(FaceSample(capture_wall_ns=0, weights=w))[..., :3])
        tracked = tracker.track(frame)
        measured.append(tracked.weights[k] if tracked is not None else np.nan)
    m = np.array(measured)
    unfolded = renderer.pose(FaceSample(capture_wall_ns=0, weights=w)).scale == 1.0
    ident = 0.0
    if embedder is not None:
        e = embedder.embed(frame, None if tracked is None else tracked.landmarks)
        ident = embedder.distance(e, reference) if e is not None else np.inf
    rng = float(np.nanmax(m) - np.nanmin(m)) if np.isfinite(m).any() else 0.0
    return rng, spearman(SWEEP, m), ident, unfolded


def fit_gains(renderer, portrait_rgb: np.ndarray, *, shapes: tuple[str, ...] = KEY_SHAPES,
              identity: bool = True, progress: bool = True) -> tuple[np.ndarray, list[ShapeFit]]:
    """(52,) gains (the shipped ones for shapes not fitted) and one :class:`ShapeFit`
    per fitted shape, for a portrait renderer prepared with all gains at 1."""

    tracker = FaceTracker()
    embedder = DlibIdentity() if identity else None
    reference = embedder.embed(portrait_rgb) if embedder else None
    from facecast.engine.render.portrait.gains import DEFAULT_GAINS  # numba: compiled on first use

    gains = DEFAULT_GAINS.copy()  # shapes not fitted keep the shipped gains
    fits = []
    try:
        for i, name in enumerate(shapes):
            k = arkit_index(name)
            best: Optional[ShapeFit] = None
            chosen: Optional[ShapeFit] = None
            for g in GAIN_CANDIDATES:
                renderer.deformer.set_gain(k, g)
                rng, rho, ident, unfolded = _measure(renderer, tracker, embedder, reference, k)
                ok = unfolded and ident <= MAX_IDENTITY and np.isfinite(rho) and rho >= 0.9
                if not ok:
                    continue
                fit = ShapeFit(name, g, rng, rho, ident, "reaches the target range")
                if rng >= TARGET_RANGE:
                    chosen = fit
                    break
                if best is None or rng > best.range:
                    best = fit
            if chosen is None:
                chosen = (ShapeFit(name, best.gain, best.range, best.rho, best.identity, "largest range allowed")
                          if best else ShapeFit(name, 1.0, float("nan"), float("nan"), float("nan"),
                                                "no gain passed the constraints"))
            renderer.deformer.set_gain(k, chosen.gain)
            gains[k] = chosen.gain
            fits.append(chosen)
            if progress:
                sys.stderr.write(f"\r  fitted {i + 1}/{len(shapes)} shapes")
                sys.stderr.flush()
    finally:
        tracker.close()
        if embedder is not None:
            embedder.close()
        if progress:
            sys.stderr.write("\n")
    return gains, fits
