"""The background step for renderers that draw a new picture every frame (the diffusion renderer).

Such a picture has no mesh to carry a matte made once, so every frame is segmented: the same steps as the
portrait's matte at ``prepare()`` (:class:`~facecast.engine.face.segmentation.PersonSegmenter`, the edge
refined with :func:`~facecast.engine.face.refine.refine_alpha`, the person's colour under it from
:func:`~facecast.engine.face.refine.estimate_foreground`), then the same compositing: an alpha channel for
``transparent``, the person over a colour otherwise. At 512x512 it took 0.1-0.15 s a frame on one core of
the 2-core CI machine (segmentation 20 ms; the edge and the colours, box filters, the rest): small beside a
diffusion frame on a CPU, and a known cost on a GPU machine (the filters run on the CPU).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from facecast.engine.face.refine import connected_to, estimate_foreground, refine_alpha
from facecast.engine.face.segmentation import MatteModelError, PersonSegmenter
from facecast.engine.render.background import Background, check_background
from facecast.engine.render.base import Renderer, RendererUnavailable
from facecast.engine.types import FaceSample, FlameParams, PixelFormat


def composite(pixels: np.ndarray, alpha: np.ndarray, person_rgb: np.ndarray, *, background: Background,
              pixel_format: PixelFormat) -> np.ndarray:
    """A new (H, W, C) uint8 frame: ``pixels`` (in ``pixel_format``) with the (H, W) matte ``alpha`` (0..1)
    applied: the alpha channel and the person's colour under soft edges for ``transparent``, the person over
    the colour otherwise. Opaque pixels keep their colour."""
    out = pixels.copy()
    rgb_index = [2, 1, 0] if pixel_format is PixelFormat.BGRA8 else [0, 1, 2]
    a = alpha[..., None]
    soft = a[..., 0] < 1.0
    if background.transparent:
        out[..., rgb_index] = np.where(soft[..., None], person_rgb, pixels[..., rgb_index])
        out[..., 3] = np.round(alpha * 255.0).astype(np.uint8)
        return out
    mixed = person_rgb * a + np.asarray(background.rgb, np.float32) * (1.0 - a)
    out[..., rgb_index] = np.where(soft[..., None], np.round(mixed).astype(np.uint8), pixels[..., rgb_index])
    if pixel_format.channels == 4:
        out[..., 3] = 255
    return out


class MattedRenderer(Renderer):
    """``inner`` with its background replaced every frame by ``background`` (``transparent`` or a colour).

    Raises:
        ValueError: ``transparent`` for a format without alpha.
        RendererUnavailable: (at ``prepare``) the segmentation model cannot be had; the message says what to do.
    """

    def __init__(self, inner: Renderer, background: Background) -> None:
        if background.keep:
            raise ValueError("background 'keep' needs no matte step")
        self._inner = inner
        self._background = background
        self._segmenter: Optional[PersonSegmenter] = None
        self.name = inner.name
        self.pixel_format = inner.pixel_format
        self.needs_flame = inner.needs_flame
        check_background(background, self.pixel_format)

    @property
    def identity(self) -> str:  # type: ignore[override]
        return self._inner.identity

    @property
    def expression_shown(self) -> Optional[float]:  # type: ignore[override]
        return self._inner.expression_shown

    def prepare(self) -> None:
        self._inner.prepare()
        if self._segmenter is None:
            try:
                self._segmenter = PersonSegmenter()
            except MatteModelError as exc:
                raise RendererUnavailable(str(exc)) from None

    def _matted(self, pixels: np.ndarray) -> np.ndarray:
        rgb = np.ascontiguousarray(self.pixel_format.rgb(pixels))
        h, w = rgb.shape[:2]
        alpha = connected_to(refine_alpha(rgb, self._segmenter.segment(rgb)), (w // 2, h // 2))
        return composite(pixels, alpha, estimate_foreground(rgb, alpha), background=self._background,
                         pixel_format=self.pixel_format)

    def render(self, sample: FaceSample, flame: Optional[FlameParams]) -> np.ndarray:
        if self._segmenter is None:
            self.prepare()
        return self._matted(self._inner.render(sample, flame))

    def render_batch(self, samples: Sequence[FaceSample], flames: Sequence[Optional[FlameParams]]) -> list[np.ndarray]:
        if self._segmenter is None:
            self.prepare()
        return [self._matted(p) for p in self._inner.render_batch(samples, flames)]

    def drawn_landmarks(self, sample: FaceSample) -> Optional[np.ndarray]:
        return self._inner.drawn_landmarks(sample)

    def reset(self) -> None:
        self._inner.reset()

    def close(self) -> None:
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None
        self._inner.close()
