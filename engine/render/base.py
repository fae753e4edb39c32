"""The interface every renderer implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np

from facecast.engine.render.background import KEEP, Background, parse_background
from facecast.engine.render.diffusion.config import DiffusionConfig
from facecast.engine.types import FaceSample, FlameParams, PixelFormat


class RendererUnavailable(RuntimeError):
    """A renderer cannot run here (no GPU, weights or mapping). The message says what to do."""


@dataclass(frozen=True)
class PortraitOptions:
    """The portrait renderer's options.

    Attributes:
        photo: the photo to animate (a path, or ``astronaut``; None: the astronaut).
        gains: ``.npz`` of per-shape field gains (``facecast calibrate fit-portrait``; None: the shipped ones).
    """

    photo: Optional[str] = None
    gains: Optional[str] = None


@dataclass(frozen=True)
class DiffusionOptions:
    """The diffusion renderer's options.

    Attributes:
        models: the models folder (None: the default, see ``facecast models check``).
        identity: an enrolled identity's name (``facecast enroll``).
        config: sampling options (None: the defaults of
            :class:`~facecast.engine.render.diffusion.config.DiffusionConfig`).
    """

    models: Optional[str] = None
    identity: Optional[str] = None
    config: Optional[DiffusionConfig] = None


@dataclass(frozen=True)
class RenderOptions:
    """What the user asked of the renderer; each renderer takes its own part. Picklable (Ray workers
    build their own renderer from it).

    Attributes:
        width, height: output size, pixels.
        pixel_format: pixel layout of the output.
        portrait: the portrait renderer's options.
        diffusion: the diffusion renderer's options.
        background: what goes behind the person (:mod:`~facecast.engine.render.background`; a string is parsed).
    """

    width: int = 512
    height: int = 512
    pixel_format: PixelFormat = PixelFormat.RGBA8
    portrait: PortraitOptions = PortraitOptions()
    diffusion: DiffusionOptions = DiffusionOptions()
    background: Background = KEEP

    def __post_init__(self) -> None:
        object.__setattr__(self, "pixel_format", PixelFormat(self.pixel_format))
        if isinstance(self.background, str):
            object.__setattr__(self, "background", parse_background(self.background))


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

    def render_batch(self, samples: Sequence[FaceSample], flames: Sequence[Optional[FlameParams]]) -> list[np.ndarray]:
        """Render frames of one shot together (offline). The default renders them one by one;
        a renderer whose frames gain from seeing each other (the diffusion renderer's
        batch-shared attention) overrides it. The frames must not depend on stream history."""
        return [self.render(s, f) for s, f in zip(samples, flames)]

    def drawn_landmarks(self, sample: FaceSample) -> Optional[np.ndarray]:
        """(478, 2) pixels: where the frame for ``sample`` draws MediaPipe's face landmarks, for
        ``facecast eval``'s geometry channel; None (the default) when the renderer cannot say."""
        return None

    def reset(self) -> None:
        """Forget the stream's history (a new shot): the next frame depends on nothing before it.
        The default has none to forget."""

    def close(self) -> None:
        """Release resources. Safe to call more than once."""
