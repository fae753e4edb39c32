"""``vmc:[HOST:]PORT``: the VMC protocol (Virtual Motion Capture) over OSC/UDP.

A VMC "performer" (VSeeFace, Waidayo, iFacialMocap's VMC output, ...) sends
OSC bundles or single messages to our port (default 39539). They are decoded
with python-osc; facecast reads three addresses and ignores the rest:

- ``/VMC/Ext/Blend/Val (string name, float value)`` sets one clip's value.
  Values accumulate: a clip keeps its value until it is sent again.
- ``/VMC/Ext/Blend/Apply`` commits: the datagram that holds it yields a sample
  (values sent after the last Apply of a datagram wait for the next one).
- ``/VMC/Ext/Bone/Pos (string "Head", px, py, pz, qx, qy, qz, qw)`` gives the
  head rotation. It is the Head bone's rotation relative to its parent (the
  neck), in Unity's axes, converted to Unity's Euler angles (applied z, then x,
  then y): yaw about y, pitch about x, roll about z, radians, signs as sent.

Clips with ARKit names ("Perfect Sync" avatars) map directly, in any form
``arkit_index`` accepts (``JawOpen``, ``jawOpen``, ``eyeBlink_L``). The VRM
presets (case-insensitive; VRM 1.0 names in brackets) map to this
approximation, each ARKit weight being the preset's value times the factor:

| preset | ARKit shapes x factor |
|---|---|
| A (aa) | JawOpen 0.7, MouthFunnel 0.1 |
| I (ih) | JawOpen 0.2, MouthStretchLeft/Right 0.5, MouthSmileLeft/Right 0.2 |
| U (ou) | JawOpen 0.15, MouthPucker 0.7, MouthFunnel 0.3 |
| E (ee) | JawOpen 0.35, MouthStretchLeft/Right 0.35 |
| O (oh) | JawOpen 0.4, MouthFunnel 0.6, MouthPucker 0.2 |
| Blink (blink) | EyeBlinkLeft/Right 1 |
| Blink_L (blinkLeft) | EyeBlinkLeft 1 |
| Blink_R (blinkRight) | EyeBlinkRight 1 |
| Joy (happy) | MouthSmileLeft/Right 0.8, CheekSquintLeft/Right 0.5, EyeSquintLeft/Right 0.3 |
| Angry (angry) | BrowDownLeft/Right 0.8, NoseSneerLeft/Right 0.4, MouthFrownLeft/Right 0.3 |
| Sorrow (sad) | BrowInnerUp 0.8, MouthFrownLeft/Right 0.6 |
| Fun (relaxed) | MouthSmileLeft/Right 0.6, CheekSquintLeft/Right 0.3 |

Where several clips drive one ARKit channel (presets and ARKit clips alike),
the largest wins. Other clip names (custom expressions) are ignored.

A datagram that is not OSC, or whose Blend/Val or Head bone arguments are
malformed or non-finite, is rejected whole and changes nothing.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
import pythonosc
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from facecast.engine.sources.base import Rejection
from facecast.engine.sources.udp import ParseResult, UdpSource
from facecast.engine.types import NUM_ARKIT, FaceSample, arkit_index

DEFAULT_PORT = 39539
BLEND_VAL = "/VMC/Ext/Blend/Val"
BLEND_APPLY = "/VMC/Ext/Blend/Apply"
BONE_POS = "/VMC/Ext/Bone/Pos"
HEAD_BONE = "Head"
#: Clip names longer than this are ignored (no real clip name comes close).
MAX_CLIP_NAME = 64


def _both(stem: str, factor: float) -> dict[str, float]:
    return {f"{stem}Left": factor, f"{stem}Right": factor}


#: VRM 0.x preset -> {ARKit shape: factor}. Keep in step with the module docstring.
VRM_PRESETS: dict[str, dict[str, float]] = {
    "A": {"JawOpen": 0.7, "MouthFunnel": 0.1},
    "I": {"JawOpen": 0.2, **_both("MouthStretch", 0.5), **_both("MouthSmile", 0.2)},
    "U": {"JawOpen": 0.15, "MouthPucker": 0.7, "MouthFunnel": 0.3},
    "E": {"JawOpen": 0.35, **_both("MouthStretch", 0.35)},
    "O": {"JawOpen": 0.4, "MouthFunnel": 0.6, "MouthPucker": 0.2},
    "Blink": _both("EyeBlink", 1.0),
    "Blink_L": {"EyeBlinkLeft": 1.0},
    "Blink_R": {"EyeBlinkRight": 1.0},
    "Joy": {**_both("MouthSmile", 0.8), **_both("CheekSquint", 0.5), **_both("EyeSquint", 0.3)},
    "Angry": {**_both("BrowDown", 0.8), **_both("NoseSneer", 0.4), **_both("MouthFrown", 0.3)},
    "Sorrow": {"BrowInnerUp": 0.8, **_both("MouthFrown", 0.6)},
    "Fun": {**_both("MouthSmile", 0.6), **_both("CheekSquint", 0.3)},
}
#: VRM 1.0 expression name -> the VRM 0.x preset it replaced.
VRM1_ALIASES = {"aa": "A", "ih": "I", "ou": "U", "ee": "E", "oh": "O", "blink": "Blink",
                "blinkLeft": "Blink_L", "blinkRight": "Blink_R", "happy": "Joy", "angry": "Angry",
                "sad": "Sorrow", "relaxed": "Fun"}

_PRESET_NAMES = tuple(VRM_PRESETS)
#: (presets, 52) factors, rows in ``_PRESET_NAMES`` order.
_PRESET_TABLE = np.zeros((len(_PRESET_NAMES), NUM_ARKIT), np.float32)
for _row, _shapes in enumerate(VRM_PRESETS.values()):
    for _shape, _factor in _shapes.items():
        _PRESET_TABLE[_row, arkit_index(_shape)] = _factor
_PRESET_SLOT = {name.lower(): NUM_ARKIT + i for i, name in enumerate(_PRESET_NAMES)}
_PRESET_SLOT.update({alias.lower(): _PRESET_SLOT[preset.lower()] for alias, preset in VRM1_ALIASES.items()})


def _slot(name: str) -> int:
    """Where a clip's value goes: 0..51 an ARKit shape, 52.. a VRM preset, -1 ignored."""
    preset = _PRESET_SLOT.get(name.lower())
    if preset is not None:
        return preset
    try:
        return arkit_index(name)
    except KeyError:
        return -1


