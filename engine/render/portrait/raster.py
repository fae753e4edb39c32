"""The piecewise-affine backward warp, compiled with numba.

For every destination triangle, every pixel inside it gets its barycentric
coordinates, and from them:

- :data:`~.mesh.SKIN`: the same point of the rest triangle in the portrait
  (bilinear sample);
- eyes: the eyeball image under the lids, through the eye's per-frame affine
  map (eye corners + gaze), darkened in the upper lid's shadow, and the lid
  layer (skin with the lash line at its edge) over the top share of the opening
  that the lid covers; the eyeball is never squashed, the lid slides over it;
- :data:`~.mesh.MOUTH`: the mouth interior in layers measured in pixels from
  the lips, so it keeps its size as the jaw opens: upper teeth hanging from the
  upper lip (the portrait's own teeth where it shows them), lower teeth and the
  tongue rising from the lower lip, a shaded cavity between.

Triangles facing away are drawn first, openings next and skin over them. Compiled once per machine (numba
cache); the first call in a process loads or compiles it.
"""

from __future__ import annotations

import math

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from facecast.engine.render.portrait.mesh import EYE_RIGHT, FOLDED, MOUTH, SKIN

#: Mouth interior layout, inter-ocular distances.
UPPER_TEETH_IODS = 0.13
LOWER_TEETH_IODS = 0.07
TONGUE_IODS = 0.1
TONGUE_OUT_EXTRA_IODS = 0.3
TOOTH_WIDTH_IODS = 0.085
LID_SHADOW_IODS = 0.03
CAVITY_RGB = (62.0, 20.0, 24.0)

LASH_IODS = 0.028
#: Opening beyond its rest size over which the eyeball fades to its wide-open image (share of the rest opening).
WIDE_BLEND = 0.25
#: How much darker the hanging lash band gets at its lower edge when the eye is wide open.
WIDE_LASH_DARKEN = 0.4

#: Per-frame parameter vector layout (float32): inter-ocular distance, tongueOut,
#: teeth and tongue colours, mouth width, then per eye (right, left) the share of
#: the opening the lid layer covers and the lid's skin colour.
P_IOD, P_TONGUE, P_TEETH, P_TONGUE_RGB, P_MOUTH_WIDTH, P_LID, P_LID_RGB = 0, 1, 2, 5, 8, 9, 11
NUM_PARAMS = 17


@njit(inline="always", fastmath=True)
def _sample(img, x, y, c):
    """Bilinear sample of channel ``c`` at continuous pixel-centre coordinates."""
    h, w = img.shape[0], img.shape[1]
    x = min(max(x, 0.0), w - 1.001)
    y = min(max(y, 0.0), h - 1.001)
    x0, y0 = int(x), int(y)
    fx, fy = x - x0, y - y0
    a = img[y0, x0, c] * (1 - fx) + img[y0, x0 + 1, c] * fx
    b = img[y0 + 1, x0, c] * (1 - fx) + img[y0 + 1, x0 + 1, c] * fx
    return a * (1 - fy) + b * fy


@njit(inline="always", fastmath=True)
def _smooth(edge0, edge1, x):
    t = min(max((x - edge0) / (edge1 - edge0), 0.0), 1.0)
    return t * t * (3 - 2 * t)


