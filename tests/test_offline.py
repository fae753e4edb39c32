"""facecast render: scripts, presets, easing, outputs, determinism, resuming after a kill, Ray."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facecast.engine.render import RenderOptions
from facecast.engine.session import SessionSpec
from facecast.engine.offline.job import FRAME_NAME, JOB_FILE, RenderJobError, frames_dir, render_job
from facecast.engine.offline.presets import PRESETS, preset_weights
from facecast.engine.offline.timeline import ScriptError, ease, load_timeline, parse_script
from facecast.engine.types import arkit_index

FACECAST = [sys.executable, "-m", "facecast.engine.cli"]
SCRIPT = {"fps": 20, "keyframes": [{"t": 0, "preset": "neutral"},
                                   {"t": 0.5, "preset": "surprise", "ease": "ease-in-out"},
                                   {"t": 1.0, "preset": "laugh", "ease": "cubic"},
                                   {"t": 1.5, "preset": "wink_left", "ease": "hold", "head_deg": [8, 0, 0]}]}


def write_script(path: Path, data=None) -> Path:
    path.write_text(json.dumps(data or SCRIPT))
    return path


def portrait(size=128) -> SessionSpec:
    return SessionSpec("portrait", RenderOptions(width=size, height=size, pixel_format="rgb8"))


def test_presets_cover_the_documented_library():
    for name in ("neutral", "smile", "laugh", "surprise", "anger", "sadness", "disgust", "fear", "wink_left",
                 "wink_right", "pucker"):
        assert name in PRESETS
        w = preset_weights(name)
        assert w.shape == (52,) and ((w >= 0) & (w <= 1)).all()
    assert preset_weights("wink_left")[arkit_index("eyeBlinkLeft")] == 1.0
    assert preset_weights("wink_left")[arkit_index("eyeBlinkRight")] == 0.0


def test_easing_curves():
    for kind in ("linear", "ease-in-out", "cubic"):
        assert ease(kind, 0) == 0 and ease(kind, 1) == 1 and abs(ease(kind, 0.5) - 0.5) < 1e-9
    assert ease("ease-in-out", 0.25) < 0.25 and ease("cubic", 0.25) < ease("ease-in-out", 0.25)
    assert ease("hold", 0.99) == 0 and ease("hold", 1.0) == 1


def test_timeline_interpolates_between_keys():
    tl = parse_script(SCRIPT)
    assert len(tl) == 31 and tl.fps == 20
    jaw = arkit_index("jawOpen")
    assert tl.weights[0].max() == 0
    assert np.allclose(tl.weights[10], preset_weights("surprise"))
    assert abs(tl.weights[5, jaw] - 0.5 * preset_weights("surprise")[jaw]) < 1e-6  # ease-in-out midpoint
    blink = arkit_index("eyeBlinkLeft")
    assert tl.weights[29, blink] == 0 and tl.weights[30, blink] == 1  # hold: jumps at the key
    assert abs(np.degrees(tl.head_rad[30, 0]) - 8) < 1e-4


@pytest.mark.parametrize("script, message", [
    ({"keyframes": []}, "keyframes: expected a non-empty list"),
    ({"fps": 0, "keyframes": [{"t": 0, "preset": "smile"}]}, "fps: 0 is outside"),
    ({"keyframes": [{"t": 0, "preset": "grin"}]}, "keyframes[0].preset: unknown preset 'grin'"),
    ({"keyframes": [{"t": 0, "preset": "smile", "ease": "bounce"}]}, "keyframes[0].ease: unknown easing"),
    ({"keyframes": [{"t": 1, "preset": "smile"}, {"t": 0.5, "preset": "smile"}]}, "keyframes[1].t: 0.5 must be after"),
    ({"keyframes": [{"t": 0, "arkit": {"jawOpn": 1}}]}, "unknown ARKit name 'jawOpn'"),
    ({"keyframes": [{"t": 0, "arkit": {"jawOpen": 2}}]}, "keyframes[0].arkit.jawOpen: 2 is outside 0.0..1.0"),
    ({"keyframes": [{"t": 0}]}, "give a preset, arkit weights or flame values"),
    ({"keyframes": [{"t": 0, "preset": "smile", "colour": 1}]}, "unknown field(s) colour"),
    ({"keyframes": [{"t": 0, "flame": {"jaw": [0.1]}}, {"t": 1, "preset": "smile"}]}, "on every keyframe or on none"),
    ({"keyframes": [{"t": 0, "preset": "smile"}], "speed": 2}, "unknown top-level field(s) speed"),
])
def test_invalid_scripts_say_what_is_wrong(script, message):
    with pytest.raises(ScriptError) as exc:
        parse_script(script)
    assert message in str(exc.value)


def test_yaml_scripts_and_their_syntax_errors(tmp_path):
    good = tmp_path / "s.yaml"
    good.write_text("fps: 10\nkeyframes:\n  - {t: 0, preset: neutral}\n  - {t: 1, preset: smile}\n")
    assert len(load_timeline(good)) == 11
    bad = tmp_path / "b.yaml"
    bad.write_text("fps: 10\nkeyframes: [\n")
    with pytest.raises(ScriptError, match="not valid YAML"):
        load_timeline(bad)
    with pytest.raises(ScriptError, match="cannot read"):
        load_timeline(tmp_path / "missing.yaml")


def test_a_live_link_csv_is_a_timeline(tmp_path):
    from facecast.engine.types import ARKIT_NAMES
    header = ["Timecode", "BlendShapeCount", *ARKIT_NAMES]
    rows = [",".join(header)]
    for i in range(31):
        values = ["0"] * 52
        values[arkit_index("jawOpen")] = f"{i / 30:.4f}"
        rows.append(",".join([f"00:00:{i // 30:02d}:{i % 30:02d}.000", "52", *values]))
    (tmp_path / "take.csv").write_text("\n".join(rows) + "\n")
    tl = load_timeline(f"csv:{tmp_path / 'take.csv'}", fps=10)
    assert len(tl) == 11 and abs(tl.weights[5, arkit_index("jawOpen")] - 0.5) < 0.02


def _frames(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.glob("frame_*.png"))]


def test_outputs_are_deterministic_and_complete(tmp_path):
    tl = parse_script(SCRIPT)
    a = render_job(portrait(), tl, tmp_path / "a")
    b = render_job(portrait(), tl, tmp_path / "b")
    assert a.frames == b.frames == 31 and _frames(tmp_path / "a") == _frames(tmp_path / "b")
    assert len(set(_frames(tmp_path / "a"))) > 20  # the face moves
    mp4 = render_job(portrait(), tl, tmp_path / "clip.mp4")
    import av
    with av.open(str(mp4.out)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (128, 128)
        assert sum(1 for _ in c.decode(video=0)) == 31
    sheet = render_job(portrait(), tl, tmp_path / "sheet.png")
    assert sheet.out.stat().st_size > 10_000


def test_flame_scripts_need_the_diffusion_renderer(tmp_path):
    tl = parse_script({"keyframes": [{"t": 0, "flame": {"jaw": [0.1]}}, {"t": 0.1, "flame": {"jaw": [0.2]}}]})
    from facecast.engine.offline.job import RenderJobError
    with pytest.raises(RenderJobError, match="FLAME values"):
        render_job(portrait(), tl, tmp_path / "x")


def test_a_killed_render_resumes_without_redoing_or_losing_frames(tmp_path):
    long = {"fps": 60, "keyframes": [{"t": 0, "preset": "neutral"}, {"t": 3, "preset": "laugh"},
                                     {"t": 12, "preset": "surprise", "ease": "ease-in-out"}]}
    script = write_script(tmp_path / "long.json", long)
    out = tmp_path / "clip.mp4"
    folder = frames_dir(out)
    assert folder == tmp_path / ".clip.mp4.facecast-frames"  # hidden, beside the output
    args = FACECAST + ["render", str(script), "--out", str(out), "--size", "128x128"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(folder.glob("frame_*.png"))) < 60:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    done = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("frame_*.png")}
    assert 60 <= len(done) < 721 and not out.exists()  # killed midway, before the video
    again = subprocess.run(FACECAST + ["render", str(script), "--out", str(out), "--size", "128x128"],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "--resume" in again.stderr and "--force" in again.stderr  # never overwrites
    resumed = subprocess.run(args + ["--resume", "--keep-frames"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{721 - len(done)} rendered, {len(done)} already done" in resumed.stdout
    assert "stale" not in resumed.stdout
    for name, stamp in done.items():  # nothing finished was redone
        p = folder / name
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp
    names = sorted(p.name for p in folder.glob("frame_*.png"))
    assert names == [FRAME_NAME.format(i) for i in range(721)] and not list(folder.glob(".*tmp"))
    clean = render_job(portrait(), load_timeline(script), tmp_path / "clean")
    assert clean.frames == 721 and _frames(folder) == _frames(tmp_path / "clean")
    import av
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 721
    other = write_script(tmp_path / "other.json")
    refused = subprocess.run(FACECAST + ["render", str(other), "--out", str(out), "--resume", "--size", "64x64"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--force" in refused.stderr and "other options" in refused.stderr


def test_an_edited_script_resumes_only_its_stale_frames_and_the_frames_folder_goes(tmp_path):
    script = write_script(tmp_path / "s.json")
    out = tmp_path / "clip.mp4"
    first = render_job(portrait(64), load_timeline(script), out, keep_frames=True)
    folder = first.folder
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.glob("frame_*.png")}
    edited = json.loads(json.dumps(SCRIPT))
    edited["keyframes"][2]["ease"] = "linear"  # only frames 11-19 (t 0.5-1.0 s) change, but not the midpoint,
    # frame 15, where the cubic ease-in-out and linear agree
    write_script(script, edited)
    lines = []
    again = render_job(portrait(64), load_timeline(script), out, resume=True, keep_frames=True, notice=lines.append)
    changed = [p.name for p in sorted(folder.glob("frame_*.png")) if p.stat().st_mtime_ns != stamps[p.name]]
    assert changed == [FRAME_NAME.format(i) for i in (11, 12, 13, 14, 16, 17, 18, 19)]
    assert again.stale == again.rendered == 8 and again.reused == 23
    assert lines == ["8 frame(s) are stale (the script changed there): 11-14, 16-19; rendering them again"]
    render_job(portrait(64), load_timeline(script), out, resume=True)
    assert not folder.exists() and out.stat().st_size > 0  # the MP4 is complete: its resume state is gone
    render_job(portrait(64), load_timeline(script), tmp_path / "frames")
    assert (tmp_path / "frames" / JOB_FILE).is_file() and len(_frames(tmp_path / "frames")) == 31
    with pytest.raises(RenderJobError, match="--resume"):
        render_job(portrait(64), load_timeline(script), tmp_path / "frames")
    forced = render_job(portrait(64), load_timeline(script), tmp_path / "frames", force=True)
    assert forced.rendered == 31 and forced.reused == 0


def test_ray_with_two_local_workers_gives_the_local_frames(tmp_path):
    pytest.importorskip("ray")
    tl = parse_script(SCRIPT)
    local = render_job(portrait(), tl, tmp_path / "local")
    spread = render_job(portrait(), tl, tmp_path / "ray", use_ray=True, workers=2)
    assert spread.frames == local.frames == 31
    assert _frames(tmp_path / "ray") == _frames(tmp_path / "local")


def test_render_command_help_presets_and_errors(tmp_path):
    def run(*args):
        return subprocess.run(FACECAST + ["render", *map(str, args)], capture_output=True, text=True, timeout=120)

    assert "wink_left" in run("--presets").stdout
    assert "keyframes" in run("--schema").stdout
    bad = write_script(tmp_path / "bad.json", {"keyframes": [{"t": 0, "preset": "grin"}]})
    result = run(bad, "--out", tmp_path / "x.mp4")
    assert result.returncode == 2 and "unknown preset 'grin'" in result.stderr
    result = run(write_script(tmp_path / "s.json"), "--out", tmp_path / "x.avi")
    assert result.returncode == 2 and ".mp4 file" in result.stderr


def test_the_last_key_is_reached_at_any_fps():
    tl = parse_script({"fps": 29.97, "keyframes": [{"t": 0, "preset": "neutral"},
                                                   {"t": 2.0, "preset": "blink", "ease": "hold"}]})
    assert len(tl) == 61 and tl.weights[-1, arkit_index("eyeBlinkLeft")] == 1.0
    assert tl.weights[-2, arkit_index("eyeBlinkLeft")] == 0.0


def test_a_render_that_failed_before_its_first_frame_can_be_run_again(tmp_path):
    script = write_script(tmp_path / "s.json")
    out = tmp_path / "x.mp4"
    failed = subprocess.run(FACECAST + ["render", str(script), "--out", str(out), "--renderer", "diffusion"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    ok = subprocess.run(FACECAST + ["render", str(script), "--out", str(out), "--size", "64x64"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(FACECAST + ["render", "csv:/nonexistent.csv", "--out", str(tmp_path / "y")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "cannot use" in missing.stderr and "Traceback" not in missing.stderr


# --------------------------------------------------------------------------- #
# csv: timelines from Live Link Face takes (issue 25)
# --------------------------------------------------------------------------- #


def test_a_csv_timeline_carries_every_channel_with_the_eye_angles(tmp_path):
    from test_csv_source import CSV_SHAPES, golden_take
    path, times, values = golden_take(tmp_path / "take.csv", fps=60, start=(14, 23, 10, 30), rows=18)
    tl = load_timeline(f"csv:{path}", fps=60)
    grid = np.arange(len(tl)) / 60
    assert len(tl) == int(np.floor(times[-1] * 60)) + 1 == 18
    want = lambda c: np.interp(grid, times, values[:, c])  # noqa: E731
    for c, name in enumerate(CSV_SHAPES):
        np.testing.assert_allclose(tl.weights[:, arkit_index(name)], want(c), rtol=1e-5, atol=1e-7, err_msg=name)
    for arr, first in ((tl.head_rad, 52), (tl.eye_left_rad, 55), (tl.eye_right_rad, 58)):
        np.testing.assert_allclose(arr, np.stack([want(first + k) for k in range(3)], 1), rtol=1e-5, atol=1e-7)
    assert parse_script(SCRIPT).eye_left_rad is None
    with pytest.raises(ScriptError, match="for csv: recordings"):
        load_timeline(write_script(tmp_path / "s.json"), timecode_fps=60)


def test_the_eye_angles_reach_the_renderer_and_the_resume_digests(tmp_path):
    from types import SimpleNamespace

    from facecast.engine.offline import job
    from test_csv_source import golden_take
    path, _, _ = golden_take(tmp_path / "take.csv", fps=60, start=(14, 23, 10, 30), rows=6)
    tl = load_timeline(f"csv:{path}", fps=60)
    seen = []
    renderer = SimpleNamespace(name="stub", needs_flame=False, pixel_format=SimpleNamespace(rgb=lambda p: p),
                               render_batch=lambda samples, flames: seen.extend(samples) or
                               [np.zeros((2, 2, 3), np.uint8)] * len(samples))
    job.render_frames(SimpleNamespace(renderer=renderer), tl, range(len(tl)))
    np.testing.assert_array_equal(np.stack([s.eye_left_rad for s in seen]), tl.eye_left_rad)
    np.testing.assert_array_equal(np.stack([s.eye_right_rad for s in seen]), tl.eye_right_rad)
    import dataclasses
    moved = dataclasses.replace(tl, eye_right_rad=tl.eye_right_rad + np.float32(0.01))
    parts = job.batches(len(tl), 1)
    assert job._batch_keys(tl, "k", parts) != job._batch_keys(moved, "k", parts)


def _render_cli(*args, tmp_path):
    out = tmp_path / "frames"
    result = subprocess.run(FACECAST + ["render", *map(str, args), "--out", str(out), "--renderer", "testpattern",
                                        "--size", "64x64"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return len(list(out.glob("frame_*.png"))), result


def test_render_csv_gives_the_takes_true_duration_times_fps(tmp_path):
    """frames 30-47 of a 60 fps take last 17.3/60 s: 9 frames at 30 fps (the old inference said 48 fps: 11)."""
    from test_csv_source import golden_take
    path, times, _ = golden_take(tmp_path / "take.csv", fps=60, start=(14, 23, 10, 30), rows=18)
    count, result = _render_cli(f"csv:{path}", tmp_path=tmp_path)
    assert count == int(np.floor(times[-1] * 30)) + 1 == 9
    assert "9 frames at 30 fps" in result.stdout


def test_render_a_take_folder_with_take_file_and_timecode_fps(tmp_path):
    """A 60 fps raw take that never reaches frame 30 reads as 30 fps; --timecode-fps 60 gives its true length."""
    from test_csv_source import golden_take
    folder = tmp_path / "take"
    folder.mkdir()
    golden_take(folder / "Slate_3_iPhone_cal.csv", fps=60, start=(14, 23, 10, 40), rows=40)
    _, times, _ = golden_take(folder / "Slate_3_iPhone_raw.csv", fps=60, start=(14, 23, 10, 0), rows=10)
    count, result = _render_cli(f"csv:{folder}", "--take-file", "raw", "--timecode-fps", "60", "--fps", "60",
                                tmp_path=tmp_path)
    assert count == int(np.floor(times[-1] * 60)) + 1 == 10
    assert "reading Slate_3_iPhone_raw.csv (--take-file raw)" in result.stderr


def test_run_calibrate_render_and_eval_share_one_definition_of_the_csv_options(tmp_path):
    import argparse

    from facecast.calibration.eval import fidelity
    from facecast.engine.cli import build_parser
    from test_csv_source import golden_take
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    commands = {"run": subs["run"], "render": subs["render"], "eval": subs["eval"],
                "calibrate neutral": next(a for a in subs["calibrate"]._actions
                                          if isinstance(a, argparse._SubParsersAction)).choices["neutral"]}
    for option in ("--timecode-fps", "--take-file"):
        found = {name: next(a for a in p._actions if option in a.option_strings) for name, p in commands.items()}
        assert len({(a.help, a.default, a.metavar, str(a.choices)) for a in found.values()}) == 1, option
    folder = tmp_path / "take"
    folder.mkdir()
    golden_take(folder / "Slate_3_iPhone_cal.csv", fps=60, start=(14, 23, 10, 40), rows=7)
    _, _, values = golden_take(folder / "Slate_3_iPhone_raw.csv", fps=60, start=(14, 23, 10, 0), rows=5)
    seq = fidelity.build_sequence(f"csv:{folder}", timecode_fps=60, take_file="raw")
    assert len(seq) == 5 and seq.weights[4, arkit_index("EyeBlinkLeft")] == pytest.approx(values[4, 0])
    with pytest.raises(ValueError, match="is for csv: recordings; standard is not one"):
        fidelity.build_sequence("standard", timecode_fps=60)
    with pytest.raises(ValueError, match="0 \\*_neutral.csv files"):
        fidelity.build_sequence(f"csv:{folder}", take_file="neutral")
