import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import free_port
from facecast.bridge.protocol import TOPIC_PARAMS
from facecast.bridge.receiver import Receiver
from test_csv_source import write_csv

FACECAST = [sys.executable, "-m", "facecast.engine.cli"]


def facecast(*args, timeout=60, **kw):
    return subprocess.run(FACECAST + list(args), capture_output=True, text=True, timeout=timeout, **kw)


def test_help_explains_every_command():
    out = facecast("--help").stdout
    for cmd in ("run", "receive", "demo", "keys", "render", "calibrate", "eval", "models", "enroll", "distill"):
        assert cmd in out
    run_help = facecast("run", "--help").stdout
    assert "csv:PATH" in run_help and "--fps" in run_help and "PROTOCOL.md" in run_help


def test_every_option_of_every_command_explains_itself_and_says_its_default_once():
    import argparse
    import re

    from facecast.engine.cli import build_parser

    def parsers(parser, path):
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from parsers(sub, f"{path} {name}")

    seen = 0
    for path, parser in parsers(build_parser(), "facecast"):
        for action in parser._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                assert action.help, f"{path} {action.option_strings[0]} has no help text"
        text = parser.format_help()
        assert "(default: None)" not in text and "(default: False)" not in text, path
        for entry in re.split(r"\n  (?=-)", text):  # one option's entry
            assert len(re.findall(r"\(default", " ".join(entry.split()))) <= 1, f"{path}: {entry}"
        seen += 1
    assert seen >= 15


