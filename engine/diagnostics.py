"""Observability for the live loop: trace logging, errors counted once, timing percentiles.

- :data:`TRACE` is a log level below DEBUG for per-frame messages.
- :class:`ErrorCounter` logs the first error of each kind with its cause and
  counts every occurrence, so a renderer that fails at 60 fps does not flood the log.
- :class:`Timings` keeps a fixed-size ring of durations per stage (no growth
  over a long session) and reports p50/p99.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections import Counter
from typing import Iterable, Iterator

import numpy as np

TRACE = 5
logging.addLevelName(TRACE, "TRACE")


class ErrorCounter:
    """Counts errors by (stage, exception type); logs each kind once, with traceback.

    Thread-safe. ``record`` is the single place an error in the loop is handled.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, stage: str, exc: BaseException) -> None:
        key = (stage, type(exc).__name__)
        with self._lock:
            self._counts[key] += 1
            first = self._counts[key] == 1
        if first:
            self._log.error("%s failed: %s (logged once; further %s errors in %s are counted)",
                            stage, exc, key[1], stage, exc_info=exc)
        else:
            self._log.log(TRACE, "%s failed again: %r", stage, exc)

    def total(self, stage: str | None = None) -> int:
        with self._lock:
            return sum(n for (s, _), n in self._counts.items() if stage is None or s == stage)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {f"{s}:{t}": n for (s, t), n in self._counts.items()}


class Timings:
    """Ring buffers of durations in nanoseconds, one per stage name.

    ``capacity`` samples are kept per stage; older ones are overwritten.
    """

    def __init__(self, stages: Iterable[str], *, capacity: int = 4096) -> None:
        self._cap = capacity
        self._buf = {s: np.zeros(capacity, np.int64) for s in stages}
        self._n = {s: 0 for s in self._buf}
        self._lock = threading.Lock()

    def add(self, stage: str, duration_ns: int) -> None:
        with self._lock:
            i = self._n[stage]
            self._buf[stage][i % self._cap] = duration_ns
            self._n[stage] = i + 1

    def count(self, stage: str) -> int:
        return self._n[stage]

    def percentiles_ms(self, stage: str, qs=(50, 99)) -> list[float]:
        """Percentiles in milliseconds of the kept samples (NaN when none)."""
        with self._lock:
            n = min(self._n[stage], self._cap)
            data = self._buf[stage][:n].copy()
        if n == 0:
            return [float("nan")] * len(qs)
        return [float(v) / 1e6 for v in np.percentile(data, qs)]

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for stage in self._buf:
            p50, p99 = self.percentiles_ms(stage)
            out[stage] = {"count": self._n[stage], "p50_ms": p50, "p99_ms": p99}
        return out


#: Lines that MediaPipe's and TensorFlow Lite's native code print to stderr on every new tracker: absl
#: info/warning lines (``W0000 00:00:... file.cc:123] ...``), absl's notice that it was not initialised,
#: and TFLite's delegate notice. None of them needs the user; ``-v`` shows them.
NATIVE_NOISE = re.compile(r"^(?:[IW]\d{4} |WARNING: All log messages before absl|WARNING: Logging before InitGoogle|"
                          r"INFO: Created TensorFlow Lite)")
_native_lock = threading.RLock()
_native_depth = 0


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hold back MediaPipe's and TFLite's routine native log lines (:data:`NATIVE_NOISE`) written to file
    descriptor 2 inside the block; every other line (Python's included) is written to stderr after it.

    Native libraries write to the descriptor directly, from their own threads, so ``sys.stderr`` cannot
    catch them: the descriptor points at a temporary file for the block's duration. Nothing is filtered
    when the ``facecast`` logger is at DEBUG (``facecast -v``) or ``FACECAST_NATIVE_LOGS=1``.
    """
    global _native_depth
    if os.environ.get("FACECAST_NATIVE_LOGS") == "1" or logging.getLogger("facecast").isEnabledFor(logging.DEBUG):
        yield
        return
    with _native_lock:
        if _native_depth:  # nested: the outer block filters
            _native_depth += 1
            try:
                yield
            finally:
                _native_depth -= 1
            return
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            _native_depth = 1
            try:
                yield
            finally:
                _native_depth = 0
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                kept = [line for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True)
                        if not NATIVE_NOISE.match(line)]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()
