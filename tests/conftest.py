"""Shared test helpers: free ports, in-memory publishers, scripted sources."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import numpy as np
import pytest

from facecast.bridge.publisher import free_port  # noqa: F401  (re-exported for the tests)
from facecast.engine.sources.base import Emit, Source
from facecast.engine.types import NUM_ARKIT, FaceSample, Frame

# --------------------------------------------------------------------------- #
# Numeric tolerances. Each says what it protects; none is one machine's result.
# --------------------------------------------------------------------------- #

#: One float32 computation run two ways (torch eager vs onnxruntime or torch.compile, batch 1 vs a batch,
#: oneDNN's AVX2 vs AVX-512 blocking, one thread vs several) reassociates its sums. float32 rounds at 6e-8 of
#: a value; over reductions of thousands of terms through a few dozen layers the results drift apart by up to
#: ~1e-5 of their magnitude (3.4e-5 measured between an AMD AVX2 and an Intel AVX-512 CPU on the tiny models).
#: This tolerance, relative to the larger of 1 and the result's largest magnitude, leaves 30x headroom.
SAME_COMPUTATION_RTOL = 1e-3
#: The least a real difference (another bank slot, weight, expression or layout) must move a result of order 1
#: by for a test to call it changed: five times :data:`SAME_COMPUTATION_RTOL` and over a hundred times the
#: largest reassociation drift seen, so "it changed" never passes on rounding alone. (The tiny random models'
#: weakest real effect, the expression adapter on a 25-step latent, is 8.7e-3.)
CHANGED_ATOL = 5e-3
#: Pictures quantised to uint8 from float results that differ by reassociation can land one grey level apart
#: where a value sits on a rounding boundary; more than one level is a real difference.
QUANTISATION_LEVELS = 1


def _float64(a) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, without importing torch here
        a = a.detach().cpu().double().numpy()
    return np.asarray(a, np.float64)


def max_abs_diff(got, want) -> float:
    return float(np.max(np.abs(_float64(got) - _float64(want))))


def assert_same_computation(got, want, *, rtol: float = SAME_COMPUTATION_RTOL) -> None:
    """``got`` and ``want`` are one float32 computation by two kernels: equal up to reassociation
    (see :data:`SAME_COMPUTATION_RTOL`). Shapes must match exactly."""
    g, w = _float64(got), _float64(want)
    assert g.shape == w.shape, f"shape {g.shape} != {w.shape}"
    scale = max(1.0, float(np.max(np.abs(w))) if w.size else 1.0)
    diff = float(np.max(np.abs(g - w))) if w.size else 0.0
    assert diff <= rtol * scale, f"max |difference| {diff:.3g} > {rtol:g} x scale {scale:.3g}"


def assert_pixels_close(got, want, *, levels: int = QUANTISATION_LEVELS) -> None:
    """uint8 pictures of one computation: equal up to rounding (see :data:`QUANTISATION_LEVELS`)."""
    g, w = np.asarray(_float64(got)), np.asarray(_float64(want))
    assert g.shape == w.shape, f"shape {g.shape} != {w.shape}"
    diff = float(np.max(np.abs(g - w))) if w.size else 0.0
    assert diff <= levels, f"pictures differ by {diff:g} grey levels (allowed: {levels}, rounding)"


def pytest_configure(config) -> None:
    """``FACECAST_TEST_TORCH_THREADS=N`` runs the suite with ``torch.set_num_threads(N)`` (the numeric tests
    must pass at any thread count; see docs/testing.md).

    The suite gets its own facecast cache folder, so a developer's saved per-photo fits and checks
    (``~/.cache/facecast/portrait-gains``, ``portraits``) do not change what it measures; models already in
    the developer's cache stay reachable through ``FACECAST_MODEL_DIR``."""
    if "FACECAST_CACHE_DIR" not in os.environ:
        from facecast.engine.paths import cache_dir
        models = cache_dir() / "models"
        if models.is_dir() and "FACECAST_MODEL_DIR" not in os.environ:
            os.environ["FACECAST_MODEL_DIR"] = str(models)
        os.environ["FACECAST_CACHE_DIR"] = tempfile.mkdtemp(prefix="facecast-test-cache-")
    threads = os.environ.get("FACECAST_TEST_TORCH_THREADS")
    if threads:
        try:
            import torch
        except ImportError:
            return
        torch.set_num_threads(int(threads))


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
