"""``vmc:[HOST:]PORT``: the VMC protocol (Virtual Motion Capture) over OSC/UDP.

OSC packets (bundles or single messages) are decoded with python-osc.
``/VMC/Ext/Blend/Val (string name, float value)`` sets a clip's value and
``/VMC/Ext/Blend/Apply`` commits a sample. ``/VMC/Ext/Bone/Pos`` for the
``Head`` bone (``name, px, py, pz, qx, qy, qz, qw``, Unity's left-handed,
y-up axes) gives the head rotation. Other addresses are ignored.

Clips with ARKit names ("Perfect Sync") map directly. The VRM 0.x presets map
to this approximation (each ARKit weight = preset value x the factor; where
several clips drive one channel the largest wins):

| preset | ARKit shapes |
|---|---|
| A | JawOpen 0.7, MouthFunnel 0.1 |
| I | JawOpen 0.2, MouthStretchLeft/Right 0.5, MouthSmileLeft/Right 0.2 |
| U | JawOpen 0.15, MouthPucker 0.7, MouthFunnel 0.3 |
| E | JawOpen 0.35, MouthStretchLeft/Right 0.35 |
| O | JawOpen 0.4, MouthFunnel 0.6, MouthPucker 0.2 |
| Blink | EyeBlinkLeft/Right 1 |
| Blink_L, Blink_R | EyeBlinkLeft, EyeBlinkRight 1 |
| Joy | MouthSmileLeft/Right 0.8, CheekSquintLeft/Right 0.5, EyeSquintLeft/Right 0.3 |
| Angry | BrowDownLeft/Right 0.8, NoseSneerLeft/Right 0.4, MouthFrownLeft/Right 0.3 |
| Sorrow | BrowInnerUp 0.8, MouthFrownLeft/Right 0.6 |
| Fun | MouthSmileLeft/Right 0.6, CheekSquintLeft/Right 0.3 |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
from pythonosc.osc_packet import OscPacket, ParseError

from facecast.engine.sources.base import Rejection
from facecast.engine.sources.udp import ParseResult, UdpSource
from facecast.engine.types import NUM_ARKIT, FaceSample, arkit_index

DEFAULT_PORT = 39539
MAX_CLIPS = 256


def _both(stem: str, value: float) -> dict[str, float]:
    return {f"{stem}Left": value, f"{stem}Right": value}


_PRESETS_BY_NAME: dict[str, dict[str, float]] = {
    "a": {"JawOpen": 0.7, "MouthFunnel": 0.1},
    "i": {"JawOpen": 0.2, **_both("MouthStretch", 0.5), **_both("MouthSmile", 0.2)},
    "u": {"JawOpen": 0.15, "MouthPucker": 0.7, "MouthFunnel": 0.3},
    "e": {"JawOpen": 0.35, **_both("MouthStretch", 0.35)},
    "o": {"JawOpen": 0.4, "MouthFunnel": 0.6, "MouthPucker": 0.2},
    "blink": _both("EyeBlink", 1.0),
    "blink_l": {"EyeBlinkLeft": 1.0},
    "blink_r": {"EyeBlinkRight": 1.0},
    "joy": {**_both("MouthSmile", 0.8), **_both("CheekSquint", 0.5), **_both("EyeSquint", 0.3)},
    "angry": {**_both("BrowDown", 0.8), **_both("NoseSneer", 0.4), **_both("MouthFrown", 0.3)},
    "sorrow": {"BrowInnerUp": 0.8, **_both("MouthFrown", 0.6)},
    "fun": {**_both("MouthSmile", 0.6), **_both("CheekSquint", 0.3)},
}
#: preset name (lower case) -> (52,) factors.
VRM_PRESETS: dict[str, np.ndarray] = {}
for _name, _shapes in _PRESETS_BY_NAME.items():
    _v = np.zeros(NUM_ARKIT, np.float32)
    for _shape, _factor in _shapes.items():
        _v[arkit_index(_shape)] = _factor
    VRM_PRESETS[_name] = _v


@dataclass
class VmcState:
    """What has accumulated since the session started: the latest value of each clip
    (senders repeat every clip each frame; a clip not resent keeps its value) and
    the latest head rotation."""

    clips: dict[str, float] = field(default_factory=dict)
    head_rad: Optional[np.ndarray] = None


def quaternion_to_yaw_pitch_roll(qx: float, qy: float, qz: float, qw: float) -> np.ndarray:
    """Unity-axes quaternion -> (yaw about y, pitch about x, roll about z) radians,
    applied in Unity's z-x-y Euler order."""
    n = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    if n == 0:
        raise ValueError("zero quaternion")
    qx, qy, qz, qw = qx / n, qy / n, qz / n, qw / n
    pitch = math.asin(max(-1.0, min(1.0, 2 * (qw * qx - qy * qz))))
    yaw = math.atan2(2 * (qw * qy + qx * qz), 1 - 2 * (qx * qx + qy * qy))
    roll = math.atan2(2 * (qw * qz + qx * qy), 1 - 2 * (qx * qx + qz * qz))
    return np.array([yaw, pitch, roll], np.float32)


