"""Per-frame mesh motion: expression fields, lid and lip contact, the fold
guard, then head rotation.

Order of operations for one frame (all numpy, no per-triangle Python):

1. ``d = basis @ (weights - rest)`` (pixels from the photo): weights are absolute, so all zeros takes
   the photo's own expression ``rest`` out; ``mouthClose`` is limited to ``jawOpen``;
2. contact: an upper lid never passes below its lower lid and the lips never
   cross; where they would, both meet in the middle;
3. fold guard: if any skin triangle would shrink below
   :data:`MIN_SKIN_AREA_RATIO` of its rest area (or flip), or an opening would
   turn inside out, the motion is first made locally rigid around the folding
   triangles (:func:`unfold`, which leaves the rest of the face alone); if that
   is not enough, the pose is moved back toward the neutral face (bisection) until none folds.
   Folding is judged against the photo's own mesh (a triangle already thin at
   rest may stay so), and contact never moves the rest pose, so the rest pose
   passes and the guard always finds a valid pose;
4. head rotation: the landmark cloud (with its MediaPipe depth) turns about a
   pivot behind the face and is projected orthographically (2.5D); the rings
   follow by their share. Triangles that turn away from the camera are hidden
   (not drawn), as on a real head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from facecast.engine.face.landmarks import NUM_LANDMARKS
from facecast.engine.render.portrait.mesh import FOLDED, SKIN, Opening, WarpMesh, signed_areas
from facecast.engine.types import arkit_index

MIN_SKIN_AREA_RATIO = 0.1
#: Unfolding passes per field when the basis is built, and per frame before the guard scales back.
UNFOLD_BUILD_ITERATIONS = 200
UNFOLD_FRAME_ITERATIONS = 30
#: A frame's repair (:func:`unfold`) is kept only where it moves no point further than this from where the expression
#: put it (inter-ocular distances); past that the guard scales the expression back instead. The repair averages the
#: motion of the folding triangles' corners, and where it moved them far it bent the lips' inner lines into zigzags:
#: a funnel with the jaw half open, with obama3's fitted gains, moved a point of the upper lip 0.14 IOD and tore the O
#: into a ragged hole (scaled back to 0.80 now, a smooth O). On the set's photos, with fitted gains, 77 of 180 frames of
#: ten speech combinations folded; the repair moved points up to 0.01-0.06 in 61 of them, 0.08-0.14 in 16, and the
#: zigzags looked at were among those 16.
REPAIR_MAX_IODS = 0.06
#: Closest approach of the lids or lips, inter-ocular distances (0.05 px at 512x512): closed, but never crossed.
#: In pixels it gave a 2048x2048 frame lids 4x closer than a 512 one, close enough to turn a shut eye's
#: slanted columns inside out there, so the same blink was scaled back at one size and not the other.
CONTACT_GAP_IODS = 5e-4
GUARD_STEPS = 8
#: Share of the largest fold-free amount of a photo's expression shape taken out when not all of it can be.
NEUTRAL_MARGIN = 0.8
#: Largest head rotation shown, radians (beyond it the 2.5D turn would fold the far cheek).
MAX_YAW_RAD = 0.45
MAX_PITCH_RAD = 0.4
MAX_ROLL_RAD = 0.6
#: Pivot of the head rotation behind the mean landmark depth, inter-ocular distances.
PIVOT_DEPTH_IODS = 1.1
#: Gaze: eyeball shift at full eyeLook*, in eye widths.
GAZE_HORIZONTAL = 0.2
GAZE_VERTICAL = 0.1

_JAW_OPEN, _MOUTH_CLOSE = arkit_index("jawOpen"), arkit_index("mouthClose")
#: Shapes that part the lips, each counted at half its weight by :func:`_mouth_open`.
_OPENERS = [arkit_index(n) for n in ("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft",
                                     "mouthLowerDownRight", "mouthFunnel", "mouthStretchLeft", "mouthStretchRight")]
#: The lip seal (:meth:`Deformer._derive_seal`): the lower lip's share of the closing, and the least
#: :func:`_mouth_open` of the photo that gets one.
SEAL_LOWER_SHARE = 0.65
SEAL_MIN_OPEN = 0.1
#: The gap the seal leaves between the lips, inter-ocular distances (a pixel at 100 px): closed to the eye.
SEAL_GAP_IODS = 0.01


def _mouth_open(weights: np.ndarray) -> float:
    """How open the weights hold the mouth: jawOpen plus half of each of mouthUpperUp, mouthLowerDown,
    mouthFunnel and mouthStretch. An O parts the lips, and so does a corner pulled out: sealed shut, a photo open
    at rest lost its funnel (MediaPipe read 0.06-0.15 of it on obama2 and its 32-bit copy instead of 0.35) and the
    astronaut's mouthStretchRight (0.22 read at full weight, 0.43 parted)."""
    return float(weights[_JAW_OPEN] + 0.5 * np.sum(weights[_OPENERS]))


