"""A person matte from a coarse segmentation: its edge fitted to the image, and the person's own colours
under the semi-transparent edge.

- :func:`refine_alpha`: the colour guided filter (He, Sun and Tang, "Guided Image Filtering", 2010/2013).
  Within each window the matte is modelled as an affine function of the image's colour, so the edge follows
  the image's own edges (strands of hair against the background) instead of the model's 256x256 grid. The
  result is then stretched so that confident background is exactly 0 and confident person exactly 1.
- :func:`estimate_foreground`: where the matte is between 0 and 1 a pixel mixes the person with the old
  background. Blur-fusion (Forte and Pitie, "Approximate Fast Foreground Colour Estimation", 2021) estimates
  the person's colour there from nearby opaque person pixels and the observed mix, so that the edge shows
  no fringe of the photo's background over a new one.

- :func:`connected_to`: keeps only the part of the matte that touches a point (the face), dropping stray
  patches the model took for a person (a light blob on a wall).

All of it runs once per photo (``prepare``) or once per frame for renderers that draw a new picture every
frame; each is a few box filters.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Guided filter window radius and regulariser, at 512 px (the radius scales with the image's size).
GUIDE_RADIUS_AT_512 = 6
GUIDE_EPS = 1e-3
#: After filtering: matte values at or below :data:`CLEAR_BELOW` become 0, at or above :data:`SOLID_ABOVE` 1,
#: linear in between (the model's own confidence tails are not a hair edge).
CLEAR_BELOW = 0.06
SOLID_ABOVE = 0.94
#: Blur-fusion radii at 512 px: a wide pass for the colour far from the edge, a narrow one for detail.
FUSION_RADII_AT_512 = (40, 3)


def _scaled(radius_at_512: int, shape) -> int:
    return max(1, round(radius_at_512 * max(shape[:2]) / 512))


def _box(a: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(a, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def refine_alpha(rgb: np.ndarray, coarse: np.ndarray, *, radius_px: int | None = None,
                 eps: float = GUIDE_EPS) -> np.ndarray:
    """(H, W) float32 matte in [0, 1]: ``coarse`` (H, W) in [0, 1] refined with (H, W, 3) uint8 ``rgb`` as the
    guide."""
    r = radius_px or _scaled(GUIDE_RADIUS_AT_512, rgb.shape)
    guide = rgb[..., :3].astype(np.float32) / 255.0
    p = coarse.astype(np.float32)
    mean_i = _box(guide, r)
    mean_p = _box(p, r)
    cov_ip = _box(guide * p[..., None], r) - mean_i * mean_p[..., None]
    # per pixel: the 3x3 covariance of the guide's colour (symmetric, regularised) and its covariance with the
    # matte; a = var^-1 cov by the adjugate
    def cov(i: int, j: int) -> np.ndarray:
        return _box(guide[..., i] * guide[..., j], r) - mean_i[..., i] * mean_i[..., j] + (eps if i == j else 0.0)

    rr, rg, rb, gg, gb, bb = cov(0, 0), cov(0, 1), cov(0, 2), cov(1, 1), cov(1, 2), cov(2, 2)
    inv = (gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb, rr * bb - rb * rb, rg * rb - rr * gb,
           rr * gg - rg * rg)  # adjugate: (0,0) (0,1) (0,2) (1,1) (1,2) (2,2)
    det = rr * inv[0] + rg * inv[1] + rb * inv[2]
    c0, c1, c2 = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.stack([inv[0] * c0 + inv[1] * c1 + inv[2] * c2,
                  inv[1] * c0 + inv[3] * c1 + inv[4] * c2,
                  inv[2] * c0 + inv[4] * c1 + inv[5] * c2], axis=-1) / det[..., None]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    q = np.einsum("hwc,hwc->hw", _box(a, r), guide) + _box(b, r)
    return np.clip((q - CLEAR_BELOW) / (SOLID_ABOVE - CLEAR_BELOW), 0.0, 1.0).astype(np.float32)


def estimate_foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the person's colour at every pixel, from (H, W, 3) uint8 ``rgb`` and its (H, W) matte.
    Equal to ``rgb`` where the matte is 1; under a soft edge, the observed colour with the old background
    taken out; where the matte is 0, a smooth continuation of the person's colours (seen by no one at alpha 0,
    but what a consumer that ignores alpha shows)."""
    image = rgb[..., :3].astype(np.float32) / 255.0
    a2 = alpha.astype(np.float32)
    a = a2[..., None]
    fg, bg = image, image
    for radius in FUSION_RADII_AT_512:
        r = _scaled(radius, rgb.shape)
        weight_fg = _box(a2, r)[..., None]  # (cv2 drops a single channel's axis)
        weight_bg = _box(1.0 - a2, r)[..., None]
        blur_fg = _box(fg * a, r) / np.maximum(weight_fg, 1e-5)
        blur_bg = _box(bg * (1.0 - a), r) / np.maximum(weight_bg, 1e-5)
        residual = image - a * blur_fg - (1.0 - a) * blur_bg
        fg = np.clip(blur_fg + a * residual, 0.0, 1.0)
        bg = np.clip(blur_bg + (1.0 - a) * residual, 0.0, 1.0)
    opaque = a >= 1.0
    fg = np.where(opaque, image, fg)
    return np.round(fg * 255.0).astype(np.uint8)


def connected_to(alpha: np.ndarray, seed_xy: tuple[int, int]) -> np.ndarray:
    """``alpha`` without the regions that are not joined to ``seed_xy``: the region of the matte over one half
    that holds the seed, grown by the guided filter's reach (its soft edge), is kept; the rest is set to 0.
    Unchanged when the seed is not in the person (nothing to anchor to)."""
    h, w = alpha.shape
    x, y = min(max(int(seed_xy[0]), 0), w - 1), min(max(int(seed_xy[1]), 0), h - 1)
    count, labels = cv2.connectedComponents((alpha > 0.5).astype(np.uint8), connectivity=8)
    if labels[y, x] == 0:
        return alpha
    reach = 2 * _scaled(GUIDE_RADIUS_AT_512, alpha.shape) + 1
    keep = cv2.dilate((labels == labels[y, x]).astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    return np.where(keep > 0, alpha, 0.0).astype(np.float32)
