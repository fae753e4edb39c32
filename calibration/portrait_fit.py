"""``facecast calibrate fit-portrait``: per-shape gains of the portrait renderer's
hand-authored fields, fitted in closed loop for one photo.

For each shape, candidate gains (bounded to stay near the hand-authored field,
:data:`GAIN_CANDIDATES`; blinks up to :data:`BLINK_MAX_GAIN`, eyeWide from :data:`GEOMETRY_LOW_GAINS`) are tried
from small to large; each is rendered as a
0 -> 1 sweep, re-tracked with MediaPipe, and accepted only if

- the fold guard leaves the shape at full weight untouched (no folds),
- the response is monotone (Spearman rho >= :data:`MIN_RHO`, on :data:`SWEEP` and then on ``facecast eval``'s
  finer :data:`EVAL_SWEEP`),
- the drawn landmarks, scored by MediaPipe's blendshape model (``facecast eval``'s
  geometry channel), move at least :data:`TARGET_RANGE`: a gain that MediaPipe's
  landmark network happens to over-read must still draw the expression,
- dlib's identity distance near full weight (the farthest of :data:`LIKENESS_WEIGHTS`) stays within
  :data:`MAX_IDENTITY_RISE` of the neutral face's own distance, or under :data:`MAX_IDENTITY` (a smiling photo's
  neutral face is already some way from the photo),
- a gain over 1 keeps the mouth at least :data:`MIN_MOUTH_WIDTH_SHARE` of the neutral face's width at full
  weight (the lips' corners drawn, mouthFunnel and mouthPucker squeeze it): past that the lips
  form a tube, which MediaPipe may read but no face makes,
- both eyes keep at least :data:`MIN_EYE_OPEN_SHARE` of the neutral face's opening at full weight, for every
  shape but the eyes' own closing (a frown hoods the lids; it does not shut the eyes),
- for the shapes of :data:`STREAK_JUDGED`, the lips' skin at full weight is not stretched into streaks past
  issue 17's goal (``facecast eval``'s streak measure), or past what the smallest gain draws where that one
  misses the goal already; there the gains of :data:`STREAK_LOW_GAINS` are tried first, largest first, and
  taken only where they meet the goal.

The first gain tried whose closed-loop range reaches :data:`TARGET_RANGE` wins (the smallest, or the largest of
:data:`STREAK_LOW_GAINS` that meets the streak goal);
otherwise the accepted gain with the largest range, or the first accepted where that range is under
:data:`READ_OUT_OF_REACH` (MediaPipe will not read it to the goal); otherwise, where no gain draws the shape to
:data:`TARGET_RANGE` in the geometry channel, of those that draw it to the goal (0.3) and pass the rest, the one
with the largest range; otherwise, where MediaPipe reads the shape at no gain (a range under
:data:`BLIND_RANGE`), the smallest gain the geometry channel reads to :data:`TARGET_RANGE`, monotone, within the
identity limit; otherwise, where a gain that passed the rest took the face past the identity limit and a smaller
plausible one (or else the neutral face) keeps it, the largest gain bisected between the two
(:data:`IDENTITY_BISECT_STEPS`) that keeps the limit and draws the shape to the goal, monotone, or failing that the
same within the identity goal itself (0.45; the limit is under it); otherwise, where every
gain that passed the rest took the face past the identity limit, the one nearest the photo, if it is within the
identity goal (0.45; the shipped gain may be farther); otherwise, of all gains that fold nothing, the one nearest the
photo, if that one is within the goal (the likeness is a goal on every frame, a shape's range on one);
otherwise, where every one of those draws the shape short of the goal anyway, the largest smaller gain bisected
to within the identity goal; otherwise, where no gain keeps the likeness, the passing gain nearest the photo; otherwise (every gain
folds or misses the response goals) the shipped gain.
Shapes fitted one by one can still break the likeness together, so last the standard sequence's mix of shapes is
rendered with the fitted gains: while a frame of it is past the identity goal, the fitted gain over 1 drawn farthest
there steps down (kept as fitted where that cannot bring the mix within the goal).
Nothing else about the field changes, so a fit cannot invent a grotesque face to
raise a score. The result is saved per photo (:func:`fitted_gains_path`), and the
renderer uses it for that photo from then on.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional, Union

import numpy as np

from facecast.calibration.eval import realism
from facecast.calibration.eval.fidelity import (GOAL_IDENTITY, GOAL_RANGE, SWEEP_STEPS, DlibIdentity, KEY_SHAPES,
                                                spearman)
from facecast.calibration.eval.landmark_blendshapes import LandmarkBlendshapes
from facecast.engine.face.tracker import FaceTracker
from facecast.engine.types import FaceSample, NUM_ARKIT, arkit_index


GAIN_CANDIDATES = (0.7, 0.85, 1.0, 1.2, 1.45, 1.75, 2.1, 2.5)
TARGET_RANGE = 0.35
MIN_RHO = 0.9
#: A single shape at full weight may take dlib's identity distance to this (the goal over any frame is 0.45; the
#: margin is for mixes of shapes: obama2's standard sequence peaked at 0.417 with it, from 0.397 with 0.4, and
#: its browOuterUpLeft passed, 0.34 instead of 0.23).
MAX_IDENTITY = 0.43
MAX_IDENTITY_RISE = 0.1
SWEEP = np.linspace(0.0, 1.0, 6)
#: ``facecast eval``'s sweep (:data:`~.fidelity.SWEEP_STEPS` points): a gain the fit accepts for a shape judged by the
#: closed loop must read back with rho >= :data:`MIN_RHO` on it too. On :data:`SWEEP` alone a reading that dips
#: between two of its points passed: obama2_16bit's jawOpen read rho 0.94 on 6 points and 0.87 on eval's 11, and
#: failed there.
EVAL_SWEEP = np.linspace(0.0, 1.0, SWEEP_STEPS)
#: A gain's likeness is judged on its sweep's frames at these weights, the farthest from the photo of them:
#: ``facecast eval`` judges every frame, and a pucker or a funnel goes farthest short of full weight (obama_tight's
#: pucker at a gain of 0.7 is 0.471 from the photo at weight 0.9 and 0.465 at 1).
LIKENESS_WEIGHTS = (0.8, 0.9, 1.0)
#: Shapes together must keep the likeness too: the mix of ``facecast eval``'s standard sequence (jaw, brows, smile and
#: blinks at once) stays within the identity goal, or the fitted gains over :data:`MIX_LOWEST_GAIN` that it
#: draws farthest step down (:func:`_keep_mixes_alike`).
MIX_SEQUENCE = "standard"
MIX_LOWEST_GAIN = 1.0
#: Pushed together (a kiss), lips narrow the mouth to about half its width; a gain over 1 may take it to 0.4 of the
#: neutral face's width, not less (obama2's fit took mouthFunnel to a gain of 1.45: a mouth a quarter as wide, the lower
#: lip a pink column stretched 30 times). The floor judges what a gain adds to the hand-authored field, so gains up to
#: 1 pass it whatever they draw: two_faces' mouthFunnel drew 0.3995 at gain 1 and was held to 0.85, which draws a
#: geometry range of 0.28 (issue 16's goal is 0.3).
MIN_MOUTH_WIDTH_SHARE = 0.4
#: Shapes other than the eyes' own closing may narrow an eye to this share of the neutral face's opening at full
#: weight, not less: a frown hoods the lids, but the fit took browDown to gains of 2.1-2.5 on obama2's photos, which
#: MediaPipe still read as 0.26, with the eyes shut under the brows (black slits).
MIN_EYE_OPEN_SHARE = 0.6
_EYE_CLOSING = frozenset(arkit_index(f"{n}{s}") for n in ("eyeBlink", "eyeSquint", "cheekSquint")
                         for s in ("Left", "Right"))
#: Shapes judged by the geometry channel (issue 16): MediaPipe's landmark network reads one eye widening as
#: 0.05-0.1 at any gain, so their closed-loop range is noise, and fitting to it took eyeWide anywhere from 0.7 to 2.5
#: on the photo set (one eye of a pair at 0.7, the other at 2.5; at 2.5 the lid a tall tent over a band of white).
#: The fit takes their range and rho from the drawn landmarks instead.
GEOMETRY_JUDGED = frozenset(arkit_index(n) for n in ("eyeWideLeft", "eyeWideRight"))
#: A blink's field shuts the eye at weight 1 / gain, so its gain is at most this: shut at 0.69 of the weight, no
#: sooner. MediaPipe's reading of a shut eye is flat in the gain (0.21-0.34 on the photo set from 0.7 to 2.5, within
#: 0.03 per photo), and taking the largest of those readings set blink gains anywhere in that span, run to run (2.5:
#: shut at 0.4, so a user's eyes half shut showed them closed). The fit's rule replayed on its measurements of the
#: 17 photos of the set (drawn at 0107e7c and at 552359e): capped, 145 of the 146 closed-loop ranges >= 0.3 it
#: reached stay.
BLINK_MAX_GAIN = 1.45
_BLINKS = frozenset(arkit_index(n) for n in ("eyeBlinkLeft", "eyeBlinkRight"))
#: The geometry-judged shapes may also take these gains, under :data:`GAIN_CANDIDATES`: eyeWide's field at 0.7 drew a
#: geometry range of 0.61-0.67 on obama2's photos and 32bit (the target is :data:`TARGET_RANGE`), the lid raised into
#: a dome of white twice the eye's height.
#: They also take the gains halfway between each two of :data:`GAIN_CANDIDATES` (:func:`candidate_gains`): the blendshape
#: model's eyeWide reading rises faster than the lid (Biden's left eye reads 0.21 / 0.31 / 0.48 at gains 0.85 / 1.0 /
#: 1.2, obama.jpg's 0.22 / 0.34 / 0.52), so at the shared steps the first gain past :data:`TARGET_RANGE` drew the lid
#: higher than the target needs, a taller dome of white over the iris.
GEOMETRY_LOW_GAINS = (0.4, 0.5, 0.6)
#: Shapes whose full-weight frame the streak measure judges alone (the one-shape entries of
#: :data:`.realism.STREAK_SHAPES`; the blink is both eyes at once): ARKit index -> its name there. A fit may not take
#: them past :data:`.realism.GOAL_STREAK_RATIO`, or past the smallest plausible gain's ratio where that misses the goal
#: already (32bit's mouthFunnel: the fit took it to 1.75, the mouth a trunk of stretched lip 0.4 as wide as the neutral
#: one, streak ratio 5.98).
STREAK_JUDGED = {arkit_index(n): n for n, (_, spec) in realism.STREAK_SHAPES.items() if set(spec) == {n}}
#: Where the smallest of :data:`GAIN_CANDIDATES` already stretches a shape of :data:`STREAK_JUDGED` past the streak
#: goal, the fit tries these first, largest first, and takes one only where its lips meet the goal: obama2's
#: mouthPucker streaked 1.57 at 0.7 and 1.32 / 1.13 / 1.01 at 0.6 / 0.5 / 0.4 (read back 0.94, 0.92, 0.84, 0.65),
#: the turned Obama's jawOpen 1.55 at 0.7 and 1.38 at 0.6 (read back 0.58, 0.55).
STREAK_LOW_GAINS = (0.6, 0.5, 0.4)
#: A shape whose closed-loop reading moves less than this at every gain MediaPipe does not see: its readings are
#: noise, and the fit judges it by the geometry channel instead (Biden's mouthFunnel reads 0.002 at every gain; its
#: gain came from that noise, or from the fallback nearest the photo: 1.2 one fit, 0.85 the next, which draws a
#: geometry range of 0.46 and 0.23, and the second fails issue 16's goal of 0.3).
BLIND_RANGE = 0.05
#: Where the largest closed-loop range any accepted gain reads is under this, MediaPipe will not read the shape to the
#: goal (0.3) on this photo, and more gain buys only distortion: the fit takes the smallest accepted gain (the
#: first tried that draws the shape to :data:`TARGET_RANGE` in the geometry channel, monotone, within the identity
#: limit) instead of the largest range. On the photo set (FIT 43), 48 shapes were fitted to ranges under 0.25 and
#: none of them passed ``facecast eval``'s closed loop; of the 16 between 0.25 and 0.3, one did. Grace Hopper's
#: mouthFunnel was fitted to 1.75 for a range of 0.18: a slit between lips stretched into a tube.
READ_OUT_OF_REACH = 0.25


#: Where a gain draws a shape to the target but takes the face past the identity limit and a smaller plausible gain
#: keeps it, the fit bisects the gains between those two this many times for the largest that keeps the likeness
#: (:func:`_bisect_to_the_likeness`). obama_tight's mouthFunnel: 0.85 drew a geometry range of 0.24 at 0.433 from the
#: photo (limit 0.443), 1.0 drew 0.41 at 0.461, and the fit fell back to 0.7 (nearest the photo, 0.11: issue 16's goal
#: is 0.3); 0.925 draws 0.32 at 0.439. Three steps left gaps of an eighth of the span: obama_tight's mouthPucker was
#: 0.443 from the photo at 0.4375 (drawn 0.28) and 0.455 at 0.525; the fourth and fifth steps find 0.459, 0.448 from
#: it, drawn 0.44 (its limit 0.447; then to the goal, 0.45).
IDENTITY_BISECT_STEPS = 6


def streak_ratio(renderer, k: int) -> float:
    """The streak measure's relative ratio (:func:`.realism.measure_streaks`) of shape ``k`` of
    :data:`STREAK_JUDGED` at full weight, with the renderer's gains now."""
    name = STREAK_JUDGED[k]
    m = realism.measure_streaks(renderer, shapes={name: realism.STREAK_SHAPES[name]})["shapes"][name]["relative"]
    return float("inf") if m is None else float(m)


