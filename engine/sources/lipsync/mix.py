"""Who drives the mouth: the tracker, the audio, or both (``--lipsync-mix``).

- ``replace``: the audio's mouth shapes replace the tracker's (:data:`~.visemes.MOUTH_CHANNELS`);
- ``add``: the audio's are added to the tracker's (clipped to 1): speech reads more clearly;
- ``off``: the tracker's alone (the audio is still analysed, e.g. for the studio's display);
- ``auto`` (default): the tracker's, except while the tracker has no face (no sample for
  :data:`TRACKER_STALE_S`, or one marked not valid) or its mouth is not to be trusted: the audio hears speech
  while the tracker's mouth has not moved (:data:`STILL_RANGE`) for :data:`STILL_WINDOW_S` (a microphone or a
  hand in front of the mouth, a mouth out of the camera's view). Between the two it eases over
  :data:`EASE_S`.

The result says which one drove the mouth (:data:`MOUTH_TRACKER`, :data:`MOUTH_AUDIO` or :data:`MOUTH_MIXED`),
and the bridge header carries it (``mouth``).
"""

from __future__ import annotations

import collections
from typing import Optional

import numpy as np

from facecast.engine.sources.lipsync.analyzer import LipsyncFrame
from facecast.engine.sources.lipsync.visemes import MOUTH_INDEX
from facecast.engine.types import MOUTH_AUDIO, MOUTH_MIXED, MOUTH_TRACKER, NUM_ARKIT

MIX_MODES = ("auto", "replace", "add", "off")
EASE_S = 0.15
TRACKER_STALE_S = 0.25
STILL_WINDOW_S = 0.4
#: The tracker's mouth counts as still when its jaw, funnel and pucker each moved less than this in the window.
STILL_RANGE = 0.03
_STILL_CHANNELS = MOUTH_INDEX[:3]  # jawOpen, mouthFunnel, mouthPucker


class MouthMixer:
    """Mixes the tracker's weights with the audio's mouth, per ``mode`` (one of :data:`MIX_MODES`)."""

    def __init__(self, mode: str = "auto") -> None:
        if mode not in MIX_MODES:
            raise ValueError(f"--lipsync-mix {mode!r}: choose one of {', '.join(MIX_MODES)}")
        self.mode = mode
        self._share = 1.0 if mode == "replace" else 0.0  # the audio's share of the mouth now (auto eases it)
        self._t_ns: Optional[int] = None
        self._history: collections.deque = collections.deque()  # (t_ns, tracker mouth (3,), speaking)

    def audio_share(self) -> float:
        return self._share

    def mix(self, tracker: Optional[np.ndarray], tracker_age_s: float, audio: Optional[LipsyncFrame],
            t_ns: int) -> tuple[np.ndarray, str]:
        """The mouth to show at ``t_ns``: ``(weights (52,) float32, who)``.

        Args:
            tracker: the newest tracker sample's (52,) weights, or None when it saw no face (or there is none).
            tracker_age_s: how old that sample is.
            audio: the newest lip-sync frame, or None before the first.
        """
        base = np.zeros(NUM_ARKIT, np.float32) if tracker is None else np.asarray(tracker, np.float32).copy()
        if audio is None or self.mode == "off":
            return base, MOUTH_TRACKER
        mouth = audio.mouth
        if self.mode == "replace":
            base[MOUTH_INDEX] = mouth
            return base, MOUTH_AUDIO
        if self.mode == "add":
            if tracker is None:
                base[MOUTH_INDEX] = mouth
                return base, MOUTH_AUDIO
            base[MOUTH_INDEX] = np.minimum(base[MOUTH_INDEX] + mouth, 1.0)
            return base, MOUTH_MIXED
        target = 1.0 if self._tracker_unusable(tracker, tracker_age_s, audio, t_ns) else 0.0
        dt_s = 0.0 if self._t_ns is None else max(0.0, (t_ns - self._t_ns) / 1e9)
        self._t_ns = t_ns if self._t_ns is None else max(self._t_ns, t_ns)
        step = dt_s / EASE_S
        self._share = min(target, self._share + step) if target > self._share else max(target, self._share - step)
        s = self._share
        if s <= 0.0:
            return base, MOUTH_TRACKER
        base[MOUTH_INDEX] = (1.0 - s) * base[MOUTH_INDEX] + s * mouth
        return base, MOUTH_AUDIO if s >= 1.0 else MOUTH_MIXED

    def _tracker_unusable(self, tracker, age_s, audio: LipsyncFrame, t_ns: int) -> bool:
        if tracker is None or age_s > TRACKER_STALE_S:
            self._history.clear()
            return True
        h = self._history
        h.append((t_ns, np.asarray(tracker, np.float32)[_STILL_CHANNELS], audio.speaking))
        while h and h[0][0] < t_ns - int(STILL_WINDOW_S * 1e9):
            h.popleft()
        if h[0][0] > t_ns - int(0.9 * STILL_WINDOW_S * 1e9) or not all(speaking for _, _, speaking in h):
            return False  # not a full window yet, or not speech all through it
        mouths = np.stack([m for _, m, _ in h])
        return bool(np.all(mouths.max(0) - mouths.min(0) < STILL_RANGE))
