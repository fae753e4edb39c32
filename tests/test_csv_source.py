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
