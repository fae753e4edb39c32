"""Reading a user's portrait photo, and deciding whether it can be animated.

:func:`read_photo` turns any file Pillow reads into upright 8-bit RGB (EXIF rotation, grayscale,
alpha, 16-bit, CMYK, palettes, 1-bit dots and iPhones' HEIC). :func:`check_photo` tracks every face in it (a face lying on its
side or upside down too, :func:`_upright_turns`), keeps the largest,
and measures what decides whether the portrait renderer can animate it; :attr:`PhotoCheck.refusal`
says why not, in words that tell the user what photo to use instead. The limits:

- a face: at least one, fully inside the photo (:data:`MAX_OUTSIDE_SHARE` of its outline at most);
- size: eyes :data:`MIN_IOD_PX` pixels apart or more (below it the crop is an upscaled blur);
- pose: within :data:`MAX_YAW_DEG` left/right and :data:`MAX_PITCH_DEG` up/down (beyond, the far side
  of the face is hidden in the photo and cannot be turned into view);
- expression: eyes open (blink under :data:`MAX_REST_BLINK`: shut eyes have no eyeball to show) and
  the mouth not wide open (jawOpen under :data:`MAX_REST_JAW`). Milder expressions are animated
  from as they are.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.face.landmarks import connection_points, eye_centres
from facecast.engine.face.models import FaceModelError
from facecast.engine.face.tracker import FaceTracker
from facecast.engine.paths import cache_dir
from facecast.engine.render.base import RendererUnavailable
from facecast.engine.types import arkit_index


log = logging.getLogger(__name__)

MIN_IOD_PX = 30.0
MAX_YAW_DEG = 25.0
MAX_PITCH_DEG = 20.0
MAX_REST_BLINK = 0.6
MAX_REST_JAW = 0.5
#: The check names the shapes of the photo's own expression that the neutral face takes out from this reading on.
SHOWN_TAKEN_OUT = 0.25
MAX_OUTSIDE_SHARE = 0.02
#: Smallest side of a photo, pixels.
MIN_SIDE_PX = 64
#: Faces tracked in a photo; the largest is animated.
MAX_FACES = 4
#: Landmark shift (inter-ocular distances) when the photo is tracked again at :data:`RETRACK_SCALE`, above
#: which the check says the tracking is unsteady.
UNSTEADY_IODS = 0.1
CHECK_CACHE_VERSION = 4

#: Past this roll the check says the face lies on its side (past 180 less it, upside down): the crop turns it upright.
SIDEWAYS_ROLL_DEG = 45.0

#: The photo is tracked again at this size to measure how steadily MediaPipe tracks it.
RETRACK_SCALE = 0.9
_BLINK = (arkit_index("eyeBlinkLeft"), arkit_index("eyeBlinkRight"))
_JAW = arkit_index("jawOpen")


#: A 1-bit photo is blurred with a Gaussian this wide (pixels) to grey: MediaPipe finds no face in dithered dots.
BILEVEL_BLUR_PX = 1.0


def read_photo(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of the photo at ``path``, upright as it is shown (EXIF orientation applied).

    Grayscale becomes grey RGB, alpha is composited over white, 16-bit samples are scaled to 8 bits,
    CMYK and palette images are converted, and a 1-bit image's dots are blurred to grey (:data:`BILEVEL_BLUR_PX`).
    iPhones' HEIC photos are read through pillow-heif (:data:`HEIF_SUFFIXES`).

    Raises:
        RendererUnavailable: the file is missing, not an image, or smaller than :data:`MIN_SIDE_PX`.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise RendererUnavailable(f"portrait {path} does not exist; pass --portrait PHOTO (a JPEG or PNG "
                                  "of one face looking at the camera) or --portrait astronaut")
    heif = register_heif()
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb8(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        hint = ""
        if path.suffix.lower() in HEIF_SUFFIXES and not heif:
            hint = " (an iPhone's HEIC photo: pip install pillow-heif, or export it as JPEG)"
        why = " ".join(str(exc).split())  # libheif's messages end in a newline
        raise RendererUnavailable(f"portrait {path} is not a readable image ({why}){hint}; use a JPEG or PNG"
                                  ) from None
    if min(rgb.shape[:2]) < MIN_SIDE_PX:
        raise RendererUnavailable(f"portrait {path} is {rgb.shape[1]}x{rgb.shape[0]}; use at least "
                                  f"{MIN_SIDE_PX}x{MIN_SIDE_PX}")
    return np.ascontiguousarray(rgb)


#: What iPhones save photos as (HEIF with HEVC): read through pillow-heif, a core dependency.
HEIF_SUFFIXES = (".heic", ".heif", ".hif")


@functools.cache
def register_heif() -> bool:
    """Let Pillow open HEIF photos (pillow-heif applies their rotation and resets the EXIF orientation, so nothing is
    turned twice); False where pillow-heif is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _to_rgb8(im) -> np.ndarray:
    """(H, W, 3) uint8 of any Pillow image mode."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):  # 16- or 32-bit grey: scale, do not clip
        grey = np.asarray(im, np.float64)
        top = 65535.0 if grey.max() > 255 else 255.0
        grey = np.clip(grey / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode == "F":
        grey = np.asarray(im, np.float64)
        grey = np.clip(grey * (255.0 if grey.max() <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode == "1":  # black and white dots (a dithered scan or fax): their local mean is the picture's grey
        from PIL import ImageFilter

        grey = im.convert("L").filter(ImageFilter.GaussianBlur(BILEVEL_BLUR_PX))
        return np.repeat(np.asarray(grey)[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


@dataclass(frozen=True)
class PhotoCheck:
    """What :func:`check_photo` measured on one photo.

    Attributes:
        name: display name.
        size_px: (width, height) of the upright photo.
        faces: faces found.
        landmarks: (478, 3) of the largest face, photo pixels (z scaled like x), or None without a face.
        iod_px: its inter-ocular distance, photo pixels.
        head_deg: (yaw, pitch, roll) degrees, 0 facing the camera.
        rest_weights: (52,) ARKit weights of the photo's own expression.
        outside_share: share of the face outline outside the photo, 0..1.
        steadiness_iods: mean landmark shift when tracked again at :data:`RETRACK_SCALE`, inter-ocular distances.
        refusal: why the photo cannot be animated, or None.
        notes: what the user should know even so (several faces, an unsteady track).
        digest: :func:`photo_digest` of the pixels (names the photo in the per-photo caches).
    """

    name: str
    size_px: tuple[int, int]
    faces: int
    landmarks: Optional[np.ndarray] = None
    iod_px: float = 0.0
    head_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rest_weights: Optional[np.ndarray] = None
    outside_share: float = 0.0
    steadiness_iods: float = 0.0
    refusal: Optional[str] = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    digest: str = ""

    def taken_out(self, *, at_least: float = SHOWN_TAKEN_OUT, most: int = 6) -> str:
        """The photo's own expression that the neutral face takes out (:func:`.neutral.neutralised`), as words: the
        ARKit shapes read at least ``at_least``, largest first, at most ``most`` of them; "nothing" where none."""
        from facecast.engine.render.portrait.neutral import neutralised
        from facecast.engine.types import ARKIT_CAMEL_NAMES

        taken = neutralised(self.rest_weights)
        order = [int(i) for i in np.argsort(-taken, kind="stable") if taken[i] >= at_least][:most]
        if not order:
            return "nothing"
        return ", ".join(f"{ARKIT_CAMEL_NAMES[i]} {taken[i]:.2f}" for i in order)

    def lines(self) -> list[str]:
        """The check as lines for a person."""
        w, h = self.size_px
        out = [f"photo: {self.name}, {w}x{h}, {self.faces} face(s)"]
        if self.landmarks is not None:
            yaw, pitch, roll = self.head_deg
            rest = self.rest_weights
            out += [f"eyes {self.iod_px:.0f} px apart (at least {MIN_IOD_PX:.0f})",
                    f"head yaw {yaw:+.0f} deg (limit {MAX_YAW_DEG:.0f}), pitch {pitch:+.0f} deg "
                    f"(limit {MAX_PITCH_DEG:.0f}), roll {roll:+.0f} deg",
                    f"expression at rest: eyes closed {rest[_BLINK[0]]:.2f}/{rest[_BLINK[1]]:.2f} (left/right, "
                    f"limit {MAX_REST_BLINK}), jaw open {rest[_JAW]:.2f} (limit {MAX_REST_JAW})",
                    "expression taken out for the neutral face (weights are absolute): " + self.taken_out(),
                    f"face outline outside the photo: {self.outside_share:.0%}",
                    f"tracking steadiness: landmarks move {self.steadiness_iods:.3f} eye distances when re-tracked"]
        out += [f"note: {n}" for n in self.notes]
        out.append(f"REFUSED: {self.refusal}" if self.refusal else "usable: yes")
        return out


def photo_digest(rgb: np.ndarray) -> str:
    """32 hex digits naming a photo's pixels ((H, W, 3) uint8) in the per-photo caches."""
    return hashlib.sha256(rgb.tobytes() + str(rgb.shape).encode()).hexdigest()[:32]


