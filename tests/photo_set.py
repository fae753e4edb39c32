"""The real-photo test set for the portrait renderer.

Real photos: the US-government (public-domain) photos in the ``face_recognition`` 1.3.0 source
distribution's ``tests/test_images/`` on PyPI (Barack Obama in three photos, Joe Biden full-length, two
photos of Obama's face cut by the frame, and an RGBA PNG), downloaded once with pip into the test cache
and checked against the sdist's SHA-256; NASA's astronaut shipped with facecast; and Grace Hopper's US Navy portrait
(public domain; Wikimedia Commons' File:Grace_Hopper.jpg, as its JPEG comment says) in matplotlib's sample data,
which facecast's MediaPipe dependency installs: a person none of the renderer was tuned on, with glasses. Made here from
them: variations a user's phone or editor produces (mirrored, stored rotated with an EXIF orientation,
cropped tight, small, dark, grayscale, 16-bit, CMYK, two faces, a tilted head, a head turned by the renderer) and the inputs that must be refused
(no face, a face off the edge, a tiny face, a corrupt file, a text file).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

SDIST = "face_recognition-1.3.0.tar.gz"
SDIST_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
MEMBER_DIR = "face_recognition-1.3.0/tests/test_images/"
#: Grace Hopper's portrait in matplotlib's sample data (``mpl-data/sample_data/grace_hopper.jpg``, 512x600).
HOPPER = "grace_hopper.jpg"
HOPPER_SHA256 = "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"
REAL = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg",
        "32bit.png")

#: Refused inputs and a phrase their refusal must contain.
REFUSED = {
    "obama_partial_face.jpg": "runs off the edge",
    "obama_partial_face2.jpg": "runs off the edge",
    "wall.png": "no face found",
    "tiny.jpg": "too small to animate",
    "corrupt.jpg": "not a readable image",
    "notes.png": "not a readable image",
}


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facecast-tests"


def real_photos() -> dict[str, bytes]:
    """The sdist's photos by name, fetched from PyPI once (pip download) and cached."""
    cache = cache_root()
    sdist = cache / SDIST
    if not sdist.is_file() or hashlib.sha256(sdist.read_bytes()).hexdigest() != SDIST_SHA256:
        cache.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                 "--disable-pip-version-check", "-q", "-d", str(cache), "face_recognition==1.3.0"],
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0 or not sdist.is_file():
            raise RuntimeError(f"the test photos come from PyPI (pip download face_recognition==1.3.0) and the "
                               f"download failed: {result.stderr.strip()[-500:]}")
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SDIST_SHA256:
            raise RuntimeError(f"{sdist} has SHA-256 {digest}, expected {SDIST_SHA256}")
    photos = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for name in REAL:
            member = tar.extractfile(MEMBER_DIR + name)
            if member is None:
                raise RuntimeError(f"{SDIST} has no {MEMBER_DIR}{name}")
            photos[name] = member.read()
    return photos


def grace_hopper() -> bytes:
    """Grace Hopper's portrait from the installed matplotlib's sample data, checked against its SHA-256."""
    from matplotlib import cbook

    data = Path(cbook.get_sample_data(HOPPER, asfileobj=False)).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != HOPPER_SHA256:
        raise RuntimeError(f"matplotlib's sample {HOPPER} has SHA-256 {digest}, expected {HOPPER_SHA256}")
    return data


def _jpeg(image, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=92, **options)
    return buf.getvalue()


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _turned(photo: Path) -> np.ndarray:
    """The photo's face turned 0.45 rad to its left by the portrait renderer (a head turned within the limits,
    as in a three-quarter snapshot), 512x512 RGB."""
    from facecast.engine.render.portrait import PortraitRenderer
    from facecast.engine.types import FaceSample, PixelFormat

    renderer = PortraitRenderer(portrait=photo, width=512, height=512, pixel_format=PixelFormat.RGB8)
    renderer.prepare()
    return renderer.render(FaceSample(capture_wall_ns=0, weights=renderer.rest_weights.astype(np.float32),
                                      head_rad=np.array([0.45, 0.0, 0.0], np.float32)))


