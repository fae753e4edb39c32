"""The interface every face source implements."""

from __future__ import annotations

import abc
import threading
from typing import Callable

from facecast.engine.types import FaceSample

Emit = Callable[[FaceSample], None]


class SourceError(RuntimeError):
    """A source cannot be opened or its input is unusable. The message says what to do."""


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
