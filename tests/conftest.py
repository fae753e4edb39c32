"""Shared test helpers: free ports, in-memory publishers, scripted sources."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import numpy as np
import pytest

from facecast.engine.cli import free_port  # noqa: F401  (re-exported for the tests)
from facecast.engine.sources.base import Emit, Source
from facecast.engine.types import NUM_ARKIT, FaceSample, Frame




@pytest.fixture
def endpoint() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


class ListPublisher:
    """Collects published frames in memory, with the wall time of each publish."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.sent_ns: list[int] = []
        self.closed = False

    def publish(self, frame: Frame) -> int:
        self.frames.append(frame)
        self.sent_ns.append(time.time_ns())
        return len(self.frames) - 1

    def close(self) -> None:
        self.closed = True


class RateSource(Source):
    """Emits samples at ``rate_hz``; weights[0] carries the sample index / 1000."""

    name = "test"

    def __init__(self, rate_hz: float = 100.0, *, count: Optional[int] = None,
                 fail_after: Optional[int] = None) -> None:
        self.rate_hz = rate_hz
        self.count = count
        self.fail_after = fail_after
        self.emitted = 0
        self.closed = False

    def run(self, emit: Emit, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.count is not None and self.emitted >= self.count:
                return
            w = np.zeros(NUM_ARKIT, np.float32)
            w[0] = (self.emitted % 1000) / 1000
            emit(FaceSample(capture_wall_ns=time.time_ns(), weights=w, source=self.name))
            self.emitted += 1
            if self.fail_after is not None and self.emitted % self.fail_after == 0:
                raise RuntimeError("source hiccup")
            stop.wait(1.0 / self.rate_hz)

    def close(self) -> None:
        self.closed = True


@contextmanager
def running(source: Source, emit: Optional[Emit] = None) -> Iterator[tuple[list, threading.Thread]]:
    """``source`` opened and running on its own thread, as the loop runs it.

    Yields (samples, thread): the emitted samples (unless ``emit`` is given) and
    the thread. On exit: stop, join, close, and check the thread ended."""
    source.open()
    samples: list = []
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(emit or samples.append, stop))
    thread.start()
    try:
        yield samples, thread
    finally:
        stop.set()
        thread.join(2)
        source.close()
    assert not thread.is_alive(), "the source did not stop"


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