def candidate_gains(k: int) -> tuple[float, ...]:
    """The gains the fit tries for ARKit shape ``k``, small to large (:data:`GAIN_CANDIDATES`, blinks up to
    :data:`BLINK_MAX_GAIN`, the geometry-judged shapes from :data:`GEOMETRY_LOW_GAINS` and halfway between
    each two of the rest too)."""
    if k in GEOMETRY_JUDGED:
        halfway = {round((a + b) / 2, 3) for a, b in zip(GAIN_CANDIDATES, GAIN_CANDIDATES[1:])}
        low = {g for g in GEOMETRY_LOW_GAINS if g < min(GAIN_CANDIDATES)}
        return tuple(sorted(low | set(GAIN_CANDIDATES) | halfway))
    return tuple(g for g in GAIN_CANDIDATES if k not in _BLINKS or g <= BLINK_MAX_GAIN)


def _streak_low_gains(renderer, k: int, smallest: float) -> tuple[float, ...]:
    """:data:`STREAK_LOW_GAINS` where shape ``k`` is in :data:`STREAK_JUDGED` and its lips at gain ``smallest``
    (set on the renderer) streak past the goal, else none."""
    if k not in STREAK_JUDGED:
        return ()
    renderer.set_gain(k, smallest)
    return STREAK_LOW_GAINS if streak_ratio(renderer, k) > realism.GOAL_STREAK_RATIO else ()


