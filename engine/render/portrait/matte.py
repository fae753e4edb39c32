"""The portrait's background: a person matte made once per photo, carried through the face's warp every frame.

At ``prepare()`` the portrait (the renderer's crop of the photo) is segmented once
(:class:`~facecast.engine.face.segmentation.PersonSegmenter`), its edge refined against the photo
(:func:`~facecast.engine.face.refine.refine_alpha`: hair), stray patches not joined to the face dropped, and the person's own colour under that soft edge
estimated (:func:`~facecast.engine.face.refine.estimate_foreground`). Every frame, :meth:`PortraitMatte.apply`
warps the matte and those colours through the same triangles, from the same rest positions to the same frame
positions, as the renderer warps the photo's colour (pixel centres at +0.5, bilinear samples), then
composites over the background after ``raster.draw``:

- ``transparent``: the alpha channel is the warped matte (straight, not premultiplied), and under a soft edge
  the colour is the person's estimated colour, so the edge shows no fringe of the photo's old background;
- a colour: the person over that colour, alpha 255.

Opaque person pixels keep the renderer's own colour (eyes, mouth interior, stretch blur), so the face is
unchanged. The warp is compiled with numba and runs in the raster's horizontal bands, one thread per band
(:func:`_apply`; nogil, so the web server's encoder runs beside it). At 512x512 on the astronaut it adds 1.5 ms
to a 5.5 ms frame on 2 idle cores (3.2 ms on one thread); with one core kept busy by another process the
frame's p95 goes from 17 to 24 ms (``bench/studio.py`` measures what that does to the browser's latency).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
from numba import njit, prange

from facecast.engine.face.refine import connected_to, estimate_foreground, refine_alpha
from facecast.engine.face.segmentation import PersonSegmenter
from facecast.engine.render.background import Background, check_background
from facecast.engine.render.portrait.mesh import FOLDED, sample_boxes
from facecast.engine.render.portrait.raster import BANDS, _sample  # the colour's own bilinear sample and bands
from facecast.engine.types import PixelFormat

#: A warped matte at or above this is opaque: the renderer's own colour is kept.
OPAQUE = 1.0 - 0.5 / 255.0
#: Triangles by their rest matte: all 0, all 1, or an edge between (only those sample the layers per frame).
CLEAR, SOLID, EDGE = 0, 1, 2


def trivial_cells(alpha: np.ndarray) -> np.ndarray:
    """(H, W) int8: :data:`CLEAR` where the 2x2 pixels from (x, y) to (x+1, y+1) are all 0, :data:`SOLID` where all
    1, :data:`EDGE` otherwise (a bilinear sample anchored there must be computed)."""
    a = np.pad(alpha, ((0, 1), (0, 1)), mode="edge")
    block = np.stack([a[:-1, :-1], a[:-1, 1:], a[1:, :-1], a[1:, 1:]])
    cells = np.full(alpha.shape, EDGE, np.int8)
    cells[block.max(0) <= 0.0] = CLEAR
    cells[block.min(0) >= 1.0] = SOLID
    return cells


def triangle_spans(alpha: np.ndarray, rest: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(T,) int8 :data:`CLEAR`, :data:`SOLID` or :data:`EDGE`: what the rest matte holds in each triangle's
    bounding box in the photo, one pixel wider (what its bilinear samples can reach)."""
    spans = np.full(len(triangles), EDGE, np.int8)
    for t, (x0, x1, y0, y1) in enumerate(sample_boxes(rest, triangles, alpha.shape)):
        box = alpha[y0:y1 + 1, x0:x1 + 1]
        if box.size and box.max() <= 0.0:
            spans[t] = CLEAR
        elif box.size and box.min() >= 1.0:
            spans[t] = SOLID
    return spans


