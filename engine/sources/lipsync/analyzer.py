"""Audio -> visemes -> ARKit mouth shapes, causal, every 10 ms.

Per hop (:meth:`LipsyncAnalyzer.push`):

1. features (:mod:`.features`): level, F1/F2, where the energy lies;
2. gain control: the voice's peak level (instant rise, falling :data:`PEAK_FALL_DB_PER_S` while quieter) and
   the room's noise floor (the quietest hop of the last :data:`NOISE_WINDOW_S`). Speech is a level above both
   (:data:`SPEECH_ABOVE_NOISE_DB` over the floor, within :data:`SPEECH_RANGE_DB` of the peak); openness is
   where the level sits between ``peak - OPEN_RANGE_DB`` and ``peak - OPEN_FULL_BELOW_PEAK_DB``, 0..1;
3. visemes: the vowels by their distance, in Bark, from the templates (:class:`~.visemes.VowelTemplates`);
   ``MBP`` when the lips shut on a voice that goes on (a nasal murmur or voice bar: nearly all the energy below
   500 Hz, and next to none between 500 Hz and 1 kHz or a level far under the peak), when the level falls far
   under the peak inside speech (a stop's closure), and when speech stops (for :data:`CLOSURE_HOLD_S`, after
   which the mouth rests); ``sil`` otherwise. A fricative (most energy above 3 kHz) opens the jaw less;
4. the mouth shapes (:data:`~.visemes.SHAPES`) mixed by the visemes, then One Euro smoothing (the tracker's
   filter, :class:`~facecast.engine.retarget.filters.OneEuroFilter`) tuned fast: a vowel reaches half its
   shape within 60 ms of its onset.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from facecast.engine.retarget.filters import OneEuroFilter
from facecast.engine.sources.lipsync.features import HOP, SAMPLE_RATE_HZ, FeatureExtractor, Features, bark
from facecast.engine.sources.lipsync.visemes import SHAPES, VISEMES, VowelTemplates, to_arkit

HOP_S = HOP / SAMPLE_RATE_HZ
PEAK_FALL_DB_PER_S = 3.0
#: The room's noise floor: the lowest hop level of the last this many seconds (minimum statistics: speech
#: pauses often enough that its quietest hop is the room).
NOISE_WINDOW_S = 1.5
#: Where the gain control starts without a calibration (a voice into a headset or desk microphone).
DEFAULT_PEAK_DBFS = -26.0
MIN_PEAK_DBFS = -60.0
SPEECH_ABOVE_NOISE_DB = 12.0
SPEECH_RANGE_DB = 30.0
OPEN_RANGE_DB = 24.0
OPEN_FULL_BELOW_PEAK_DB = 6.0
#: A murmur ("m", the voice bar of "b"): at least this share of the energy below 500 Hz, and under
#: :data:`MURMUR_MID_SHARE` between 500 Hz and 1 kHz ("u" and "o", also low, keep 5-10% there: their F2).
MURMUR_LOW_SHARE = 0.8
MURMUR_MID_SHARE = 0.04
#: ... or that low share this far under the voice's peak (a voice bar under a high voice leaks more above 500 Hz).
MURMUR_BELOW_PEAK_DB = 15.0
#: ... and no front vowel's F2: an "i" (F1 300 Hz, F2 2200 Hz) can also have 85% of its energy under 500 Hz and
#: none between 500 Hz and 1 kHz; a murmur's second resonance lies near 1 kHz (measured 1000-1200 Hz).
MURMUR_MAX_F2_HZ = 1600.0
#: Speech this far under the peak is a closure's hush, fully so :data:`CLOSURE_RAMP_DB` further down.
CLOSURE_BELOW_PEAK_DB = 20.0
CLOSURE_RAMP_DB = 8.0
#: The lips shut (``MBP``) only between vowels: within this long of the mouth last being open (openness above
#: :data:`OPEN_ENOUGH`). A room's hum or noise before anyone speaks never presses the lips.
RECENT_OPEN_S = 0.5
OPEN_ENOUGH = 0.3
#: After speech stops, the lips stay shut (a stop's closure: "p", "b") this long, then ease to rest.
CLOSURE_HOLD_S = 0.2
#: Above this share of energy over 3 kHz, a sound is a fricative ("s", "sh", "th"): the jaw opens less. (A share
#: under 1 kHz would not do: a high voice's "a" keeps 70% of its energy at F2, 1.1 kHz.)
FRICATIVE_HIGH_SHARE = 0.45
FRICATIVE_OPENNESS = 0.35
#: One Euro settings of the mouth shapes (fast onsets, little lag).
SMOOTH_MIN_CUTOFF_HZ = 4.0
SMOOTH_BETA = 2.0
SMOOTH_D_CUTOFF_HZ = 1.0


@dataclass(frozen=True, slots=True)
class LipsyncFrame:
    """The analyzer's output for one hop.

    Attributes:
        end_sample: the stream's sample count at the hop's end (16 kHz); the frame describes audio before it.
        visemes: (7,) float32 probabilities, :data:`~.visemes.VISEMES` order, summing to 1.
        mouth: (12,) float32 smoothed mouth weights in [0, 1], :data:`~.visemes.MOUTH_CHANNELS` order.
        speaking: the level counts as speech.
        level_dbfs: the hop's level.
    """

    end_sample: int
    visemes: np.ndarray
    mouth: np.ndarray
    speaking: bool
    level_dbfs: float

    @property
    def viseme(self) -> str:
        return VISEMES[int(np.argmax(self.visemes))]

    def arkit(self) -> np.ndarray:
        """(52,) float32 ARKit weights: the mouth channels set, the others 0."""
        return to_arkit(self.mouth)


class LipsyncAnalyzer:
    """Streams 16 kHz audio into :class:`LipsyncFrame` objects, one per 10 ms hop.

    Args:
        templates: the voice's vowel templates (default: published averages).
    """

    def __init__(self, templates: Optional[VowelTemplates] = None) -> None:
        self.templates = templates or VowelTemplates()
        self._bark = self.templates.bark_table()
        # F1 and F2 weigh alike relative to how far the vowels spread on each (F2 spans about 1.7 times as many
        # Bark): a sound's F1, which the jaw sets, is not outvoted by F2 (a back "a", F2 1000 Hz, is not an "o")
        spans = self._bark.max(0) - self._bark.min(0)
        self._axis = np.array([1.0, spans[0] / spans[1]])
        self._spread2 = 2.0 * self.templates.spread_bark ** 2
        self._extract = FeatureExtractor()
        self._peak = self.templates.peak_dbfs if self.templates.peak_dbfs is not None else DEFAULT_PEAK_DBFS
        self._levels: collections.deque = collections.deque(maxlen=int(round(NOISE_WINDOW_S / HOP_S)))
        self._vowels = np.full(5, 0.2)          # the last vowel probabilities (kept through formant-less hops)
        self._since_speech_s = math.inf
        self._since_open_s = math.inf
        self._smooth = OneEuroFilter(min_cutoff_hz=SMOOTH_MIN_CUTOFF_HZ, beta=SMOOTH_BETA,
                                     d_cutoff_hz=SMOOTH_D_CUTOFF_HZ)

    def push(self, block: np.ndarray) -> list[LipsyncFrame]:
        """Feed (N,) float samples in [-1, 1] at 16 kHz; returns a frame per completed hop (none, one or more)."""
        x = np.nan_to_num(np.asarray(block, np.float64).ravel(), nan=0.0, posinf=0.0, neginf=0.0)  # bad samples: silence
        return [self._frame(end, f) for end, f in self._extract.push(np.clip(x, -1.0, 1.0))]

    def _frame(self, end_sample: int, f: Features) -> LipsyncFrame:
        level = f.level_dbfs
        self._peak = max(level, self._peak - PEAK_FALL_DB_PER_S * HOP_S, MIN_PEAK_DBFS)
        self._levels.append(level)
        noise = min(self._levels)
        speaking = level > max(noise + SPEECH_ABOVE_NOISE_DB, self._peak - SPEECH_RANGE_DB)
        visemes = np.zeros(len(VISEMES))
        openness = 0.0
        between_vowels = self._since_open_s <= RECENT_OPEN_S
        if speaking:
            self._since_speech_s = 0.0
            murmur = (between_vowels and f.low_share >= MURMUR_LOW_SHARE
                      and not f.f2_hz >= MURMUR_MAX_F2_HZ  # (a NaN F2 counts as none)
                      and (f.voice_share - f.low_share < MURMUR_MID_SHARE or level < self._peak - MURMUR_BELOW_PEAK_DB))
            if murmur:
                visemes[VISEMES.index("MBP")] = 1.0
            else:
                if math.isfinite(f.f1_hz) and math.isfinite(f.f2_hz):
                    d2 = np.sum(((self._bark - bark([f.f1_hz, f.f2_hz])) * self._axis) ** 2, axis=1)
                    p = np.exp(-(d2 - d2.min()) / self._spread2)
                    self._vowels = p / p.sum()
                openness = min(max((level - (self._peak - OPEN_RANGE_DB)) / (OPEN_RANGE_DB - OPEN_FULL_BELOW_PEAK_DB),
                                   0.0), 1.0)
                if f.high_share > FRICATIVE_HIGH_SHARE:
                    openness *= FRICATIVE_OPENNESS
                visemes[1:6] = self._vowels * openness
                visemes[0] = 1.0 - openness
                # far under the voice's peak while speech goes on: the hush of a stop's closure ("p" in "papa")
                closure = min(max((self._peak - CLOSURE_BELOW_PEAK_DB - level) / CLOSURE_RAMP_DB, 0.0), 1.0)
                if closure > 0.0 and between_vowels:
                    visemes *= 1.0 - closure
                    visemes[VISEMES.index("MBP")] = closure
        else:
            self._since_speech_s += HOP_S
            closed = VISEMES.index("MBP") if self._since_speech_s <= CLOSURE_HOLD_S and between_vowels else 0
            visemes[closed] = 1.0
        self._since_open_s = 0.0 if openness > OPEN_ENOUGH else self._since_open_s + HOP_S
        mouth = visemes @ SHAPES
        t_ns = int(round(end_sample * 1e9 / SAMPLE_RATE_HZ))
        mouth = np.clip(self._smooth(mouth, t_ns), 0.0, 1.0).astype(np.float32)
        return LipsyncFrame(end_sample=end_sample, visemes=visemes.astype(np.float32), mouth=mouth,
                            speaking=speaking, level_dbfs=level)
