"""Retarget steps built from a profile: curves and clamps, easing to neutral, filtering.

Each step is a callable ``FaceSample -> FaceSample`` with its arrays precomputed
at construction; ``__call__`` is per-frame work only.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from facecast.engine.retarget.filters import OneEuroFilter
from facecast.engine.retarget.profile import CHANNEL_FAMILIES, FILTER_FAMILIES, FilterSettings, Profile
from facecast.engine.types import NUM_ARKIT, FaceSample

DEFAULT_NEUTRAL_EASE_S = 0.5


def _with(sample: FaceSample, **changes) -> FaceSample:
    fields = dict(capture_wall_ns=sample.capture_wall_ns, weights=sample.weights, head_rad=sample.head_rad,
                  eye_left_rad=sample.eye_left_rad, eye_right_rad=sample.eye_right_rad, valid=sample.valid,
                  source=sample.source, flame=sample.flame, mouth=sample.mouth)
    fields.update(changes)
    return FaceSample(**fields)


class ProfileCurves:
    """Neutral offset, gain, response curve and clamp per channel; head-pose zero."""

    def __init__(self, profile: Profile) -> None:
        self._offset = profile.offset.astype(np.float32)
        self._gain = profile.gain.astype(np.float32)
        self._gamma = profile.gamma.astype(np.float32)
        self._linear = bool(np.all(self._gamma == 1.0))
        self._low, self._high = profile.low, profile.high
        self._head_zero = profile.head_zero_rad

    def __call__(self, sample: FaceSample) -> FaceSample:
        if not sample.valid:
            return sample
        w = np.clip((sample.weights - self._offset) * self._gain, 0.0, 1.0)
        if not self._linear:
            w = w ** self._gamma
        w = np.clip(w, self._low, self._high)
        head = None if sample.head_rad is None else sample.head_rad - self._head_zero
        return _with(sample, weights=w, head_rad=head)


class NeutralEase:
    """When the tracker loses the face (``valid=False``), ease from the last valid
    weights and head pose to neutral over ``ease_s`` seconds (linearly, by capture
    time) instead of freezing or jumping. The samples stay marked invalid."""

    def __init__(self, ease_s: float = DEFAULT_NEUTRAL_EASE_S) -> None:
        if not ease_s >= 0:
            raise ValueError(f"ease_s must be >= 0, got {ease_s}")
        self._ease_ns = int(ease_s * 1e9)
        self._last_valid: Optional[FaceSample] = None
        self._lost_at_ns: Optional[int] = None

    def __call__(self, sample: FaceSample) -> FaceSample:
        if sample.valid:
            self._last_valid, self._lost_at_ns = sample, None
            return sample
        last = self._last_valid
        if last is None:
            return _with(sample, weights=np.zeros(NUM_ARKIT, np.float32), head_rad=None)
        if self._lost_at_ns is None:
            self._lost_at_ns = sample.capture_wall_ns
        elapsed_ns = sample.capture_wall_ns - self._lost_at_ns
        k = 0.0 if self._ease_ns == 0 else max(0.0, 1.0 - elapsed_ns / self._ease_ns)
        head = None if last.head_rad is None else last.head_rad * k
        return _with(sample, weights=last.weights * k, head_rad=head)


class ChannelFilter:
    """One Euro filter per channel family: the 52 weights (by family), head pose
    ("head") and eye rotations ("gaze"). Disabled families pass through."""

    def __init__(self, filters: dict[str, FilterSettings]) -> None:
        families = list(CHANNEL_FAMILIES) + ["head"] * 3 + ["gaze"] * 6
        settings = [filters[f] for f in families]
        self._enabled = np.array([s.enabled for s in settings])
        self._filter = OneEuroFilter(min_cutoff_hz=[s.min_cutoff_hz for s in settings],
                                     beta=[s.beta for s in settings],
                                     d_cutoff_hz=[s.d_cutoff_hz for s in settings])
        self._zeros3 = np.zeros(3, np.float32)

    def __call__(self, sample: FaceSample) -> FaceSample:
        parts = [sample.weights,
                 self._zeros3 if sample.head_rad is None else sample.head_rad,
                 self._zeros3 if sample.eye_left_rad is None else sample.eye_left_rad,
                 self._zeros3 if sample.eye_right_rad is None else sample.eye_right_rad]
        raw = np.concatenate(parts)
        out = np.where(self._enabled, self._filter(raw, sample.capture_wall_ns), raw)
        w, head, left, right = np.split(out, [NUM_ARKIT, NUM_ARKIT + 3, NUM_ARKIT + 6])
        return _with(sample, weights=w,
                     head_rad=None if sample.head_rad is None else head,
                     eye_left_rad=None if sample.eye_left_rad is None else left,
                     eye_right_rad=None if sample.eye_right_rad is None else right)


def profile_steps(profile: Optional[Profile], *, neutral_ease_s: Optional[float] = None) -> list:
    """The retarget steps for a session: curves (with a profile), easing, filtering
    (with a profile). Without a profile only the easing to neutral applies.
    ``neutral_ease_s`` overrides the profile's easing time."""
    if neutral_ease_s is None:
        neutral_ease_s = profile.neutral_ease_s if profile is not None else DEFAULT_NEUTRAL_EASE_S
    if profile is None:
        return [NeutralEase(neutral_ease_s)]
    steps = [ProfileCurves(profile), NeutralEase(neutral_ease_s)]
    if any(profile.filters[f].enabled for f in FILTER_FAMILIES):
        steps.append(ChannelFilter(profile.filters))
    return steps