def check_photo(rgb: np.ndarray, *, name: str, model_path: Optional[Path] = None,
                use_cache: bool = True) -> PhotoCheck:
    """Track every face in ``rgb`` ((H, W, 3) uint8 RGB), keep the largest, and judge it (module doc).

    The result is cached by the image's SHA-256 under the facecast cache folder (``portraits/``).

    Raises:
        RendererUnavailable: MediaPipe or its model cannot be loaded.
    """

    digest = photo_digest(rgb)
    path = cache_dir() / "portraits" / f"{digest}-v{CHECK_CACHE_VERSION}.npz"
    measured = _load_cached(path) if use_cache else None
    if measured is None:
        measured = _measure(rgb, model_path)
        if use_cache:
            _save_cached(path, measured)
    return dataclasses.replace(_judge(measured, name=name, size_px=(rgb.shape[1], rgb.shape[0])), digest=digest)


def _measure(rgb: np.ndarray, model_path: Optional[Path]) -> dict:
    """Raw measurements: faces, the largest face's landmarks, head and rest weights, steadiness, measured with the
    photo turned to stand the face upright (:func:`_upright_turns`; landmarks and roll are the photo's own)."""
    try:
        tracker = FaceTracker(model_path, num_faces=MAX_FACES)
    except FaceModelError as exc:
        raise RendererUnavailable(f"cannot track the portrait: {exc}") from None
    try:
        turns = _upright_turns(tracker, rgb)
        m = _measure_upright(tracker, np.ascontiguousarray(np.rot90(rgb, turns)),
                             windows=SEARCH_WINDOWS if turns == 0 else ())
    finally:
        tracker.close()
    if not int(m["faces"]):
        return {"faces": np.array(0), "turns": np.array(0)}
    return _turned_back(m, turns=turns, size_wh=(rgb.shape[1], rgb.shape[0]))