_BLINK = {-1: arkit_index("eyeBlinkRight"), 1: arkit_index("eyeBlinkLeft")}
_LOOK = {sign: {d: arkit_index(f"eyeLook{d}{'Left' if sign > 0 else 'Right'}") for d in ("In", "Out", "Up", "Down")}
         for sign in (-1, 1)}


def area_thresholds(mesh: WarpMesh, *, openings: bool = True) -> np.ndarray:
    """(T,) thresholds: a pose folds no triangle when ``area >= threshold`` for all
    of them (``openings=False`` leaves the openings free: for single fields, whose
    lids and lips may overshoot before the contact step). Skin keeps at least
    :data:`MIN_SKIN_AREA_RATIO` of its rest area, openings may close but not turn
    inside out; :data:`~.mesh.FOLDED` triangles (hidden already in the photo) are free, and so are
    opening triangles that are crossed at rest (a closed mouth tracked with its lip lines crossed: the
    contact step keeps the lips from passing each other, and a closed opening's shear is not seen)."""
    threshold = np.where(mesh.kinds == SKIN, MIN_SKIN_AREA_RATIO * mesh.rest_areas, 0.0)
    crossed = (mesh.kinds != SKIN) & (mesh.kinds != FOLDED) & (mesh.rest_areas <= 0)
    free = (mesh.kinds == FOLDED) | crossed | ((mesh.kinds != SKIN) & (not openings))
    return np.where(free, -np.inf, threshold)


def unfold(rest: np.ndarray, d: np.ndarray, triangles: np.ndarray, threshold: np.ndarray, *,
           iterations: int, pinned: Optional[np.ndarray] = None) -> np.ndarray:
    """Make a displacement field ``d`` ((V, 2) pixels) locally rigid where it folds.

    Every triangle under its ``threshold`` (:func:`area_thresholds`) has its
    corners pulled halfway toward their common mean motion (a pure translation
    keeps the rest area), repeated until no triangle folds or ``iterations`` run
    out. Motion elsewhere, and that of the ``pinned`` vertices (indices), is untouched. Returns a new field.
    """
    d = d.copy()
    n = len(d)
    free = np.ones(n, bool)
    if pinned is not None:
        free[pinned] = False
    for _ in range(iterations):
        bad = np.nonzero(signed_areas(rest + d, triangles) < threshold)[0]
        if len(bad) == 0:
            break
        corners = triangles[bad].ravel()
        mean = np.repeat(d[triangles[bad]].mean(1), 3, axis=0)
        hits = np.bincount(corners, minlength=n)
        moved = (hits > 0) & free
        target = np.stack([np.bincount(corners, mean[:, 0], n), np.bincount(corners, mean[:, 1], n)], 1)
        d[moved] = 0.5 * d[moved] + 0.5 * target[moved] / hits[moved, None]
    return d


#: Passes of :func:`give_back_motion` over the vertices a repair moved.
GIVE_BACK_PASSES = 5


def give_back_motion(rest: np.ndarray, wanted: np.ndarray, repaired: np.ndarray, triangles: np.ndarray,
                     threshold: np.ndarray, *, passes: int = GIVE_BACK_PASSES) -> np.ndarray:
    """``repaired`` (:func:`unfold` of the field ``wanted``, both (V, 2) pixels) with each vertex the repair moved
    given back its own motion in ``wanted``, or half of the way back, wherever that folds none of its triangles.

    The repair averages motion over whole folding regions and, over its iterations, spreads into points that fold
    nothing: a fold at obama3's right mouth corner under the jaw's field took 3.4 px of the lower lip's drop at the
    point beside it, a step in the lip. Each vertex is tried alone and kept only where all of its own triangles
    stay above ``threshold``, so what was fold-free stays fold-free. Returns a new field."""
    d = repaired.copy()
    points = rest + d  # kept in step with d, one vertex at a time
    flat = triangles.ravel()
    order = np.argsort(flat, kind="stable")
    starts = np.searchsorted(flat[order], np.arange(len(d) + 1))
    for _ in range(passes):
        given = 0
        for v in np.nonzero(np.abs(d - wanted).max(axis=1) > 1e-6)[0]:
            own = order[starts[v]:starts[v + 1]] // 3  # the vertex's triangles
            old = d[v].copy()
            for share in (1.0, 0.5):
                d[v] = old + share * (wanted[v] - old)
                points[v] = rest[v] + d[v]
                if (signed_areas(points, triangles[own]) >= threshold[own]).all():
                    given += 1
                    break
                d[v] = old
                points[v] = rest[v] + d[v]
        if not given:
            break
    return d


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Ry(yaw) Rx(pitch) Rz(roll) in camera axes (x right, y up, z toward the viewer)."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


#: A raised upper lid is drawn on one smooth arc once it has risen this far (IODs, on average over its chain) above
#: both the neutral face's lid and the photo's (:meth:`Deformer._rounded_lids`); partly before.
LID_ARC_RISE_IODS = 0.03
#: The arc's profile between the corners, (t (1 - t)) ** power (0.5: an ellipse's; 1: a parabola's, a pointed
#: almond). The points next to the corners move this share of the way to it (all of it drew the skin between them and
#: the corner into a dark notch).
LID_ARC_POWER = 0.5
LID_ARC_CORNER_SHARE = 0.5


