"""Loading a portrait (the default astronaut or a user's photo, see :mod:`.photo`) and the
face-centred crop that the renderer draws into."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from facecast.engine.render.base import RendererUnavailable
from facecast.engine.face.landmarks import eye_centres
from facecast.engine.render.portrait.photo import read_photo

log = logging.getLogger(__name__)

#: ``--portrait astronaut``: NASA's public-domain photo of Eileen Collins (see :func:`astronaut_rgb`).
ASTRONAUT = "astronaut"
#: Side of the square crop, in inter-ocular distances of the portrait.
CROP_IODS = 5.0
#: The crop centre sits this many inter-ocular distances below the eyes.
CROP_CENTRE_BELOW_EYES_IODS = 0.55


def astronaut_rgb() -> np.ndarray:
    """(512, 512, 3) uint8: the default portrait, shipped with facecast (``astronaut.png`` beside this
    module: NASA's public-domain photo of Eileen Collins, pixel for pixel ``skimage.data.astronaut()``)."""
    from PIL import Image

    with Image.open(Path(__file__).with_name("astronaut.png")) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))


def load_portrait(portrait: Union[str, Path]) -> tuple[np.ndarray, str]:
    """(H, W, 3) uint8 RGB and a display name for a path or ``astronaut``.

    Raises:
        RendererUnavailable: the file is missing, not an image, or too small (see :func:`.photo.read_photo`).
    """
    if str(portrait) == ASTRONAUT:
        return astronaut_rgb(), ASTRONAUT
    return read_photo(Path(portrait)), Path(portrait).stem


@dataclass(frozen=True)
class PortraitRig:
    """One portrait, cropped to the output size.

    Attributes:
        name: display name.
        image: (H, W, 3) uint8 RGB crop, face-centred, the output size.
        landmarks: (478, 3) float64 rest landmarks in crop pixels (z scaled alike).
        iod_px: inter-ocular distance in crop pixels.
        outside_px: crop pixels that lie past the photo's edge (filled with its blurred edge), 0 when the
            crop fits inside the photo.
    """

    name: str
    image: np.ndarray
    landmarks: np.ndarray
    iod_px: float
    outside_px: int = 0


#: Margin kept around the face's landmarks inside the crop, inter-ocular distances.
FACE_MARGIN_IODS = 0.25


def crop_portrait(rgb: np.ndarray, landmarks_px: np.ndarray, *, name: str, width: int, height: int) -> PortraitRig:
    """Crop ``rgb`` around the face (upright, scaled) to ``width`` x ``height``.

    The crop never shows what the photo does not have: where the face-centred crop (:data:`CROP_IODS` wide)
    reaches past the photo's edge it is moved inside, then tightened, as far as the face and a margin of
    :data:`FACE_MARGIN_IODS` allow. Only a face at the photo's very edge leaves a strip outside; that strip
    repeats the edge's pixels, blurred, so it reads as out-of-focus background (never mirrored content).
    """
    import cv2

    right, left = eye_centres(landmarks_px)
    iod = float(np.linalg.norm(left - right))
    if iod < 4:
        raise RendererUnavailable("the face in the portrait is too small (eyes under 4 pixels apart)")
    axis = (left - right) / iod
    down = np.array([-axis[1], axis[0]])
    h_src, w_src = rgb.shape[:2]
    centre = (left + right) / 2 + CROP_CENTRE_BELOW_EYES_IODS * iod * down
    half = np.array([width, height], np.float64) / min(width, height) * CROP_IODS * iod / 2  # source px
    centre, half = _fit_inside(centre, half, axis, down, landmarks_px[:, :2], iod, (w_src, h_src))
    scale = width / (2 * half[0])  # output px per source px
    # Upright the eyes line: rotate by -angle about the centre, scale, move to the output centre.
    cos, sin = axis
    rot = np.array([[cos, sin], [-sin, cos]]) * scale
    offset = np.array([width / 2, height / 2]) - rot @ centre
    # Landmarks put pixel centres at +0.5 (pixel i spans [i, i + 1)), OpenCV's warp at integers: the same map
    # in OpenCV's convention moves by R (0.5, 0.5) - (0.5, 0.5), or the crop would sit off its landmarks by
    # (scale - 1) / 2 output px.
    m = np.hstack([rot, (offset + rot @ np.array([0.5, 0.5]) - 0.5)[:, None]])
    source = rgb
    if scale < 1:  # shrinking: warpAffine samples points (INTER_AREA acts as linear there), so low-pass first
        source = cv2.GaussianBlur(rgb, (0, 0), 0.5 * float(np.sqrt(1.0 / scale ** 2 - 1.0)))
    interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_LINEAR
    image = cv2.warpAffine(source, m, (width, height), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.ones((h_src, w_src), np.float32), m, (width, height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    outside_px = int(np.count_nonzero(inside < 0.999))
    if outside_px:  # a strip past the photo's edge: stretched edge pixels, blurred
        sigma = max(2.0, 0.15 * iod * scale)
        blurred = cv2.GaussianBlur(image, (0, 0), sigma)
        a = np.clip(inside, 0.0, 1.0)[..., None]
        image = (image * a + blurred * (1 - a)).round().astype(np.uint8)
    lm = landmarks_px.copy()
    lm[:, :2] = landmarks_px[:, :2] @ rot.T + offset
    lm[:, 2] = landmarks_px[:, 2] * scale
    return PortraitRig(name=name, image=np.ascontiguousarray(image), landmarks=lm, iod_px=iod * scale,
                       outside_px=outside_px)


def _fit_inside(centre: np.ndarray, half: np.ndarray, axis: np.ndarray, down: np.ndarray, face_px: np.ndarray,
                iod: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The crop (``centre``, ``half`` extents along ``axis`` and ``down``, source px) moved, then tightened,
    to lie inside a photo of ``size`` (w, h), keeping the face's points plus a margin inside it."""
    limit = np.array(size, np.float64) - 1.0
    # tighten until the rotated box fits the photo's width and height, but not past the face and its margin
    along = face_px - centre
    need = np.array([np.abs(along @ axis).max(), np.abs(along @ down).max()]) + FACE_MARGIN_IODS * iod
    extent = np.abs(axis) * half[0] + np.abs(down) * half[1]  # half the box's extent in x and y
    shrink = min(1.0, *(limit / (2 * extent)))
    shrink = max(shrink, float(np.max(need / half)))
    half = half * min(1.0, shrink)
    extent = np.abs(axis) * half[0] + np.abs(down) * half[1]
    # move it inside where it can be (where it cannot, the face keeps the middle)
    lo, hi = extent, limit - extent
    centre = np.where(lo <= hi, np.clip(centre, lo, hi), centre)
    # the face must stay inside the moved crop: move back toward the face as far as needed
    along = face_px - centre
    for k, unit in enumerate((axis, down)):
        proj = along @ unit
        room = half[k] - FACE_MARGIN_IODS * iod
        excess = max(0.0, proj.max() - room) - max(0.0, -room - proj.min())
        centre = centre + excess * unit
    return centre, half
