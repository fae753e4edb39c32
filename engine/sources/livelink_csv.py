"""``csv:PATH``: playback of Live Link Face CSV recordings.

Live Link Face writes one row per tracked frame::

    Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,
    LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll

The column order of the CSV differs from the UDP order (JawRight comes before
JawLeft, for example), so columns are matched by header name, never by
position; names are matched without regard to case (``EyeBlinkLeft``,
``eyeBlinkLeft``). Empty fields at the end of a row (a trailing comma, written
by some other tools) are dropped, as Epic's importer drops them; an empty field
inside a row, which Epic's importer would also drop, shifting the columns after
it, makes the row a bad row here.

The timecode is ``HH:MM:SS:FF.fff`` (frame FF plus a fraction of a frame). The
frame rate is not in the file: the app records at 30 or 60 fps, so, as Epic's
importer does (``InferFrameRate`` in Unreal's LiveLinkFaceImporterFactory.cpp),
a file whose frame numbers reach 30 is 60 fps and any other 30 fps.
``timecode_fps`` overrides this (a 60 fps take shorter than half a second may
never reach frame 30). Head and eye angles are taken as radians.

``PATH`` may also be a take folder of newer app versions (``<take>_cal.csv``,
``<take>_raw.csv``, ``<take>_neutral.csv``, ``take.json``): the calibrated file
is read unless ``take_file`` names another (:func:`take_csv`).

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
from facecast.engine.types import ARKIT_NAMES, NUM_ARKIT, FaceSample, arkit_index

log = logging.getLogger(__name__)

_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})[:;](\d{1,3})(?:\.(\d+))?$")
#: Timecode rates the app writes, then rates assumed (with a warning) for frame numbers it never writes.
APP_FPS = (30, 60)
_OTHER_FPS = (120, 240)
#: The files of a take folder, by ``take_file`` name (the default first).
TAKE_FILES = ("cal", "raw", "neutral")
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
        path: the CSV file read (in a take folder, the file picked).
    """

    times_s: np.ndarray
    weights: np.ndarray
    head_rad: Optional[np.ndarray]
    eye_left_rad: Optional[np.ndarray]
    eye_right_rad: Optional[np.ndarray]
    fps: float
    skipped_rows: int
    path: Optional[Path] = None

    def __len__(self) -> int:
        return len(self.times_s)


def take_csv(path: str | Path, take_file: Optional[str] = None) -> Path:
    """The CSV file ``csv:PATH`` reads: PATH itself, or in a take folder its one
    ``*_<take_file>.csv`` (``cal`` by default, ``raw`` or ``neutral``), named in one log line.

    Raises:
        SourceError: ``take_file`` given for a file, unknown, or the folder has no single such file.
    """
    path = Path(path)
    if not path.is_dir():
        if take_file is not None:
            raise SourceError(f"--take-file {take_file} picks a file in a take folder, but {path} is not a folder: "
                              f"give the take folder (csv:{path.parent}) or leave --take-file out")
        return path
    kind = take_file or TAKE_FILES[0]
    if kind not in TAKE_FILES:
        raise SourceError(f"--take-file {kind!r}: use one of {', '.join(TAKE_FILES)}")
    found = sorted(path.glob(f"*_{kind}.csv"))
    if len(found) != 1:
        present = ", ".join(p.name for p in sorted(path.glob("*.csv"))) or "none"
        raise SourceError(f"take folder {path} has {len(found)} *_{kind}.csv files (CSV files there: {present}); "
                          f"give one CSV file as csv:{path}/NAME.csv" +
                          ("" if take_file else ", or pick another with --take-file raw|neutral"))
    log.info("csv:%s is a take folder: reading %s (--take-file %s)", path, found[0].name, kind)
    return found[0]


def check_csv_options(spec: str, *, timecode_fps: Optional[float] = None, take_file: Optional[str] = None) -> None:
    """The one check that ``--timecode-fps`` and ``--take-file`` are given only for a ``csv:`` recording
    (``run``, ``calibrate``, ``render`` and ``eval`` alike).

    Raises:
        SourceError: one of them given for another source, script or sequence.
    """
    if spec.startswith("csv:"):
        return
    given = [n for n, v in (("--timecode-fps", timecode_fps), ("--take-file", take_file)) if v is not None]
    if given:
        raise SourceError(f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} for csv: recordings; "
                          f"{spec} is not one")


