"""``facecast render --audio``: a sound file drives the mouth of an offline render, and goes into the MP4.

The audio is analysed exactly as live lip-sync does (:class:`~facecast.engine.sources.lipsync.LipsyncAnalyzer`,
causal, 10 ms hops); frame ``i`` (at ``i / fps`` seconds) takes the mouth of the newest hop that ended by then.
The mouth channels (:data:`~facecast.engine.sources.lipsync.MOUTH_CHANNELS`) replace the script's; every other
channel, the head and the eyes stay the script's. When the audio outlasts the script, the script's last frame
is held until the audio ends, so the video is as long as the sound (to within a frame).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.offline.timeline import Timeline
from facecast.engine.sources.lipsync.analyzer import LipsyncAnalyzer
from facecast.engine.sources.lipsync.audio import read_wav, to_analysis_rate, to_float
from facecast.engine.sources.lipsync.features import SAMPLE_RATE_HZ
from facecast.engine.sources.lipsync.visemes import MOUTH_INDEX, VowelTemplates


def mouth_track(samples_16k: np.ndarray, *, fps: float, frames: int,
                templates: Optional[VowelTemplates] = None) -> np.ndarray:
    """(frames, 12) float32 mouth weights for frames at ``i / fps`` from 16 kHz mono audio (0 before the
    first hop and after the audio ends: a closed mouth)."""
    hops = LipsyncAnalyzer(templates).push(samples_16k)
    out = np.zeros((frames, len(MOUTH_INDEX)), np.float32)
    if not hops:
        return out
    ends_s = np.array([h.end_sample for h in hops]) / SAMPLE_RATE_HZ
    mouths = np.stack([h.mouth for h in hops])
    t_s = np.arange(frames) / fps
    k = np.searchsorted(ends_s, t_s + 1e-9, side="right") - 1
    inside = (k >= 0) & (t_s <= ends_s[-1])
    out[inside] = mouths[k[inside]]
    return out


def with_audio(timeline: Timeline, audio: Path, *, templates: Optional[VowelTemplates] = None) -> Timeline:
    """``timeline`` with its mouth driven by ``audio`` (a WAV), lengthened to the audio's duration if shorter.

    Raises:
        SourceError: the audio cannot be read (the message names the file).
    """
    data, rate = read_wav(audio)
    x = to_analysis_rate(data, rate)
    duration_s = len(data) / rate
    n = max(len(timeline), int(math.ceil(duration_s * timeline.fps - 1e-9)))
    hold = np.minimum(np.arange(n), len(timeline) - 1)  # the script's last frame, held to the audio's end

    def held(a: Optional[np.ndarray]) -> Optional[np.ndarray]:
        return None if a is None else np.ascontiguousarray(a[hold])

    weights = held(timeline.weights).astype(np.float32)
    weights[:, MOUTH_INDEX] = mouth_track(x, fps=timeline.fps, frames=n, templates=templates)
    return dataclasses.replace(timeline, weights=weights, head_rad=held(timeline.head_rad), flame=held(timeline.flame),
                               eye_left_rad=held(timeline.eye_left_rad), eye_right_rad=held(timeline.eye_right_rad))


class AudioTrack:
    """A WAV as an AAC stream of an open PyAV output: the stream is added at construction (before any packet is
    muxed, as MP4 needs), and :meth:`write` encodes the samples (mono or stereo at the file's own rate; more
    channels are mixed down to stereo) from time 0."""

    CHUNK = 1024

    def __init__(self, container, audio: Path) -> None:
        data, rate = read_wav(audio)
        x = to_float(data).astype(np.float32)
        x = x.T if x.ndim == 2 else x[None, :]
        if x.shape[0] > 2:
            x = np.stack([x[0::2].mean(0), x[1::2].mean(0)])
        self.planes = np.ascontiguousarray(np.clip(x, -1.0, 1.0))
        self.rate = int(rate)
        self.layout = "stereo" if self.planes.shape[0] == 2 else "mono"
        self.stream = container.add_stream("aac", rate=self.rate, layout=self.layout)
        self.stream.bit_rate = 96_000 * self.planes.shape[0]

    def write(self, container) -> None:
        from fractions import Fraction

        import av

        for start in range(0, self.planes.shape[1], self.CHUNK):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(self.planes[:, start:start + self.CHUNK]),
                                               format="fltp", layout=self.layout)
            frame.sample_rate = self.rate
            frame.time_base = Fraction(1, self.rate)
            frame.pts = start
            for packet in self.stream.encode(frame):
                container.mux(packet)
        for packet in self.stream.encode():
            container.mux(packet)
