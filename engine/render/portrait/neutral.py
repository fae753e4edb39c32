"""The photo's own expression, and how far the portrait renderer takes it out.

Weights are absolute: all zeros shows a neutral face, whatever the photo shows. At ``prepare()`` the
renderer reads the photo's ARKit weights (MediaPipe), and the :class:`~.deform.Deformer` takes them out
with each shape's *inverse* field (:func:`~.fields.build_inverse_basis`). A field's reading per unit of
weight differs from face to face (on the astronaut, 0.9 of the smile field taken out lowered MediaPipe's
smile reading from 0.90 to 0.49 only), so :func:`fit_neutral` closes the loop once per portrait: it draws
the neutral face, reads it back with MediaPipe, and scales each inverse field until the shapes the photo
showed read no more than :data:`NEUTRAL_TARGET`, or the face would fold (the deformer's guard), or the
scale reaches :data:`MAX_INVERSE_GAIN`.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

import numpy as np

from facecast.engine.types import ARKIT_NAMES, NUM_ARKIT

log = logging.getLogger(__name__)

#: Shape families whose reading in the photo is its expression, taken out so that weights are absolute
#: (all zeros: a neutral face). The eyes' readings are left alone: MediaPipe reads open eyes as blink 0.2-0.3,
#: which is no expression, and the eye fields start from the photo's open eye.
NEUTRALISED_PREFIXES = ("brow", "cheek", "jaw", "mouth", "nose")
#: A shape the neutral face still reads above this is taken out further (the goal is <= 0.3; taking out more
#: than needed costs likeness: the photo's smile is part of how a face recogniser sees it).
NEUTRAL_TARGET = 0.25
#: Largest scale of an inverse field (the field's own size at 1).
MAX_INVERSE_GAIN = 3.0
#: Bisection steps of the inverse fields' scales (each: one frame drawn and tracked).
FIT_STEPS = 6
#: After the bisection: rounds that grow the scale of a shape still over the target by this factor.
SETTLE_ROUNDS = 3
SETTLE_STEP = 1.15

NEUTRALISED = np.array([n.lower().startswith(NEUTRALISED_PREFIXES) for n in ARKIT_NAMES])
#: The shapes whose inverse fields :func:`fit_neutral` scales. Not the brows: MediaPipe reads browDown 0.5-0.8
#: on faces at rest whose brows sit low (Obama's, Biden's), so taking them out until they read 0 raises the
#: brows into surprise. They are taken out at the fields' own size.
FITTED = NEUTRALISED & np.array([not n.lower().startswith("brow") for n in ARKIT_NAMES])


#: browDown read at rest that is kept (not taken out): MediaPipe reads browDown 0.5-0.8 on faces whose brows
#: sit low at rest (Obama's, Biden's). Taking all of it out raised their brows into surprise and cost likeness
#: (dlib distance of Obama's neutral face to his photo 0.49, against 0.33 with the brows left); leaving all of it
#: left no room for a frown (browDown read 0.17 of range). Above this, it is taken out.
BROW_DOWN_KEPT = 0.35
_KEPT = np.array([BROW_DOWN_KEPT if n.lower().startswith("browdown") else 0.0 for n in ARKIT_NAMES])


def neutralised(rest_weights: np.ndarray) -> np.ndarray:
    """(52,) the part of the photo's measured ARKit weights that the portrait renderer removes at weight 0."""
    taken = np.clip(np.asarray(rest_weights, np.float64) - _KEPT, 0.0, 1.0)
    return np.where(NEUTRALISED, taken, 0.0)


def bisect_each(lo: np.ndarray, hi: np.ndarray, above: Callable[[np.ndarray], Optional[np.ndarray]], *,
                steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Bisect every element's interval [``lo``, ``hi``] together, ``steps`` times: ``above(mid)`` (one frame read
    per call) returns a bool array, True where the sought value lies above ``mid``, or None to stop there (what was
    found is kept). Returns the final (lo, hi); an element with lo == hi stays put."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        up = above(mid)
        if up is None:
            break
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    return lo, hi


def fit_neutral(deformer, read_neutral: Callable[[], Optional[np.ndarray]], *, steps: int = FIT_STEPS) -> np.ndarray:
    """Scale the deformer's inverse fields (:meth:`~.deform.Deformer.set_inverse_gains`) until the neutral face
    reads neutral. ``read_neutral()`` draws all-zero weights and returns MediaPipe's (52,) reading of the
    frame, or None when it finds no face (the fit then keeps what it has). Returns the (52,) gains.

    Each shape of :data:`FITTED` that the photo shows and the neutral face still reads above
    :data:`NEUTRAL_TARGET` gets its own scale, all bisected together in [1, :data:`MAX_INVERSE_GAIN`] (one frame per
    step) for the smallest that brings its reading to the target (a reading falls as its scale grows); the
    deformer's guard may still take less of a shape than asked where more would fold the face.
    """
    asked = deformer.asked_rest_weights
    gains = np.ones(NUM_ARKIT)

    def over(read: Optional[np.ndarray]) -> Optional[np.ndarray]:
        return None if read is None else FITTED & (asked > NEUTRAL_TARGET) & (neutralised(read) > NEUTRAL_TARGET)

    first = over(read_neutral())
    if first is None:
        log.warning("portrait: the neutral face is not tracked; the photo's expression is taken out unfitted")
        return gains
    if not first.any():
        return gains

    def still_over(mid: np.ndarray) -> Optional[np.ndarray]:
        deformer.set_inverse_gains(mid, neutral_only=True)
        return over(read_neutral())

    _, gains = bisect_each(np.ones(NUM_ARKIT), np.where(first, MAX_INVERSE_GAIN, 1.0), still_over, steps=steps)
    deformer.set_inverse_gains(gains, neutral_only=True)
    for _ in range(SETTLE_ROUNDS):  # the shapes' scales were bisected together: check them as they end up
        still = over(read_neutral())
        if still is None or not (still & (gains < MAX_INVERSE_GAIN)).any():
            break
        gains = np.where(still, np.minimum(gains * SETTLE_STEP, MAX_INVERSE_GAIN), gains)
        deformer.set_inverse_gains(gains, neutral_only=True)
    deformer.set_inverse_gains(gains)  # and the fields refitted to the neutral face, once
    return gains
