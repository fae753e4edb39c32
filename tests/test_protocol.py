import zlib

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facecast.bridge import protocol
from facecast.bridge.protocol import (TOPIC_FRAME, TOPIC_PARAMS, ProtocolError, VersionError, decode,
                                      encode_params, encode_picture)
from facecast.engine.types import FaceSample, FlameParams, Frame, PixelFormat


def make_frame(fmt="rgba8", w=8, h=6, flame=True):
    rng = np.random.default_rng(0)
    sample = FaceSample(capture_wall_ns=1_700_000_000_000_000_000, weights=rng.random(52),
                        head_rad=[0.1, -0.2, 0.3], eye_left_rad=[0.01, 0.02, 0], eye_right_rad=[0.03, 0.04, 0],
                        source="demo")
    pixels = None
    if fmt != "none":
        pixels = rng.integers(0, 255, (h, w, PixelFormat(fmt).channels), dtype=np.uint8)
    fl = FlameParams.from_vector(np.r_[rng.normal(size=50), 0.5, 0.5, 0.1, 0.05, -0.05]) if flame else None
    return Frame(sample=sample, pixels=pixels, pixel_format=fmt, flame=fl, identity="ada",
                 render_wall_ns=1_700_000_000_001_000_000)


def header_of(parts):
    return msgpack.unpackb(parts[1], raw=False)


def with_header(parts, **changes):
    h = header_of(parts)
    for k, v in changes.items():
        if v is ...:
            h.pop(k)
        else:
            h[k] = v
    return [parts[0], msgpack.packb(h, use_bin_type=True), parts[2]]


@pytest.mark.parametrize("fmt", ["rgb8", "rgba8", "bgra8"])
def test_picture_round_trip(fmt):
    frame = make_frame(fmt)
    parts = encode_picture(frame, seq=7, t_send_ns=123, with_crc32=True)
    assert parts[0] == TOPIC_FRAME
    msg = decode([bytes(p) for p in parts])
    assert msg.seq == 7 and msg.version == (1, 1) and msg.t_send_ns == 123
    assert msg.t_capture_ns == frame.sample.capture_wall_ns and msg.t_render_ns == frame.render_wall_ns
    assert (msg.width, msg.height, msg.pixel_format) == (8, 6, PixelFormat(fmt))
    assert msg.stride == 8 * PixelFormat(fmt).channels
    np.testing.assert_array_equal(msg.pixels, frame.pixels)
    np.testing.assert_array_equal(msg.arkit, frame.sample.weights)
    np.testing.assert_allclose(msg.flame, frame.flame.as_vector())
    np.testing.assert_allclose(msg.head_rad, [0.1, -0.2, 0.3], atol=1e-6)
    np.testing.assert_allclose(msg.eyes_rad, [0.01, 0.02, 0, 0.03, 0.04, 0], atol=1e-6)
    assert msg.identity == "ada" and msg.source == "demo" and msg.valid and not msg.repeated


def test_payload_is_zero_copy_view_of_pixels():
    frame = make_frame()
    parts = encode_picture(frame, seq=0, t_send_ns=0)
    assert isinstance(parts[2], memoryview) and parts[2].obj is frame.pixels


def test_params_round_trip_has_no_pixels():
    frame = make_frame(flame=False)
    parts = encode_params(frame, seq=3, t_send_ns=5)
    assert parts[0] == TOPIC_PARAMS and parts[2] == b""
    msg = decode(parts)
    assert msg.pixels is None and msg.pixel_format is PixelFormat.NONE and msg.flame is None
    assert (msg.width, msg.height, msg.stride) == (0, 0, 0)
    np.testing.assert_array_equal(msg.arkit, frame.sample.weights)


def test_header_is_little_endian_float32_bytes():
    parts = encode_params(make_frame(), seq=0, t_send_ns=0)
    h = header_of(parts)
    assert len(h["arkit"]) == 208 and len(h["flame"]) == 220
    np.testing.assert_array_equal(np.frombuffer(h["arkit"], "<f4"), make_frame().sample.weights)
    for key in ("v", "v_minor", "seq", "t_capture_ns", "t_render_ns", "t_send_ns", "width", "height",
                "stride", "format", "rows", "identity", "arkit", "flame", "head_rad"):
        assert key in h
    assert h["rows"] == "top-down"


def test_jpeg_payload():
    frame = make_frame("rgb8")
    parts = encode_picture(frame, seq=1, t_send_ns=0, jpeg=b"\xff\xd8fakejpeg\xff\xd9")
    msg = decode(parts)
    assert msg.pixel_format is PixelFormat.JPEG and msg.pixels.tobytes().startswith(b"\xff\xd8")
    assert (msg.width, msg.height, msg.stride) == (8, 6, 0)


def test_unknown_keys_ignored_and_minor_accepted():
    parts = with_header(encode_picture(make_frame(), seq=1, t_send_ns=0), future_key={"x": [1, 2]},
                        v_minor=9)
    msg = decode(parts)
    assert msg.version == (1, 9) and msg.seq == 1


def test_newer_major_rejected_clearly():
    parts = with_header(encode_params(make_frame(), seq=1, t_send_ns=0), v=2, v_minor=3)
    with pytest.raises(VersionError, match=r"2\.x.*1\.x.*update") as info:
        decode(parts)
    assert info.value.major == 2


def test_newer_major_rejected_even_if_rest_is_unknown():
    h = msgpack.packb({"v": 3, "v_minor": 0, "totally": "different"})
    with pytest.raises(VersionError):
        decode([TOPIC_PARAMS, h, b""])


