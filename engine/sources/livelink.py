"""``livelink:[HOST:]PORT``: Epic's Live Link Face iPhone app over UDP.

The app sends one datagram per tracked frame to each target entered under
Settings -> Live Link (the computer's IP address, port 11111). Layout, network
byte order (big-endian), packet version 6:

| field | type |
|---|---|
| version | uint8, 6 |
| device id | int32 length, then that many UTF-8 bytes |
| subject name | int32 length, then that many UTF-8 bytes |
| frame time | int32 frame number, float32 subframe, int32 fps numerator, int32 fps denominator |
| count | uint8, 61 |
| values | 61 float32: the 52 shapes in ``ARKIT_NAMES`` order (0..1), then head yaw, pitch, roll, left-eye yaw, pitch, roll, right-eye yaw, pitch, roll (radians) |

The frame time is not used: samples are stamped at receipt. With ``subject``
set, packets of other subjects are dropped and counted as ``other-subject``.
"""

from __future__ import annotations

import struct
import time
from typing import Optional, Sequence, Union

import numpy as np

from facecast.engine.sources.angles import MAX_ANGLE_RAD
from facecast.engine.sources.base import Rejection
from facecast.engine.sources.udp import ParseResult, UdpSource
from facecast.engine.types import NUM_ARKIT, FaceSample

DEFAULT_PORT = 11111
#: The packet version facecast reads.
VERSION = 6
#: Floats per packet: 52 shapes + head (3) + left eye (3) + right eye (3).
VALUE_COUNT = NUM_ARKIT + 9
#: Longest device id or subject name accepted, bytes.
MAX_NAME_BYTES = 256
# Head and eye angles beyond MAX_ANGLE_RAD (angles.py) are not a face: the packet is dropped.

_INT32 = struct.Struct(">i")
_FRAME_TIME = struct.Struct(">ifii")
_VALUES_DTYPE = np.dtype(">f4")
_VALUES_BYTES = VALUE_COUNT * 4


def _string(data: bytes, offset: int, what: str) -> Union[tuple[str, int], Rejection]:
    """(text, offset after it) of an int32-length-prefixed UTF-8 string at ``offset``."""
    if len(data) < offset + 4:
        return Rejection("truncated", f"packet ends before the {what} length")
    (n,) = _INT32.unpack_from(data, offset)
    if not 0 <= n <= MAX_NAME_BYTES:
        return Rejection("bad-length", f"{what} length {n} (0..{MAX_NAME_BYTES} accepted)")
    offset += 4
    if len(data) < offset + n:
        return Rejection("truncated", f"packet ends inside the {what}")
    return data[offset:offset + n].decode("utf-8", "replace"), offset + n


def parse_livelink(data: bytes, *, received_ns: Optional[int] = None
                   ) -> Union[tuple[str, FaceSample], Rejection]:
    """Parse one Live Link Face datagram.

    Args:
        data: the datagram.
        received_ns: wall-clock ns to stamp the sample with (default: now).

    Returns:
        (subject name, sample), or a :class:`Rejection` (``truncated``,
        ``bad-version``, ``bad-length``, ``bad-count``, ``not-finite``,
        ``out-of-range``). Weights are clamped to [0, 1].
    """
    if not data:
        return Rejection("truncated", "empty datagram")
    if data[0] != VERSION:
        return Rejection("bad-version", f"Live Link Face packet version {data[0]}; facecast supports "
                                        f"version {VERSION} (update facecast, or the app)",
                         variant=str(data[0]))
    device = _string(data, 1, "device id")
    if isinstance(device, Rejection):
        return device
    subject = _string(data, device[1], "subject name")
    if isinstance(subject, Rejection):
        return subject
    name, offset = subject
    offset += _FRAME_TIME.size
    if len(data) <= offset:
        return Rejection("truncated", "packet ends before the value count")
    if data[offset] != VALUE_COUNT:
        return Rejection("bad-count", f"{data[offset]} values, expected {VALUE_COUNT}")
    offset += 1
    if len(data) != offset + _VALUES_BYTES:
        return Rejection("truncated" if len(data) < offset + _VALUES_BYTES else "bad-length",
                         f"{len(data)} bytes, expected {offset + _VALUES_BYTES}")
    values = np.frombuffer(data, _VALUES_DTYPE, VALUE_COUNT, offset).astype(np.float32)
    if not np.isfinite(values).all():
        return Rejection("not-finite", "NaN or infinity among the values")
    angles = values[NUM_ARKIT:]
    if np.abs(angles).max() > MAX_ANGLE_RAD:
        return Rejection("out-of-range", f"a head or eye angle beyond {MAX_ANGLE_RAD:.2f} rad")
    sample = FaceSample(capture_wall_ns=time.time_ns() if received_ns is None else received_ns,
                        weights=values[:NUM_ARKIT], head_rad=angles[0:3], eye_left_rad=angles[3:6],
                        eye_right_rad=angles[6:9], source=LiveLinkSource.name)
    return name, sample


def encode_livelink(*, weights: Sequence[float], head_rad: Sequence[float] = (0.0, 0.0, 0.0),
                    eye_left_rad: Sequence[float] = (0.0, 0.0, 0.0),
                    eye_right_rad: Sequence[float] = (0.0, 0.0, 0.0), subject: str = "iPhone",
                    device_id: str = "facecast-test", frame: int = 0, subframe: float = 0.0,
                    fps: int = 60, version: int = VERSION) -> bytes:
    """Build a Live Link Face datagram: the inverse of :func:`parse_livelink`.

    A helper for tests and benchmarks (golden packets); not used on the live path.
    ``weights`` are the 52 shapes in ``ARKIT_NAMES`` order; angles are radians.
    Values are written as given (no clamping), so invalid packets can be built too.
    """
    with np.errstate(over="ignore"):  # beyond float32 becomes inf, as it would on the wire
        values = np.concatenate([np.asarray(v, np.float32).reshape(-1)
                                 for v in (weights, head_rad, eye_left_rad, eye_right_rad)])
    if values.shape != (VALUE_COUNT,):
        raise ValueError(f"need 52 weights and 3 values per angle, got {values.size} values in all")
    dev, sub = device_id.encode(), subject.encode()
    return b"".join([bytes([version]), _INT32.pack(len(dev)), dev, _INT32.pack(len(sub)), sub,
                     _FRAME_TIME.pack(frame, subframe, fps, 1), bytes([VALUE_COUNT]),
                     values.astype(_VALUES_DTYPE).tobytes()])


class LiveLinkSource(UdpSource):
    """Receives Live Link Face packets on ``host:port``.

    Args:
        host: local address to bind (0.0.0.0 for a phone on Wi-Fi).
        port: local UDP port, the one entered in the app (default 11111).
        subject: accept only this subject name (the app's "Subject Name");
            None accepts any.
    """

    name = "livelink"

    def __init__(self, *, host: str, port: int = DEFAULT_PORT, subject: Optional[str] = None) -> None:
        super().__init__(host=host, port=port)
        self._subject = subject

    def parse(self, data: bytes, received_ns: int) -> ParseResult:
        result = parse_livelink(data, received_ns=received_ns)
        if isinstance(result, Rejection):
            return result
        name, sample = result
        if self._subject is not None and name != self._subject:
            return Rejection("other-subject", f"subject {name!r}; facecast accepts only {self._subject!r} "
                                              f"(--subject)")
        return sample
