import logging
import random
import time

import numpy as np
import pytest

from conftest import running
from facecast.engine.sources import SourceError, SourceOptions, open_source
from facecast.engine.sources.livelink_csv import LiveLinkCsvSource, load_recording
from facecast.engine.types import ARKIT_NAMES, arkit_index

# Live Link Face's own CSV column order (it differs from the UDP/enum order).
CSV_SHAPES = list(ARKIT_NAMES)
for a, b in (("JawLeft", "JawRight"), ("MouthLeft", "MouthRight")):
    i, j = CSV_SHAPES.index(a), CSV_SHAPES.index(b)
    CSV_SHAPES[i], CSV_SHAPES[j] = CSV_SHAPES[j], CSV_SHAPES[i]
ANGLES = ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
          "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]


def value(row, name):
    """Deterministic test value of a column in a row."""
    return round((row * 7 + CSV_SHAPES.index(name) if name in CSV_SHAPES else row) % 100 / 100, 2)


def write_csv(path, rows=30, *, fps=60, columns=None, start_frame=40, bad_lines=()):
    columns = columns or ["Timecode", "BlendShapeCount"] + CSV_SHAPES + ANGLES
    lines = [",".join(columns)]
    for r in range(rows):
        frame = start_frame + r
        tc = f"10:20:{30 + frame // fps:02d}:{frame % fps:02d}.{r % 10}00"
        fields = []
        for c in columns:
            if c == "Timecode":
                fields.append(tc)
            elif c == "BlendShapeCount":
                fields.append("61")
            elif c in ANGLES:
                fields.append(str(0.01 * (ANGLES.index(c) + 1)))
            else:
                fields.append(str(value(r, c)))
        lines.append(",".join(fields))
    for line_index, text in bad_lines:
        lines[line_index] = text
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parses_by_header_name(tmp_path):
    rec = load_recording(write_csv(tmp_path / "a.csv"))
    assert len(rec) == 30 and rec.fps == 60 and rec.skipped_rows == 0
    for r in (0, 5, 29):
        for name in ("JawLeft", "JawRight", "MouthLeft", "EyeBlinkLeft", "TongueOut"):
            assert rec.weights[r, arkit_index(name)] == pytest.approx(value(r, name))
    np.testing.assert_allclose(rec.head_rad[0], [0.01, 0.02, 0.03])
    np.testing.assert_allclose(rec.eye_right_rad[0], [0.07, 0.08, 0.09])
    # 60 fps timecode with sub-frame fractions: row 1 is 1/60 s + 0.1 frame after row 0.
    assert rec.times_s[1] == pytest.approx((1 + 0.1) / 60)
    assert np.all(np.diff(rec.times_s) > 0)


def test_shuffled_columns_give_same_result(tmp_path):
    cols = ["Timecode", "BlendShapeCount"] + CSV_SHAPES + ANGLES
    shuffled = cols[:]
    random.Random(3).shuffle(shuffled)
    a = load_recording(write_csv(tmp_path / "a.csv", columns=cols))
    b = load_recording(write_csv(tmp_path / "b.csv", columns=shuffled))
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.times_s, b.times_s)
    np.testing.assert_array_equal(a.head_rad, b.head_rad)


def test_missing_columns_warn_and_play_zero(tmp_path, caplog):
    cols = ["Timecode"] + [c for c in CSV_SHAPES if c not in ("JawOpen", "TongueOut")]
    with caplog.at_level(logging.WARNING):
        rec = load_recording(write_csv(tmp_path / "a.csv", columns=cols))
    assert "JawOpen" in caplog.text and "TongueOut" in caplog.text
    assert not rec.weights[:, arkit_index("JawOpen")].any()
    assert rec.weights[3, arkit_index("EyeBlinkLeft")] == pytest.approx(value(3, "EyeBlinkLeft"))
    assert rec.head_rad is None


def test_bad_rows_skipped_with_line_numbers(tmp_path, caplog):
    path = write_csv(tmp_path / "a.csv", rows=10)
    lines = path.read_text().splitlines()
    fields = lines[3].split(",")
    fields[5] = "abc"
    lines[3] = ",".join(fields)
    fields = lines[5].split(",")
    fields[6] = "nan"
    lines[5] = ",".join(fields)
    lines[7] = lines[7].rsplit(",", 3)[0]  # truncated row
    lines[8] = "99:xx:00:00.0" + lines[8][lines[8].index(","):]
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        rec = load_recording(path)
    assert len(rec) == 6 and rec.skipped_rows == 4
    for line in (4, 6, 8, 9):  # 1-based file lines
        assert f"line {line} skipped" in caplog.text