@dataclass(frozen=True)
class ShapeFit:
    shape: str
    gain: float
    range: float
    rho: float
    identity: float
    reason: str


def _sample(k: int, x: float) -> FaceSample:
    w = np.zeros(NUM_ARKIT, np.float32)
    w[k] = x
    return FaceSample(capture_wall_ns=0, weights=w)


def _sweep(renderer, tracker, geometry, k: int) -> tuple[float, float, float, float, bool, tuple]:
    """(closed-loop range, its Spearman rho, geometry range, its Spearman rho, plausible at full weight (no fold, the
    mouth wide enough: :func:`mouth_width_share`), the frames at :data:`LIKENESS_WEIGHTS` as (frame, tracked face)
    pairs) of shape ``k`` swept over :data:`SWEEP`."""
    measured, drawn, faces = [], [], {}
    for x in SWEEP:
        frame, tracked, reading = _read(renderer, tracker, k, x)
        measured.append(reading)
        drawn.append(geometry(renderer.drawn_landmarks(_sample(k, x)))[k])
        if round(float(x), 6) in LIKENESS_WEIGHTS:
            faces[round(float(x), 6)] = (frame, tracked)
    m = np.array(measured)
    plausible = (renderer.pose(_sample(k, 1.0)).scale == 1.0
                 and (renderer.gains[k] <= 1.0 or mouth_width_share(renderer, k) >= MIN_MOUTH_WIDTH_SHARE)
                 and (k in _EYE_CLOSING or eye_open_share(renderer, _sample(k, 1.0)) >= MIN_EYE_OPEN_SHARE))
    rng = float(np.nanmax(m) - np.nanmin(m)) if np.isfinite(m).any() else 0.0
    likeness = tuple(faces.get(x) or _read(renderer, tracker, k, x)[:2] for x in LIKENESS_WEIGHTS)
    return rng, spearman(SWEEP, m), float(np.ptp(drawn)), spearman(SWEEP, np.array(drawn)), plausible, likeness


