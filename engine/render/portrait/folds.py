"""A smiling photo's smile folds, faded as the smile is taken out.

The neutral face of a photo that smiles at rest is the photo with its smile warped out (:mod:`.neutral`). A warp
moves skin and does not change it, so the creases the smile presses from the nose's wings past the mouth's corners
(the nasolabial folds) stayed as dark as in the grin: the neutral face still looked like a smile held back, and a
pucker or a funnel drew the two creases in toward the mouth as a dark X.

:func:`fold_lift` measures once per portrait how much lighter each pixel along the folds would be without its crease:
the skin's shading at the scale of a crease, lifted to its lighter neighbours' level (a morphological closing), in a
band along each fold's landmarks. :class:`FoldFader` adds each side's share of that to the images the warp samples,
per frame, as far as the requested smile is below the photo's own: at the photo's own smile the photo is drawn
exactly as it is, at no smile the crease is gone by the share of a full smile the photo showed.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from facecast.engine.face.landmarks import connection_points
from facecast.engine.render.portrait.neutral import bisect_each
from facecast.engine.types import arkit_index

#: MediaPipe landmarks along each nasolabial fold, from beside the nose's wing past the mouth's corner toward the
#: chin: the subject's right (the image's left), then left. They follow the crease on the photo set's smiling faces.
FOLD_LINES = ((203, 206, 216, 212, 202, 210), (423, 426, 436, 432, 422, 430))
#: ARKit shapes that press each fold (right, left).
FOLD_SMILES = (arkit_index("mouthSmileRight"), arkit_index("mouthSmileLeft"))
#: Width of the band along a fold's landmarks that is lifted, and the Gaussian that feathers its edge (IODs).
FOLD_BAND_IODS = 0.2
FOLD_FEATHER_IODS = 0.04
#: The skin's shading is measured below the skin's grain (a Gaussian of this many IODs, which keeps the pores: at
#: 0.008, or with the crease's sharp core lifted as well, the face's grain on obama.jpg's neutral face fell 13% and
#: 10%, against 6% now; a thin line of the deepest creases' core stays) ...
FOLD_DETAIL_IODS = 0.015
#: ... and lifted to the level a closing of this diameter finds around it (wider than a crease and its shadow,
#: narrower than a cheek; at 0.12 Obama's deep folds kept their shadowed side), smoothed by a Gaussian of this many
#: IODs.
FOLD_CLOSE_IODS = 0.2
FOLD_ENVELOPE_IODS = 0.03
#: The lips are left as they are, with this margin (IODs): they are darker than the skin, not a crease.
FOLD_LIPS_MARGIN_IODS = 0.03
#: A lift image changes the pixels where it adds at least this many grey levels at full share.
FOLD_MIN_LEVELS = 0.25
#: Shares are applied in steps of this (a quarter grey level on a crease 16 levels deep), each step once.
FOLD_SHARE_STEP = 1.0 / 64.0
#: Steps (one frame each) of :func:`fit_fade`'s bisection, where a fold faded in full reads as more smile.
FADE_FIT_STEPS = 4
#: A photo's folds fade where its neutral face takes out at least this much of a smile.
MIN_FOLD_SMILE = 0.05


def fold_lift(image: np.ndarray, landmarks_px: np.ndarray, iod_px: float) -> np.ndarray:
    """(2, H, W, 3) float32 grey levels (>= 0) to add to ``image`` ((H, W, 3) uint8) to take out its (right, left)
    nasolabial folds' crease. ``landmarks_px``: (478, 2+) MediaPipe landmarks in ``image``'s pixels;
    ``iod_px`` the inter-ocular distance."""
    import cv2

    rgb = np.asarray(image[..., :3], np.float32)
    lm = np.asarray(landmarks_px, np.float64)[:, :2]
    detail = cv2.GaussianBlur(rgb, (0, 0), FOLD_DETAIL_IODS * iod_px)
    k = max(3, int(round(FOLD_CLOSE_IODS * iod_px)) | 1)
    envelope = cv2.morphologyEx(detail, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    envelope = cv2.GaussianBlur(envelope, (0, 0), FOLD_ENVELOPE_IODS * iod_px)
    depth = np.maximum(envelope - detail, 0.0)
    lips = np.zeros(rgb.shape[:2], np.uint8)
    hull = cv2.convexHull(np.asarray(lm[sorted(connection_points("FACE_LANDMARKS_LIPS"))], np.float32))
    cv2.fillPoly(lips, [np.round(hull.reshape(-1, 2) * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    margin = max(1, int(round(FOLD_LIPS_MARGIN_IODS * iod_px)))
    lips = cv2.dilate(lips, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(np.float32)
    keep = 1.0 - cv2.GaussianBlur(lips, (0, 0), FOLD_FEATHER_IODS * iod_px / 2)
    out = np.zeros((2,) + rgb.shape, np.float32)
    for side, line in enumerate(FOLD_LINES):
        band = np.zeros(rgb.shape[:2], np.float32)
        pts = np.round(lm[list(line)] * 16).astype(np.int32)
        cv2.polylines(band, [pts], False, 1.0, thickness=max(1, int(round(FOLD_BAND_IODS * iod_px))),
                      lineType=cv2.LINE_AA, shift=4)
        band = cv2.GaussianBlur(band, (0, 0), FOLD_FEATHER_IODS * iod_px) * keep
        out[side] = depth * band[..., None]
    return out


class FoldFader:
    """Adds the fold lift (:func:`fold_lift`) to images the warp samples, in place, per frame.

    ``images``: (..., H, W, 3) uint8 arrays (the photo, and images made from it by a linear filter: their lifts are
    the same filter of the photo's, ``lifts``, each (2, ..., H, W, 3) float32). Only the box around where a lift
    reaches is touched, from a copy of what was there: a share gives the same pixels whatever came before.
    """

    def __init__(self, images: Sequence[np.ndarray], lifts: Sequence[np.ndarray]) -> None:
        self._patches = []
        for img, lift in zip(images, lifts):
            reach = (lift >= FOLD_MIN_LEVELS).any(axis=(0, -1))  # (..., H, W) over sides and colour
            reach = reach.reshape((-1,) + reach.shape[-2:]).any(axis=0)
            if not reach.any():
                continue
            ys, xs = np.nonzero(reach)
            box = (slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1))
            region = (Ellipsis,) + box + (slice(None),)
            patch = img[region]
            flat = (-1, patch.shape[-2] * patch.shape[-1])  # 2-D for OpenCV's arithmetic
            sides = lift[(slice(None),) + region]
            right, left = (np.ascontiguousarray(sides[s]).reshape(flat) for s in range(2))
            self._patches.append((img, region, patch.shape, patch.astype(np.float32).reshape(flat), right, left))
        self._applied = np.zeros(2)

    @property
    def active(self) -> bool:
        """Whether any image has a fold to fade."""
        return bool(self._patches)

    def apply(self, shares: np.ndarray) -> None:
        """Set the (right, left) folds' shares (0: the photo's crease .. 1: none), clipped to [0, 1]."""
        # in steps of FOLD_SHARE_STEP: the pixels depend on this frame's shares alone, not on the frames before
        shares = np.round(np.clip(np.asarray(shares, np.float64), 0.0, 1.0) / FOLD_SHARE_STEP) * FOLD_SHARE_STEP
        if np.array_equal(shares, self._applied):
            return
        import cv2

        for img, region, shape, orig, right, left in self._patches:
            value = cv2.addWeighted(right, float(shares[0]), left, float(shares[1]), 0.0)
            img[region] = cv2.convertScaleAbs(cv2.add(value, orig, dst=value)).reshape(shape)  # rounded, saturated
        self._applied = shares


def fold_shares(weights: np.ndarray, rest_weights: np.ndarray) -> np.ndarray:
    """(2,) the (right, left) folds' shares for requested ARKit ``weights`` (52,): how far each smile is below the
    photo's own (``rest_weights``, the share of it the neutral face takes out), in weight."""
    w = np.asarray(weights, np.float64)[list(FOLD_SMILES)]
    rest = np.asarray(rest_weights, np.float64)[list(FOLD_SMILES)]
    return np.clip(rest - np.maximum(w, 0.0), 0.0, 1.0)


