"""Scripts for offline rendering (``facecast render``): keyframes in time, eased between.

Schema (YAML or JSON; every error names the field and says what is allowed)::

    fps: 30                  # output frame rate, 1..240 (default 30)
    seed: 0                  # the renderer's noise (default 0)
    keyframes:               # at least one; times in seconds, increasing
      - t: 0                 #   time of this key
        preset: neutral      #   a named expression (``facecast render --presets``) ...
      - t: 1.0
        preset: surprise
        amount: 0.8          #   ... scaled by amount (default 1)
        ease: ease-in-out    #   easing of the segment ending here: linear (default),
                             #   ease-in-out, cubic, hold (jump at t)
      - t: 2.0
        arkit: {jawOpen: 0.6, mouthSmileLeft: 0.4}   # ARKit weights (others 0, or on top of a preset)
        head_deg: [10, 0, 0]                          # optional head yaw, pitch, roll
      - t: 3.0
        flame: {expression: [0.5, -0.2], jaw: [0.1, 0, 0], eyelid: [0, 0]}  # FLAME values (diffusion only)

A key's ARKit weights are its preset times ``amount``, then its ``arkit`` entries
(which replace the preset's values). ``flame`` keys give the renderer FLAME
values directly, bypassing the ARKit -> FLAME map; a script mixes either kind only
if every key has FLAME values or none has.
A Live Link Face CSV recording can stand in for a script (``csv:PATH``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.offline.presets import PRESETS, preset_weights
from facecast.engine.sources.base import SourceError
from facecast.engine.sources.livelink_csv import check_csv_options, load_recording
from facecast.engine.types import FLAME_DIM, FLAME_NUM_EXPRESSION, NUM_ARKIT, arkit_index


EASINGS = ("linear", "ease-in-out", "cubic", "hold")
#: Longest script or timeline, seconds (a day at 240 fps is 20.7 M frames; an hour is plenty).
MAX_SECONDS = 3600.0
_KEY_FIELDS = {"t", "preset", "amount", "arkit", "flame", "ease", "head_deg"}


class ScriptError(ValueError):
    """An invalid script; the message names the field and what is allowed."""


def ease(kind: str, u: float) -> float:
    """Eased progress of a segment, ``u`` in [0, 1]."""
    u = min(max(u, 0.0), 1.0)
    if kind == "linear":
        return u
    if kind == "ease-in-out":
        return 0.5 - 0.5 * math.cos(math.pi * u)
    if kind == "cubic":
        return 4 * u ** 3 if u < 0.5 else 1 - (-2 * u + 2) ** 3 / 2
    if kind == "hold":
        return 1.0 if u >= 1.0 else 0.0
    raise ScriptError(f"unknown easing {kind!r}; use one of {', '.join(EASINGS)}")


@dataclass(frozen=True)
class Key:
    t_s: float
    weights: np.ndarray           # (52,)
    flame: Optional[np.ndarray]   # (55,) or None
    head_rad: np.ndarray          # (3,)
    ease: str


@dataclass(frozen=True)
class Timeline:
    """Per-frame parameters of a script: ``weights`` (N, 52), ``head_rad`` (N, 3),
    ``flame`` (N, 55) or None, at ``fps``; ``seed`` for the renderer; ``eye_left_rad`` and
    ``eye_right_rad`` (N, 3) yaw, pitch, roll of each eye, or None (scripts have none; a CSV
    recording with the eye columns has them)."""

    fps: float
    weights: np.ndarray
    head_rad: np.ndarray
    flame: Optional[np.ndarray]
    seed: int = 0
    eye_left_rad: Optional[np.ndarray] = None
    eye_right_rad: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.weights)

    @property
    def duration_s(self) -> float:
        return (len(self) - 1) / self.fps


def _number(value, where: str, *, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScriptError(f"{where}: expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise ScriptError(f"{where}: {value} is outside {lo}..{hi}")
    return float(value)


def _vector(value, n_max: int, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) > n_max:
        raise ScriptError(f"{where}: expected a list of up to {n_max} numbers")
    out = np.zeros(n_max, np.float32)
    for i, v in enumerate(value):
        out[i] = _number(v, f"{where}[{i}]")
    return out


def _key(raw, i: int) -> Key:
    where = f"keyframes[{i}]"
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: expected a mapping with t and preset/arkit/flame")
    unknown = set(raw) - _KEY_FIELDS
    if unknown:
        raise ScriptError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                          f"allowed: {', '.join(sorted(_KEY_FIELDS))}")
    if "t" not in raw:
        raise ScriptError(f"{where}: missing t (seconds)")
    t = _number(raw["t"], f"{where}.t", lo=0.0, hi=MAX_SECONDS)
    if not ({"preset", "arkit", "flame"} & set(raw)):
        raise ScriptError(f"{where}: give a preset, arkit weights or flame values")
    w = np.zeros(NUM_ARKIT, np.float32)
    if "preset" in raw:
        try:
            w = preset_weights(str(raw["preset"]))
        except KeyError as exc:
            raise ScriptError(f"{where}.preset: {exc.args[0]}") from None
    w = w * _number(raw.get("amount", 1.0), f"{where}.amount", lo=0.0, hi=1.0)
    arkit = raw.get("arkit", {})
    if not isinstance(arkit, dict):
        raise ScriptError(f"{where}.arkit: expected a mapping of ARKit names to weights")
    for name, value in arkit.items():
        try:
            w[arkit_index(str(name))] = _number(value, f"{where}.arkit.{name}", lo=0.0, hi=1.0)
        except KeyError:
            raise ScriptError(f"{where}.arkit: unknown ARKit name {name!r}") from None
    flame = None
    if "flame" in raw:
        f = raw["flame"]
        if not isinstance(f, dict) or not set(f) <= {"expression", "eyelid", "jaw"}:
            raise ScriptError(f"{where}.flame: expected a mapping with expression, eyelid and/or jaw lists")
        flame = np.concatenate([_vector(f.get("expression", []), FLAME_NUM_EXPRESSION, f"{where}.flame.expression"),
                                _vector(f.get("eyelid", []), 2, f"{where}.flame.eyelid"),
                                _vector(f.get("jaw", []), 3, f"{where}.flame.jaw")])
    head = _vector(raw.get("head_deg", []), 3, f"{where}.head_deg") * np.float32(math.pi / 180)
    kind = raw.get("ease", "linear")
    if kind not in EASINGS:
        raise ScriptError(f"{where}.ease: unknown easing {kind!r}; use one of {', '.join(EASINGS)}")
    return Key(t_s=t, weights=w, flame=flame, head_rad=head, ease=kind)


def parse_script(data) -> Timeline:
    """A :class:`Timeline` from a parsed script (dict). Raises :class:`ScriptError`."""
    if not isinstance(data, dict):
        raise ScriptError("a script is a mapping with fps and keyframes")
    unknown = set(data) - {"fps", "seed", "keyframes"}
    if unknown:
        raise ScriptError(f"unknown top-level field(s) {', '.join(sorted(unknown))}; allowed: fps, seed, keyframes")
    fps = _number(data.get("fps", 30), "fps", lo=1, hi=240)
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ScriptError(f"seed: expected a non-negative integer, got {seed!r}")
    raw_keys = data.get("keyframes")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ScriptError("keyframes: expected a non-empty list")
    keys = [_key(k, i) for i, k in enumerate(raw_keys)]
    for i in range(1, len(keys)):
        if keys[i].t_s <= keys[i - 1].t_s:
            raise ScriptError(f"keyframes[{i}].t: {keys[i].t_s} must be after keyframes[{i - 1}].t ({keys[i - 1].t_s})")
    with_flame = [k.flame is not None for k in keys]
    if any(with_flame) and not all(with_flame):
        raise ScriptError("flame values must be on every keyframe or on none")
    n = int(math.ceil(keys[-1].t_s * fps - 1e-9)) + 1  # the last frame reaches the last key
    weights = np.zeros((n, NUM_ARKIT), np.float32)
    head = np.zeros((n, 3), np.float32)
    flame = np.zeros((n, FLAME_DIM), np.float32) if all(with_flame) else None
    for f in range(n):
        t = min(f / fps, keys[-1].t_s)
        j = int(np.searchsorted([k.t_s for k in keys], t, side="right"))  # keys[j-1].t <= t < keys[j].t
        a = keys[max(j - 1, 0)]
        if j == 0 or j >= len(keys):
            b, s = a, 0.0
        else:
            b = keys[j]
            s = ease(b.ease, (t - a.t_s) / (b.t_s - a.t_s))
        weights[f] = a.weights + (b.weights - a.weights) * s
        head[f] = a.head_rad + (b.head_rad - a.head_rad) * s
        if flame is not None:
            flame[f] = a.flame + (b.flame - a.flame) * s
    return Timeline(fps=fps, weights=np.clip(weights, 0, 1), head_rad=head, flame=flame, seed=seed)


def load_timeline(spec: str | Path, *, fps: Optional[float] = None, timecode_fps: Optional[float] = None,
                  take_file: Optional[str] = None) -> Timeline:
    """A script file (``.yaml``/``.yml``/``.json``) or ``csv:PATH`` (a Live Link Face
    recording or take folder, resampled to ``fps``, default 30; ``timecode_fps`` and
    ``take_file`` as :func:`~facecast.engine.sources.livelink_csv.load_recording` takes them).

    Raises:
        ScriptError: unreadable or invalid.
    """
    spec = str(spec)
    if spec.startswith("csv:") or spec.lower().endswith(".csv"):
        return _csv_timeline(spec[4:] if spec.startswith("csv:") else spec, fps or 30.0,
                             timecode_fps=timecode_fps, take_file=take_file)
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"cannot read the script {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # yaml.YAMLError or json.JSONDecodeError, with the line
        raise ScriptError(f"{path}: not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'}: "
                          f"{exc}") from None
    timeline = parse_script(data)
    if fps is not None:
        raise ScriptError("a script sets its own fps; --fps is for CSV timelines")
    try:
        check_csv_options(str(spec), timecode_fps=timecode_fps, take_file=take_file)
    except SourceError as exc:
        raise ScriptError(str(exc)) from None
    return timeline


def _resample(t_s: np.ndarray, values: Optional[np.ndarray], grid_s: np.ndarray) -> Optional[np.ndarray]:
    """``values`` (N, K) at times ``t_s``, linearly interpolated at ``grid_s``; None stays None."""
    if values is None:
        return None
    return np.stack([np.interp(grid_s, t_s, values[:, k]) for k in range(values.shape[1])], 1).astype(np.float32)


def _csv_timeline(path: str, fps: float, *, timecode_fps: Optional[float] = None,
                  take_file: Optional[str] = None) -> Timeline:
    """A recording resampled to ``fps``: frame 0 at the first row, the last frame at or before the
    last row (``floor(duration_s * fps) + 1`` frames); weights, head and eye angles interpolated."""
    if not (math.isfinite(fps) and 1 <= fps <= 240):
        raise ScriptError(f"--fps {fps}: use 1..240")
    try:
        rec = load_recording(path, timecode_fps=timecode_fps, take_file=take_file)
    except (OSError, ValueError, SourceError) as exc:
        raise ScriptError(f"cannot use {path} as a timeline: {exc}") from None
    t = rec.times_s - rec.times_s[0]
    if t[-1] > MAX_SECONDS:
        raise ScriptError(f"{path} lasts {t[-1]:.0f} s; facecast render takes up to {MAX_SECONDS:.0f} s")
    n = int(math.floor(t[-1] * fps + 1e-9)) + 1
    grid = np.arange(n) / fps
    head = _resample(t, rec.head_rad, grid)
    return Timeline(fps=fps, weights=_resample(t, rec.weights, grid),
                    head_rad=head if head is not None else np.zeros((n, 3), np.float32), flame=None,
                    eye_left_rad=_resample(t, rec.eye_left_rad, grid),
                    eye_right_rad=_resample(t, rec.eye_right_rad, grid))


__all__ = ["EASINGS", "PRESETS", "ScriptError", "Timeline", "ease", "load_timeline", "parse_script"]
