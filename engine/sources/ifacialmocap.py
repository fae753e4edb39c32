"""``ifacialmocap:PHONE_IP``: the iFacialMocap iPhone app over UDP.

facecast sends the app's documented handshake (:data:`HANDSHAKE`) to the
phone's UDP port 49983, at ``open()`` and again every :data:`HANDSHAKE_EVERY_S`
while no data arrives. The app then streams UTF-8 text datagrams to UDP port
49983 of the computer the handshake came from, whatever port it was sent from
(the developer's page; every peer listens on 49983), so facecast listens there
and has no option for another. One datagram per tracked frame::

    mouthSmile_R-52|eyeBlink_L-3|...|=head#-4.2,12.0,1.5,0.01,-0.02,0.3|rightEye#3.1,-2.0,0.0|leftEye#3.0,-2.2,0.0|

- ``name-value`` entries, in any order: Apple's raw blendshape names
  (``eyeBlink_L``), values 0..100 (divided by 100, clamped to [0, 1]). The
  first ``-`` separates name from value, so negative and exponent values
  (``name--2``, ``name-1e-05``) parse; ``name&value`` is accepted too.
  Names that are not ARKit shapes are ignored. A malformed entry (no value, a
  bad or non-finite number, an angle beyond +-360 degrees) is skipped and
  counted (``skipped-entry``); the rest of the datagram is kept, as the peers do.
- ``head#rx,ry,rz,tx,ty,tz`` and ``rightEye#rx,ry,rz``/``leftEye#rx,ry,rz``:
  rotations in degrees (translations ignored). Axis mapping: ``rx`` is pitch,
  ``ry`` yaw, ``rz`` roll; the sample holds (yaw, pitch, roll) in radians,
  wrapped to (-pi, pi] (signs as sent: Unity ``Euler(rx, ry, rz)`` on the head
  bone, as VMagicMirror applies them).

Face loss: the app keeps sending its last frame, unchanged, when it loses the
face (VMagicMirror treats a repeat of the previous datagram as tracking loss).
:class:`IFacialMocapSource` passes the first repeats over and, once the same
datagram has arrived :data:`FACE_LOST_REPEATS` times in a row over at least
:data:`FACE_LOST_AFTER_S`, emits samples marked invalid, so the loop eases to
neutral; the next different datagram is a valid sample again. (A tracked face
is never bit-identical from frame to frame: the angles carry many decimals.)
"""

from __future__ import annotations

import math
import time
from typing import Optional, Union

import numpy as np

from facecast.engine.sources.angles import yaw_pitch_roll_from_degrees
from facecast.engine.sources.base import DEFAULT_BIND_HOST, Rejection
from facecast.engine.sources.udp import ParseResult, PhoneUdpSource
from facecast.engine.types import NUM_ARKIT, FaceSample, arkit_index

#: The app's UDP port on the phone, and the one port of the computer it sends to.
PHONE_PORT = 49983
DEFAULT_PORT = 49983
#: Identical datagrams in a row, and how long they must have lasted, before the face counts as lost.
FACE_LOST_REPEATS = 6
FACE_LOST_AFTER_S = 0.2
#: The app's documented handshake: this exact ASCII text, sent to the phone's
#: UDP port 49983, makes it stream to the port it came from.
HANDSHAKE = b"iFacialMocap_sahuasouryya9218sauhuiayeta91555dy3719"
#: Resend the handshake this often while no data arrives, seconds.
HANDSHAKE_EVERY_S = 2.0
#: Longest datagram parsed, bytes (a full frame is about 1.5 KB).
MAX_TEXT_BYTES = 8192

#: Rotation keys -> FaceSample field.
_ROTATIONS = {"head": "head_rad", "leftEye": "eye_left_rad", "rightEye": "eye_right_rad"}


