"""``testpattern``: a picture for wiring up and checking clients, not a face.

It shows, in fixed places that a client can check:
- orientation markers: red at the top-left, green at the top-right, blue at the
  bottom-left corner (a receiver that shows red at the bottom has flipped rows);
- the 52 ARKit weights as bars (left to right in ``ARKIT_NAMES`` order, height
  = weight), over a static gradient;
- the head yaw as a horizontal tick along the top edge.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from facecast.engine.render.base import Renderer, raw_output_format
from facecast.engine.types import NUM_ARKIT, FaceSample, FlameParams, PixelFormat

_RGB = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 230)}


class TestPatternRenderer(Renderer):
    """Draws the test pattern at ``width`` x ``height`` in ``pixel_format``."""

    __test__ = False  # not a pytest class
    name = "testpattern"

    def __init__(self, *, width: int = 512, height: int = 512,
                 pixel_format: PixelFormat = PixelFormat.RGBA8) -> None:
        self.pixel_format = raw_output_format(self.name, width=width, height=height, pixel_format=pixel_format,
                                              max_side_px=8192)
        self._w, self._h = width, height
        self._background: Optional[np.ndarray] = None

    def prepare(self) -> None:
        w, h, c = self._w, self._h, self.pixel_format.channels
        y, x = np.mgrid[0:h, 0:w]
        bg = np.zeros((h, w, 3), np.uint8)
        bg[..., 0] = 30 + 40 * x // w
        bg[..., 1] = 30 + 40 * y // h
        bg[..., 2] = 60
        m = max(8, min(w, h) // 16)
        bg[:m, :m] = _RGB["red"]
        bg[:m, -m:] = _RGB["green"]
        bg[-m:, :m] = _RGB["blue"]
        self._bar_top = m * 2
        self._bar_bottom = h - m * 2
        # Column -> blendshape index (-1 in the gaps and margins).
        col = (x[0] - m) * NUM_ARKIT // max(1, w - 2 * m)
        gap = ((x[0] - m) * NUM_ARKIT % max(1, w - 2 * m)) < (w - 2 * m) // (NUM_ARKIT * 4)
        self._col_shape = np.where((x[0] >= m) & (x[0] < w - m) & ~gap, col, -1)
        self._rows = np.arange(h)[:, None]
        self._marker = m
        if self.pixel_format is PixelFormat.BGRA8:
            bg = bg[..., ::-1]
        if c == 4:
            bg = np.concatenate([bg, np.full((h, w, 1), 255, np.uint8)], axis=2)
        self._background = np.ascontiguousarray(bg)
        self._bar_color = np.array([235, 200, 90, 255][:c] if self.pixel_format is not PixelFormat.BGRA8
                                   else [90, 200, 235, 255], np.uint8)

    def render(self, sample: FaceSample, flame: Optional[FlameParams]) -> np.ndarray:
        if self._background is None:
            self.prepare()
        out = self._background.copy()
        span = self._bar_bottom - self._bar_top
        heights = np.where(self._col_shape >= 0,
                           sample.weights[np.maximum(self._col_shape, 0)] * span, 0.0)
        mask = self._rows >= (self._bar_bottom - heights)[None, :]
        mask &= self._rows < self._bar_bottom
        out[mask] = self._bar_color
        if sample.head_rad is not None:
            m = self._marker
            x = int((0.5 + float(np.clip(sample.head_rad[0], -0.5, 0.5))) * (self._w - 1))
            out[m // 2: m, max(0, x - 2): x + 3, :3] = 255
        return out
