"""``csv:PATH``: playback of Live Link Face CSV recordings.

Live Link Face writes one row per tracked frame::

    Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,
    LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll

The column order of the CSV differs from the UDP order (JawRight comes before
JawLeft, for example), so columns are matched by header name, never by
position. The timecode is ``HH:MM:SS:FF.fff`` (frame FF plus a fraction of a
frame); the frame rate is not in the file and is inferred from the largest
frame number seen, or given with ``timecode_fps``. Head and eye angles are
taken as radians.

The whole file is parsed once at ``open()``; playback then reproduces the
recorded timing, optionally looping.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.sources.base import Emit, Source, SourceError
from facecast.engine.types import ARKIT_NAMES, NUM_ARKIT, FaceSample

log = logging.getLogger(__name__)

_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})[:;](\d{1,3})(?:\.(\d+))?$")
_STANDARD_FPS = (24, 25, 30, 48, 50, 60, 100, 120, 240)
_HEAD = ("HeadYaw", "HeadPitch", "HeadRoll")
_LEFT_EYE = ("LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll")
_RIGHT_EYE = ("RightEyeYaw", "RightEyePitch", "RightEyeRoll")


@dataclass(frozen=True)
class CsvRecording:
    """A parsed recording. Times are seconds from the first row, non-decreasing.

    Attributes:
        times_s: (N,) float64.
        weights: (N, 52) float32 in [0, 1], ARKIT_NAMES order.
        head_rad, eye_left_rad, eye_right_rad: (N, 3) float32 or None when the
            file lacks those columns.
        fps: the timecode frame rate used.
        skipped_rows: number of rows dropped as unusable (each was logged with its line).
    """

    times_s: np.ndarray
    weights: np.ndarray
    head_rad: Optional[np.ndarray]
    eye_left_rad: Optional[np.ndarray]
    eye_right_rad: Optional[np.ndarray]
    fps: float
    skipped_rows: int

    def __len__(self) -> int:
        return len(self.times_s)


def _parse_timecode(text: str) -> tuple[int, float]:
    """(whole seconds, frame number with fraction) of ``HH:MM:SS:FF.fff``."""
    m = _TIMECODE.match(text.strip())
    if not m:
        raise ValueError(f"timecode {text!r} is not HH:MM:SS:FF.fff")
    hh, mm, ss, ff, frac = m.groups()
    seconds = int(hh) * 3600 + int(mm) * 60 + int(ss)
    frame = int(ff) + (float("0." + frac) if frac else 0.0)
    return seconds, frame


def _columns(header: list[str], names: tuple[str, ...]) -> Optional[list[int]]:
    idx = {h.strip(): i for i, h in enumerate(header)}
    if all(n in idx for n in names):
        return [idx[n] for n in names]
    return None


def load_recording(path: str | Path, *, timecode_fps: Optional[float] = None) -> CsvRecording:
    """Parse a Live Link Face CSV file.

    Rows with a bad timecode, a non-numeric or non-finite value, or the wrong
    number of fields are skipped, each logged with its line number. Missing
    blendshape columns are filled with 0 and named in one warning.

    Raises:
        SourceError: the file is missing or unreadable, has no ``Timecode``
            column or no blendshape column, or has no usable row.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SourceError(f"cannot read Live Link Face CSV {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SourceError(f"{path} is not a UTF-8 text file; expected a Live Link Face CSV") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise SourceError(f"{path} is empty; expected a Live Link Face CSV with a header row")
    header = [h.strip() for h in header]
    if "Timecode" not in header:
        raise SourceError(f"{path} has no 'Timecode' column; is it a Live Link Face CSV? "
                          f"Its header starts {','.join(header[:4])!r}")
    t_col = header.index("Timecode")
    shape_cols = {name: header.index(name) for name in ARKIT_NAMES if name in header}
    if not shape_cols:
        raise SourceError(f"{path} has none of the 52 ARKit blendshape columns (EyeBlinkLeft, ...)")
    missing = [n for n in ARKIT_NAMES if n not in shape_cols]
    if missing:
        log.warning("%s lacks %d blendshape column(s), played as 0: %s",
                    path, len(missing), ", ".join(missing))
    angle_cols = {k: _columns(header, names) for k, names in
                  (("head", _HEAD), ("left", _LEFT_EYE), ("right", _RIGHT_EYE))}

    stamps: list[tuple[int, float]] = []
    weights: list[np.ndarray] = []
    angles: dict[str, list[np.ndarray]] = {k: [] for k in angle_cols}
    skipped = 0
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not f.strip() for f in row):
            continue
        try:
            if len(row) != len(header):
                raise ValueError(f"has {len(row)} fields, the header has {len(header)}")
            stamp = _parse_timecode(row[t_col])
            w = np.zeros(NUM_ARKIT, np.float32)
            for name, col in shape_cols.items():
                w[ARKIT_NAMES.index(name)] = float(row[col])
            row_angles = {k: np.array([float(row[c]) for c in cols], np.float32)
                          for k, cols in angle_cols.items() if cols}
            if not np.all(np.isfinite(w)) or not all(np.all(np.isfinite(a)) for a in row_angles.values()):
                raise ValueError("holds NaN or infinity")
        except ValueError as exc:
            skipped += 1
            log.warning("%s line %d skipped: %s", path, line_no, exc)
            continue
        stamps.append(stamp)
        weights.append(np.clip(w, 0.0, 1.0))
        for k, a in row_angles.items():
            angles[k].append(a)
    if not stamps:
        raise SourceError(f"{path} has no usable rows ({skipped} skipped); nothing to play")

    max_frame = max(f for _, f in stamps)
    fps = timecode_fps or next((r for r in _STANDARD_FPS if r > max_frame), math.floor(max_frame) + 1)
    t = np.array([s + f / fps for s, f in stamps], np.float64)
    t = np.where(t < t[0] - 43200, t + 86400, t)  # recording crossed midnight
    order_ok = np.diff(t) >= 0
    if not np.all(order_ok):
        log.warning("%s: %d row(s) go back in time; playback keeps file order and holds their time",
                    path, int(np.sum(~order_ok)))
        t = np.maximum.accumulate(t)

    def stack(k: str) -> Optional[np.ndarray]:
        return np.stack(angles[k]) if angle_cols[k] else None

    return CsvRecording(times_s=t - t[0], weights=np.stack(weights), head_rad=stack("head"),
                        eye_left_rad=stack("left"), eye_right_rad=stack("right"),
                        fps=float(fps), skipped_rows=skipped)