def _read(renderer, tracker, k: int, x: float) -> tuple[np.ndarray, object, float]:
    """(the frame of shape ``k`` alone at weight ``x``, its tracked face, MediaPipe's reading of ``k``: NaN where it
    finds no face)."""
    frame = np.ascontiguousarray(renderer.render(_sample(k, x))[..., :3])
    tracked = tracker.track(frame)
    return frame, tracked, (tracked.weights[k] if tracked is not None else np.nan)


def _eval_rho(renderer, tracker, k: int) -> float:
    """The Spearman rho of MediaPipe's reading of shape ``k`` over :data:`EVAL_SWEEP` (NaN where it finds no face)."""
    return spearman(EVAL_SWEEP, np.array([_read(renderer, tracker, k, x)[2] for x in EVAL_SWEEP]))


def mouth_width_share(renderer, k: int) -> float:
    """The distance between the mouth's corners (the inner lip contour's) that ARKit shape ``k`` at weight 1 draws,
    as a share of the neutral face's."""
    corners = list(renderer.mesh.mouth.corners)
    neutral, full = (renderer.drawn_landmarks(_sample(k, x))[corners, :2] for x in (0.0, 1.0))
    return float(np.linalg.norm(full[1] - full[0]) / max(np.linalg.norm(neutral[1] - neutral[0]), 1e-6))


def eye_open_share(renderer, sample: FaceSample) -> float:
    """The narrower of the two eyes' openings (the mean height between the lids' drawn landmarks, corners left out)
    that ``sample`` draws, as a share of the neutral face's."""
    mesh = renderer.mesh
    neutral, full = (renderer.drawn_landmarks(x) for x in (_sample(0, 0.0), sample))
    shares = []
    for eye in (mesh.eye_right, mesh.eye_left):
        upper, lower = list(eye.upper[1:-1]), list(eye.lower[1:-1])
        height = [float(np.mean(lm[lower, 1]) - np.mean(lm[upper, 1])) for lm in (neutral, full)]
        shares.append(height[1] / max(height[0], 1e-6))
    return min(shares)


