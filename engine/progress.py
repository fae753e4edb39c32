"""One progress bar for long work (evaluation, downloads, distillation): a redrawn
bar with the ETA on a terminal, a line at each quarter otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import Callable


def progress_bar(total: int, *, unit: str = "items", enabled: bool = True) -> Callable[..., None]:
    """``update(done, note="")`` for ``total`` units of work, writing to stderr."""
    tty = sys.stderr.isatty()
    quarters = {max(1, total * q // 4) for q in (1, 2, 3, 4)}
    start = time.monotonic()
    last_draw = [0.0]

    def update(done: int, note: str = "") -> None:
        if not enabled or total <= 0:
            return
        elapsed = time.monotonic() - start
        eta = elapsed / done * (total - done) if done else float("nan")
        tail = f" {note}" if note else ""
        if not tty:
            if done in quarters:
                sys.stderr.write(f"  {done}/{total} {unit}, {elapsed:.0f} s{tail}\n")
            return
        now = time.monotonic()
        if done < total and now - last_draw[0] < 0.1:
            return
        last_draw[0] = now
        width = 30
        filled = width * done // total
        eta_text = f"ETA {eta:5.0f} s" if done < total else f"{elapsed:.0f} s"
        sys.stderr.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {unit} {eta_text}{tail}   ")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return update


def lazy_progress_bar(*, unit: str = "items", enabled: bool = True) -> Callable[..., None]:
    """``update(done, total, note="")`` for work whose total is known only when it starts."""
    bars: dict[int, Callable[..., None]] = {}

    def update(done: int, total: int, note: str = "") -> None:
        if total not in bars:
            bars[total] = progress_bar(total, unit=unit, enabled=enabled)
        bars[total](done, note)

    return update