@njit(fastmath=True, cache=True, error_model="numpy")
def _warp_band(layers, trivial, dst, src, tris, kinds, spans, band_lo, band_hi, warped, skip_solid):
    """Warp ``layers`` (H, W, 4) float32 (matte, then the person's R, G, B) into ``warped`` for rows
    ``band_lo..band_hi`` (the colour only where the matte is between 0 and 1): hidden triangles (facing away,
    folded) first, then the rest over them. A triangle whose rest matte is all 0 or all 1 (``spans``:
    :data:`CLEAR`, :data:`SOLID`) only writes that value; the others (:data:`EDGE`) sample the layers, skipping
    the bilinear sample where ``trivial`` (:func:`trivial_cells`) says the four pixels around are all 0 or all 1.
    With ``skip_solid`` (``warped`` holds 1 already), solid triangles facing the camera are not drawn unless a
    hidden triangle that is not solid was (they must cover it)."""
    width = warped.shape[1]
    drew_hidden_edge = False
    for visible in range(2):
        for t in range(len(tris)):
            i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
            ax, ay = dst[i0, 0], dst[i0, 1]
            bx, by = dst[i1, 0], dst[i1, 1]
            cx, cy = dst[i2, 0], dst[i2, 1]
            area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
            if abs(area) < 1e-7:
                continue
            hidden = area < 0 or kinds[t] == FOLDED
            if hidden == (visible == 1):
                continue
            if hidden and spans[t] != SOLID:
                drew_hidden_edge = True
            elif not hidden and skip_solid and not drew_hidden_edge and spans[t] == SOLID:
                continue
            y_lo = max(band_lo, int(math.floor(min(ay, by, cy) - 0.5)))
            y_hi = min(band_hi, int(math.ceil(max(ay, by, cy) - 0.5)))
            x_lo = max(0, int(math.floor(min(ax, bx, cx) - 0.5)))
            x_hi = min(width - 1, int(math.ceil(max(ax, bx, cx) - 0.5)))
            inv = 1.0 / area
            al0, be0, ga0 = (by - cy) * inv, (cx - bx) * inv, (bx * cy - by * cx) * inv
            al1, be1, ga1 = (cy - ay) * inv, (ax - cx) * inv, (cx * ay - cy * ax) * inv
            al2, be2, ga2 = -al0 - al1, -be0 - be1, 1.0 - ga0 - ga1
            for y in range(y_lo, y_hi + 1):
                py = y + 0.5
                # the row's span inside the triangle: each barycentric is linear in px
                left, right = -1e9, 1e9
                empty = False
                for al, r in ((al0, be0 * py + ga0 + 1e-5), (al1, be1 * py + ga1 + 1e-5), (al2, be2 * py + ga2 + 1e-5)):
                    if al > 1e-12:
                        left = max(left, -r / al)
                    elif al < -1e-12:
                        right = min(right, -r / al)
                    elif r < 0:
                        empty = True
                if empty:
                    continue
                xa = max(x_lo, int(math.floor(max(left, -1e6) - 0.5)))
                xb = min(x_hi, int(math.ceil(min(right, 1e6) - 0.5)))
                for x in range(xa, xb + 1):
                    px = x + 0.5
                    w0 = al0 * px + be0 * py + ga0
                    w1 = al1 * px + be1 * py + ga1
                    w2 = 1.0 - w0 - w1
                    if w0 < -1e-5 or w1 < -1e-5 or w2 < -1e-5:
                        continue
                    if spans[t] != EDGE:
                        warped[y, x, 0] = 1.0 if spans[t] == SOLID else 0.0
                        continue
                    sx = w0 * src[i0, 0] + w1 * src[i1, 0] + w2 * src[i2, 0] - 0.5
                    sy = w0 * src[i0, 1] + w1 * src[i1, 1] + w2 * src[i2, 1] - 0.5
                    cell = trivial[min(max(int(sy), 0), trivial.shape[0] - 1), min(max(int(sx), 0), trivial.shape[1] - 1)]
                    a = 0.0 if cell == CLEAR else (1.0 if cell == SOLID else _sample(layers, sx, sy, 0))
                    warped[y, x, 0] = a
                    if 0.0 < a < OPAQUE:  # the person's colour matters only under a soft edge
                        for c in range(1, 4):
                            warped[y, x, c] = _sample(layers, sx, sy, c)