def fit_gains(renderer, portrait_rgb: np.ndarray, *, shapes: tuple[str, ...] = KEY_SHAPES,
              identity: bool = True, progress: bool = True) -> tuple[np.ndarray, list[ShapeFit]]:
    """(52,) gains (the shipped ones for shapes not fitted) and one :class:`ShapeFit`
    per fitted shape, for a portrait renderer prepared with all gains at 1."""

    from facecast.engine.render.portrait.gains import DEFAULT_GAINS  # numba: compiled on first use

    judges = _Judges(tracker=FaceTracker(), geometry=LandmarkBlendshapes(),
                     embedder=DlibIdentity() if identity else None)
    try:
        identity_limit = np.inf
        if judges.embedder is not None:
            judges.reference = judges.embedder.embed(portrait_rgb)
            neutral = np.ascontiguousarray(renderer.render(_sample(0, 0.0))[..., :3])
            d = judges.distance(neutral, judges.tracker.track(neutral))  # inf: no face found; the fixed limit
            judges.neutral_distance = d
            identity_limit = max(MAX_IDENTITY, d + MAX_IDENTITY_RISE) if np.isfinite(d) else MAX_IDENTITY
        gains = DEFAULT_GAINS.copy()  # shapes not fitted keep the shipped gains
        fits = []
        for i, name in enumerate(shapes):
            k = arkit_index(name)
            chosen = _fit_shape(renderer, judges, name, identity_limit=identity_limit)
            if chosen is None:
                chosen = ShapeFit(name, float(DEFAULT_GAINS[k]), float("nan"), float("nan"), float("nan"),
                                  "no gain passed the constraints: shipped gain")
            renderer.set_gain(k, chosen.gain)
            gains[k] = chosen.gain
            fits.append(chosen)
            if progress:
                sys.stderr.write(f"\r  fitted {i + 1}/{len(shapes)} shapes")
                sys.stderr.flush()
        if judges.embedder is not None:
            def response(k: int) -> tuple[float, float]:
                rng, rho, drawn, drawn_rho, *_ = _sweep(renderer, judges.tracker, judges.geometry, k)
                return (drawn, drawn_rho) if k in GEOMETRY_JUDGED else (rng, rho)

            fits = _keep_mixes_alike(renderer, gains, fits, judges.distance, response, judges.tracker)
    finally:
        judges.close()
        if progress:
            sys.stderr.write("\n")
    return gains, fits


@dataclass
class _Judges:
    """The fit's measuring models: MediaPipe's tracker (the closed loop), its blendshape model on the drawn landmarks
    (the geometry channel) and dlib's identity model (None: identity not judged) with the photo's embedding."""
    tracker: object
    geometry: object
    embedder: Optional[object]
    reference: Optional[np.ndarray] = None
    #: the neutral face's distance from the photo (0 where identity is not judged)
    neutral_distance: float = 0.0

    def distance(self, frame: np.ndarray, tracked) -> float:
        """dlib's identity distance of ``frame`` (its tracked face, or None) from the photo; 0 when not judged."""
        if self.embedder is None:
            return 0.0
        e = self.embedder.embed(frame, None if tracked is None else tracked.landmarks)
        return self.embedder.distance(e, self.reference) if e is not None else np.inf

    def likeness(self, faces: tuple) -> float:
        """The largest identity distance (:meth:`distance`) of ``faces``, (frame, tracked face) pairs."""
        return max(self.distance(frame, tracked) for frame, tracked in faces)

    def close(self) -> None:
        self.tracker.close()
        if self.embedder is not None:
            self.embedder.close()


class _Candidate(NamedTuple):
    """What one gain drew: its response (the closed loop's, or the geometry channel's for the shapes of
    :data:`GEOMETRY_JUDGED`), the geometry channel's, and the frames its likeness is judged on (:func:`_sweep`)."""
    gain: float
    range: float
    rho: float
    drawn: float
    drawn_rho: float
    faces: tuple


@dataclass
class _Tried:
    """What a shape's candidate gains drew, kept for the fallbacks of :func:`_fall_back`."""
    best: Optional[ShapeFit] = None  # accepted, short of the target range: the largest range
    first: Optional[ShapeFit] = None  # accepted, short of the target range: the first tried
    closest: Optional[ShapeFit] = None  # passing all but identity, nearest the photo
    #: every plausible gain (:class:`_Candidate`), in the order tried
    folding_nothing: list = field(default_factory=list)
    #: the same, of gains passing all but drawing the shape to the goal only, not the target
    to_goal: list = field(default_factory=list)
    #: the smallest gain that passed all but the identity limit (:class:`_Candidate`), and the streak limit in force
    over_limit: Optional[_Candidate] = None
    streak_limit: Optional[float] = None
    #: what the gains bisected for the likeness drew (:func:`_bisected`): gain -> (range, rho, drawn, drawn rho,
    #: plausible, identity distance)
    bisected: dict = field(default_factory=dict)


def _fit_shape(renderer, judges: _Judges, name: str, *, identity_limit: float) -> Optional[ShapeFit]:
    """The gain for shape ``name`` by the rules of the module's docstring (None: none passed; the shipped gain
    stays), trying its candidate gains on ``renderer`` (its gain for the shape is left at the last one tried)."""
    k = arkit_index(name)
    tried = _Tried()
    streak_limit = None  # the goal, or the smallest plausible gain's ratio where that misses it
    gains_to_try = candidate_gains(k)
    low = _streak_low_gains(renderer, k, gains_to_try[0])
    for g in low + gains_to_try:
        renderer.set_gain(k, g)
        rng, rho, drawn, drawn_rho, plausible, faces = _sweep(renderer, judges.tracker, judges.geometry, k)
        if k in GEOMETRY_JUDGED:
            rng, rho = drawn, drawn_rho
        if plausible and k in STREAK_JUDGED:
            ratio = streak_ratio(renderer, k)
            if g in low:
                plausible = ratio <= realism.GOAL_STREAK_RATIO
            else:
                if streak_limit is None:
                    streak_limit = tried.streak_limit = max(realism.GOAL_STREAK_RATIO, ratio)
                plausible = ratio <= streak_limit
        candidate = _Candidate(g, rng, rho, drawn, drawn_rho, faces)
        if plausible:
            tried.folding_nothing.append(candidate)
        if not (plausible and np.isfinite(rho) and rho >= MIN_RHO and drawn >= GOAL_RANGE):
            continue
        if k not in GEOMETRY_JUDGED and not _eval_rho(renderer, judges.tracker, k) >= MIN_RHO:
            continue
        if drawn < TARGET_RANGE:
            tried.to_goal.append(candidate)
            continue
        if rng < TARGET_RANGE and tried.best is not None and rng <= tried.best.range:
            continue  # no better than one already accepted: spare the identity model
        ident = judges.likeness(faces)
        if ident > identity_limit:
            if tried.over_limit is None:
                tried.over_limit = candidate
            if tried.closest is None or ident < tried.closest.identity:
                tried.closest = ShapeFit(name, g, rng, rho, ident, "every gain over the identity limit: the "
                                                                   "nearest the photo")
            continue
        fit = ShapeFit(name, g, rng, rho, ident, "reaches the target range")
        if rng >= TARGET_RANGE:
            return fit
        tried.best = fit
        tried.first = tried.first or fit
    return _fall_back(renderer, judges, name, tried, identity_limit=identity_limit)


