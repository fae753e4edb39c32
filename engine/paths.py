"""facecast's folders on the user's machine (XDG layout, overridable per folder)."""

from __future__ import annotations

import os
from pathlib import Path


def _folder(override_env: str, xdg_env: str, default: str) -> Path:
    if os.environ.get(override_env):
        return Path(os.environ[override_env])
    return Path(os.environ.get(xdg_env) or str(Path.home() / default)) / "facecast"


def cache_dir() -> Path:
    """Downloaded models and per-photo caches: ``$FACECAST_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/facecast``, else ``~/.cache/facecast``."""
    return _folder("FACECAST_CACHE_DIR", "XDG_CACHE_HOME", ".cache")


def config_dir() -> Path:
    """Profiles and settings: ``$FACECAST_CONFIG_DIR``, else
    ``$XDG_CONFIG_HOME/facecast``, else ``~/.config/facecast``."""
    return _folder("FACECAST_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")
