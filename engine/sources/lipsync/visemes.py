"""Visemes, their ARKit mouth shapes, and the vowel templates the analyzer compares speech with.

Seven visemes, the set VTuber tools drive from a microphone (uLipSync's AIUEO plus silence, and the closed-lip
consonants): ``sil``, ``A``, ``I``, ``U``, ``E``, ``O``, ``MBP``. Each has a mouth shape in ARKit weights
(:data:`SHAPES`, at full loudness); the analyzer mixes them by the viseme probabilities.

Vowel templates are (F1, F2) pairs in Hz. The defaults are the means of men's and women's averages measured by
Hillenbrand, Getty, Clark and Wheeler (1995, JASA 97: "Acoustic characteristics of American English vowels")
for the vowels of "hod", "heed", "who'd", "hayed" and "hoed". ``facecast calibrate lipsync`` replaces them with
the user's own (they are stored in the calibration profile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from facecast.engine.sources.lipsync.features import bark
from facecast.engine.types import NUM_ARKIT, arkit_index

VISEMES = ("sil", "A", "I", "U", "E", "O", "MBP")
VOWELS = ("A", "I", "U", "E", "O")

#: The ARKit channels lip-sync drives (the issue's list); the others pass through from the tracker.
MOUTH_CHANNELS = ("jawOpen", "mouthFunnel", "mouthPucker", "mouthClose", "mouthStretchLeft", "mouthStretchRight",
                  "mouthSmileLeft", "mouthSmileRight", "mouthRollLower", "mouthRollUpper", "mouthPressLeft",
                  "mouthPressRight")
MOUTH_INDEX = np.array([arkit_index(n) for n in MOUTH_CHANNELS], np.int64)


def _shape(**weights: float) -> np.ndarray:
    out = np.zeros(len(MOUTH_CHANNELS), np.float32)
    for name, w in weights.items():
        if name in ("mouthStretch", "mouthSmile", "mouthPress"):
            out[MOUTH_CHANNELS.index(name + "Left")] = out[MOUTH_CHANNELS.index(name + "Right")] = w
        else:
            out[MOUTH_CHANNELS.index(name)] = w
    return out


#: (7, 12) float32: each viseme's mouth shape, :data:`MOUTH_CHANNELS` order, at full loudness.
SHAPES = np.stack([
    _shape(),                                                          # sil
    _shape(jawOpen=0.75, mouthStretch=0.05),                           # A
    _shape(jawOpen=0.18, mouthStretch=0.45, mouthSmile=0.30),          # I
    _shape(jawOpen=0.15, mouthFunnel=0.30, mouthPucker=0.70),          # U
    _shape(jawOpen=0.40, mouthStretch=0.30, mouthSmile=0.15),          # E
    _shape(jawOpen=0.45, mouthFunnel=0.65, mouthPucker=0.30),          # O
    # MBP: lips shut and pressed; the jaw a little open with mouthClose holding the lips together, as ARKit
    # reads an "m"
    _shape(jawOpen=0.08, mouthClose=0.08, mouthPress=0.45, mouthRollLower=0.25, mouthRollUpper=0.15),
])

#: Default (F1, F2) Hz per vowel: Hillenbrand et al. (1995), mean of men's and women's averages.
DEFAULT_VOWELS_HZ: Mapping[str, tuple[float, float]] = {
    "A": (852.0, 1442.0), "I": (390.0, 2542.0), "U": (418.0, 1051.0), "E": (506.0, 2310.0), "O": (526.0, 972.0)}
#: Spread of a vowel around its template, Bark: how far a sound may be from a template and still count for it.
DEFAULT_SPREAD_BARK = 1.0


@dataclass(frozen=True, kw_only=True)
class VowelTemplates:
    """Where each vowel lies for one voice.

    Attributes:
        vowels_hz: (F1, F2) in Hz per vowel of :data:`VOWELS`.
        spread_bark: the Gaussian spread around each template, Bark (> 0).
        peak_dbfs: the voice's loudest speech level, dBFS, when calibrated (the analyzer's gain control
            starts there); None: it learns it from the speech.
    """

    vowels_hz: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_VOWELS_HZ))
    spread_bark: float = DEFAULT_SPREAD_BARK
    peak_dbfs: float | None = None

    def __post_init__(self) -> None:
        missing = set(VOWELS) - set(self.vowels_hz)
        if missing:
            raise ValueError(f"vowel templates lack {sorted(missing)}")
        for v, (f1, f2) in self.vowels_hz.items():
            if not (100.0 <= f1 < f2 <= 5000.0 and math.isfinite(f1) and math.isfinite(f2)):
                raise ValueError(f"vowel {v}: F1 {f1} and F2 {f2} Hz must satisfy 100 <= F1 < F2 <= 5000")
        if not self.spread_bark > 0:
            raise ValueError("spread_bark must be > 0")

    def bark_table(self) -> np.ndarray:
        """(5, 2) float64: the templates in Bark, :data:`VOWELS` order."""
        return np.array([bark(self.vowels_hz[v]) for v in VOWELS], np.float64)

    def to_dict(self) -> dict:
        d = {"vowels_hz": {v: [round(float(f), 1) for f in self.vowels_hz[v]] for v in VOWELS},
             "spread_bark": float(self.spread_bark)}
        if self.peak_dbfs is not None:
            d["peak_dbfs"] = round(float(self.peak_dbfs), 2)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "VowelTemplates":
        unknown = set(d) - {"vowels_hz", "spread_bark", "peak_dbfs"}
        if unknown:
            raise ValueError(f"lipsync: unknown keys {sorted(unknown)}")
        vowels = {}
        for k, v in dict(d.get("vowels_hz", DEFAULT_VOWELS_HZ)).items():
            if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(f, (int, float)) for f in v)):
                raise ValueError(f"lipsync: vowel {k} must be [F1, F2] in Hz, not {v!r}")
            vowels[str(k)] = (float(v[0]), float(v[1]))
        peak, spread = d.get("peak_dbfs"), d.get("spread_bark", DEFAULT_SPREAD_BARK)
        if not isinstance(spread, (int, float)) or not (peak is None or isinstance(peak, (int, float))):
            raise ValueError("lipsync: spread_bark and peak_dbfs must be numbers")
        return cls(vowels_hz=vowels, spread_bark=float(spread), peak_dbfs=None if peak is None else float(peak))


def to_arkit(mouth: np.ndarray) -> np.ndarray:
    """(12,) mouth weights -> (52,) float32 ARKit weights (zero elsewhere)."""
    out = np.zeros(NUM_ARKIT, np.float32)
    out[MOUTH_INDEX] = mouth
    return out
