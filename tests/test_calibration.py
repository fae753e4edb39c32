import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ListPublisher
from facecast.calibration.capture import CalibrationError, fit_neutral, fit_range, record
from facecast.engine.loop import Engine, LoopConfig
from facecast.engine.retarget import Retargeter
from facecast.engine.retarget.filters import OneEuroFilter
from facecast.engine.retarget.profile import FilterSettings, Profile, load_profile, save_profile
from facecast.engine.retarget.steps import ChannelFilter, NeutralEase, ProfileCurves, profile_steps
from facecast.engine.sources.livelink_csv import LiveLinkCsvSource
from facecast.engine.types import ARKIT_NAMES, FaceSample, arkit_index
from test_csv_source import write_csv

JAW = arkit_index("JawOpen")
SMILE = arkit_index("MouthSmileLeft")


def sample(t_s, weights, *, valid=True, head=None):
    return FaceSample(capture_wall_ns=int(t_s * 1e9), weights=weights, valid=valid, head_rad=head)


def biased_samples(n=120, bias=0.2, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w = np.zeros(52, np.float32)
        w[JAW] = bias + rng.normal(0, noise)
        w[SMILE] = 0.1
        out.append(sample(i / 60, np.clip(w, 0, 1), head=[0.1, -0.05, 0.02]))
    return out


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FACECAST_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def test_neutral_offset_removes_constant_bias():
    profile, report = fit_neutral(biased_samples(), Profile(name="me"))
    assert profile.offset[JAW] == pytest.approx(0.2, abs=0.01)
    assert set(report.changed) == {"JawOpen", "MouthSmileLeft"}
    np.testing.assert_allclose(profile.head_zero_rad, [0.1, -0.05, 0.02], atol=1e-6)
    curves = ProfileCurves(profile)
    out = np.array([curves(s).weights[JAW] for s in biased_samples(seed=1)])
    raw = np.array([s.weights[JAW] for s in biased_samples(seed=1)])
    assert raw.mean() == pytest.approx(0.2, abs=0.01)
    assert out.mean() < 0.02  # the bias is gone (what is left is the clipped noise)
    # An expression above neutral keeps its size above the new zero.
    w = np.zeros(52, np.float32)
    w[JAW] = 0.7
    assert curves(sample(0, w, head=[0.1, -0.05, 0.02])).weights[JAW] == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(curves(sample(0, w, head=[0.1, -0.05, 0.02])).head_rad, 0, atol=1e-6)


def test_neutral_needs_a_face():
    invalid = [sample(i / 60, np.zeros(52), valid=False) for i in range(100)]
    with pytest.raises(CalibrationError, match="saw a face in 0 of 100"):
        fit_neutral(invalid, Profile(name="me"))
    with pytest.raises(CalibrationError, match="no samples"):
        fit_neutral([], Profile(name="me"))


def test_range_gain_maps_maximum_to_one():
    base = Profile(name="me", offset=np.where(np.arange(52) == JAW, 0.1, 0).astype(np.float32))
    samples = []
    for i in range(200):
        w = np.zeros(52, np.float32)
        w[JAW] = 0.1 + 0.5 * abs(np.sin(i / 20))  # the user reaches 0.6 at most
        w[SMILE] = 0.05  # barely moves: keeps gain 1
        samples.append(sample(i / 60, w))
    profile, report = fit_range(samples, base)
    assert profile.gain[JAW] == pytest.approx(2.0, rel=0.03)
    assert profile.gain[SMILE] == 1.0 and "MouthSmileLeft" not in report.changed
    w = np.zeros(52, np.float32)
    w[JAW] = 0.6
    assert ProfileCurves(profile)(sample(0, w)).weights[JAW] == pytest.approx(1.0, abs=0.02)


def test_curves_and_clamps():
    gamma = np.ones(52, np.float32)
    gamma[JAW] = 0.5
    high = np.ones(52, np.float32)
    high[SMILE] = 0.7
    curves = ProfileCurves(Profile(name="c", gamma=gamma, high=high))
    w = np.zeros(52, np.float32)
    w[JAW], w[SMILE] = 0.25, 0.9
    out = curves(sample(0, w)).weights
    assert out[JAW] == pytest.approx(0.5) and out[SMILE] == pytest.approx(0.7)


def test_one_euro_reduces_jitter_and_follows_a_step():
    """Stated behaviour (documented in filters.py and docs/calibration.md), at 60 Hz with the
    default mouth settings (min_cutoff 1 Hz, beta 3): jitter (sd 0.02) on a constant
    signal drops at least 3x, and a 0 -> 0.8 step reaches 90% within 50 ms."""
    s = Profile(name="x").filters["mouth"]
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff_hz=s.min_cutoff_hz, beta=s.beta, d_cutoff_hz=s.d_cutoff_hz)
    noisy = 0.3 + rng.normal(0, 0.02, 600)
    out = np.array([f(np.array([x]), int(i * 1e9 / 60))[0] for i, x in enumerate(noisy)])
    assert np.std(out[60:]) < np.std(noisy[60:]) / 3
    f.reset()
    step = np.where(np.arange(120) < 60, 0.0, 0.8)
    out = np.array([f(np.array([x]), int(i * 1e9 / 60))[0] for i, x in enumerate(step)])
    reached = np.argmax(out >= 0.72) - 60
    assert 0 <= reached <= 3, reached  # 3 samples = 50 ms at 60 Hz


