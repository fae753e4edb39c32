"""One progress bar for long work (evaluation, downloads, distillation): a redrawn
bar with the ETA on a terminal, a line at each quarter otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import Callable


def progress_bar(total: int, *, unit: str = "items", enabled: bool = True) -> Callable[..., None]:
    """``update(done, note="")`` for ``total`` units of work, writing to stderr."""
    tty = sys.stderr.isatty()
    state = {"start": time.monotonic(), "base": None, "quarter": 0, "drawn": 0.0}

    def update(done: int, note: str = "") -> None:
        if not enabled or total <= 0:
            return
        now = time.monotonic()
        if state["base"] is None:  # work already done (a resumed job) does not count toward the rate
            state["base"], state["start"] = done, now
        elapsed = now - state["start"]
        fresh = done - state["base"]
        eta = elapsed / fresh * (total - done) if fresh > 0 else float("nan")
        tail = f" {note}" if note else ""
        if not tty:
            quarter = 4 * done // total
            if quarter > state["quarter"]:  # crossing a quarter, whatever the step size
                state["quarter"] = quarter
                sys.stderr.write(f"  {done}/{total} {unit}, {elapsed:.0f} s{tail}\n")
            return
        if done < total and now - state["drawn"] < 0.1:
            return
        state["drawn"] = now
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