@njit(fastmath=True)
def _mouth_rgb(img, u, v, h, h0, tx, ty, bx, by, mp, rgb):
    iod = mp[P_IOD]
    d_up = v * h
    d_low = (1.0 - v) * h
    centre = max(0.0, 1.0 - (2.0 * u - 1.0) ** 2)
    corner = 0.45 + 0.55 * math.sqrt(centre)
    t_up = max(h0, UPPER_TEETH_IODS * iod * math.sqrt(centre))
    t_low = LOWER_TEETH_IODS * iod * math.sqrt(centre)
    tongue = (TONGUE_IODS + TONGUE_OUT_EXTRA_IODS * mp[P_TONGUE]) * iod * math.sqrt(centre)
    # cavity: darkest in the middle of the opening
    depth = 1.0 - 0.55 * math.sin(math.pi * min(max(v, 0.0), 1.0)) * _smooth(0.0, 0.3 * iod, h)
    for c in range(3):
        rgb[c] = CAVITY_RGB[c] * depth * corner
    if d_low < t_low + tongue:
        # tongue: a dome rising from behind the lower teeth, lit from above
        top = (d_low - t_low) / max(tongue, 1e-3)
        lit = 0.75 + 0.25 * (1.0 - abs(2.0 * u - 1.0)) * (0.6 + 0.4 * top)
        edge = _smooth(t_low + tongue, t_low + tongue - 1.5, d_low)
        for c in range(3):
            rgb[c] = rgb[c] * (1 - edge) + mp[P_TONGUE_RGB + c] * lit * corner * edge
    if d_low < t_low:
        px = u * mp[P_MOUTH_WIDTH] / max(TOOTH_WIDTH_IODS * iod, 1e-3)
        gap = 0.75 if (px - math.floor(px)) < 0.1 else 1.0
        edge = _smooth(t_low, t_low - 1.2, d_low)
        for c in range(3):
            rgb[c] = rgb[c] * (1 - edge) + mp[P_TEETH + c] * 0.8 * gap * corner * edge
    if d_up <= h0:
        # inside the portrait's own opening: its pixels at the same distance below the upper lip
        f = d_up / max(h0, 1e-3)
        sx = tx + f * (bx - tx) - 0.5
        sy = ty + f * (by - ty) - 0.5
        for c in range(3):
            rgb[c] = _sample(img, sx, sy, c)
    elif d_up < t_up:
        edge = _smooth(t_up, t_up - 1.2, d_up)
        px = u * mp[P_MOUTH_WIDTH] / max(TOOTH_WIDTH_IODS * iod * 1.2, 1e-3)
        gap = 0.8 if (px - math.floor(px)) < 0.07 else 1.0
        for c in range(3):
            rgb[c] = rgb[c] * (1 - edge) + mp[P_TEETH + c] * 0.95 * gap * corner * edge


@njit(fastmath=True)
def _lid_rgb(rgb, above, mp, at):
    """Blend the lid layer over ``rgb``: skin ``above`` px over the lid's edge, with
    the lash line along the edge."""
    iod = mp[P_IOD]
    lash = max(LASH_IODS * iod, 1.0)
    skin = 0.9 + 0.1 * min(1.0, above / max(0.08 * iod, 1e-3))
    dark = _smooth(lash, 0.3 * lash, above)
    edge = _smooth(-0.7, 0.7, above)
    for c in range(3):
        lid = mp[at + c] * (skin * (1.0 - dark) + 0.3 * dark)
        rgb[c] = rgb[c] * (1.0 - edge) + lid * edge


@njit(fastmath=True)
def _eye_rgb(px, py, w0, w1, w2, i0, i1, i2, kind, skin_img, eye_img, eye_wide_img, attr_v, attr_h, attr_h0,
             attr_band, attr_top, attr_bottom, eye_affine, mp, rgb, ball):
    """One pixel of an eye opening into ``rgb``: the lash band hanging from the lid's
    edge, then the eyeball (``ball`` is scratch), with a one-pixel blend between
    them, and the lid layer over what the lid covers."""
    m = eye_affine[kind]
    sx = m[0, 0] * px + m[0, 1] * py + m[0, 2] - 0.5
    sy = m[1, 0] * px + m[1, 1] * py + m[1, 2] - 0.5
    v = w0 * attr_v[i0] + w1 * attr_v[i1] + w2 * attr_v[i2]
    h = w0 * attr_h[i0] + w1 * attr_h[i1] + w2 * attr_h[i2]
    h0 = w0 * attr_h0[i0] + w1 * attr_h0[i1] + w2 * attr_h0[i2]
    band = w0 * attr_band[i0] + w1 * attr_band[i1] + w2 * attr_band[i2]
    e = kind - EYE_RIGHT  # 0: the right eye, 1: the left
    cover = mp[P_LID + e]
    below_lid = (v - cover) * h  # px below the lid's edge (negative: under the lid)
    ratio = h * (1.0 - cover) / max(h0, 1e-3)
    wide = min(max((ratio - 1.0) / WIDE_BLEND, 0.0), 1.0)  # 0 at rest, 1 wide open
    to_ball = min(max(below_lid - band + 0.5, 0.0), 1.0)  # 0 in the lash band, 1 on the eyeball
    if to_ball < 1.0:
        # the lash line hangs from the lid's edge: the portrait's own band at the same depth,
        # its lashes drawn darker against the bared eyeball as the lids open wide
        f = min(max(below_lid, 0.0), band) / max(h0, 1e-3)
        tx = w0 * attr_top[i0, 0] + w1 * attr_top[i1, 0] + w2 * attr_top[i2, 0]
        ty = w0 * attr_top[i0, 1] + w1 * attr_top[i1, 1] + w2 * attr_top[i2, 1]
        bx = w0 * attr_bottom[i0, 0] + w1 * attr_bottom[i1, 0] + w2 * attr_bottom[i2, 0]
        by = w0 * attr_bottom[i0, 1] + w1 * attr_bottom[i1, 1] + w2 * attr_bottom[i2, 1]
        lash = wide * _smooth(band, 0.4 * band, below_lid) * WIDE_LASH_DARKEN
        for c in range(3):
            rgb[c] = _sample(skin_img, tx + f * (bx - tx) - 0.5, ty + f * (by - ty) - 0.5, c) * (1.0 - lash)
    if to_ball > 0.0:
        # the lid's shadow deepens as it closes, and falls on newly bared eyeball as it opens
        strength = 0.45 * max(0.0, 1.0 - ratio) + min(0.3, 0.6 * max(0.0, ratio - 1.0))
        shadow = max(LID_SHADOW_IODS * mp[P_IOD], 1e-3)
        shade = 1.0 - strength * math.exp(-max(below_lid - band, 0.0) / shadow)
        for c in range(3):
            ball[c] = _sample(eye_img, sx, sy, c)
            if wide > 0.0:
                ball[c] += wide * (_sample(eye_wide_img, sx, sy, c) - ball[c])
            ball[c] *= shade
            rgb[c] = ball[c] if to_ball >= 1.0 else rgb[c] + to_ball * (ball[c] - rgb[c])
    if cover > 0.0 and below_lid < 0.7:
        _lid_rgb(rgb, -below_lid, mp, P_LID_RGB + 3 * e)


