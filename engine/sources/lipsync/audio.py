"""Audio inputs for lip-sync: a WAV file played in real time, or a microphone (PortAudio through ``sounddevice``).

An input delivers mono float32 blocks at 16 kHz (:data:`~.features.SAMPLE_RATE_HZ`), each with the wall-clock
time its last sample arrived (``capture_wall_ns``): for a file, when real-time playback reaches it; for a
microphone, when the driver handed the block over. Blocks are :data:`BLOCK` samples (10 ms).

The microphone's callback runs on PortAudio's thread and only appends to a bounded queue
(:data:`MIC_QUEUE_BLOCKS`, 0.5 s): if the analysis falls that far behind, the oldest blocks are dropped and
counted (``overruns``), so the mouth never lags further.
"""

from __future__ import annotations

import abc
import collections
import logging
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.sources.base import SourceError
from facecast.engine.sources.lipsync.features import HOP, SAMPLE_RATE_HZ

log = logging.getLogger(__name__)

BLOCK = HOP
MIC_QUEUE_BLOCKS = 50
#: WAV files longer than this are refused (a lip-sync track, not an archive).
MAX_WAV_S = 3 * 3600


class AudioInput(abc.ABC):
    """Lifecycle: ``open()`` (raises :class:`SourceError` with what to do), ``read()`` blocks until the next
    block, ``close()`` (safe to repeat)."""

    name = "audio"

    def open(self) -> None:
        """Acquire the file or device."""

    @abc.abstractmethod
    def read(self, stop: threading.Event) -> Optional[tuple[np.ndarray, int]]:
        """The next (N,) float32 block and its ``capture_wall_ns``; None when the input is exhausted or ``stop``
        is set."""

    def close(self) -> None:
        """Release the file or device."""