def _fall_back(renderer, judges: _Judges, name: str, tried: _Tried, *, identity_limit: float) -> Optional[ShapeFit]:
    """Where no gain reached the target range: the fallbacks of the module's docstring, in order."""
    best, first = tried.best, tried.first
    if best is not None and best.range < READ_OUT_OF_REACH:
        return ShapeFit(name, first.gain, first.range, first.rho, first.identity,
                        "read back short of the goal at every gain: the first drawn to the target")
    if best is not None:
        return ShapeFit(name, best.gain, best.range, best.rho, best.identity, "largest range allowed")
    # no gain draws the shape to the target: one that draws it to the goal, read back the most
    # (obama.jpg's mouthFunnel: 0.85 drew 0.28, 1.0 drew 0.349 and read 0.20, and the shipped 0.85 stayed)
    for c in sorted(tried.to_goal, key=lambda c: -c.range):
        ident = judges.likeness(c.faces)
        if ident <= identity_limit:
            return ShapeFit(name, c.gain, c.range, c.rho, ident, "drawn to the goal only: largest range allowed")
    if tried.folding_nothing and max(c.range for c in tried.folding_nothing) < BLIND_RANGE:
        # MediaPipe reads none of it at any gain: the smallest gain the geometry channel reads to the target
        for c in tried.folding_nothing:
            if c.drawn >= TARGET_RANGE and np.isfinite(c.drawn_rho) and c.drawn_rho >= MIN_RHO:
                ident = judges.likeness(c.faces)
                if ident <= identity_limit:
                    return ShapeFit(name, c.gain, c.drawn, c.drawn_rho, ident, "not read back at any gain: the "
                                                                               "smallest drawn to the target")
    for limit in sorted({min(identity_limit, GOAL_IDENTITY), GOAL_IDENTITY}):
        bisected = _bisect_to_the_likeness(renderer, judges, name, tried, limit=limit)
        if bisected is not None:
            return bisected
    if tried.closest is not None and tried.closest.identity <= GOAL_IDENTITY:
        return tried.closest
    if judges.embedder is not None and tried.folding_nothing:
        # every gain that draws the shape well enough breaks the identity goal: keep the likeness, not the
        # shape (astronaut_rolled's browDownRight: 1.0 missed the response goals, 1.45 met them 0.545 from
        # the photo, and every frame near the sweep's end then broke the goal), where a gain keeps it
        ident, g, rng, rho = min((judges.likeness(c.faces), c.gain, c.range, c.rho)
                                 for c in tried.folding_nothing)
        if ident <= GOAL_IDENTITY:
            return ShapeFit(name, g, rng, rho, ident, "no gain moves the shape enough within the identity "
                                                      "goal: the nearest the photo")
        if all(c.drawn < GOAL_RANGE for c in tried.folding_nothing):
            below = _below_the_likeness_goal(renderer, judges, name, tried)
            if below is not None:
                return below
    # no gain keeps the likeness (a photo whose neutral face is near the goal already): draw the shape
    # (obama_tight's eyeWideLeft at the nearest gain drew a range of 0.01 in geometry, 0.42 at 1.75)
    return tried.closest


def _bisected(renderer, judges: _Judges, tried: _Tried, k: int, g: float) -> tuple:
    """(range, rho, drawn, drawn rho, plausible, identity distance) of shape ``k`` swept at gain ``g`` (set on the
    renderer), swept once per shape fit: a later bisection (to a farther limit, or down to the goal) starts with
    the gains an earlier one drew."""
    renderer.set_gain(k, g)
    if g not in tried.bisected:
        rng, rho, drawn, drawn_rho, plausible, faces = _sweep(renderer, judges.tracker, judges.geometry, k)
        tried.bisected[g] = rng, rho, drawn, drawn_rho, plausible, judges.likeness(faces)
    return tried.bisected[g]


