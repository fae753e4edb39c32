"""Speech features every 10 ms, causal: level, the first two formants and where the energy lies.

The analysis runs at :data:`SAMPLE_RATE_HZ` (16 kHz; other rates are resampled by the audio inputs). Every
:data:`HOP` samples (10 ms) it looks at the last :data:`WINDOW` samples (25 ms, Hamming, pre-emphasis 0.97), so
a feature describes audio that has already arrived: no look-ahead.

Formants come from linear prediction (the autocorrelation method, order :data:`LPC_ORDER` = 2 + kHz, the usual
rule): the roots of the predictor polynomial with a bandwidth under :data:`MAX_BANDWIDTH_HZ` are the vocal tract's
resonances; the lowest two above 150 Hz are F1 and F2. F1 rises as the jaw opens (about 300 Hz for "i" and "u",
700-900 Hz for "a"); F2 rises as the tongue moves forward and falls as the lips round (about 800-1000 Hz for
"o" and "u", 2000-2800 Hz for "e" and "i").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE_HZ = 16_000
#: Samples between two features (10 ms) and samples each feature looks at (25 ms).
HOP = 160
WINDOW = 400
LPC_ORDER = 18
MAX_BANDWIDTH_HZ = 500.0
MIN_FORMANT_HZ = 150.0
#: Energy below this share of the band under :data:`LOW_BAND_HZ` is voiceless or a fricative; a nasal murmur or a
#: voice bar (the lips shut, the voice going on) has nearly all its energy there.
LOW_BAND_HZ = 500.0
VOICE_BAND_HZ = 1_000.0
#: A fricative ("s", "sh", "th") puts most of its energy above this; vowels keep under a third there.
HIGH_BAND_HZ = 3_000.0
#: Level of digital silence, dBFS.
SILENCE_DBFS = -100.0


@dataclass(frozen=True, slots=True)
class Features:
    """One hop's features.

    Attributes:
        level_dbfs: RMS level of the window, dB relative to full scale (-100 for digital silence).
        f1_hz, f2_hz: the first two formants, Hz; NaN when linear prediction found none.
        low_share: share of the window's energy below 500 Hz, 0..1 (nasal murmur, voice bar: about 0.9).
        voice_share: share below 1 kHz, 0..1 (with ``low_share``: a murmur has next to nothing between them).
        high_share: share above 3 kHz, 0..1 (vowels of espeak-ng's voices: 0.0-0.31; "s" 0.94, "sh" 0.61).
    """

    level_dbfs: float
    f1_hz: float
    f2_hz: float
    low_share: float
    voice_share: float
    high_share: float


class FeatureExtractor:
    """Per-hop features of a 16 kHz stream. Everything per window is precomputed here; :meth:`push` does only
    the per-hop work."""

    def __init__(self) -> None:
        from scipy.linalg import solve_toeplitz  # here, not at import: the CLI starts 0.15 s faster

        self._solve = solve_toeplitz
        self._window = np.hamming(WINDOW).astype(np.float64)
        freqs = np.fft.rfftfreq(512, 1.0 / SAMPLE_RATE_HZ)
        self._low = freqs < LOW_BAND_HZ
        self._voice = freqs < VOICE_BAND_HZ
        self._high = freqs > HIGH_BAND_HZ
        self._buffer = np.zeros(WINDOW, np.float64)
        self._fill = 0          # samples since the last feature
        self.samples_in = 0

    def push(self, block: np.ndarray) -> list[tuple[int, Features]]:
        """Feed (N,) float samples in [-1, 1] at 16 kHz; returns ``(end_sample, features)`` for every hop completed,
        ``end_sample`` counting from the stream's first sample (the feature describes the samples before it)."""
        x = np.asarray(block, np.float64).ravel()
        out = []
        pos = 0
        while pos < len(x):
            take = min(HOP - self._fill, len(x) - pos)
            chunk = x[pos:pos + take]
            self._buffer[:-take] = self._buffer[take:]
            self._buffer[-take:] = chunk
            self._fill += take
            pos += take
            self.samples_in += take
            if self._fill == HOP:
                self._fill = 0
                out.append((self.samples_in, self.features(self._buffer)))
        return out

    def features(self, window: np.ndarray) -> Features:
        """The features of one (:data:`WINDOW`,) window of raw samples."""
        power = float(np.mean(window * window))
        level = 10.0 * math.log10(power) if power > 1e-10 else SILENCE_DBFS
        emphasised = np.empty_like(window)
        emphasised[0] = window[0]
        emphasised[1:] = window[1:] - 0.97 * window[:-1]
        w = emphasised * self._window
        spectrum = np.abs(np.fft.rfft(window * self._window, 512)) ** 2
        total = float(spectrum.sum()) + 1e-20
        low_share = float(spectrum[self._low].sum()) / total
        voice_share = float(spectrum[self._voice].sum()) / total
        high_share = float(spectrum[self._high].sum()) / total
        f1 = f2 = math.nan
        if level > SILENCE_DBFS:
            f1, f2 = _formants(w, self._solve)
        return Features(level_dbfs=level, f1_hz=f1, f2_hz=f2, low_share=low_share, voice_share=voice_share,
                        high_share=high_share)


def _formants(w: np.ndarray, solve_toeplitz) -> tuple[float, float]:
    """F1 and F2 (Hz, NaN where missing) of a windowed, pre-emphasised frame by linear prediction
    (``solve_toeplitz``: scipy's Levinson solver)."""
    r = np.correlate(w, w, "full")[len(w) - 1:len(w) + LPC_ORDER]
    if not r[0] > 0:
        return math.nan, math.nan
    r = r.copy()
    r[0] *= 1.0 + 1e-4  # white-noise correction: a stable predictor for a near-periodic frame
    try:
        a = solve_toeplitz(r[:LPC_ORDER], -r[1:LPC_ORDER + 1])
    except (np.linalg.LinAlgError, ValueError):  # scipy's LinAlgError is numpy's
        return math.nan, math.nan
    roots = np.roots(np.concatenate([[1.0], a]))
    roots = roots[roots.imag > 0]
    freq = np.angle(roots) * SAMPLE_RATE_HZ / (2 * math.pi)
    bandwidth = -np.log(np.maximum(np.abs(roots), 1e-12)) * SAMPLE_RATE_HZ / math.pi
    keep = np.sort(freq[(freq > MIN_FORMANT_HZ) & (bandwidth < MAX_BANDWIDTH_HZ)])
    f1 = float(keep[0]) if len(keep) > 0 else math.nan
    f2 = float(keep[1]) if len(keep) > 1 else math.nan
    return f1, f2


def bark(f_hz):
    """Traunmüller's (1990) Bark scale: the ear's frequency resolution, in which vowel distances are compared."""
    f = np.asarray(f_hz, np.float64)
    return 26.81 * f / (1960.0 + f) - 0.53
