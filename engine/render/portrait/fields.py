"""The expression model: one hand-authored landmark displacement field per ARKit shape.

Fields are written in the *face frame* of the portrait: x from the subject's
right eye to their left eye (image left -> right for an unmirrored photo), y
down the face, unit = the inter-ocular distance (IOD), origin between the eyes.
``Left``/``Right`` in ARKit names are the subject's, so ``...Left`` moves points
with x > 0. :func:`build_basis` turns them into pixels for one portrait.

Shapes with no visible 2D effect of their own (documented, not faked):

- ``jawForward``: the jaw moves toward the camera; in 2D only a slight drop
  and narrowing of the chin remains;
- ``cheekPuff``: shown as a widening of the cheeks, no shading;
- ``tongueOut``: the tongue rises and fills the mouth opening; it never
  passes the lips;
- ``eyeLook*``: move the eyeball under the lids (see :mod:`.deform`), plus the
  small lid motion that goes with looking up or down.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Callable

import numpy as np

from facecast.engine.render.portrait.deform import (CONTACT_GAP_IODS, UNFOLD_BUILD_ITERATIONS, area_thresholds,
                                                    give_back_motion, unfold)
from facecast.engine.face.landmarks import NUM_LANDMARKS, connection_points, eye_centres
from facecast.engine.render.portrait.eyes import brow_lower_edge, brow_points, smoothstep
from facecast.engine.render.portrait.mesh import WarpMesh
from facecast.engine.types import NUM_ARKIT, arkit_index

#: Landmarks in the face mesh (the iris points after them are in no triangle).
NUM_MESH_POINTS = 468
#: Scale of the logistic left/right blend across the midline, IODs (it spans about 4x this each side).
MIDLINE_SCALE_IODS = 0.0125


@dataclass(frozen=True)
class FaceFrame:
    """The portrait's landmarks in face-frame coordinates and named regions.

    Attributes:
        q: (478, 2) face-frame positions (IODs).
        z: (478,) depth in IODs relative to the nose tip (larger is farther).
        origin, x_axis, y_axis: pixels -> face frame.
        iod_px: pixels per IOD.
    """

    q: np.ndarray
    z: np.ndarray
    origin: np.ndarray
    x_axis: np.ndarray
    y_axis: np.ndarray
    iod_px: float
    mesh: WarpMesh

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, mesh: WarpMesh) -> "FaceFrame":
        right, left = eye_centres(landmarks)
        iod = float(np.linalg.norm(left - right))
        x_axis = (left - right) / iod
        y_axis = np.array([-x_axis[1], x_axis[0]])
        origin = (left + right) / 2
        rel = landmarks[:, :2] - origin
        q = np.stack([rel @ x_axis, rel @ y_axis], axis=1) / iod
        z = (landmarks[:, 2] - landmarks[1, 2]) / iod
        return cls(q=q, z=z, origin=origin, x_axis=x_axis, y_axis=y_axis, iod_px=iod, mesh=mesh)

    def to_pixels(self, d: np.ndarray) -> np.ndarray:
        """(..., 2) face-frame displacement -> pixels."""
        return (d[..., :1] * self.x_axis + d[..., 1:] * self.y_axis) * self.iod_px

    def moved(self, d_px: np.ndarray) -> "FaceFrame":
        """The same frame (axes, scale) with its points moved by ``d_px`` ((478, 2) pixels)."""
        d = np.asarray(d_px, np.float64)
        q = self.q + np.stack([d @ self.x_axis, d @ self.y_axis], axis=1) / self.iod_px
        return replace(self, q=q)

    def side(self, sign: int) -> np.ndarray:
        """(478,) weight of the subject's left (sign=+1) or right (-1) half, soft at the midline."""
        return 1.0 / (1.0 + np.exp(-sign * self.q[:, 0] / MIDLINE_SCALE_IODS))

    def near(self, centre: np.ndarray, radius: float) -> np.ndarray:
        """(478,) Gaussian falloff around a face-frame point."""
        return np.exp(-np.sum((self.q - centre) ** 2, axis=1) / (2 * radius ** 2))


def _points(name: str) -> np.ndarray:
    return np.array(sorted(connection_points(name)))


@dataclass(frozen=True)
class Regions:
    """Landmark index sets used by the fields. ``mouth_corners``: all eight of the lips' corners, the inner
    contour's two (``inner_corners``), then the outer contour's two in the same order (``outer_corners``), then the
    rings' four (:data:`OUTER_LIP_CORNERS`)."""

    inner_upper: np.ndarray
    inner_lower: np.ndarray
    outer_upper: np.ndarray
    outer_lower: np.ndarray
    mouth_corners: np.ndarray
    brow_right: np.ndarray
    brow_left: np.ndarray
    lid_upper: dict
    lid_lower: dict
    oval: np.ndarray
    nose: np.ndarray

    @property
    def inner_corners(self) -> np.ndarray:
        return self.mouth_corners[:2]

    @property
    def outer_corners(self) -> np.ndarray:
        return self.mouth_corners[2:4]


def mouth_line_y(frame: FaceFrame, x: np.ndarray) -> np.ndarray:
    """Face-frame y of the line between the lips at each ``x``: the midpoints of
    the inner lip columns, continued flat beyond the corners."""
    o = frame.mesh.mouth
    return _y_along((frame.q[o.upper] + frame.q[o.lower]) / 2, x)


