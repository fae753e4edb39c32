"""Pictures for people: contact sheets and animated previews of saved frames."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def contact_sheet(images: Sequence[np.ndarray], *, columns: int = 6, thumb_px: int = 160,
                  gap_px: int = 4) -> np.ndarray:
    """Tile (H, W, 3|4) uint8 images into one RGB sheet of ``thumb_px``-wide thumbnails."""
    from PIL import Image

    if not images:
        raise ValueError("no images for a contact sheet")
    thumbs = []
    for im in images:
        pil = Image.fromarray(np.ascontiguousarray(im[..., :3]))
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


def write_previews(frame_paths: Sequence[Path], out_dir: Path, *, sheet_count: int = 24,
                   gif_fps: float = 15.0, gif_max_frames: int = 150) -> dict[str, Path]:
    """Write ``contact_sheet.png`` and ``preview.gif`` from saved frame files.

    The sheet samples ``sheet_count`` frames evenly; the GIF plays up to
    ``gif_max_frames`` evenly spaced frames at ``gif_fps``. Returns the paths written.
    """
    from PIL import Image

    paths = sorted(frame_paths)
    if not paths:
        raise ValueError(f"no saved frames to preview in {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    pick = np.unique(np.linspace(0, len(paths) - 1, min(sheet_count, len(paths))).round().astype(int))
    sheet = contact_sheet([np.asarray(Image.open(paths[i]).convert("RGB")) for i in pick])
    sheet_path = out_dir / "contact_sheet.png"
    Image.fromarray(sheet).save(sheet_path)
    pick = np.unique(np.linspace(0, len(paths) - 1, min(gif_max_frames, len(paths))).round().astype(int))
    frames = []
    for i in pick:
        im = Image.open(paths[i]).convert("RGB")
        frames.append(im.resize((256, max(1, round(256 * im.height / im.width)))))
    gif_path = out_dir / "preview.gif"
    frames[0].save(gif_path, save_all=True, append_images=frames[1:], loop=0,
                   duration=int(1000 / gif_fps))
    return {"contact_sheet": sheet_path, "preview": gif_path}
