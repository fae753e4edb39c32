"""Core types of facecast: blendshape names, face samples, FLAME parameters, frames.

Every other module imports these; nothing here imports from the rest of facecast.
Each type is defined here and only here.

Clocks: ``*_wall_ns`` values are integer nanoseconds of the wall clock
(``time.time_ns()``, Unix epoch), comparable between processes on one host.
Angles are radians and their names end in ``_rad``.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

# --------------------------------------------------------------------------- #
# ARKit blendshapes
# --------------------------------------------------------------------------- #

#: The 52 ARKit blendshapes in the order of Unreal's ``EARFaceBlendShape``,
#: which Live Link Face also uses for its UDP packets. This order is the
#: canonical order of every weight vector in facecast and on the wire.
ARKIT_NAMES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft",
    "EyeLookUpLeft", "EyeSquintLeft", "EyeWideLeft",
    "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight",
    "EyeLookUpRight", "EyeSquintRight", "EyeWideRight",
    "JawForward", "JawLeft", "JawRight", "JawOpen",
    "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft", "MouthRight",
    "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight",
    "MouthUpperUpLeft", "MouthUpperUpRight",
    "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight",
    "NoseSneerLeft", "NoseSneerRight", "TongueOut",
)
NUM_ARKIT = len(ARKIT_NAMES)
#: The 14 shapes the portrait renderer's acceptance is measured on (``facecast eval``, ``calibrate
#: fit-portrait`` and ``facecast portrait check``), in MediaPipe's spelling (:func:`arkit_index` takes either).
KEY_SHAPES: tuple[str, ...] = (
    "jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "browInnerUp", "browDownLeft", "browDownRight", "browOuterUpLeft",
    "browOuterUpRight", "mouthPucker", "mouthFunnel", "mouthStretchLeft", "mouthStretchRight", "eyeWideLeft",
    "eyeWideRight")
assert NUM_ARKIT == 52

#: :data:`ARKIT_NAMES` in ARKit's and MediaPipe's camelCase spelling (``eyeBlinkLeft``), same order.
ARKIT_CAMEL_NAMES: tuple[str, ...] = tuple(n[0].lower() + n[1:] for n in ARKIT_NAMES)
#: MediaPipe FaceLandmarker's blendshape order: ``_neutral`` then 51 camelCase
#: names in alphabetical order (MediaPipe has no tongueOut).
MEDIAPIPE_NAMES: tuple[str, ...] = ("_neutral",) + tuple(sorted(n for n in ARKIT_CAMEL_NAMES if n != "tongueOut"))


def blendshape_key(name: str) -> str:
    """Normalise a blendshape name to a lookup key (Apple's raw ``eyeBlink_L`` too).
    Plain string work: parsers call it for every entry of every packet."""
    n = name.strip().lower()
    if n.endswith("_l"):
        return n[:-2] + "left"
    if n.endswith("_r"):
        return n[:-2] + "right"
    return n


_INDEX_BY_KEY: dict[str, int] = {blendshape_key(n): i for i, n in enumerate(ARKIT_NAMES)}


@functools.lru_cache(maxsize=1024)
def arkit_index(name: str) -> int:
    """Index in :data:`ARKIT_NAMES` of a blendshape name.

    Accepts PascalCase (``EyeBlinkLeft``), camelCase (``eyeBlinkLeft``) and
    Apple's raw form (``eyeBlink_L``). Raises ``KeyError`` naming the input.
    Memoised (bounded): the network parsers look up the same 52 names in every
    packet, and a hit costs a quarter of the normalisation.
    """
    try:
        return _INDEX_BY_KEY[blendshape_key(name)]
    except KeyError:
        raise KeyError(f"unknown ARKit blendshape name {name!r}") from None


def arkit_from_mapping(values: Mapping[str, float], *, strict: bool = False) -> np.ndarray:
    """Build a (52,) float32 weight vector from ``{name: weight}``.

    Names may be in any of the forms :func:`arkit_index` accepts; missing shapes
    are 0. Unknown names raise ``KeyError`` when ``strict``, else are ignored.
    """
    out = np.zeros(NUM_ARKIT, np.float32)
    for name, value in values.items():
        try:
            out[arkit_index(name)] = value
        except KeyError:
            if strict:
                raise
    return out


#: For each MediaPipe index, the ARKit index it maps to (-1 for ``_neutral``).
_MP_TO_ARKIT = np.array(
    [-1] + [arkit_index(n) for n in MEDIAPIPE_NAMES[1:]], dtype=np.int64
)


def arkit_from_mediapipe(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Convert MediaPipe's 52 scores (``_neutral`` first) to the (52,) ARKit order.

    TongueOut, which MediaPipe does not estimate, is 0.
    """
    s = np.asarray(scores, dtype=np.float32)
    if s.shape != (len(MEDIAPIPE_NAMES),):
        raise ValueError(f"expected {len(MEDIAPIPE_NAMES)} MediaPipe scores, got shape {s.shape}")
    out = np.zeros(NUM_ARKIT, np.float32)
    out[_MP_TO_ARKIT[1:]] = s[1:]
    return out


def _vector(value, length: int, what: str) -> np.ndarray:
    """``value`` as a (length,) float32 array (a new one only when conversion needs it);
    raises ``ValueError`` for a wrong size or a NaN/infinity. On the per-frame path."""
    if value is None:
        raise ValueError(f"{what} must have {length} values, got None")
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        a = value
    else:
        with np.errstate(over="ignore"):  # a huge number becomes inf and is rejected below
            a = np.asarray(value, dtype=np.float32)
    if a.shape != (length,):
        a = a.reshape(-1) if a.size == length else None
        if a is None:
            raise ValueError(f"{what} must have {length} values, got shape {np.shape(value)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} contains NaN or infinity")
    return a


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only array with ``a``'s values: ``a`` itself if already read-only, else a copy
    (so the caller's array is neither frozen nor shared)."""
    if a.flags.writeable:
        a = a.copy()
        a.flags.writeable = False
    return a


# --------------------------------------------------------------------------- #
# Face sample
# --------------------------------------------------------------------------- #

#: What drove a sample's mouth (``FaceSample.mouth``, the bridge header's ``mouth``).
MOUTH_TRACKER, MOUTH_AUDIO, MOUTH_MIXED = "tracker", "audio", "mixed"
MOUTH_SOURCES = (MOUTH_TRACKER, MOUTH_AUDIO, MOUTH_MIXED)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaceSample:
    """One tracked face at one instant, in the canonical ARKit order.

    Attributes:
        capture_wall_ns: when the tracker captured it, wall-clock ns (Unix epoch).
        weights: (52,) float32 in [0, 1], :data:`ARKIT_NAMES` order.
        head_rad: optional (3,) float32 yaw, pitch, roll of the head in radians.
        eye_left_rad, eye_right_rad: optional (3,) yaw, pitch, roll of each eye.
        valid: False when the tracker saw no face (weights then carry no meaning).
        source: name of the source that produced it (``demo``, ``csv``, ...).
        flame: FLAME parameters the source estimated from the same frame (``--flame smirk:PATH``
            on a camera or video source), or None.
        mouth: what drove the mouth channels: :data:`MOUTH_TRACKER` (the source), :data:`MOUTH_AUDIO`
            (lip-sync, ``--lipsync``) or :data:`MOUTH_MIXED` (both).

    Construction validates shapes and finiteness and clamps weights to [0, 1];
    the arrays are made read-only so a sample can be shared between threads.
    """

    capture_wall_ns: int
    weights: np.ndarray
    head_rad: Optional[np.ndarray] = None
    eye_left_rad: Optional[np.ndarray] = None
    eye_right_rad: Optional[np.ndarray] = None
    valid: bool = True
    source: str = ""
    flame: Optional[FlameParams] = None
    mouth: str = "tracker"

    def __post_init__(self) -> None:
        if self.mouth not in MOUTH_SOURCES:
            raise ValueError(f"mouth {self.mouth!r}: one of {', '.join(MOUTH_SOURCES)}")
        if self.flame is not None and not isinstance(self.flame, FlameParams):
            raise TypeError(f"flame must be FlameParams or None, got {type(self.flame).__name__}")
        w = _vector(self.weights, NUM_ARKIT, "weights").clip(0.0, 1.0)  # a new array
        w.flags.writeable = False
        setattr_ = object.__setattr__
        setattr_(self, "weights", w)
        for attr in ("head_rad", "eye_left_rad", "eye_right_rad"):
            v = getattr(self, attr)
            if v is not None:
                setattr_(self, attr, _frozen(_vector(v, 3, attr)))
        setattr_(self, "capture_wall_ns", int(self.capture_wall_ns))

    def weight(self, name: str) -> float:
        """The weight of one blendshape, by any accepted name form."""
        return float(self.weights[arkit_index(name)])


# --------------------------------------------------------------------------- #
# FLAME expression parameters (Arc2Face expression adapter input)
# --------------------------------------------------------------------------- #

FLAME_NUM_EXPRESSION = 50
FLAME_NUM_EYELID = 2
FLAME_NUM_JAW = 3
#: Length of the adapter's input: expression(50), eyelid(2), jaw(3), in that order.
FLAME_DIM = FLAME_NUM_EXPRESSION + FLAME_NUM_EYELID + FLAME_NUM_JAW
FLAME_JAW_SIDE_LIMIT_RAD = 0.2


@dataclass(frozen=True, slots=True, kw_only=True)
class FlameParams:
    """FLAME expression parameters as the Arc2Face expression adapter consumes them.

    Attributes:
        expression: (50,) expression coefficients (unbounded, typically within +-3).
        eyelid: (2,) eyelid closure, each in [0, 1].
        jaw_rad: (3,) jaw axis-angle in radians: [0] >= 0 (opening),
            [1] and [2] within +-0.2.
        head_rad: optional (3,) head yaw, pitch, roll in radians.

    Out-of-range values raise ``ValueError``; use :meth:`from_vector` with
    ``clamp=True`` to apply the adapter's own clamping (ReLU and clamps) instead.
    """

    expression: np.ndarray
    eyelid: np.ndarray
    jaw_rad: np.ndarray
    head_rad: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        e = _vector(self.expression, FLAME_NUM_EXPRESSION, "expression")
        lid = _vector(self.eyelid, FLAME_NUM_EYELID, "eyelid")
        jaw = _vector(self.jaw_rad, FLAME_NUM_JAW, "jaw_rad")
        if np.any(lid < 0) or np.any(lid > 1):
            raise ValueError(f"eyelid values must be in [0, 1], got {lid.tolist()}")
        if jaw[0] < 0:
            raise ValueError(f"jaw_rad[0] (opening) must be >= 0, got {jaw[0]}")
        if np.any(np.abs(jaw[1:]) > FLAME_JAW_SIDE_LIMIT_RAD + 1e-6):
            raise ValueError(f"jaw_rad[1:] must be within +-{FLAME_JAW_SIDE_LIMIT_RAD}, got {jaw[1:].tolist()}")
        for attr, v in (("expression", e), ("eyelid", lid), ("jaw_rad", jaw)):
            object.__setattr__(self, attr, _frozen(v))
        if self.head_rad is not None:
            object.__setattr__(self, "head_rad", _frozen(_vector(self.head_rad, 3, "head_rad")))

    @classmethod
    def neutral(cls) -> "FlameParams":
        """All zeros: the adapter's unconditional input."""
        return cls.from_vector(np.zeros(FLAME_DIM, np.float32))

    @classmethod
    def from_vector(cls, vector, *, clamp: bool = False, head_rad=None) -> "FlameParams":
        """Build from the (55,) adapter vector. ``clamp`` applies the adapter's clamps."""
        v = _vector(vector, FLAME_DIM, "FLAME vector").copy()
        e, lid, jaw = np.split(v, [FLAME_NUM_EXPRESSION, FLAME_NUM_EXPRESSION + FLAME_NUM_EYELID])
        if clamp:
            lid = np.clip(lid, 0.0, 1.0)
            jaw = np.concatenate([np.maximum(jaw[:1], 0.0),
                                  np.clip(jaw[1:], -FLAME_JAW_SIDE_LIMIT_RAD, FLAME_JAW_SIDE_LIMIT_RAD)])
        return cls(expression=e, eyelid=lid, jaw_rad=jaw, head_rad=head_rad)

    def as_vector(self) -> np.ndarray:
        """The (55,) float32 adapter vector: expression, eyelid, jaw."""
        return np.concatenate([self.expression, self.eyelid, self.jaw_rad]).astype(np.float32)


# --------------------------------------------------------------------------- #
# Frames
# --------------------------------------------------------------------------- #


class PixelFormat(str, enum.Enum):
    """Pixel layout of a frame. The values are the wire names (bridge/PROTOCOL.md)."""

    NONE = "none"
    RGB8 = "rgb8"
    RGBA8 = "rgba8"
    BGRA8 = "bgra8"
    JPEG = "jpeg"

    @property
    def channels(self) -> int:
        """Bytes per pixel for raw formats; 0 for ``none`` and ``jpeg``."""
        return {"rgb8": 3, "rgba8": 4, "bgra8": 4}.get(self.value, 0)

    def rgb(self, pixels: np.ndarray) -> np.ndarray:
        """(H, W, 3) RGB view of (H, W, C) ``pixels`` in this raw format (no copy; alpha dropped, BGRA reversed).

        Raises:
            ValueError: ``none`` or ``jpeg``, which hold no raw pixels.
        """
        if self.channels == 0:
            raise ValueError(f"{self.value} holds no raw pixels")
        return pixels[..., 2::-1] if self is PixelFormat.BGRA8 else pixels[..., :3]


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """A rendered (or parameter-only) output frame.

    Attributes:
        sample: the face sample after retargeting that produced this frame.
        pixels: (H, W, C) uint8, rows top-down, or ``None`` for format ``none``.
        pixel_format: layout of ``pixels``: a raw format or ``none``. Renderers
            produce raw pixels; JPEG is an encoding the publisher applies.
        flame: FLAME parameters when the renderer used them.
        identity: name of the rendered identity ("" when none).
        render_wall_ns: when rendering finished, wall-clock ns.
        repeated: True when these pixels are a re-send of the last good frame
            because the renderer failed on this sample.
    """

    sample: FaceSample
    pixels: Optional[np.ndarray] = None
    pixel_format: PixelFormat = PixelFormat.NONE
    flame: Optional[FlameParams] = None
    identity: str = ""
    render_wall_ns: int = 0
    repeated: bool = False

    def __post_init__(self) -> None:
        fmt = PixelFormat(self.pixel_format)
        object.__setattr__(self, "pixel_format", fmt)
        p = self.pixels
        if fmt is PixelFormat.NONE:
            if p is not None:
                raise ValueError("a frame of format 'none' carries no pixels")
            return
        if not isinstance(p, np.ndarray) or p.dtype != np.uint8:
            raise ValueError(f"pixels must be a uint8 numpy array for format {fmt.value}")
        if fmt is PixelFormat.JPEG:
            raise ValueError("frames hold raw pixels; JPEG is applied by the publisher (--format jpeg)")
        if p.ndim != 3 or p.shape[2] != fmt.channels:
            raise ValueError(f"{fmt.value} pixels must have shape (H, W, {fmt.channels}), got {p.shape}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the pixels; (0, 0) without pixels."""
        if self.pixels is None:
            return (0, 0)
        return (int(self.pixels.shape[1]), int(self.pixels.shape[0]))


__all__ = [
    "KEY_SHAPES",
    "ARKIT_NAMES", "NUM_ARKIT", "MEDIAPIPE_NAMES", "arkit_index", "arkit_from_mapping",
    "arkit_from_mediapipe", "FaceSample", "FlameParams", "FLAME_DIM", "FLAME_NUM_EXPRESSION",
    "FLAME_NUM_EYELID", "FLAME_NUM_JAW", "FLAME_JAW_SIDE_LIMIT_RAD", "PixelFormat", "Frame",
    "MOUTH_TRACKER", "MOUTH_AUDIO", "MOUTH_MIXED", "MOUTH_SOURCES",
]