def test_one_euro_validates_and_handles_time_going_back():
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff_hz=0, beta=1, d_cutoff_hz=1)
    f = OneEuroFilter(min_cutoff_hz=1, beta=0, d_cutoff_hz=1)
    f(np.array([0.0]), 1000)
    assert np.isfinite(f(np.array([1.0]), 500)).all()


def test_channel_filter_families_and_disabled():
    filters = dict(Profile(name="x").filters)
    filters["mouth"] = FilterSettings(enabled=False)
    cf = ChannelFilter(filters)
    w = np.zeros(52, np.float32)
    cf(sample(0, w, head=[0, 0, 0]))
    w[JAW] = w[arkit_index("BrowInnerUp")] = 1.0
    out = cf(sample(1 / 60, w, head=[0.5, 0, 0]))
    assert out.weights[JAW] == 1.0  # mouth off: raw
    assert 0 < out.weights[arkit_index("BrowInnerUp")] < 1.0  # brows filtered
    assert 0 < out.head_rad[0] < 0.5


def test_neutral_ease_when_face_lost():
    ease = NeutralEase(0.5)
    w = np.zeros(52, np.float32)
    w[JAW] = 0.8
    ease(sample(0.0, w, head=[0.2, 0, 0]))
    outs = [ease(sample(0.1 + i * 0.1, np.zeros(52), valid=False)) for i in range(7)]
    jaw = [o.weights[JAW] for o in outs]
    np.testing.assert_allclose(jaw, [0.8, 0.64, 0.48, 0.32, 0.16, 0, 0], atol=1e-5)
    assert all(not o.valid for o in outs)
    assert outs[1].head_rad[0] == pytest.approx(0.16)
    back = ease(sample(1.0, w))
    assert back.valid and back.weights[JAW] == pytest.approx(0.8)


def test_profile_toml_round_trip_and_errors(config_dir):
    p = Profile(name="alice", offset=np.full(52, 0.05, np.float32), head_zero_rad=[0.1, 0.2, 0.3],
                filters={"head": FilterSettings(min_cutoff_hz=0.5, beta=1.0)}, neutral_ease_s=0.8)
    path = save_profile(p)
    assert path == config_dir / "profiles" / "alice.toml"
    q = load_profile("alice")
    np.testing.assert_allclose(q.offset, p.offset)
    np.testing.assert_allclose(q.head_zero_rad, [0.1, 0.2, 0.3], atol=1e-6)
    assert q.filters["head"].min_cutoff_hz == 0.5 and q.neutral_ease_s == 0.8
    text = path.read_text()
    assert "[channels.JawOpen]" in text and "One Euro" in text
    path.write_text(text.replace("[channels.JawOpen]", "[channels.JawOpenn]"))
    with pytest.raises(ValueError, match="JawOpenn"):
        load_profile("alice")
    path.write_text('name = "alice"\n[channels.JawOpen]\ngain = -1\n')
    with pytest.raises(ValueError, match="gain"):
        load_profile("alice")
    path.write_text('name = "alice"\nversion = 9\n')
    with pytest.raises(ValueError, match="version 9"):
        load_profile("alice")
    with pytest.raises(FileNotFoundError, match="calibrate neutral"):
        load_profile("nobody")
    # A sparse hand-written profile keeps defaults for everything it leaves out.
    path.write_text('name = "alice"\n[channels.JawOpen]\ngamma = 0.8\n')
    q = load_profile("alice")
    assert q.gamma[JAW] == pytest.approx(0.8) and q.gain[JAW] == 1 and q.filters["mouth"].beta == 3.0


