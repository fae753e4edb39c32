"""The engine cache: ONNX exports and compiled engines, keyed by everything that makes them valid.

An entry is a folder ``<cache>/engines/<digest>/`` holding the artefacts and a
``meta.json`` with the full key and each artefact's size, modification time and
SHA-256. The key
names the model (a hash of its weights as loaded, LoRAs fused), the static
shapes (:class:`~facecast.engine.render.diffusion.step.StepProfile`), the dtype, the
backend and the versions and hardware that the artefact depends on (torch,
onnx opset, onnxruntime, TensorRT, the GPU's name) and facecast's version.

An entry is used only when its ``meta.json`` holds exactly the key asked for and
every artefact still has its recorded size and modification time (the hash too,
with ``full=True``: engines are gigabytes, so that is not done at every start);
anything else (a half-written
build, an engine copied from another machine, a file changed since) is *stale*:
it is removed and rebuilt, and the log says why. Never used silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from facecast.engine.paths import cache_dir

log = logging.getLogger(__name__)

META = "meta.json"


def engines_dir() -> Path:
    """``$FACECAST_ENGINE_DIR``, else ``<cache>/engines``."""
    return Path(os.environ.get("FACECAST_ENGINE_DIR") or cache_dir() / "engines")


def facecast_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("facecast")
    except PackageNotFoundError:
        return "unknown"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class CacheEntry:
    """One validated entry: its ``folder`` and ``key``."""

    folder: Path
    key: dict

    def path(self, name: str) -> Path:
        return self.folder / name


class EngineCache:
    """Entries under ``root`` (default :func:`engines_dir`)."""

    def __init__(self, root: Optional[Path] = None) -> None:
        self.root = Path(root) if root is not None else engines_dir()

    def folder(self, key: dict) -> Path:
        return self.root / key_digest(key)

    def lookup(self, key: dict, *, full: bool = False) -> Optional[CacheEntry]:
        """The entry for ``key`` if it is complete and exactly this key; a stale one is removed."""
        folder = self.folder(key)
        if not folder.exists():
            return None
        reason = self._stale_reason(folder, key, full=full)
        if reason is None:
            return CacheEntry(folder, key)
        log.warning("engine cache: %s is stale (%s); rebuilding it", folder, reason)
        shutil.rmtree(folder, ignore_errors=True)
        return None

    def build(self, key: dict, make: Callable[[Path], None]) -> CacheEntry:
        """The entry for ``key``: looked up, or made by ``make(folder)`` in a temporary
        folder that becomes the entry only when ``make`` returned (a killed build leaves nothing)."""
        entry = self.lookup(key)
        if entry is not None:
            log.info("engine cache: using %s (%s)", entry.folder, _what(key))
            return entry
        log.info("engine cache: building %s (%s)", self.folder(key), _what(key))
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=self.root))
        try:
            make(tmp)
            files = {p.name: {"bytes": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns, "sha256": file_sha256(p)}
                     for p in sorted(tmp.iterdir()) if p.is_file()}
            (tmp / META).write_text(json.dumps({"key": key, "files": files}, indent=1, sort_keys=True))
            final = self.folder(key)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return CacheEntry(final, key)

    @staticmethod
    def _stale_reason(folder: Path, key: dict, *, full: bool) -> Optional[str]:
        try:
            meta = json.loads((folder / META).read_text())
        except (OSError, ValueError) as exc:
            return f"no readable {META}: {exc}"
        if meta.get("key") != key:
            theirs = meta.get("key") or {}
            differ = sorted(k for k in set(key) | set(theirs) if key.get(k) != theirs.get(k))
            return "built for another " + ", ".join(differ)
        files = meta.get("files") or {}
        if not files:
            return "no artefacts recorded"
        for name, info in files.items():
            p = folder / name
            if not p.is_file():
                return f"{name} is missing"
            st = p.stat()
            if st.st_size != info.get("bytes") or st.st_mtime_ns != info.get("mtime_ns") or (
                    full and file_sha256(p) != info.get("sha256")):
                return f"{name} changed since it was built"
        return None


def _what(key: dict) -> str:
    return f"{key.get('component', '?')}, {key.get('backend') or key.get('artefact', '?')}"
