"""One Euro filtering of face channels (Casiez, Roussel and Vogel, CHI 2012).

The One Euro filter is a low-pass filter whose cutoff rises with the signal's
speed: at rest it smooths hard (little jitter), in fast motion it opens up
(little lag). Per channel it has three parameters:

- ``min_cutoff_hz``: the cutoff at rest. Lower = less jitter, more lag when a
  motion starts.
- ``beta``: how fast the cutoff rises with speed (per unit/s). Higher = less lag
  in fast motion, more jitter let through during it.
- ``d_cutoff_hz``: the cutoff of the speed estimate itself (1 Hz is usual).

The lag/jitter trade-off: with ``beta = 0`` the filter is a plain first-order
low-pass whose time constant is ``1 / (2 pi min_cutoff_hz)`` (0.16 s at 1 Hz);
blinks and jaw motion need a high ``beta`` (fast onsets), head pose and brows
tolerate a low ``min_cutoff_hz`` (steady, jitter-prone).

This implementation filters all channels of a sample at once (numpy vectors of
parameters), uses the samples' own capture timestamps, and is deterministic.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np


class OneEuroFilter:
    """Vectorised One Euro filter over ``n`` channels.

    Args:
        min_cutoff_hz, beta, d_cutoff_hz: scalars or (n,) arrays, > 0 (beta >= 0).
    """

    def __init__(self, *, min_cutoff_hz, beta, d_cutoff_hz) -> None:
        self._min_cutoff = np.asarray(min_cutoff_hz, np.float64)
        self._beta = np.asarray(beta, np.float64)
        self._d_cutoff = np.asarray(d_cutoff_hz, np.float64)
        if np.any(self._min_cutoff <= 0) or np.any(self._d_cutoff <= 0) or np.any(self._beta < 0):
            raise ValueError("One Euro needs min_cutoff_hz > 0, d_cutoff_hz > 0 and beta >= 0")
        self._x: Optional[np.ndarray] = None
        self._dx: Optional[np.ndarray] = None
        self._t_ns: Optional[int] = None

    @staticmethod
    def _alpha(cutoff_hz: np.ndarray, dt_s: float) -> np.ndarray:
        tau_s = 1.0 / (2.0 * math.pi * cutoff_hz)
        return 1.0 / (1.0 + tau_s / dt_s)

    def reset(self) -> None:
        self._x = self._dx = self._t_ns = None

    def __call__(self, x: np.ndarray, t_ns: int) -> np.ndarray:
        """Filter one sample ``x`` (n,) taken at ``t_ns``; returns a new (n,) float32 array.

        A sample whose time does not advance (duplicate or out of order) is treated
        as 1 ms after the previous one.
        """
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._dx, self._t_ns = x.copy(), np.zeros_like(x), t_ns
            return x.astype(np.float32)
        dt_s = max((t_ns - self._t_ns) / 1e9, 1e-3)
        self._t_ns = max(t_ns, self._t_ns)
        dx = (x - self._x) / dt_s
        a_d = self._alpha(self._d_cutoff, dt_s)
        self._dx = a_d * dx + (1.0 - a_d) * self._dx
        cutoff = self._min_cutoff + self._beta * np.abs(self._dx)
        a = self._alpha(cutoff, dt_s)
        self._x = a * x + (1.0 - a) * self._x
        return self._x.astype(np.float32)
