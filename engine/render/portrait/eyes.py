"""The eyeball under the lids: the photo's own eye where the photo shows it, and a
synthesised eyeball (sclera, iris disc with a darker rim, pupil) around it, in
the photo's colours, for what wider lids or a gaze shift uncover."""

from __future__ import annotations

import numpy as np

from facecast.engine.render.portrait.mesh import Opening

#: Iris centre and rim landmarks (FaceLandmarker's refined iris points) per eye opening.
IRIS = {"right": (468, (469, 470, 471, 472)), "left": (473, (474, 475, 476, 477))}
_DEFAULT_SCLERA = np.array([228.0, 222.0, 216.0])


#: Share of the way from MediaPipe's upper eye contour to the next ring of
#: landmarks above it where the visible lid margin (the lash line) lies.
LID_MARGIN_SHARE = 0.6


def lift_to_lid_margin(rest: np.ndarray, mesh) -> None:
    """Move each eye opening's upper chain (in place, rest vertices only) up to the
    visible lid margin.

    MediaPipe's upper eye contour runs inside the eye, below the lashes: the top
    of the iris and the lash line lie in the lid's skin triangles, so a blink
    would drag them down over the closed lid. Lifted, the opening holds the
    whole visible eyeball and the lid skin starts at the lashes. The warp is the
    identity at rest for any mesh, so the rest pose still reproduces the photo.
    """
    tris = mesh.triangles
    for o in (mesh.eye_right, mesh.eye_left):
        contour = set(o.upper) | set(o.lower)
        for i in o.upper[1:-1]:
            across = rest[o.lower[list(o.upper).index(i)]] - rest[i]  # toward the lower lid
            down = across / max(np.linalg.norm(across), 1e-6)
            neighbours = {int(v) for t in tris[(tris == i).any(1)] for v in t} - contour
            heights = [float((rest[i] - rest[n]) @ down) for n in neighbours]
            above = [h for h in heights if h > 0]
            if above:
                rest[i] -= down * LID_MARGIN_SHARE * min(above)


def lid_colour(image: np.ndarray, rest: np.ndarray, o: Opening, iod_px: float) -> np.ndarray:
    """(3,) median colour of the upper lid's skin: a band 0.05-0.12 IODs above the lid margin."""
    up = rest[o.upper[1:-1]]
    down = rest[o.lower[1:-1]] - up
    down /= np.maximum(np.linalg.norm(down, axis=1, keepdims=True), 1e-6)
    pts = np.concatenate([up - down * k * iod_px for k in np.linspace(0.05, 0.12, 6)])
    h, w = image.shape[:2]
    xy = np.clip(np.round(pts - 0.5).astype(int), 0, [w - 1, h - 1])
    return np.median(image[xy[:, 1], xy[:, 0]].astype(np.float64), axis=0)


def opening_mask(shape_hw: tuple[int, int], rest: np.ndarray, o: Opening) -> np.ndarray:
    """(H, W) uint8, 255 inside the opening's rest polygon."""
    import cv2

    poly = np.concatenate([rest[o.upper], rest[o.lower][::-1]]) - 0.5
    mask = np.zeros(shape_hw, np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
    return mask


def _median_colour(pixels: np.ndarray, default: np.ndarray, *, brightest: float = 0.0) -> np.ndarray:
    if len(pixels) < 3:
        return default
    if brightest:
        lum = pixels.sum(1)
        pixels = pixels[lum >= np.quantile(lum, 1 - brightest)]
    return np.median(pixels, axis=0)


def eyeball_image(image: np.ndarray, rest: np.ndarray, openings: tuple[Opening, Opening],
                  iod_px: float) -> np.ndarray:
    """The portrait with each eye's surroundings replaced by its eyeball.

    ``openings`` is (right, left). Pixels the opening covers at rest (and a
    1-pixel margin) keep the photo, so the rest pose is unchanged.
    """
    import cv2

    out = image.copy()
    pad = int(round(0.3 * iod_px)) + 2
    h, w = image.shape[:2]
    for o, side in zip(openings, ("right", "left")):
        inside = opening_mask(image.shape[:2], rest, o) > 0
        ys, xs = np.nonzero(inside)
        if len(xs) < 4:
            continue
        x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
        y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
        centre_i, rim_i = IRIS[side]
        centre = rest[centre_i] - 0.5
        radius = float(np.mean(np.linalg.norm(rest[list(rim_i)] - rest[centre_i], axis=1)))
        radius = radius if radius > 1.0 else 0.12 * iod_px
        gy, gx = np.mgrid[y0:y1, x0:x1]
        dist = np.hypot(gx - centre[0], gy - centre[1])
        box = image[y0:y1, x0:x1].astype(np.float64)
        seen = inside[y0:y1, x0:x1]
        sclera = _median_colour(box[seen & (dist > 1.15 * radius)], _DEFAULT_SCLERA, brightest=0.5)
        iris = _median_colour(box[seen & (dist < 0.85 * radius) & (dist > 0.4 * radius)],
                              np.array([90.0, 60.0, 40.0]))
        t = np.clip(dist / radius, 0.0, 1.0)[..., None]
        iris_px = iris * (1.0 - 0.35 * t ** 4)
        iris_px = np.where((dist < 0.38 * radius)[..., None], iris * 0.35, iris_px)
        edge = np.clip((dist - radius) / 1.5 + 0.5, 0.0, 1.0)[..., None]  # soft limbus
        synth = iris_px * (1 - edge) + sclera * edge
        keep = cv2.dilate(seen.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        region = np.where(keep[..., None], box, synth)
        out[y0:y1, x0:x1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
    return out