@njit(parallel=True, nogil=True, fastmath=True, cache=True, error_model="numpy")
def _apply(out, channels, layers, trivial, dst, src, tris, kinds, spans, warped, transparent, colour):
    """Warp the matte into ``warped`` and composite ``out`` (H, W, C) uint8 in place: ``transparent`` writes
    the alpha channel (index 3); otherwise the person goes over ``colour`` (3,) float32 RGB. In horizontal
    bands, one thread each (every pixel written by one thread: the same output on every run)."""
    height, width = out.shape[0], out.shape[1]
    for band in prange(BANDS):
        _apply_band(out, channels, layers, trivial, dst, src, tris, kinds, spans, warped, transparent, colour,
                    band * height // BANDS, (band + 1) * height // BANDS - 1, width)


@njit(fastmath=True, cache=True, error_model="numpy")
def _apply_band(out, channels, layers, trivial, dst, src, tris, kinds, spans, warped, transparent, colour, band_lo,
                band_hi, width):
    for y in range(band_lo, band_hi + 1):  # solid triangles facing the camera are then not drawn
        for x in range(width):
            warped[y, x, 0] = 1.0
    _warp_band(layers, trivial, dst, src, tris, kinds, spans, band_lo, band_hi, warped, True)
    for y in range(band_lo, band_hi + 1):
        for x in range(width):
            a = min(max(warped[y, x, 0], 0.0), 1.0)
            if a >= OPAQUE:
                if transparent:
                    out[y, x, 3] = 255
                continue
            if a <= 0.0 and transparent:
                out[y, x, 3] = 0  # (its colour is seen by no one)
                continue
            for c in range(3):
                person = warped[y, x, 1 + c] if a > 0.0 else 0.0
                value = person if transparent else person * a + colour[c] * (1.0 - a)
                out[y, x, channels[c]] = np.uint8(min(max(value + 0.5, 0.0), 255.0))
            if transparent:
                out[y, x, 3] = np.uint8(a * 255.0 + 0.5)
            elif out.shape[2] == 4:
                out[y, x, 3] = 255


class PortraitMatte:
    """A portrait's person matte and its background, applied to each rendered frame.

    Args:
        alpha: (H, W) float32 matte of the rest portrait, 0..1.
        foreground: (H, W, 3) uint8 the person's colour under the matte (RGB).
        rest: (V, 2) float32 the mesh's rest vertices (the photo's positions), pixels.
        triangles: (T, 3) int32 and kinds: (T,) int8, the renderer's mesh.
        background: ``transparent`` or a colour (``keep`` needs no matte).
        pixel_format: the frames' format; ``transparent`` needs an alpha channel.
    """

    def __init__(self, *, alpha: np.ndarray, foreground: np.ndarray, rest: np.ndarray, triangles: np.ndarray,
                 kinds: np.ndarray, background: Background, pixel_format: PixelFormat) -> None:
        if background.keep:
            raise ValueError("background 'keep' needs no matte")
        check_background(background, pixel_format)
        h, w = alpha.shape
        layers = np.empty((h, w, 4), np.float32)
        layers[..., 0] = alpha
        layers[..., 1:] = foreground
        self.alpha = alpha
        self._layers = layers
        self._warped = np.empty_like(layers)  # scratch, reused every frame
        self._src = np.ascontiguousarray(rest, np.float32)
        self._tris = np.ascontiguousarray(triangles, np.int32)
        self._kinds = np.ascontiguousarray(kinds, np.int8)
        self._spans = triangle_spans(alpha, self._src, self._tris)
        self._trivial = trivial_cells(alpha)
        self._channels = np.array([2, 1, 0] if pixel_format is PixelFormat.BGRA8 else [0, 1, 2], np.int64)
        self._transparent = background.transparent
        self._colour = np.asarray(background.rgb or (0, 0, 0), np.float32)

    @classmethod
    def build(cls, rgb: np.ndarray, *, rest: np.ndarray, triangles: np.ndarray, kinds: np.ndarray,
              background: Background, pixel_format: PixelFormat,
              segmenter: Callable[[], PersonSegmenter] = PersonSegmenter) -> "PortraitMatte":
        """Segment the rest portrait ``rgb`` (H, W, 3) uint8 once and build the matte.

        Raises:
            MatteModelError: the segmentation model cannot be had (the message says how to get it).
            ValueError: a background the pixel format cannot carry.
        """
        seg = segmenter()
        try:
            coarse = seg.segment(rgb)
        finally:
            seg.close()
        h, w = coarse.shape
        alpha = connected_to(refine_alpha(rgb, coarse), (w // 2, h // 2))  # the crop is centred on the face
        return cls(alpha=alpha, foreground=estimate_foreground(rgb, alpha), rest=rest, triangles=triangles,
                   kinds=kinds, background=background, pixel_format=pixel_format)

    def apply(self, out: np.ndarray, vertices: np.ndarray) -> None:
        """Composite the frame ``out`` (drawn for the mesh at ``vertices``, (V, 2) pixels) in place."""
        _apply(out, self._channels, self._layers, self._trivial, np.ascontiguousarray(vertices, np.float32), self._src,
               self._tris,
               self._kinds, self._spans, self._warped, self._transparent, self._colour)

    def warp(self, vertices: np.ndarray, layers: Optional[np.ndarray] = None) -> np.ndarray:
        """(H, W, 4) float32: the matte and the person's colour (or other ``layers``, (H, W, 4) float32) warped
        to the mesh at ``vertices``, as :meth:`apply` warps them, every triangle sampled (for tests and tools;
        allocates)."""
        layers = self._layers if layers is None else np.ascontiguousarray(layers, np.float32)
        spans = np.full(len(self._tris), EDGE, np.int8)
        warped = layers.copy()
        trivial = np.full(layers.shape[:2], EDGE, np.int8)
        _warp_band(layers, trivial, np.ascontiguousarray(vertices, np.float32), self._src, self._tris, self._kinds,
                   spans, 0, warped.shape[0] - 1, warped, False)
        return warped
