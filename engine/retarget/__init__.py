"""Retargeting: the stage between a source's raw samples and the renderer.

A :class:`Retargeter` applies a fixed chain of per-sample steps (calibration
offsets, curves, easing to neutral, filters; each a callable ``FaceSample ->
FaceSample`` built once per session, see ``steps.py``) and, when a renderer
needs FLAME parameters, the ARKit -> FLAME map. Everything here runs on the
per-frame path, so steps must do no setup work in ``__call__``.

- ``profile.py``: calibration profiles (TOML) and where they are stored;
- ``filters.py``: the One Euro filter and its lag/jitter trade-off;
- ``steps.py``: the steps a profile turns into.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from facecast.engine.types import FaceSample, FlameParams

Step = Callable[[FaceSample], FaceSample]
FlameMap = Callable[[FaceSample], FlameParams]


class Retargeter:
    """Runs ``steps`` in order, then ``flame_map`` if given.

    Args:
        steps: per-sample transforms, applied in order.
        flame_map: ARKit -> FLAME conversion; None when the renderer needs no FLAME.
    """

    def __init__(self, *, steps: Sequence[Step] = (), flame_map: Optional[FlameMap] = None) -> None:
        self._steps = tuple(steps)
        self._flame_map = flame_map

    def __call__(self, sample: FaceSample) -> tuple[FaceSample, Optional[FlameParams]]:
        for step in self._steps:
            sample = step(sample)
        flame = self._flame_map(sample) if self._flame_map is not None else None
        return sample, flame


__all__ = ["Retargeter", "Step", "FlameMap"]