def _y_along(points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y of the polyline through ``points`` ((N, 2), any order along x) at each ``x``, flat beyond its ends."""
    order = np.argsort(points[:, 0])
    return np.interp(x, points[order, 0], points[order, 1])


#: MediaPipe's lip corners outside the inner contour's, one group per side of the mouth (face mesh landmarks): the
#: outer contour's corner, then the corners of the two rings of the lips between the contours.
OUTER_LIP_CORNERS = ((61, 76, 62), (291, 306, 292))


def regions(frame: FaceFrame) -> Regions:
    mesh = frame.mesh
    inner = set(mesh.mouth.upper) | set(mesh.mouth.lower)
    corners = np.array(mesh.mouth.corners)
    outer = np.array(sorted(connection_points("FACE_LANDMARKS_LIPS") - inner))
    # Each inner corner with the side's outer and ring corners (the side whose outer corner is nearer). Taken as the
    # outer points nearest to the inner corners, they were upper or lower lip points on 12 of the set's 17 photos
    # (185, 146), and the rings' corners, which belong to no chain, stayed put while the corners moved: an open jaw
    # tore the lips at the corners into slivers and folds.
    sides = [min(OUTER_LIP_CORNERS, key=lambda g: float(np.linalg.norm(frame.q[g[0]] - frame.q[c]))) for c in corners]
    outer_corners = [g[0] for g in sides]
    ring_corners = [p for g in sides for p in g[1:]]
    outer_rest = np.array([p for p in outer if p not in outer_corners])
    line = mouth_line_y(frame, frame.q[outer_rest, 0])
    return Regions(
        inner_upper=mesh.mouth.upper[1:-1], inner_lower=mesh.mouth.lower[1:-1],
        outer_upper=outer_rest[frame.q[outer_rest, 1] < line],
        outer_lower=outer_rest[frame.q[outer_rest, 1] >= line],
        mouth_corners=np.concatenate([corners, outer_corners, ring_corners]),
        brow_right=brow_points(0), brow_left=brow_points(1),
        lid_upper={-1: mesh.eye_right.upper[1:-1], 1: mesh.eye_left.upper[1:-1]},
        lid_lower={-1: mesh.eye_right.lower[1:-1], 1: mesh.eye_left.lower[1:-1]},
        oval=mesh.oval, nose=_points("FACE_LANDMARKS_NOSE"))


def spread(frame: FaceFrame, drivers: np.ndarray, disp: np.ndarray, *, radius: float,
           mask: np.ndarray | None = None) -> np.ndarray:
    """Extend the displacement ``disp`` ((len(drivers), 2) face frame) of some
    landmarks to their neighbours: inverse-distance blend of the drivers' motion,
    fading with the distance to the nearest driver (Gaussian, ``radius`` IODs).
    ``mask`` ((478,) in [0, 1]) limits which points may follow. Drivers keep
    their own displacement. Returns (478, 2)."""
    out = np.zeros((NUM_LANDMARKS, 2))
    dist = np.linalg.norm(frame.q[:, None, :] - frame.q[drivers][None, :, :], axis=2)  # (478, D)
    w = 1.0 / (dist ** 2 + 1e-4)
    blended = (w @ disp) / w.sum(1, keepdims=True)
    fade = np.exp(-dist.min(1) ** 2 / (2 * radius ** 2))
    if mask is not None:
        fade = fade * mask
    out[:] = blended * fade[:, None]
    out[drivers] = disp
    out[468:] = 0.0
    return out


# --- the fields: name -> f(frame, regions) -> (478, 2) face-frame displacement at weight 1 ---

Field = Callable[[FaceFrame, Regions], np.ndarray]


def _lip_contours(frame: FaceFrame, r: Regions) -> tuple[np.ndarray, ...]:
    """Per landmark, at its x: whether it lies between the mouth's outermost corners, and the y of the inner upper,
    inner lower, outer upper and outer lower lip contours there (each through its own corners, flat beyond them)."""
    q, x = frame.q, frame.q[:, 0]
    corners_x = np.sort(q[r.mouth_corners, 0])

    def contour(points, corners):
        return _y_along(q[np.concatenate([points, corners])], x)

    return ((x > corners_x[0]) & (x < corners_x[-1]), contour(r.inner_upper, r.inner_corners),
            contour(r.inner_lower, r.inner_corners), contour(r.outer_upper, r.outer_corners),
            contour(r.outer_lower, r.outer_corners))


def lower_lip_band(frame: FaceFrame, r: Regions) -> np.ndarray:
    """(478,) 1 for the points of the lower lip (between its inner and outer contour, inside the mouth's
    corners, and not above the upper lip's inner contour), else 0. MediaPipe tracks a pressed or thin lower lip a
    few pixels thick: the jaw must carry all of it, not ramp it by the distance below the mouth line. Where the
    lip lines cross (Biden's closed mouth), the upper lip's own points lie below the lower lip's inner contour;
    carried with the jaw, they stretched an upper-lip triangle across the open mouth as a light line."""
    inside, inner_upper, inner_lower, _, outer_lower = _lip_contours(frame, r)
    y = frame.q[:, 1]
    band = (y >= np.maximum(inner_lower, inner_upper) - 1e-6) & (y <= outer_lower + 1e-6)
    return (inside & band).astype(np.float64)


def upper_lip_band(frame: FaceFrame, r: Regions) -> np.ndarray:
    """(478,) 1 for the points of the upper lip strictly between its outer and inner contours (the rings of lip
    between them), inside the mouth's corners, else 0. Where the lip lines cross (Biden's closed mouth), up to the
    higher of the two inner contours: the lower lip's points there are not the upper lip's."""
    inside, inner_upper, inner_lower, outer_upper, _ = _lip_contours(frame, r)
    y = frame.q[:, 1]
    band = (y > outer_upper + 1e-6) & (y < np.minimum(inner_upper, inner_lower) - 1e-6)
    return (inside & band).astype(np.float64)


#: The jaw (jawOpen, and the shapes built on it): the mouth corners move this share of its drop, and the lips
#: hinge there. Between the corners the lower lip drops along a half ellipse and the upper lip's inner edge
#: curves down into them, so an open mouth is a lens, not a box with straight skin walls at its sides; the
#: skin below the lower lip reaches the full drop this far (IODs) below it, spreading the stretch toward the
#: chin (0.2 stretched the skin under the corners into streaks: jawOpen's streak ratio 2.0, goal 1.5).
JAW_CORNER = 0.35
JAW_TAPER_IODS = 0.6
#: jawOpen's drop of the chin at weight 1 (IODs; the fitted gain scales it).
JAW_DROP_IODS = 0.5


def _jaw(frame: FaceFrame, r: Regions, *, drop: float, shift: float = 0.0, narrow: float = 0.06) -> np.ndarray:
    q = frame.q
    below = smoothstep((q[:, 1] - mouth_line_y(frame, q[:, 0])) / 0.06)
    # Points far back (near the hinge, at the sides) move less: front-to-back depth from the oval sides.
    z_hinge = np.percentile(frame.z[r.oval], 85)
    front = np.clip((z_hinge - frame.z) / max(1e-6, z_hinge - frame.z[r.oval].min()), 0.0, 1.0) ** 0.6
    corner_q = q[r.inner_corners]
    centre_x, half = float(corner_q[:, 0].mean()), max(float(np.abs(np.diff(corner_q[:, 0]))[0]) / 2, 1e-6)
    lens = np.sqrt(np.clip(1.0 - ((q[:, 0] - centre_x) / half) ** 2, 0.0, 1.0))
    lip = JAW_CORNER + (1.0 - JAW_CORNER) * lens
    depth = smoothstep((q[:, 1] - _y_along(q[np.concatenate([r.outer_lower, r.outer_corners])], q[:, 0]))
                        / JAW_TAPER_IODS)
    m = below * front * (lip + (1.0 - lip) * depth)
    lower = np.concatenate([r.inner_lower, r.outer_lower])
    m[lower] = np.maximum(m[lower], lip[lower])
    m = np.maximum(m, lower_lip_band(frame, r) * lip)  # a thin lower lip moves whole, or its inside folds under
    # the upper lip curves down into the corners, its rings and outer contour with its inner edge (the outer contour
    # held still above corners that drop a third of the jaw stretched the lip's corner into a sliver 1-2 px wide and
    # 18 px tall: a shelf in the cheek beside an open mouth)
    upper = upper_lip_band(frame, r) > 0
    upper[r.inner_upper] = upper[r.outer_upper] = True
    upper[r.mouth_corners] = upper[r.inner_lower] = False
    m[upper] = JAW_CORNER * (1.0 - lens[upper])
    m[r.mouth_corners] = JAW_CORNER
    d = np.zeros((NUM_LANDMARKS, 2))
    d[:, 1] = drop * m
    d[:, 0] = shift * m - narrow * q[:, 0] * m
    return d


def _corner_pull(frame: FaceFrame, r: Regions, sign: int, dx: float, dy: float, *, radius: float = 0.3,
                 cheek: float = 0.0) -> np.ndarray:
    side = r.mouth_corners[frame.q[r.mouth_corners, 0] * sign > 0]
    lips = np.concatenate([r.inner_upper, r.inner_lower, r.outer_upper, r.outer_lower])
    lip_w = smoothstep(frame.q[lips, 0] * sign / max(1e-6, np.abs(frame.q[side, 0]).mean()))
    drivers = np.concatenate([side, lips])
    disp = np.concatenate([np.tile([dx * sign, dy], (len(side), 1)),
                           np.outer(lip_w ** 2, [dx * sign, dy]) * 0.8])
    d = spread(frame, drivers, disp, radius=radius, mask=frame.side(sign))
    if cheek:
        centre = np.array([0.45 * sign, 0.55])
        d[:, 1] -= cheek * frame.near(centre, 0.22) * frame.side(sign)
    return d


def _lid(frame: FaceFrame, r: Regions, sign: int, *, upper: float, lower: float = 0.0, radius: float = 0.12,
         crease: float = 1.0) -> np.ndarray:
    """Move the upper lid by ``upper`` times the opening (positive closes) and the
    lower lid by ``lower`` times it (positive rises)."""
    up, lo = r.lid_upper[sign], r.lid_lower[sign]
    gap = frame.q[lo] - frame.q[up]  # per column, upper -> lower
    return _move_lids(frame, r, sign, gap * upper, -gap * lower, radius=radius, crease=crease,
                      brow_still=True)


#: A blink's lids meet this share of the opening above the lower lid (on average: see :func:`_blink`).
BLINK_LOWER = 0.05


def _blink(frame: FaceFrame, r: Regions, sign: int) -> np.ndarray:
    """The lids shut: each column's lids meet on one smooth arc between the eye's corners, about
    :data:`BLINK_LOWER` of the opening above the lower lid. Meeting on the lower lid's own line drew the
    closed eye's lash line with the photo's kinks (a step up to the outer corner, where a lower lid curves
    up to it)."""
    opening, middle, half = _eye_span(frame, sign)
    up, lo = r.lid_upper[sign], r.lid_lower[sign]
    gap = frame.q[lo] - frame.q[up]
    meet = frame.q[lo] - BLINK_LOWER * gap
    c0, c1 = frame.q[list(opening.corners)]
    chord = c0[1] + (meet[:, 0] - c0[0]) * (c1[1] - c0[1]) / (c1[0] - c0[0])
    arch = np.clip(1.0 - ((meet[:, 0] - middle) / half) ** 2, 0.0, 1.0)
    sag = float(arch @ (meet[:, 1] - chord) / max(float(arch @ arch), 1e-9))  # least squares
    meet[:, 1] = chord + sag * arch
    return _move_lids(frame, r, sign, meet - frame.q[up], meet - frame.q[lo], radius=0.12, brow_still=True)


#: A closing lid's skin unfolds from under the crease: the skin above the lid follows it less with height,
#: and not at all from this share of the way from the lid margin up to the brow's lower edge.
CREASE_SHARE = 0.6


def _below_brow(frame: FaceFrame, r: Regions, sign: int) -> np.ndarray:
    """(478,) 1 at the upper lid's margin (and below), fading to 0 at :data:`CREASE_SHARE` of the way up
    to the brow's lower edge in each point's column (and above): how much skin a closing lid drags."""
    q = frame.q
    lower_edge = q[brow_lower_edge(q, 1 if sign > 0 else 0)]
    lid_y = _y_along(q[r.lid_upper[sign]], q[:, 0])
    gap = np.maximum(lid_y - _y_along(lower_edge, q[:, 0]), 1e-3)
    return 1.0 - smoothstep((lid_y - q[:, 1]) / (CREASE_SHARE * gap))


#: eyeWide, IODs: the upper lid's rise at the eye's middle column.
WIDE_RISE_IODS = 0.07
#: How far (IODs) the skin above the lid follows its rise.
WIDE_RADIUS_IODS = 0.2
#: eyeWide: the rise's profile between the corners, (1 - u**2) ** power (0.5: an ellipse's).
WIDE_ARCH_POWER = 0.5


def _wide(frame: FaceFrame, r: Regions, sign: int) -> np.ndarray:
    """The upper lid rises, most at the eye's middle (:data:`WIDE_RISE_IODS`) and less toward the corners on
    an ellipse's profile, keeping its own line; the brow rises with it. (Taken to one arch between the corners,
    a lid whose line runs above that arch near the outer corner stayed there while its middle rose: a tent
    with a kink at the outer third.) The lower lid stays: moved, it left the photo's lower rim as a second line
    under the iris."""
    opening, middle, half = _eye_span(frame, sign)
    up, lo = r.lid_upper[sign], r.lid_lower[sign]
    rise = np.clip(1.0 - ((frame.q[up, 0] - middle) / half) ** 2, 0.0, 1.0) ** WIDE_ARCH_POWER
    d_up = np.zeros((len(up), 2))
    d_up[:, 1] = -WIDE_RISE_IODS * rise
    lids = _move_lids(frame, r, sign, d_up, np.zeros((len(lo), 2)), radius=WIDE_RADIUS_IODS)
    return lids + _brow(frame, r, sign, up=0.08, inner=0.6, outer=1.0)


def _eye_span(frame: FaceFrame, sign: int):
    """(opening, middle x, half width) of the subject's left (sign=+1) or right eye, face frame."""
    opening = frame.mesh.eye_left if sign > 0 else frame.mesh.eye_right
    corners = frame.q[list(opening.corners)]
    return opening, float(corners[:, 0].mean()), float(abs(corners[1, 0] - corners[0, 0]) / 2)


def _move_lids(frame: FaceFrame, r: Regions, sign: int, d_up: np.ndarray, d_lo: np.ndarray, *, radius: float,
               crease: float = 1.0, brow_still: bool = False) -> np.ndarray:
    """The lid chains moved by ``d_up``/``d_lo`` (face frame, one row per chain
    vertex), the skin above and below following within ``radius`` IODs; with ``brow_still``,
    the skin above no further than the crease (:func:`_below_brow`)."""
    up, lo = r.lid_upper[sign], r.lid_lower[sign]
    eye_centre = frame.q[np.concatenate([up, lo])].mean(0)
    above = smoothstep((eye_centre[1] - frame.q[:, 1]) / 0.05 + 0.5) * crease
    if brow_still:
        above = above * _below_brow(frame, r, sign)
    below = smoothstep((frame.q[:, 1] - eye_centre[1]) / 0.05 + 0.5)
    # The corners are the lids' hinges: motion fades to nothing toward them.
    opening, middle, half = _eye_span(frame, sign)
    taper = smoothstep((half - np.abs(frame.q[:, 0] - middle)) / (0.35 * half))
    d = (spread(frame, up, d_up, radius=radius, mask=above * taper * frame.side(sign))
         + spread(frame, lo, d_lo, radius=radius * 0.8, mask=below * taper * frame.side(sign)))
    d[up] = d_up
    d[lo] = d_lo
    d[list(opening.corners)] = 0.0
    return d


#: A brow's motion fades over this height (IODs) down to the upper lid's margin, which follows :data:`BROW_LID_FOLLOW`
#: of it (a lowered brow hoods the lid, a raised one lifts it a little), and to nothing this far below the margin.
BROW_LID_RAMP_IODS = 0.12
BROW_LID_FOLLOW = 0.1
BROW_LID_BELOW_IODS = 0.03
#: A lowered brow comes down at most this share of the skin between its lower edge and the upper lid's margin, in each
#: column (a frown hoods the lid; the brow does not cross it). Uncapped, browDown's 0.3 IOD took the brow past the lid
#: on every photo of the set: their brows' lower edges sit 0.09-0.26 IOD above the lids, so at weight 1 the skin
#: between folded, the fold repair carried the lids down with the brow, and the eyes showed 0.15-0.43 of their
#: neutral opening (closed at a gain of 1.45; `anger` drew shut eyes). Capped, 0.61-0.88 of it.
BROW_DOWN_ROOM_SHARE = 0.75


#: browDown's brow motion (:func:`_brow`): the inner end 0.3 IOD down, the outer 0.7 of that, toward the nose by 0.1,
#: capped by the room above the lid (:data:`BROW_DOWN_ROOM_SHARE`).
BROW_DOWN = MappingProxyType(dict(up=-0.3, inner=1.0, outer=0.7, inward=0.1))


def _brow(frame: FaceFrame, r: Regions, sign: int, *, up: float, inner: float, outer: float,
          inward: float = 0.0, room_share: float = BROW_DOWN_ROOM_SHARE) -> np.ndarray:
    brow = r.brow_left if sign > 0 else r.brow_right
    x = np.abs(frame.q[brow, 0])
    t = (x - x.min()) / max(1e-6, x.max() - x.min())  # 0 inner .. 1 outer
    amount = up * (inner * (1 - t) + outer * t)
    lid = frame.q[r.lid_upper[sign]]
    if up < 0.0 and np.isfinite(room_share):  # lowered at most a share of the skin between the brow's lower edge
        edge = frame.q[brow_lower_edge(frame.q, 1 if sign > 0 else 0)]  # and the lid, in its column
        room = _y_along(lid, frame.q[brow, 0]) - _y_along(edge, frame.q[brow, 0])
        amount = np.maximum(amount, -room_share * np.maximum(room, 0.0))
    disp = np.stack([-inward * sign * (1 - t), -amount], axis=1)
    # the skin follows from the upper lid's margin up, in each column: measured from the lid's mean height, the
    # middle of an arched lid (above its mean) rose with the brow while its corners stayed, a tent over the iris
    up = frame.q[:, 1] - _y_along(lid, frame.q[:, 0])  # < 0 above the margin
    follow = np.where(up <= 0.0, BROW_LID_FOLLOW + (1.0 - BROW_LID_FOLLOW) * smoothstep(-up / BROW_LID_RAMP_IODS),
                      BROW_LID_FOLLOW * smoothstep(1.0 - up / BROW_LID_BELOW_IODS))
    return spread(frame, brow, disp, radius=0.22, mask=follow * frame.side(sign))


#: One side's lip motion (mouthLowerDown, mouthPress, ... Left or Right) fades out across the mouth's middle, from
#: full at this share of the way from the middle to that side's corner to none as far toward the other corner. Split
#: at the midline (the faces' soft left/right blend, 0.05 IOD each way), a lip lowered on one side bent at the middle:
#: Biden's mouthStretchLeft drew his closed lips' line with a 5 px step under the nose.
LIP_SIDE_SHARE = 0.5


def lip_side(frame: FaceFrame, r: Regions, sign: int) -> np.ndarray:
    """(478,) in [0, 1]: how much of the subject's left (``sign`` +1) or right (-1) half of the mouth a one-sided lip
    motion moves, by x: 1 from :data:`LIP_SIDE_SHARE` of the way to that side's corner on, 0.5 at the middle."""
    corners = frame.q[r.inner_corners]
    middle = corners[:, 0].mean()
    half = max(abs(corners[1, 0] - corners[0, 0]) / 2, 1e-6)
    return smoothstep(0.5 + sign * (frame.q[:, 0] - middle) / (2 * LIP_SIDE_SHARE * half))


def _lip_shift(frame: FaceFrame, r: Regions, points: np.ndarray, d, *, sign: int = 0, radius: float = 0.15):
    side = lip_side(frame, r, sign) if sign else None
    w = side[points] if sign else np.ones(len(points))
    disp = np.outer(w, d)
    return spread(frame, points, disp, radius=radius, mask=side)


#: Lips squeezed together (a pucker, a funnel's O) carry the skin at their corners with them: the landmarks outside
#: the lips within this many IODs of an outer lip corner move as that corner does. A photo's mouth corner is a dark
#: crease that reaches past the corner landmark (obama3's about 0.12 IOD); faded out from the corner, the skin there
#: moved 0.65 of the corner's way, the crease stretched out behind it, and the mouth still looked (and MediaPipe read
#: it) nearly as wide as at rest.
CORNER_SKIN_IODS = 0.13


def _carry_corner_skin(frame: FaceFrame, r: Regions, lips: np.ndarray,
                       disp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(drivers, their displacement): ``lips`` and ``disp`` ((len(lips), 2) face frame) with the skin of
    :data:`CORNER_SKIN_IODS` around each outer lip corner added, moving as that corner."""
    q = frame.q[:NUM_MESH_POINTS]
    skin = np.ones(NUM_MESH_POINTS, bool)
    skin[lips] = False
    middle = frame.q[r.outer_corners, 0].mean()
    extra, moves = [], []
    for corner in r.outer_corners:  # each corner's skin lies on its own side of the mouth: the two sets are apart
        outward = np.sign(frame.q[corner, 0] - middle)
        near = np.flatnonzero(skin & (np.linalg.norm(q - frame.q[corner], axis=1) < CORNER_SKIN_IODS)
                              & ((q[:, 0] - frame.q[corner, 0]) * outward >= 0.0))
        extra.append(near)
        moves.append(np.tile(disp[np.flatnonzero(lips == corner)[0]], (len(near), 1)))
    return np.concatenate([lips, *extra]), np.concatenate([disp, *moves])


def _pucker(frame: FaceFrame, r: Regions, *, squeeze: float, open_: float) -> np.ndarray:
    lips = np.concatenate([r.inner_upper, r.inner_lower, r.outer_upper, r.outer_lower, r.mouth_corners])
    centre = frame.q[r.inner_corners].mean(0)
    rel = frame.q[lips] - centre
    disp = np.stack([-squeeze * rel[:, 0], np.zeros(len(lips))], axis=1)
    disp[np.isin(lips, r.inner_upper), 1] -= open_
    disp[np.isin(lips, r.inner_lower), 1] += open_ * 1.2
    disp[np.isin(lips, r.outer_upper), 1] -= open_ * 0.5
    disp[np.isin(lips, r.outer_lower), 1] += open_ * 0.7
    return spread(frame, *_carry_corner_skin(frame, r, lips, disp), radius=0.18)


#: mouthFunnel, face-frame units: corners-in squeeze (share of the half-width), inner upper
#: lip up, inner lower lip down, outer upper lip up, outer lower lip down (the lips turn
#: out), share of the jaw drop. (With the outer lower lip 0.22 down and the inner 0.05, the lower lip grew into a
#: column twice its height under a slit, which read as a tongue on obama2 and Biden; the drawn landmarks' funnel
#: reading at the fitted gains went 0.43-0.53 -> 0.30-0.47 on five photos.)
FUNNEL = (0.45, 0.03, 0.08, 0.2, 0.14, 0.1)
#: The share of each lip's rise or drop that a funnel's lips keep at the corners (all of it mid-lip, a parabola
#: between). At 0.4 the upper lip rose 8 px right beside a corner that stays put, and the skin tore along the
#: corners' thin folded triangles: a horizontal step out into both cheeks (the astronaut). At 0.15 the O is still
#: round (at 0 its top comes to a point), and MediaPipe's blendshape model reads the drawn landmarks as more of a
#: funnel: 0.39-0.55 on seven photos at weight 1 (0.30-0.50 at 0.4; Biden's 0.30 -> 0.39).
FUNNEL_CORNER = 0.15


def _funnel(frame: FaceFrame, r: Regions) -> np.ndarray:
    """Lips pushed out into an O: corners in, the opening rounds, the lips turn
    outward (thicker), the jaw drops a little."""
    lips = np.concatenate([r.inner_upper, r.inner_lower, r.outer_upper, r.outer_lower, r.mouth_corners])
    centre = frame.q[r.inner_corners].mean(0)
    rel = frame.q[lips] - centre
    half = np.abs(frame.q[r.inner_corners, 0] - centre[0]).mean()
    middle = 1.0 - np.clip(np.abs(rel[:, 0]) / half, 0.0, 1.0) ** 2  # 1 mid-lip, 0 at the corners
    disp = np.stack([-FUNNEL[0] * rel[:, 0], np.zeros(len(lips))], axis=1)
    for points, dy in ((r.inner_upper, -FUNNEL[1]), (r.inner_lower, FUNNEL[2]), (r.outer_upper, -FUNNEL[3]),
                       (r.outer_lower, FUNNEL[4])):
        sel = np.isin(lips, points)
        disp[sel, 1] += dy * (FUNNEL_CORNER + (1.0 - FUNNEL_CORNER) * middle[sel])
    jaw = FUNNEL[5] * _jaw(frame, r, drop=JAW_DROP_IODS) * (1 - _lip_mask(frame, r))
    return spread(frame, *_carry_corner_skin(frame, r, lips, disp), radius=0.2) + jaw


def _cheek(frame: FaceFrame, r: Regions, sign: int, *, up: float, out: float) -> np.ndarray:
    centre = np.array([0.5 * sign, 0.6])
    w = frame.near(centre, 0.25) * frame.side(sign)
    d = np.stack([out * sign * w, -up * w], axis=1)
    return d


def _sneer(frame: FaceFrame, r: Regions, sign: int) -> np.ndarray:
    wing = r.nose[(frame.q[r.nose, 0] * sign > 0.08) & (frame.q[r.nose, 1] > 0.45)]
    d = spread(frame, wing, np.tile([0.01 * sign, -0.07], (len(wing), 1)), radius=0.12, mask=frame.side(sign))
    return d + _lip_shift(frame, r, r.outer_upper, [0, -0.03], sign=sign) * 0.5


def _fields() -> dict[str, Field]:
    f: dict[str, Field] = {}
    for name, s in (("Left", 1), ("Right", -1)):
        f[f"eyeBlink{name}"] = lambda fr, r, s=s: _blink(fr, r, s)
        f[f"eyeSquint{name}"] = lambda fr, r, s=s: _lid(fr, r, s, upper=0.12, lower=0.3) + _cheek(fr, r, s, up=0.04, out=0)
        f[f"eyeWide{name}"] = lambda fr, r, s=s: _wide(fr, r, s)
        f[f"eyeLookDown{name}"] = lambda fr, r, s=s: _lid(fr, r, s, upper=0.25, lower=-0.05, radius=0.08)
        f[f"eyeLookUp{name}"] = lambda fr, r, s=s: _lid(fr, r, s, upper=-0.15, lower=0.0, radius=0.08)
        f[f"eyeLookIn{name}"] = lambda fr, r: np.zeros((NUM_LANDMARKS, 2))
        f[f"eyeLookOut{name}"] = lambda fr, r: np.zeros((NUM_LANDMARKS, 2))
        f[f"browDown{name}"] = lambda fr, r, s=s: _brow(fr, r, s, **BROW_DOWN)
        f[f"browOuterUp{name}"] = lambda fr, r, s=s: _brow(fr, r, s, up=0.16, inner=0.15, outer=1.0)
        f[f"mouthSmile{name}"] = lambda fr, r, s=s: _corner_pull(fr, r, s, 0.08, -0.1, cheek=0.05)
        f[f"mouthFrown{name}"] = lambda fr, r, s=s: _corner_pull(fr, r, s, 0.02, 0.1)
        f[f"mouthDimple{name}"] = lambda fr, r, s=s: _corner_pull(fr, r, s, 0.07, 0.0)
        f[f"mouthStretch{name}"] = lambda fr, r, s=s: (_corner_pull(fr, r, s, 0.2, 0.07)
                                                       + _lip_shift(fr, r, r.inner_lower, [0, 0.05], sign=s)
                                                       + _lip_shift(fr, r, r.outer_lower, [0, 0.04], sign=s))
        f[f"mouthPress{name}"] = lambda fr, r, s=s: (_lip_shift(fr, r, r.outer_upper, [0, 0.03], sign=s)
                                                     + _lip_shift(fr, r, r.outer_lower, [0, -0.03], sign=s))
        f[f"mouthLowerDown{name}"] = lambda fr, r, s=s: _lip_shift(fr, r, np.concatenate(
            [r.inner_lower, r.outer_lower]), [0, 0.1], sign=s)
        f[f"mouthUpperUp{name}"] = lambda fr, r, s=s: _lip_shift(fr, r, np.concatenate(
            [r.inner_upper, r.outer_upper]), [0, -0.08], sign=s)
        f[f"cheekSquint{name}"] = lambda fr, r, s=s: _cheek(fr, r, s, up=0.06, out=0.0) + _lid(
            fr, r, s, upper=0.0, lower=0.12)
        f[f"noseSneer{name}"] = lambda fr, r, s=s: _sneer(fr, r, s)
    f["jawOpen"] = lambda fr, r: _jaw(fr, r, drop=JAW_DROP_IODS)
    f["jawForward"] = lambda fr, r: _jaw(fr, r, drop=0.03, narrow=0.05)
    f["jawLeft"] = lambda fr, r: _jaw(fr, r, drop=0.0, shift=0.12, narrow=0.0)
    f["jawRight"] = lambda fr, r: _jaw(fr, r, drop=0.0, shift=-0.12, narrow=0.0)
    f["mouthClose"] = lambda fr, r: -_jaw(fr, r, drop=JAW_DROP_IODS) * _lip_mask(fr, r)
    f["mouthFunnel"] = lambda fr, r: _funnel(fr, r)
    f["mouthPucker"] = lambda fr, r: _pucker(fr, r, squeeze=0.55, open_=0.0)
    f["mouthLeft"] = lambda fr, r: _lip_shift(fr, r, _all_lips(r), [0.12, 0], radius=0.25)
    f["mouthRight"] = lambda fr, r: _lip_shift(fr, r, _all_lips(r), [-0.12, 0], radius=0.25)
    f["mouthRollLower"] = lambda fr, r: _lip_shift(fr, r, r.outer_lower, [0, -0.05], radius=0.08)
    f["mouthRollUpper"] = lambda fr, r: _lip_shift(fr, r, r.outer_upper, [0, 0.04], radius=0.08)
    f["mouthShrugLower"] = lambda fr, r: _lip_shift(fr, r, np.concatenate([r.outer_lower, r.inner_lower]),
                                                    [0, -0.05], radius=0.2)
    f["mouthShrugUpper"] = lambda fr, r: _lip_shift(fr, r, np.concatenate([r.outer_upper, r.inner_upper]),
                                                    [0, -0.04], radius=0.15)
    f["browInnerUp"] = lambda fr, r: _brow(fr, r, 1, up=0.16, inner=1.0, outer=0.2) + _brow(
        fr, r, -1, up=0.16, inner=1.0, outer=0.2)
    f["cheekPuff"] = lambda fr, r: _cheek(fr, r, 1, up=0.0, out=0.08) + _cheek(fr, r, -1, up=0.0, out=0.08)
    f["tongueOut"] = lambda fr, r: _tongue_lips(fr, r)
    return f


#: tongueOut, face-frame units: how far the tongue pushes the middle of the lower lip down (its inner edge; its outer
#: edge 0.8 of that), fading toward the corners over this share of the mouth's half width. (The lips stayed shut
#: over a tongue put out: drawn on the closed lips, the tongue hung below their line like a label.)
TONGUE_LIP_DROP = 0.05
TONGUE_LIP_WIDTH = 0.35


def _tongue_lips(frame: FaceFrame, r: Regions) -> np.ndarray:
    """The lower lip pushed down in its middle by the tongue put out (:data:`TONGUE_LIP_DROP`)."""
    centre = frame.q[r.inner_corners].mean(0)
    half = 0.5 * float(np.ptp(frame.q[r.inner_corners, 0]))
    disp = []
    for points, share in ((r.inner_lower, 1.0), (r.outer_lower, 0.8)):
        x = (frame.q[points, 0] - centre[0]) / max(TONGUE_LIP_WIDTH * half, 1e-3)
        disp.append(np.stack([np.zeros(len(points)), TONGUE_LIP_DROP * share * np.exp(-x * x)], axis=1))
    stays = np.ones(NUM_LANDMARKS)
    stays[np.concatenate([r.inner_upper, r.outer_upper, r.mouth_corners])] = 0.0  # the upper lip over the tongue
    return spread(frame, np.concatenate([r.inner_lower, r.outer_lower]), np.concatenate(disp), radius=0.12, mask=stays)


def _all_lips(r: Regions) -> np.ndarray:
    return np.concatenate([r.inner_upper, r.inner_lower, r.outer_upper, r.outer_lower, r.mouth_corners])


def _lip_mask(frame: FaceFrame, r: Regions) -> np.ndarray:
    """(478, 1) 1 on the lower lip, fading below it: mouthClose lifts the lips, not the chin."""
    lower = np.concatenate([r.inner_lower, r.outer_lower])
    dist = np.linalg.norm(frame.q[:, None] - frame.q[lower][None], axis=2).min(1)
    m = np.exp(-dist ** 2 / (2 * 0.08 ** 2))
    m[r.mouth_corners] = 1.0
    return m[:, None]


FIELDS: dict[str, Field] = _fields()
#: The fields that take a photo's own expression out (:func:`build_inverse_basis`) where they are not the way in run
#: backward: a frowning photo's brow rises to the neutral face uncapped (going up it meets no lid), and its hooded
#: upper lid rises with it. The Obama photos' neutral faces open their eyes 3.8-5.5 px wider than the photos that way
#: (they read browDown 0.36-0.8 at rest), as they did before the cap. Capped both ways, the neutral eyes stayed at
#: the photo's squint, which MediaPipe reads as half shut: on the set, blinks passed the closed loop 9 times instead
#: of 18 and browInnerUp 8 instead of 16 (114 shapes of 204 instead of 139).
WAY_OUT_FIELDS: dict[str, Field] = {f"browDown{name}": (lambda fr, r, s=s: _brow(fr, r, s, **BROW_DOWN,
                                                                                   room_share=np.inf))
                                    for name, s in (("Left", 1), ("Right", -1))}
assert sorted(arkit_index(n) for n in FIELDS) == list(range(NUM_ARKIT)), "a field per ARKit shape"
_FIELD_BY_INDEX = {arkit_index(n): f for n, f in FIELDS.items()}
_WAY_OUT_BY_INDEX = {arkit_index(n): f for n, f in WAY_OUT_FIELDS.items()}


def build_basis(frame: FaceFrame, rest: np.ndarray, *, gains: np.ndarray | None = None) -> np.ndarray:
    """(52, V, 2) float32 pixel displacement of every mesh vertex at weight 1,
    ARKit order, for the mesh's rest vertices ``rest`` (V, 2): :func:`build_field` of each shape,
    at ``gains`` (52,) (1 where None)."""
    r = regions(frame)
    g = np.ones(NUM_ARKIT) if gains is None else np.asarray(gains, np.float64)
    return np.stack([build_field(frame, rest, k, gain=float(g[k]), regions_=r) for k in range(NUM_ARKIT)])


#: Shapes whose field is a place to reach, not a motion: the blinks' lids meet on an arc. Given the neutral face
#: (:func:`build_field`'s ``neutral_px``) they are drawn from its points, so that at weight 1 they reach the
#: place on the face that is shown; drawn from the photo's, a neutral face that opens a squinting photo's eyes
#: 4-5 px wider left the lids that far apart.
FROM_NEUTRAL = frozenset(arkit_index(n) for n in ("eyeBlinkLeft", "eyeBlinkRight"))


def way_out_basis(frame: FaceFrame, rest: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(52, V, 2) float32: ``basis`` (as authored, :func:`build_basis`) with the shapes of :data:`WAY_OUT_FIELDS`
    drawn as their way out of the photo, for :func:`build_inverse_basis`."""
    out = np.array(basis, np.float32, copy=True)
    r = regions(frame)
    for k in _WAY_OUT_BY_INDEX:
        out[k] = build_field(frame, rest, k, regions_=r, way_out=True)
    return out


def build_field(frame: FaceFrame, rest: np.ndarray, shape: int, *, gain: float = 1.0,
                regions_: Regions | None = None, neutral_px: np.ndarray | None = None,
                way_out: bool = False) -> np.ndarray:
    """(V, 2) float32 pixel displacement of every mesh vertex for ARKit shape ``shape`` at weight 1, its field
    scaled by ``gain``. Ring vertices take their face-oval parent's motion times their follow share; the field is
    then unfolded where it would fold (:func:`~.deform.unfold`): after the gain, so that a larger field is made
    fold-free at its own size. ``neutral_px`` ((V, 2) pixels, or None): the neutral face's displacement from the
    photo (:attr:`.deform.Deformer.neutral_px`); the shapes of :data:`FROM_NEUTRAL` are then drawn from it (the
    field still adds to it). ``way_out``: the shape's field of :data:`WAY_OUT_FIELDS` where it has one."""
    r = regions(frame) if regions_ is None else regions_
    mesh = frame.mesh
    if neutral_px is not None and shape in FROM_NEUTRAL:
        neutral_px = np.asarray(neutral_px, np.float64)
        if neutral_px.shape != rest.shape or not np.isfinite(neutral_px).all():
            raise ValueError(f"the neutral face must be {rest.shape} finite values, got shape {neutral_px.shape}")
        frame = frame.moved(neutral_px[:NUM_LANDMARKS])
        rest = rest + neutral_px
    d = frame.to_pixels((_WAY_OUT_BY_INDEX if way_out and shape in _WAY_OUT_BY_INDEX else _FIELD_BY_INDEX)[shape](
        frame, r))
    field = np.zeros((mesh.num_vertices, 2))
    field[:NUM_LANDMARKS] = d
    ring = mesh.ring_parent >= 0
    field[ring] = d[mesh.ring_parent[ring]] * mesh.follow[ring, None]
    threshold = area_thresholds(mesh, openings=False)
    overshoot, lids = np.zeros_like(field), None
    if shape in FROM_NEUTRAL:
        # The lids meet at weight 1/gain and the contact (:meth:`~.deform.Deformer._contact`) holds them where they
        # met: the fold repair judges them met, not pushed past each other, and moves the skin that a gain drags
        # past them, never the lids (repaired, they parted 3-9 px at gains of 1.45-2.5).
        upper, lower = np.concatenate([*r.lid_upper.values()]), np.concatenate([*r.lid_lower.values()])
        lids = np.concatenate([upper, lower])
        overshoot[lids] = field[lids] * max(gain - 1.0, 0.0)
        # judged where the contact holds met lids, its gap apart (a whole gap each way: the contact's down is the
        # mouth's, not the eyes' line, and a repair stops at the edge of folding)
        apart = frame.to_pixels(np.array([0.0, CONTACT_GAP_IODS])) * (gain >= 1.0)
        overshoot[upper] += apart
        overshoot[lower] -= apart
    wanted = field * gain - overshoot
    moved = unfold(rest, wanted, mesh.triangles, threshold, iterations=UNFOLD_BUILD_ITERATIONS, pinned=lids)
    moved = give_back_motion(rest, wanted, moved, mesh.triangles, threshold)
    return (moved + overshoot).astype(np.float32)


#: Radius of the Gaussian that smooths a field into its inverse (taking the photo's own expression out), IODs.
INVERSE_SMOOTH_IODS = 0.06
#: Points this close to the mouth line (IODs up or down, within this many mouth half-widths of its middle) are
#: smoothed only with points on their own side of it: the lips stay apart.
MOUTH_SIDE_IODS = 0.5
MOUTH_SIDE_HALF_WIDTHS = 1.5


def mouth_sides(frame: FaceFrame) -> np.ndarray:
    """(468,) +1 below the mouth line, -1 above it, 0 away from the mouth. The inner lips' own points are on their
    lip's side wherever they lie: where a closed mouth's lip lines cross (Biden's), the upper lip's points lie
    below the line, and smoothed with the lower lip they left one upper point behind, a notch that opened the
    mouth there."""
    mouth = frame.mesh.mouth
    q = frame.q[:NUM_MESH_POINTS]
    corners = frame.q[list(mouth.corners)]
    middle, half = corners[:, 0].mean(), abs(corners[1, 0] - corners[0, 0]) / 2
    line = mouth_line_y(frame, q[:, 0])
    near = (np.abs(q[:, 0] - middle) < MOUTH_SIDE_HALF_WIDTHS * half) & (np.abs(q[:, 1] - line) < MOUTH_SIDE_IODS)
    side = np.where(near, np.where(q[:, 1] >= line, 1, -1), 0)
    side[mouth.upper[1:-1]] = -1
    side[mouth.lower[1:-1]] = 1
    return side


#: Lips this close together in the photo (IODs, inner contour) are closed there: the fields that take the photo's
#: expression out move them together, so a closed mouth stays closed on the neutral face.
LIPS_CLOSED_IODS = 0.01


def _keep_closed_lips(frame: FaceFrame, field: np.ndarray) -> np.ndarray:
    """``field`` ((V, 2) px) with each column of the inner lips that is closed in the photo
    (:data:`LIPS_CLOSED_IODS`) moving as one: both points take their mean motion."""
    mouth = frame.mesh.mouth
    up, low = mouth.upper[1:-1], mouth.lower[1:-1]
    closed = (frame.q[low, 1] - frame.q[up, 1]) < LIPS_CLOSED_IODS
    out = field.copy()
    mean = (field[up[closed]] + field[low[closed]]) / 2
    out[up[closed]] = mean
    out[low[closed]] = mean
    return out


def build_inverse_basis(frame: FaceFrame, rest: np.ndarray, basis: np.ndarray, *, shapes: np.ndarray) -> np.ndarray:
    """(52, V, 2) float32 fields for taking an expression *out* (weights below the photo's own, see
    :class:`~.deform.Deformer`): each of ``shapes`` ((52,) bool) is ``basis``'s field smoothed by a Gaussian of
    :data:`INVERSE_SMOOTH_IODS` (never across the mouth line), scaled back to its largest motion and, run
    backward at weight 1 from the rest vertices ``rest`` (V, 2), unfolded where it would still fold a sliver
    (:func:`~.deform.unfold`); the rest are ``basis``'s own.

    Why: the fields are drawn for the way out of the photo (a smile pulls the corners, the lips follow by a
    share that grows toward them). Run backward, such sharp steps squeeze skin between points that sit
    a pixel apart and fold it; smoothed, the same motion takes the expression out of the photo without folding.
    """
    mesh = frame.mesh
    q = frame.q[:NUM_MESH_POINTS]
    side = mouth_sides(frame)
    kernel = np.exp(-np.sum((q[:, None] - q[None]) ** 2, axis=2) / (2 * INVERSE_SMOOTH_IODS ** 2))
    kernel *= (side[:, None] == side[None]) | (side[:, None] == 0) | (side[None] == 0)
    kernel /= kernel.sum(1, keepdims=True)
    ring = mesh.ring_parent >= 0
    threshold = area_thresholds(mesh, openings=False)
    inverse = np.asarray(basis, np.float64).copy()
    for k in np.nonzero(shapes)[0]:
        field = inverse[k]
        smooth = np.zeros_like(field)
        smooth[:NUM_MESH_POINTS] = kernel @ field[:NUM_MESH_POINTS]
        smooth[ring] = smooth[mesh.ring_parent[ring]] * mesh.follow[ring, None]
        smooth = _keep_closed_lips(frame, smooth)
        peak, peak_smooth = (float(np.linalg.norm(f[:NUM_MESH_POINTS], axis=1).max()) for f in (field, smooth))
        if peak_smooth > 1e-9:
            inverse[k] = -unfold(rest, -smooth * (peak / peak_smooth), mesh.triangles, threshold,
                                 iterations=UNFOLD_BUILD_ITERATIONS)
    return inverse.astype(np.float32)


#: Lip seal: how far (IODs) the skin above the upper lip and below the lower lip follows the lips as they close.
SEAL_RADIUS_UPPER_IODS = 0.08
SEAL_RADIUS_LOWER_IODS = 0.2


def lip_seal_kernels(frame: FaceFrame) -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower), each (V, C) float64 for the mouth's C columns (:class:`~.mesh.Opening`'s paired chain
    points): the share of column c's lip motion that vertex i follows. A lip point follows its own column
    fully; the skin on its side of the mouth line follows the two columns on either side of it across the face,
    linearly (beyond the corners, the corner columns'), fading with the distance to the chain
    (:data:`SEAL_RADIUS_UPPER_IODS`, :data:`SEAL_RADIUS_LOWER_IODS`). Linear, so that a thin lip triangle
    beside the chain moves as its chain edge does: an inverse-distance blend turned obama2's over near the
    corners and stopped the seal at 0.65 of the way, the photo's upper teeth showing as a white strip between
    the lips. The deformer closes the lips of a photo whose mouth is open at rest with them
    (:meth:`~.deform.Deformer.set_rest_weights`)."""
    mesh = frame.mesh
    q = frame.q[:NUM_MESH_POINTS]
    side = mouth_sides(frame)
    out = []
    for chain, sign, radius in ((mesh.mouth.upper, -1, SEAL_RADIUS_UPPER_IODS),
                                (mesh.mouth.lower, 1, SEAL_RADIUS_LOWER_IODS)):
        d2 = np.sum((q[:, None] - q[chain][None]) ** 2, axis=2)
        fade = np.exp(-d2.min(1) / (2 * radius ** 2)) * (side == sign)
        order = np.argsort(q[chain, 0])
        k = np.stack([np.interp(q[:, 0], q[chain[order], 0], np.eye(len(chain))[c, order])
                      for c in range(len(chain))], axis=1) * fade[:, None]
        k[chain] = 0.0
        k[chain, np.arange(len(chain))] = 1.0
        k[list(mesh.mouth.corners)] = 0.0
        full = np.zeros((mesh.num_vertices, len(chain)))
        full[:NUM_MESH_POINTS] = k
        out.append(full)
    return out[0], out[1]