@dataclass
class VmcState:
    """What VMC messages have set so far; one per stream, passed to :func:`parse_vmc`.

    Attributes:
        clips: latest value in [0, 1] of each known clip: the 52 ARKit shapes in
            ``ARKIT_NAMES`` order, then the VRM presets in ``VRM_PRESETS`` order.
        head_rad: latest head (yaw, pitch, roll) radians, or None before any.
    """

    clips: np.ndarray = field(default_factory=lambda: np.zeros(NUM_ARKIT + len(_PRESET_NAMES), np.float32))
    head_rad: Optional[np.ndarray] = None

    def set(self, values: dict[int, float]) -> None:
        """Store ``{slot: finite value}``, clamped to [0, 1]."""
        if values:
            self.clips[list(values)] = np.clip(list(values.values()), 0.0, 1.0)

    def weights(self) -> np.ndarray:
        """(52,) ARKit weights: each channel the largest of its clip and the presets."""
        w = self.clips[:NUM_ARKIT].copy()
        presets = self.clips[NUM_ARKIT:]
        if presets.any():
            np.maximum(w, (presets[:, None] * _PRESET_TABLE).max(axis=0), out=w)
        return w


def quaternion_to_yaw_pitch_roll(qx: float, qy: float, qz: float, qw: float) -> np.ndarray:
    """A Unity rotation quaternion -> (yaw about y, pitch about x, roll about z) radians,
    Unity's Euler convention (``Quaternion.Euler(pitch, yaw, roll)`` gives it back).

    Raises:
        ValueError: the quaternion has zero length.
    """
    n = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    if not n > 1e-9:
        raise ValueError("zero-length quaternion")
    qx, qy, qz, qw = qx / n, qy / n, qz / n, qw / n
    pitch = math.asin(max(-1.0, min(1.0, 2.0 * (qw * qx - qy * qz))))
    yaw = math.atan2(2.0 * (qw * qy + qx * qz), 1.0 - 2.0 * (qx * qx + qy * qy))
    roll = math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qx * qx + qz * qz))
    return np.array([yaw, pitch, roll], np.float32)


def _flatten(bundle: OscBundle, out: list) -> None:
    for content in bundle:
        if isinstance(content, OscBundle):
            _flatten(content, out)
        else:
            out.append(content)


def _decode(data: bytes) -> list:
    """The messages of one OSC datagram (bundles flattened, in order), via python-osc."""
    if OscBundle.dgram_is_bundle(data):
        out: list = []
        _flatten(OscBundle(data), out)
        return out
    if OscMessage.dgram_is_message(data):
        return [OscMessage(data)]
    raise ValueError("neither an OSC message nor an OSC bundle")


