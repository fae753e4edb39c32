"""``vts:PHONE_IP``: the VTube Studio iPhone app's tracking stream over UDP.

facecast asks the phone (UDP port 21412) for tracking data, from the socket it
listens on, with::

    {"messageType":"iOSTrackingDataRequest","time":10,"sentBy":"facecast","ports":[OUR_PORT]}

``time`` is how many seconds the phone keeps sending; facecast renews the
request every ``time / 2`` seconds (at ``open()`` first). The phone answers with
one JSON datagram per tracked frame. Keys read (others are ignored):

- ``FaceFound`` (bool, default true): false gives a sample with ``valid=False``,
  zero weights and no angles.
- ``BlendShapes``: a list of ``{"k": ARKit name, "v": 0..1}``; names in any form
  ``arkit_index`` accepts, unknown names ignored, values clamped to [0, 1]. The
  Android app sends ``browInnerUpLeft``/``browInnerUpRight`` instead of ARKit's one
  ``BrowInnerUp``: their mean becomes BrowInnerUp (when the document has no BrowInnerUp).
- ``Rotation`` (head): ``{"x", "y", "z"}`` degrees, ``x`` yaw, ``y`` pitch, ``z`` roll
  (as VTube Studio's developer's own receiver example and the Warudo plugin read it:
  Unity ``Euler(y, x, z)`` on the head bone). ``EyeLeft``, ``EyeRight``: ``{"x", "y", "z"}``
  degrees, ``x`` pitch, ``y`` yaw, ``z`` roll (Unity ``Euler(x, y, z)`` on the eye bone, as
  the Warudo plugin reads them). The sample holds (yaw, pitch, roll) in radians, wrapped to
  (-pi, pi], signs as sent (the Unity head-bone convention: see NETWORK_SOURCES.md). A
  missing key gives None.

Wrong JSON types, non-finite numbers (JSON ``NaN``/``Infinity`` literals,
overflowing numbers), angles beyond +-360 degrees and documents over
:data:`MAX_JSON_BYTES` reject the datagram.
"""

from __future__ import annotations

import json
import math
import time
from typing import Optional, Union

import numpy as np

from facecast.engine.sources.angles import yaw_pitch_roll_from_degrees
from facecast.engine.sources.base import DEFAULT_BIND_HOST, Rejection
from facecast.engine.sources.udp import ParseResult, PhoneUdpSource
from facecast.engine.types import NUM_ARKIT, FaceSample, arkit_index, blendshape_key

#: The app's UDP port on the phone.
PHONE_PORT = 21412
#: How long one request keeps the stream going, seconds.
REQUEST_TIME_S = 10.0
#: Largest document parsed, bytes (a full frame is about 3 KB).
MAX_JSON_BYTES = 16384

#: key -> (sample field, which of x/y/z is yaw, pitch, roll).
_ANGLES = (("Rotation", "head_rad", ("x", "y", "z")), ("EyeLeft", "eye_left_rad", ("y", "x", "z")),
           ("EyeRight", "eye_right_rad", ("y", "x", "z")))
#: The Android app's two inner-brow shapes, averaged into ARKit's BrowInnerUp.
_ANDROID_BROW_INNER = (blendshape_key("browInnerUpLeft"), blendshape_key("browInnerUpRight"))
_BROW_INNER_UP = arkit_index("BrowInnerUp")


def tracking_request(local_port: int, *, time_s: float = REQUEST_TIME_S) -> bytes:
    """The JSON request that makes the phone stream to ``local_port`` for ``time_s`` seconds."""
    seconds = int(time_s) if float(time_s).is_integer() else float(time_s)
    return json.dumps({"messageType": "iOSTrackingDataRequest", "time": seconds, "sentBy": "facecast",
                       "ports": [local_port]}, separators=(",", ":")).encode()


def _number(value) -> Optional[float]:
    """A float from a JSON number (not bool), else None. NaN, infinities and
    integers too large for a float come back as not finite (``not-finite``, as
    in the other sources); anything else is None (``bad-number``)."""
    t = type(value)
    if t is not float and t is not int:
        return None
    try:
        return float(value)
    except OverflowError:  # an integer literal too large for a float
        return math.inf


def _reject_number(value: Optional[float], what: str) -> Optional[Rejection]:
    if value is None:
        return Rejection("bad-number", f"{what} is not a number")
    if not math.isfinite(value):
        return Rejection("not-finite", f"{what} is not finite")
    return None


