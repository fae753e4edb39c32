"""The Unity package's C# core and the Unreal plugin's C++ core, compiled here (mcs, g++) and run
against the real publisher: frames, checksums, sequence numbers, restarts, garbage, versions."""

import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

from facecast.bridge.protocol import ProtocolError, decode, encode_picture
from facecast.engine.types import FaceSample, FlameParams, Frame, PixelFormat

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = {
    "csharp": (ROOT / "unity_plugin/Tests/Cli~/build.sh", "mcs", ["mono"], "facecast_client_cli.exe"),
    "cpp": (ROOT / "unreal_plugin/FacecastBridge/Tools/build.sh", "g++", [], "facecast_client_cli"),
}
FACECAST = [sys.executable, "-m", "facecast.engine.cli"]


@pytest.fixture(scope="module", params=sorted(CLIENTS))
def client(request, tmp_path_factory):
    """The compiled client harness, as an argv prefix."""
    build, compiler, runner, exe = CLIENTS[request.param]
    if shutil.which(compiler) is None:
        pytest.fail(f"{compiler} is not installed; run 'make sysdeps' (Debian: mono-mcs, g++)")
    out = tmp_path_factory.mktemp(request.param)
    result = subprocess.run(["bash", str(build), str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    return runner + [str(out / exe)]


@pytest.mark.parametrize("path", ["unity_plugin/Runtime/Internal/ArkitNames.cs",
                                  "unreal_plugin/FacecastBridge/Source/FacecastBridge/Private/Transport/FacecastProtocol.cpp"])
def test_client_arkit_names_match_unreals_enum(path):
    """Each client's table, position by position, against Unreal's EARFaceBlendShape (test_types.py)."""
    import re

    from test_types import UNREAL_EAR_FACE_BLEND_SHAPE
    text = (ROOT / path).read_text()
    tongue = text.index("\"TongueOut\"")
    block = text[text.rindex("{", 0, tongue) + 1:text.index("}", tongue)]  # the whole array literal
    assert tuple(re.findall(r'"([^"]*)"', block)) == UNREAL_EAR_FACE_BLEND_SHAPE[:52]


def test_cpp_core_compiles_for_windows(tmp_path):
    """The Unreal plugin's transport has a Winsock branch: compile it with MinGW-w64."""
    compiler = shutil.which("x86_64-w64-mingw32-g++-posix")
    if compiler is None:
        pytest.fail("MinGW-w64 is not installed; run 'make sysdeps' (Debian: g++-mingw-w64-x86-64-posix)")
    src = ROOT / "unreal_plugin/FacecastBridge/Source/FacecastBridge"
    result = subprocess.run([compiler, "-std=c++17", "-O1", "-Wall", "-Wextra", f"-I{src / 'Public'}",
                             str(src / "Private/Transport/FacecastProtocol.cpp"),
                             str(src / "Private/Transport/FacecastZmtpClient.cpp"),
                             str(ROOT / "unreal_plugin/FacecastBridge/Tools/facecast_client_cli.cpp"),
                             "-o", str(tmp_path / "facecast_client_cli.exe"), "-lws2_32"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    assert (tmp_path / "facecast_client_cli.exe").read_bytes()[:2] == b"MZ"


class ClientRun:
    """A running client harness whose JSON lines are collected with arrival times."""

    def __init__(self, argv, endpoint, *args):
        self.proc = subprocess.Popen(argv + ["--connect", endpoint, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events: "queue.Queue[tuple[float, dict]]" = queue.Queue()
        self.all: list[tuple[float, dict]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                self.events.put((time.monotonic(), json.loads(line)))

    def next(self, timeout_s=10.0):
        item = self.events.get(timeout=timeout_s)
        self.all.append(item)
        return item

    def wait_for(self, predicate, timeout_s=10.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                t, event = self.next(max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if predicate(event):
                return t, event
        raise AssertionError(f"no matching event; last events: {[e for _, e in self.all[-5:]]}")

    def feed_until(self, send, predicate, timeout_s=10.0):
        """Call ``send(i)`` (i = 0, 1, ...) every ~20 ms until an event matches ``predicate``."""
        deadline = time.monotonic() + timeout_s
        i = 0
        while time.monotonic() < deadline and not any(predicate(e) for _, e in self.all):
            send(i)
            i += 1
            try:
                self.next(0.02)
            except queue.Empty:
                pass

    def finish(self, timeout_s=20.0):
        try:
            self.proc.wait(timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        while True:
            try:
                self.next(0.2)
            except queue.Empty:
                break
        return [e for _, e in self.all]


def start_engine(endpoint, seconds=30):
    proc = subprocess.Popen(FACECAST + ["run", "--source", "demo", "--renderer", "testpattern", "--checksum",
                                        "--fps", "60", "--publish", endpoint, "--duration", str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # printed once the socket is bound
    assert line.startswith("facecast:"), line
    return proc, time.monotonic()


def stop_engine(proc):
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)


def adjacent_share(seqs):
    """Share of received frames that directly follow the one received before them."""
    pairs = list(zip(seqs, seqs[1:]))
    return sum(b == a + 1 for a, b in pairs) / max(len(pairs), 1)


def test_receives_frames_with_checksums_and_sequence(client, endpoint):
    engine, _ = start_engine(endpoint)
    try:
        run = ClientRun(client, endpoint, "--count", "150", "--timeout", "10")
        events = run.finish(60)
    finally:
        stop_engine(engine)
    frames = [e for e in events if e["event"] == "frame"]
    assert len(frames) >= 140, events[-3:]
    assert all((f["width"], f["height"], f["format"], f["stride"]) == (512, 512, "rgba8", 2048) for f in frames)
    assert all(f["payload_bytes"] == 512 * 512 * 4 and f["crc_ok"] is True for f in frames)
    seqs = [f["seq"] for f in frames]
    # In order and mostly gap-free: a client that drops every other frame (or reorders) fails; a
    # scheduler hiccup on a loaded 2-core CI machine that costs a few 1 MB frames does not.
    assert all(b > a for a, b in zip(seqs, seqs[1:])), seqs
    assert adjacent_share(seqs) >= 0.8, seqs
    assert {"event": "connected"} in events and events[-1]["event"] == "done"


def test_jpeg_frames(client, endpoint, request):
    """--jpeg: the C# core decodes JPEG on its worker thread into rgb8 (the Unreal component uses
    the engine's ImageWrapper instead, so the C++ core hands the JPEG bytes on as they are)."""
    proc = subprocess.Popen(FACECAST + ["run", "--source", "demo", "--renderer", "testpattern", "--jpeg", "90",
                                        "--fps", "30", "--publish", endpoint, "--duration", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().startswith("facecast:")
    try:
        events = ClientRun(client, endpoint, "--count", "10", "--timeout", "10").finish(60)
    finally:
        stop_engine(proc)
    frames = [e for e in events if e["event"] == "frame"]
    assert len(frames) == 10
    if request.node.callspec.params["client"] == "csharp":  # decoded on the worker thread
        assert all(f["format"] == "rgb8" and (f["width"], f["height"], f["stride"]) == (512, 512, 1536) for f in frames)
        assert all(max(abs(a - b) for a, b in zip(f["rgb_at_4_4"], (230, 40, 40))) <= 12 for f in frames)
    else:
        assert all(f["format"] == "jpeg" and f["payload_bytes"] > 1000 for f in frames)


def test_survives_engine_restart(client, endpoint):
    engine, _ = start_engine(endpoint)
    run = ClientRun(client, endpoint, "--count", "100000", "--timeout", "20")
    # The restarted engine counts from 0 again. The old one is stopped past seq 150 (2.5 s at 60 fps),
    # so a frame below 150 is the new engine's for as long as the 2 s reconnection goal allows;
    # a lower mark made the test depend on where the client's back-off stood when the engine came back.
    old_mark = 150
    try:
        run.wait_for(lambda e: e["event"] == "frame" and e["seq"] >= old_mark)
        stop_engine(engine)
        engine, t_up = start_engine(endpoint)
        t_back, event = run.wait_for(lambda e: e["event"] == "frame" and e["seq"] < old_mark, timeout_s=10)
        assert t_back - t_up <= 2.0, f"reconnected {t_back - t_up:.2f} s after the engine came back"
        run.wait_for(lambda e: e["event"] == "frame" and event["seq"] + 20 <= e["seq"] < old_mark)
    finally:
        stop_engine(engine)
        run.proc.terminate()
        run.finish(10)


def raw_publisher(endpoint):
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.PUB)
    sock.bind(endpoint)
    return sock


DELETE = object()


def valid_message(seq, *, major=1, **changes):
    """A valid picture message; ``changes`` replace header values (``DELETE`` removes a key)."""
    frame = Frame(sample=FaceSample(capture_wall_ns=time.time_ns(), weights=np.full(52, 0.5)),
                  pixels=np.full((8, 8, 4), 7, np.uint8), pixel_format=PixelFormat.RGBA8)
    parts = encode_picture(frame, seq=seq, t_send_ns=time.time_ns(), with_crc32=True)
    changes = dict(changes, v=major) if major != 1 else changes
    if changes:
        header = msgpack.unpackb(parts[1], raw=False)
        for key, value in changes.items():
            if value is DELETE:
                header.pop(key, None)
            else:
                header[key] = value
        parts[1] = msgpack.packb(header, use_bin_type=True)
    return [bytes(p) for p in parts]


def invalid_utf8_message(seq):
    parts = valid_message(seq, identity="\u00e9")
    assert parts[1].count(b"\xa2\xc3\xa9") == 1
    parts[1] = parts[1].replace(b"\xa2\xc3\xa9", b"\xa2\xc3\x28")  # a 2-byte str that is not UTF-8
    return parts


def wrong_crc_message(seq):
    parts = valid_message(seq)
    header = msgpack.unpackb(parts[1], raw=False)
    header["crc32"] = (header["crc32"] + 1) % 2**32  # the payload is intact; its checksum is not
    parts[1] = msgpack.packb(header, use_bin_type=True)
    return parts


#: Malformed headers and the reason every decoder must give (bridge/protocol.py is the reference).
AGREEMENT_CASES = {
    "crc32": wrong_crc_message,
    "wrong-type": lambda seq: valid_message(seq, eyes_rad="bad"),
    "bad-array": lambda seq: valid_message(seq, eyes_rad=[0.1, 0.2]),
    "not-finite": lambda seq: valid_message(seq, head_rad=[1e300, 0.0, 0.0]),  # finite double, infinite float
    "not-msgpack": invalid_utf8_message,
}


def detailed_frame(seq: int, *, flame: bool, pixel_format: PixelFormat) -> tuple[Frame, int]:
    """A frame whose every field has its own value: 52 distinct weights, 55 FLAME values, head and both
    eyes, a non-ASCII identity, an odd width (stride != width), random pixels. Returns it and t_send_ns."""
    rng = np.random.default_rng(seq)
    sample = FaceSample(capture_wall_ns=1_700_000_000_123_456_789 + seq,
                        weights=(0.005 + 0.019 * np.arange(52)).astype(np.float32),
                        head_rad=np.array([0.11, -0.12, 0.13], np.float32),
                        eye_left_rad=np.array([0.021, -0.022, 0.023], np.float32),
                        eye_right_rad=np.array([-0.031, 0.032, -0.033], np.float32), source="livelink",
                        mouth="audio" if flame else "mixed")
    params = FlameParams(expression=np.linspace(-2.5, 2.5, 50).astype(np.float32),
                         eyelid=np.array([0.25, 0.75], np.float32),
                         jaw_rad=np.array([0.3, -0.05, 0.1], np.float32)) if flame else None
    pixels = rng.integers(0, 256, (5, 7, pixel_format.channels), dtype=np.uint8)
    frame = Frame(sample=sample, pixels=pixels, pixel_format=pixel_format, flame=params,
                  identity="Eileen Collins \u00e9", render_wall_ns=1_700_000_000_223_456_789 + seq, repeated=flame)
    return frame, 1_700_000_000_323_456_789 + seq


def as_f32(values) -> list:
    return [float(v) for v in np.asarray(values, np.float32)]


@pytest.mark.parametrize("flame, pixel_format", [(True, PixelFormat.RGBA8), (False, PixelFormat.RGB8),
                                                 (True, PixelFormat.BGRA8)])
def test_decodes_every_field_as_sent(client, endpoint, flame, pixel_format):
    """Each decoded value the client prints equals what the Python encoder sent: all 52 ARKit values and
    55 FLAME values (as float32, exactly), head and eye angles, identity, source, seq, the three
    timestamps, width, height, stride, format, flags, and the payload (its CRC-32 and the header's)."""
    pub = raw_publisher(endpoint)
    run = ClientRun(client, endpoint, "--count", "100000", "--timeout", "10")
    seq = 4242
    frame, t_send_ns = detailed_frame(seq, flame=flame, pixel_format=pixel_format)
    parts = [bytes(p) for p in encode_picture(frame, seq=seq, t_send_ns=t_send_ns, with_crc32=True)]
    try:
        run.feed_until(lambda _: pub.send_multipart(parts), lambda e: e["event"] == "frame" and e["seq"] == seq)
    finally:
        run.proc.terminate()
        run.finish(10)
        pub.close(0)
    got = next(e for _, e in run.all if e["event"] == "frame" and e["seq"] == seq)
    for key in ("arkit", "flame", "head_rad", "eyes_rad"):  # printed with 9 digits: the same float32
        got[key] = None if got.get(key) is None else as_f32(got[key])
    s = frame.sample
    h, w, c = frame.pixels.shape
    want = {
        "topic": "facecast.frame", "width": w, "height": h, "stride": w * c, "format": pixel_format.value,
        "payload_bytes": frame.pixels.nbytes, "payload_crc32": zlib.crc32(frame.pixels.tobytes()), "crc_ok": True,
        "t_capture_ns": s.capture_wall_ns, "t_render_ns": frame.render_wall_ns, "t_send_ns": t_send_ns,
        "identity": frame.identity, "source": s.source, "valid": True, "repeated": frame.repeated, "mouth": s.mouth,
        "arkit": as_f32(s.weights), "flame": as_f32(frame.flame.as_vector()) if flame else None,
        "head_rad": as_f32(s.head_rad), "eyes_rad": as_f32(np.concatenate([s.eye_left_rad, s.eye_right_rad])),
    }
    wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    assert not wrong, wrong


def test_ignores_garbage(client, endpoint):
    pub = raw_publisher(endpoint)
    run = ClientRun(client, endpoint, "--count", "100000", "--timeout", "10")
    try:
        def send(seq):
            pub.send_multipart([b"facecast.frame", b"\xc1junk", b""])
            pub.send_multipart([b"facecast.frame", msgpack.packb({"v": 1, "v_minor": 0}), b""])
            pub.send_multipart([b"facecast.frame"])
            pub.send_multipart(valid_message(seq))

        run.feed_until(send, lambda e: e["event"] == "rejected")
        assert any(e["event"] == "rejected" for _, e in run.all), [e for _, e in run.all][:10]
        rejected_at = len(run.all)
        # ... and it keeps receiving valid frames after the garbage.
        run.feed_until(lambda i: send(1000 + i), lambda e: e["event"] == "frame" and e["seq"] >= 1000)
        assert any(e["event"] == "frame" for _, e in run.all[rejected_at:])
        frames = [e for _, e in run.all if e["event"] == "frame"]
        assert frames and all(f["width"] == 8 and f["crc_ok"] is True for f in frames)
    finally:
        run.proc.terminate()
        run.finish(10)
        pub.close(0)


@pytest.mark.parametrize("reason", sorted(AGREEMENT_CASES))
def test_python_decoder_reference_reasons(reason):
    with pytest.raises(ProtocolError) as err:
        decode(AGREEMENT_CASES[reason](1))
    assert err.value.reason == reason


def test_rejects_for_the_same_reasons_as_the_python_decoder(client, endpoint):
    pub = raw_publisher(endpoint)
    run = ClientRun(client, endpoint, "--count", "100000", "--timeout", "10")
    try:
        run.feed_until(lambda i: pub.send_multipart(valid_message(i)), lambda e: e["event"] == "frame")
        for k, (reason, make) in enumerate(sorted(AGREEMENT_CASES.items())):
            run.feed_until(lambda _: pub.send_multipart(make(5000 + k)),
                           lambda e: e["event"] == "rejected" and e["reason"] == reason)
        assert not [e for _, e in run.all if e["event"] == "frame" and 5000 <= e["seq"] < 6000]
    finally:
        run.proc.terminate()
        run.finish(10)
        pub.close(0)


def test_reports_newer_major_version(client, endpoint):
    pub = raw_publisher(endpoint)
    run = ClientRun(client, endpoint, "--count", "100000", "--timeout", "10")
    # A newer major is reported as such even when it lacks keys version 1 requires (PROTOCOL.md 3.1).
    newer = valid_message(1, major=2, v_minor=DELETE, format=DELETE)
    try:
        run.feed_until(lambda _: pub.send_multipart(newer), lambda e: e["event"] == "version_error")
        for _ in range(20):  # keep sending: reported once, not per message
            pub.send_multipart(newer)
        time.sleep(0.3)
        run.proc.terminate()
        events = run.finish(10)
        errors = [e for e in events if e["event"] == "version_error"]
        assert len(errors) == 1, events[:10]
        assert "2" in errors[0]["message"] and "update" in errors[0]["message"].lower()
        assert not any(e["event"] == "frame" for e in events)
    finally:
        pub.close(0)


def test_newest_wins_after_a_burst(client, endpoint):
    """A burst of large JPEG pictures: the client must deliver the newest one promptly and
    drop the older ones unshown (the C# core decodes only the picture it delivers)."""
    import io

    from PIL import Image
    rng = np.random.default_rng(5)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=95)
    frame = Frame(sample=FaceSample(capture_wall_ns=time.time_ns(), weights=np.full(52, 0.5)),
                  pixels=np.zeros((512, 512, 3), np.uint8), pixel_format=PixelFormat.RGB8)
    burst = [[bytes(p) for p in encode_picture(frame, seq=seq, t_send_ns=time.time_ns(), jpeg=buf.getvalue())]
             for seq in range(1000, 1150)]
    pub = raw_publisher(endpoint)
    run = ClientRun(client, endpoint, "--count", "100000", "--timeout", "10")
    try:
        run.feed_until(lambda i: pub.send_multipart(valid_message(i)), lambda e: e["event"] == "frame")
        for parts in burst:
            pub.send_multipart(parts)
        sent = time.monotonic()
        t_last, _ = run.wait_for(lambda e: e["event"] == "frame" and e["seq"] == 1149, timeout_s=20)
        shown = [e for _, e in run.all if e["event"] == "frame" and e["seq"] >= 1000]
        assert len(shown) < 75, f"{len(shown)} of 150 burst pictures delivered: older ones were not dropped"
        assert t_last - sent < 3.0, f"the newest picture came {t_last - sent:.1f} s after the burst"
    finally:
        run.proc.terminate()
        run.finish(10)
        pub.close(0)


def mutated_messages(count, seed=7):
    """Valid messages with flipped bytes, truncations, odd frame counts and wrong-typed values."""
    import random
    rng = random.Random(seed)
    base = valid_message(1)
    header = msgpack.unpackb(base[1], raw=False)
    odd_values = [None, True, -1, 2**64 - 1, 1.5, float("nan"), "x" * 300, b"\x00" * 999, [1, [2, [3]]],
                  {"a": {"b": 1}}, msgpack.ExtType(5, b"abc")]
    out = []
    for _ in range(count):
        kind = rng.randrange(5)
        if kind == 0:
            h = bytearray(base[1])
            for _ in range(rng.randint(1, 8)):
                h[rng.randrange(len(h))] = rng.randrange(256)
            out.append([base[0], bytes(h), base[2]])
        elif kind == 1:
            out.append([base[0], base[1][: rng.randrange(len(base[1]))], base[2]])
        elif kind == 2:
            out.append([base[0], base[1], base[2][: rng.randrange(len(base[2]) + 1)]])
        elif kind == 3:
            h = dict(header)
            h[rng.choice(sorted(h))] = rng.choice(odd_values)
            out.append([base[0], msgpack.packb(h, use_bin_type=True), base[2]])
        else:
            out.append([base[0]] * rng.randint(1, 5))
    return out


def test_survives_fuzzed_messages(client, endpoint):
    pub = raw_publisher(endpoint)
    run = ClientRun(client, endpoint, "--count", "100000", "--timeout", "10")
    try:
        run.feed_until(lambda _: pub.send_multipart(valid_message(0)), lambda e: e["event"] == "frame")
        for i, parts in enumerate(mutated_messages(2000)):
            pub.send_multipart(parts)
            if i % 50 == 0:
                time.sleep(0.005)  # stay under the high-water mark so the client sees them all
        run.feed_until(lambda i: pub.send_multipart(valid_message(1000 + i)),
                       lambda e: e["event"] == "frame" and e["seq"] >= 1000)
        assert run.proc.poll() is None, "the client died"
        events = [e for _, e in run.all]
        assert any(e["event"] == "frame" and e["seq"] >= 1000 for e in events)
        assert len({e["reason"] for e in events if e["event"] == "rejected"}) >= 3
    finally:
        run.proc.terminate()
        run.finish(10)
        pub.close(0)


@pytest.mark.parametrize("name,options,max_mean_diff", [
    ("444", dict(quality=90, subsampling=0), 0.2),
    ("420", dict(quality=85), 1.0),          # nearest chroma upsampling vs Pillow's smooth one
    ("restart", dict(quality=90, restart_marker_blocks=7), 1.0),
    ("odd-size", dict(quality=75), 1.0),
    ("gray", dict(quality=80), 0.2),
])
def test_csharp_jpeg_decoder_matches_pillow(tmp_path_factory, name, options, max_mean_diff):
    from PIL import Image
    from skimage import data

    if shutil.which("mcs") is None:
        pytest.fail("mcs is not installed; run 'make sysdeps'")
    out = tmp_path_factory.getbasetemp() / "jpeg_cli"
    if not (out / "jpeg_decode_cli.exe").exists():
        subprocess.run(["bash", str(CLIENTS["csharp"][0]), str(out)], check=True, capture_output=True)
    image = data.camera() if name == "gray" else data.astronaut()
    if name == "odd-size":
        image = image[:301, :257]
    path = tmp_path_factory.mktemp("jpeg") / f"{name}.jpg"
    Image.fromarray(image).save(path, **options)
    raw = path.with_suffix(".rgb")
    result = subprocess.run(["mono", str(out / "jpeg_decode_cli.exe"), str(path), str(raw)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert result.stdout.split() == [str(expected.shape[1]), str(expected.shape[0])]
    got = np.frombuffer(raw.read_bytes(), np.uint8).reshape(expected.shape).astype(int)
    assert np.abs(got - expected).mean() <= max_mean_diff
