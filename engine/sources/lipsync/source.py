""":class:`LipsyncSource`: a face source whose mouth the audio drives (``--lipsync``), beside the tracker.

It runs the tracker (any :class:`~facecast.engine.sources.base.Source`, or none) on a thread of its own and the
audio on the source thread. It emits:

- each tracker sample, its mouth mixed with the newest lip-sync frame (:class:`~.mix.MouthMixer`);
- between tracker samples, a sample per audio hop when the last emitted one is at least :data:`MIN_EMIT_S` old
  (so a webcam at 30 fps does not hold the audio's mouth back, and a phone at 60 fps is not doubled), built on
  the newest tracker sample (or a neutral face without one) at the hop's capture time.

The loop's mailbox keeps only the newest sample, so nothing queues. Samples carry ``mouth`` (who drove it).
"""

from __future__ import annotations

import threading
import time
from typing import Optional

import numpy as np

from facecast.engine.sources.base import Emit, Source
from facecast.engine.sources.lipsync.analyzer import LipsyncAnalyzer, LipsyncFrame
from facecast.engine.sources.lipsync.audio import AudioInput
from facecast.engine.sources.lipsync.mix import MouthMixer
from facecast.engine.types import FaceSample

MIN_EMIT_S = 1.0 / 60.0


class LipsyncSource(Source):
    """``tracker`` (None: no tracker, a neutral face) with its mouth driven by ``audio``.

    Args:
        tracker: the face source, unopened, or None.
        audio: the audio input, unopened.
        analyzer: the lip-sync analyzer (its vowel templates: the profile's, or the defaults).
        mixer: how tracker and audio share the mouth.
    """

    def __init__(self, *, tracker: Optional[Source], audio: AudioInput, analyzer: LipsyncAnalyzer,
                 mixer: MouthMixer) -> None:
        self.tracker = tracker
        self.audio = audio
        self.analyzer = analyzer
        self.mixer = mixer
        self.name = tracker.name if tracker is not None else "lipsync"
        self._lock = threading.Lock()
        self._tracker_sample: Optional[FaceSample] = None
        self._tracker_mono_s = 0.0
        self._audio: Optional[LipsyncFrame] = None
        self._last_emit_s = -1.0

    @property
    def rejections(self):
        return self.tracker.rejections if self.tracker is not None else super().rejections

    def open(self) -> None:
        self.audio.open()
        if self.tracker is not None:
            try:
                self.tracker.open()
            except BaseException:
                self.audio.close()
                raise

    def close(self) -> None:
        try:
            if self.tracker is not None:
                self.tracker.close()
        finally:
            self.audio.close()

    def run(self, emit: Emit, stop: threading.Event) -> None:
        tracker_error: list[BaseException] = []
        tracker_thread = None
        if self.tracker is not None:
            def run_tracker() -> None:
                try:
                    self.tracker.run(lambda s: self._on_tracker(s, emit), stop)
                except BaseException as exc:  # handed to the loop, which counts it and calls run again
                    tracker_error.append(exc)

            tracker_thread = threading.Thread(target=run_tracker, name="facecast-lipsync-tracker", daemon=True)
            tracker_thread.start()
        try:
            while not stop.is_set():
                got = self.audio.read(stop)
                if got is None:
                    break
                block, capture_wall_ns = got
                for frame in self.analyzer.push(block):
                    self._on_audio(frame, capture_wall_ns, emit)
                if tracker_error:
                    raise tracker_error[0]
            if tracker_thread is not None and not stop.is_set():  # the audio ended: the tracker goes on alone
                with self._lock:
                    self._audio = None
                while tracker_thread.is_alive() and not stop.is_set():
                    tracker_thread.join(0.1)
        finally:
            if tracker_thread is not None and tracker_thread.is_alive() and stop.is_set():
                tracker_thread.join(1.0)
        if tracker_error:
            raise tracker_error[0]

    def _on_tracker(self, sample: FaceSample, emit: Emit) -> None:
        with self._lock:
            self._tracker_sample = sample
            self._tracker_mono_s = time.monotonic()
            out = self._merged(sample.capture_wall_ns)
        emit(out)

    def _on_audio(self, frame: LipsyncFrame, capture_wall_ns: int, emit: Emit) -> None:
        now = time.monotonic()
        with self._lock:
            self._audio = frame
            if now - self._last_emit_s < MIN_EMIT_S:
                return
            out = self._merged(capture_wall_ns)
        emit(out)

    def _merged(self, capture_wall_ns: int) -> FaceSample:
        """The newest tracker sample with the mixed mouth (the lock is held)."""
        self._last_emit_s = time.monotonic()
        t = self._tracker_sample
        age_s = time.monotonic() - self._tracker_mono_s if t is not None else float("inf")
        usable = t is not None and t.valid
        weights, who = self.mixer.mix(t.weights if usable else None, age_s, self._audio, capture_wall_ns)
        if t is None or (not usable and who != "tracker"):  # no face: a neutral one, talking
            return FaceSample(capture_wall_ns=capture_wall_ns, weights=weights, head_rad=np.zeros(3, np.float32),
                              valid=True, source=self.name, mouth=who)
        if not usable:
            return FaceSample(capture_wall_ns=t.capture_wall_ns, weights=t.weights, valid=False, source=t.source)
        return FaceSample(capture_wall_ns=max(t.capture_wall_ns, capture_wall_ns), weights=weights,
                          head_rad=t.head_rad, eye_left_rad=t.eye_left_rad, eye_right_rad=t.eye_right_rad,
                          valid=True, source=t.source, flame=t.flame, mouth=who)