def _angles_rad(doc: dict, key: str, axes: tuple[str, str, str]) -> Union[np.ndarray, None, Rejection]:
    """``{"x","y","z"}`` degrees at ``doc[key]`` -> (yaw, pitch, roll) radians, ``axes`` naming which
    of x, y, z is yaw, pitch and roll; None if absent."""
    r = doc.get(key)
    if r is None:
        return None
    if type(r) is not dict:
        return Rejection("wrong-type", f"{key} is not an object")
    values = {axis: _number(r.get(axis)) for axis in "xyz"}
    for axis, value in values.items():
        problem = _reject_number(value, f"{key}.{axis}")
        if problem is not None:
            return problem
    yaw, pitch, roll = (values[axis] for axis in axes)
    return yaw_pitch_roll_from_degrees(pitch_deg=pitch, yaw_deg=yaw, roll_deg=roll, what=key)


def parse_vts(data: bytes, *, received_ns: Optional[int] = None) -> Union[FaceSample, Rejection]:
    """Parse one VTube Studio tracking datagram.

    Args:
        data: the datagram.
        received_ns: wall-clock ns to stamp the sample with (default: now).

    Returns:
        A sample, or a :class:`Rejection` (``oversized``, ``not-json``,
        ``wrong-type``, ``missing-key``, ``bad-number``, ``not-finite``, ``out-of-range``).
    """
    stamp_ns = time.time_ns() if received_ns is None else received_ns
    if len(data) > MAX_JSON_BYTES:
        return Rejection("oversized", f"{len(data)} bytes (up to {MAX_JSON_BYTES} accepted)")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return Rejection("not-json", "datagram is not a JSON document")
    if type(doc) is not dict:
        return Rejection("wrong-type", "tracking data is not a JSON object")
    found = doc.get("FaceFound", True)
    if type(found) is not bool:
        return Rejection("wrong-type", "FaceFound is not true or false")
    if not found:
        return FaceSample(capture_wall_ns=stamp_ns, weights=np.zeros(NUM_ARKIT, np.float32), valid=False,
                          source=VtsSource.name)
    shapes = doc.get("BlendShapes")
    if shapes is None:
        return Rejection("missing-key", "no BlendShapes")
    if type(shapes) is not list:
        return Rejection("wrong-type", "BlendShapes is not a list")
    weights = np.zeros(NUM_ARKIT, np.float32)
    brow_inner: list[float] = []
    has_brow_inner = False
    for entry in shapes:
        if type(entry) is not dict or type(entry.get("k")) is not str:
            return Rejection("wrong-type", "a BlendShapes entry is not {\"k\": name, \"v\": value}")
        v = _number(entry.get("v"))
        problem = _reject_number(v, f"value of {entry['k'][:40]!r}")
        if problem is not None:
            return problem
        v = min(max(v, 0.0), 1.0)  # clamped before float32 can overflow
        if blendshape_key(entry["k"]) in _ANDROID_BROW_INNER:  # any spelling, browInnerUp_L too
            brow_inner.append(v)
            continue
        try:
            index = arkit_index(entry["k"])
        except KeyError:
            continue  # not an ARKit shape
        weights[index] = v
        has_brow_inner |= index == _BROW_INNER_UP
    if brow_inner and not has_brow_inner:
        weights[_BROW_INNER_UP] = sum(brow_inner) / len(brow_inner)
    angles = {}
    for key, field, axes in _ANGLES:
        a = _angles_rad(doc, key, axes)
        if isinstance(a, Rejection):
            return a
        angles[field] = a
    return FaceSample(capture_wall_ns=stamp_ns, weights=weights, source=VtsSource.name, **angles)


class VtsSource(PhoneUdpSource):
    """Requests tracking from the phone at ``phone_host`` and renews it before it expires.

    Args:
        phone_host: the phone's IP address.
        bind_host: local address to bind (0.0.0.0 for a phone on Wi-Fi).
        port: local UDP port for the stream; 0 picks a free one.
        phone_port: the app's UDP port on the phone.
        request_time_s: the ``time`` of each request; renewed every half of it.
    """

    name = "vts"

    def __init__(self, *, phone_host: str, bind_host: str = DEFAULT_BIND_HOST, port: int = 0,
                 phone_port: int = PHONE_PORT, request_time_s: float = REQUEST_TIME_S) -> None:
        if not request_time_s > 0:
            raise ValueError(f"request_time_s must be positive, got {request_time_s}")
        super().__init__(phone_host=phone_host, phone_port=phone_port, bind_host=bind_host, port=port)
        self._request_time_s = request_time_s

    def greeting(self) -> bytes:
        return tracking_request(self.local_port, time_s=self._request_time_s)

    def greeting_due(self, now_s: float, last_data_s: Optional[float], last_greeting_s: float) -> bool:
        return now_s - last_greeting_s >= self._request_time_s / 2

    def parse(self, data: bytes, received_ns: int) -> ParseResult:
        return parse_vts(data, received_ns=received_ns)
