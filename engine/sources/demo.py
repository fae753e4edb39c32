"""``demo``: a built-in, deterministic, looping expression script.

The script is a pure function of time (:func:`demo_sample_at`), so the same
instant always gives the same weights: blinks, a smile, jaw opening, talk-like
jaw motion, brow raises and a gentle head sway, looping every
:data:`DEMO_PERIOD_S` seconds.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from facecast.engine.sources.base import Emit, Source
from facecast.engine.types import NUM_ARKIT, FaceSample, arkit_index

DEMO_PERIOD_S = 12.0

_I = {n: arkit_index(n) for n in (
    "EyeBlinkLeft", "EyeBlinkRight", "JawOpen", "MouthSmileLeft", "MouthSmileRight",
    "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "MouthFunnel", "MouthClose",
    "CheekSquintLeft", "CheekSquintRight", "EyeSquintLeft", "EyeSquintRight")}


def _bump(t: float, start: float, rise: float, hold: float, fall: float) -> float:
    """0 -> 1 -> 0 envelope: linear rise, hold, linear fall (smoothstepped)."""
    if t < start or t > start + rise + hold + fall:
        return 0.0
    x = t - start
    if x < rise:
        v = x / rise
    elif x < rise + hold:
        v = 1.0
    else:
        v = 1.0 - (x - rise - hold) / fall
    return v * v * (3.0 - 2.0 * v)


def demo_sample_at(t_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (52,) float32 and head (3,) yaw/pitch/roll radians at script time ``t_s``."""
    t = t_s % DEMO_PERIOD_S
    w = np.zeros(NUM_ARKIT, np.float32)
    # Blinks: quick closures at fixed times (150 ms down, 50 ms hold, 120 ms up).
    blink = max(_bump(t, s, 0.09, 0.05, 0.12) for s in (0.8, 3.6, 6.1, 9.4, 11.2))
    w[_I["EyeBlinkLeft"]] = w[_I["EyeBlinkRight"]] = blink
    # Smile from 1.5 s to 4 s, with cheek and eye squint.
    smile = _bump(t, 1.5, 0.5, 1.5, 0.5)
    for n in ("MouthSmileLeft", "MouthSmileRight"):
        w[_I[n]] = 0.8 * smile
    for n in ("CheekSquintLeft", "CheekSquintRight", "EyeSquintLeft", "EyeSquintRight"):
        w[_I[n]] = 0.35 * smile
    # A wide jaw opening (surprise) from 4.5 s with raised brows.
    surprise = _bump(t, 4.5, 0.35, 1.0, 0.5)
    w[_I["JawOpen"]] = 0.7 * surprise
    for n in ("BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight"):
        w[_I[n]] = 0.9 * surprise
    # Talk-like jaw motion from 7 s to 11 s: syllables at ~4-5 Hz.
    talk = _bump(t, 7.0, 0.3, 3.4, 0.3)
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4.3 * t) * np.sin(2 * np.pi * 0.9 * t + 0.4)
    w[_I["JawOpen"]] = max(w[_I["JawOpen"]], 0.45 * talk * syllables)
    w[_I["MouthFunnel"]] = 0.25 * talk * max(0.0, np.sin(2 * np.pi * 1.3 * t))
    # Head sway.
    head = np.array([0.12 * np.sin(2 * np.pi * t / DEMO_PERIOD_S * 2),
                     0.05 * np.sin(2 * np.pi * t / DEMO_PERIOD_S * 3),
                     0.04 * np.sin(2 * np.pi * t / DEMO_PERIOD_S)], np.float32)
    return np.clip(w, 0.0, 1.0), head


class DemoSource(Source):
    """Plays :func:`demo_sample_at` in real time at ``rate_hz`` samples per second."""

    name = "demo"

    def __init__(self, *, rate_hz: float = 60.0) -> None:
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self._period_s = 1.0 / rate_hz

    def run(self, emit: Emit, stop: threading.Event) -> None:
        t0 = time.monotonic()
        next_t = t0
        while not stop.is_set():
            now = time.monotonic()
            weights, head = demo_sample_at(now - t0)
            emit(FaceSample(capture_wall_ns=time.time_ns(), weights=weights, head_rad=head,
                            source=self.name))
            next_t += self._period_s
            if next_t < now:  # fell behind (machine busy): do not burst to catch up
                next_t = now + self._period_s
            stop.wait(max(0.0, next_t - time.monotonic()))
