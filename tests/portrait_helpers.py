"""Measures of the portrait renderer's frames that more than one test module checks."""

from __future__ import annotations

import numpy as np


def off_arc_px(points: np.ndarray) -> np.ndarray:
    """(N,) how far (pixels, along y) each of a lid chain's points ((N, 2) pixels, corner to corner) lies from the
    arc through its two end points that fits it best (a parabola's sag over the chord, least squares)."""
    v = np.asarray(points, np.float64)
    (x0, y0), (x1, y1) = v[0], v[-1]
    chord = y0 + (v[:, 0] - x0) * (y1 - y0) / (x1 - x0)
    arch = np.clip(1.0 - ((v[:, 0] - (x0 + x1) / 2) / (abs(x1 - x0) / 2)) ** 2, 0.0, 1.0)
    sag = arch @ (v[:, 1] - chord) / (arch @ arch)
    return np.abs(v[:, 1] - chord - sag * arch)


def face_grain(rgb: np.ndarray, landmarks: np.ndarray, iod_px: float) -> float:
    """The grain of a face's skin at large: the median, over a grid of squares 0.1 IOD wide across the face
    (``landmarks`` (N, 2+) pixels; squares with a landmark within 0.6 of their width), of each square's spread of
    fine detail (``eyes._fine_detail``, what the renderer's grain is measured as) in the frame ``rgb`` (H, W, 3).
    Skin is most of a face, so the features' edges do not set it."""
    from facecast.engine.render.portrait.eyes import _fine_detail

    detail = _fine_detail(rgb)
    n = max(int(0.1 * iod_px), 6)
    pts = np.asarray(landmarks, np.float64)[:, :2]
    (x0, y0), (x1, y1) = np.percentile(pts, 5, axis=0), np.percentile(pts, 95, axis=0)
    spreads = []
    for y in np.arange(y0, y1 - n, n):
        for x in np.arange(x0, x1 - n, n):
            if np.min(np.linalg.norm(pts - (x + n / 2, y + n / 2), axis=1)) <= 0.6 * n:
                spreads.append(detail[int(y):int(y) + n, int(x):int(x) + n].std())
    return float(np.median(spreads))


def lid_and_cheek_masks(points: np.ndarray, shape_hw: tuple[int, int], iod_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(lid, cheek) (H, W) bool masks for a shut eye whose upper lid chain is ``points`` ((N, 2) pixels, corner to
    corner): the middle 60% of its width, 0.04-0.1 IOD above the shut line (the closed lid's skin, clear of the
    lash line) and 0.12-0.21 IOD below it (the cheek under the eye)."""
    v = np.asarray(points, np.float64)
    order = np.argsort(v[:, 0])
    yy, xx = np.mgrid[:shape_hw[0], :shape_hw[1]] + 0.5
    line = np.interp(xx, v[order, 0], v[order, 1])
    span = v[:, 0].max() - v[:, 0].min()
    across = (xx > v[:, 0].min() + 0.2 * span) & (xx < v[:, 0].max() - 0.2 * span)
    lid = across & (yy < line - 0.04 * iod_px) & (yy > line - 0.1 * iod_px)
    cheek = across & (yy > line + 0.12 * iod_px) & (yy < line + 0.21 * iod_px)
    return lid, cheek


def lid_loop_rows(renderer, blinks: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5)) -> list[int]:
    """Per blink weight (both eyes), the thin dark rows a half-closed eye adds in the eyes' boxes over the neutral
    frame's: pixels darker than the rows 2 px above and below them by 20 grey levels, between the eye's corners and
    0.15 IOD above and below its upper lid. A lid layer that drew its own lash line above the photo's hanging lash
    band drew a loop there (``renderer``: a prepared portrait renderer at 512x512)."""
    from facecast.engine.types import NUM_ARKIT, FaceSample, arkit_index

    def weights(blink: float) -> FaceSample:
        w = np.zeros(NUM_ARKIT, np.float32)
        w[arkit_index("eyeBlinkLeft")] = w[arkit_index("eyeBlinkRight")] = blink
        return FaceSample(capture_wall_ns=0, weights=w)

    rest = renderer.drawn_landmarks(weights(0.0))
    iod = renderer.rig.iod_px
    h, w = renderer.rig.image.shape[:2]
    yy, xx = np.mgrid[:h, :w] + 0.5
    box = np.zeros((h, w), bool)
    for o in (renderer.mesh.eye_right, renderer.mesh.eye_left):
        up = rest[o.upper[1:-1]]
        x0, x1 = sorted(rest[list(o.corners), 0])
        box |= (xx > x0 + 2) & (xx < x1 - 2) & (yy > up[:, 1].min() - 0.15 * iod) & (yy < up[:, 1].max() + 0.15 * iod)

    def dark_rows(blink: float) -> int:
        grey = renderer.render(weights(blink))[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        return int(((np.minimum(np.roll(grey, 2, 0), np.roll(grey, -2, 0)) - grey > 20) & box).sum())

    at_rest = dark_rows(0.0)
    return [dark_rows(b) - at_rest for b in blinks]