def _rotation_rad(key: str, text: str) -> Union[np.ndarray, Rejection]:
    """``rx,ry,rz[,...]`` degrees -> (yaw, pitch, roll) radians in (-pi, pi]."""
    parts = text.split(",")
    if len(parts) < 3:
        return Rejection("bad-entry", f"{key} has {len(parts)} values, expected at least 3")
    try:
        rx, ry, rz = float(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:
        return Rejection("bad-number", f"{key} rotation {text[:40]!r}")
    if not (math.isfinite(rx) and math.isfinite(ry) and math.isfinite(rz)):
        return Rejection("not-finite", f"{key} rotation")
    return yaw_pitch_roll_from_degrees(pitch_deg=rx, yaw_deg=ry, roll_deg=rz, what=f"{key} rotation")


def _shape(item: str) -> Union[tuple[str, float], Rejection]:
    """``name-value`` (or ``name&value``) -> (name, value 0..100)."""
    name, sep, value = item.partition("&") if "&" in item else item.partition("-")
    if not sep or not name:
        return Rejection("bad-entry", f"entry {item[:40]!r} is not name-value")
    try:
        v = float(value)
    except ValueError:
        return Rejection("bad-number", f"value {value[:20]!r} of {name[:40]!r}")
    if not math.isfinite(v):
        return Rejection("not-finite", f"value of {name[:40]!r}")
    return name, v


def parse_ifacialmocap_entries(data: bytes, *, received_ns: Optional[int] = None
                               ) -> tuple[Union[FaceSample, Rejection], list[Rejection]]:
    """Parse one iFacialMocap datagram, skipping malformed entries.

    Returns:
        (the sample or a :class:`Rejection` of the whole datagram (``oversized``, ``not-utf8``,
        ``no-blendshapes``), the rejections of the entries skipped (``bad-entry``,
        ``bad-number``, ``not-finite``, ``out-of-range``)).
    """
    if len(data) > MAX_TEXT_BYTES:
        return Rejection("oversized", f"{len(data)} bytes (up to {MAX_TEXT_BYTES} accepted)"), []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection("not-utf8", "datagram is not UTF-8 text"), []
    weights = np.zeros(NUM_ARKIT, np.float32)
    rotations: dict[str, np.ndarray] = {}
    skipped: list[Rejection] = []
    shapes = 0
    for item in text.split("|"):
        item = item.strip().lstrip("=")
        if not item:
            continue
        key, hash_, rest = item.partition("#")
        if hash_:
            field = _ROTATIONS.get(key)
            if field is None:
                continue  # a channel facecast does not use
            rotation = _rotation_rad(key, rest)
            if isinstance(rotation, Rejection):
                skipped.append(rotation)
            else:
                rotations[field] = rotation
            continue
        shape = _shape(item)
        if isinstance(shape, Rejection):
            skipped.append(shape)
            continue
        try:
            index = arkit_index(shape[0])
        except KeyError:
            continue  # not an ARKit shape
        weights[index] = min(max(shape[1] / 100.0, 0.0), 1.0)  # clamped before float32 can overflow
        shapes += 1
    if shapes == 0:
        return Rejection("no-blendshapes", "datagram carries no ARKit blendshape"), skipped
    return FaceSample(capture_wall_ns=time.time_ns() if received_ns is None else received_ns,
                      weights=weights, source=IFacialMocapSource.name, **rotations), skipped


def parse_ifacialmocap(data: bytes, *, received_ns: Optional[int] = None) -> Union[FaceSample, Rejection]:
    """Parse one iFacialMocap datagram (malformed entries skipped; see
    :func:`parse_ifacialmocap_entries`): a sample, or a :class:`Rejection` of the whole datagram."""
    return parse_ifacialmocap_entries(data, received_ns=received_ns)[0]


class IFacialMocapSource(PhoneUdpSource):
    """Handshakes with the phone at ``phone_host`` and receives its stream.

    Args:
        phone_host: the phone's IP address (the app shows it).
        bind_host: local address to bind (0.0.0.0 for a phone on Wi-Fi). The port is always
            :data:`DEFAULT_PORT`, the one the app sends to.
        phone_port: the app's UDP port on the phone.
        handshake_every_s: resend interval of the handshake while no data arrives.
    """

    name = "ifacialmocap"

    def __init__(self, *, phone_host: str, bind_host: str = DEFAULT_BIND_HOST, phone_port: int = PHONE_PORT,
                 handshake_every_s: float = HANDSHAKE_EVERY_S) -> None:
        if not handshake_every_s > 0:
            raise ValueError(f"handshake_every_s must be positive, got {handshake_every_s}")
        super().__init__(phone_host=phone_host, phone_port=phone_port, bind_host=bind_host, port=DEFAULT_PORT)
        self._every_s = handshake_every_s
        self._reset_repeats()

    def _reset_repeats(self) -> None:
        self._last_datagram = b""  # the last datagram that gave a sample
        self._repeats = 0
        self._repeat_since_ns = 0

    def open(self) -> None:
        self._reset_repeats()  # a new session: nothing repeats yet
        super().open()

    def greeting(self) -> bytes:
        return HANDSHAKE

    def greeting_due(self, now_s: float, last_data_s: Optional[float], last_greeting_s: float) -> bool:
        quiet = last_data_s is None or now_s - last_data_s >= self._every_s
        return quiet and now_s - last_greeting_s >= self._every_s

    def parse(self, data: bytes, received_ns: int) -> ParseResult:
        """One datagram, received at ``received_ns``; a repeat of the last sample's datagram is
        passed over, and reported as a lost face once it has repeated long enough (module doc)."""
        if data == self._last_datagram:
            self._repeats += 1
            lasted_s = (received_ns - self._repeat_since_ns) / 1e9
            if self._repeats >= FACE_LOST_REPEATS and lasted_s >= FACE_LOST_AFTER_S:
                return FaceSample(capture_wall_ns=received_ns, weights=np.zeros(NUM_ARKIT, np.float32), valid=False,
                                  source=self.name)
            return None  # the app repeating itself: not a new frame (yet no proof of a lost face)
        sample, skipped = parse_ifacialmocap_entries(data, received_ns=received_ns)
        for entry in skipped:
            self.rejections.add(Rejection("skipped-entry", f"{entry.reason}: {entry.detail}"))
        if isinstance(sample, FaceSample):
            self._last_datagram, self._repeats, self._repeat_since_ns = data, 1, received_ns
        return sample
