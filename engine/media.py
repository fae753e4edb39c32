"""Pictures for people: contact sheets and animated previews of saved frames."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from facecast.engine.types import PixelFormat


def contact_sheet(images: Sequence[np.ndarray], *, columns: int = 6, thumb_px: int = 160,
                  gap_px: int = 4) -> np.ndarray:
    """Tile (H, W, 3|4) uint8 images into one RGB sheet of ``thumb_px``-wide thumbnails (RGBA ones shown over
    a grey checkerboard)."""
    from PIL import Image

    if not images:
        raise ValueError("no images for a contact sheet")
    thumbs = []
    for im in images:
        pil = Image.fromarray(np.ascontiguousarray(im[..., :3] if im.shape[-1] != 4 else _over_checkerboard(im)))
        h = max(1, round(pil.height * thumb_px / pil.width))
        thumbs.append(np.asarray(pil.resize((thumb_px, h), Image.BILINEAR)))
    th = max(t.shape[0] for t in thumbs)
    cols = min(columns, len(thumbs))
    rows = -(-len(thumbs) // cols)
    sheet = np.full((rows * (th + gap_px) + gap_px, cols * (thumb_px + gap_px) + gap_px, 3), 24, np.uint8)
    for i, t in enumerate(thumbs):
        r, c = divmod(i, cols)
        y, x = gap_px + r * (th + gap_px), gap_px + c * (thumb_px + gap_px)
        sheet[y:y + t.shape[0], x:x + thumb_px] = t
    return sheet


def _over_checkerboard(rgba: np.ndarray, square_px: int = 16) -> np.ndarray:
    """(H, W, 3) uint8: an RGBA image over a grey checkerboard (how editors show transparency)."""
    y, x = np.indices(rgba.shape[:2])
    board = np.where((y // square_px + x // square_px) % 2 == 0, 204, 153).astype(np.float32)[..., None]
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return np.round(rgba[..., :3] * a + board * (1.0 - a)).astype(np.uint8)


class PreviewFrames:
    """The frames of a live stream to preview, in memory, evenly spaced in time.

    Time is cut into slots of ``1 / fps`` seconds by each frame's capture time; a slot keeps the newest
    frame that falls in it (newest wins, as everywhere in facecast), so a preview made from the slots
    plays at the stream's own pace, whatever the receiver dropped. Memory stays bounded over any
    duration: past ``max_frames`` slots, pairs of slots merge into one twice as long (``fps`` halves; the
    newer frame wins), so the kept frames stay evenly spaced. Pictures are kept as they arrived
    (zero-copy views), converted only when read.
    """

    def __init__(self, *, fps: float = 15.0, max_frames: int = 300) -> None:
        if not fps > 0 or max_frames < 2:
            raise ValueError(f"fps must be positive and max_frames at least 2, got {fps}, {max_frames}")
        self.fps = fps
        self._max_frames = max_frames
        self._t0_ns: Optional[int] = None
        self._slots: dict[int, tuple[np.ndarray, PixelFormat]] = {}

    def add(self, msg) -> None:
        """Keep ``msg`` (a bridge :class:`~facecast.bridge.protocol.Message`) if it has raw pixels."""
        if msg.pixels is None or msg.pixel_format.channels == 0:
            return
        if self._t0_ns is None:
            self._t0_ns = msg.t_capture_ns
        slot = int((msg.t_capture_ns - self._t0_ns) * self.fps // 1_000_000_000)
        if slot < 0:
            return
        self._slots[slot] = (msg.pixels, msg.pixel_format)
        if len(self._slots) > self._max_frames:  # halve the rate: pairs of slots merge, the newer frame wins
            self._slots = {k // 2: self._slots[k] for k in sorted(self._slots)}
            self.fps /= 2

    def __len__(self) -> int:
        return len(self._slots)

    def frames(self) -> list[np.ndarray]:
        """(H, W, 3) uint8 RGB pictures, one per slot that received a frame, in time order."""
        return [np.ascontiguousarray(fmt.rgb(pixels)) for pixels, fmt in (self._slots[k] for k in sorted(self._slots))]


def write_previews(frames: Sequence[np.ndarray], out_dir: Path, *, sheet_count: int = 24,
                   gif_fps: float = 15.0, gif_max_frames: int = 150, gif_width_px: int = 256) -> dict[str, Path]:
    """Write ``contact_sheet.png`` and ``preview.gif`` from (H, W, 3) uint8 RGB frames in time order.

    The sheet samples ``sheet_count`` frames evenly; the GIF plays up to ``gif_max_frames`` evenly
    spaced frames in real time, given that ``frames`` are ``1 / gif_fps`` seconds apart. Both are written to a temporary name first. Returns the paths written.
    """
    from PIL import Image

    if not len(frames):
        raise ValueError(f"no frames to preview in {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    pick = np.unique(np.linspace(0, len(frames) - 1, min(sheet_count, len(frames))).round().astype(int))
    sheet_path = out_dir / "contact_sheet.png"
    _save_atomically(Image.fromarray(contact_sheet([frames[i] for i in pick])), sheet_path)
    pick = np.unique(np.linspace(0, len(frames) - 1, min(gif_max_frames, len(frames))).round().astype(int))
    thumbs = []
    for i in pick:
        im = Image.fromarray(frames[i])
        thumbs.append(im.resize((gif_width_px, max(1, round(gif_width_px * im.height / im.width))), Image.BILINEAR))
    gif_path = out_dir / "preview.gif"
    stride = (len(frames) - 1) / (len(pick) - 1) if len(pick) > 1 else 1.0  # > 1 when frames were left out
    _save_atomically(thumbs[0], gif_path, save_all=True, append_images=thumbs[1:], loop=0,
                     duration=round(1000 * stride / gif_fps))
    return {"contact_sheet": sheet_path, "preview": gif_path}


def _save_atomically(image, path: Path, **options) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    image.save(tmp, format=path.suffix.lstrip(".").upper(), **options)
    tmp.replace(path)
