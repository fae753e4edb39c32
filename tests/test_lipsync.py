"""Lip-sync against speech that no one here wrote: Debian's espeak-ng synthesises held vowels, "mama papa baba"
and a sentence in several voices (male and female; English and German, whose long "u" is the back, rounded one),
and the analyzer, the live loop (a real ZeroMQ subscriber), the offline render (a real MP4) and the calibration
read them. Also the mouth mixer's rules, the microphone input with PortAudio's callback driven in-process, and bad
input."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import types
import wave
from pathlib import Path

import numpy as np
import pytest
import zmq

from conftest import free_port
from facecast.bridge.protocol import decode
from facecast.calibration.lipsync import LipsyncCalibrationError, fit_vowels
from facecast.engine.sources.base import SourceError
from facecast.engine.sources.lipsync import LipsyncAnalyzer, MouthMixer, VowelTemplates, open_audio
from facecast.engine.sources.lipsync.audio import MicAudio, StreamResampler, to_analysis_rate
from facecast.engine.sources.lipsync.features import SAMPLE_RATE_HZ
from facecast.engine.sources.lipsync.visemes import MOUTH_CHANNELS
from facecast.engine.types import arkit_index

FACECAST = [sys.executable, "-m", "facecast.engine.cli"]
HOP_S = 0.01
#: The voices each check runs on (two sexes, two languages), and the phoneme each vowel is spoken as. English
#: espeak's "u:" is the fronted British one (F2 1600 Hz), so "u" is checked on the German voices only.
VOICES = {"en": "en", "en+f3": "en", "de": "de", "de+f2": "de",
          # added after trying voices the analysis was not tuned on: a low voice whose "a" is the back British one
          # (F2 1000 Hz, read as "o" before F1 and F2 were weighed by their spread), and a high voice whose "a"
          # keeps 70% of its energy above 1 kHz (read as a fricative before "s" was told by its energy over 3 kHz)
          "en+m3": "en", "de+f4": "de"}
PHONEMES = {"en": {"a": "A:", "e": "e:", "i": "i:", "o": "o:"},
            "de": {"a": "a:", "e": "e:", "i": "i:", "o": "o:", "u": "u:"}}
SILENCE_S = 0.4
#: What each vowel must raise most: its shape's leading channels.
JAW = [arkit_index("jawOpen")]
ROUND = [arkit_index("mouthFunnel"), arkit_index("mouthPucker")]
SPREAD = [arkit_index("mouthStretchLeft"), arkit_index("mouthSmileLeft")]
LEADS = {"a": JAW, "e": SPREAD, "i": SPREAD, "o": ROUND, "u": ROUND}
PRESS = arkit_index("mouthPressLeft")


def ch(name: str) -> int:
    return MOUTH_CHANNELS.index(name)


def espeak(text: str, voice: str, path: Path, *, speed: int = 90) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: 'make sysdeps' installs it (Debian package espeak-ng)")
    subprocess.run(["espeak-ng", "-s", str(speed), "-v", voice, "-w", str(path), text], check=True,
                   capture_output=True)
    return path


def read(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16), w.getframerate()


def write(path: Path, x: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(x, np.int16).tobytes())
    return path


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Per voice: the held vowels one after another with silences (and where each starts, s), "mama papa baba",
    a sentence, and a sentence full of sibilants; all as WAV files at espeak's own 22.05 kHz."""
    root = tmp_path_factory.mktemp("speech")
    out = {}
    for voice, lang in VOICES.items():
        parts, starts, rate = [], {}, 22050
        t = SILENCE_S
        for v, ph in PHONEMES[lang].items():
            x, rate = read(espeak(f"[[{ph}]]", voice, root / f"{voice}_{v}.wav"))
            parts += [np.zeros(int(SILENCE_S * rate), np.int16), x]
            starts[v] = (t, t + len(x) / rate)
            t += len(x) / rate + SILENCE_S
        parts.append(np.zeros(int(SILENCE_S * rate), np.int16))
        out[voice] = {
            "vowels": write(root / f"{voice}_vowels.wav", np.concatenate(parts), rate), "spans": starts,
            "mama": espeak("mama papa baba", voice, root / f"{voice}_mama.wav"),
            "sentence": espeak("The quick brown fox jumps over the lazy dog.", voice, root / f"{voice}_sent.wav",
                               speed=160),
            "sibilants": espeak("Sister Susie's sewing shirts for soldiers", voice, root / f"{voice}_sibilants.wav",
                                speed=150),
        }
    return out


