"""Eyeglasses: a dark frame stays on the head while the brows and lids move under it.

The fields move the skin around the eyes, and a frame drawn on that skin moved with it: Grace Hopper's black
browline rim bent into wings over a raised brow and into a zigzag over a lowered one. :func:`find_glasses` finds a
frame in the portrait (the output-sized crop) by two signs together: a bridge across the nose between the eyes (a
band darker than the skin above and below it, on the nose's midline) and a dark rim beside each eye.
The frame's dark pixels become a layer (:class:`Glasses`) drawn over every frame where the photo has them, moved
with the head only; under it the portrait has the frame painted out (:func:`without_glasses`), so the skin that
moves out from under the rim is skin.

Only the frame's dark parts are a layer: a light or clear rim (Grace Hopper's amber lower rims and bridge) is
too close to the skin's colour to be told from it, and moves with the skin as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from facecast.engine.render.portrait.eyes import LUMA
from facecast.engine.render.portrait.mesh import WarpMesh

log = logging.getLogger(__name__)

#: MediaPipe's points on the nose's midline from the forehead (9) to below the bridge (195): the bridge is looked
#: for along this line.
MIDLINE = (9, 195)
#: The bridge is a band along the midline at most this long (inter-ocular distances) ...
BRIDGE_MAX_IODS = 0.15
#: ... set off from this much skin on either side (IODs) ...
BRIDGE_SIDE_IODS = 0.04
#: ... averaged over this width across the nose (IODs) ...
BRIDGE_WIDTH_IODS = 0.1
#: ... darker by at least this share of the skin's luma than the skin on both sides. On the photo set (512 crops,
#: 2026-11-28): Grace Hopper's amber bridge 0.30; the turned Obama's nose, its shaded side across the midline,
#: 0.11; every other photo 0.05 or less.
BRIDGE_MIN_CONTRAST = 0.2
#: ... and by at least this many grey levels: on dark skin a fifth of its luma is a shadow's step (a light frame drawn
#: on obama_dark, skin 48: the dark skin between its light bridge and the nose's light read as a band of 11 levels,
#: and the lids' creases as rims). Grace Hopper's bridge is 45 levels darker than her skin.
BRIDGE_MIN_GREY = 15.0
#: A rim pixel is darker than this share of the skin's median luma ...
DARK_SHARE = 0.6
#: ... outside the eye openings grown by this much (IODs: the iris, pupil and lashes are dark too) ...
EYE_MARGIN_IODS = 0.06
#: ... within this band about the eyes' line: from this far above it to this far below (IODs) and this far
#: either side of the face's middle (the temples' arms run on past the face) ...
ZONE_IODS = (0.45, 0.45, 1.0)
#: ... the first dark run along rays out from each eye's middle, as far as this (IODs), this far apart at their
#: ends (pixels; at least :data:`MIN_RAYS` rays: the rays' count grows with the portrait's size, so a 2048 frame's
#: rim has no gaps between them that a 512 frame's has not) ...
RAY_IODS = 0.75
RAY_SPACING_PX = 1.5
MIN_RAYS = 180
#: ... no longer than this times the median run (a brow touching the rim is cut at the rim's thickness) ...
RIM_RUN_SHARE = 1.5
#: ... where a ray's first dark pixel lies within this (IODs) of the median of its neighbours within :data:`ARC_RAD`,
#: in arcs at least that long ...
RING_TOLERANCE_IODS = 0.04
ARC_RAD = np.radians(22.0)
#: ... where at least this share of each eye's rays meet one (a browline frame's rim covers the top third).
MIN_RAYS_SHARE = 0.25
#: Gaps of up to this angle in an eye's ring are bridged at the ring's radius (:func:`_bridge_gaps`).
GAP_RAD = np.radians(40.0)
#: The layer takes the rim's soft edge this far out from its dark pixels (IODs, at least a pixel: the same share of
#: the face at any output size), and the paint-out as far again.
EDGE_IODS = 0.01
#: Pixels within this reach of the dark rim (IODs) and brighter than this share of the skin's luma are the frame's
#: shine (light on its edge, on the glass at its corners), part of the layer: left to the skin, they rose with a
#: raised brow as white smears over the rim.
SHINE_IODS = 0.04
SHINE_SHARE = 1.2
#: The bridge (between the eyes' inner corners) and the arms (this far past their outer corners, IODs) join the
#: layer where dark and joined to a rim, below this height over the eyes' line (IODs: a brow's tail lies above).
ARMS_PAST_IODS = 0.05
ENDS_ABOVE_IODS = 0.3
#: The frame painted out of the portrait with OpenCV's Telea inpainting over this radius (IODs, at least 3 px).
PAINT_OUT_IODS = 0.03


@dataclass(frozen=True)
class Glasses:
    """A frame's dark parts as a layer over the portrait.

    Attributes:
        box: (x0, y0, x1, y1) of the layer in portrait pixels.
        rgb: (h, w, 3) float32 the photo's pixels there, 0..255.
        alpha: (h, w) float32 the frame's coverage, 0..1 (fractional at its edges).
        bridge_contrast: the bridge's contrast, a share of the skin's luma (:data:`BRIDGE_MIN_CONTRAST`).
    """

    box: tuple[int, int, int, int]
    rgb: np.ndarray
    alpha: np.ndarray
    bridge_contrast: float

    def mask(self, shape_hw: tuple[int, int]) -> np.ndarray:
        """(H, W) float32 the layer's alpha placed in a portrait of ``shape_hw``."""
        out = np.zeros(shape_hw, np.float32)
        x0, y0, x1, y1 = self.box
        out[y0:y1, x0:x1] = self.alpha
        return out