class LiveLinkCsvSource(Source):
    """Plays a :class:`CsvRecording` at its recorded timing.

    Args:
        path: the CSV file.
        loop: start again after the last row instead of ending the stream.
        timecode_fps: the recording's frame rate, if inference from the frame
            numbers is not wanted.
    """

    name = "csv"

    def __init__(self, path: str | Path, *, loop: bool = False,
                 timecode_fps: Optional[float] = None) -> None:
        self._path = Path(path)
        self._loop = loop
        self._fps = timecode_fps
        self.recording: Optional[CsvRecording] = None

    def open(self) -> None:
        self.recording = load_recording(self._path, timecode_fps=self._fps)
        log.info("%s: %d rows, %.1f s at %g fps (%d skipped)", self._path, len(self.recording),
                 self.recording.times_s[-1], self.recording.fps, self.recording.skipped_rows)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        rec = self.recording
        if rec is None:
            raise SourceError("LiveLinkCsvSource.run() called before open()")
        # One frame period after the last row before a loop restarts.
        period_s = float(rec.times_s[-1]) + 1.0 / rec.fps
        start = time.monotonic()
        lap = 0
        while not stop.is_set():
            for i in range(len(rec)):
                due = start + lap * period_s + float(rec.times_s[i])
                if stop.wait(max(0.0, due - time.monotonic())):
                    return
                emit(FaceSample(
                    capture_wall_ns=time.time_ns(), weights=rec.weights[i],
                    head_rad=None if rec.head_rad is None else rec.head_rad[i],
                    eye_left_rad=None if rec.eye_left_rad is None else rec.eye_left_rad[i],
                    eye_right_rad=None if rec.eye_right_rad is None else rec.eye_right_rad[i],
                    source=self.name))
            if not self._loop:
                return
            lap += 1