def test_out_of_range_values_are_clamped(tmp_path):
    path = write_csv(tmp_path / "a.csv", rows=3)
    text = path.read_text().splitlines()
    fields = text[1].split(",")
    fields[2] = "1.7"
    fields[3] = "-0.5"
    text[1] = ",".join(fields)
    path.write_text("\n".join(text))
    rec = load_recording(path)
    assert rec.weights[0, arkit_index(CSV_SHAPES[0])] == 1.0 and rec.weights[0, arkit_index(CSV_SHAPES[1])] == 0


@pytest.mark.parametrize("content,match", [
    ("", "empty"),
    ("a,b,c\n1,2,3\n", "no 'Timecode'"),
    ("Timecode,Foo\n10:00:00:01.0,1\n", "none of the 52"),
    ("Timecode,JawOpen\n10:00:00:01.0,x\nbad,0.5\n", "no usable rows"),
    ("Timecode,JawOpen\n", "no usable rows"),
])
def test_unusable_files_are_errors(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(SourceError, match=match):
        load_recording(path)


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(SourceError, match="cannot read"):
        load_recording(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(SourceError, match="UTF-8"):
        load_recording(tmp_path / "bin.csv")


def test_fps_inference_and_override(tmp_path):
    rec = load_recording(write_csv(tmp_path / "a.csv", rows=80, fps=30, start_frame=0))
    assert rec.fps == 30
    rec = load_recording(tmp_path / "a.csv", timecode_fps=50)
    assert rec.fps == 50


def test_playback_timing_and_loop(tmp_path):
    path = write_csv(tmp_path / "a.csv", rows=12, start_frame=0)
    src = LiveLinkCsvSource(path, loop=True, timecode_fps=60)
    got = []
    with running(src, lambda s: got.append((time.monotonic(), s))):
        t0 = time.monotonic()
        time.sleep(0.5)
    # 12 rows at 60 fps (plus sub-frames) last 0.2 s: about 2.5 laps in 0.5 s.
    assert 24 <= len(got) <= 34
    first_lap = [ts - t0 for ts, _ in got[:12]]
    np.testing.assert_allclose(first_lap, src.recording.times_s, atol=0.03)
    assert got[12][1].weights[arkit_index("JawOpen")] == got[0][1].weights[arkit_index("JawOpen")]
    assert all(s.source == "csv" for _, s in got)


def test_open_source_specs(tmp_path):
    assert open_source("demo").name == "demo"
    assert open_source(f"csv:{tmp_path}/x.csv").name == "csv"
    assert open_source(f"csv:{tmp_path}/x.csv", SourceOptions(loop=True))._loop
    with pytest.raises(SourceError, match="known sources"):
        open_source("telepathy:0")
    with pytest.raises(SourceError):
        open_source("csv:")


# --------------------------------------------------------------------------- #
# Golden files in the app's exact format (issue 25)
# --------------------------------------------------------------------------- #

APP_HEADER = ["Timecode", "BlendShapeCount"] + CSV_SHAPES + ANGLES  # 63 columns, as Live Link Face writes


def golden_value(row: int, col: int) -> float:
    """Value of data column ``col`` (0 = the first shape) in ``row``: distinct across columns and rows;
    shapes in [0, 1), the nine angles signed radians."""
    if col < 52:
        return (col * 0.0189 + row * 0.000731 + 0.0003) % 1.0
    return (col - 56) * 0.0731 + row * 0.00113 - 0.0005


def golden_take(path, *, fps, start, rows, header=None, row_end="", header_end=""):
    """A take in the app's format: ``start`` = (h, m, s, frame) of the first row, one row per frame,
    each with a sub-frame fraction; values with 10 decimals; LF line ends.

    Returns (path, expected seconds of each row from the first, expected (rows, 61) values)."""
    h, m, s, f = start
    first = ((h * 60 + m) * 60 + s) * fps + f
    lines = [",".join(header or APP_HEADER) + header_end]
    times, values = [], []
    for r in range(rows):
        frame = (first + r) % (86400 * fps)  # wraps at midnight
        frac = (r * 137 + 61) % 1000
        sec, ff = divmod(frame, fps)
        tc = f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}:{ff:02d}.{frac:03d}"
        row_values = [golden_value(r, c) for c in range(61)]
        lines.append(",".join([tc, "61"] + [f"{v:.10f}" for v in row_values]) + row_end)
        times.append((r + frac / 1000) / fps)
        values.append([float(f"{v:.10f}") for v in row_values])
    path.write_text("\n".join(lines) + "\n", newline="\n")
    return path, np.array(times) - times[0], np.array(values)


def check_every_value(rec, times, values):
    assert len(rec) == len(times) and rec.skipped_rows == 0
    np.testing.assert_allclose(rec.times_s, times, rtol=0, atol=1e-9)
    for c, name in enumerate(CSV_SHAPES):
        np.testing.assert_allclose(rec.weights[:, arkit_index(name)], values[:, c], rtol=1e-6, atol=0,
                                   err_msg=name)
    for arr, first in ((rec.head_rad, 52), (rec.eye_left_rad, 55), (rec.eye_right_rad, 58)):
        np.testing.assert_allclose(arr, values[:, first:first + 3], rtol=1e-6, atol=1e-9)


def test_golden_values_are_distinct_per_column():
    v = np.array([[golden_value(r, c) for c in range(61)] for r in range(120)])
    assert all(len(set(np.round(row, 10))) == 61 for row in v)  # a swapped column would show
    assert v[:, :52].min() >= 0 and v[:, :52].max() < 1 and v[:, 52:].min() < 0 < v[:, 52:].max()


@pytest.mark.parametrize("fps,start,rows", [
    (60, (14, 23, 10, 5), 150),   # 60 fps, 2.5 s, crossing second boundaries
    (30, (14, 23, 10, 5), 75),    # 30 fps, 2.5 s
    (60, (14, 23, 10, 44), 3),    # 3 rows (the old inference said 48 fps)
    (30, (14, 23, 10, 5), 3),     # 3 rows at 30 fps (the old inference said 24)
    (60, (14, 23, 10, 40), 10),   # 10 rows (the old inference said 50)
    (30, (14, 23, 10, 0), 10),    # 10 rows at 30 fps (the old inference said 24)
    (60, (14, 23, 10, 30), 18),   # frames 30-47 (the old inference said 48)
    (60, (14, 23, 10, 55), 10),   # shorter than a second, across a second boundary
    (30, (14, 23, 10, 25), 10),
    (60, (23, 59, 59, 50), 30),   # across midnight
    (30, (23, 59, 59, 25), 15),
])
def test_golden_takes_every_value_and_frame_time(tmp_path, fps, start, rows):
    path, times, values = golden_take(tmp_path / "take.csv", fps=fps, start=start, rows=rows)
    header = path.read_text().splitlines()[0].split(",")
    assert len(header) == 63 and header[:3] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft"]
    rec = load_recording(path)
    assert rec.fps == fps
    check_every_value(rec, times, values)


def test_the_frame_rate_rule_of_the_app():
    from facecast.engine.sources.livelink_csv import infer_fps
    assert [infer_fps(f) for f in (0, 2.9, 29.999, 30.0, 30.5, 47, 59.999)] == [30, 30, 30, 60, 60, 60, 60]
    assert infer_fps(75) == 120  # not the app's: assumed, with a warning


def test_a_60fps_take_that_never_reaches_frame_30_needs_the_override(tmp_path):
    path, times, values = golden_take(tmp_path / "take.csv", fps=60, start=(14, 23, 10, 0), rows=3)
    assert load_recording(path).fps == 30  # as Epic's importer reads it: nothing says 60 here
    check_every_value(load_recording(path, timecode_fps=60), times, values)


def test_an_override_below_the_frame_numbers_warns(tmp_path, caplog):
    path, _, _ = golden_take(tmp_path / "take.csv", fps=60, start=(14, 23, 10, 40), rows=10)
    with caplog.at_level(logging.WARNING):
        assert load_recording(path, timecode_fps=30).fps == 30
    assert "not below --timecode-fps 30" in caplog.text


@pytest.mark.parametrize("variant", ["data rows end with a comma", "the header ends with a comma",
                                     "both end with a comma", "camelCase header", "CRLF and BOM"])
def test_files_from_other_tools(tmp_path, variant):
    header = None
    if variant == "camelCase header":
        header = ["Timecode", "BlendshapeCount"] + [n[0].lower() + n[1:] for n in CSV_SHAPES + ANGLES]
    row_end = "," if variant in ("data rows end with a comma", "both end with a comma") else ""
    header_end = "," if variant in ("the header ends with a comma", "both end with a comma") else ""
    path, times, values = golden_take(tmp_path / "take.csv", fps=60, start=(14, 23, 10, 5), rows=40,
                                      header=header, row_end=row_end, header_end=header_end)
    if variant == "CRLF and BOM":
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    check_every_value(load_recording(path), times, values)


def test_a_missing_last_value_is_still_a_bad_row(tmp_path, caplog):
    path, _, _ = golden_take(tmp_path / "take.csv", fps=60, start=(14, 23, 10, 5), rows=5)
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ","  # the last value left empty
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        rec = load_recording(path)
    assert len(rec) == 4 and "line 3 skipped: has 62 fields, the header has 63" in caplog.text


def make_take_folder(folder, *, kinds=("cal", "raw", "neutral")):
    """A take folder of newer app versions; each file's EyeBlinkLeft tells which it is."""
    folder.mkdir()
    (folder / "take.json").write_text("{}")
    for k, kind in enumerate(kinds):
        path, _, _ = golden_take(folder / f"Slate_3_iPhone_{kind}.csv", fps=60, start=(14, 23, 10, 5), rows=12)
        lines = path.read_text().splitlines()
        lines[1:] = [",".join(line.split(",")[:2] + [f"0.{k + 1}"] + line.split(",")[3:]) for line in lines[1:]]
        path.write_text("\n".join(lines) + "\n")
    return folder


def test_a_take_folder_reads_cal_unless_told(tmp_path, caplog):
    folder = make_take_folder(tmp_path / "take")
    blink = arkit_index("EyeBlinkLeft")
    with caplog.at_level(logging.INFO):
        rec = load_recording(folder)
    assert rec.path.name == "Slate_3_iPhone_cal.csv" and rec.weights[0, blink] == pytest.approx(0.1)
    assert "reading Slate_3_iPhone_cal.csv" in caplog.text
    assert load_recording(folder, take_file="raw").weights[0, blink] == pytest.approx(0.2)
    assert load_recording(folder, take_file="neutral").weights[0, blink] == pytest.approx(0.3)
    src = LiveLinkCsvSource(folder, take_file="raw")
    src.open()
    assert src.recording.path.name == "Slate_3_iPhone_raw.csv"


def test_take_folder_errors_say_what_to_do(tmp_path):
    folder = make_take_folder(tmp_path / "take", kinds=("raw",))
    with pytest.raises(SourceError, match=r"0 \*_cal.csv files .*Slate_3_iPhone_raw.csv.*--take-file raw"):
        load_recording(folder)
    with pytest.raises(SourceError, match="not a folder: give the take folder"):
        load_recording(folder / "Slate_3_iPhone_raw.csv", take_file="raw")
    with pytest.raises(SourceError, match="use one of cal, raw, neutral"):
        load_recording(folder, take_file="calibrated")


def test_calibrate_neutral_from_a_take_folder_and_the_take_file_errors(tmp_path):
    import os
    import subprocess
    import sys

    folder = make_take_folder(tmp_path / "take")
    cli = [sys.executable, "-m", "facecast.engine.cli"]
    env = dict(os.environ, FACECAST_CONFIG_DIR=str(tmp_path / "config"))
    r = subprocess.run(cli + ["calibrate", "neutral", "--source", f"csv:{folder}", "--take-file", "neutral", "--loop",
                              "--seconds", "0.5", "--profile", "me"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "reading Slate_3_iPhone_neutral.csv (--take-file neutral)" in r.stderr
    shown = subprocess.run(cli + ["calibrate", "show", "me"], capture_output=True, text=True, env=env, timeout=60)
    blink = next(line for line in shown.stdout.splitlines() if line.startswith("EyeBlinkLeft"))
    assert blink.split()[1] == "0.300"  # the neutral file's value, not the cal file's 0.1
    bad = subprocess.run(cli + ["run", "--source", "demo", "--take-file", "raw", "--renderer", "none"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--take-file is for csv: recordings; demo is not one" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("tool_fps, read_fps", [(25, 30), (50, 60)])
def test_a_take_at_another_tools_rate_says_so(tmp_path, caplog, tool_fps, read_fps):
    """Not a Live Link Face rate: read with the app's rule, and a warning naming --timecode-fps."""
    path = tmp_path / "take.csv"
    golden_take(path, fps=tool_fps, start=(14, 23, 10, 0), rows=3 * tool_fps)
    with caplog.at_level("WARNING"):
        rec = load_recording(path)
    assert rec.fps == read_fps and f"--timecode-fps {tool_fps}" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert load_recording(path, timecode_fps=tool_fps).fps == tool_fps
    assert "timecode" not in caplog.text


def test_csv_options_for_another_source_are_refused():
    for spec, options in (("demo", SourceOptions(timecode_fps=60)), ("webcam:0", SourceOptions(take_file="raw"))):
        with pytest.raises(SourceError, match="for csv: recordings"):
            open_source(spec, options)