def _luma(image: np.ndarray, iod_px: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image[..., :3].astype(np.float32) @ LUMA.astype(np.float32), (0, 0),
                            max(0.5, 0.008 * iod_px))


def skin_luma(luma: np.ndarray, landmarks: np.ndarray, mesh: WarpMesh) -> float:
    """The median luma inside the face's outline (the mesh's face-oval loop)."""
    import cv2

    inside = np.zeros(luma.shape, np.uint8)
    cv2.fillPoly(inside, [np.round(landmarks[mesh.oval, :2]).astype(np.int32)], 1)
    return float(np.median(luma[inside > 0])) if inside.any() else float(np.median(luma))


def bridge_contrast(luma: np.ndarray, landmarks: np.ndarray, iod_px: float, skin: float) -> float:
    """The strongest dark band across the nose's midline (:data:`MIDLINE`), as a share of ``skin``: the least of how
    much darker it is than the skin just above and just below it. (Only a darker one: the rims looked for are dark,
    and a light frame's bridge on dark skin, with the brows for rims, put the brows on a layer.)"""
    import cv2

    top, bottom = landmarks[MIDLINE[0], :2].astype(np.float64), landmarks[MIDLINE[1], :2].astype(np.float64)
    length = float(np.linalg.norm(bottom - top))
    n = max(int(length), 8)
    down = (bottom - top) / max(length, 1e-6)
    across = np.array([down[1], -down[0]])
    t = np.arange(n) / n * length
    w = np.linspace(-0.5, 0.5, 5) * BRIDGE_WIDTH_IODS * iod_px
    pts = top + t[:, None, None] * down + w[None, :, None] * across
    line = cv2.remap(luma, pts[..., 0].astype(np.float32) - 0.5, pts[..., 1].astype(np.float32) - 0.5,
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).mean(1)
    side = max(2, int(round(BRIDGE_SIDE_IODS * iod_px)))
    widest = max(3, int(round(BRIDGE_MAX_IODS * iod_px)))
    cum = np.concatenate([[0.0], np.cumsum(line)])

    def mean(a, b):
        return (cum[b] - cum[a]) / (b - a)

    best = 0.0
    for i in range(side, n - side - 2):
        above = mean(i - side, i)
        for j in range(i + 2, min(i + widest, n - side) + 1):
            inside, below = mean(i, j), mean(j, j + side)
            best = max(best, min(above - inside, below - inside))
    return best / max(skin, 1.0)