def test_record_from_a_real_source(tmp_path):
    csv = write_csv(tmp_path / "neutral.csv", rows=40)
    samples = record(LiveLinkCsvSource(csv, loop=True, timecode_fps=60), 0.4, progress=False)
    assert 15 <= len(samples) <= 30


def test_calibrate_cli_and_run_with_profile(tmp_path, config_dir, endpoint):
    """calibrate neutral from a recording with a constant bias; run --profile removes it."""
    lines = ["Timecode," + ",".join(ARKIT_NAMES)]
    for i in range(60):
        values = ["0.25" if n == "JawOpen" else "0" for n in ARKIT_NAMES]
        lines.append(f"10:00:{i // 60:02d}:{i % 60:02d}.0," + ",".join(values))
    (tmp_path / "bias.csv").write_text("\n".join(lines) + "\n")
    env = dict(os.environ, FACECAST_CONFIG_DIR=str(config_dir))
    cli = [sys.executable, "-m", "facecast.engine.cli"]
    r = subprocess.run(cli + ["calibrate", "neutral", "--source", f"csv:{tmp_path}/bias.csv", "--loop",
                              "--timecode-fps", "60", "--seconds", "1", "--profile", "studio"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "JawOpen" in r.stdout and "profile written" in r.stdout
    shown = subprocess.run(cli + ["calibrate", "show", "studio"], capture_output=True, text=True, env=env)
    assert "JawOpen" in shown.stdout and "0.250" in shown.stdout and "min_cutoff" in shown.stdout
    listed = subprocess.run(cli + ["calibrate", "list"], capture_output=True, text=True, env=env)
    assert "studio" in listed.stdout

    from facecast.bridge.protocol import TOPIC_PARAMS
    from facecast.bridge.receiver import Receiver
    with Receiver(endpoint, topics=(TOPIC_PARAMS,)) as rx:
        proc = subprocess.Popen(cli + ["run", "--source", f"csv:{tmp_path}/bias.csv", "--timecode-fps", "60",
                                       "--renderer", "none", "--profile", "studio", "--publish", endpoint],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        msgs = [rx.recv(10) for _ in range(20)]
        proc.wait(20)
    assert proc.returncode == 0
    assert all(m is not None and m.arkit[JAW] == pytest.approx(0.0, abs=1e-6) for m in msgs)

    missing = subprocess.run(cli + ["run", "--profile", "nobody", "--renderer", "none"],
                             capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "calibrate neutral" in missing.stderr


def test_default_steps_ease_only():
    steps = profile_steps(None)
    assert len(steps) == 1 and isinstance(steps[0], NeutralEase) and steps[0]._ease_ns == 500_000_000
    assert profile_steps(None, neutral_ease_s=2.0)[0]._ease_ns == 2_000_000_000
    assert profile_steps(Profile(name="p", neutral_ease_s=1.0))[1]._ease_ns == 1_000_000_000
    assert len(profile_steps(Profile(name="p"))) == 3


def test_engine_with_profile_steps():
    pub = ListPublisher()
    from conftest import RateSource
    profile = Profile(name="p", offset=np.full(52, 0.001, np.float32))
    report = Engine(source=RateSource(100), retargeter=Retargeter(steps=profile_steps(profile)), renderer=None,
                    publisher=pub, config=LoopConfig(duration_s=0.3)).run()
    assert report.frames > 5 and not report.errors


def test_response_plot(tmp_path):
    from PIL import Image

    from facecast.calibration.plots import plot_response, response_curves
    gain = np.ones(52, np.float32)
    gain[JAW] = 2.0
    profile = Profile(name="p", gain=gain, offset=np.where(np.arange(52) == SMILE, 0.2, 0).astype(np.float32))
    ys = response_curves(profile)
    assert ys[50, JAW] == pytest.approx(1.0) and ys[10, SMILE] == 0.0 and ys[50, 0] == pytest.approx(0.5)
    out = plot_response(profile, tmp_path / "resp.png")
    assert Image.open(out).size == (640, 640)
