"""The live loop: source thread -> newest-wins mailbox -> retarget -> render -> publish.

:class:`Engine` owns the pieces it is given and closes them when it stops. It
never lets one bad sample or one renderer failure end the session: errors are
counted (and logged once per kind), the sample is dropped, and when rendering
fails the last good picture is re-sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional, Protocol

import numpy as np

from facecast.engine.diagnostics import TRACE, ErrorCounter, Timings
from facecast.engine.mailbox import Mailbox
from facecast.engine.render.base import Renderer
from facecast.engine.retarget import Retargeter
from facecast.engine.sources.base import Source
from facecast.engine.types import FaceSample, Frame

log = logging.getLogger(__name__)

STAGES = ("retarget", "render", "publish", "frame", "latency")
#: Pause before a failed source's ``run`` is called again.
SOURCE_RETRY_S = 0.5
#: A renderer showing less than this share of the expression for :data:`HELD_BACK_WARN_FRAMES` frames in a row
#: is logged (once per session).
HELD_BACK_WARN_SHARE = 0.5
HELD_BACK_WARN_FRAMES = 30
#: Shares kept for the report's median (a ring: bounded over a long session).
HELD_BACK_HISTORY = 4096


class FramePublisher(Protocol):
    """What the loop needs from a publisher (``bridge.publisher.Publisher`` fits)."""

    def publish(self, frame: Frame) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """Options of a loop session.

    Attributes:
        fps: maximum output rate; None renders every new sample as it arrives.
        duration_s: stop after this many seconds; None runs until stopped or
            until the source is exhausted.
        skip_below: reuse the last picture (sent with ``repeated``) instead of
            rendering when no retargeted parameter (ARKit weight, head or eye
            angle in radians, FLAME value) moved by this much or more since that
            picture was rendered; None renders every frame. Measured on the
            parameters, never on pixels, so it costs microseconds.
    """

    fps: Optional[float] = None
    duration_s: Optional[float] = None
    skip_below: Optional[float] = None

    def __post_init__(self) -> None:
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"duration must be positive, got {self.duration_s}")
        if self.skip_below is not None and not self.skip_below >= 0:
            raise ValueError(f"skip_below must be >= 0, got {self.skip_below}")


@dataclass
class LoopReport:
    """What a session did. Timings are milliseconds; ``latency`` is capture -> sent."""

    frames: int = 0
    elapsed_s: float = 0.0
    samples_in: int = 0
    samples_dropped: int = 0
    frames_skipped: int = 0
    #: frames whose renderer showed less than the whole expression (``Renderer.expression_shown`` < 1), and the
    #: median share shown in those frames (None when there were none)
    frames_held_back: int = 0
    held_back_median: Optional[float] = None
    source_rejected: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def format(self) -> str:
        lines = [f"{self.frames} frames in {self.elapsed_s:.1f} s ({self.fps:.1f} fps); "
                 f"samples in {self.samples_in}, dropped as stale {self.samples_dropped}; "
                 + (f"renders skipped (parameters unchanged) {self.frames_skipped}; " if self.frames_skipped else "")
                 + (f"expression held back by the renderer in {self.frames_held_back} frames (median share shown "
                    f"{self.held_back_median:.2f}); " if self.frames_held_back else "") +
                 f"inputs rejected by the source: {self.source_rejected or 'none'}; "
                 f"errors: {self.errors or 'none'}"]
        for stage, t in self.timings.items():
            if t["count"]:
                lines.append(f"  {stage:9s} p50 {t['p50_ms']:7.3f} ms   p99 {t['p99_ms']:7.3f} ms")
        return "\n".join(lines)


class Engine:
    """One streaming session.

    Args:
        source: an unopened :class:`Source`; the engine opens it in :meth:`run`.
        retargeter: the retarget stage.
        renderer: a prepared renderer, or None for the parameter feed alone.
        publisher: where frames go.
        config: pacing and duration.
    """

    def __init__(self, *, source: Source, retargeter: Retargeter, renderer: Optional[Renderer],
                 publisher: FramePublisher, config: LoopConfig = LoopConfig()) -> None:
        self._source = source
        self._retarget = retargeter
        self._renderer = renderer
        self._publisher = publisher
        self._config = config
        self._mailbox: Mailbox[FaceSample] = Mailbox()
        self._stop = threading.Event()
        self._source_done = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.errors = ErrorCounter(log)
        self.timings = Timings(STAGES)
        self.frames = 0
        self._last_picture: Optional[Frame] = None
        self._last_params: Optional[np.ndarray] = None
        self.frames_skipped = 0
        self._held_back: deque[float] = deque(maxlen=HELD_BACK_HISTORY)  # shares shown, frames that held some back
        self.frames_held_back = 0
        self._low_run = 0
        self._warned_low = False

    # -- control ------------------------------------------------------------ #

    def stop(self) -> None:
        """Ask the session to end. Safe from any thread and from signal handlers."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def counters(self) -> dict[str, int]:
        """The session's counts so far, for a live dashboard; safe to call from any thread while it runs."""
        return {"frames": self.frames, "frames_skipped": self.frames_skipped,
                "samples_in": self._mailbox.put_count, "samples_dropped": self._mailbox.dropped_count}

    def run(self) -> LoopReport:
        """Open the source, run until stopped, the duration ends or the source is exhausted,
        then close everything. Returns the session's report.

        Raises:
            SourceError: the source could not be opened (nothing else was started).
        """
        try:
            self._source.open()
            self._thread = threading.Thread(target=self._source_thread, name="facecast-source",
                                            daemon=True)
            self._thread.start()
            t0 = time.monotonic()
            try:
                self._main(t0)
            finally:
                elapsed = time.monotonic() - t0
        finally:
            self._shutdown()
        held = self._held_back
        return LoopReport(frames=self.frames, elapsed_s=elapsed, samples_in=self._mailbox.put_count,
                          samples_dropped=self._mailbox.dropped_count, frames_skipped=self.frames_skipped,
                          frames_held_back=self.frames_held_back,
                          held_back_median=float(np.median(held)) if held else None,
                          source_rejected=self._source.rejections.as_dict(), errors=self.errors.as_dict(),
                          timings=self.timings.summary())

    # -- threads ------------------------------------------------------------ #

    def _source_thread(self) -> None:
        while not self._stop.is_set():
            try:
                self._source.run(self._mailbox.put, self._stop)
                break  # exhausted
            except Exception as exc:
                self.errors.record("source", exc)
                self._stop.wait(SOURCE_RETRY_S)
        self._source_done.set()
        self._mailbox.wake()

    def _main(self, t0: float) -> None:
        cfg = self._config
        deadline = None if cfg.duration_s is None else t0 + cfg.duration_s
        period = None if cfg.fps is None else 1.0 / cfg.fps
        next_tick = t0
        while not self._stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            wait = 0.1 if deadline is None else min(0.1, deadline - now)
            sample = self._mailbox.take(max(0.0, wait))
            if sample is None:
                if self._source_done.is_set():
                    break  # exhausted, and its last sample was already processed
                continue
            self._process(sample)
            if period is not None:
                next_tick += period
                now = time.monotonic()
                if next_tick < now - period:  # far behind: do not burst to catch up
                    next_tick = now
                self._stop.wait(max(0.0, next_tick - now))

    def _process(self, sample: FaceSample) -> None:
        t_start = time.perf_counter_ns()
        try:
            sample, flame = self._retarget(sample)
        except Exception as exc:
            self.errors.record("retarget", exc)
            return
        frame = Frame(sample=sample, flame=flame, identity=self._identity())
        t_retarget = time.perf_counter_ns()
        if self._renderer is not None:
            frame = self._render(frame)
        t_render = time.perf_counter_ns()
        try:
            self._publisher.publish(frame)
        except Exception as exc:
            self.errors.record("publish", exc)
            return
        t_end = time.perf_counter_ns()
        self.frames += 1
        self.timings.add("retarget", t_retarget - t_start)
        self.timings.add("render", t_render - t_retarget)
        self.timings.add("publish", t_end - t_render)
        self.timings.add("frame", t_end - t_start)
        self.timings.add("latency", time.time_ns() - sample.capture_wall_ns)
        log.log(TRACE, "frame %d: %.2f ms", self.frames, (t_end - t_start) / 1e6)

    def _identity(self) -> str:
        return self._renderer.identity if self._renderer is not None else ""

    def _render(self, frame: Frame) -> Frame:
        renderer = self._renderer
        params = None
        if self._config.skip_below is not None:
            params = _parameters(frame)
            last = self._last_picture
            if last is not None and self._last_params is not None and params.shape == self._last_params.shape \
                    and float(np.max(np.abs(params - self._last_params))) < self._config.skip_below:
                self.frames_skipped += 1
                return _repeat(frame, last)
        try:
            pixels = renderer.render(frame.sample, frame.flame)
            if not isinstance(pixels, np.ndarray):
                raise TypeError(f"renderer {renderer.name} returned {type(pixels).__name__}, not an array")
            picture = Frame(sample=frame.sample, flame=frame.flame, identity=frame.identity,
                            pixels=pixels, pixel_format=renderer.pixel_format,
                            render_wall_ns=time.time_ns())
        except Exception as exc:
            self.errors.record("render", exc)
            last = self._last_picture
            if last is None:
                return frame  # nothing rendered yet: the parameters still go out
            return _repeat(frame, last)
        self._note_expression_shown(renderer.expression_shown)
        self._last_picture = picture
        self._last_params = params
        return picture

    def _note_expression_shown(self, shown: Optional[float]) -> None:
        """Count frames whose renderer held part of the expression back; log once when it keeps showing
        less than :data:`HELD_BACK_WARN_SHARE` of it."""
        if shown is None or shown >= 1.0:
            self._low_run = 0
            return
        self.frames_held_back += 1
        self._held_back.append(shown)
        self._low_run = self._low_run + 1 if shown < HELD_BACK_WARN_SHARE else 0
        if self._low_run >= HELD_BACK_WARN_FRAMES and not self._warned_low:
            self._warned_low = True
            log.warning("the %s renderer has shown less than %d%% of the requested expression for %d frames "
                        "(its safeguard holds back motion this face cannot make); 'facecast portrait check' "
                        "shows what a photo can do", self._renderer.name, HELD_BACK_WARN_SHARE * 100,
                        HELD_BACK_WARN_FRAMES)

    def _shutdown(self) -> None:
        self._stop.set()
        self._mailbox.wake()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():
                log.error("source thread did not stop within 5 s; closing the source under it")
        for name, closer in (("source", self._source.close),
                             ("renderer", self._renderer.close if self._renderer else None),
                             ("publisher", self._publisher.close)):
            if closer is None:
                continue
            try:
                closer()
            except Exception as exc:
                self.errors.record(f"close-{name}", exc)


__all__ = ["Engine", "LoopConfig", "LoopReport", "FramePublisher"]


def _repeat(frame: Frame, last: Frame) -> Frame:
    """``frame``'s parameters with ``last``'s picture, flagged ``repeated``."""
    return Frame(sample=frame.sample, flame=frame.flame, identity=frame.identity, pixels=last.pixels,
                 pixel_format=last.pixel_format, render_wall_ns=last.render_wall_ns, repeated=True)


def _parameters(frame: Frame) -> np.ndarray:
    """Every retargeted parameter a renderer may draw, as one vector (for ``skip_below``)."""
    s = frame.sample
    parts = [s.weights] + [v for v in (s.head_rad, s.eye_left_rad, s.eye_right_rad) if v is not None]
    if frame.flame is not None:
        parts.append(frame.flame.as_vector())
        if frame.flame.head_rad is not None:
            parts.append(frame.flame.head_rad)
    return np.concatenate([np.asarray(p, np.float32).ravel() for p in parts])