def _rim_mask(luma: np.ndarray, landmarks: np.ndarray, iod_px: float, skin: float, mesh: WarpMesh) -> np.ndarray:
    """(H, W) bool the frame's dark rim about each eye, or all False unless both eyes have one.

    Dark pixels (:data:`DARK_SHARE`) outside the eye openings, within :data:`ZONE_IODS` of the eyes' line; of them,
    along each ray out from each eye's middle (:data:`RAY_SPACING_PX`), the first dark run, no longer than
    :data:`RIM_RUN_SHARE` times the median run (the rim's thickness): the rim is the dark ring nearest the eye all
    round it, and a brow or a fringe of hair lies beyond it (a dark brow touching the rim lengthens the runs above the
    eye, and is cut at the rim's thickness)."""
    import cv2

    dark = (luma < DARK_SHARE * skin).astype(np.uint8)
    grow = 2 * int(round(EYE_MARGIN_IODS * iod_px)) + 1
    outlines = [landmarks[np.concatenate([eye.upper, eye.lower[::-1]]), :2].astype(np.float64)
                for eye in (mesh.eye_right, mesh.eye_left)]
    for outline in outlines:  # the opening's outline rounded to whole pixels (grown by EYE_MARGIN_IODS, set with it)
        opening = np.zeros_like(dark)
        cv2.fillPoly(opening, [np.round(outline).astype(np.int32)], 1)
        dark[cv2.dilate(opening, np.ones((grow, grow), np.uint8)) > 0] = 0
    right, left = landmarks[33, :2].astype(np.float64), landmarks[263, :2].astype(np.float64)
    centre = (right + left) / 2
    along = (left - right) / max(float(np.linalg.norm(left - right)), 1e-6)
    down = np.array([-along[1], along[0]])
    yy, xx = np.mgrid[:luma.shape[0], :luma.shape[1]]
    a = (xx + 0.5 - centre[0]) * along[0] + (yy + 0.5 - centre[1]) * along[1]
    b = (xx + 0.5 - centre[0]) * down[0] + (yy + 0.5 - centre[1]) * down[1]
    above, below, half = (z * iod_px for z in ZONE_IODS)
    dark &= ((np.abs(a) < half) & (b > -above) & (b < below)).astype(np.uint8)
    step = 0.5
    radii = np.arange(0.0, RAY_IODS * iod_px, step)
    rays = max(MIN_RAYS, int(np.ceil(2 * np.pi * RAY_IODS * iod_px / RAY_SPACING_PX)))
    arc, gap = int(round(ARC_RAD / (2 * np.pi) * rays)) | 1, int(round(GAP_RAD / (2 * np.pi) * rays))
    angles = np.linspace(0.0, 2 * np.pi, rays, endpoint=False)
    rims = np.zeros(luma.shape, bool)
    for outline in outlines:
        middle = outline.mean(0)
        dirs = np.stack([np.cos(angles), np.sin(angles)], 1)
        px = middle[0] + radii[None, :] * dirs[:, :1] - 0.5
        py = middle[1] + radii[None, :] * dirs[:, 1:] - 0.5
        hit = cv2.remap(dark.astype(np.float32), px.astype(np.float32), py.astype(np.float32),
                        cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0.5  # (rays, R)
        first = np.where(hit.any(1), hit.argmax(1), -1)
        runs = np.zeros(rays, int)
        for k in np.flatnonzero(first >= 0):
            rest = hit[k, first[k]:]
            runs[k] = int(np.argmin(rest)) if not rest.all() else len(rest)
        found = first >= 0
        # the rim is a smooth ring: a ray whose first dark pixel is well off its neighbours' (a lash or a crease
        # nearer the eye, a brow where the rim has a gap) is not on it, nor is an arc shorter than ARC_RAD
        start = np.where(found, radii[np.maximum(first, 0)], np.nan)
        ring = np.array([np.nanmedian(np.take(start, range(k - arc // 2, k + arc // 2 + 1), mode="wrap"))
                         if found[k] else np.nan for k in range(rays)])
        found &= np.abs(start - ring) <= RING_TOLERANCE_IODS * iod_px
        found = _long_arcs(found, arc)
        if found.mean() < MIN_RAYS_SHARE:
            return np.zeros(luma.shape, bool)
        cap = max(int(np.ceil(RIM_RUN_SHARE * np.median(runs[found]))), 2)
        start_px = np.where(found, radii[np.maximum(first, 0)], np.nan)
        length_px = np.where(found, np.minimum(runs, cap) * step, np.nan)
        # a short gap in the ring (where a brow touching the rim, or a shine on it, threw a ray off) is bridged at
        # the ring's radius: left to the skin, those bits of rim rose with the brow and the rim showed breaks
        start_px, length_px = _bridge_gaps(start_px, gap), _bridge_gaps(length_px, gap)
        # the pixels of each ray's run, drawn as short segments 2 px thick (rays fan out: neighbours leave no gap)
        canvas = np.zeros(luma.shape, np.uint8)
        for k in np.flatnonzero(np.isfinite(start_px)):
            p0 = middle + start_px[k] * dirs[k]
            p1 = middle + (start_px[k] + max(length_px[k] - step, 0.0)) * dirs[k]
            cv2.line(canvas, tuple(int(v) for v in np.floor(p0)), tuple(int(v) for v in np.floor(p1)), 1, 2)
        rims |= (canvas > 0) & (dark > 0)
    # the bridge between the eyes' inner corners and the arms past their outer corners, where dark and joined to a
    # rim: left to the skin, a dark bridge's ends rose with the brows as black notches over the rims
    inner = float(np.abs((landmarks[[133, 362], :2] - centre) @ along).mean())
    outer = float(np.abs((landmarks[[33, 263], :2] - centre) @ along).mean())
    ends = ((np.abs(a) < inner) | (np.abs(a) > outer + ARMS_PAST_IODS * iod_px)) & (b > -ENDS_ABOVE_IODS * iod_px)
    joined = (rims | ((dark > 0) & ends)).astype(np.uint8)
    n, labels = cv2.connectedComponents(joined, connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[rims])] = True
    keep[0] = False
    return rims | keep[labels]


def _bridge_gaps(values: np.ndarray, longest: int) -> np.ndarray:
    """``values`` ((N,) around a circle, NaN where missing) with every run of NaN of at most ``longest`` filled in
    linearly between its two ends; longer runs stay NaN."""
    missing = ~np.isfinite(values)
    if missing.all() or not missing.any():
        return values.copy()
    out = values.copy()
    n = len(values)
    known = np.flatnonzero(~missing)
    for a, b in zip(known, np.roll(known, -1)):
        gap = (b - a - 1) % n
        if 0 < gap <= longest:
            for step in range(1, gap + 1):
                out[(a + step) % n] = values[a] + (values[b] - values[a]) * step / (gap + 1)
    return out


def _long_arcs(on: np.ndarray, shortest: int) -> np.ndarray:
    """``on`` ((N,) bool, around a circle) with every run of True shorter than ``shortest`` set False."""
    if on.all() or not on.any():
        return on.copy()
    shift = int(np.argmin(on))  # start the walk at a False, so no run wraps
    rolled = np.roll(on, -shift)
    out = np.zeros_like(rolled)
    k = 0
    while k < len(rolled):
        if rolled[k]:
            j = k
            while j < len(rolled) and rolled[j]:
                j += 1
            out[k:j] = (j - k) >= shortest
            k = j
        else:
            k += 1
    return np.roll(out, shift)


def find_glasses(image: np.ndarray, landmarks: np.ndarray, iod_px: float, *, mesh: WarpMesh) -> Optional[Glasses]:
    """The frame in ``image`` ((H, W, 3) uint8, the portrait), or None where it shows no glasses (module doc).

    ``landmarks`` (478, 2+) MediaPipe's points in ``image`` pixels; ``mesh`` their warp mesh (its face oval and
    eye openings: the openings are no part of the frame)."""
    import cv2

    luma = _luma(image, iod_px)
    skin = skin_luma(luma, landmarks, mesh)
    contrast = bridge_contrast(luma, landmarks, iod_px, skin)
    if contrast < BRIDGE_MIN_CONTRAST or contrast * skin < BRIDGE_MIN_GREY:
        return None
    rims = _rim_mask(luma, landmarks, iod_px, skin, mesh)
    if not rims.any():
        log.info("portrait: a band across the nose (%.2f of the skin's luma) but no dark rims: no glasses layer",
                 contrast)
        return None
    sharp = image[..., :3].astype(np.float32) @ LUMA.astype(np.float32)
    frame_luma = float(np.median(sharp[rims]))
    edge = 2 * max(1, int(round(EDGE_IODS * iod_px))) + 1
    near = cv2.dilate(rims.astype(np.uint8), np.ones((edge, edge), np.uint8)) > 0
    alpha = np.clip((skin - sharp) / max(skin - frame_luma, 1.0), 0.0, 1.0) * near
    alpha[rims] = np.maximum(alpha[rims], np.clip((DARK_SHARE * skin - sharp[rims]) / max(skin * 0.1, 1.0) + 0.5,
                                                  0.0, 1.0))
    # the frame's shine: light on its edge and on the glass at its corners, brighter than any skin there
    reach = 2 * int(round(SHINE_IODS * iod_px)) + 1
    beside = cv2.dilate(rims.astype(np.uint8), np.ones((reach, reach), np.uint8)) > 0
    shine = np.clip((sharp - SHINE_SHARE * skin) / max(0.1 * skin, 1.0), 0.0, 1.0) * beside
    alpha = np.maximum(alpha, shine)
    ys, xs = np.nonzero(alpha > 0)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    return Glasses(box=(x0, y0, x1, y1), rgb=image[y0:y1, x0:x1, :3].astype(np.float32),
                   alpha=alpha[y0:y1, x0:x1].astype(np.float32), bridge_contrast=contrast)


def without_glasses(image: np.ndarray, glasses: Glasses, iod_px: float) -> np.ndarray:
    """``image`` ((H, W, 3) uint8) with the frame's layer painted out from the skin around it."""
    import cv2

    mask = (glasses.mask(image.shape[:2]) > 0.02).astype(np.uint8)
    edge = 2 * max(1, int(round(EDGE_IODS * iod_px))) + 1
    mask = cv2.dilate(mask, np.ones((edge, edge), np.uint8))
    radius = max(3.0, PAINT_OUT_IODS * iod_px)
    return cv2.inpaint(np.ascontiguousarray(image[..., :3]), mask, radius, cv2.INPAINT_TELEA)


def composite(out: np.ndarray, glasses: Glasses, channels: np.ndarray, *, affine: Optional[np.ndarray] = None
              ) -> None:
    """Draw ``glasses`` over ``out`` ((H, W, C) uint8, in place; ``channels`` the indices of R, G, B in it),
    moved by ``affine`` ((2, 3), portrait pixels to portrait pixels: the head's motion), or where the photo has it."""
    import cv2

    x0, y0, x1, y1 = glasses.box
    rgb, alpha = glasses.rgb, glasses.alpha
    if affine is not None:
        h, w = out.shape[:2]
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
        moved = corners @ affine[:, :2].T + affine[:, 2]
        nx0, ny0 = (int(max(0, np.floor(v) - 1)) for v in moved.min(0))
        nx1, ny1 = int(min(w, np.ceil(moved[:, 0].max()) + 1)), int(min(h, np.ceil(moved[:, 1].max()) + 1))
        if nx1 <= nx0 or ny1 <= ny0:
            return
        # the layer's pixel (u, v) has its centre at (x0 + u + 0.5, y0 + v + 0.5) in the portrait; it moves to
        # A p + t there, which is pixel (i, j) = A p + t - 0.5 - (nx0, ny0) of the new box
        m = affine.astype(np.float64).copy()
        m[:, 2] = (m[:, 2] + m[:, :2] @ np.array([x0 + 0.5, y0 + 0.5]) - 0.5
                   - np.array([nx0, ny0], np.float64))
        size = (nx1 - nx0, ny1 - ny0)
        rgb = cv2.warpAffine(rgb, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        alpha = cv2.warpAffine(alpha, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        x0, y0, x1, y1 = nx0, ny0, nx1, ny1
    region = out[y0:y1, x0:x1][..., channels].astype(np.float32)
    a = alpha[..., None]
    out[y0:y1, x0:x1, channels] = np.clip(region + a * (rgb - region) + 0.5, 0, 255).astype(np.uint8)
