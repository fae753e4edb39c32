"""Response plots of a calibration profile: input weight -> output weight per channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facecast.engine.retarget.profile import Profile
from facecast.engine.retarget.steps import ProfileCurves
from facecast.engine.types import ARKIT_NAMES, NUM_ARKIT, FaceSample

_COLORS = [(230, 80, 60), (60, 150, 230), (90, 190, 90), (220, 170, 40), (170, 90, 210), (40, 190, 190),
           (230, 120, 180), (140, 140, 140)]


def response_curves(profile: Profile, *, points: int = 101) -> np.ndarray:
    """(points, 52) output of each channel for inputs 0..1 (all channels at once)."""
    curves = ProfileCurves(profile)
    xs = np.linspace(0.0, 1.0, points, dtype=np.float32)
    return np.stack([curves(FaceSample(capture_wall_ns=0, weights=np.full(NUM_ARKIT, x))).weights for x in xs])


def plot_response(profile: Profile, path: Path, *, size_px: int = 640, max_channels: int = 8) -> Path:
    """Draw the channels whose response differs most from identity (at most
    ``max_channels``), with a legend, to a PNG at ``path``."""
    from PIL import Image, ImageDraw

    ys = response_curves(profile)
    xs = np.linspace(0.0, 1.0, ys.shape[0])
    deviation = np.abs(ys - xs[:, None]).max(axis=0)
    order = [i for i in np.argsort(-deviation) if deviation[i] > 1e-3][:max_channels]
    im = Image.new("RGB", (size_px, size_px), (250, 250, 250))
    d = ImageDraw.Draw(im)
    m = 50
    span = size_px - 2 * m

    def xy(x: float, y: float) -> tuple[float, float]:
        return m + x * span, size_px - m - y * span

    for t in np.linspace(0, 1, 6):
        d.line([xy(t, 0), xy(t, 1)], fill=(225, 225, 225))
        d.line([xy(0, t), xy(1, t)], fill=(225, 225, 225))
        d.text((xy(t, 0)[0] - 8, size_px - m + 6), f"{t:.1f}", fill=(90, 90, 90))
        d.text((m - 30, xy(0, t)[1] - 6), f"{t:.1f}", fill=(90, 90, 90))
    d.line([xy(0, 0), xy(1, 1)], fill=(170, 170, 170), width=1)
    d.text((m, 15), f"profile {profile.name}: tracker weight (x) -> retargeted weight (y)", fill=(20, 20, 20))
    for k, i in enumerate(order):
        color = _COLORS[k % len(_COLORS)]
        d.line([xy(float(x), float(y)) for x, y in zip(xs, ys[:, i])], fill=color, width=3)
        d.text((m + 10, m + 10 + 14 * k), ARKIT_NAMES[i], fill=color)
    if not order:
        d.text((m + 10, m + 10), "all channels are linear (defaults)", fill=(20, 20, 20))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path