def _upright_turns(tracker, rgb: np.ndarray) -> int:
    """The counterclockwise quarter turns (``np.rot90``) that stand the photo's largest face upright, by a vote of
    the photo tracked at each of the four turns: each face found says which turn would stand it up (its roll, in
    quarters). MediaPipe's detector finds faces rolled up to about 90 deg, and one upside down as an upright face
    with its landmarks in the wrong places (an upside-down Obama at pitch +20 deg, the astronaut's eyes 24 px apart
    instead of 43): the other three turns outvote it. Ties go to the photo as it is. 0 where no turn finds a face.
    A scan or a photo saved without its EXIF orientation can lie on its side or upside down; the crop
    (:func:`.rig.crop_portrait`) stands any face upright by its eyes' line."""
    votes = np.zeros(4, int)
    for turns in range(4):
        turned = np.ascontiguousarray(np.rot90(rgb, turns))
        faces = tracker.track_all(turned)
        if not faces:
            continue
        h, w = turned.shape[:2]
        largest = max(faces, key=lambda f: _iod(f.landmarks.astype(np.float64) * np.array([w, h, w])))
        roll_quarters = int(np.round(float(largest.head_rad[2]) / (np.pi / 2)))
        votes[(turns - roll_quarters) % 4] += 1  # a face rolled a quarter counterclockwise needs a turn back
    return int(np.argmax(votes))  # the first of the most voted: 0 where it ties