def infer_fps(max_frame: float) -> float:
    """The timecode rate of a file whose largest frame number (with its fraction) is
    ``max_frame``: the app writes 30 or 60 fps, so 60 when a frame number reaches 30, else 30.
    Epic's ``InferFrameRate`` tests ``FrameNumber > 30.0``; a frame of exactly 30.000, which only
    a 60 fps take writes, is 60 here too. Frame numbers of 60 and more are not the app's: the
    next of 120, 240, with a warning."""
    fps = next((r for r in APP_FPS + _OTHER_FPS if r > max_frame), math.floor(max_frame) + 1)
    if fps not in APP_FPS:
        log.warning("frame numbers reach %d, which Live Link Face (30 or 60 fps) never writes; assuming %g fps: "
                    "give the recording's rate with --timecode-fps N", math.floor(max_frame), fps)
    return float(fps)


def _parse_timecode(text: str) -> tuple[int, float]:
    """(whole seconds, frame number with fraction) of ``HH:MM:SS:FF.fff``."""
    m = _TIMECODE.match(text.strip())
    if not m:
        raise ValueError(f"timecode {text!r} is not HH:MM:SS:FF.fff")
    hh, mm, ss, ff, frac = m.groups()
    seconds = int(hh) * 3600 + int(mm) * 60 + int(ss)
    frame = int(ff) + (float("0." + frac) if frac else 0.0)
    return seconds, frame


def _fields(row: list[str]) -> list[str]:
    """The stripped fields of a CSV row without its empty trailing fields (a trailing comma)."""
    fields = [f.strip() for f in row]
    while fields and not fields[-1]:
        fields.pop()
    return fields


@dataclass(frozen=True)
class _Columns:
    """Where each value is in a row: ``shapes`` maps an ARKit index to its column, ``angles``
    ``head``/``left``/``right`` to their three columns (only those the header has)."""

    width: int
    timecode: int
    shapes: dict[int, int]
    angles: dict[str, list[int]]


def _header_columns(header: list[str], path: Path) -> _Columns:
    by_name: dict[str, int] = {}
    for i, name in enumerate(header):
        by_name.setdefault(name.lower(), i)
    if "timecode" not in by_name:
        raise SourceError(f"{path} has no 'Timecode' column; is it a Live Link Face CSV? "
                          f"Its header starts {','.join(header[:4])!r}")
    shapes: dict[int, int] = {}
    for i, name in enumerate(header):
        try:
            shapes.setdefault(arkit_index(name), i)
        except KeyError:
            pass  # Timecode, BlendShapeCount, the angles, anything else
    if not shapes:
        raise SourceError(f"{path} has none of the 52 ARKit blendshape columns (EyeBlinkLeft or eyeBlinkLeft, ...)")
    missing = [n for k, n in enumerate(ARKIT_NAMES) if k not in shapes]
    if missing:
        log.warning("%s lacks %d blendshape column(s), played as 0: %s", path, len(missing), ", ".join(missing))
    angles = {key: [by_name[n.lower()] for n in names]
              for key, names in (("head", _HEAD), ("left", _LEFT_EYE), ("right", _RIGHT_EYE))
              if all(n.lower() in by_name for n in names)}
    return _Columns(width=len(header), timecode=by_name["timecode"], shapes=shapes, angles=angles)


def _parse_row(row: list[str], cols: _Columns) -> tuple[tuple[int, float], np.ndarray, dict[str, np.ndarray]]:
    """(timecode, weights clamped to [0, 1], angles) of one row; ValueError says what is wrong."""
    if len(row) != cols.width:
        raise ValueError(f"has {len(row)} fields, the header has {cols.width}")
    stamp = _parse_timecode(row[cols.timecode])
    w = np.zeros(NUM_ARKIT, np.float32)
    for k, col in cols.shapes.items():
        w[k] = float(row[col])
    angles = {key: np.array([float(row[c]) for c in idx], np.float32) for key, idx in cols.angles.items()}
    if not np.all(np.isfinite(w)) or not all(np.all(np.isfinite(a)) for a in angles.values()):
        raise ValueError("holds NaN or infinity")
    return stamp, np.clip(w, 0.0, 1.0), angles


