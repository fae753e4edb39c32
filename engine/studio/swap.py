"""Parts of the running engine that the studio can swap while it runs: the source, the renderer and the
retarget stage.

The :class:`~facecast.engine.loop.Engine` is given one of each for its whole session; these stand in for
them and hand every call to the current one. A new part is made and opened (or prepared) off the engine's
thread first; only when that worked does it replace the old one, which is then closed. So a source or
renderer that fails to start leaves the old one running, and the engine never waits for a model to load.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional, Sequence

import numpy as np

from facecast.engine.render.base import Renderer
from facecast.engine.retarget import Retargeter
from facecast.engine.sources.base import Emit, Rejections, Source
from facecast.engine.types import FaceSample, FlameParams, PixelFormat

log = logging.getLogger(__name__)

#: Longest wait for a replaced source's run to return before it is closed under it.
RETIRE_TIMEOUT_S = 2.0


class SwitchableSource(Source):
    """The engine's source. :meth:`switch` opens a new source and then replaces the running one;
    :meth:`pause` closes it (no samples until the next :meth:`switch`).

    While a source runs, each of its samples is also kept as :attr:`latest` (the raw sample, before
    retargeting) and handed to any recorder added with :meth:`record` (calibration captures).
    """

    name = "studio"

    def __init__(self, initial: Source, *, spec: str) -> None:
        self._lock = threading.Lock()
        self._current: Optional[Source] = initial
        self._pending_open = initial
        self.spec: Optional[str] = spec
        self._inner_stop = threading.Event()
        self._changed = threading.Event()
        self._recorders: list[Callable[[FaceSample], None]] = []
        self.latest: Optional[FaceSample] = None
        self.samples_in = 0
        self.exhausted = False
        self._empty_rejections = Rejections("none")
        self._watcher: Optional[threading.Thread] = None
        self._active: Optional[Source] = None  # the source whose run() the source thread is in

    @property
    def rejections(self) -> Rejections:  # type: ignore[override]
        current = self._current
        return current.rejections if current is not None else self._empty_rejections

    @property
    def running(self) -> bool:
        return self._current is not None

    def open(self) -> None:
        if self._pending_open is not None:
            self._pending_open.open()
            self._pending_open = None

    def switch(self, new: Source, *, spec: str) -> None:
        """Open ``new`` (on the caller's thread), then make it the running source and close the old one.

        Raises:
            SourceError: ``new`` cannot be opened; the running source is untouched.
        """
        new.open()
        with self._lock:
            old, self._current, self.spec = self._current, new, spec
            stop, self._inner_stop = self._inner_stop, threading.Event()
            self.exhausted = False
        self._retire(old, stop)
        log.info("source -> %s", spec)

    def _retire(self, old: Optional[Source], stop: threading.Event) -> None:
        """Stop ``old``'s run, wait (up to :data:`RETIRE_TIMEOUT_S`) until the source thread has left it, close it."""
        stop.set()
        self._changed.set()
        if old is None:
            return
        deadline = time.monotonic() + RETIRE_TIMEOUT_S
        while self._active is old and time.monotonic() < deadline:
            time.sleep(0.005)
        old.close()

    def pause(self) -> None:
        """Close the running source; the engine idles until :meth:`switch`."""
        with self._lock:
            old, self._current = self._current, None
            stop, self._inner_stop = self._inner_stop, threading.Event()
        self._retire(old, stop)

    def record(self, recorder: Callable[[FaceSample], None]) -> Callable[[], None]:
        """Hand every raw sample to ``recorder`` until the returned function is called."""
        with self._lock:
            self._recorders = [*self._recorders, recorder]

        def stop() -> None:
            with self._lock:
                self._recorders = [r for r in self._recorders if r is not recorder]
        return stop

    def run(self, emit: Emit, stop: threading.Event) -> None:
        def tap(sample: FaceSample) -> None:
            self.latest = sample
            self.samples_in += 1
            for recorder in self._recorders:
                recorder(sample)
            emit(sample)

        if self._watcher is None:  # (run is called again after a source error: one watcher is enough)
            self._watcher = threading.Thread(target=self._follow_stop, args=(stop,), name="facecast-source-stop",
                                             daemon=True)
            self._watcher.start()
        while not stop.is_set():
            with self._lock:
                source, inner_stop = self._current, self._inner_stop
                self._changed.clear()
            if source is None or self.exhausted:
                self._changed.wait(0.1)
                continue
            self._active = source
            try:
                source.run(tap, inner_stop)  # an exception goes to the engine, which counts it and calls run again
            finally:
                self._active = None
            if not inner_stop.is_set() and not stop.is_set():
                self.exhausted = True  # a file played to its end: idle until the next switch
                log.info("source %s ended; choose another", self.spec)

    def _follow_stop(self, stop: threading.Event) -> None:
        stop.wait()
        with self._lock:
            self._inner_stop.set()
        self._changed.set()

    def close(self) -> None:
        with self._lock:
            current, self._current = self._current, None
            self._inner_stop.set()
        if current is not None:
            current.close()


class SwitchableRenderer(Renderer):
    """The engine's renderer. :meth:`switch` puts a prepared renderer in place of the current one (which is
    closed); a frame being drawn finishes with the renderer it started with."""

    def __init__(self, initial: Renderer) -> None:
        self._lock = threading.Lock()
        self._current = initial

    @property
    def current(self) -> Renderer:
        return self._current

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._current.name

    @property
    def pixel_format(self) -> PixelFormat:  # type: ignore[override]
        return self._current.pixel_format

    @property
    def identity(self) -> str:  # type: ignore[override]
        return self._current.identity

    @property
    def expression_shown(self) -> Optional[float]:  # type: ignore[override]
        return self._current.expression_shown

    def switch(self, new: Renderer) -> None:
        with self._lock:  # waits for the frame being drawn
            old, self._current = self._current, new
        old.close()
        log.info("renderer -> %s", new.name)

    def render(self, sample: FaceSample, flame: Optional[FlameParams]) -> np.ndarray:
        with self._lock:
            return self._current.render(sample, flame)

    def render_batch(self, samples: Sequence[FaceSample], flames: Sequence[Optional[FlameParams]]) -> list[np.ndarray]:
        with self._lock:
            return self._current.render_batch(samples, flames)

    def reset(self) -> None:
        self._current.reset()

    def close(self) -> None:
        with self._lock:
            self._current.close()


class SwitchableRetargeter:
    """The engine's retarget stage; :meth:`switch` replaces it (a newly chosen calibration profile)."""

    def __init__(self, initial: Retargeter, *, profile: Optional[str]) -> None:
        self._current = initial
        self.profile = profile

    def switch(self, new: Retargeter, *, profile: Optional[str]) -> None:
        self._current, self.profile = new, profile

    def __call__(self, sample: FaceSample) -> tuple[FaceSample, Optional[FlameParams]]:
        return self._current(sample)