def _turned_back(m: dict, *, turns: int, size_wh: tuple[int, int]) -> dict:
    """``m`` measured on ``np.rot90(photo, turns)``, with its landmarks in the photo's own pixels and the head's roll
    turned back; ``size_wh`` is the photo's (width, height)."""
    m = dict(m, turns=np.array(turns))
    if turns == 0:
        return m
    lm = m["landmarks"].copy()
    for _ in range(turns):  # undo one counterclockwise quarter turn at a time
        # in the turned image of a (w, h) picture, (x', y') shows the picture's (w - y', x')
        w = size_wh[0] if (turns - _) % 2 == 1 else size_wh[1]
        lm[:, 0], lm[:, 1] = w - lm[:, 1], lm[:, 0].copy()
    head = m["head_rad"].copy()
    head[2] = float(np.angle(np.exp(1j * (head[2] - turns * np.pi / 2))))  # the turn added a quarter each
    m.update(landmarks=lm, head_rad=head)
    return m


def _measure_upright(tracker, rgb: np.ndarray, *, windows: tuple[float, ...]) -> dict:
    """:func:`_measure` of ``rgb`` as it is (no turning), searching ``windows`` where the whole photo has no face."""
    import cv2

    faces, x0, y0, window = _find_faces(tracker, rgb, windows=windows)
    if not faces:
        return {"faces": np.array(0)}
    h, w = window.shape[:2]
    px = [f.landmarks.astype(np.float64) * np.array([w, h, w]) + np.array([x0, y0, 0.0]) for f in faces]
    iods = [_iod(p) for p in px]
    k = int(np.argmax(iods))
    small = cv2.resize(window, (max(1, round(w * RETRACK_SCALE)), max(1, round(h * RETRACK_SCALE))),
                       interpolation=cv2.INTER_AREA)
    again = tracker.track_all(small)
    steadiness = np.nan
    if again:
        sw, sh = small.shape[1], small.shape[0]
        pts = [f.landmarks[:, :2].astype(np.float64) * np.array([sw, sh]) / RETRACK_SCALE + np.array([x0, y0])
               for f in again]
        nearest = min(pts, key=lambda p: float(np.abs(p - px[k][:, :2]).mean()))
        steadiness = float(np.linalg.norm(nearest - px[k][:, :2], axis=1).mean() / max(iods[k], 1e-6))
    return {"faces": np.array(len(faces)), "landmarks": px[k], "head_rad": faces[k].head_rad.astype(np.float64),
            "weights": faces[k].weights.astype(np.float64), "steadiness": np.array(steadiness)}


#: Window sizes (shares of the photo's sides) searched when MediaPipe finds no face in the whole photo: its
#: face detector looks at a downscaled copy, where a face in a large or busy photo can be missed.
SEARCH_WINDOWS = (2 / 3, 1 / 2)


def _find_faces(tracker, rgb: np.ndarray, *, windows: tuple[float, ...]):
    """(faces, x0, y0, window): the faces MediaPipe finds in the whole photo, else in the first of a grid of
    overlapping windows (``windows``, shares of the sides: :data:`SEARCH_WINDOWS`) that has one; landmarks are
    relative to ``window``."""
    faces = tracker.track_all(rgb)
    if faces:
        return faces, 0, 0, rgb
    h, w = rgb.shape[:2]
    for share in windows:
        ww, wh = round(w * share), round(h * share)
        for y0 in np.linspace(0, h - wh, 3).round().astype(int):
            for x0 in np.linspace(0, w - ww, 3).round().astype(int):
                window = np.ascontiguousarray(rgb[y0:y0 + wh, x0:x0 + ww])
                faces = tracker.track_all(window)
                if faces:
                    return faces, int(x0), int(y0), window
    return [], 0, 0, rgb


