"""``livelink:[HOST:]PORT``: Epic's Live Link Face app over UDP.

Packet layout (network byte order, big-endian), version 6:

| field | type |
|---|---|
| version | uint8, 6 |
| device id | int32 length, then that many UTF-8 bytes |
| subject name | int32 length, then that many UTF-8 bytes |
| frame time | int32 frame number, float32 subframe, int32 fps numerator, int32 fps denominator |
| count | uint8, 61 |
| values | 61 float32: the 52 shapes in ``ARKIT_NAMES`` order, then head yaw, pitch, roll, left-eye yaw, pitch, roll, right-eye yaw, pitch, roll (radians) |
"""

from __future__ import annotations

import math
import struct
from typing import Optional, Union

import numpy as np

from facecast.engine.sources.base import Rejection
from facecast.engine.sources.udp import ParseResult, UdpSource
from facecast.engine.types import NUM_ARKIT, FaceSample

DEFAULT_PORT = 11111
VERSION = 6
VALUE_COUNT = 61
MAX_NAME_BYTES = 1024
#: Head and eye angles beyond this are not a face: the packet is dropped.
MAX_ANGLE_RAD = 2 * math.pi

_FRAME_TIME = struct.Struct(">ifii")
_VALUES = struct.Struct(f">{VALUE_COUNT}f")
_INT32 = struct.Struct(">i")


def _read_string(data: bytes, offset: int, what: str) -> Union[tuple[str, int], Rejection]:
    if len(data) < offset + 4:
        return Rejection("truncated", f"packet ends before the {what} length")
    (n,) = _INT32.unpack_from(data, offset)
    if not 0 <= n <= MAX_NAME_BYTES:
        return Rejection("bad-length", f"{what} length {n}")
    offset += 4
    if len(data) < offset + n:
        return Rejection("truncated", f"packet ends inside the {what}")
    return data[offset:offset + n].decode("utf-8", "replace"), offset + n


def parse_livelink(data: bytes, *, received_ns: int) -> Union[tuple[str, FaceSample], Rejection]:
    """Parse one Live Link Face datagram into (subject name, sample), or a rejection."""
    if not data:
        return Rejection("truncated", "empty datagram")
    if data[0] != VERSION:
        return Rejection("bad-version", f"packet version {data[0]}; facecast reads Live Link Face version "
                                        f"{VERSION} (update facecast or the app)")
    device = _read_string(data, 1, "device id")
    if isinstance(device, Rejection):
        return device
    subject = _read_string(data, device[1], "subject name")
    if isinstance(subject, Rejection):
        return subject
    name, offset = subject
    offset += _FRAME_TIME.size
    if len(data) < offset + 1:
        return Rejection("truncated", "packet ends before the value count")
    count = data[offset]
    if count != VALUE_COUNT:
        return Rejection("bad-count", f"{count} values, expected {VALUE_COUNT}")
    offset += 1
    if len(data) != offset + _VALUES.size:
        return Rejection("bad-length", f"{len(data)} bytes, expected {offset + _VALUES.size}")
    values = np.array(_VALUES.unpack_from(data, offset), np.float32)
    if not np.all(np.isfinite(values)):
        return Rejection("not-finite", "NaN or infinity in the values")
    angles = values[NUM_ARKIT:]
    if np.any(np.abs(angles) > MAX_ANGLE_RAD):
        return Rejection("out-of-range", "head or eye angle beyond 2 pi")
    return name, FaceSample(capture_wall_ns=received_ns, weights=np.clip(values[:NUM_ARKIT], 0.0, 1.0),
                            head_rad=angles[0:3], eye_left_rad=angles[3:6], eye_right_rad=angles[6:9],
                            source=LiveLinkSource.name)


def encode_livelink(*, weights, head_rad=(0, 0, 0), eye_left_rad=(0, 0, 0), eye_right_rad=(0, 0, 0),
                    subject: str = "iPhone", device_id: str = "facecast-test", frame: int = 0,
                    subframe: float = 0.0, fps: int = 60, version: int = VERSION) -> bytes:
    """Build a Live Link Face datagram: the inverse of :func:`parse_livelink`, for tests,
    benchmarks and for replaying recordings to other Live Link receivers."""
    dev, sub = device_id.encode(), subject.encode()
    values = list(np.asarray(weights, np.float32)) + list(head_rad) + list(eye_left_rad) + list(eye_right_rad)
    return (bytes([version]) + _INT32.pack(len(dev)) + dev + _INT32.pack(len(sub)) + sub
            + _FRAME_TIME.pack(frame, subframe, fps, 1) + bytes([VALUE_COUNT]) + _VALUES.pack(*values))


class LiveLinkSource(UdpSource):
    """Receives Live Link Face packets; with ``subject``, only that subject's."""

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
            return Rejection("other-subject", f"subject {name!r}, listening for {self._subject!r}")
        return sample
