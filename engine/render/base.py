"""The interface every renderer implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from facecast.engine.types import FaceSample, FlameParams, PixelFormat


class RendererUnavailable(RuntimeError):
    """A renderer cannot run here (no GPU, weights or mapping). The message says what to do."""


@dataclass(frozen=True)
class RenderOptions:
    """What the user asked of the renderer; each renderer takes what applies to it.

    Attributes:
        width, height: output size, pixels.
        pixel_format: pixel layout of the output.
        portrait: photo of the person (a path, or ``astronaut``), for renderers that draw one.
        portrait_gains: ``.npz`` of per-shape field gains for the portrait renderer.
        models: the diffusion models folder (None: the default, see ``facecast models check``).
        identity: an enrolled identity's name (``facecast enroll``), for the diffusion renderer.
        flame_map: the ARKit -> FLAME mapping file the diffusion renderer needs.
        diffusion: the diffusion renderer's sampling options
            (a :class:`~facecast.engine.render.diffusion.config.DiffusionConfig`; None: defaults).
    """

    width: int = 512
    height: int = 512
    pixel_format: PixelFormat = PixelFormat.RGBA8
    portrait: Optional[str] = None
    portrait_gains: Optional[str] = None
    models: Optional[str] = None
    identity: Optional[str] = None
    flame_map: Optional[str] = None
    diffusion: Optional[object] = None


def raw_output_format(renderer: str, *, width: int, height: int, pixel_format: Union[PixelFormat, str],
                      max_side_px: int) -> PixelFormat:
    """Check a raw-pixel renderer's output options; returns the :class:`PixelFormat`.

    Raises:
        ValueError: a format without raw pixels (``none``, ``jpeg``), or a side outside 64..``max_side_px``.
    """
    pixel_format = PixelFormat(pixel_format)
    if pixel_format.channels == 0:
        raise ValueError(f"{renderer} draws raw pixels, not {pixel_format.value}")
    if not (64 <= width <= max_side_px and 64 <= height <= max_side_px):
        raise ValueError(f"size {width}x{height} outside 64..{max_side_px}")
    return pixel_format


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
        expression_shown: share of the requested expression the last frame showed, 0..1 (1: all of it;
            less when a safeguard held it back, as the portrait renderer's fold guard does); None for
            renderers that always show all of it.
    """

    name: str = "renderer"
    pixel_format: PixelFormat = PixelFormat.RGB8
    identity: str = ""
    needs_flame: bool = False
    expression_shown: Optional[float] = None

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