def analyse(path: Path, templates=None):
    data, rate = read(path)
    frames = LipsyncAnalyzer(templates).push(to_analysis_rate(data, rate))
    t = np.array([f.end_sample for f in frames]) / SAMPLE_RATE_HZ
    arkit = np.stack([f.arkit() for f in frames])
    return t, arkit, frames, (data.astype(np.float64) / 32768, rate)


def onset_s(x: np.ndarray, rate: int, lo_s: float, hi_s: float) -> float:
    """Where a vowel's sound starts: its 10 ms RMS first reaches a tenth of its largest (-20 dB)."""
    seg = x[int(lo_s * rate):int(hi_s * rate)]
    n = int(0.01 * rate)
    env = np.sqrt(np.convolve(seg ** 2, np.ones(n) / n, "same"))
    return lo_s + int(np.argmax(env >= 0.1 * env.max())) / rate


@pytest.mark.parametrize("voice", list(VOICES))
def test_held_vowels_shape_the_mouth(speech, voice):
    """Silence shuts the mouth; "a" opens the jaw most; "o"/"u" round the lips more than "a"; "e"/"i" spread
    them more than "o"; each vowel's own shape reaches half its peak within 60 ms of the sound's onset."""
    t, w, _, (x, rate) = analyse(speech[voice]["vowels"])
    spans = speech[voice]["spans"]
    peak = {v: w[(t >= a) & (t <= b + 0.05)].max(0) for v, (a, b) in spans.items()}
    silent = np.ones(len(t), bool)
    for a, b in spans.values():
        silent &= ~((t > a - 0.02) & (t < b + 0.3))  # the vowel and the lips' closing after it
    assert silent.sum() > 20 and w[silent, JAW[0]].max() < 0.1
    assert peak["a"][JAW].sum() > max(peak["e"][JAW].sum(), peak["o"][JAW].sum()) + 0.15
    for rounded in ("o", "u"):
        if rounded in peak:
            assert peak[rounded][ROUND].sum() > peak["a"][ROUND].sum() + 0.3, rounded
    for spread in ("e", "i"):
        assert peak[spread][SPREAD].sum() > peak["o"][SPREAD].sum() + 0.3, spread
    for v, (a, b) in spans.items():
        start = onset_s(x, rate, a - 0.05, b)
        lead = w[:, LEADS[v]].sum(1)
        inside = (t >= a - 0.05) & (t <= b)
        half = t[inside][np.argmax(lead[inside] >= 0.5 * lead[inside].max())]
        assert half - start <= 0.060, f"{v}: half its peak {1000 * (half - start):.0f} ms after the onset"


@pytest.mark.parametrize("voice", list(VOICES))
def test_sibilants_barely_open_the_jaw(speech, voice):
    """In "Sister Susie's sewing shirts for soldiers", the 10 ms frames the test's own spectrum calls sibilant
    (over 60% of the energy above 4 kHz, within 30 dB of the loudest frame) open the jaw less than 0.6 times as
    much as the loud vowel frames (under 10% above 4 kHz, within 10 dB): the teeth come together for "s" and
    "sh". (Without the analyzer's fricative rule the ratio is 0.6-1.06; with it 0.30-0.52.)"""
    t, w, _, (x, rate) = analyse(speech[voice]["sibilants"])
    n, hop = int(0.02 * rate), int(0.01 * rate)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    frames = []
    for i in range(0, len(x) - n, hop):
        power = np.abs(np.fft.rfft(x[i:i + n] * np.hanning(n))) ** 2
        frames.append(((i + n) / rate, 10 * np.log10(power.sum() + 1e-12),
                       power[freqs > 4000].sum() / (power.sum() + 1e-12)))
    loudest = max(level for _, level, _ in frames)
    jaw = w[:, JAW[0]]

    def jaw_at(when: float) -> float:
        return float(jaw[min(np.searchsorted(t, when), len(jaw) - 1)])

    sibilant = [jaw_at(when) for when, level, high in frames if high > 0.6 and level > loudest - 30]
    vowel = [jaw_at(when) for when, level, high in frames if high < 0.1 and level > loudest - 10]
    assert len(sibilant) > 20 and len(vowel) > 40
    assert np.mean(sibilant) < 0.6 * np.mean(vowel), (np.mean(sibilant), np.mean(vowel))