def _iod(landmarks_px: np.ndarray) -> float:
    right, left = eye_centres(landmarks_px)
    return float(np.linalg.norm(left - right))


def _judge(m: dict, *, name: str, size_px: tuple[int, int]) -> PhotoCheck:
    faces = int(m["faces"])
    if faces == 0:
        return PhotoCheck(name=name, size_px=size_px, faces=0,
                          refusal=f"no face found in {name}: use a photo of one face looking at the camera")
    lm = m["landmarks"]
    w, h = size_px
    iod = _iod(lm)
    yaw, pitch, roll = (float(np.degrees(a)) for a in m["head_rad"])
    weights = m["weights"]
    oval = lm[sorted(connection_points("FACE_LANDMARKS_FACE_OVAL")), :2]
    outside = float(np.mean((oval[:, 0] < 0) | (oval[:, 0] > w - 1) | (oval[:, 1] < 0) | (oval[:, 1] > h - 1)))
    steadiness = float(m["steadiness"])
    notes = []
    if abs(roll) > SIDEWAYS_ROLL_DEG:
        lies = "upside down" if abs(roll) > 180.0 - SIDEWAYS_ROLL_DEG else "on its side"
        notes.append(f"the face in {name} lies {lies} (roll {roll:+.0f} deg): animating it upright")
    if faces > 1:
        notes.append(f"{faces} faces in the photo: animating the largest (eyes {iod:.0f} px apart)")
    if np.isfinite(steadiness) and steadiness > UNSTEADY_IODS:
        notes.append(f"MediaPipe tracks this face unsteadily ({steadiness:.2f} eye distances between two "
                     "sizes of the photo): a sharper, evenly lit photo will animate more faithfully")
    refusal = None
    if outside > MAX_OUTSIDE_SHARE:
        refusal = (f"the face runs off the edge of {name} ({outside:.0%} of its outline is outside the photo): "
                   "use a photo with the whole face in it")
    elif iod < MIN_IOD_PX:
        refusal = (f"the face in {name} is too small to animate: its eyes are {iod:.0f} px apart, at least "
                   f"{MIN_IOD_PX:.0f} are needed; use a closer or larger photo, or crop it around the face")
    elif abs(yaw) > MAX_YAW_DEG or abs(pitch) > MAX_PITCH_DEG:
        refusal = (f"the head in {name} is turned too far (yaw {yaw:+.0f} deg, pitch {pitch:+.0f} deg; the limits "
                   f"are {MAX_YAW_DEG:.0f} and {MAX_PITCH_DEG:.0f}): use a photo looking at the camera")
    elif max(weights[_BLINK[0]], weights[_BLINK[1]]) > MAX_REST_BLINK:
        refusal = (f"the eyes in {name} are closed (eyeBlink {weights[_BLINK[0]]:.2f}/{weights[_BLINK[1]]:.2f}, "
                   f"limit {MAX_REST_BLINK}): there is no eye to open; use a photo with open eyes")
    elif weights[_JAW] > MAX_REST_JAW:
        refusal = (f"the mouth in {name} is wide open (jawOpen {weights[_JAW]:.2f}, limit {MAX_REST_JAW}): "
                   "use a photo with the mouth closed or slightly open")
    return PhotoCheck(name=name, size_px=size_px, faces=faces, landmarks=lm, iod_px=iod, head_deg=(yaw, pitch, roll),
                      rest_weights=weights, outside_share=outside, steadiness_iods=steadiness, refusal=refusal,
                      notes=tuple(notes))


def _load_cached(path: Path) -> Optional[dict]:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            m = {k: z[k] for k in z.files}
        if int(m["faces"]) == 0 or (m["landmarks"].shape == (478, 3) and np.isfinite(m["landmarks"]).all()):
            return m
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable portrait cache %s: %s", path, exc)
    return None


def _save_cached(path: Path, m: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **m)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot cache the portrait check in %s: %s", path.parent, exc)