def fit_fade(read_smiles: Callable[[np.ndarray], Optional[np.ndarray]], *, target: float,
             steps: int = FADE_FIT_STEPS) -> np.ndarray:
    """(2,) the largest share in [0, 1] of each (right, left) fold's fade that keeps the neutral face's smile on
    that side reading at most ``target``, or what it reads unfaded where that is more.

    ``read_smiles(scales)`` draws all-zero weights with the folds faded by ``scales`` ((2,)) times their shares and
    returns MediaPipe's (right, left) smile readings, or None where it finds no face (the fade is then kept, for
    want of a reading: the sides already bisected keep what they have). Fading a crease lightens the skin along it,
    which on most faces reads as less smile; on the photo set's face turned by 26 degrees the near fold's lighter
    band read as more (0.24 -> 0.32 at the neutral fit's target 0.25). One frame where fading reads no more smile
    than ``target``, two more and ``steps`` bisection frames where it does.
    """
    full = read_smiles(np.ones(2))
    if full is None or not (full > target).any():
        return np.ones(2)
    bare = read_smiles(np.zeros(2))
    if bare is None:
        return np.ones(2)
    limit = np.maximum(bare, target)
    over = full > limit
    if not over.any():  # fading reads no more than the face unfaded
        return np.ones(2)

    def at_most_limit(mid: np.ndarray) -> Optional[np.ndarray]:  # the largest fade within the limit lies above mid
        read = read_smiles(mid)
        return None if read is None else read <= limit

    fade, _ = bisect_each(np.where(over, 0.0, 1.0), np.ones(2), at_most_limit, steps=steps)
    return fade