def to_float(samples: np.ndarray) -> np.ndarray:
    """WAV samples as float64 in [-1, 1): integers scaled by their type's range (unsigned 8-bit centred on 128,
    24-bit as scipy reads it, left-justified in int32), floats as they are."""
    x = np.asarray(samples)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return (x.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    return x.astype(np.float64)


def to_analysis_rate(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """(N,) or (N, C) samples (int or float) at ``rate_hz`` -> (M,) float32 mono in [-1, 1] at 16 kHz."""
    from math import gcd

    from scipy.signal import resample_poly

    x = to_float(samples)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate_hz != SAMPLE_RATE_HZ:
        g = gcd(SAMPLE_RATE_HZ, int(rate_hz))
        x = resample_poly(x, SAMPLE_RATE_HZ // g, int(rate_hz) // g)
    return np.clip(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0).astype(np.float32)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A WAV file's samples and rate (PCM 8/16/24/32-bit or float; any channel count).

    Raises:
        SourceError: missing, not a WAV, empty or too long; the message names the file.
    """
    from scipy.io import wavfile

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"audio file {path} does not exist")
    try:
        rate, data = wavfile.read(path)
    except (ValueError, EOFError, OSError) as exc:
        raise SourceError(f"{path} is not a WAV file this can read ({exc}); convert it, e.g. "
                          f"'ffmpeg -i {path.name} -ac 1 -ar 16000 speech.wav'") from None
    if data.size == 0 or rate <= 0:
        raise SourceError(f"{path} holds no audio")
    if len(data) / rate > MAX_WAV_S:
        raise SourceError(f"{path} is {len(data) / rate / 3600:.1f} h long; lip-sync reads at most "
                          f"{MAX_WAV_S // 3600} h")
    return data, int(rate)


class WavAudio(AudioInput):
    """A WAV file played in real time: each block is handed over when playback reaches its last sample, and that
    time is its ``capture_wall_ns``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.name = f"wav:{self.path.name}"
        self.samples: Optional[np.ndarray] = None
        self._pos = 0
        self._t0_ns = 0

    def open(self) -> None:
        data, rate = read_wav(self.path)
        self.samples = to_analysis_rate(data, rate)
        self._pos = 0
        self._t0_ns = time.time_ns()

    def read(self, stop: threading.Event) -> Optional[tuple[np.ndarray, int]]:
        if self.samples is None:
            raise SourceError("WavAudio.read before open()")
        if self._pos >= len(self.samples):
            return None
        block = self.samples[self._pos:self._pos + BLOCK]
        self._pos += len(block)
        due_ns = self._t0_ns + self._pos * 1_000_000_000 // SAMPLE_RATE_HZ
        wait_s = (due_ns - time.time_ns()) / 1e9
        if wait_s > 0 and stop.wait(wait_s):
            return None
        return block, due_ns


def _sounddevice():
    """The ``sounddevice`` module, or a :class:`SourceError` that says what to install."""
    try:
        import sounddevice
    except ImportError:
        raise SourceError("the microphone needs the 'sounddevice' package: pip install sounddevice") from None
    except OSError as exc:  # the package is there, PortAudio is not
        raise SourceError(f"the microphone needs the PortAudio library ({exc}): on Debian/Ubuntu "
                          "'sudo apt install libportaudio2'; on Windows and macOS it comes with sounddevice") from None
    return sounddevice


def list_input_devices() -> list[dict]:
    """The machine's audio input devices: ``index``, ``name``, ``channels``, ``default_rate_hz``, ``default``."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0] if sd.default.device else -1
    except Exception as exc:  # PortAudio errors
        raise SourceError(f"cannot list audio devices: {exc}") from None
    return [{"index": i, "name": d["name"], "channels": int(d["max_input_channels"]),
             "default_rate_hz": float(d["default_samplerate"]), "default": i == default_in}
            for i, d in enumerate(devices) if d["max_input_channels"] > 0]


class StreamResampler:
    """Block-by-block resampling to 16 kHz with state across blocks (no edge clicks every 10 ms): a stateful
    low-pass (Butterworth, order 8, at 7 kHz: under the new Nyquist frequency) then linear interpolation at a
    running fractional position."""

    def __init__(self, rate_hz: int) -> None:
        from scipy.signal import butter, sosfilt_zi

        self.rate_hz = int(rate_hz)
        self._step = self.rate_hz / SAMPLE_RATE_HZ  # input samples per output sample
        self._sos = butter(8, 7000.0, fs=self.rate_hz, output="sos") if self.rate_hz > SAMPLE_RATE_HZ else None
        self._zi = sosfilt_zi(self._sos) * 0.0 if self._sos is not None else None
        self._pos = 0.0          # the next output's position, in input samples from the held sample
        self._held = np.zeros(1, np.float64)  # the last input sample of the previous block

    def __call__(self, block: np.ndarray) -> np.ndarray:
        from scipy.signal import sosfilt

        x = np.asarray(block, np.float64)
        if self._sos is not None:
            x, self._zi = sosfilt(self._sos, x, zi=self._zi)
        x = np.concatenate([self._held, x])  # x[0] is the previous block's last sample
        positions = np.arange(self._pos, len(x) - 1, self._step)
        out = np.interp(positions, np.arange(len(x)), x)
        self._pos = (positions[-1] + self._step - (len(x) - 1)) if len(positions) else self._pos - (len(x) - 1)
        self._held = x[-1:]
        return np.clip(out, -1.0, 1.0).astype(np.float32)


LIST_HINT = "list them with 'facecast calibrate lipsync --list-devices'"


class MicAudio(AudioInput):
    """A microphone. ``device``: an index or part of a name from :func:`list_input_devices`; None: the default."""

    def __init__(self, device: Optional[str] = None) -> None:
        self.device = device
        self.name = f"mic:{device}" if device else "mic"
        self.overruns = 0
        self._queue: collections.deque = collections.deque(maxlen=MIC_QUEUE_BLOCKS)
        self._ready = threading.Condition()
        self._stream = None
        self._rate_hz = SAMPLE_RATE_HZ
        self._resample: Optional[StreamResampler] = None

    def _pick(self) -> Optional[int]:
        devices = list_input_devices()
        if not devices:
            raise SourceError(f"no microphone found: connect one, or {LIST_HINT}; without a microphone, use "
                              "--lipsync wav:PATH")
        if self.device is None:
            return None
        if self.device.isdigit():
            index = int(self.device)
            if not any(d["index"] == index for d in devices):
                raise SourceError(f"audio input {index} does not exist; {LIST_HINT}")
            return index
        matches = [d for d in devices if self.device.lower() in d["name"].lower()]
        if len(matches) != 1:
            raise SourceError(f"{'no' if not matches else len(matches)} audio inputs match {self.device!r}; {LIST_HINT}")
        return matches[0]["index"]

    def open(self) -> None:
        sd = _sounddevice()
        index = self._pick()
        info = sd.query_devices(index, "input")
        try:  # 16 kHz if the device takes it, else its own rate, resampled per block
            sd.check_input_settings(device=index, samplerate=SAMPLE_RATE_HZ, channels=1)
            self._rate_hz = SAMPLE_RATE_HZ
        except Exception:
            self._rate_hz = int(info["default_samplerate"])
        self._resample = StreamResampler(self._rate_hz) if self._rate_hz != SAMPLE_RATE_HZ else None
        blocksize = max(1, self._rate_hz * BLOCK // SAMPLE_RATE_HZ)
        try:
            self._stream = sd.InputStream(device=index, channels=1, samplerate=self._rate_hz, blocksize=blocksize,
                                          dtype="float32", callback=self._callback)
            self._stream.start()
        except Exception as exc:
            raise SourceError(f"cannot open the microphone {info['name']!r}: {exc}; {LIST_HINT}") from None
        log.info("lip-sync microphone: %s at %d Hz", info["name"], self._rate_hz)

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio's thread
        block = np.array(indata[:, 0], np.float32)
        with self._ready:
            if len(self._queue) == self._queue.maxlen:
                self.overruns += 1
            self._queue.append((block, time.time_ns()))
            self._ready.notify()

    def read(self, stop: threading.Event) -> Optional[tuple[np.ndarray, int]]:
        with self._ready:
            while not self._queue:
                if stop.is_set():
                    return None
                self._ready.wait(0.1)
            block, t_ns = self._queue.popleft()
        if self._resample is not None:
            block = self._resample(block)
        return block, t_ns

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
