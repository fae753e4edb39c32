"""The interface every face source implements, and the rejection bookkeeping they share."""

from __future__ import annotations

import abc
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from facecast.engine.types import FaceSample

Emit = Callable[[FaceSample], None]

log = logging.getLogger(__name__)

#: Loopback: where network sources listen unless the user says otherwise.
DEFAULT_BIND_HOST = "127.0.0.1"


class SourceError(RuntimeError):
    """A source cannot be opened or its input is unusable. The message says what to do."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a parser refused an input. ``reason`` is a short stable label for counting
    (``truncated``, ``bad-version``, ``not-finite``, ``oversized``, ...). ``variant``
    distinguishes rejections of one reason that each deserve their own report (the
    packet version of ``bad-version``, say); it is bounded by the parser."""

    reason: str
    detail: str = ""
    variant: str = ""


class Rejections:
    """Counts rejected inputs by reason; logs the first of each (reason, variant) at WARNING,
    so that one garbage packet cannot use up the report a real problem needs.

    Thread-safe. The one place a source handles an input it drops.
    """

    def __init__(self, source_name: str) -> None:
        self._name = source_name
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()  # (reason, variant) -> count

    def add(self, rejection: Rejection) -> None:
        key = (rejection.reason, rejection.variant)
        with self._lock:
            self._counts[key] += 1
            first = self._counts[key] == 1
        if first:
            log.warning("%s: dropped an input (%s%s); further ones of this kind are counted",
                        self._name, rejection.reason, f": {rejection.detail}" if rejection.detail else "")

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def as_dict(self) -> dict[str, int]:
        """Counts by reason (variants added up)."""
        by_reason: Counter[str] = Counter()
        with self._lock:
            for (reason, _), n in self._counts.items():
                by_reason[reason] += n
        return dict(by_reason)


class Source(abc.ABC):
    """A producer of :class:`FaceSample` objects in the canonical ARKit order.

    Lifecycle: ``open()`` once (acquire sockets, files, models; raise
    :class:`SourceError` with a clear message if that fails), then ``run()`` on
    the source thread, then ``close()``.

    ``run`` shares the interpreter with the loop: it must block in calls that
    release the GIL (socket reads with a timeout, ``stop.wait``) rather than spin,
    or it starves the render and publish stages.
    """

    #: Short name put into every sample's ``source`` field.
    name: str = "source"

    @property
    def rejections(self) -> Rejections:
        """Inputs this source dropped, by reason (created on first use)."""
        try:
            return self.__dict__["_rejections"]
        except KeyError:
            r = self.__dict__["_rejections"] = Rejections(self.name)
            return r

    def open(self) -> None:
        """Acquire resources. Called on the caller's thread before ``run``."""

    @abc.abstractmethod
    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Emit samples until ``stop`` is set, or return when the input is exhausted.

        Exceptions escaping ``run`` are counted by the loop, which calls ``run``
        again after a short pause; a source that is merely out of input returns.
        """

    def close(self) -> None:
        """Release resources. Must be safe to call more than once."""
