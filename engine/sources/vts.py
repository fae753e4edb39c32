"""``vts:PHONE_IP``: the VTube Studio iPhone app's tracking stream over UDP.

facecast asks the phone (UDP port 21412) for tracking data with::

    {"messageType": "iOSTrackingDataRequest", "time": 10, "sentBy": "facecast", "ports": [OUR_PORT]}

and renews the request every ``time / 2`` seconds. The phone answers with JSON
datagrams holding ``FaceFound`` (bool), ``Rotation`` and ``EyeLeft``/``EyeRight``
(``x`` pitch, ``y`` yaw, ``z`` roll, degrees) and ``BlendShapes``, a list of
``{"k": ARKit name, "v": 0..1}``. ``FaceFound: false`` gives an invalid sample.
"""

from __future__ import annotations

import json
import math
import socket
from typing import Optional, Union

import numpy as np

from facecast.engine.sources.base import DEFAULT_BIND_HOST, Rejection
from facecast.engine.sources.udp import ParseResult, UdpSource
from facecast.engine.types import NUM_ARKIT, FaceSample, arkit_index

PHONE_PORT = 21412
REQUEST_TIME_S = 10.0
MAX_JSON_BYTES = 16384
MAX_ANGLE_DEG = 360.0


def tracking_request(local_port: int, *, time_s: float = REQUEST_TIME_S) -> bytes:
    """The JSON request that makes the phone send tracking data to ``local_port``."""
    seconds = int(time_s) if float(time_s).is_integer() else time_s
    return json.dumps({"messageType": "iOSTrackingDataRequest", "time": seconds, "sentBy": "facecast",
                       "ports": [local_port]}).encode()


def _number(value) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _rotation(doc: dict, key: str) -> Union[np.ndarray, None, Rejection]:
    r = doc.get(key)
    if r is None:
        return None
    if not isinstance(r, dict):
        return Rejection("wrong-type", f"{key} is not an object")
    xyz = [_number(r.get(axis)) for axis in ("x", "y", "z")]
    if any(v is None for v in xyz):
        return Rejection("bad-number", f"{key} needs finite x, y, z")
    if any(abs(v) > MAX_ANGLE_DEG for v in xyz):
        return Rejection("out-of-range", f"{key} beyond 360 degrees")
    x, y, z = xyz
    return np.radians(np.array([y, x, z], np.float32))  # yaw, pitch, roll


def parse_vts(data: bytes, *, received_ns: int) -> Union[FaceSample, Rejection]:
    """Parse one VTube Studio tracking datagram."""
    if len(data) > MAX_JSON_BYTES:
        return Rejection("oversized", f"{len(data)} bytes")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Rejection("not-json", "datagram is not JSON")
    if not isinstance(doc, dict):
        return Rejection("wrong-type", "tracking data is not a JSON object")
    found = doc.get("FaceFound", True)
    if not isinstance(found, bool):
        return Rejection("wrong-type", "FaceFound is not a bool")
    shapes = doc.get("BlendShapes")
    if not isinstance(shapes, list):
        return Rejection("wrong-type" if shapes is not None else "missing-key", "BlendShapes is not a list")
    weights = np.zeros(NUM_ARKIT, np.float32)
    for entry in shapes:
        if not isinstance(entry, dict) or not isinstance(entry.get("k"), str):
            return Rejection("wrong-type", "BlendShapes entries need a string k and a number v")
        v = _number(entry.get("v"))
        if v is None:
            return Rejection("bad-number", f"value of {entry['k'][:40]!r}")
        try:
            weights[arkit_index(entry["k"])] = v
        except KeyError:
            continue
    rotations = {}
    for key in ("Rotation", "EyeLeft", "EyeRight"):
        r = _rotation(doc, key)
        if isinstance(r, Rejection):
            return r
        rotations[key] = r
    if not found:
        weights[:] = 0.0
    return FaceSample(capture_wall_ns=received_ns, weights=np.clip(weights, 0.0, 1.0),
                      head_rad=rotations["Rotation"], eye_left_rad=rotations["EyeLeft"],
                      eye_right_rad=rotations["EyeRight"], valid=found, source=VtsSource.name)


class VtsSource(UdpSource):
    """Requests tracking from the phone at ``phone_host`` and renews it before it expires."""

    name = "vts"

    def __init__(self, *, phone_host: str, bind_host: str = DEFAULT_BIND_HOST, port: int = 0,
                 phone_port: int = PHONE_PORT, request_time_s: float = REQUEST_TIME_S) -> None:
        super().__init__(host=bind_host, port=port)
        self._phone = (phone_host, phone_port)
        self._request_time_s = request_time_s
        self._last_request_s: Optional[float] = None
        self._request: Optional[bytes] = None

    def open(self) -> None:
        super().open()
        self._request = tracking_request(self.local_port, time_s=self._request_time_s)

    def on_tick(self, sock: socket.socket, now_s: float, last_data_s: Optional[float]) -> None:
        if self._last_request_s is None or now_s - self._last_request_s >= self._request_time_s / 2:
            self.send(self._request, self._phone)
            self._last_request_s = now_s

    def parse(self, data: bytes, received_ns: int) -> ParseResult:
        return parse_vts(data, received_ns=received_ns)