#: Horizontal bands the image is split into; each thread draws whole bands, so
#: every pixel is written by one thread in triangle order: the output is the same
#: on every run (threads drawing whole triangles would race on shared edges).
BANDS = 16


@njit(parallel=True, fastmath=True, cache=True)
def _draw(out, channels, dst, src, tris, kinds, num_openings, skin_img, eye_img, eye_wide_img, attr_u, attr_v, attr_h,
          attr_h0, attr_band, attr_top, attr_bottom, eye_affine, mp):
    height = out.shape[0]
    for band in prange(BANDS):
        band_lo = band * height // BANDS
        band_hi = (band + 1) * height // BANDS - 1
        rgb = np.empty(3, np.float32)
        ball = np.empty(3, np.float32)
        for t_pass in range(3):
            _draw_pass(out, channels, dst, src, tris, kinds, num_openings, t_pass, band_lo, band_hi, rgb, ball,
                       skin_img, eye_img, eye_wide_img, attr_u, attr_v, attr_h, attr_h0, attr_band, attr_top, attr_bottom,
                       eye_affine, mp)


@njit(fastmath=True, cache=True)
def _draw_pass(out, channels, dst, src, tris, kinds, num_openings, t_pass, band_lo, band_hi, rgb, ball, skin_img,
               eye_img, eye_wide_img, attr_u, attr_v, attr_h, attr_h0, attr_band, attr_top, attr_bottom, eye_affine, mp):
    """Pass 0: triangles facing away and folded ones; 1: facing openings; 2: facing skin."""
    width = out.shape[1]
    hidden = t_pass == 0
    first = num_openings if t_pass == 2 else 0
    last = num_openings if t_pass == 1 else len(tris)
    for t in range(first, last):
        i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
        ax, ay = dst[i0, 0], dst[i0, 1]
        bx, by = dst[i1, 0], dst[i1, 1]
        cx, cy = dst[i2, 0], dst[i2, 1]
        y_lo = max(band_lo, int(math.floor(min(ay, by, cy) - 0.5)))
        y_hi = min(band_hi, int(math.ceil(max(ay, by, cy) - 0.5)))
        if y_lo > y_hi:
            continue
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        kind = kinds[t]
        if ((area < 0 or kind == FOLDED) != hidden) or abs(area) < 1e-7:
            continue
        inv = 1.0 / area  # barycentrics come out right for either winding
        x_lo = max(0, int(math.floor(min(ax, bx, cx) - 0.5)))
        x_hi = min(width - 1, int(math.ceil(max(ax, bx, cx) - 0.5)))
        for y in range(y_lo, y_hi + 1):
            py = y + 0.5
            for x in range(x_lo, x_hi + 1):
                px = x + 0.5
                w0 = ((bx - px) * (cy - py) - (by - py) * (cx - px)) * inv
                w1 = ((cx - px) * (ay - py) - (cy - py) * (ax - px)) * inv
                w2 = 1.0 - w0 - w1
                if w0 < -1e-5 or w1 < -1e-5 or w2 < -1e-5:
                    continue
                if kind == SKIN or kind == FOLDED:
                    sx = w0 * src[i0, 0] + w1 * src[i1, 0] + w2 * src[i2, 0] - 0.5
                    sy = w0 * src[i0, 1] + w1 * src[i1, 1] + w2 * src[i2, 1] - 0.5
                    for c in range(3):
                        rgb[c] = _sample(skin_img, sx, sy, c)
                elif kind == MOUTH:
                    u = w0 * attr_u[i0] + w1 * attr_u[i1] + w2 * attr_u[i2]
                    v = w0 * attr_v[i0] + w1 * attr_v[i1] + w2 * attr_v[i2]
                    h = w0 * attr_h[i0] + w1 * attr_h[i1] + w2 * attr_h[i2]
                    h0 = w0 * attr_h0[i0] + w1 * attr_h0[i1] + w2 * attr_h0[i2]
                    tx = w0 * attr_top[i0, 0] + w1 * attr_top[i1, 0] + w2 * attr_top[i2, 0]
                    ty = w0 * attr_top[i0, 1] + w1 * attr_top[i1, 1] + w2 * attr_top[i2, 1]
                    bx_ = w0 * attr_bottom[i0, 0] + w1 * attr_bottom[i1, 0] + w2 * attr_bottom[i2, 0]
                    by_ = w0 * attr_bottom[i0, 1] + w1 * attr_bottom[i1, 1] + w2 * attr_bottom[i2, 1]
                    _mouth_rgb(skin_img, u, v, h, h0, tx, ty, bx_, by_, mp, rgb)
                else:
                    _eye_rgb(px, py, w0, w1, w2, i0, i1, i2, kind, skin_img, eye_img, eye_wide_img, attr_v, attr_h,
                             attr_h0, attr_band, attr_top, attr_bottom, eye_affine, mp, rgb, ball)
                for c in range(3):
                    out[y, x, channels[c]] = np.uint8(min(max(rgb[c] + 0.5, 0.0), 255.0))


