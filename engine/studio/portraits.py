"""The studio's portrait photos: the astronaut, the one given on the command line, and uploads.

An upload is accepted only when it is small enough (``max_bytes``), is a JPEG, PNG or WebP image that Pillow
reads in full, and has at most :data:`MAX_PIXELS` pixels. It is stored under a name made here from its
SHA-256 (never from anything the browser sent), so no request can name a path: a portrait is chosen by that
id, which must be one of :meth:`PortraitStore.ids`.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Optional

from PIL import Image

from facecast.engine.render.base import RendererUnavailable

ASTRONAUT = "astronaut"  # the shipped portrait's name (render.portrait.rig.ASTRONAUT, which imports numba)

#: Pixels an uploaded photo may have (a 40-megapixel phone photo fits; a decompression bomb does not).
MAX_PIXELS = 40_000_000
_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}  # HEIF: an iPhone's photo (pillow-heif)
_ID = re.compile(r"[0-9a-f]{16}\.(jpg|png|webp|heic)")


class UploadError(ValueError):
    """An upload the studio refuses; the message says why. ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def image_format(data: bytes) -> str:
    """The file extension of ``data``, a complete JPEG, PNG, WebP or HEIC image; raises :class:`UploadError`."""
    from facecast.engine.render.portrait.photo import register_heif

    register_heif()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt, (w, h) = probe.format, probe.size
            if fmt not in _FORMATS:
                raise UploadError(f"a {fmt or 'unknown'} file: upload a JPEG, PNG, WebP or HEIC photo",
                                  status=415)
            if w * h > MAX_PIXELS:
                raise UploadError(f"{w}x{h} pixels is more than {MAX_PIXELS // 1_000_000} megapixels: send a smaller "
                                  "photo", status=413)
            probe.verify()
    except UploadError:
        raise
    except Exception as exc:  # Pillow raises many kinds for a damaged or non-image file
        raise UploadError(f"not a readable image ({type(exc).__name__}): upload a JPEG, PNG, WebP or HEIC photo",
                          status=415) from None
    return _FORMATS[fmt]


class PortraitStore:
    """Portraits by id: ``astronaut``, ``cli`` (the ``--portrait`` given, if any) and uploads in ``folder``."""

    def __init__(self, folder: Path, *, max_bytes: int, cli_photo: Optional[str] = None) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._fixed = {ASTRONAUT: ASTRONAUT}
        if cli_photo and cli_photo != ASTRONAUT:
            self._fixed["cli"] = cli_photo

    def ids(self) -> list[str]:
        uploads = sorted(p.name for p in self.folder.glob("*") if _ID.fullmatch(p.name)) if self.folder.is_dir() else []
        return [*self._fixed, *uploads]

    def describe(self) -> list[dict]:
        return [{"id": i, "name": Path(self._fixed[i]).name if i in self._fixed else f"upload {i}"} for i in self.ids()]

    def path(self, portrait_id: str) -> str:
        """The photo (a path, or ``astronaut``) of a known id; raises :class:`UploadError` for any other."""
        if portrait_id in self._fixed:
            return self._fixed[portrait_id]
        if isinstance(portrait_id, str) and _ID.fullmatch(portrait_id) and (self.folder / portrait_id).is_file():
            return str(self.folder / portrait_id)
        raise UploadError(f"no portrait {str(portrait_id)[:40]!r}; choose one of the list or upload a photo",
                          status=404)

    def save(self, data: bytes) -> str:
        """Store an uploaded photo; returns its id. Raises :class:`UploadError` (size, type)."""
        if len(data) > self.max_bytes:
            raise UploadError(f"the photo has {len(data)} bytes; the studio accepts up to {self.max_bytes} "
                              "(--max-upload-mb)", status=413)
        ext = image_format(data)
        portrait_id = f"{hashlib.sha256(data).hexdigest()[:16]}.{ext}"
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / portrait_id
        if not target.is_file():
            part = target.with_name(portrait_id + ".part")
            part.write_bytes(data)
            part.replace(target)
        return portrait_id

    def check(self, portrait_id: str) -> dict:
        """``facecast portrait check``'s result for a portrait: its lines, and why it is refused (or None)."""
        from facecast.engine.render.portrait.photo import check_photo  # numba: compiled on first use
        from facecast.engine.render.portrait.rig import load_portrait  # numba: compiled on first use

        photo = self.path(portrait_id)
        try:
            rgb, name = load_portrait(photo)
            result = check_photo(rgb, name=name if name == ASTRONAUT else photo)
        except RendererUnavailable as exc:
            return {"id": portrait_id, "lines": [str(exc)], "refusal": str(exc), "notes": []}
        return {"id": portrait_id, "lines": result.lines(), "refusal": result.refusal, "notes": list(result.notes)}