def lid_arc(t: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(N,) the smooth arc nearest (least squares) an upper lid's chain, ``t`` (N,) its points' share of the way from
    one corner to the other and ``d`` (N,) their depth below the line between the corners (negative: above it); the
    corners stay where they are: ``d = (t (1 - t)) ** LID_ARC_POWER (a + b t)``, a dome whose peak can lean toward
    either corner, scaled to the chain's own highest point."""
    t = np.asarray(t, np.float64)
    d = np.asarray(d, np.float64)
    base = np.clip(t * (1.0 - t), 0.0, None) ** LID_ARC_POWER
    basis = np.stack([base, base * t], axis=1)
    line = d[0] + (d[-1] - d[0]) * t
    coef, *_ = np.linalg.lstsq(basis[1:-1], (d - line)[1:-1], rcond=None)
    arc = basis @ coef
    # as high as the lid's own highest point (the least-squares arc cut the peak: a lower, rounder lid, which the
    # landmark blendshape model read as 0.1 less eyeWide)
    top, own = float(arc.min()), float((d - line).min())
    if top < -1e-9 and own < 0.0:
        arc *= own / top
    return line + arc


@dataclass(frozen=True)
class Pose:
    """One frame's mesh: ``vertices`` (V, 2) float32 pixels, ``opening_px`` (V,)
    the eye/mouth opening at each opening vertex's column, ``gaze_px`` (2, 2) the
    eyeball shift of the (right, left) eye, ``scale`` how far from the (fold-free) neutral face toward
    the requested expression the fold guard let the pose go (1 = all the way),
    ``lid_cover`` (2,) the share of each (right, left) eye opening the lid layer
    covers: the blink that the lid skin's motion has not already shown, ``upper_lip_drop_px`` (U,) how far each
    point of the mouth's upper chain (``mesh.mouth.upper``) has moved down the face from the photo, by the expression
    alone (not the head): a lip come down over teeth the photo shows hides their top."""

    vertices: np.ndarray
    opening_px: np.ndarray
    gaze_px: np.ndarray
    scale: float
    lid_cover: np.ndarray
    upper_lip_drop_px: np.ndarray


class Deformer:
    """Precomputes everything per portrait; :meth:`pose` is the per-frame call.

    Args:
        mesh: the warp mesh.
        rest: (V, 2) rest vertices, pixels.
        depth_px: (478,) landmark depth, pixels (smaller is nearer).
        basis: (52, V, 2) displacement fields, pixels.
        iod_px: inter-ocular distance, pixels.
    """

    def __init__(self, mesh: WarpMesh, rest: np.ndarray, depth_px: np.ndarray, basis: np.ndarray,
                 iod_px: float, *, inverse: Optional[np.ndarray] = None,
                 seal: Optional[tuple[np.ndarray, np.ndarray]] = None) -> None:
        self.mesh = mesh
        self.rest = rest.astype(np.float64)
        self._mouth_upper = np.asarray(mesh.mouth.upper)
        self._built = basis.reshape(basis.shape[0], -1).T.astype(np.float64)  # (V*2, 52), as built
        self._built_inverse = (self._built if inverse is None
                               else inverse.reshape(inverse.shape[0], -1).T.astype(np.float64))
        self._gains = np.ones(basis.shape[0])  # set_gain's
        self._asked_rest = np.zeros(basis.shape[0])  # set_rest_weights'
        self._inverse_gains = np.ones(basis.shape[0])  # set_inverse_gains'
        self._seal_kernels = seal
        self._iod_px = iod_px
        self._seal = np.zeros_like(self.rest)  # the lip seal at full share (see _derive)
        self._rest_open = 0.0
        self._depth = depth_px.astype(np.float64)
        centre = self.rest[:NUM_LANDMARKS].mean(0)
        self._pivot = np.array([centre[0], centre[1], self._depth.mean() + PIVOT_DEPTH_IODS * iod_px])
        self._openings = (mesh.mouth, mesh.eye_right, mesh.eye_left)
        self._down = self._face_down()
        # Contact keeps lids and lips CONTACT_GAP_IODS apart, or as close as the photo has them (a closed mouth's
        # lip landmarks may touch or cross): the rest pose is never moved by it.
        self._contact_gap_px = CONTACT_GAP_IODS * iod_px
        self._repair_max_px = REPAIR_MAX_IODS * iod_px
        self._min_gap = [np.minimum(self._contact_gap_px, (self.rest[o.lower] - self.rest[o.upper]) @ self._down)
                         for o in self._openings]
        # The guard judges change from rest: a triangle folds when an expression takes it below the rule
        # (area_thresholds) and below its own area in the photo. So the rest pose always passes, and a photo whose
        # mesh is already thin or flipped somewhere is not frozen by it.
        self._threshold = np.minimum(area_thresholds(mesh), signed_areas(self.rest, mesh.triangles))
        self._across = np.array([self._down[1], -self._down[0]])
        self._lid_start = self._chains(self.rest)  # the neutral face's, once _derive has it
        self._derive()
        self._rest_opening = [max(1e-3, float(np.linalg.norm(self.rest[o.lower] - self.rest[o.upper], axis=1).max()))
                              for o in (mesh.eye_right, mesh.eye_left)]
        self._eye_width = {s: float(np.linalg.norm(self.rest[o.corners[0]] - self.rest[o.corners[1]]))
                           for s, o in ((-1, mesh.eye_right), (1, mesh.eye_left))}

    def _chains(self, v: np.ndarray) -> list:
        """Per opening (as :attr:`_openings`), its chains' (upper, lower) points in ``v`` (V, 2)."""
        return [(v[o.upper].copy(), v[o.lower].copy()) for o in self._openings]

    def _face_down(self) -> np.ndarray:
        o = self.mesh.mouth
        across = self.rest[o.corners[1]] - self.rest[o.corners[0]]
        across /= np.linalg.norm(across)
        return np.array([-across[1], across[0]])

    def set_gain(self, shape: int, gain: float) -> None:
        """Scale one shape's field to ``gain`` times its built size (for fitting gains in closed loop)."""
        self._gains[shape] = gain
        self._derive()

    def set_field(self, shape: int, field: np.ndarray) -> None:
        """Replace one shape's built field ((V, 2) pixels at weight 1; its inverse stays as built)."""
        field = np.asarray(field, np.float64)
        if field.shape != self.rest.shape or not np.isfinite(field).all():
            raise ValueError(f"a field must be {self.rest.shape} finite values, got shape {field.shape}")
        self._built[:, shape] = field.ravel()
        self._derive()

    def set_rest_weights(self, rest_weights: np.ndarray) -> None:
        """The photo's own expression ((52,) ARKit weights): from now on weights are absolute, all zeros
        shows a neutral face and :attr:`rest_weights` shows the photo as it is (see :meth:`_derive`).

        Raises:
            ValueError: not (52,) finite values.
        """
        asked = np.asarray(rest_weights, np.float64)
        if asked.shape != self._asked_rest.shape or not np.isfinite(asked).all():
            raise ValueError(f"rest weights must be {len(self._asked_rest)} finite values, got shape {asked.shape}")
        self._asked_rest = asked.copy()
        self._derive()

    @property
    def asked_rest_weights(self) -> np.ndarray:
        """(52,) the photo's expression as given to :meth:`set_rest_weights` (:attr:`rest_weights`: as taken)."""
        return self._asked_rest.copy()

    @property
    def neutral_px(self) -> np.ndarray:
        """(V, 2) pixels: the neutral face's displacement from the photo (all-zero weights, before contact
        and the guard; the lip seal included)."""
        return self._neutral.copy()

    @property
    def inverse_gains(self) -> np.ndarray:
        """(52,) the scale of each shape's inverse field (:meth:`set_inverse_gains`)."""
        return self._inverse_gains.copy()

    def set_inverse_gains(self, gains: np.ndarray, *, neutral_only: bool = False) -> None:
        """Scale each shape's inverse field (the one that takes the photo's expression out) by ``gains``
        ((52,) finite, > 0; see :func:`~.neutral.fit_neutral`). ``neutral_only``: derive just the neutral face
        (all that drawing all-zero weights needs, a tenth of the work); the other fields are refitted to it
        on the next call that needs them."""
        gains = np.asarray(gains, np.float64)
        if gains.shape != self._inverse_gains.shape or not np.isfinite(gains).all() or (gains <= 0).any():
            raise ValueError(f"inverse gains must be {len(self._inverse_gains)} finite values > 0")
        self._inverse_gains = gains.copy()
        self._derive(neutral_only=neutral_only)

    def _derive(self, *, neutral_only: bool = False) -> None:
        """Everything that follows from the built fields, the gains and the asked rest weights.

        - :attr:`rest_weights`: each shape of the photo's expression taken out as far as the face folds
          nothing (largest first, each bisected when all of it would fold, then :data:`NEUTRAL_MARGIN` of
          that); :attr:`neutral_share` is the share of the asked weights taken out;
        - the neutral face's displacement;
        - the fields made locally rigid where they would fold on the neutral face (they were made fold-free
          on the photo at build, and the neutral face differs), so each shape alone at weight 1 needs no
          scaling back; the photo's own weights still give the photo exactly (the displacement is
          ``basis @ (w - rest_weights)``), and a shape the photo shows keeps its field where the refitted
          one would fold the neutral face.
        """
        self._basis = self._built * self._gains
        self._inverse = self._built_inverse * self._inverse_gains  # the gains scale the way out only
        asked = self._asked_rest.copy()
        asked[_MOUTH_CLOSE] = min(asked[_MOUTH_CLOSE], asked[_JAW_OPEN])  # as expression() reads weights
        taken = np.zeros_like(asked)

        def neutral_folds(weights: np.ndarray) -> bool:
            return not self._valid(self._contact(self.rest - (self._inverse @ weights).reshape(-1, 2)))

        for k in np.argsort(-asked):
            if asked[k] <= 0:
                break
            taken[k] = asked[k]
            if neutral_folds(taken):
                lo, hi = 0.0, asked[k]
                for _ in range(GUARD_STEPS):
                    mid = (lo + hi) / 2
                    taken[k] = mid
                    lo, hi = (lo, mid) if neutral_folds(taken) else (mid, hi)
                taken[k] = NEUTRAL_MARGIN * lo  # off the fold's edge, leaving room for expressions
        # as expression() reads weights, so that the photo's own weights give the photo back exactly
        taken[_MOUTH_CLOSE] = min(taken[_MOUTH_CLOSE], taken[_JAW_OPEN])
        self.rest_weights = taken
        self.neutral_share = float(taken.sum() / asked.sum()) if asked.sum() > 0 else 1.0
        self._neutral = -(self._inverse @ taken).reshape(-1, 2)
        self._derive_seal(taken)
        self._neutral += self._seal
        #: (V, 2) float32 pixels: the neutral face's vertices, read by every frame (what the raster measures a
        #: squeeze from); made here, where the neutral face changes, not per frame
        self._neutral_face = self.rest + self._neutral  # (V, 2) float64, for the fields' and the guard's use
        self.neutral_vertices = self._neutral_face.astype(np.float32)
        self._lid_start = self._chains(self._neutral_face)
        self._fields_stale = neutral_only
        if neutral_only:
            self._blink_reach = self._blinks_alone()
        else:
            self._refit_fields(taken)  # measures the blinks' reach too

    def _blinks_alone(self) -> np.ndarray:
        """(2,) how far each (right, left) eye's blink field alone at weight 1 shuts the neutral face's eye (0 not
        at all .. 1 shut; a gain under 1 stops short, and the lid layer finishes the blink, :meth:`pose`)."""
        neutral = self._neutral_face
        reach = np.ones(2)
        for row, (sign, o) in enumerate(((-1, self.mesh.eye_right), (1, self.mesh.eye_left))):
            v = self._contact(neutral + self._basis[:, _BLINK[sign]].reshape(-1, 2))
            before = float(np.linalg.norm(neutral[o.lower] - neutral[o.upper], axis=1).max())
            after = float(np.linalg.norm(v[o.lower] - v[o.upper], axis=1).max())
            reach[row] = min(max(1.0 - after / max(before, 1e-3), 0.0), 1.0)
        return reach

    def _refit_fields(self, taken: np.ndarray) -> None:
        """Each field made locally rigid where it would fold the neutral face (see :meth:`_derive`)."""
        self._fields_stale = False
        neutral = self._neutral_face
        for k in range(self._basis.shape[1]):
            # a shape alone: the neutral face, its own share put back, then the rest of its field
            back = taken[k] * self._inverse[:, k].reshape(-1, 2)
            field = self._basis[:, k].reshape(-1, 2) * (1.0 - taken[k])
            if self._valid(self._contact(neutral + back + field)):
                continue
            refitted = unfold(neutral + back, field, self.mesh.triangles, self._threshold,
                              iterations=UNFOLD_BUILD_ITERATIONS)
            # as where a field is built (:func:`.fields.build_field`): points the repair moved that fold nothing of
            # their own get their own motion back
            refitted = give_back_motion(neutral + back, field, refitted, self.mesh.triangles, self._threshold)
            self._basis[:, k] = (refitted / max(1.0 - taken[k], 1e-6)).ravel()
        self._blink_reach = self._blinks_alone()

    def _derive_seal(self, taken: np.ndarray) -> None:
        """The lip seal: a photo whose mouth is open at rest (jawOpen, mouthUpperUp, mouthLowerDown) has its lips
        closed on the neutral face, the lower lip rising :data:`SEAL_LOWER_SHARE` of the way. It fades in as
        those weights fall below the photo's own (:func:`_mouth_open`), so the photo's weights still give the
        photo. Each lip point closes to the other lip's line where it is. It closes the lips as far as that folds
        nothing (bisection), column by column: where the lip lines kink near a corner, that corner's columns only
        part of the way."""
        self._seal = np.zeros_like(self.rest)
        self._rest_open = _mouth_open(taken)
        if self._seal_kernels is None or self._rest_open < SEAL_MIN_OPEN:
            self._rest_open = 0.0
            return
        o = self.mesh.mouth
        v = self._contact(self.rest + self._neutral)
        across, down = v @ self._across, v @ self._down

        def other_lip(chain: np.ndarray, at: np.ndarray) -> np.ndarray:
            order = np.argsort(across[chain])
            return np.interp(at, across[chain[order]], down[chain[order]])

        # each lip point closes to the other lip's line where it is, not to its paired point: near the corners a
        # pair is not above each other, and closing pairs turned the corner's opening over
        min_gap = SEAL_GAP_IODS * self._iod_px
        gap_upper = np.maximum(other_lip(o.lower, across[o.upper]) - down[o.upper] - min_gap, 0.0)
        gap_lower = np.maximum(down[o.lower] - other_lip(o.upper, across[o.lower]) - min_gap, 0.0)
        upper, lower = self._seal_kernels

        def seal(share: np.ndarray) -> np.ndarray:  # (C,) how far each column closes
            return (np.outer(upper @ (share * gap_upper * (1.0 - SEAL_LOWER_SHARE)), self._down)
                    - np.outer(lower @ (share * gap_lower * SEAL_LOWER_SHARE), self._down))

        def furthest(make) -> float:  # the largest t in [0, 1] whose seal make(t) folds nothing (bisection)
            if self._valid(self._contact(v + seal(make(1.0)))):
                return 1.0
            lo, hi = 0.0, 1.0
            for _ in range(GUARD_STEPS):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if self._valid(self._contact(v + seal(make(mid)))) else (lo, mid)
            return lo

        # every column as far as they all can go together, then each further alone, from the middle out: where
        # the lines kink near a corner (obama2's, 16-bit) the corner's columns stop short, not the whole mouth
        share = np.full(len(o.upper), furthest(lambda t: np.full(len(o.upper), t)))
        if share[0] < 1.0:
            middle = (len(share) - 1) / 2
            for c in sorted(range(len(share)), key=lambda c: abs(c - middle)):
                def alone(t: float, c: int = c, base: np.ndarray = share.copy()) -> np.ndarray:
                    out = base.copy()
                    out[c] += t * (1.0 - base[c])
                    return out
                share = alone(furthest(alone))
        self._seal = seal(share)
        if not share.any():
            self._rest_open = 0.0

    def expression(self, weights: np.ndarray) -> np.ndarray:
        """(V, 2) pixel displacement from the photo of the absolute weights ((52,) in [0, 1])."""
        w = np.asarray(weights, np.float64).copy()
        w[_MOUTH_CLOSE] = min(w[_MOUTH_CLOSE], w[_JAW_OPEN])
        delta = w - self.rest_weights
        if self._fields_stale and (delta > 0).any():  # only after set_inverse_gains(neutral_only=True)
            self._refit_fields(self.rest_weights)
        d = (self._basis @ np.maximum(delta, 0.0) + self._inverse @ np.minimum(delta, 0.0)).reshape(-1, 2)
        if self._rest_open > 0.0:
            d += max(0.0, 1.0 - _mouth_open(w) / self._rest_open) * self._seal
        return d

    def head(self, moved: np.ndarray, head_rad: Optional[np.ndarray]) -> np.ndarray:
        """(V, 2) displacement that turns the (already expressive) vertices by ``head_rad``."""
        if head_rad is None:
            return np.zeros_like(moved)
        yaw = float(np.clip(head_rad[0], -MAX_YAW_RAD, MAX_YAW_RAD))
        pitch = float(np.clip(head_rad[1], -MAX_PITCH_RAD, MAX_PITCH_RAD))
        roll = float(np.clip(head_rad[2], -MAX_ROLL_RAD, MAX_ROLL_RAD))
        r = _rotation(yaw, pitch, roll)
        face = moved[:NUM_LANDMARKS]
        # image (x right, y down, z away) -> camera (x right, y up, z toward the viewer)
        cam = np.stack([face[:, 0] - self._pivot[0], self._pivot[1] - face[:, 1], self._pivot[2] - self._depth], 1)
        turned = cam @ r.T
        d = np.zeros_like(moved)
        d[:NUM_LANDMARKS, 0] = turned[:, 0] + self._pivot[0] - face[:, 0]
        d[:NUM_LANDMARKS, 1] = self._pivot[1] - turned[:, 1] - face[:, 1]
        ring = self.mesh.ring_parent >= 0
        d[ring] = d[self.mesh.ring_parent[ring]] * self.mesh.follow[ring, None]
        return d

    def _contact(self, v: np.ndarray) -> np.ndarray:
        """Where a lower chain point rises above its upper partner, both meet halfway. Points that already
        touch in the photo (a closed mouth) also share their sideways motion while they touch: closed lips
        slide together, so the closed opening cannot shear inside out. Lids that meet, meet in one point, where
        they first touched (:meth:`_lids_met`): a lid pushed past the other kept its sideways overshoot, and the
        shut eye's thin triangles turned over (the fold repair then parted the lids: a blink's gain of 1.1 left
        the astronaut's eyes 6 px open)."""
        across = self._across
        for o, min_gap, start in zip(self._openings, self._min_gap, self._lid_start):
            gap = (v[o.lower] - v[o.upper]) @ self._down
            bad = gap < min_gap
            if bad.any():
                up, low = o.upper[bad], o.lower[bad]
                fix = ((gap[bad] - min_gap[bad]) / 2)[:, None] * self._down
                if o is self.mesh.mouth:
                    touching = (min_gap[bad] < self._contact_gap_px)[:, None]
                    side = ((v[low] - self.rest[low]) - (v[up] - self.rest[up])) @ across
                    share = np.where(touching, (side / 2)[:, None] * across, 0.0)
                    v[up] += fix + share
                    v[low] -= fix + share
                else:
                    v[up], v[low] = self._lids_met(v[up], v[low], bad, min_gap[bad], start)
        return v

    def _lids_met(self, up: np.ndarray, low: np.ndarray, bad: np.ndarray, min_gap: np.ndarray,
                  start: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(upper, lower) lid points ((n, 2) pixels, pushed closer than ``min_gap``) moved to where they first
        came that close on their straight way from ``start`` (the chains' (upper, lower) points on the neutral
        face; ``bad`` picks this eye's columns), ``min_gap`` apart in one column. Meeting halfway between where
        they ended up instead moved the shut line by half the overshoot: toward the lower lid, which moves
        least, by up to 0.05 IOD at a blink's gain of 1.45."""
        up0, low0 = start[0][bad], start[1][bad]
        gap0 = (low0 - up0) @ self._down
        gap = (low - up) @ self._down
        closing = gap0 - gap
        # where the start is no wider than the gap kept (a neutral face that shuts the eye): halfway, as they are
        t = np.where((gap0 > min_gap) & (closing > 1e-9), (gap0 - min_gap) / np.maximum(closing, 1e-9), 1.0)[:, None]
        met = (up0 + t * (up - up0) + low0 + t * (low - low0)) / 2
        half = (min_gap / 2)[:, None] * self._down
        return met - half, met + half

    def _eye_closure(self, v: np.ndarray) -> np.ndarray:
        """(2,) how far each (right, left) eye is closed, 0 open as at rest (or wider) .. 1 shut."""
        return np.array([max(0.0, 1.0 - float(np.linalg.norm(v[o.lower] - v[o.upper], axis=1).max()) / rest)
                         for o, rest in zip((self.mesh.eye_right, self.mesh.eye_left), self._rest_opening)])

    def _valid(self, v: np.ndarray) -> bool:
        return bool(np.all(signed_areas(v, self.mesh.triangles) >= self._threshold))

    def _rounded_lids(self, v: np.ndarray, *, part: float = 1.0) -> np.ndarray:
        """``v`` with each upper lid that an expression raises above both the neutral face's and the photo's taken
        toward one smooth arc between the eye's corners (:func:`lid_arc`), fully once it has risen
        :data:`LID_ARC_RISE_IODS` on average: a brow raise or eyeWide lifts the lid's middle more than its sides, and
        its few points drew a tent (straight sides to a peak). The lid drawn as in the photo or the neutral face
        keeps its own line. ``part`` of the way (the caller halves it where the whole way folds skin)."""
        out = None
        for o in (self.mesh.eye_right, self.mesh.eye_left):
            up = np.asarray(o.upper)
            c0 = v[up[0]]
            axis, normal, length = self._corner_axes(v, up[0], up[-1])
            if length < 1e-6:
                continue
            ref = np.minimum((self._neutral_face[up] - c0) @ normal, (self.rest[up] - c0) @ normal)  # the higher
            d = (v[up] - c0) @ normal
            rise = float(np.mean(np.maximum(ref[1:-1] - d[1:-1], 0.0)))
            share = part * min(rise / (LID_ARC_RISE_IODS * self._iod_px), 1.0)
            if share <= 0.0:
                continue
            t = ((v[up] - c0) @ axis) / length
            arc = lid_arc(t, d)
            if out is None:
                out = v.copy()
            step = share * np.minimum(arc - d, 0.0)  # up to the arc, never down: a point above it stays
            step[[1, -2]] *= LID_ARC_CORNER_SHARE
            out[up[1:-1]] += step[1:-1, None] * normal
        return v if out is None else out

    def _mouth_gap(self, v: np.ndarray) -> np.ndarray:
        """(C,) px each mouth column's lips are apart across the mouth's line in ``v`` (corner to corner, so a
        head's roll turns it too), 0 where they touch or cross. Not the distance between a column's two points:
        the seal closes each lip onto the other's line, not onto its partner, and a sealed obama2 mouth 1 px apart
        measured 2-4.7 px between partners, so its seam drew the teeth behind at half strength, a light grey line."""
        o = self.mesh.mouth
        _, normal, _ = self._corner_axes(v, *o.corners)
        return np.maximum((v[o.lower] - v[o.upper]) @ normal, 0.0)

    def _corner_axes(self, v: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(axis, normal, length px): the unit vector from vertex ``a`` to ``b`` of ``v`` (an opening's corners), the
        unit normal to it pointing down the face, and their distance (unit vectors undefined under 1e-6 px)."""
        line = v[b] - v[a]
        length = float(np.linalg.norm(line))
        axis = line / max(length, 1e-9)
        normal = np.array([-axis[1], axis[0]])
        return axis, (normal if normal @ self._down >= 0 else -normal), length

    def pose(self, weights: np.ndarray, head_rad: Optional[np.ndarray] = None) -> Pose:
        """The mesh for one frame. ``weights`` (52,) in [0, 1]; ``head_rad``
        (yaw, pitch, roll) relative to the portrait's own pose, or None."""
        expr = self.expression(weights)
        head = None if head_rad is None else np.asarray(head_rad, np.float64)

        scale = 1.0
        v = self._contact(self.rest + expr)
        asked = self._eye_closure(v)  # what the fields show before any guard
        if not self._valid(v):
            # the expression's motion from the neutral face made locally rigid where it folds (from the photo, the
            # neutral face's own motion went rigid with it: a seal closing a mouth open at rest came undone, and
            # obama2's sadness showed his teeth)
            neutral = self._neutral_face
            moved = unfold(neutral, v - neutral, self.mesh.triangles, self._threshold,
                           iterations=UNFOLD_FRAME_ITERATIONS)
            repaired = self._contact(neutral + moved)
            if np.abs(repaired - v).max() <= self._repair_max_px:  # else the guard scales back (below)
                v = repaired
        if not self._valid(v):  # back toward the neutral face (fold-free by construction) until nothing folds
            base, toward = self._neutral_face, expr - self._neutral
            lo, hi = 0.0, 1.0
            for _ in range(GUARD_STEPS):
                mid = (lo + hi) / 2
                if self._valid(self._contact(base + mid * toward)):
                    lo = mid
                else:
                    hi = mid
            scale = lo
            v = self._contact(base + lo * toward)
        shown = self._eye_closure(v)
        for part in (1.0, 0.5):  # never a fold the guard kept out: half the way, or none
            rounded = self._rounded_lids(v, part=part)
            if rounded is v:
                break
            if self._valid(rounded):
                v = rounded
                break
        lip_drop = (v[self._mouth_upper] - self.rest[self._mouth_upper]) @ self._down
        if head is not None:
            v = v + self.head(v, head)
        opening = np.zeros(len(v))
        for o in self._openings:
            h = (self._mouth_gap(v) if o is self.mesh.mouth
                 else np.linalg.norm(v[o.lower] - v[o.upper], axis=1))
            opening[o.upper] = h
            opening[o.lower] = h
            opening[list(o.corners)] = 0.0
        gaze = np.zeros((2, 2))
        w = np.asarray(weights, np.float64)
        for row, sign in enumerate((-1, 1)):
            look = _LOOK[sign]
            out_dir = sign  # looking out moves the eyeball toward the subject's side
            gx = (w[look["Out"]] - w[look["In"]]) * out_dir * GAZE_HORIZONTAL
            gy = (w[look["Down"]] - w[look["Up"]]) * GAZE_VERTICAL
            gaze[row] = np.array([gx, gy]) * self._eye_width[sign]
        cover = np.zeros(2, np.float32)
        for row, sign in enumerate((-1, 1)):
            # the lid layer shows what the guard held back of the lids' closing, and what a blink field with a gain
            # under 1 falls short of its weight (the share of what it leaves open). Not the blink weight against
            # the eye's closing from the photo: with a brow raised (sadness: browInnerUp 0.7, blinks 0.2), or on a
            # neutral face that opens a photo's narrowed eyes, a small blink drew the layer's lash line across the
            # open eye, a thin dark line over the lid
            held = 0.0
            if shown[row] < 1.0 and asked[row] > shown[row]:
                held = (asked[row] - shown[row]) / (1.0 - shown[row])
            blink, reach = float(w[_BLINK[sign]]), float(self._blink_reach[row])
            short = blink * (1.0 - reach) / max(1.0 - blink * reach, 1e-6)
            cover[row] = min(1.0, max(held, short))
        return Pose(vertices=v.astype(np.float32), opening_px=opening.astype(np.float32),
                    gaze_px=gaze.astype(np.float32), scale=scale, lid_cover=cover,
                    upper_lip_drop_px=lip_drop.astype(np.float32))


def opening_attributes(mesh: WarpMesh, rest: np.ndarray) -> tuple[np.ndarray, ...]:
    """Static per-vertex attributes of the openings: ``u`` (V,) position along the
    opening 0..1, ``v`` (V,) 0 on the upper chain, 1 on the lower, 0.5 at the
    corners, and ``top``, ``bottom`` (V, 2) the rest positions of the upper and
    lower chain points of the vertex's column (the portrait's own opening, where
    the upper teeth show)."""
    n = len(rest)
    u, v, top, bottom = np.zeros(n), np.zeros(n), rest.copy(), rest.copy()
    o: Opening
    for o in (mesh.mouth, mesh.eye_right, mesh.eye_left):
        t = np.linspace(0.0, 1.0, len(o.upper))
        u[o.upper], u[o.lower] = t, t
        v[o.upper], v[o.lower] = 0.0, 1.0
        v[list(o.corners)] = 0.5
        top[o.lower] = rest[o.upper]
        bottom[o.upper] = rest[o.lower]
    f32 = np.float32
    return u.astype(f32), v.astype(f32), top.astype(f32), bottom.astype(f32)