def _read_rows(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SourceError(f"cannot read Live Link Face CSV {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SourceError(f"{path} is not a UTF-8 text file; expected a Live Link Face CSV") from None
    return [_fields(row) for row in csv.reader(text.splitlines())]


def _seconds(stamps: list[tuple[int, float]], fps: float, path: Path) -> np.ndarray:
    """Seconds from the first row; a recording that crosses midnight goes on, rows that go back hold."""
    t = np.array([s + f / fps for s, f in stamps], np.float64)
    t = np.where(t < t[0] - 43200, t + 86400, t)  # recording crossed midnight
    order_ok = np.diff(t) >= 0
    if not np.all(order_ok):
        log.warning("%s: %d row(s) go back in time; playback keeps file order and holds their time",
                    path, int(np.sum(~order_ok)))
        t = np.maximum.accumulate(t)
    return t - t[0]


def _fps(stamps: list[tuple[int, float]], timecode_fps: Optional[float], path: Path) -> float:
    max_frame = max(f for _, f in stamps)
    if not timecode_fps:
        fps = infer_fps(max_frame)
        whole_seconds = len({s for s, _ in stamps}) > 2  # at least one second seen from its first frame to its last
        if whole_seconds and math.floor(max_frame) + 1 < fps - 1:  # e.g. a 25 or 50 fps file from another tool
            log.warning("%s: frame numbers only reach %d over several seconds, so this is not a %g fps Live Link "
                        "Face take; it is read at %g fps: give its rate with --timecode-fps %d if that is wrong",
                        path, math.floor(max_frame), fps, fps, math.floor(max_frame) + 1)
        return fps
    if max_frame >= timecode_fps:
        log.warning("%s: frame numbers reach %d, not below --timecode-fps %g; rows will overlap in time",
                    path, math.floor(max_frame), timecode_fps)
    return float(timecode_fps)


def load_recording(path: str | Path, *, timecode_fps: Optional[float] = None,
                   take_file: Optional[str] = None) -> CsvRecording:
    """Parse a Live Link Face CSV file (or a take folder's file, see :func:`take_csv`).

    Rows with a bad timecode, a non-numeric or non-finite value, or the wrong
    number of fields are skipped, each logged with its line number. Missing
    blendshape columns are filled with 0 and named in one warning.

    Raises:
        SourceError: the file is missing or unreadable, has no ``Timecode``
            column or no blendshape column, or has no usable row.
    """
    path = take_csv(path, take_file)
    rows = _read_rows(path)
    if not rows or not rows[0]:
        raise SourceError(f"{path} is empty; expected a Live Link Face CSV with a header row")
    cols = _header_columns(rows[0], path)
    stamps: list[tuple[int, float]] = []
    weights: list[np.ndarray] = []
    angles: dict[str, list[np.ndarray]] = {k: [] for k in cols.angles}
    skipped = 0
    for line_no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            stamp, w, row_angles = _parse_row(row, cols)
        except ValueError as exc:
            skipped += 1
            log.warning("%s line %d skipped: %s", path, line_no, exc)
            continue
        stamps.append(stamp)
        weights.append(w)
        for k, a in row_angles.items():
            angles[k].append(a)
    if not stamps:
        raise SourceError(f"{path} has no usable rows ({skipped} skipped); nothing to play")
    fps = _fps(stamps, timecode_fps, path)

    def stack(k: str) -> Optional[np.ndarray]:
        return np.stack(angles[k]) if k in angles else None

    return CsvRecording(times_s=_seconds(stamps, fps, path), weights=np.stack(weights), head_rad=stack("head"),
                        eye_left_rad=stack("left"), eye_right_rad=stack("right"), fps=fps, skipped_rows=skipped,
                        path=path)


class LiveLinkCsvSource(Source):
    """Plays a :class:`CsvRecording` at its recorded timing.

    Args:
        path: the CSV file, or a take folder (see :func:`take_csv`).
        loop: start again after the last row instead of ending the stream.
        timecode_fps: the recording's frame rate, if inference from the frame
            numbers is not wanted.
        take_file: in a take folder, ``cal`` (default), ``raw`` or ``neutral``.
    """

    name = "csv"

    def __init__(self, path: str | Path, *, loop: bool = False,
                 timecode_fps: Optional[float] = None, take_file: Optional[str] = None) -> None:
        self._path = Path(path)
        self._loop = loop
        self._fps = timecode_fps
        self._take_file = take_file
        self.recording: Optional[CsvRecording] = None

    def open(self) -> None:
        rec = self.recording = load_recording(self._path, timecode_fps=self._fps, take_file=self._take_file)
        log.info("%s: %d rows, %.3f s at %g fps (%d skipped)", rec.path, len(rec), rec.times_s[-1], rec.fps,
                 rec.skipped_rows)

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
