"""Realism measures of the portrait renderer (issue 17): aliasing, streaks, neutralisation, close-ups.

What each measure looks at, and its goal:

- **aliasing**: a half-open mouth (jawOpen 0.5), a blink (both eyes) and eyeWide (both eyes) drawn at
  512x512 and at 2048x2048 box-filtered (4x4 mean) to 512x512: the 4x supersampled picture is the
  reference. In the mouth region and the eye regions the absolute difference of luma (grey levels,
  0-255) has a mean <= :data:`GOAL_ALIAS_MEAN` and a p99 <= :data:`GOAL_ALIAS_P99`. The photo's own
  expression measured the same way is the control: what the photo's resampling alone costs.
- **streaks**: in the upper lids' skin (blink: from the lash line up to the brow) and in the lips and the
  skin below them toward the chin (mouthFunnel, mouthPucker, jawOpen, each at weight 1), the openings
  left out (their content is synthesised, and an open eye's iris is no lid skin), the
  ratio of vertical-streak energy (the Gaussian second derivative across x: variation along x, smooth
  along y) to horizontal-streak energy (across y), divided by the same ratio of the same region in the
  photo's own frame, is <= :data:`GOAL_STREAK_RATIO`. Judged one way: only texture that has turned *more*
  vertical fails (a stretched lid or lip); a reading below 1 is reported, not judged.
- **neutralisation**: FaceLandmarker re-tracks the frame of all-zero weights (mouthSmileLeft/Right
  <= :data:`GOAL_NEUTRAL_SMILE`) and of the ``sadness`` preset (mouthFrownLeft above mouthSmileLeft and
  mouthFrownRight above mouthSmileRight), beside the photo's own reading.
- **lid lines** (reported, no goal): how many pixel columns of a wide eye (eyeWide 0.3 and 0.5, both eyes)
  show a second lid line under the drawn one (:func:`second_lid_line_columns`): the photo's lash line left on the
  eyeball while the lash band rose with the lid drew two.
- **close-ups**: :func:`closeup_sheet`, crops of the eyes and the mouth at 2x (nearest neighbour, so the
  pixels themselves show) for a few frames of the standard sequence.

Every region comes from the landmarks the frame itself draws (``PortraitRenderer.drawn_landmarks``), so a
region follows its lids and lips. Weights are absolute (all zeros is the neutral face): a shape at weight 1
has every other weight 0, as in ``facecast eval``'s sweeps.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np

from facecast.engine.face.landmarks import eye_centres
from facecast.engine.types import NUM_ARKIT, FaceSample, PixelFormat, arkit_index

#: Size the measures are defined at, and the supersampling factor of the reference.
SIZE_PX = 512
SUPERSAMPLE = 4
GOAL_ALIAS_MEAN = 3.0
GOAL_ALIAS_P99 = 24.0
GOAL_STREAK_RATIO = 1.5
GOAL_NEUTRAL_SMILE = 0.3

#: Poses of the aliasing measure (ARKit name -> weight, the others 0).
ALIAS_POSES: dict[str, dict[str, float]] = {
    "jawOpen_0.5": {"jawOpen": 0.5},
    "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "eyeWide": {"eyeWideLeft": 1.0, "eyeWideRight": 1.0},
    "tongueOut": {"jawOpen": 0.5, "tongueOut": 1.0},
}
#: Shapes of the streak measure: (region, weights).
STREAK_SHAPES: dict[str, tuple[str, dict[str, float]]] = {
    "blink": ("lids", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    "mouthFunnel": ("lips", {"mouthFunnel": 1.0}),
    "mouthPucker": ("lips", {"mouthPucker": 1.0}),
    "jawOpen": ("lips", {"jawOpen": 1.0}),
}
#: The lid-line count's eyeWide weights, and how deep a valley under the drawn lid's own line counts (grey levels).
LID_LINE_WIDE = (0.3, 0.5)
LID_LINE_DEPTH = 15.0
#: Frames of the close-up sheet: label -> weights (None: the photo's own expression; a string: a preset).
CLOSEUP_FRAMES: dict[str, object] = {
    "photo (rest)": None,
    "neutral (all 0)": {},
    "jawOpen 0.5": {"jawOpen": 0.5},
    "jawOpen 1": {"jawOpen": 1.0},
    "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "eyeWide": {"eyeWideLeft": 1.0, "eyeWideRight": 1.0},
    "mouthFunnel 1": {"mouthFunnel": 1.0},
    "mouthPucker 1": {"mouthPucker": 1.0},
    "tongue out (preset)": "tongue_out",
    "smile (preset)": "smile",
    "sadness (preset)": "sadness",
}

#: Region geometry, inter-ocular distances (102 px at 512x512).
DILATE_IODS = 0.03        # "a few pixels" around the contours of the aliasing regions
LID_BAND_IODS = 0.08      # above MediaPipe's upper eye contour: the lash line, inside the drawn opening
BELOW_EYE_IODS = 0.0      # lid region: this far below the lower eye contour (0: the upper lid's skin)
CHIN_IODS = 0.3           # lip region: this far below the lower lip, toward the chin
STREAK_SIGMA_PX = 1.0     # Gaussian of the second-derivative band (512x512 pixels)
OPENING_MARGIN_PX = 5.0   # streak regions keep this far from an opening's edge: past the band filter's reach
#                            (its kernels reach ceil(4 sigma) = 4 px), so an opening's own edges are not counted

log = logging.getLogger(__name__)

_SMILE = (arkit_index("mouthSmileLeft"), arkit_index("mouthSmileRight"))
_FROWN = (arkit_index("mouthFrownLeft"), arkit_index("mouthFrownRight"))


# --------------------------------------------------------------------------- #
# Pixels
# --------------------------------------------------------------------------- #

def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float64 grey levels 0-255 (Rec. 601 luma) of an (H, W, 3+) RGB image, uint8 or float."""
    a = np.asarray(rgb, np.float64)
    return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]