def vowel_runs(x: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """The loud stretches (the vowels) of a 10 ms RMS envelope: within 12 dB of the loudest."""
    n = int(0.01 * rate)
    rms = np.sqrt(np.mean(x[:len(x) // n * n].reshape(-1, n) ** 2, axis=1)) + 1e-9
    loud = 20 * np.log10(rms) > 20 * np.log10(rms.max()) - 12
    runs, start = [], None
    for i, on in enumerate(np.append(loud, False)):
        if on and start is None:
            start = i
        elif not on and start is not None:
            if runs and start * 0.01 - runs[-1][1] < 0.04:  # a dip inside a vowel, not a consonant
                runs[-1] = (runs[-1][0], i * 0.01)
            elif i - start >= 4:
                runs.append((start * 0.01, i * 0.01))
            start = None
    return runs


@pytest.mark.parametrize("voice", ["en", "en+f3"])
def test_m_b_p_close_the_lips_between_vowels(speech, voice):
    """In "mama papa baba", between each two vowels (every gap holds an m, p or b; espeak ends "baba" with a
    schwa, a seventh vowel) the jaw shuts (under a third of the vowels' opening, and under 0.2) and the lips
    press (a closure, not only a quieter vowel)."""
    t, w, _, (x, rate) = analyse(speech[voice]["mama"])
    runs = vowel_runs(x, rate)
    assert len(runs) in (6, 7), runs
    for (a0, b0), (a1, b1) in zip(runs, runs[1:]):
        gap = (t > b0) & (t < a1 + 0.03)
        around = min(w[(t >= a0) & (t <= b0 + 0.03), JAW[0]].max(), w[(t >= a1) & (t <= b1 + 0.03), JAW[0]].max())
        jaw = w[gap, JAW[0]].min()
        assert jaw < min(0.2, around / 3), (b0, a1, jaw, around)
        assert w[gap, PRESS].max() > 0.1, (b0, a1)


def test_a_sentence_moves_the_mouth_and_the_analysis_is_causal(speech):
    """A sentence opens and shuts the mouth many times, all weights stay in [0, 1], it ends shut; and the
    frames computed from the first half of the audio are the same as those from all of it (no look-ahead)."""
    t, w, frames, (x, rate) = analyse(speech["en"]["sentence"])
    jaw = w[:, JAW[0]]
    assert np.all((w >= 0) & (w <= 1))
    assert jaw.max() > 0.4 and jaw[-10:].max() < 0.1
    openings = np.sum((jaw[1:] >= 0.25) & (jaw[:-1] < 0.25))
    assert openings >= 5, openings
    assert len({f.viseme for f in frames}) >= 5
    data, rate = read(speech["en"]["sentence"])
    x16 = to_analysis_rate(data, rate)
    half = LipsyncAnalyzer().push(x16[:len(x16) // 2])
    assert len(half) > 50
    assert all(np.array_equal(a.mouth, b.mouth) and np.array_equal(a.visemes, b.visemes)
               for a, b in zip(half, frames))


def test_calibration_finds_the_voice_and_uses_it(speech, tmp_path):
    """'calibrate lipsync' on a take of A, I, U, E, O: the templates sit near the voice's own formants (the
    analyzer's output for its held vowels then classifies each as itself), the profile keeps them, and a take
    with a vowel missing is refused with what to do."""
    rate = 22050
    parts = []
    for v in ("a", "i", "u", "e", "o"):
        x, rate = read(espeak(f"[[{PHONEMES['de'][v]}]]", "de+f2", tmp_path / f"{v}.wav"))
        parts += [np.zeros(int(0.3 * rate), np.int16), x]
    take = write(tmp_path / "take.wav", np.concatenate(parts + [np.zeros(int(0.3 * rate), np.int16)]), rate)
    env = {"FACECAST_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run(FACECAST + ["calibrate", "lipsync", "--profile", "me", "--wav", str(take), "--plot",
                                      str(tmp_path / "chart.png")], capture_output=True, text=True,
                          env={**__import__("os").environ, **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "chart.png").stat().st_size > 1000
    from facecast.engine.retarget.profile import Profile
    profile = Profile.from_toml((tmp_path / "config" / "profiles" / "me.toml").read_text())
    templates = VowelTemplates.from_dict(profile.lipsync)
    f1_a, f2_i = templates.vowels_hz["A"][0], templates.vowels_hz["I"][1]
    assert f1_a > 700 and f2_i > 2000 and templates.vowels_hz["U"][1] < 1200
    t, w, frames, _ = analyse(speech["de+f2"]["vowels"], templates)
    for v, (a, b) in speech["de+f2"]["spans"].items():
        mid = ["AIUEO"[int(np.argmax(f.visemes[1:6]))] for f, tt in zip(frames, t)
               if a + 0.1 < tt < b and f.visemes[1:6].sum() > 0.3]  # (the span ends with espeak's silence)
        assert max(set(mid), key=mid.count) == v.upper(), (v, mid)
    data, rate = read(take)
    with pytest.raises(LipsyncCalibrationError, match="heard 4 vowel"):
        fit_vowels(to_analysis_rate(data[: int(len(data) * 0.78)], rate))


def test_mixer_rules():
    """auto: the tracker's mouth while it sees a face and moves; the audio's, eased over 150 ms, when the face is
    lost or the tracker's mouth stays still through speech; replace, add and off as named."""
    from facecast.engine.sources.lipsync.analyzer import LipsyncFrame

    mouth = np.zeros(len(MOUTH_CHANNELS), np.float32)
    mouth[ch("jawOpen")] = 0.8
    speaking = LipsyncFrame(end_sample=0, visemes=np.zeros(7, np.float32), mouth=mouth, speaking=True, level_dbfs=-20)
    tracker = np.zeros(52, np.float32)
    tracker[arkit_index("jawOpen")] = 0.1
    tracker[arkit_index("browInnerUp")] = 0.6
    jaw = arkit_index("jawOpen")
    ms = 1_000_000
    m = MouthMixer("auto")
    for i in range(30):  # a tracker whose mouth moves: the tracker's
        moving = tracker.copy()
        moving[jaw] = 0.1 + 0.2 * (i % 2)
        w, who = m.mix(moving, 0.0, speaking, i * 10 * ms)
    assert who == "tracker" and w[jaw] == pytest.approx(moving[jaw])
    shares = []
    for i in range(30, 60):  # the face is lost: eases to the audio in 150 ms
        w, who = m.mix(None, 1.0, speaking, i * 10 * ms)
        shares.append(m.audio_share())
    assert shares[6] == pytest.approx(0.5, abs=0.1) and shares[15] == 1.0 and who == "audio"
    assert w[jaw] == pytest.approx(0.8) and w[arkit_index("browInnerUp")] == 0
    for i in range(60, 120):  # the face is back and its mouth moves: eases back
        moving = tracker.copy()
        moving[jaw] = 0.1 + 0.2 * (i % 2)
        w, who = m.mix(moving, 0.0, speaking, i * 10 * ms)
    assert who == "tracker" and w[arkit_index("browInnerUp")] == pytest.approx(0.6)
    for i in range(120, 200):  # a face, but its mouth is still while the audio hears speech (a hand over it)
        w, who = m.mix(tracker, 0.0, speaking, i * 10 * ms)
    assert who == "audio" and w[jaw] == pytest.approx(0.8) and w[arkit_index("browInnerUp")] == pytest.approx(0.6)
    w, who = MouthMixer("replace").mix(tracker, 0.0, speaking, 0)
    assert who == "audio" and w[jaw] == pytest.approx(0.8)
    w, who = MouthMixer("add").mix(tracker, 0.0, speaking, 0)
    assert who == "mixed" and w[jaw] == pytest.approx(0.9)
    w, who = MouthMixer("off").mix(tracker, 0.0, speaking, 0)
    assert who == "tracker" and w[jaw] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="choose one of"):
        MouthMixer("loud")


def test_live_loop_publishes_the_audio_mouth_to_a_zeromq_subscriber(speech, tmp_path):
    """'facecast run --source none --lipsync wav:...' plays "mama papa baba" in real time; a real SUB socket
    receives parameter messages whose header says the mouth came from the audio, whose jaw opens and shuts, and
    whose latency (capture = the audio hop's arrival) is small."""
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"facecast.params")
    sub.setsockopt(zmq.RCVTIMEO, 200)
    sub.connect(endpoint)
    proc = subprocess.Popen(FACECAST + ["run", "--source", "none", "--lipsync", f"wav:{speech['en']['mama']}",
                                        "--renderer", "none", "--publish", endpoint],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    got = []
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                got.append(decode(sub.recv_multipart()))
            except zmq.Again:
                continue
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate(timeout=10)[0]
        sub.close(0)
    assert proc.returncode == 0, out
    assert len(got) > 60, out
    jaw = np.array([m.arkit[arkit_index("jawOpen")] for m in got])
    assert {m.mouth for m in got} == {"audio"}
    assert jaw.max() > 0.3 and np.sum((jaw[1:] >= 0.2) & (jaw[:-1] < 0.2)) >= 4
    latency_ms = np.array([(m.t_send_ns - m.t_capture_ns) / 1e6 for m in got])
    assert np.median(latency_ms) < 20, np.median(latency_ms)


def test_offline_render_muxes_the_audio(speech, tmp_path):
    """'facecast render SCRIPT --audio' makes an MP4 whose AAC stream lasts as long as the WAV (within one
    frame), whose video covers it, and whose mouth follows the speech (the frames differ around the mouth)."""
    import av  # part of the test environment: a missing PyAV fails here, it is not skipped
    script = tmp_path / "script.yaml"
    script.write_text("fps: 20\nkeyframes:\n  - {t: 0, preset: neutral}\n  - {t: 0.5, preset: neutral}\n")
    wav = speech["en"]["sentence"]
    out = tmp_path / "talk.mp4"
    done = subprocess.run(FACECAST + ["render", str(script), "--audio", str(wav), "--out", str(out), "--size",
                                      "96x96", "--keep-frames"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data, rate = read(wav)
    wav_s = len(data) / rate
    with av.open(str(out)) as c:
        audio = c.streams.audio[0]
        video = c.streams.video[0]
        audio_s = float(audio.duration * audio.time_base)
        frames = video.frames
        assert audio.codec_context.name == "aac"
    assert abs(audio_s - wav_s) <= 1 / 20, (audio_s, wav_s)
    assert frames == int(np.ceil(wav_s * 20 - 1e-9))
    from PIL import Image
    folder = out.with_name("." + out.name + ".facecast-frames")
    pngs = sorted(folder.glob("frame_*.png"))
    mouths = np.stack([np.asarray(Image.open(p).convert("L"), np.float32)[55:80, 30:66] for p in pngs])
    assert mouths.std(0).mean() > 2.0  # the mouth region changes with the speech


def test_microphone_input_with_portaudio_driven_in_process(monkeypatch):
    """MicAudio over a stand-in ``sounddevice`` whose stream calls the callback as PortAudio would (48 kHz, 10 ms
    blocks, on its own thread): blocks come out at 16 kHz in order; when nobody reads, the queue stays bounded
    and counts overruns; no input device is an error that says how to list devices."""
    devices = [{"name": "Test Mic", "max_input_channels": 1, "default_samplerate": 48000.0}]

    class Stream:
        def __init__(self, *, device, channels, samplerate, blocksize, dtype, callback):
            self.callback, self.blocksize, self.rate = callback, blocksize, samplerate
            self.t = 0

        def start(self):
            pass

        def feed(self, blocks):
            for _ in range(blocks):
                n = np.arange(self.t, self.t + self.blocksize)
                self.callback((0.5 * np.sin(2 * np.pi * 440 * n / self.rate)).astype(np.float32)[:, None],
                              self.blocksize, None, None)
                self.t += self.blocksize

        def stop(self):
            pass

        def close(self):
            pass

    streams = []
    fake = types.SimpleNamespace(
        query_devices=lambda *a: devices if not a else devices[0] if a[0] in (None, 0) else devices[a[0]],
        default=types.SimpleNamespace(device=[0, 0]),
        check_input_settings=lambda **kw: (_ for _ in ()).throw(ValueError("48 kHz only")),
        InputStream=lambda **kw: streams.append(Stream(**kw)) or streams[-1])
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    mic = open_audio("mic:test")
    assert isinstance(mic, MicAudio)
    mic.open()
    streams[0].feed(10)
    stop = threading.Event()
    out = [mic.read(stop) for _ in range(10)]
    assert all(len(b) in (159, 160, 161) for b, _ in out)
    assert sum(len(b) for b, _ in out) == pytest.approx(1600, abs=2)
    streams[0].feed(80)  # 0.8 s while nobody reads: at most 0.5 s is kept
    assert mic.overruns == 30
    mic.close()
    devices.clear()
    with pytest.raises(SourceError, match="--list-devices"):
        MicAudio().open()


def test_bad_audio_input_is_refused_clearly(tmp_path):
    """A missing file, a file that is not a WAV, an empty WAV and a bad spec each get an error naming the
    problem; NaN and out-of-range samples are analysed as silence and clipped, never as NaN weights."""
    for path, match in ((tmp_path / "none.wav", "does not exist"),):
        with pytest.raises(SourceError, match=match):
            open_audio(f"wav:{path}").open()
    (tmp_path / "junk.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(SourceError, match="is not a WAV"):
        open_audio(f"wav:{tmp_path / 'junk.wav'}").open()
    write(tmp_path / "empty.wav", np.zeros(0, np.int16), 16000)
    with pytest.raises(SourceError, match="holds no audio"):
        open_audio(f"wav:{tmp_path / 'empty.wav'}").open()
    with pytest.raises(SourceError, match="mic"):
        open_audio("speaker:1")
    bad = np.full(1600, np.nan, np.float32)
    bad[::7] = np.inf
    frames = LipsyncAnalyzer().push(bad)
    assert len(frames) == 10 and all(np.all(np.isfinite(f.mouth)) for f in frames)
    assert max(f.mouth[ch("jawOpen")] for f in frames) == 0.0
    result = subprocess.run(FACECAST + ["run", "--source", "none", "--renderer", "none", "--duration", "1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--source none" in result.stderr and "--lipsync" in result.stderr


def test_resampler_keeps_a_tone_across_blocks():
    """A 440 Hz tone at 48 and 44.1 kHz fed in 10 ms blocks comes out at 16 kHz as the same tone (no clicks
    at block edges): its spectrum peaks at 440 Hz and the rest stays 40 dB below."""
    for rate in (48000, 44100):
        n = np.arange(rate)
        x = 0.5 * np.sin(2 * np.pi * 440 * n / rate)
        r = StreamResampler(rate)
        y = np.concatenate([r(x[i:i + rate // 100]) for i in range(0, rate, rate // 100)])
        assert abs(len(y) - SAMPLE_RATE_HZ) <= 2
        spec = np.abs(np.fft.rfft(y[1600:1600 + 8000] * np.hanning(8000)))
        f = np.fft.rfftfreq(8000, 1 / SAMPLE_RATE_HZ)
        assert abs(f[np.argmax(spec)] - 440) < 4
        assert spec[np.abs(f - 440) > 40].max() < spec.max() * 0.01


def test_the_studio_keeps_lipsync_when_the_page_switches_source(speech, tmp_path):
    """'facecast studio --lipsync wav:... --lipsync-mix replace': the published parameters say the mouth came
    from the audio, and still do after the page switches the source (each new source is wrapped again)."""
    import re

    from studio_helpers import studio_process

    data, rate = read(speech["en"]["sentence"])
    long_wav = write(tmp_path / "long.wav", np.concatenate([data] * 4), rate)
    with studio_process("--source", "demo", "--lipsync", f"wav:{long_wav}", "--lipsync-mix", "replace",
                        "--renderer", "testpattern", "--size", "64x64", "--fps", "30") as studio:
        endpoint = re.search(r"-> (tcp://\S+)$", next(l for l in studio.lines if l.startswith("facecast studio:")))
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"facecast.params")
        sub.setsockopt(zmq.RCVTIMEO, 200)
        sub.connect(endpoint.group(1))

        def mouths(seconds: float) -> list[str]:
            seen, end = [], time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    seen.append(decode(sub.recv_multipart()).mouth)
                except zmq.Again:
                    pass
            return seen

        try:
            before = mouths(1.5)
            code, body = studio.api("api/source", {"spec": "demo"})
            assert code == 200, body
            mouths(0.3)
            after = mouths(1.5)
            assert studio.api("api/status")[1]["mouth"] == "audio"  # what the control page shows
        finally:
            sub.close(0)
    assert len(before) > 30 and set(before) == {"audio"}
    assert len(after) > 30 and set(after) == {"audio"}, set(after)


def test_room_noise_before_speech_leaves_the_mouth_at_rest(speech):
    """Two seconds of a room (white noise at -50 dBFS and 50 Hz mains hum at -45 dBFS) before the vowels: the
    mouth stays shut and unpressed through it (the gain control learns the floor; the lips press only between
    vowels), and the vowels after it still open the jaw."""
    data, rate = read(speech["en"]["vowels"])
    rng = np.random.default_rng(0)
    n = 2 * rate
    room = rng.normal(0, 10 ** (-50 / 20), n) + 10 ** (-45 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 50 * np.arange(n) / rate)
    x = np.concatenate([room, data / 32768 + rng.normal(0, 10 ** (-50 / 20), len(data))])
    frames = LipsyncAnalyzer().push(to_analysis_rate(x.astype(np.float32), rate))
    t = np.array([f.end_sample for f in frames]) / SAMPLE_RATE_HZ
    w = np.stack([f.arkit() for f in frames])
    assert w[t < 2.0, JAW[0]].max() < 0.1 and w[t < 2.0, PRESS].max() < 0.1
    assert w[t > 2.0, JAW[0]].max() > 0.5


def _ffmpeg_wav(src: Path, dst: Path, codec: str, rate: int, layout: str) -> Path:
    """``src`` re-encoded by FFmpeg (through PyAV) as a WAV of another sample format, rate and layout."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="wav") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=rate)
        for frame in inp.decode(audio=0):
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    out.mux(packet)
        for converted in resampler.resample(None) or []:
            for packet in stream.encode(converted):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return dst


@pytest.mark.parametrize("codec, rate, layout, max_diff", [
    ("pcm_s24le", 48000, "stereo", 0.05), ("pcm_f32le", 44100, "mono", 0.05), ("pcm_s32le", 96000, "stereo", 0.05),
    ("pcm_u8", 16000, "mono", 0.25)])  # 8-bit: its quantisation noise is 48 dB under full scale
def test_wavs_written_by_ffmpeg_in_other_formats_read_the_same(speech, tmp_path, codec, rate, layout, max_diff):
    """The sentence re-encoded by FFmpeg (not by this project's code) as 24- and 32-bit, float and unsigned 8-bit
    WAVs at other rates and in stereo gives the same jaw track as espeak's own 16-bit file (the scaling of each
    sample type, the mix to mono and the resampling are right), and muxes into an MP4 at its own rate."""
    from facecast.engine.sources.lipsync.audio import read_wav

    def jaw(path: Path) -> np.ndarray:
        data, wav_rate = read_wav(path)
        return np.array([f.mouth[ch("jawOpen")] for f in LipsyncAnalyzer().push(to_analysis_rate(data, wav_rate))])

    src = speech["en"]["sentence"]
    other = _ffmpeg_wav(src, tmp_path / f"{codec}.wav", codec, rate, layout)
    ref, got = jaw(src), jaw(other)
    m = min(len(ref), len(got))
    assert abs(len(ref) - len(got)) <= 2
    assert np.corrcoef(ref[:m], got[:m])[0, 1] > 0.98
    assert np.abs(ref[:m] - got[:m]).max() < max_diff
    import av
    from PIL import Image

    from facecast.engine.offline.job import write_mp4
    frames = []
    for i in range(3):
        frames.append(tmp_path / f"f{i}.png")
        Image.new("RGB", (32, 32), (40 * i, 80, 120)).save(frames[-1])
    write_mp4(frames, tmp_path / "out.mp4", fps=1.0, audio=other)
    data, wav_rate = read_wav(other)
    with av.open(str(tmp_path / "out.mp4")) as c:
        audio = c.streams.audio[0]
        assert audio.codec_context.sample_rate == rate
        assert audio.codec_context.channels == (2 if layout == "stereo" else 1)
        assert abs(float(audio.duration * audio.time_base) - len(data) / wav_rate) < 0.05


def test_a_profile_with_a_broken_voice_is_refused_clearly(speech, tmp_path):
    """A profile whose [lipsync] table is malformed (hand-edited) stops 'run --lipsync' with what is wrong and
    how to fit it again, and 'calibrate show' says so instead of failing."""
    profile = tmp_path / "broken.toml"
    profile.write_text('version = 1\nname = "broken"\n[lipsync]\nvowels_hz = {A = [800]}\n')
    run = subprocess.run(FACECAST + ["run", "--source", "none", "--lipsync", f"wav:{speech['en']['mama']}",
                                     "--profile", str(profile), "--renderer", "none", "--duration", "1"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "vowel A must be [F1, F2]" in run.stderr and "calibrate lipsync" in run.stderr
    assert "Traceback" not in run.stderr
    show = subprocess.run(FACECAST + ["calibrate", "show", str(profile)], capture_output=True, text=True, timeout=60)
    assert show.returncode == 0 and "lip-sync voice: unusable" in show.stdout, show.stderr