class Scene(NamedTuple):
    """Everything the warp reads that is fixed for a session (made once in ``prepare``).

    Attributes:
        channels: (3,) int64 indices of R, G, B in the output's channels.
        src: (V, 2) float32 rest vertex positions, pixels.
        triangles: (T, 3) int64, the openings first (``triangles[:num_openings]``).
        kinds: (T,) int64 triangle kinds of :mod:`.mesh` (SKIN, MOUTH, EYE_RIGHT, EYE_LEFT, FOLDED).
        num_openings: how many triangles are mouth and eye openings.
        skin_img: (H, W, 3) uint8 the photo; eye_img, eye_wide_img: the synthesised eyeballs.
        attr_u, attr_v, attr_h0, attr_band: (V,) float32 opening attributes (across, along, rest
            height, lash band); attr_top, attr_bottom: (V, 2) float32 the opening's rims.
    """

    channels: np.ndarray
    src: np.ndarray
    triangles: np.ndarray
    kinds: np.ndarray
    num_openings: int
    skin_img: np.ndarray
    eye_img: np.ndarray
    eye_wide_img: np.ndarray
    attr_u: np.ndarray
    attr_v: np.ndarray
    attr_h0: np.ndarray
    attr_band: np.ndarray
    attr_top: np.ndarray
    attr_bottom: np.ndarray


def draw(out: np.ndarray, scene: Scene, *, dst: np.ndarray, opening_px: np.ndarray, eye_affine: np.ndarray,
         params: np.ndarray) -> None:
    """Draw one frame into ``out`` ((H, W, C) uint8) in three passes: triangles facing away and the
    folded ones (they show only where nothing facing covers a pixel, e.g. beside a turned cheek), then
    the openings, then the skin. Deterministic.

    Per frame: ``dst`` (V, 2) float32 vertex positions, ``opening_px`` (V,) float32 opening heights,
    ``eye_affine`` (4, 2, 3) float32 eyeball transforms, ``params`` (:data:`NUM_PARAMS`,) float32
    (the ``P_*`` slots: IOD, teeth, tongue, lids, ...)."""
    s = scene
    _draw(out, s.channels, dst, s.src, s.triangles, s.kinds, s.num_openings, s.skin_img, s.eye_img, s.eye_wide_img,
          s.attr_u, s.attr_v, opening_px, s.attr_h0, s.attr_band, s.attr_top, s.attr_bottom, eye_affine, params)