def _weights(clips: dict[str, float]) -> np.ndarray:
    w = np.zeros(NUM_ARKIT, np.float32)
    for name, value in clips.items():
        preset = VRM_PRESETS.get(name.lower())
        if preset is not None:
            np.maximum(w, preset * value, out=w)
            continue
        try:
            i = arkit_index(name)
        except KeyError:
            continue
        w[i] = max(w[i], value)
    return w


def _finite(*values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def parse_vmc(data: bytes, state: VmcState, *, received_ns: int) -> Union[FaceSample, Rejection, None]:
    """Apply one OSC datagram to ``state``; a sample when it holds an Apply, else None.

    A malformed datagram changes nothing and is rejected as a whole.
    """
    try:
        messages = [t.message for t in OscPacket(data).messages]
    except (ParseError, ValueError, IndexError, TypeError, OverflowError) as exc:
        return Rejection("not-osc", str(exc)[:80])
    clips: dict[str, float] = {}
    head = None
    apply = False
    for m in messages:
        if m.address == "/VMC/Ext/Blend/Val":
            p = m.params
            if len(p) != 2 or not isinstance(p[0], str) or not _finite(p[1]):
                return Rejection("bad-args", "Blend/Val needs (string, finite float)")
            clips[p[0][:64]] = float(min(max(p[1], 0.0), 1.0))
        elif m.address == "/VMC/Ext/Blend/Apply":
            apply = True
        elif m.address == "/VMC/Ext/Bone/Pos" and m.params and m.params[0] == "Head":
            p = m.params
            if len(p) != 8 or not _finite(*p[1:]):
                return Rejection("bad-args", "Bone/Pos needs (string, 7 finite floats)")
            try:
                head = quaternion_to_yaw_pitch_roll(*p[4:8])
            except ValueError:
                return Rejection("bad-args", "zero quaternion")
    if len(state.clips.keys() | clips.keys()) > MAX_CLIPS:
        return Rejection("oversized", f"more than {MAX_CLIPS} distinct clips")
    state.clips.update(clips)
    if head is not None:
        state.head_rad = head
    if not apply:
        return None
    return FaceSample(capture_wall_ns=received_ns, weights=_weights(state.clips), head_rad=state.head_rad,
                      source=VmcSource.name)


class VmcSource(UdpSource):
    """Receives VMC OSC packets on ``host:port`` (a VMC "performer" sends to it)."""

    name = "vmc"

    def __init__(self, *, host: str, port: int = DEFAULT_PORT) -> None:
        super().__init__(host=host, port=port)
        self.state = VmcState()

    def parse(self, data: bytes, received_ns: int) -> ParseResult:
        return parse_vmc(data, self.state, received_ns=received_ns)