def build(folder: Path) -> tuple[Path, Path]:
    """Write the set into ``folder``: ``accepted/`` (every photo that must animate) and ``refused/``
    (every input of :data:`REFUSED`). Returns the two folders."""
    from PIL import Image, ImageOps

    from facecast.engine.render.portrait.rig import astronaut_rgb

    real = real_photos()
    accepted, refused = folder / "accepted", folder / "refused"
    accepted.mkdir(parents=True, exist_ok=True)
    refused.mkdir(parents=True, exist_ok=True)
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "32bit.png"):
        (accepted / name).write_bytes(real[name])
    (accepted / "astronaut.png").write_bytes(_png(Image.fromarray(astronaut_rgb())))
    (accepted / HOPPER).write_bytes(grace_hopper())
    for name in ("obama_partial_face.jpg", "obama_partial_face2.jpg"):
        (refused / name).write_bytes(real[name])
    obama = Image.open(io.BytesIO(real["obama.jpg"])).convert("RGB")
    obama2 = Image.open(io.BytesIO(real["obama2.jpg"])).convert("RGB")
    w, h = obama.size
    # variations a user's camera or editor produces
    (accepted / "obama_mirrored.jpg").write_bytes(_jpeg(ImageOps.mirror(obama)))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: a viewer turns it 90 degrees clockwise to show it upright
    (accepted / "obama2_exif_rotated.jpg").write_bytes(_jpeg(obama2.transpose(Image.Transpose.ROTATE_90),
                                                             exif=exif.tobytes()))
    (accepted / "obama_tight.jpg").write_bytes(_jpeg(obama.crop((int(w * 0.3), int(h * 0.12), int(w * 0.7),
                                                                int(h * 0.62)))))
    (accepted / "obama_small.jpg").write_bytes(_jpeg(obama.resize((w * 2 // 5, h * 2 // 5), Image.LANCZOS)))
    dark = (np.asarray(obama, np.float64) * 0.3).astype(np.uint8)
    (accepted / "obama_dark.jpg").write_bytes(_jpeg(Image.fromarray(dark)))
    (accepted / "obama3_gray.png").write_bytes(_png(Image.open(io.BytesIO(real["obama3.jpg"])).convert("L")))
    grey16 = (np.asarray(obama2.convert("L"), np.uint16) * 257).astype(np.uint16)
    (accepted / "obama2_16bit.png").write_bytes(_png(Image.fromarray(grey16)))  # mode I;16
    (accepted / "obama_cmyk.jpg").write_bytes(_jpeg(obama.convert("CMYK")))
    canvas = Image.new("RGB", (w + w // 2, h), (200, 200, 200))
    canvas.paste(obama, (0, 0))
    canvas.paste(obama2.resize((w // 2, obama2.height * (w // 2) // obama2.width)), (w, h // 4))
    (accepted / "two_faces.jpg").write_bytes(_jpeg(canvas))
    rolled = Image.fromarray(astronaut_rgb()).rotate(35, resample=Image.BICUBIC, expand=True, fillcolor=(200, 200, 200))
    (accepted / "astronaut_rolled.png").write_bytes(_png(rolled))  # a tilted head: the crop uprights it
    (accepted / "obama_turned.png").write_bytes(_png(Image.fromarray(_turned(accepted / "obama.jpg"))))
    # inputs to refuse
    (refused / "wall.png").write_bytes(_png(Image.new("RGB", (300, 300), (128, 120, 110))))
    (refused / "tiny.jpg").write_bytes(_jpeg(obama.resize((w // 6, h // 6), Image.LANCZOS)))
    (refused / "corrupt.jpg").write_bytes(real["obama.jpg"][:3000])
    (refused / "notes.png").write_text("these are not pixels\n")
    return accepted, refused