def box_downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """(H/f, W/f, ...) float64: the mean of every ``factor`` x ``factor`` block of ``image`` ((H, W) or
    (H, W, C), H and W multiples of ``factor``).

    Raises:
        ValueError: a side is not a multiple of ``factor``.
    """
    a = np.asarray(image, np.float64)
    h, w = a.shape[:2]
    if h % factor or w % factor:
        raise ValueError(f"{w}x{h} is not a multiple of {factor}")
    return a.reshape(h // factor, factor, w // factor, factor, *a.shape[2:]).mean(axis=(1, 3))


def aliasing_stats(frame: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> dict:
    """Mean and p99 of |luma(frame) - luma(reference)| (grey levels) over ``mask``.

    ``frame``: (H, W, 3) the picture drawn at the measured size; ``reference``: (H, W, 3) the same picture
    drawn at a multiple of the size and box-filtered down (float is kept); ``mask``: (H, W) bool.
    Returns ``{"mean", "p99", "pixels"}`` (None values for an empty mask)."""
    diff = np.abs(luma(frame) - luma(reference))[np.asarray(mask, bool)]
    if diff.size == 0:
        return {"mean": None, "p99": None, "pixels": 0}
    return {"mean": round(float(diff.mean()), 3), "p99": round(float(np.percentile(diff, 99)), 3),
            "pixels": int(diff.size)}


def _gaussian_kernels(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(g, g'') 1-D kernels: the normalised Gaussian and its second derivative (per px^2)."""
    r = int(math.ceil(4 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    d2 = (x ** 2 / sigma ** 4 - 1 / sigma ** 2) * g
    d2 -= d2.mean()  # no response to a constant
    return g, d2


def streak_energies(rgb: np.ndarray, mask: np.ndarray, *, sigma_px: float = STREAK_SIGMA_PX) -> tuple[float, float]:
    """(E_x, E_y): the mean squared Gaussian second derivative of the luma across x and across y over
    ``mask`` ((H, W) bool), grey levels^2 / px^4, ``sigma_px`` the Gaussian's standard deviation.

    A vertical streak (variation along x, smooth along y) raises E_x; a horizontal one raises E_y. The
    whole image is filtered (reflected at the border) before the mask picks pixels, so the region's edge
    adds no artificial edge."""
    import cv2

    g, d2 = _gaussian_kernels(sigma_px)
    grey = luma(rgb)
    across_x = cv2.sepFilter2D(grey, cv2.CV_64F, d2, g, borderType=cv2.BORDER_REFLECT)
    across_y = cv2.sepFilter2D(grey, cv2.CV_64F, g, d2, borderType=cv2.BORDER_REFLECT)
    m = np.asarray(mask, bool)
    if not m.any():
        return float("nan"), float("nan")
    return float(np.mean(across_x[m] ** 2)), float(np.mean(across_y[m] ** 2))


def streak_ratio(rgb: np.ndarray, mask: np.ndarray, *, sigma_px: float = STREAK_SIGMA_PX) -> float:
    """E_x / E_y of :func:`streak_energies`: > 1 where texture runs vertically (streaks), ~1 for isotropic
    texture. NaN for an empty mask; inf for a region with no variation across y."""
    ex, ey = streak_energies(rgb, mask, sigma_px=sigma_px)
    if not (math.isfinite(ex) and math.isfinite(ey)):
        return float("nan")
    return ex / ey if ey > 0 else float("inf")


# --------------------------------------------------------------------------- #
# Regions from drawn landmarks
# --------------------------------------------------------------------------- #

@lru_cache(maxsize=None)
def contour_chains(name: str) -> tuple[tuple[int, ...], ...]:
    """The landmark chains of one ``FaceLandmarksConnections`` set, each in drawing order: a closed loop
    (the eye, the outer or inner lip) starts and ends at the same landmark; an open chain (a brow edge) at
    its two ends."""
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections

    adjacent: dict[int, list[int]] = {}
    for c in getattr(FaceLandmarksConnections, name):
        adjacent.setdefault(c.start, []).append(c.end)
        adjacent.setdefault(c.end, []).append(c.start)
    chains, seen = [], set()
    for start in sorted(adjacent, key=lambda p: (len(adjacent[p]) != 1, p)):  # open chains from an end
        if start in seen:
            continue
        chain, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in adjacent[cur] if n != prev and (n not in seen or (n == start and len(chain) > 2))]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            chain.append(cur)
            if cur == start:
                break
            seen.add(cur)
        chains.append(tuple(chain))
    return tuple(chains)


def _frame_axes(landmarks: np.ndarray) -> tuple[float, np.ndarray]:
    """(inter-ocular distance in px, (2,) unit vector pointing down the face) of (478, 2+) landmarks."""
    right, left = eye_centres(landmarks)
    axis = left - right
    iod = float(np.linalg.norm(axis))
    axis = axis / max(iod, 1e-9)
    return iod, np.array([-axis[1], axis[0]])


def _fill(shape_hw: tuple[int, int], polygons: Sequence[np.ndarray]) -> np.ndarray:
    """(H, W) bool, True inside any of ``polygons`` ((N, 2) pixel coordinates, pixel centres at +0.5)."""
    import cv2

    mask = np.zeros(shape_hw, np.uint8)
    for poly in polygons:
        pts = np.round((np.asarray(poly, np.float64) - 0.5) * 16).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return mask > 0


def _hull(points: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.convexHull(np.asarray(points, np.float32)).reshape(-1, 2).astype(np.float64)


def _dilate(mask: np.ndarray, radius_px: float) -> np.ndarray:
    import cv2

    r = max(0, int(round(radius_px)))
    if r == 0:
        return mask
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask.astype(np.uint8), disk) > 0


def _lip_loops(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(outer, inner) closed lip contours, (N, 2) px: the loop enclosing the larger area is the outer."""
    loops = [landmarks[list(c), :2] for c in contour_chains("FACE_LANDMARKS_LIPS")]

    def area(p: np.ndarray) -> float:
        x, y = p[:, 0], p[:, 1]
        return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2

    loops.sort(key=area, reverse=True)
    return loops[0], loops[1]


def _eye_loops(landmarks: np.ndarray) -> list[np.ndarray]:
    return [landmarks[list(contour_chains(f"FACE_LANDMARKS_{side}_EYE")[0]), :2] for side in ("RIGHT", "LEFT")]


def mouth_region(landmarks: np.ndarray, shape_hw: tuple[int, int], *, dilate_iods: float = DILATE_IODS) -> np.ndarray:
    """(H, W) bool aliasing region of the mouth: inside the outer lip contour of ``landmarks`` ((478, 2+)
    drawn landmarks, px) (which holds the whole opening), dilated by ``dilate_iods`` inter-ocular distances."""
    iod, _ = _frame_axes(landmarks)
    outer, _ = _lip_loops(landmarks)
    return _dilate(_fill(shape_hw, [outer]), dilate_iods * iod)


def eye_regions(landmarks: np.ndarray, shape_hw: tuple[int, int], *, dilate_iods: float = DILATE_IODS,
                band_iods: float = LID_BAND_IODS) -> np.ndarray:
    """(H, W) bool aliasing region of both eyes: each eye contour of ``landmarks`` ((478, 2+), px) with
    its upper edge raised ``band_iods`` (the drawn opening reaches the lash line above MediaPipe's contour),
    dilated by ``dilate_iods``."""
    iod, down = _frame_axes(landmarks)
    polys = []
    for loop in _eye_loops(landmarks):
        polys.append(_hull(np.concatenate([loop, loop - down * band_iods * iod])))
    return _dilate(_fill(shape_hw, polys), dilate_iods * iod)


def lid_region(landmarks: np.ndarray, shape_hw: tuple[int, int], *, below_iods: float = BELOW_EYE_IODS,
               margin_px: float = OPENING_MARGIN_PX) -> np.ndarray:
    """(H, W) bool streak region of both lids' skin: per eye, the convex hull of the eye contour, the brow's
    lower edge and the eye contour moved ``below_iods`` down, without the eye opening (:func:`eye_regions`
    undilated: up to the lash line) and ``margin_px`` around it (where the band filter still sees the
    opening's edge), from ``landmarks`` ((478, 2+), px). The brow hair is left out.

    With the default ``below_iods`` 0 that is the upper lid's skin from the lash line to the brow: the skin a
    blink stretches. The opening is left out because an open eye and a closed one are different content
    (the iris's vertical edges alone make any blink read less streaky than the open eye), and so is the
    lower lid (it does not stretch, and the horizontal line where the lids meet would offset a streak)."""
    iod, down = _frame_axes(landmarks)
    polys = []
    for side, loop in zip(("RIGHT", "LEFT"), _eye_loops(landmarks)):
        edges = [landmarks[list(c), :2] for c in contour_chains(f"FACE_LANDMARKS_{side}_EYEBROW")]
        lower_brow = max(edges, key=lambda p: float((p @ down).mean()))
        polys.append(_hull(np.concatenate([loop, lower_brow, loop + down * below_iods * iod])))
    return _fill(shape_hw, polys) & ~_dilate(eye_regions(landmarks, shape_hw, dilate_iods=0.0), margin_px)


def lip_region(landmarks: np.ndarray, shape_hw: tuple[int, int], *, chin_iods: float = CHIN_IODS,
               margin_px: float = OPENING_MARGIN_PX) -> np.ndarray:
    """(H, W) bool streak region of the lips: the convex hull of the outer lip contour and of that contour
    moved ``chin_iods`` down (the skin below the lower lip, toward the chin), without the mouth opening
    (inside the inner lip contour: the mouth interior is synthesised, the aliasing measure covers it) and
    ``margin_px`` around it (where the band filter still sees the opening's edge), from ``landmarks``
    ((478, 2+), px)."""
    iod, down = _frame_axes(landmarks)
    outer, inner = _lip_loops(landmarks)
    region = _fill(shape_hw, [_hull(np.concatenate([outer, outer + down * chin_iods * iod]))])
    return region & ~_dilate(_fill(shape_hw, [inner]), margin_px)


# --------------------------------------------------------------------------- #
# Rendering
# --------------------------------------------------------------------------- #

def weights_of(spec, rest_weights: np.ndarray) -> np.ndarray:
    """(52,) float32 weights: ``spec`` None -> ``rest_weights`` (the photo's own), a dict of ARKit names ->
    those weights (the others 0), a string -> that preset of :mod:`facecast.engine.offline.presets`."""
    if spec is None:
        return np.asarray(rest_weights, np.float32).copy()
    if isinstance(spec, str):
        from facecast.engine.offline.presets import preset_weights

        return preset_weights(spec)
    w = np.zeros(NUM_ARKIT, np.float32)
    for name, value in spec.items():
        w[arkit_index(name)] = value
    return w


def render_rgb(renderer, weights: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame of a prepared renderer for ``weights`` (52,)."""
    frame = renderer.render(FaceSample(capture_wall_ns=0, weights=np.asarray(weights, np.float32)))
    return np.ascontiguousarray(renderer.pixel_format.rgb(frame))


def _drawn(renderer, weights: np.ndarray) -> np.ndarray:
    return renderer.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=np.asarray(weights, np.float32)))


def make_renderers(portrait, *, gains=None, size_px: int = SIZE_PX, supersample: int = SUPERSAMPLE,
                   model_path=None) -> tuple:
    """(renderer at ``size_px``, renderer at ``supersample`` x ``size_px``), both prepared, RGB8, of one
    portrait (a photo path or ``astronaut``) and ``gains`` (see :class:`PortraitRenderer`).

    Raises:
        RendererUnavailable: the photo is refused.
    """
    from facecast.engine.render.portrait import PortraitRenderer

    out = []
    for side in (size_px, size_px * supersample):
        r = PortraitRenderer(portrait=portrait, width=side, height=side, pixel_format=PixelFormat.RGB8,
                             gains=gains, model_path=model_path)
        r.prepare()
        out.append(r)
    return tuple(out)


# --------------------------------------------------------------------------- #
# The measures
# --------------------------------------------------------------------------- #

def _alias_passes(stats: dict) -> bool:
    return all(s["mean"] is not None and s["mean"] <= GOAL_ALIAS_MEAN and s["p99"] <= GOAL_ALIAS_P99
               for s in stats.values())


def measure_aliasing(renderer, renderer_big, *, poses: Optional[dict] = None, max_offset_px: float = 1.0) -> dict:
    """The aliasing measure (module doc) with two prepared renderers of one portrait: ``renderer`` at the
    measured size and ``renderer_big`` at an integer multiple of it (the reference, box-filtered down).

    Returns ``{"poses": {name: {"mouth": stats, "eyes": stats, "passes"}}, "control": {...}, "worst_mean",
    "worst_p99", "passes", "goals"}`` with the stats of :func:`aliasing_stats` (grey levels). ``control`` is
    the photo's own expression (not judged).

    The two frames of a pose must be one picture at two sizes: where the big frame's drawn landmarks, scaled
    down, lie more than ``max_offset_px`` from the small frame's, ``notes`` says so (the figures then include
    that motion; each pose's ``landmark_offset_px`` is the largest distance).

    Raises:
        ValueError: the big renderer's size is not a multiple of the small one's.
    """
    poses = ALIAS_POSES if poses is None else poses
    h, w = renderer.rig.image.shape[:2]
    big_h, big_w = renderer_big.rig.image.shape[:2]
    factor = big_w // w
    if big_w != factor * w or big_h != factor * h or factor < 2:
        raise ValueError(f"the reference is {big_w}x{big_h}, not a multiple of {w}x{h}")
    rest = renderer.rest_weights
    notes: list[str] = []
    out: dict = {"poses": {}, "supersample": factor, "size": f"{w}x{h}", "notes": notes}
    for name, spec in [("control", None)] + list(poses.items()):
        weights = weights_of(spec, rest)
        if spec is None:  # the photo at the big size is its own photo's expression
            weights_big = weights_of(None, renderer_big.rest_weights)
        else:
            weights_big = weights
        lm = _drawn(renderer, weights)
        offset = float(np.abs(_drawn(renderer_big, weights_big) / factor - lm).max())
        if offset > max_offset_px:
            note = (f"{name}: the {big_w}x{big_h} frame draws the face up to {offset:.1f} px (at {w}x{h}) away from "
                    f"the {w}x{h} frame: the reference is not the same picture, the figures include that motion")
            log.warning("realism: %s", note)
            notes.append(note)
        frame = render_rgb(renderer, weights)
        reference = box_downsample(render_rgb(renderer_big, weights_big), factor)
        regions = {"mouth": mouth_region(lm, (h, w)), "eyes": eye_regions(lm, (h, w))}
        stats = {k: aliasing_stats(frame, reference, m) for k, m in regions.items()}
        entry = {**stats, "landmark_offset_px": round(offset, 3)}
        if name == "control":
            out["control"] = entry
        else:
            entry["passes"] = _alias_passes(stats)
            out["poses"][name] = entry
    judged = [e[k] for e in out["poses"].values() for k in ("mouth", "eyes")]
    out["worst_mean"] = max((s["mean"] for s in judged if s["mean"] is not None), default=None)
    out["worst_p99"] = max((s["p99"] for s in judged if s["p99"] is not None), default=None)
    out["passes"] = all(e["passes"] for e in out["poses"].values())
    out["goals"] = {"mean": GOAL_ALIAS_MEAN, "p99": GOAL_ALIAS_P99}
    return out


_REGIONS = {"lids": lid_region, "lips": lip_region}


def measure_streaks(renderer, *, shapes: Optional[dict] = None, sigma_px: float = STREAK_SIGMA_PX) -> dict:
    """The streak measure (module doc) with a prepared renderer: per shape the region's E_x / E_y
    (:func:`streak_ratio`) in the shape's frame and in the photo's own frame, each region from that frame's
    drawn landmarks, and ``relative`` = shape / photo, judged ``relative <= GOAL_STREAK_RATIO``.

    Returns ``{"rest": {region: ratio}, "shapes": {name: {"region", "ratio", "rest_ratio", "relative",
    "passes"}}, "worst_relative", "passes", "goal"}``."""
    shapes = STREAK_SHAPES if shapes is None else shapes
    h, w = renderer.rig.image.shape[:2]
    sigma = sigma_px * w / SIZE_PX  # the same band of the face at any size
    rest_w = weights_of(None, renderer.rest_weights)
    rest_img, rest_lm = render_rgb(renderer, rest_w), _drawn(renderer, rest_w)
    margin = OPENING_MARGIN_PX * sigma / STREAK_SIGMA_PX

    def region(name: str, lm: np.ndarray) -> np.ndarray:
        return _REGIONS[name](lm, (h, w), margin_px=margin)

    rest = {k: streak_ratio(rest_img, region(k, rest_lm), sigma_px=sigma) for k in _REGIONS}
    out: dict = {"rest": {k: _round(v) for k, v in rest.items()}, "shapes": {}}
    for name, (kind, spec) in shapes.items():
        weights = weights_of(spec, rest_w)
        ratio = streak_ratio(render_rgb(renderer, weights), region(kind, _drawn(renderer, weights)), sigma_px=sigma)
        relative = ratio / rest[kind]
        out["shapes"][name] = {"region": kind, "ratio": _round(ratio), "rest_ratio": _round(rest[kind]),
                               "relative": _round(relative),
                               "passes": bool(math.isfinite(relative) and relative <= GOAL_STREAK_RATIO)}
    rel = [s["relative"] for s in out["shapes"].values() if s["relative"] is not None]
    out["worst_relative"] = max(rel, default=None)
    out["passes"] = all(s["passes"] for s in out["shapes"].values())
    out["goal"] = GOAL_STREAK_RATIO
    return out


def second_lid_line_columns(renderer, eye_wide: float, *, depth: float = LID_LINE_DEPTH) -> tuple[int, int]:
    """``(lined, columns)``: of the pixel columns of both eyes (a prepared portrait renderer at :data:`SIZE_PX`) with
    the eyes wide at ``eye_wide``, how many show a second lid line under the drawn lid: in the column's luma from
    1.5 px above the lid to 0.7 of the frame's opening, a valley past the lid's own line (the darkest within 3 px of
    it) ``depth`` grey levels or more below the lighter of the light above it and the light below it. Columns
    within 1.1 iris radii of the iris's middle, or within a tenth of the eye's width of its corners, are left out."""
    from facecast.engine.render.portrait.eyes import IRIS

    w = weights_of({"eyeWideLeft": eye_wide, "eyeWideRight": eye_wide}, renderer.rest_weights)
    frame = luma(render_rgb(renderer, w))
    v, drawn = renderer.pose(FaceSample(capture_wall_ns=0, weights=w)).vertices, _drawn(renderer, w)
    lined = columns = 0
    for o, side in ((renderer.mesh.eye_right, "right"), (renderer.mesh.eye_left, "left")):
        centre, rim = IRIS[side]
        radius = np.linalg.norm(drawn[list(rim)] - drawn[centre], axis=1).mean()
        up, lo = v[o.upper][np.argsort(v[o.upper][:, 0])], v[o.lower][np.argsort(v[o.lower][:, 0])]
        xs = np.arange(int(up[:, 0].min()) + 1, int(up[:, 0].max()))
        span = xs.max() - xs.min()
        for x in xs:
            if abs(x + 0.5 - drawn[centre, 0]) < 1.1 * radius or min(x - xs.min(), xs.max() - x) < 0.1 * span:
                continue
            top, bottom = np.interp(x + 0.5, up[:, 0], up[:, 1]), np.interp(x + 0.5, lo[:, 0], lo[:, 1])
            y0 = max(int(round(top - 1.5)), 0)
            column = frame[y0:int(round(top + 0.7 * (bottom - top))) + 1, x]
            if len(column) < 3:
                continue
            columns += 1
            lid = int(np.argmin(column[:int(top - y0 + 3)]))
            lined += any(column[k] <= column[k - 1] and column[k] < column[k + 1]
                         and min(column[lid:k].max(), column[k + 1:].max()) - column[k] >= depth
                         for k in range(lid + 1, len(column) - 1))
    return lined, columns


def measure_lid_lines(renderer) -> dict:
    """:func:`second_lid_line_columns` at each of :data:`LID_LINE_WIDE`: ``{"eyeWide_<w>": {"lined", "columns"},
    "worst_share"}`` (the most lined columns' share of the columns; reported, no goal)."""
    out = {}
    for wide in LID_LINE_WIDE:
        lined, columns = second_lid_line_columns(renderer, wide)
        out[f"eyeWide_{wide:g}"] = {"lined": lined, "columns": columns}
    out["worst_share"] = _round(max(e["lined"] / max(e["columns"], 1) for e in out.values()))
    return out


def _reading(weights: Optional[np.ndarray]) -> Optional[dict]:
    if weights is None:
        return None
    names = ("mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight")
    return {n: round(float(weights[k]), 4) for n, k in zip(names, _SMILE + _FROWN)}


def measure_neutralisation(renderer, tracker=None) -> dict:
    """Closed-loop readback (FaceLandmarker on the rendered frame) of the photo's own expression, of all-zero
    weights and of the ``sadness`` preset, with a prepared renderer; ``tracker`` a
    :class:`~facecast.engine.face.tracker.FaceTracker` (one is made and closed when None).

    Returns ``{"readback": {"photo"|"zero"|"sadness": {mouthSmileLeft, mouthSmileRight, mouthFrownLeft,
    mouthFrownRight} or None (no face found)}, "zero_smile_max", "passes": {"zero_smile", "sadness_frown"},
    "passes_all", "goal_zero_smile"}``: all zeros reads both smiles <= :data:`GOAL_NEUTRAL_SMILE`; sadness
    reads each side's frown above the same side's smile."""
    from facecast.engine.face.tracker import FaceTracker

    own = tracker is None
    tracker = FaceTracker() if own else tracker
    try:
        read = {}
        for name, spec in (("photo", None), ("zero", {}), ("sadness", "sadness")):
            got = tracker.track(render_rgb(renderer, weights_of(spec, renderer.rest_weights)), landmarks=False)
            read[name] = _reading(None if got is None else got.weights)
    finally:
        if own:
            tracker.close()
    zero, sad = read["zero"], read["sadness"]
    zero_smile = None if zero is None else max(zero["mouthSmileLeft"], zero["mouthSmileRight"])
    passes = {
        "zero_smile": bool(zero_smile is not None and zero_smile <= GOAL_NEUTRAL_SMILE),
        "sadness_frown": bool(sad is not None and sad["mouthFrownLeft"] > sad["mouthSmileLeft"]
                              and sad["mouthFrownRight"] > sad["mouthSmileRight"]),
    }
    return {"readback": read, "zero_smile_max": zero_smile, "passes": passes, "passes_all": all(passes.values()),
            "goal_zero_smile": GOAL_NEUTRAL_SMILE}


def measure(renderer, renderer_big, *, tracker=None) -> dict:
    """The three judged measures (:func:`measure_aliasing`, :func:`measure_streaks`, :func:`measure_neutralisation`)
    and the lid lines (:func:`measure_lid_lines`) as one JSON-ready dict, with ``passes`` per judged measure and
    ``passes`` overall."""
    aliasing = measure_aliasing(renderer, renderer_big)
    streaks = measure_streaks(renderer)
    neutral = measure_neutralisation(renderer, tracker)
    return {"aliasing": aliasing, "streaks": streaks, "neutralisation": neutral,
            "lid_lines": measure_lid_lines(renderer),
            "passes": {"aliasing": aliasing["passes"], "streaks": streaks["passes"],
                       "neutralisation": neutral["passes_all"]},
            "passes_all": bool(aliasing["passes"] and streaks["passes"] and neutral["passes_all"])}


def summary_row(realism: dict) -> dict:
    """The compact figures of :func:`measure`'s dict for a table of photos: the worst aliasing mean and p99,
    the worst streak ratio (shape / photo), the zero-weights smile readback, the lid lines' worst share (None when
    not measured), and what passes."""
    return {"aliasing_worst_mean": realism["aliasing"]["worst_mean"],
            "aliasing_worst_p99": realism["aliasing"]["worst_p99"],
            "streak_worst": realism["streaks"]["worst_relative"],
            "zero_smile": realism["neutralisation"]["zero_smile_max"],
            "lid_lines": realism.get("lid_lines", {}).get("worst_share"),
            "passes": realism["passes"]}


def summary_lines(realism: dict) -> list[str]:
    """A few printable lines of :func:`measure`'s dict, the goals beside the figures."""
    a, s, n = realism["aliasing"], realism["streaks"], realism["neutralisation"]
    mark = lambda ok: "ok" if ok else "FAILS"  # noqa: E731
    ctl = a["control"]
    lines = [f"realism, aliasing ({a['size']} vs {a['supersample']}x supersampled; mean <= {GOAL_ALIAS_MEAN:g}, "
             f"p99 <= {GOAL_ALIAS_P99:g} grey levels, mouth/eyes):"]
    for name, e in [*a["poses"].items(), ("photo (control)", ctl)]:
        verdict = f" {mark(e['passes'])}" if "passes" in e else ""
        lines.append(f"  {name:16s} mouth {_fmt(e['mouth']['mean'])} / p99 {_fmt(e['mouth']['p99'])}   "
                     f"eyes {_fmt(e['eyes']['mean'])} / p99 {_fmt(e['eyes']['p99'])}{verdict}")
    lines += [f"  note: {note}" for note in a.get("notes", [])]
    lines.append(f"realism, streaks (vertical / horizontal energy, shape / photo <= {GOAL_STREAK_RATIO:g}): "
                 + ", ".join(f"{k} {_fmt(v['relative'])}{'' if v['passes'] else ' FAILS'}"
                             for k, v in s["shapes"].items()))
    r = n["readback"]

    def smile(key: str) -> str:
        v = r[key]
        if v is None:
            return "no face"
        return (f"smile {v['mouthSmileLeft']:.2f}/{v['mouthSmileRight']:.2f}, "
                f"frown {v['mouthFrownLeft']:.2f}/{v['mouthFrownRight']:.2f}")
    lines.append(f"realism, neutralisation (read back L/R): photo {smile('photo')}; all zeros {smile('zero')} "
                 f"(smile <= {GOAL_NEUTRAL_SMILE:g}: {mark(n['passes']['zero_smile'])}); sadness {smile('sadness')} "
                 f"(frown > smile: {mark(n['passes']['sadness_frown'])})")
    if "lid_lines" in realism:
        lines.append(f"realism, lid lines (columns with a second line {LID_LINE_DEPTH:g}+ grey levels deep under a "
                     "wide eye's lid, reported): " + ", ".join(
                         f"{k} {e['lined']}/{e['columns']}" for k, e in realism["lid_lines"].items()
                         if isinstance(e, dict)))
    return lines


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def _round(x: float) -> Optional[float]:
    return round(float(x), 4) if math.isfinite(x) else None


# --------------------------------------------------------------------------- #
# Close-up sheet
# --------------------------------------------------------------------------- #

#: Close-up crops, inter-ocular distances: (width, height, shift down from the centre).
EYE_CROP_IODS = (0.72, 0.52, -0.1)
MOUTH_CROP_IODS = (1.1, 0.8, 0.14)


def _crop_box(centre: np.ndarray, size: tuple[float, float, float], iod: float, shape_hw) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) integer box of ``size`` (w, h, shift down) IODs about ``centre`` inside the image."""
    w, h = int(round(size[0] * iod)), int(round(size[1] * iod))
    x0 = int(round(centre[0] - w / 2))
    y0 = int(round(centre[1] + size[2] * iod - h / 2))
    x0 = min(max(x0, 0), shape_hw[1] - w)
    y0 = min(max(y0, 0), shape_hw[0] - h)
    return x0, y0, x0 + w, y0 + h


def closeup_boxes(landmarks: np.ndarray, shape_hw: tuple[int, int]) -> dict[str, tuple[int, int, int, int]]:
    """Crop boxes ``{"right eye", "left eye", "mouth"}`` -> (x0, y0, x1, y1) px about the rest landmarks
    ((478, 2+), px), the same for every frame so that motion shows."""
    iod, _ = _frame_axes(landmarks)
    right, left = eye_centres(landmarks)
    outer, _ = _lip_loops(landmarks)
    return {"right eye": _crop_box(right, EYE_CROP_IODS, iod, shape_hw),
            "left eye": _crop_box(left, EYE_CROP_IODS, iod, shape_hw),
            "mouth": _crop_box(outer.mean(0), MOUTH_CROP_IODS, iod, shape_hw)}


def closeup_sheet(renderer, *, frames: Optional[dict] = None, zoom: int = 2, columns: int = 2,
                  title: Optional[str] = None) -> np.ndarray:
    """(H, W, 3) uint8 sheet of close-ups of a prepared ``renderer``: for each frame of ``frames`` (label ->
    weights spec of :func:`weights_of`; default :data:`CLOSEUP_FRAMES`) the right eye, the left eye (image
    left to right: the subject's right eye first) and the mouth, each crop the same for every frame
    (:func:`closeup_boxes`), enlarged ``zoom`` x by nearest neighbour so that every rendered pixel shows as
    a block, labelled; the frames in ``columns`` columns, ``title`` on top."""
    from PIL import Image, ImageDraw

    frames = CLOSEUP_FRAMES if frames is None else frames
    h, w = renderer.rig.image.shape[:2]
    rest_w = weights_of(None, renderer.rest_weights)
    boxes = closeup_boxes(_drawn(renderer, rest_w), (h, w))
    gap, text_h, head_h = 4, 12, 18 if title else 0
    sizes = {k: ((b[2] - b[0]) * zoom, (b[3] - b[1]) * zoom) for k, b in boxes.items()}
    cell_w = sum(s[0] for s in sizes.values()) + gap * len(sizes)
    cell_h = text_h + max(s[1] for s in sizes.values()) + gap
    columns = max(1, min(columns, len(frames)))
    rows = -(-len(frames) // columns)
    sheet = Image.new("RGB", (gap + columns * (cell_w + gap), head_h + gap + rows * cell_h), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((gap, 3), title, fill=(235, 235, 235))
    for i, (label, spec) in enumerate(frames.items()):
        img = render_rgb(renderer, weights_of(spec, rest_w))
        r, c = divmod(i, columns)
        x, y = gap + c * (cell_w + gap), head_h + gap + r * cell_h
        draw.text((x, y), label, fill=(235, 235, 235))
        tx = x + 6 * len(label) + 12
        for name, (x0, y0, x1, y1) in boxes.items():
            tile = Image.fromarray(np.ascontiguousarray(img[y0:y1, x0:x1])).resize(sizes[name], Image.NEAREST)
            if name != "right eye":
                draw.text((tx, y), name, fill=(150, 150, 150))
            sheet.paste(tile, (x, y + text_h))
            x += sizes[name][0] + gap
            tx = x
    return np.asarray(sheet)


def evaluate_portrait(portrait, *, gains=None, model_path=None, title: Optional[str] = None,
                      tracker=None) -> tuple[dict, np.ndarray]:
    """:func:`measure` and :func:`closeup_sheet` of one portrait (a photo path or ``astronaut``) with the
    portrait renderer at :data:`SIZE_PX` (and :data:`SUPERSAMPLE` x for the reference), whatever size a
    caller renders at: the goals are defined there. Returns (the measures' dict, the sheet).

    Raises:
        RendererUnavailable: the photo is refused.
    """
    renderers = make_renderers(portrait, gains=gains, model_path=model_path)
    try:
        return measure(*renderers, tracker=tracker), closeup_sheet(renderers[0], title=title)
    finally:
        for r in renderers:
            r.close()
