"""Loading a portrait: the photo, its landmarks (tracked once and cached) and the
face-centred crop that the renderer draws into."""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from facecast.engine.render.base import RendererUnavailable
from facecast.engine.render.portrait.mesh import eye_centres
from facecast.engine.paths import cache_dir

log = logging.getLogger(__name__)

#: ``--portrait astronaut``: NASA's public-domain photo of Eileen Collins (see :func:`astronaut_rgb`).
ASTRONAUT = "astronaut"
#: Side of the square crop, in inter-ocular distances of the portrait.
CROP_IODS = 5.0
#: The crop centre sits this many inter-ocular distances below the eyes.
CROP_CENTRE_BELOW_EYES_IODS = 0.55
LANDMARK_CACHE_VERSION = 1


def astronaut_rgb() -> np.ndarray:
    """(512, 512, 3) uint8: the default portrait, shipped with facecast (``astronaut.png`` beside this
    module: NASA's public-domain photo of Eileen Collins, pixel for pixel ``skimage.data.astronaut()``)."""
    from PIL import Image

    with Image.open(Path(__file__).with_name("astronaut.png")) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))


def load_portrait(portrait: Union[str, Path]) -> tuple[np.ndarray, str]:
    """(H, W, 3) uint8 RGB and a display name for a path or ``astronaut``.

    Raises:
        RendererUnavailable: the file is missing, not an image, or too small.
    """
    if str(portrait) == ASTRONAUT:
        return astronaut_rgb(), ASTRONAUT
    path = Path(portrait)
    if not path.is_file():
        raise RendererUnavailable(f"portrait {path} does not exist; pass --portrait PHOTO (a JPEG or PNG "
                                  f"of one face looking at the camera) or --portrait {ASTRONAUT}")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise RendererUnavailable(f"portrait {path} is not a readable image: {exc}") from None
    if min(rgb.shape[:2]) < 64:
        raise RendererUnavailable(f"portrait {path} is {rgb.shape[1]}x{rgb.shape[0]}; use at least 64x64")
    return np.ascontiguousarray(rgb), path.stem


def track_landmarks(rgb: np.ndarray, *, model_path: Optional[Path] = None, use_cache: bool = True) -> np.ndarray:
    """(478, 3) landmarks of the one face in ``rgb``: x, y in pixels, z in pixels
    (MediaPipe's relative depth times the image width; smaller is nearer).

    Tracked once per image and cached by the image's SHA-256 under the facecast
    cache folder (``landmarks/``).

    Raises:
        RendererUnavailable: no face found.
    """
    digest = hashlib.sha256(rgb.tobytes() + str(rgb.shape).encode()).hexdigest()[:32]
    path = cache_dir() / "landmarks" / f"{digest}-v{LANDMARK_CACHE_VERSION}.npy"
    if use_cache and path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape == (478, 3) and np.isfinite(cached).all():
                return cached
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable landmark cache %s: %s", path, exc)
    from facecast.engine.sources.base import SourceError
    from facecast.engine.sources.mediapipe_source import FaceTracker

    try:
        tracker = FaceTracker(model_path)
    except SourceError as exc:
        raise RendererUnavailable(f"cannot track the portrait: {exc}") from None
    try:
        result = tracker.track(rgb)
    finally:
        tracker.close()
    if result is None:
        raise RendererUnavailable("no face found in the portrait; use a photo of one face looking at the camera")
    h, w = rgb.shape[:2]
    lm = np.asarray(result.landmarks, np.float64) * np.array([w, h, w])
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            np.save(buf, lm, allow_pickle=False)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(buf.getvalue())
            tmp.replace(path)
        except OSError as exc:
            log.warning("cannot cache the portrait's landmarks in %s: %s", path.parent, exc)
    return lm


@dataclass(frozen=True)
class PortraitRig:
    """One portrait, cropped to the output size.

    Attributes:
        name: display name.
        image: (H, W, 3) uint8 RGB crop, face-centred, the output size.
        landmarks: (478, 3) float64 rest landmarks in crop pixels (z scaled alike).
        iod_px: inter-ocular distance in crop pixels.
    """

    name: str
    image: np.ndarray
    landmarks: np.ndarray
    iod_px: float


def crop_portrait(rgb: np.ndarray, landmarks_px: np.ndarray, *, name: str, width: int, height: int) -> PortraitRig:
    """Crop ``rgb`` around the face (upright, scaled) to ``width`` x ``height``."""
    import cv2

    right, left = eye_centres(landmarks_px)
    iod = float(np.linalg.norm(left - right))
    if iod < 4:
        raise RendererUnavailable("the face in the portrait is too small (eyes under 4 pixels apart)")
    axis = (left - right) / iod
    down = np.array([-axis[1], axis[0]])
    centre = (left + right) / 2 + CROP_CENTRE_BELOW_EYES_IODS * iod * down
    scale = min(width, height) / (CROP_IODS * iod)  # output px per source px
    # Upright the eyes line: rotate by -angle about the centre, scale, move to the output centre.
    cos, sin = axis
    rot = np.array([[cos, sin], [-sin, cos]]) * scale
    offset = np.array([width / 2, height / 2]) - rot @ centre
    m = np.hstack([rot, offset[:, None]])
    interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    image = cv2.warpAffine(rgb, m, (width, height), flags=interp, borderMode=cv2.BORDER_REFLECT)
    lm = landmarks_px.copy()
    lm[:, :2] = landmarks_px[:, :2] @ rot.T + offset
    lm[:, 2] = landmarks_px[:, 2] * scale
    return PortraitRig(name=name, image=np.ascontiguousarray(image), landmarks=lm, iod_px=iod * scale)
