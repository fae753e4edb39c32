"""The newest-sample-wins mailbox between source threads and the loop.

It holds at most one sample. A ``put`` over an unread sample replaces it and
counts a drop, so a slow renderer never builds up latency.
"""

from __future__ import annotations

import threading
from typing import Generic, Optional, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """One-slot, thread-safe, newest-wins hand-over."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Optional[T] = None
        self.put_count = 0
        self.dropped_count = 0

    def put(self, item: T) -> None:
        """Store ``item``, replacing (and counting as dropped) any unread one."""
        with self._cond:
            if self._item is not None:
                self.dropped_count += 1
            self._item = item
            self.put_count += 1
            self._cond.notify()

    def take(self, timeout_s: float) -> Optional[T]:
        """The newest unread item, waiting up to ``timeout_s``; None if none came."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout_s)
            item, self._item = self._item, None
            return item

    def wake(self) -> None:
        """Wake a waiting ``take`` (used at shutdown)."""
        with self._cond:
            self._cond.notify_all()
