"""``ifacialmocap:PHONE_IP``: the iFacialMocap iPhone app over UDP.

facecast sends the app's handshake to the phone's UDP port 49983 (again every
few seconds while no data arrives); the app then streams UTF-8 text datagrams
to our port 49983::

    mouthSmile_L-52|eyeBlink_R-3|...|=head#-4.2,12.0,1.5,0.01,-0.02,0.3|rightEye#3.1,-2.0,0.0|leftEye#3.0,-2.2,0.0|

Blendshape values run 0-100 and use Apple's raw names (``eyeBlink_L``), in any
order. Rotations are degrees: ``rx`` is pitch, ``ry`` yaw, ``rz`` roll; they are
converted to radians (yaw, pitch, roll). Translations are ignored.
"""

from __future__ import annotations

import math
import socket
from typing import Optional, Union

import numpy as np

from facecast.engine.sources.base import DEFAULT_BIND_HOST, Rejection
from facecast.engine.sources.udp import ParseResult, UdpSource
from facecast.engine.types import NUM_ARKIT, FaceSample, arkit_index

PHONE_PORT = 49983
DEFAULT_PORT = 49983
#: The text the app expects before it starts streaming (its documented handshake).
HANDSHAKE = b"iFacialMocap_sahuasouryya9218sauhuiayeta91555dy3719"
HANDSHAKE_EVERY_S = 2.0
MAX_TEXT_BYTES = 8192
MAX_ANGLE_DEG = 360.0


def _floats(text: str, count_min: int) -> Optional[list[float]]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        return None
    return values if len(values) >= count_min else None


def _rotation_rad(values: list[float]) -> np.ndarray:
    """(rx, ry, rz) degrees -> (yaw, pitch, roll) radians."""
    rx, ry, rz = values[:3]
    return np.radians(np.array([ry, rx, rz], np.float32))


def parse_ifacialmocap(data: bytes, *, received_ns: int) -> Union[FaceSample, Rejection]:
    """Parse one iFacialMocap datagram."""
    if len(data) > MAX_TEXT_BYTES:
        return Rejection("oversized", f"{len(data)} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection("not-utf8", "datagram is not UTF-8 text")
    weights = np.zeros(NUM_ARKIT, np.float32)
    rotations: dict[str, np.ndarray] = {}
    shapes = 0
    for item in text.split("|"):
        item = item.strip().lstrip("=")
        if not item:
            continue
        if "#" in item:
            key, _, rest = item.partition("#")
            values = _floats(rest, 3)
            if values is None or not all(math.isfinite(v) for v in values):
                return Rejection("bad-number", f"rotation {key!r}")
            if any(abs(v) > MAX_ANGLE_DEG for v in values[:3]):
                return Rejection("out-of-range", f"rotation {key!r} beyond 360 degrees")
            rotations[key] = _rotation_rad(values)
            continue
        name, sep, value = item.rpartition("-")
        if not sep or not name:
            return Rejection("bad-entry", f"entry {item[:40]!r} is not name-value")
        if name.endswith("-"):  # a negative value: "name--5"
            name, value = name[:-1], "-" + value
        try:
            v = float(value)
        except ValueError:
            return Rejection("bad-number", f"value {value[:20]!r} of {name[:40]!r}")
        if not math.isfinite(v):
            return Rejection("not-finite", f"value of {name[:40]!r}")
        try:
            weights[arkit_index(name)] = v / 100.0
        except KeyError:
            continue  # other apps' extra channels (e.g. hapihapi) are not ARKit shapes
        shapes += 1
    if shapes == 0:
        return Rejection("no-blendshapes", "datagram carries no ARKit blendshape")
    return FaceSample(capture_wall_ns=received_ns, weights=np.clip(weights, 0.0, 1.0),
                      head_rad=rotations.get("head"), eye_left_rad=rotations.get("leftEye"),
                      eye_right_rad=rotations.get("rightEye"), source=IFacialMocapSource.name)


class IFacialMocapSource(UdpSource):
    """Handshakes with the phone at ``phone_host`` and receives its stream on ``port``."""

    name = "ifacialmocap"

    def __init__(self, *, phone_host: str, bind_host: str = DEFAULT_BIND_HOST, port: int = DEFAULT_PORT,
                 phone_port: int = PHONE_PORT, handshake_every_s: float = HANDSHAKE_EVERY_S) -> None:
        super().__init__(host=bind_host, port=port)
        self._phone = (phone_host, phone_port)
        self._every_s = handshake_every_s
        self._last_handshake_s: Optional[float] = None

    def on_tick(self, sock: socket.socket, now_s: float, last_data_s: Optional[float]) -> None:
        quiet = last_data_s is None or now_s - last_data_s > self._every_s
        due = self._last_handshake_s is None or now_s - self._last_handshake_s >= self._every_s
        if quiet and due:
            self.send(HANDSHAKE, self._phone)
            self._last_handshake_s = now_s

    def parse(self, data: bytes, received_ns: int) -> ParseResult:
        return parse_ifacialmocap(data, received_ns=received_ns)
