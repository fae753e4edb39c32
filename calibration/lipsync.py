"""``facecast calibrate lipsync``: a voice's vowel templates from a take of it saying A, I, U, E, O.

The take (a microphone recording or a WAV) holds the five vowels in that order, each held for about half a second,
with a pause between them. :func:`fit_vowels` finds the five voiced stretches (:func:`vowel_segments`: hops
within :data:`SPEECH_RANGE_DB` of the take's loudest, joined across gaps under :data:`JOIN_GAP_S`, each at least
:data:`MIN_VOWEL_S` long), takes the median F1 and F2 over the middle of each (the onset and the release glide),
and the take's speech level for the analyzer's gain control. :func:`draw_vowel_chart` draws them against the
defaults: F2 across, F1 down, as phoneticians draw the vowel space.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.sources.lipsync.features import HOP, SAMPLE_RATE_HZ, FeatureExtractor
from facecast.engine.sources.lipsync.visemes import DEFAULT_VOWELS_HZ, VOWELS, VowelTemplates

SPEECH_RANGE_DB = 25.0
JOIN_GAP_S = 0.08
MIN_VOWEL_S = 0.15
#: The share of each vowel kept for its formants: its middle, without onset and release.
MIDDLE = (0.2, 0.8)
HOP_S = HOP / SAMPLE_RATE_HZ


class LipsyncCalibrationError(ValueError):
    """The take cannot be read as the five vowels; the message says what to do."""


def vowel_segments(levels_dbfs: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) hop indices of the voiced stretches in a take's per-hop levels."""
    peak = float(np.percentile(levels_dbfs, 99))
    loud = levels_dbfs > peak - SPEECH_RANGE_DB
    runs: list[list[int]] = []
    for i in np.flatnonzero(loud):
        if runs and i - runs[-1][1] <= int(round(JOIN_GAP_S / HOP_S)):
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return [(a, b) for a, b in runs if (b - a) * HOP_S >= MIN_VOWEL_S]


def fit_vowels(samples_16k: np.ndarray) -> VowelTemplates:
    """The vowel templates of a 16 kHz mono take of A, I, U, E, O.

    Raises:
        LipsyncCalibrationError: not five vowels, or one without formants.
    """
    feats = [f for _, f in FeatureExtractor().push(samples_16k)]
    if not feats:
        raise LipsyncCalibrationError("the take is shorter than 10 ms")
    levels = np.array([f.level_dbfs for f in feats])
    segments = vowel_segments(levels)
    if len(segments) != len(VOWELS):
        raise LipsyncCalibrationError(
            f"heard {len(segments)} vowel(s), not 5: say A, I, U, E, O, each held for about half a second, with a "
            "short pause between them (a quiet room helps)")
    vowels = {}
    for v, (a, b) in zip(VOWELS, segments):
        lo, hi = a + int((b - a) * MIDDLE[0]), a + max(1, int(math.ceil((b - a) * MIDDLE[1])))
        f1 = np.array([f.f1_hz for f in feats[lo:hi]])
        f2 = np.array([f.f2_hz for f in feats[lo:hi]])
        ok = np.isfinite(f1) & np.isfinite(f2)
        if ok.sum() < 3:
            raise LipsyncCalibrationError(f"no clear vowel in the {v} at {a * HOP_S:.2f} s; record it again")
        vowels[v] = (float(np.median(f1[ok])), float(np.median(f2[ok])))
    speech = np.concatenate([levels[a:b] for a, b in segments])
    try:
        return VowelTemplates(vowels_hz=vowels, peak_dbfs=float(np.percentile(speech, 95)))
    except ValueError as exc:
        raise LipsyncCalibrationError(f"the vowels do not look like A, I, U, E, O ({exc}); record them again") from None


def draw_vowel_chart(templates: VowelTemplates, out: Path, *, size_px: int = 480) -> Path:
    """A PNG of the voice's vowels (filled) against the defaults (hollow): F2 (Hz, log) right to left, F1 (Hz,
    log) top to bottom."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size_px, size_px), "white")
    d = ImageDraw.Draw(img)
    margin = 48
    f1_range, f2_range = (200.0, 1100.0), (600.0, 3200.0)

    def xy(f1: float, f2: float) -> tuple[float, float]:
        u = (math.log(f2_range[1]) - math.log(f2)) / (math.log(f2_range[1]) - math.log(f2_range[0]))
        w = (math.log(f1) - math.log(f1_range[0])) / (math.log(f1_range[1]) - math.log(f1_range[0]))
        return margin + u * (size_px - 2 * margin), margin + w * (size_px - 2 * margin)

    d.rectangle([margin, margin, size_px - margin, size_px - margin], outline=(160, 160, 160))
    for f2 in (800, 1000, 1500, 2000, 3000):
        x, _ = xy(f1_range[0], f2)
        d.line([x, size_px - margin, x, size_px - margin + 5], fill="black")
        d.text((x - 12, size_px - margin + 8), f"{f2}", fill="black")
    for f1 in (300, 500, 700, 1000):
        _, y = xy(f1, f2_range[1])
        d.line([margin - 5, y, margin, y], fill="black")
        d.text((4, y - 6), f"{f1}", fill="black")
    d.text((size_px // 2 - 60, size_px - 18), "F2 (Hz), front <- -> back", fill="black")
    d.text((4, 8), "F1 (Hz, down = open). filled: this voice; hollow: defaults", fill="black")
    for v in VOWELS:
        x, y = xy(*DEFAULT_VOWELS_HZ[v])
        d.ellipse([x - 7, y - 7, x + 7, y + 7], outline=(120, 120, 200), width=2)
        x, y = xy(*templates.vowels_hz[v])
        d.ellipse([x - 7, y - 7, x + 7, y + 7], fill=(200, 60, 40))
        d.text((x + 10, y - 6), v, fill="black")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out


def record_take(audio, seconds: float, *, progress: Optional[callable] = None) -> np.ndarray:
    """``seconds`` of 16 kHz audio from an opened :class:`~facecast.engine.sources.lipsync.AudioInput`."""
    import threading

    stop = threading.Event()
    blocks, n, want = [], 0, int(seconds * SAMPLE_RATE_HZ)
    while n < want:
        got = audio.read(stop)
        if got is None:
            break
        blocks.append(got[0])
        n += len(got[0])
        if progress is not None:
            progress(min(n, want))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
