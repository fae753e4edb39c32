"""The engine's frames on their way to the browsers: a tap that keeps the newest one, and its encodings.

:class:`FrameTap` is one of the engine's outputs. ``publish`` (the engine's thread) only keeps a reference to
the frame and wakes the web server's event loop: nothing is encoded or queued there, so no browser can slow
the engine. Each browser connection then takes the newest frame when it is ready for one
(:mod:`.clients`), and :class:`Encodings` encodes each frame at most once per encoding, on a worker thread,
however many browsers want it.

A frame on the WebSocket is one binary message: a 4-byte big-endian header length, the header (UTF-8 JSON:
``seq``, ``capture_wall_ms``, ``render_wall_ms``, ``sent_wall_ms``, ``width``, ``height``, ``encoding`` and
``parts``, the MIME type and byte length of each image that follows), then the images. Encodings:

- ``jpeg``: the colour alone (an alpha channel is dropped);
- ``jpeg+alpha``: the colour as JPEG, then the alpha channel losslessly: one byte per pixel, rows top-down,
  zlib-deflated (``application/x-facecast-alpha``; the page inflates it with the browser's own
  ``DecompressionStream``). 2 ms at 512x512, against 13 ms for lossy WebP with alpha;
- ``webp``: lossy WebP with its alpha (about 13 ms at 512x512);
- ``png``: lossless RGBA (tens of ms; for checking pixels, not for streaming).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import struct
import time
import zlib
from typing import Callable, Optional

import cv2
import numpy as np
from PIL import Image

from facecast.engine.diagnostics import TRACE
from facecast.engine.types import Frame, PixelFormat

log = logging.getLogger(__name__)

ENCODINGS = ("jpeg", "jpeg+alpha", "webp", "png")
ALPHA_MIME = "application/x-facecast-alpha"
DEFAULT_QUALITY = 80
_HEADER_LENGTH = struct.Struct(">I")


class FrameTap:
    """An engine output that keeps the newest frame with pixels and calls ``notify`` (set by the web server:
    a thread-safe wake-up of its event loop) for each."""

    def __init__(self) -> None:
        self.latest: Optional[Frame] = None
        self.seq = 0
        self.notify: Optional[Callable[[], None]] = None

    def publish(self, frame: Frame) -> None:
        if frame.pixels is None:
            return
        self.latest = frame
        self.seq += 1
        notify = self.notify
        if notify is not None:
            notify()

    def close(self) -> None:
        self.notify = None


def _bgr_and_alpha(pixels: np.ndarray, pixel_format: PixelFormat) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """OpenCV's channel order (BGR, contiguous) and the alpha channel (None without one). OpenCV's own
    conversions: numpy's channel shuffles took 4 ms for a 512x512 RGBA frame, these 0.5 ms."""
    if pixel_format is PixelFormat.BGRA8:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR), cv2.extractChannel(pixels, 3)
    if pixel_format is PixelFormat.RGBA8:
        return cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGR), cv2.extractChannel(pixels, 3)
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), None


def encode_frame(frame: Frame, *, seq: int, encoding: str, quality: int = DEFAULT_QUALITY) -> bytes:
    """One WebSocket message for ``frame`` (see the module docstring)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding {encoding!r}: choose one of {', '.join(ENCODINGS)}")
    bgr, alpha = _bgr_and_alpha(frame.pixels, frame.pixel_format)
    has_alpha = alpha is not None
    parts: list[tuple[str, bytes]] = []
    if encoding in ("jpeg", "jpeg+alpha"):
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        parts.append(("image/jpeg", jpeg.tobytes()))
        if encoding == "jpeg+alpha" and has_alpha:
            parts.append((ALPHA_MIME, zlib.compress(alpha.tobytes(), 1)))
    elif encoding == "webp":
        buf = io.BytesIO()
        rgb = frame.pixel_format.rgb(frame.pixels)
        image = Image.fromarray(np.dstack([rgb, frame.pixels[..., 3]]) if has_alpha else np.ascontiguousarray(rgb))
        image.save(buf, format="WEBP", quality=quality, method=0)
        parts.append(("image/webp", buf.getvalue()))
    else:
        ok, png = cv2.imencode(".png", np.dstack([bgr, alpha]) if has_alpha else bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        parts.append(("image/png", png.tobytes()))
    h, w = frame.pixels.shape[:2]
    header = json.dumps({
        "seq": seq, "capture_wall_ms": frame.sample.capture_wall_ns / 1e6, "render_wall_ms": frame.render_wall_ns / 1e6,
        "sent_wall_ms": time.time_ns() / 1e6, "width": w, "height": h, "encoding": encoding,
        "alpha": has_alpha and encoding != "jpeg", "parts": [[mime, len(data)] for mime, data in parts],
    }).encode()
    return b"".join([_HEADER_LENGTH.pack(len(header)), header, *(data for _, data in parts)])


class Encodings:
    """Encodes the tap's newest frame once per (encoding, quality), on a worker thread, for every client that
    asks; older frames' encodings are forgotten as soon as a newer frame is asked for."""

    def __init__(self) -> None:
        self._seq = -1
        self._pending: dict[tuple[str, int], asyncio.Future] = {}
        self.encoded = 0

    async def get(self, frame: Frame, *, seq: int, encoding: str, quality: int) -> bytes:
        if seq != self._seq:
            self._seq, self._pending = seq, {}
        key = (encoding, quality)
        future = self._pending.get(key)
        if future is None:
            future = asyncio.ensure_future(asyncio.to_thread(encode_frame, frame, seq=seq, encoding=encoding,
                                                             quality=quality))
            self._pending[key] = future
            self.encoded += 1
            log.log(TRACE, "encoding frame %d as %s", seq, encoding)
        return await asyncio.shield(future)