@pytest.mark.parametrize("args,message", [
    (["run", "--source", "webcam9"], "unknown source"),
    (["run", "--source", "csv:/nonexistent/rec.csv", "--renderer", "none"], "cannot read"),
    (["run", "--publish", "tcp://0.0.0.0:5999"], "--allow-remote"),
    (["run", "--curve-clients", "/tmp"], "--curve-secret"),
    (["run", "--publish", "tcp://127.0.0.1:1", "--allow-remote", "--curve-secret", "/nope.key_secret"],
     "not found"),
    (["receive", "--curve-server-key", "/nope.key"], "not found"),
])
def test_user_errors_are_one_clear_line(args, message):
    result = facecast(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_parameter_feed_only(endpoint):
    with Receiver(endpoint, topics=(TOPIC_PARAMS, b"facecast.frame")) as rx:
        proc = subprocess.Popen(FACECAST + ["run", "--renderer", "none", "--publish", endpoint,
                                            "--duration", "3"], stdout=subprocess.PIPE, text=True)
        msgs = [rx.recv(5.0) for _ in range(20)]
        proc.wait(10)
    assert proc.returncode == 0
    assert all(m is not None and m.topic == TOPIC_PARAMS and m.pixels is None for m in msgs)
    assert all(m.source == "demo" and m.head_rad is not None for m in msgs)


def test_sigint_shuts_down_cleanly(endpoint):
    proc = subprocess.Popen(FACECAST + ["run", "--renderer", "testpattern", "--publish", endpoint],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Receiver(endpoint) as rx:
            msgs = [rx.recv(10.0) for _ in range(10)]
        assert all(m is not None and m.pixels.shape == (512, 512, 4) for m in msgs)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "frames in" in out and "latency" in out


def test_sigterm_shuts_down_cleanly(endpoint):
    proc = subprocess.Popen(FACECAST + ["run", "--renderer", "none", "--publish", endpoint],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "frames in" in out


def test_csv_playback_ends_by_itself_and_reports(tmp_path, endpoint):
    csv = write_csv(tmp_path / "take.csv", rows=30)
    report = tmp_path / "report.json"
    result = facecast("run", "--source", f"csv:{csv}", "--timecode-fps", "60", "--renderer", "none",
                      "--publish", endpoint, "--report-json", str(report))
    assert result.returncode == 0, result.stderr
    import json
    data = json.loads(report.read_text())
    # every sample is accounted for: published, or superseded by a newer one (newest wins: a loaded machine
    # may deschedule the loop for longer than the recording's 16.7 ms between rows)
    assert data["samples_in"] == 30 and data["frames"] + data["samples_dropped"] == 30 and data["frames"] >= 20
    assert f"{data['frames']} frames in" in result.stdout and data["timings"]["frame"]["count"] == data["frames"]


def test_receive_command_counts_and_saves(tmp_path, endpoint):
    proc = subprocess.Popen(FACECAST + ["run", "--renderer", "testpattern", "--size", "128x96",
                                        "--format", "rgb8", "--publish", endpoint, "--duration", "6"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        result = facecast("receive", "--connect", endpoint, "--count", "15", "--save", str(tmp_path / "png"))
    finally:
        proc.wait(15)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "received 15 messages" in result.stdout and "latency" in result.stdout
    saved = sorted((tmp_path / "png").glob("*.png"))
    assert len(saved) == 15
    from PIL import Image
    im = Image.open(saved[0])
    assert im.size == (128, 96) and im.getpixel((2, 2)) == (230, 40, 40)  # red marker top-left


def test_receive_times_out_with_advice():
    result = facecast("receive", "--connect", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.5")
    assert result.returncode == 1 and "is 'facecast run' publishing" in result.stdout


def test_demo_ends_by_itself_with_previews(tmp_path):
    result = facecast("demo", "--duration", "2", "--out", str(tmp_path / "demo"), timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "engine:   portrait renderer" in out and "receiver:" in out and "latency" in out  # auto: astronaut
    assert (tmp_path / "demo" / "contact_sheet.png").stat().st_size > 1000
    assert not (tmp_path / "demo" / "frames").exists()  # frames stay in memory: no PNGs written while streaming
    with Image.open(tmp_path / "demo" / "preview.gif") as gif:  # evenly spaced, in real time at 20 fps
        frames, durations = [], []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB"), np.int16))
            durations.append(gif.info["duration"])
    assert 25 <= len(frames) <= 41 and set(durations) == {50}
    assert np.abs(frames[0] - frames[-1]).mean() > 0.5  # the face moves
    status = [line for line in out.splitlines() if line.startswith("seq ")]
    assert status and all(float(line.split(" fps")[0].split()[-1]) > 5 for line in status)  # no "0.1 fps" line
    noise = [line for line in result.stderr.splitlines() if line.startswith(("W0000", "I0000", "INFO: Created",
                                                                             "WARNING: All log messages"))]
    assert not noise, noise  # MediaPipe's routine native log lines are held back


def test_keys_create(tmp_path):
    result = facecast("keys", "create", str(tmp_path), "--name", "studio")
    assert result.returncode == 0
    assert (tmp_path / "studio.key").exists() and (tmp_path / "studio.key_secret").exists()


def test_console_script_installed():
    exe = Path(sys.executable).parent / "facecast"
    assert exe.exists()
    assert subprocess.run([str(exe), "--help"], capture_output=True).returncode == 0


def test_preview_frames_stay_evenly_spaced_and_bounded_over_a_long_stream():
    from types import SimpleNamespace

    from facecast.engine.media import PreviewFrames
    from facecast.engine.types import PixelFormat

    preview = PreviewFrames(fps=20.0, max_frames=50)
    for i in range(30 * 60):  # a minute at 30 fps, frame i's pixels say i
        pixels = np.full((2, 2, 4), i % 256, np.uint8)
        pixels[0, 0, 0] = i // 256
        preview.add(SimpleNamespace(pixels=pixels, pixel_format=PixelFormat.BGRA8, t_capture_ns=i * 1_000_000_000 // 30))
    assert len(preview) <= 50 and preview.fps == 20.0 / 32  # halved five times: 1.6 s slots
    frames = preview.frames()
    index = np.array([256 * int(f[0, 0, 2]) + int(f[1, 1, 0]) for f in frames])  # BGRA -> RGB: B is channel 2
    gaps = np.diff(index)  # each slot holds its newest frame: 1.6 s (48 frames) apart; the last slot is cut short
    assert len(frames) >= 35 and set(gaps[:-1]) <= {48, 49} and 0 < gaps[-1] <= 48
