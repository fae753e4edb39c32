"""``facecast calibrate fit-mapping``: fit the ARKit -> FLAME linear map by ridge regression.

Pairs file (``.npz``): ``arkit`` (N, 52) weights in ARKit order and ``flame``
(N, 55) FLAME vectors of the same frames (50 expression, 2 eyelid, 3 jaw); optional
``tracker`` and ``profile`` (whose weights, after which calibration profile), which the map
keeps so that a session can warn when it feeds the map other weights.
Getting pairs: record video of a face making many expressions, then
``facecast calibrate make-pairs`` (:mod:`.pairs`: MediaPipe and SMIRK on every frame).

The ridge penalty is chosen by k-fold cross-validation over a grid; the report
gives the cross-validated RMSE per FLAME block and against predicting the mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.retarget.flame import LinearFlameMap, MappingError
from facecast.engine.types import FLAME_DIM, NUM_ARKIT

LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
MIN_PAIRS = 20


@dataclass(frozen=True)
class MappingFit:
    """A fitted map and how well it generalises.

    Attributes:
        mapping: the fitted map.
        ridge_lambda: the penalty cross-validation chose.
        cv_rmse: (55,) cross-validated RMSE per output.
        baseline_rmse: (55,) RMSE of predicting the training mean (same folds).
        folds: number of folds.
        pairs: number of pairs.
    """

    mapping: LinearFlameMap
    ridge_lambda: float
    cv_rmse: np.ndarray
    baseline_rmse: np.ndarray
    folds: int
    pairs: int

    def summary(self) -> dict:
        blocks = {"expression": slice(0, 50), "eyelid": slice(50, 52), "jaw": slice(52, 55)}
        return {name: {"cv_rmse": float(np.sqrt(np.mean(self.cv_rmse[s] ** 2))),
                       "mean_predictor_rmse": float(np.sqrt(np.mean(self.baseline_rmse[s] ** 2)))}
                for name, s in blocks.items()}


def load_pairs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 52), (N, 55) float64 from a pairs ``.npz``; rows with NaN are dropped.

    Raises:
        MappingError: missing file, wrong keys or shapes, or too few pairs.
    """
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"no pairs file at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = np.asarray(z["arkit"], np.float64), np.asarray(z["flame"], np.float64)
    except (OSError, KeyError, ValueError) as exc:
        raise MappingError(f"cannot read pairs from {path} ({exc}); it needs arrays 'arkit' (N, 52) "
                           "and 'flame' (N, 55)") from None
    if x.ndim != 2 or x.shape[1] != NUM_ARKIT or y.ndim != 2 or y.shape[1] != FLAME_DIM or len(x) != len(y):
        raise MappingError(f"pairs must be arkit (N, 52) and flame (N, 55) with the same N, got {x.shape} and {y.shape}")
    ok = np.isfinite(x).all(1) & np.isfinite(y).all(1)
    x, y = x[ok], y[ok]
    if len(x) < MIN_PAIRS:
        raise MappingError(f"{len(x)} usable pairs in {path}; at least {MIN_PAIRS} are needed")
    return x, y


def pairs_origin(path: Path) -> tuple[Optional[str], Optional[str]]:
    """(tracker, profile) a pairs file records (None for what it does not: files made elsewhere)."""
    with np.load(Path(path), allow_pickle=False) as z:
        return (str(z["tracker"]) if "tracker" in z else None, str(z["profile"]) if "profile" in z else None)


def _ridge(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Weight (55, 52) and bias (55,) minimising |y - x W^T - b|^2 + lam |W|^2 (bias not penalised)."""
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    w = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ yc).T
    return w, my - w @ mx


def fit_mapping(x: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0) -> MappingFit:
    """Ridge fit with the penalty picked by ``folds``-fold cross-validation."""
    n = len(x)
    folds = max(2, min(folds, n // 2))
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, folds)
    best = None
    for lam in LAMBDAS:
        sq = np.zeros(y.shape[1])
        base = np.zeros(y.shape[1])
        for k in range(folds):
            test = parts[k]
            train = np.concatenate([parts[j] for j in range(folds) if j != k])
            w, b = _ridge(x[train], y[train], lam)
            sq += ((x[test] @ w.T + b - y[test]) ** 2).sum(0)
            base += ((y[train].mean(0) - y[test]) ** 2).sum(0)
        rmse = np.sqrt(sq / n)
        if best is None or rmse.mean() < best[1].mean():
            best = (lam, rmse, np.sqrt(base / n))
    lam, rmse, base = best
    w, b = _ridge(x, y, lam)
    return MappingFit(mapping=LinearFlameMap(w, b), ridge_lambda=lam, cv_rmse=rmse, baseline_rmse=base,
                      folds=folds, pairs=n)
