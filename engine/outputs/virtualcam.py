"""``--virtualcam``: the rendered frames as a webcam that OBS, Zoom, Discord or a browser can pick.

Through pyvirtualcam: OBS Studio's Virtual Camera on Windows and macOS, v4l2loopback on Linux. The loop's
``publish`` only leaves the frame in a one-slot mailbox (newest wins); a thread of this output converts it
and sends it to the device, so a slow device never slows the engine and never builds a queue.

A virtual camera carries no alpha: a transparent frame is sent over a key colour (green by default), for
OBS's Chroma Key filter. For real transparency use the studio's browser source (``/view?bg=transparent``).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Optional

import numpy as np

from facecast.engine.diagnostics import TRACE, ErrorCounter
from facecast.engine.mailbox import Mailbox
from facecast.engine.types import Frame, PixelFormat

log = logging.getLogger(__name__)

#: The colour a transparent frame's background is sent as (OBS's Chroma Key default is green).
DEFAULT_KEY_RGB = (0, 255, 0)


def how_to_get_a_device() -> str:
    """What to install or start for a virtual camera on this platform."""
    if sys.platform.startswith("win"):
        return ("install OBS Studio (26 or newer) and click 'Start Virtual Camera' in it once, which registers "
                "the device (then stop it there: facecast drives it), or install Unity Capture")
    if sys.platform == "darwin":
        return ("install OBS Studio (30 or newer), click 'Start Virtual Camera' once and allow its camera "
                "extension in System Settings, then stop it there (facecast drives it)")
    return ("load the v4l2loopback kernel module: 'sudo apt install v4l2loopback-dkms' (or your distribution's "
            "package), then 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=facecast'; pass "
            "--virtualcam-device /dev/videoN if it is not the first loopback device")


class VirtualCameraError(RuntimeError):
    """No virtual camera can be opened; the message says how to get one."""


def rgb_over_key(pixels: np.ndarray, pixel_format: PixelFormat, key_rgb: tuple[int, int, int]) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a frame; a frame with alpha is composited over ``key_rgb``."""
    rgb = pixel_format.rgb(pixels)
    if pixel_format.channels != 4:
        return np.ascontiguousarray(rgb)
    a = pixels[..., 3:4].astype(np.uint16)
    key = np.asarray(key_rgb, np.uint16)
    return ((rgb.astype(np.uint16) * a + key * (255 - a) + 127) // 255).astype(np.uint8)


class VirtualCamera:
    """An output (``publish(frame)``, ``close()``) that feeds a virtual camera of ``width`` x ``height``.

    Args:
        width, height: the frames' size, pixels (every frame must have it).
        fps: the rate the camera announces.
        device: a device name or path (None: the first one).
        backend: a pyvirtualcam backend name (None: every one this platform has; tests register their own).
        key_rgb: the colour transparent pixels are sent as.

    Raises:
        VirtualCameraError: pyvirtualcam is missing or no device opens (the message says what to do).
    """

    def __init__(self, *, width: int, height: int, fps: float, device: Optional[str] = None,
                 backend: Optional[str] = None, key_rgb: tuple[int, int, int] = DEFAULT_KEY_RGB) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise VirtualCameraError("--virtualcam needs the pyvirtualcam package, which has no build for this "
                                     "machine's platform; 'pip install pyvirtualcam' says why") from None
        try:
            self._camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device,
                                               backend=backend)
        except (RuntimeError, ValueError, KeyError) as exc:
            detail = " ".join(str(exc).split())
            raise VirtualCameraError(f"no virtual camera could be opened ({detail}). To get one, "
                                     f"{how_to_get_a_device()}") from None
        self.device = self._camera.device
        self.size_wh = (width, height)
        self.key_rgb = key_rgb
        self.errors = ErrorCounter(log)
        self.frames_sent = 0
        self._mailbox: Mailbox[Frame] = Mailbox()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="facecast-virtualcam", daemon=True)
        self._thread.start()
        log.info("virtual camera: %s (%s), %dx%d", self.device, self._camera.backend, width, height)

    @property
    def frames_dropped(self) -> int:
        """Frames replaced by a newer one before the device took them."""
        return self._mailbox.dropped_count

    def publish(self, frame: Frame) -> None:
        """Leave ``frame`` for the camera's thread (replacing one it has not taken yet). Never blocks."""
        if frame.pixels is not None:
            self._mailbox.put(frame)

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self._mailbox.take(0.1)
            if frame is None:
                continue
            try:
                if frame.size != self.size_wh:
                    raise ValueError(f"frame of {frame.size[0]}x{frame.size[1]} for a {self.size_wh[0]}x"
                                     f"{self.size_wh[1]} virtual camera")
                self._camera.send(rgb_over_key(frame.pixels, frame.pixel_format, self.key_rgb))
                self.frames_sent += 1
                log.log(TRACE, "virtual camera: frame sent")
            except Exception as exc:
                self.errors.record("virtualcam", exc)

    def close(self) -> None:
        self._stop.set()
        self._mailbox.wake()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        if self._camera is not None:
            self._camera.close()
            self._camera = None
