"""The interface every renderer implements."""

from __future__ import annotations

import abc
from typing import Optional

import numpy as np

from facecast.engine.types import FaceSample, FlameParams, PixelFormat


class RendererUnavailable(RuntimeError):
    """A renderer cannot run here (no GPU, weights or mapping). The message says what to do."""


class Renderer(abc.ABC):
    """Turns one retargeted face sample into pixels.

    Lifecycle: construct (cheap, validates options), ``prepare()`` once per
    session (load models, precompute everything per identity), ``render()`` per
    frame (pure per-frame work), ``close()``.

    Attributes:
        name: registry name (``testpattern``, ``portrait``, ``diffusion``).
        pixel_format: a raw :class:`PixelFormat` of the returned pixels.
        identity: name of the rendered identity ("" when none).
        needs_flame: True when ``render`` needs FLAME parameters (the retarget
            stage then must have an ARKit -> FLAME map).
    """

    name: str = "renderer"
    pixel_format: PixelFormat = PixelFormat.RGB8
    identity: str = ""
    needs_flame: bool = False

    def prepare(self) -> None:
        """Per-session precomputation. Raise :class:`RendererUnavailable` if it cannot run."""

    @abc.abstractmethod
    def render(self, sample: FaceSample, flame: Optional[FlameParams]) -> np.ndarray:
        """Render one frame.

        Returns:
            (H, W, C) uint8, rows top-down, C matching ``pixel_format``. The
            array must be new (or never written again): the publisher sends it
            without copying.
        """

    def close(self) -> None:
        """Release resources. Safe to call more than once."""