def _number(value) -> Optional[float]:
    """``value`` as a float if it is an OSC int or float (not bool), else None."""
    t = type(value)
    return float(value) if t is float or t is int else None


def parse_vmc(data: bytes, state: VmcState, *, received_ns: Optional[int] = None
              ) -> Union[FaceSample, Rejection, None]:
    """Apply one VMC datagram to ``state``.

    Args:
        data: the datagram.
        state: the stream's accumulated clip values; updated unless rejected.
        received_ns: wall-clock ns to stamp a sample with (default: now).

    Returns:
        A sample when the datagram holds an Apply; None for valid input that
        commits nothing; a :class:`Rejection` (``not-osc``, ``bad-args``,
        ``not-finite``) leaving ``state`` unchanged.
    """
    try:
        messages = _decode(data)
    except Exception as exc:  # python-osc raises several types (and RecursionError on nesting)
        return Rejection("not-osc", f"{type(exc).__name__}: {str(exc)[:80]}")
    applied: dict[int, float] = {}  # slot -> value, set before this datagram's last Apply
    pending: dict[int, float] = {}  # slot -> value, set after it
    apply = False
    head = head_at_apply = None
    for m in messages:
        address = m.address
        if address == BLEND_VAL:
            try:
                name, value = m  # its arguments
            except ValueError:
                return Rejection("bad-args", "Blend/Val needs (string name, float value)")
            if type(name) is not str or (type(value) is not float and type(value) is not int):
                return Rejection("bad-args", f"Blend/Val has ({type(name).__name__}, {type(value).__name__}), "
                                             f"needs (string, float)")
            if not math.isfinite(value):
                return Rejection("not-finite", f"Blend/Val value of {name[:40]!r}")
            slot = _slot(name) if len(name) <= MAX_CLIP_NAME else -1
            if slot >= 0:
                pending[slot] = value
        elif address == BLEND_APPLY:
            apply = True
            applied.update(pending)
            pending.clear()
            head_at_apply = head
        elif address == BONE_POS:
            p = m.params
            if not p or p[0] != HEAD_BONE:
                continue
            q = [_number(v) for v in p[1:]]
            if len(q) != 7 or None in q:
                return Rejection("bad-args", "Bone/Pos needs (string, 7 floats)")
            if not all(math.isfinite(v) for v in q):
                return Rejection("not-finite", "Head bone position or rotation")
            try:
                head = quaternion_to_yaw_pitch_roll(*q[3:])
            except ValueError:
                return Rejection("bad-args", "Head bone rotation is a zero quaternion")
    # Valid: commit, taking the sample at the last Apply.
    sample = None
    state.set(applied)
    if apply:
        if head_at_apply is not None:
            state.head_rad = head_at_apply
        sample = FaceSample(capture_wall_ns=time.time_ns() if received_ns is None else received_ns,
                            weights=state.weights(), head_rad=state.head_rad, source=VmcSource.name)
    state.set(pending)
    if head is not None:
        state.head_rad = head
    return sample


class _DropPythonOscWarnings(logging.Filter):
    """Drops the root-logger records python-osc writes itself."""

    _dir = os.path.dirname(pythonosc.__file__)

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.pathname.startswith(self._dir)


_PYTHON_OSC_FILTER = _DropPythonOscWarnings()


def quiet_python_osc() -> None:
    """Keep python-osc's per-datagram warnings out of the log (idempotent).

    python-osc logs a root-logger WARNING for each odd type tag or bundle element
    it skips; on a UDP port anyone can send to that is a log flood. facecast
    counts bad datagrams itself (``Source.rejections``), so those records are
    dropped. Installed by :meth:`VmcSource.open`; stays for the process."""
    root = logging.getLogger()
    if _PYTHON_OSC_FILTER not in root.filters:
        root.addFilter(_PYTHON_OSC_FILTER)


class VmcSource(UdpSource):
    """Receives VMC OSC datagrams on ``host:port``.

    Args:
        host: local address to bind (0.0.0.0 for a sender on another machine).
        port: local UDP port the performer sends to (default 39539).
    """

    name = "vmc"

    def __init__(self, *, host: str, port: int = DEFAULT_PORT) -> None:
        super().__init__(host=host, port=port)
        self.state = VmcState()

    def open(self) -> None:
        super().open()
        quiet_python_osc()

    def parse(self, data: bytes, received_ns: int) -> ParseResult:
        return parse_vmc(data, self.state, received_ns=received_ns)