def _bisect_to_the_likeness(renderer, judges: _Judges, name: str, tried: _Tried, *,
                            limit: float) -> Optional[ShapeFit]:
    """Where the smallest gain that passed all but the identity limit (``tried.over_limit``) has a smaller plausible
    gain below it within the limit (and the identity goal), or else the neutral face (gain 0) is within it, the
    largest gain between the two, bisected :data:`IDENTITY_BISECT_STEPS` times, that passes every rule but the target
    range: it draws the shape to the goal (0.3) in the geometry channel, monotone in the closed loop, and keeps the
    likeness within ``limit``. None where no bisected gain does. (From the neutral face: astronaut_rolled's browInnerUp was 0.458 from her photo at the
    smallest candidate gain, 0.7, and the fit kept it, past the goal; 0.6125 is 0.435 from it and reads back 0.35.)"""
    k = arkit_index(name)
    over = tried.over_limit
    if over is None:
        return None
    below = [c for c in tried.folding_nothing if c.gain < over.gain]
    lo = max(below, key=lambda c: c.gain) if below else None
    if lo is not None and judges.likeness(lo.faces) <= limit:
        lo_gain = lo.gain
    elif judges.neutral_distance <= limit:
        lo_gain = 0.0
    else:
        return None
    hi_gain, found = over.gain, None
    for _ in range(IDENTITY_BISECT_STEPS):
        g = round((lo_gain + hi_gain) / 2, 4)
        rng, rho, drawn, drawn_rho, plausible, ident = _bisected(renderer, judges, tried, k, g)
        if ident > limit:  # the likeness alone steers: a streak or a fold need not grow with the gain
            hi_gain = g
            continue
        lo_gain = g
        if plausible and k in STREAK_JUDGED and tried.streak_limit is not None:
            plausible = streak_ratio(renderer, k) <= tried.streak_limit
        if (plausible and drawn >= GOAL_RANGE and np.isfinite(drawn_rho) and drawn_rho >= MIN_RHO and np.isfinite(rho)
                and rho >= MIN_RHO and _eval_rho(renderer, judges.tracker, k) >= MIN_RHO):
            found = ShapeFit(name, g, rng, rho, ident, "bisected to the identity limit: drawn to the goal")
    return found


def _below_the_likeness_goal(renderer, judges: _Judges, name: str, tried: _Tried) -> Optional[ShapeFit]:
    """Where every plausible gain tried breaks the identity goal and draws the shape short of the goal (0.3) anyway,
    the largest plausible gain between the neutral face and the smallest of them, bisected
    :data:`IDENTITY_BISECT_STEPS` times on the likeness alone, that keeps the identity goal: there is no shape to buy
    with the likeness (the turned Obama's mouthFunnel drew 0.03-0.17 at every plausible gain, 0.45-0.46 from the
    photo, and the fit kept the shipped gain, 0.46). None where the neutral face breaks the goal already or no
    bisected gain keeps it."""
    if judges.neutral_distance > GOAL_IDENTITY:
        return None
    k = arkit_index(name)
    lo_gain, hi_gain, found = 0.0, min(c.gain for c in tried.folding_nothing), None
    for _ in range(IDENTITY_BISECT_STEPS):
        g = round((lo_gain + hi_gain) / 2, 4)
        rng, rho, drawn, drawn_rho, plausible, ident = _bisected(renderer, judges, tried, k, g)
        if ident > GOAL_IDENTITY or not plausible:
            hi_gain = g
            continue
        lo_gain = g
        found = ShapeFit(name, g, rng, rho, ident, "drawn short of the goal at every gain, each past the identity "
                                                   "goal: bisected down to it")
    return found


def _step_down(renderer, k: int, gain: float) -> Optional[float]:
    """The next candidate gain under ``gain`` (not under :data:`MIX_LOWEST_GAIN`) for shape ``k``, set on the
    renderer; for the shapes of :data:`STREAK_JUDGED` the largest such gain whose lips streak no more than the fit
    allows at ``gain`` (the goal, or that gain's own ratio where it misses the goal), or None (the renderer keeps
    ``gain``). The streak ratio is not monotone in the gain: astronaut_rolled's jawOpen streaks 1.11 at 1.45, 1.94
    at 1.2 and 1.54 at 1.0, and a mix that broke the likeness stepped it from 1.45 to 1.2 unchecked."""
    lower = sorted((g for g in GAIN_CANDIDATES if MIX_LOWEST_GAIN <= g < gain - 1e-6), reverse=True)
    lower = lower or [MIX_LOWEST_GAIN]
    if k not in STREAK_JUDGED:
        renderer.set_gain(k, lower[0])
        return lower[0]
    limit = max(realism.GOAL_STREAK_RATIO, streak_ratio(renderer, k))
    for g in lower:
        renderer.set_gain(k, g)
        if streak_ratio(renderer, k) <= limit:
            return g
    renderer.set_gain(k, gain)
    return None


