"""Recording samples from a source for calibration, and fitting profiles from them.

- :func:`record` runs any source for a few seconds (with a progress bar);
- :func:`fit_neutral` turns a relaxed, neutral face into per-channel offsets
  and a head-pose zero;
- :func:`fit_range` turns a session of maximum expressions into per-channel gains.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from facecast.engine.retarget.profile import Profile
from facecast.engine.sources.base import Source
from facecast.engine.types import ARKIT_NAMES, FaceSample

#: Fewest valid samples a fit accepts, and the least share of valid samples.
MIN_VALID_SAMPLES = 10
MIN_VALID_SHARE = 0.5
#: Offsets are capped so a channel stuck high in "neutral" cannot swallow its whole range.
MAX_OFFSET = 0.6
#: Range fit: a channel must move at least this far above its offset to get a gain.
MIN_RANGE = 0.15
GAIN_LIMITS = (1.0, 5.0)


class CalibrationError(RuntimeError):
    """A recording cannot give a profile (no face, too few samples). Says what to do."""


def record(source: Source, seconds: float, *, progress: bool = True) -> list[FaceSample]:
    """Open ``source``, collect its samples for ``seconds``, close it.

    Raises:
        SourceError: the source cannot be opened.
        CalibrationError: the source failed while recording.
    """
    samples: list[FaceSample] = []
    failure: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        try:
            source.run(samples.append, stop)
        except Exception as exc:  # reported to the user below, once
            failure.append(exc)

    source.open()
    thread = threading.Thread(target=run, name="facecast-calibrate", daemon=True)
    try:
        thread.start()
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < seconds and thread.is_alive():
            if progress:
                done = int(30 * elapsed / seconds)
                sys.stderr.write(f"\rrecording [{'#' * done}{'.' * (30 - done)}] {elapsed:4.1f}/{seconds:g} s "
                                 f"{len(samples)} samples")
                sys.stderr.flush()
            time.sleep(0.1)
        if progress:
            sys.stderr.write(f"\rrecording [{'#' * 30}] {seconds:g} s, {len(samples)} samples\n")
    finally:
        stop.set()
        thread.join(timeout=5)
        source.close()
    if failure:
        raise CalibrationError(f"the source failed while recording: {failure[0]}")
    return samples


def _valid(samples: list[FaceSample], what: str) -> list[FaceSample]:
    valid = [s for s in samples if s.valid]
    if not samples:
        raise CalibrationError(f"no samples arrived while recording the {what}; is the tracker sending?")
    share = len(valid) / len(samples)
    if len(valid) < MIN_VALID_SAMPLES or share < MIN_VALID_SHARE:
        raise CalibrationError(
            f"the tracker saw a face in {len(valid)} of {len(samples)} samples ({share:.0%}); "
            f"face the camera in good light and record the {what} again")
    return valid


@dataclass(frozen=True)
class FitReport:
    """What a fit changed, per channel name, for printing."""

    changed: dict[str, tuple[float, float]]  # name -> (old, new)
    samples: int


def fit_neutral(samples: list[FaceSample], profile: Profile) -> tuple[Profile, FitReport]:
    """Offsets = the per-channel median of a neutral face (capped at MAX_OFFSET);
    head zero = the median head pose. Other settings of ``profile`` are kept."""
    valid = _valid(samples, "neutral face")
    weights = np.stack([s.weights for s in valid])
    offset = np.minimum(np.median(weights, axis=0), MAX_OFFSET).astype(np.float32)
    heads = [s.head_rad for s in valid if s.head_rad is not None]
    head_zero = np.median(np.stack(heads), axis=0) if heads else profile.head_zero_rad
    changed = {n: (float(profile.offset[i]), float(offset[i])) for i, n in enumerate(ARKIT_NAMES)
               if abs(offset[i] - profile.offset[i]) >= 0.005}
    return profile.with_changes(offset=offset, head_zero_rad=head_zero), FitReport(changed, len(valid))


def fit_range(samples: list[FaceSample], profile: Profile, *, percentile: float = 98.0) -> tuple[Profile, FitReport]:
    """Gains so that each channel's ``percentile`` over a session of maximum
    expressions maps to 1. Channels that moved less than MIN_RANGE keep their gain."""
    valid = _valid(samples, "expression range")
    weights = np.stack([s.weights for s in valid])
    reach = np.percentile(weights, percentile, axis=0) - profile.offset
    gain = profile.gain.copy()
    moved = reach >= MIN_RANGE
    gain[moved] = np.clip(1.0 / reach[moved], *GAIN_LIMITS)
    changed = {n: (float(profile.gain[i]), float(gain[i])) for i, n in enumerate(ARKIT_NAMES)
               if abs(gain[i] - profile.gain[i]) >= 0.005}
    return profile.with_changes(gain=gain), FitReport(changed, len(valid))


def starting_profile(name: str, existing: Optional[Profile]) -> Profile:
    return existing if existing is not None else Profile(name=name)
