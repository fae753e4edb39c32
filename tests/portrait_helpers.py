"""Measures of the portrait renderer's frames that more than one test module checks."""

from __future__ import annotations

import numpy as np


def off_arc_px(points: np.ndarray) -> np.ndarray:
    """(N,) how far (pixels, along y) each of a lid chain's points ((N, 2) pixels, corner to corner) lies from the
    arc through its two end points that fits it best (a parabola's sag over the chord, least squares)."""
    v = np.asarray(points, np.float64)
    (x0, y0), (x1, y1) = v[0], v[-1]
    chord = y0 + (v[:, 0] - x0) * (y1 - y0) / (x1 - x0)
    arch = np.clip(1.0 - ((v[:, 0] - (x0 + x1) / 2) / (abs(x1 - x0) / 2)) ** 2, 0.0, 1.0)
    sag = arch @ (v[:, 1] - chord) / (arch @ arch)
    return np.abs(v[:, 1] - chord - sag * arch)