def _keep_mixes_alike(renderer, gains: np.ndarray, fits: list[ShapeFit], distance, response,
                      tracker) -> list[ShapeFit]:
    """Shapes fitted one by one can each keep the likeness and still break it together: the astronaut's fit took her
    blinks to 1.45 and 1.75 (each 0.37 from the photo), and the standard sequence's mix (half-shut eyes over an open,
    smiling mouth) went 0.467 from the photo (goal 0.45). While a frame of the mix (:data:`MIX_SEQUENCE`) breaks the
    goal, the fitted shape drawn farthest past its field in that frame (weight x gain, gains over 1 only) steps down
    one candidate gain (a streak-judged shape only to a gain whose lips do not streak more, :func:`_step_down`; none:
    the next shape steps instead). If the mix still breaks the goal with every such gain at 1 (a photo whose neutral face is near
    the goal already), the steps are kept only as far as each stepped shape still reaches the target range, and only
    those of them that brought the mix nearest the photo (none: the fitted gains are kept; lowering them would cost
    the shapes for nothing). Kept whole, astronaut_rolled's jawOpen stayed at 2.1 and the mix 0.477 from her photo,
    where 1.45 draws the jaw to the target and the mix 0.45. ``gains`` is
    updated in place (and the renderer's gains with it); ``distance(frame, tracked)`` is the identity distance of a
    frame, measured as ``facecast eval`` does, with the face ``tracker`` finds in it, and ``response(k)`` the (range,
    rho) of shape ``k``'s sweep at its gain now; returns the fits with their gains, responses and reasons."""
    from facecast.calibration.eval.fidelity import build_sequence

    seq = build_sequence(MIX_SEQUENCE)
    rows = np.concatenate([seq.weights[a:b] for kind, _, a, b in seq.segments if kind == "smooth"])
    fitted = {arkit_index(f.shape): i for i, f in enumerate(fits)}

    def worst() -> tuple[float, np.ndarray]:
        frames = (np.ascontiguousarray(renderer.render(FaceSample(capture_wall_ns=0, weights=w))[..., :3]) for w in rows)
        d = [distance(frame, tracker.track(frame)) for frame in frames]
        i = int(np.argmax(d))
        return float(d[i]), rows[i]

    before = gains.copy()
    d, w = worst()
    steps, stuck = [], set()
    # the prefix of the steps that keeps every stepped shape at the target range and brings the mix nearest the photo
    best_d, best_steps, best_gains, reaching = d, 0, before.copy(), True
    while d > GOAL_IDENTITY:
        over = [k for k in fitted if k not in stuck and w[k] > 0.05 and gains[k] > MIX_LOWEST_GAIN + 1e-6]
        if not over:
            break
        k = max(over, key=lambda k: float(w[k] * gains[k]))
        lower = _step_down(renderer, k, float(gains[k]))
        if lower is None:
            stuck.add(k)
            continue
        gains[k] = lower
        steps.append(k)
        d, w = worst()
        if reaching:
            rng, rho = response(k)
            reaching = rng >= TARGET_RANGE and np.isfinite(rho) and rho >= MIN_RHO
            if reaching and d < best_d:
                best_d, best_steps, best_gains = d, len(steps), gains.copy()
    if d > GOAL_IDENTITY:  # the goal out of reach: keep only steps that cost no shape its target range
        for k in set(steps):
            renderer.set_gain(k, float(best_gains[k]))
        gains[:] = best_gains
        steps, d = steps[:best_steps], best_d
        if not steps:
            return fits
    out = list(fits)
    for k in set(steps):
        f = fits[fitted[k]]
        rng, rho = response(k)
        out[fitted[k]] = ShapeFit(f.shape, float(gains[k]), rng, rho, f.identity,
                                  f"{f.reason}; lowered from {before[k]:g}: a mix of shapes went past the identity "
                                  f"goal (now {d:.3f} at most)")
    return out


def fit_photo(photo: Union[str, Path], *, shapes: tuple[str, ...] = KEY_SHAPES, identity: bool = True,
              out: Optional[Path] = None, progress: bool = True) -> tuple[Path, list[ShapeFit]]:
    """Fit ``photo``'s gains (:func:`fit_gains`) and save them: to ``out``, else for the photo
    (:func:`~facecast.engine.render.portrait.gains.fitted_gains_path`), where the renderer finds them.

    Returns:
        (the file written, one :class:`ShapeFit` per shape).

    Raises:
        KeyError: an unknown shape name.
        RendererUnavailable: the photo is refused or unreadable.
        RuntimeError: a measuring model (dlib, LiteRT) is missing; the message says what to install.
    """
    from facecast.engine.render.portrait import PortraitRenderer  # numba: compiled on first use
    from facecast.engine.render.portrait.gains import fitted_gains_path
    from facecast.engine.render.portrait.rig import load_portrait
    from facecast.engine.types import PixelFormat

    for name in shapes:
        arkit_index(name)
    portrait_rgb, _ = load_portrait(photo)
    renderer = PortraitRenderer(portrait=photo, pixel_format=PixelFormat.RGB8, gains=np.ones(NUM_ARKIT))
    renderer.prepare()
    try:
        gains, fits = fit_gains(renderer, portrait_rgb, shapes=tuple(shapes), identity=identity, progress=progress)
    finally:
        renderer.close()
    path = out if out is not None else fitted_gains_path(renderer.check.digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.npz")
    np.savez(partial, gains=gains, shapes=np.array([f.shape for f in fits]), ranges=np.array([f.range for f in fits]))
    partial.replace(path)  # a reader never sees half a file
    return path, fits
