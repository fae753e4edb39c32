"""Per-user calibration profiles: what the retarget stage applies to each sample.

A profile holds, per ARKit channel, a neutral ``offset``, a ``gain``, a response
curve exponent ``gamma`` and a ``[low, high]`` clamp; a head-pose zero; and One
Euro filter settings per family of channels. It is stored as TOML in the user's
config directory (``$FACECAST_CONFIG_DIR`` or ``$XDG_CONFIG_HOME/facecast`` or
``~/.config/facecast``), under ``profiles/NAME.toml``. The tools in
``facecast.calibration`` write it; :func:`profile_steps` turns it into retarget
steps.

Per channel, in order: ``w = clip((w - offset) * gain, 0, 1) ** gamma``, then
``clip(w, low, high)``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.paths import config_dir
from facecast.engine.types import ARKIT_NAMES, NUM_ARKIT

PROFILE_VERSION = 1


def _family(name: str) -> str:
    if name.startswith("EyeBlink") or name.startswith("EyeSquint") or name.startswith("EyeWide"):
        return "eyelids"
    if name.startswith("EyeLook"):
        return "gaze"
    if name.startswith("Brow"):
        return "brows"
    if name.startswith(("Jaw", "Mouth", "Tongue")):
        return "mouth"
    return "cheeks"  # CheekPuff, CheekSquint*, NoseSneer*


#: Channel family of each ARKit channel, in ARKIT_NAMES order.
CHANNEL_FAMILIES: tuple[str, ...] = tuple(_family(n) for n in ARKIT_NAMES)
#: All filter families: the five channel families plus the head pose.
FILTER_FAMILIES = ("eyelids", "gaze", "brows", "mouth", "cheeks", "head")


@dataclass(frozen=True, kw_only=True)
class FilterSettings:
    """One Euro settings for one family (see ``filters.py`` for their meaning).
    ``enabled = False`` passes the family through unfiltered."""

    min_cutoff_hz: float = 1.5
    beta: float = 5.0
    d_cutoff_hz: float = 1.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if not (self.min_cutoff_hz > 0 and self.d_cutoff_hz > 0 and self.beta >= 0):
            raise ValueError(f"bad One Euro settings {self}: need min_cutoff_hz > 0, d_cutoff_hz > 0, beta >= 0")


#: Defaults per family, measured on a 60 Hz stream with noise of sd 0.02 (see
#: tests/test_calibration.py): mouth (1 Hz, beta 3) cuts jitter 3.5x and follows a
#: 0 -> 0.8 step to 90% in 2 samples (33 ms); eyelids trade jitter (2.9x) for a
#: 1-sample blink onset; brows, cheeks and the head are smoothed more.
DEFAULT_FILTERS: dict[str, FilterSettings] = {
    "eyelids": FilterSettings(min_cutoff_hz=1.5, beta=5.0),
    "gaze": FilterSettings(min_cutoff_hz=1.0, beta=3.0),
    "brows": FilterSettings(min_cutoff_hz=0.8, beta=2.0),
    "mouth": FilterSettings(min_cutoff_hz=1.0, beta=3.0),
    "cheeks": FilterSettings(min_cutoff_hz=0.8, beta=2.0),
    "head": FilterSettings(min_cutoff_hz=0.5, beta=1.0),
}


def _array(value, default: float) -> np.ndarray:
    a = np.full(NUM_ARKIT, default, np.float32) if value is None else np.asarray(value, np.float32).copy()
    if a.shape != (NUM_ARKIT,) or not np.all(np.isfinite(a)):
        raise ValueError(f"expected 52 finite values, got shape {a.shape}")
    a.flags.writeable = False
    return a


@dataclass(frozen=True, kw_only=True)
class Profile:
    """A calibration profile. Arrays are (52,) float32 in ARKIT_NAMES order.

    Attributes:
        name: profile name (the file stem).
        offset: neutral value subtracted from each channel, in [0, 1).
        gain: multiplier after the offset, > 0.
        gamma: response exponent, > 0 (1 = linear; < 1 boosts small values).
        low, high: output clamp, 0 <= low < high <= 1.
        head_zero_rad: (3,) yaw, pitch, roll subtracted from the head pose.
        neutral_ease_s: when the tracker loses the face, time to ease to neutral.
        filters: One Euro settings per family in :data:`FILTER_FAMILIES`.
        lipsync: the voice's lip-sync templates (``facecast calibrate lipsync``), as
            :meth:`facecast.engine.sources.lipsync.VowelTemplates.to_dict` writes them; None: the defaults.
    """

    name: str
    offset: np.ndarray = None
    gain: np.ndarray = None
    gamma: np.ndarray = None
    low: np.ndarray = None
    high: np.ndarray = None
    head_zero_rad: np.ndarray = None
    neutral_ease_s: float = 0.5
    filters: dict[str, FilterSettings] = field(default_factory=lambda: dict(DEFAULT_FILTERS))
    lipsync: Optional[dict] = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.name or ""):
            raise ValueError(f"profile name {self.name!r}: use 1-64 letters, digits, '_', '-' or '.'")
        s = object.__setattr__
        s(self, "offset", _array(self.offset, 0.0))
        s(self, "gain", _array(self.gain, 1.0))
        s(self, "gamma", _array(self.gamma, 1.0))
        s(self, "low", _array(self.low, 0.0))
        s(self, "high", _array(self.high, 1.0))
        head = np.zeros(3, np.float32) if self.head_zero_rad is None else np.asarray(self.head_zero_rad, np.float32)
        if head.shape != (3,) or not np.all(np.isfinite(head)):
            raise ValueError("head_zero_rad must be 3 finite values")
        s(self, "head_zero_rad", head)
        if np.any(self.gain <= 0) or np.any(self.gamma <= 0):
            raise ValueError("gain and gamma must be > 0 for every channel")
        if np.any(self.offset < 0) or np.any(self.offset >= 1):
            raise ValueError("offsets must be in [0, 1)")
        if np.any(self.low < 0) or np.any(self.high > 1) or np.any(self.low >= self.high):
            raise ValueError("clamps need 0 <= low < high <= 1 for every channel")
        if not self.neutral_ease_s >= 0:
            raise ValueError("neutral_ease_s must be >= 0")
        unknown = set(self.filters) - set(FILTER_FAMILIES)
        if unknown:
            raise ValueError(f"unknown filter families {sorted(unknown)}; known: {', '.join(FILTER_FAMILIES)}")
        s(self, "filters", {f: self.filters.get(f, DEFAULT_FILTERS[f]) for f in FILTER_FAMILIES})

    def with_changes(self, **changes) -> "Profile":
        return replace(self, **changes)

    # -- TOML ----------------------------------------------------------------- #

    def to_toml(self) -> str:
        import tomli_w

        doc = {
            "version": PROFILE_VERSION,
            "name": self.name,
            "neutral_ease_s": float(self.neutral_ease_s),
            "head": {"zero_rad": [round(float(v), 6) for v in self.head_zero_rad]},
            "filter": {f: {"min_cutoff_hz": s.min_cutoff_hz, "beta": s.beta, "d_cutoff_hz": s.d_cutoff_hz,
                           "enabled": s.enabled} for f, s in self.filters.items()},
            "channels": {n: {"offset": round(float(self.offset[i]), 6), "gain": round(float(self.gain[i]), 6),
                             "gamma": round(float(self.gamma[i]), 6), "low": round(float(self.low[i]), 6),
                             "high": round(float(self.high[i]), 6)}
                         for i, n in enumerate(ARKIT_NAMES)},
        }
        if self.lipsync is not None:
            doc["lipsync"] = self.lipsync
        header = ("# facecast calibration profile. Per channel: w = clip((w - offset) * gain, 0, 1) ** gamma,\n"
                  "# then clip(w, low, high). Filters: One Euro per family (see docs/calibration.md).\n")
        return header + tomli_w.dumps(doc)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "profile") -> "Profile":
        """Parse a profile; a channel or family left out keeps its default.

        Raises ``ValueError`` naming ``source`` and the problem.
        """
        try:
            doc = tomllib.loads(text)
            version = doc.get("version", PROFILE_VERSION)
            if version != PROFILE_VERSION:
                raise ValueError(f"profile version {version} is not supported (this facecast reads {PROFILE_VERSION})")
            arrays = {k: np.full(NUM_ARKIT, d, np.float32) for k, d in
                      (("offset", 0.0), ("gain", 1.0), ("gamma", 1.0), ("low", 0.0), ("high", 1.0))}
            for name, values in doc.get("channels", {}).items():
                if name not in ARKIT_NAMES:
                    raise ValueError(f"unknown channel {name!r} (use the PascalCase ARKit names)")
                for key, value in values.items():
                    if key not in arrays:
                        raise ValueError(f"channel {name}: unknown key {key!r}")
                    arrays[key][ARKIT_NAMES.index(name)] = float(value)
            filters = {f: FilterSettings(**v) for f, v in doc.get("filter", {}).items()}
            lipsync = doc.get("lipsync")
            if lipsync is not None and not isinstance(lipsync, dict):
                raise ValueError("[lipsync] must be a table")
            return cls(name=doc["name"], head_zero_rad=doc.get("head", {}).get("zero_rad"),
                       neutral_ease_s=float(doc.get("neutral_ease_s", 0.5)), filters=filters, lipsync=lipsync,
                       **arrays)
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None


def profiles_dir() -> Path:
    """Where named profiles live: ``profiles/`` in facecast's config folder."""
    return config_dir() / "profiles"


def profile_path(name: str) -> Path:
    """Where the profile ``name`` lives. A value with a '/' or ending in .toml is a path."""
    if "/" in name or name.endswith(".toml"):
        return Path(name)
    return profiles_dir() / f"{name}.toml"


def load_profile(name: str) -> Profile:
    """Load a profile by name or path. Raises FileNotFoundError/ValueError with advice."""
    path = profile_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"no profile {name!r} at {path}; create one with "
                                f"'facecast calibrate neutral --source SPEC --profile {name}'")
    return Profile.from_toml(path.read_text(), source=str(path))


def save_profile(profile: Profile, path: Optional[Path] = None) -> Path:
    """Write ``profile`` (atomically) to ``path`` or its place in the config folder."""
    path = path or profile_path(profile.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(profile.to_toml())
    tmp.replace(path)
    return path
