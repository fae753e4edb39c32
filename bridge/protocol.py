"""Bridge protocol v1: the one Python encoder and decoder.

The wire format is specified in ``bridge/PROTOCOL.md``; this module must match it,
as must the C# and C++ decoders named there.

A message is three frames: topic, MessagePack header, payload. Encoding a
:class:`~facecast.engine.types.Frame` gives a parameter message and, when the
frame has pixels, a picture message; decoding validates every field and raises
:class:`ProtocolError` (or its subclass :class:`VersionError`) for anything the
spec says to discard.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Optional, Sequence

import msgpack
import numpy as np

from facecast.engine.types import FLAME_DIM, NUM_ARKIT, Frame, PixelFormat

VERSION_MAJOR = 1
VERSION_MINOR = 1

TOPIC_PARAMS = b"facecast.params"
TOPIC_FRAME = b"facecast.frame"
TOPICS = (TOPIC_PARAMS, TOPIC_FRAME)

MAX_HEADER_BYTES = 65536
MAX_SIDE_PX = 16384
ROWS_TOP_DOWN = "top-down"

_ARKIT_BYTES = NUM_ARKIT * 4
_FLAME_BYTES = FLAME_DIM * 4
_LE_F32 = np.dtype("<f4")


class ProtocolError(ValueError):
    """A message the spec says to discard. ``reason`` is a short stable label for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class VersionError(ProtocolError):
    """The publisher speaks a newer major version than this decoder implements."""

    def __init__(self, major: int, minor: Optional[int]) -> None:
        super().__init__(
            "version",
            f"publisher speaks bridge protocol {major}.x ({major}.{'?' if minor is None else minor}), this receiver "
            f"implements {VERSION_MAJOR}.x: update facecast on the receiving side",
        )
        self.major = major
        self.minor = minor


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded, validated bridge message.

    ``arkit`` is (52,) float32 in [0, 1]; ``flame`` is (55,) float32 or None;
    ``pixels`` is (H, W, C) uint8 (a view on the received buffer) for raw formats,
    (N,) uint8 JPEG bytes for ``jpeg``, None for ``none``.
    """

    topic: bytes
    version: tuple[int, int]
    seq: int
    t_capture_ns: int
    t_render_ns: int
    t_send_ns: int
    width: int
    height: int
    stride: int
    pixel_format: PixelFormat
    identity: str
    source: str
    valid: bool
    arkit: np.ndarray
    flame: Optional[np.ndarray]
    head_rad: Optional[np.ndarray]
    eyes_rad: Optional[np.ndarray]
    repeated: bool
    pixels: Optional[np.ndarray]
    mouth: str = "tracker"


# --------------------------------------------------------------------------- #
# Encoding
# --------------------------------------------------------------------------- #


def _floats(a: Optional[np.ndarray]) -> Optional[list[float]]:
    return None if a is None else [float(x) for x in a]


def encode_header(
    frame: Frame,
    *,
    seq: int,
    t_send_ns: int,
    pixel_format: PixelFormat,
    width: int = 0,
    height: int = 0,
    stride: int = 0,
    crc32: Optional[int] = None,
) -> bytes:
    """MessagePack header bytes for ``frame`` (see PROTOCOL.md section 2.3)."""
    s = frame.sample
    eyes = None
    if s.eye_left_rad is not None and s.eye_right_rad is not None:
        eyes = _floats(s.eye_left_rad) + _floats(s.eye_right_rad)
    header = {
        "v": VERSION_MAJOR,
        "v_minor": VERSION_MINOR,
        "seq": seq,
        "t_capture_ns": s.capture_wall_ns,
        "t_render_ns": frame.render_wall_ns,
        "t_send_ns": t_send_ns,
        "width": width,
        "height": height,
        "stride": stride,
        "format": pixel_format.value,
        "rows": ROWS_TOP_DOWN,
        "identity": frame.identity,
        "source": s.source,
        "valid": s.valid,
        "arkit": s.weights.astype(_LE_F32, copy=False).tobytes(),
        "flame": None if frame.flame is None else frame.flame.as_vector().astype(_LE_F32).tobytes(),
        "head_rad": _floats(s.head_rad),
        "eyes_rad": eyes,
        "repeated": frame.repeated,
        "mouth": s.mouth,
    }
    if crc32 is not None:
        header["crc32"] = crc32
    return msgpack.packb(header, use_bin_type=True)


def encode_params(frame: Frame, *, seq: int, t_send_ns: int) -> list:
    """The ``facecast.params`` message for ``frame``: [topic, header, empty payload]."""
    return [TOPIC_PARAMS, encode_header(frame, seq=seq, t_send_ns=t_send_ns,
                                        pixel_format=PixelFormat.NONE), b""]


def encode_picture(
    frame: Frame,
    *,
    seq: int,
    t_send_ns: int,
    jpeg: Optional[bytes] = None,
    with_crc32: bool = False,
) -> list:
    """The ``facecast.frame`` message: [topic, header, payload].

    The payload is a zero-copy memoryview of ``frame.pixels`` (which must be
    C-contiguous), or ``jpeg`` when the publisher encoded the picture.
    """
    if frame.pixels is None:
        raise ValueError("frame has no pixels; send only the params message")
    h, w, c = frame.pixels.shape
    if jpeg is not None:
        payload, fmt, stride = jpeg, PixelFormat.JPEG, 0
    else:
        pixels = frame.pixels if frame.pixels.flags.c_contiguous else np.ascontiguousarray(frame.pixels)
        payload, fmt, stride = memoryview(pixels).cast("B"), frame.pixel_format, w * c
    crc = zlib.crc32(payload) if with_crc32 else None
    header = encode_header(frame, seq=seq, t_send_ns=t_send_ns, pixel_format=fmt,
                           width=w, height=h, stride=stride, crc32=crc)
    return [TOPIC_FRAME, header, payload]


# --------------------------------------------------------------------------- #
# Decoding
# --------------------------------------------------------------------------- #

_INT = (int,)


def _get(header: dict, key: str, types: tuple, *, nullable: bool = False):
    if key not in header:
        raise ProtocolError("missing-key", f"header has no {key!r}")
    value = header[key]
    if value is None and nullable:
        return None
    # bool is an int subclass: reject it where an int is expected.
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
        raise ProtocolError("wrong-type", f"{key!r} has type {type(value).__name__}")
    return value


def _uint(header: dict, key: str, *, limit: int = 2**64 - 1) -> int:
    value = _get(header, key, _INT)
    if not 0 <= value <= limit:
        raise ProtocolError("out-of-range", f"{key!r} = {value} is outside [0, {limit}]")
    return value


def _float_array(header: dict, key: str, length: int, *, binary: bool) -> Optional[np.ndarray]:
    value = _get(header, key, (bytes,) if binary else (list, tuple), nullable=True)
    if value is None:
        return None
    if binary:
        if len(value) != length * 4:
            raise ProtocolError("bad-array", f"{key!r} has {len(value)} bytes, expected {length * 4}")
        arr = np.frombuffer(value, dtype=_LE_F32).astype(np.float32)
    else:
        if len(value) != length or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
            raise ProtocolError("bad-array", f"{key!r} must be {length} numbers")
        with np.errstate(over="ignore"):  # a huge number becomes inf and is rejected below
            arr = np.asarray(value, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise ProtocolError("not-finite", f"{key!r} holds NaN or infinity")
    return arr


def _buffer(part) -> memoryview:
    """A memoryview of a received frame: bytes, memoryview or zmq.Frame."""
    buf = getattr(part, "buffer", part)
    return memoryview(buf)


def decode(parts: Sequence) -> Message:
    """Decode and validate one received multipart message.

    ``parts`` holds the three frames as bytes, memoryviews or ``zmq.Frame``
    objects. Raises :class:`VersionError` for a newer major version and
    :class:`ProtocolError` for anything malformed (PROTOCOL.md section 3).
    """
    if len(parts) != 3:
        raise ProtocolError("frame-count", f"expected 3 frames, got {len(parts)}")
    topic = bytes(_buffer(parts[0]))
    header_buf = _buffer(parts[1])
    payload = _buffer(parts[2])
    if topic not in TOPICS:
        raise ProtocolError("unknown-topic", f"topic {topic[:40]!r}")
    if header_buf.nbytes > MAX_HEADER_BYTES:
        raise ProtocolError("header-too-large", f"{header_buf.nbytes} bytes")
    try:
        header = msgpack.unpackb(header_buf, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError("not-msgpack", f"header does not decode: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("not-a-map", f"header is a {type(header).__name__}")

    # The major version alone decides first (PROTOCOL.md 3.1): a newer major may lack any other key.
    major = _uint(header, "v")
    if major > VERSION_MAJOR:
        minor = header.get("v_minor")
        raise VersionError(major, minor if isinstance(minor, int) and not isinstance(minor, bool) else None)
    if major < VERSION_MAJOR:
        raise ProtocolError("version", f"unknown protocol version {major}")
    minor = _uint(header, "v_minor")  # required; any minor of this major is accepted (3.2)

    fmt_name = _get(header, "format", (str,))
    try:
        fmt = PixelFormat(fmt_name)
    except ValueError:
        raise ProtocolError("unknown-format", f"format {fmt_name!r}") from None
    width = _uint(header, "width", limit=MAX_SIDE_PX)
    height = _uint(header, "height", limit=MAX_SIDE_PX)
    stride = _uint(header, "stride", limit=MAX_SIDE_PX * 4 * 2)
    rows = _get(header, "rows", (str,))
    if rows != ROWS_TOP_DOWN:
        raise ProtocolError("unknown-rows", f"row order {rows!r}")

    arkit = _float_array(header, "arkit", NUM_ARKIT, binary=True)
    if arkit is None:
        raise ProtocolError("missing-key", "'arkit' is nil")
    arkit = np.clip(arkit, 0.0, 1.0)

    pixels = _check_payload(payload, fmt, width, height, stride)
    if "crc32" in header:
        crc = _uint(header, "crc32", limit=2**32 - 1)
        if zlib.crc32(payload) != crc:
            raise ProtocolError("crc32", "payload checksum does not match")

    return Message(
        topic=topic,
        version=(major, minor),
        seq=_uint(header, "seq"),
        t_capture_ns=_get(header, "t_capture_ns", _INT),
        t_render_ns=_get(header, "t_render_ns", _INT),
        t_send_ns=_get(header, "t_send_ns", _INT),
        width=width,
        height=height,
        stride=stride,
        pixel_format=fmt,
        identity=_get(header, "identity", (str,)),
        source=_get(header, "source", (str,)),
        valid=_get(header, "valid", (bool,)),
        arkit=arkit,
        flame=_float_array(header, "flame", FLAME_DIM, binary=True),
        head_rad=_float_array(header, "head_rad", 3, binary=False),
        eyes_rad=_float_array(header, "eyes_rad", 6, binary=False) if "eyes_rad" in header else None,
        repeated=_get(header, "repeated", (bool,)) if "repeated" in header else False,
        pixels=pixels,
        mouth=_get(header, "mouth", (str,)) if "mouth" in header else "tracker",
    )


def _check_payload(payload: memoryview, fmt: PixelFormat, width: int, height: int,
                   stride: int) -> Optional[np.ndarray]:
    n = payload.nbytes
    if fmt is PixelFormat.NONE:
        if n:
            raise ProtocolError("bad-payload", f"format 'none' with a {n}-byte payload")
        return None
    if width == 0 or height == 0:
        raise ProtocolError("bad-size", f"{fmt.value} picture of {width}x{height}")
    if fmt is PixelFormat.JPEG:
        if n == 0:
            raise ProtocolError("bad-payload", "empty JPEG payload")
        return np.frombuffer(payload, dtype=np.uint8)
    c = fmt.channels
    if stride < width * c:
        raise ProtocolError("bad-stride", f"stride {stride} < width {width} x {c} bytes")
    if n != stride * height:
        raise ProtocolError("bad-payload", f"payload has {n} bytes, header says {stride}x{height}")
    rows = np.frombuffer(payload, dtype=np.uint8).reshape(height, stride)
    return rows[:, : width * c].reshape(height, width, c)