@pytest.mark.parametrize("changes,reason", [
    ({"seq": "seven"}, "wrong-type"),
    ({"seq": -1}, "out-of-range"),
    ({"v": True}, "wrong-type"),
    ({"width": 1.5}, "wrong-type"),
    ({"format": "yuv420"}, "unknown-format"),
    ({"rows": "bottom-up"}, "unknown-rows"),
    ({"arkit": b"\x00" * 100}, "bad-array"),
    ({"arkit": None}, "missing-key"),
    ({"flame": b"\x00" * 219}, "bad-array"),
    ({"arkit": np.full(52, np.nan, "<f4").tobytes()}, "not-finite"),
    ({"head_rad": [0.1, 0.2]}, "bad-array"),
    ({"head_rad": ["a", "b", "c"]}, "bad-array"),
    ({"identity": 5}, "wrong-type"),
    ({"valid": 1}, "wrong-type"),
    ({"t_capture_ns": ...}, "missing-key"),
    ({"stride": 4}, "bad-stride"),
    ({"height": 5}, "bad-payload"),
    ({"width": 0}, "bad-size"),
    ({"crc32": 12345}, "crc32"),
    ({"width": 10**9}, "out-of-range"),
])
def test_malformed_headers_are_rejected(changes, reason):
    parts = with_header(encode_picture(make_frame(), seq=1, t_send_ns=0, with_crc32=True), **changes)
    with pytest.raises(ProtocolError) as info:
        decode(parts)
    assert info.value.reason == reason


@pytest.mark.parametrize("parts,reason", [
    ([TOPIC_FRAME, b"\xc1\xc1garbage", b""], "not-msgpack"),
    ([TOPIC_FRAME, msgpack.packb([1, 2, 3]), b""], "not-a-map"),
    ([TOPIC_FRAME, msgpack.packb({"v": 1})], "frame-count"),
    ([b"other.topic", msgpack.packb({}), b""], "unknown-topic"),
    ([TOPIC_FRAME, b"\x00" * 70000, b""], "header-too-large"),
    ([TOPIC_FRAME, msgpack.packb({1: 2}), b""], "not-msgpack"),
])
def test_garbage_messages(parts, reason):
    with pytest.raises(ProtocolError) as info:
        decode(parts)
    assert info.value.reason == reason


def test_params_with_payload_rejected():
    parts = encode_params(make_frame(), seq=1, t_send_ns=0)
    with pytest.raises(ProtocolError, match="bad-payload"):
        decode([parts[0], parts[1], b"xx"])


def test_truncated_pixel_payload():
    parts = encode_picture(make_frame(), seq=1, t_send_ns=0)
    with pytest.raises(ProtocolError, match="bad-payload"):
        decode([parts[0], parts[1], bytes(parts[2])[:-1]])


def test_crc32_matches_zlib():
    frame = make_frame()
    h = header_of(encode_picture(frame, seq=1, t_send_ns=0, with_crc32=True))
    assert h["crc32"] == zlib.crc32(frame.pixels.tobytes())


_valid = [bytes(p) for p in encode_picture(make_frame(), seq=1, t_send_ns=0, with_crc32=True)]


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_decode_only_raises_protocol_error(data):
    """Random and mutated messages: decode returns a Message or raises ProtocolError, nothing else."""
    choice = data.draw(st.integers(0, 3))
    if choice == 0:
        parts = data.draw(st.lists(st.binary(max_size=300), min_size=0, max_size=4))
    elif choice == 1:  # flip bytes of a valid header
        header = bytearray(_valid[1])
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(header) - 1))
            header[i] = data.draw(st.integers(0, 255))
        parts = [_valid[0], bytes(header), _valid[2]]
    elif choice == 2:  # truncate a valid header or payload
        cut = data.draw(st.integers(0, len(_valid[1])))
        parts = [_valid[0], _valid[1][:cut], _valid[2][: data.draw(st.integers(0, len(_valid[2])))]]
    else:  # a valid header with one value replaced by an arbitrary msgpack value
        h = msgpack.unpackb(_valid[1], raw=False)
        key = data.draw(st.sampled_from(sorted(h)))
        h[key] = data.draw(st.recursive(
            st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=10)
            | st.binary(max_size=300), lambda c: st.lists(c, max_size=4), max_leaves=6))
        parts = [_valid[0], msgpack.packb(h, use_bin_type=True), _valid[2]]
    try:
        decode(parts)
    except ProtocolError:
        pass


def test_version_constants_match_spec():
    spec = (protocol.__file__.rsplit("/", 1)[0] + "/PROTOCOL.md")
    text = open(spec).read()
    assert f"version {protocol.VERSION_MAJOR}.{protocol.VERSION_MINOR}" in text
    for topic in protocol.TOPICS:
        assert topic.decode() in text


def test_mouth_source_round_trips_and_defaults_to_tracker():
    """Protocol 1.1's ``mouth``: what drove the mouth reaches the decoder; a 1.0 header without the key
    decodes as ``tracker``; a non-string value is malformed."""
    for who in ("tracker", "audio", "mixed"):
        frame = Frame(sample=FaceSample(capture_wall_ns=1, weights=np.zeros(52, np.float32), mouth=who))
        assert decode([bytes(p) for p in encode_params(frame, seq=1, t_send_ns=2)]).mouth == who
    topic, header, payload = [bytes(p) for p in encode_params(frame, seq=1, t_send_ns=2)]
    h = msgpack.unpackb(header)
    del h["mouth"]
    h["v_minor"] = 0
    assert decode([topic, msgpack.packb(h, use_bin_type=True), payload]).mouth == "tracker"
    h["mouth"] = 3
    with pytest.raises(ProtocolError) as err:
        decode([topic, msgpack.packb(h, use_bin_type=True), payload])
    assert err.value.reason == "wrong-type"
    with pytest.raises(ValueError):
        FaceSample(capture_wall_ns=1, weights=np.zeros(52, np.float32), mouth="microphone")
