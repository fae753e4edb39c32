"""The eyeball under the lids: the photo's own eye where the photo shows it, and a
synthesised eyeball (sclera, iris disc with a darker rim, pupil) around it, in
the photo's colours, for what wider lids or a gaze shift uncover."""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np

from facecast.engine.render.portrait.mesh import Opening, sample_boxes

#: Iris centre and rim landmarks (FaceLandmarker's refined iris points) per eye opening.
IRIS = {"right": (468, (469, 470, 471, 472)), "left": (473, (474, 475, 476, 477))}
#: A typical sclera's colour: the synthesised sclera's where the photo shows too little of it.
DEFAULT_SCLERA = np.array([228.0, 222.0, 216.0])
#: The synthesised sclera takes the median of this brightest share of the photo's
#: visible sclera: the rest lies in the lids' shadow and the corners' pink.
SCLERA_BRIGHTEST = 0.1
#: The synthesised sclera (:func:`lifted_sclera` of the brightest the eye shows) is within this tint of grey (the
#: spread of its channels over their mean): more than that, what an eye shows brightest is the lids' skin (a small,
#: shadowed or bespectacled eye), and its tint drew a wide eye's bared sclera salmon pink. On the photo set, lifted:
#: Grace Hopper's (behind her glasses) 0.58-0.65, Biden's 0.28, obama3's 0.22-0.23 (capped by 1-2 grey levels), every
#: other photo's 0.19 or less (the astronaut's 0.07-0.12). (The photo's light, which lights the teeth and tongue, keeps
#: its hint of the measured tint: capped there too, a warm photo's teeth came out grey.)
SCLERA_MAX_TINT = 0.2
#: The synthesised sclera is taken toward the photo's white by this many times the share it is darker than it
#: (:func:`lifted_sclera`), all the way from half as bright. A squinting eye shows its sclera in the lids' shadow, and
#: taken by that share alone (1) the eyeball a wide eye bares was a grey dome: over the iris, Obama's grin photo drew
#: it 0.76 of his cheeks' luma where obama2, the same man with his eyes open to the light (its sclera measured at the
#: white already), draws it 0.89. At 2 they draw 0.90 and 0.90 (3: 0.99 and 0.90); the rest of his grin photos
#: 0.87-1.00 per eye (0.74-0.82 before), Grace Hopper's (behind glasses) 0.76 (0.62, darker than her skin), and photos
#: that show their sclera whole (the astronaut, obama2's right eye) do not change.
SCLERA_LIFT = 2.0
#: The sclera darkens by this share from the eyeball's middle (midway between the eye's corners) to the corners (a
#: lit sphere). Measured from the iris's column instead, an eye looking aside was brightest right beside its iris: a
#: white crescent hugging the iris against a grey sclera (obama2's wide eyes).
SCLERA_FALLOFF = 0.3
#: ... and by this share from the iris's centre up to half the eye's width above it: the ball turns away and lies
#: under the lid. A wide eye bared a flat white dome above the iris (lit as brightly as beside it); at 0.8 the band
#: right under the raised lid is 0.53-0.79 of the photo's white (0.68-0.88 flat; a skin-coloured hole was 0.38).
SCLERA_TOP = 0.8
#: Width of the iris's and the pupil's soft edges, inter-ocular distances (at least a pixel).
LIMBUS_IODS = 0.012
#: Width over which the photo's eye fades into the synthesised eyeball, inter-ocular distances.
FEATHER_IODS = 0.03
#: The photo's eye is kept whole this far outside the seen pixels, inter-ocular distances (a pixel at 100 px; a
#: margin of one pixel at any size drew a 2048 frame's fade 0.75 px of 512 closer to the opening than a 512 frame's).
MARGIN_IODS = 0.01
#: The eyeball's colours are picked from the photo blurred this much, inter-ocular distances (a pixel at 100 px).
COLOUR_BLUR_IODS = 0.01


#: Share of the way from MediaPipe's upper eye contour to the next ring of
#: landmarks above it where the visible lid margin (the lash line) lies.
LID_MARGIN_SHARE = 0.6
#: Share of the eye's rest opening below MediaPipe's upper contour that still
#: belongs to the lid: the lashes' edge and their shadow on the iris and sclera.
LID_SHADOW_SHARE = 0.1
#: Share of the eye's rest opening, below the lid band, that a wide-open eye shows
#: synthesised (the photo has the lid's shadow there and the iris cut flat).
WIDE_SHARE = 0.35
#: The synthesised eyeball keeps the photo's catchlight (the light's reflection on the cornea, which a wide eye
#: otherwise lost with the iris it redraws): iris pixels of the photo brighter than the first share of the way from
#: the iris's colour to the sclera's (as the photo shows them), in full from the second, within this share of the
#: iris's radius from its middle.
CATCHLIGHT_SHARES = (0.25, 0.5)
CATCHLIGHT_IRIS = 0.8
#: The photo's lash line below the lid band (:func:`_lash_line_below_band`, which a wide eye's eyeball covers): down
#: to where the luma has risen from the line's darkest this share of the way back to the brightest within the second
#: value (inter-ocular distances) below it; a rise under the third value's share of that brightest is no line, nor
#: one under the fourth value's share of the rise within twice that reach (the lid's soft shadow: Biden's narrow
#: eyes, where taking it drew a white almond without its lower rim). Softened by a Gaussian of the fifth value,
#: inter-ocular distances across and down (in pixels, a 2048 frame drew its edge 4x sharper). The lines are found on
#: the photo averaged down to about the sixth value between the eyes (found at full size, a 2048 frame took other
#: columns than a 512 one: eye aliasing p99 up to 33.6 grey levels on obama_small, goal 24), and a column within the
#: seventh value past a threshold (contrast, sharpness, iris radii) is taken in part, by how far past it is.
LASH_LINE_END = 0.8
LASH_LINE_IODS = 0.04
LASH_LINE_CONTRAST = 0.15
LASH_LINE_SHARP = 0.7
LASH_LINE_SOFT_IODS = (0.015, 0.007)
LASH_LINE_IOD_PX = 100.0
LASH_LINE_RAMP = 0.15


def lift_to_lid_margin(rest: np.ndarray, mesh) -> np.ndarray:
    """Move each eye opening's upper chain (in place, rest vertices only) up to the
    visible lid margin; returns (V,) the lid band's height in pixels at every eye
    chain vertex (0 elsewhere).

    MediaPipe's upper eye contour runs inside the eye, below the lashes: the top
    of the iris and the lash line lie in the lid's skin triangles, so a blink
    would drag them down over the closed lid. Lifted, the opening holds the
    whole visible eyeball and the lid skin starts at the lashes. The warp is the
    identity at rest for any mesh, so the rest pose still reproduces the photo.

    The band, from the lifted margin to :data:`LID_SHADOW_SHARE` of the opening
    below MediaPipe's contour, is the lid's edge: the lashes and their shadow.
    The warp hangs it from the moving lid (see :mod:`.raster`), so a wide-open
    eye bares new eyeball under the lashes instead of stretching them.
    """
    tris = mesh.triangles
    band = np.zeros(len(rest))
    for o in (mesh.eye_right, mesh.eye_left):
        contour = set(o.upper) | set(o.lower)
        for i, j in zip(o.upper[1:-1], o.lower[1:-1]):
            across = rest[j] - rest[i]  # toward the lower lid
            down = across / max(np.linalg.norm(across), 1e-6)
            neighbours = {int(v) for t in tris[(tris == i).any(1)] for v in t} - contour
            heights = [float((rest[i] - rest[n]) @ down) for n in neighbours]
            above = [h for h in heights if h > 0]
            lift = LID_MARGIN_SHARE * min(above) if above else 0.0
            rest[i] -= down * lift
            band[i] = band[j] = lift + LID_SHADOW_SHARE * float(np.linalg.norm(across))
    return band


def lid_colour(image: np.ndarray, rest: np.ndarray, o: Opening, iod_px: float) -> np.ndarray:
    """(3,) median colour of the upper lid's skin: a band 0.05-0.12 IODs above the lid margin."""
    up = rest[o.upper[1:-1]]
    down = rest[o.lower[1:-1]] - up
    down /= np.maximum(np.linalg.norm(down, axis=1, keepdims=True), 1e-6)
    pts = np.concatenate([up - down * k * iod_px for k in np.linspace(0.05, 0.12, 6)])
    h, w = image.shape[:2]
    xy = np.clip(np.round(pts - 0.5).astype(int), 0, [w - 1, h - 1])
    return np.median(image[xy[:, 1], xy[:, 0]].astype(np.float64), axis=0)


def opening_mask(shape_hw: tuple[int, int], rest: np.ndarray, o: Opening,
                 band: Optional[np.ndarray] = None) -> np.ndarray:
    """(H, W) uint8, 255 inside the opening's rest polygon; with ``band`` (V,),
    the upper chain moved that many pixels toward the lower one first."""
    import cv2

    upper = rest[o.upper]
    if band is not None:
        down = rest[o.lower] - upper
        down /= np.maximum(np.linalg.norm(down, axis=1, keepdims=True), 1e-6)
        upper = upper + down * band[o.upper, None]
    poly = np.concatenate([upper, rest[o.lower][::-1]]) - 0.5
    mask = np.zeros(shape_hw, np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
    return mask


def sclera_colour(image: np.ndarray, rest: np.ndarray, openings: tuple[Opening, Opening],
                  band: np.ndarray) -> np.ndarray:
    """(3,) the photo's sclera: the median of the brightest :data:`SCLERA_BRIGHTEST` of both eye
    openings below their lash bands (a typical sclera where the eyes show too little of it). A
    white under the photo's light: the mouth's synthesised teeth and tongue take their light from it."""
    seen = np.zeros(image.shape[:2], bool)
    for o in openings:
        seen |= opening_mask(image.shape[:2], rest, o, band) > 0
    return _median_colour(image[seen].astype(np.float64), DEFAULT_SCLERA, brightest=SCLERA_BRIGHTEST)


def sclera_tint_capped(colour: np.ndarray) -> np.ndarray:
    """(3,) ``colour`` with its tint (its channels' spread over their mean) taken down to :data:`SCLERA_MAX_TINT` where
    it is more, about the same mean: a measured sclera as a sclera can be. Continuous in ``colour``."""
    colour = np.asarray(colour, np.float64)
    mean = float(colour.mean())
    tint = float(colour.max() - colour.min()) / max(mean, 1.0)
    return colour if tint <= SCLERA_MAX_TINT else mean + (colour - mean) * (SCLERA_MAX_TINT / tint)


def _median_colour(pixels: np.ndarray, default: np.ndarray, *, brightest: float = 0.0) -> np.ndarray:
    if len(pixels) < 3:
        return default
    if brightest:
        lum = pixels.sum(1)
        pixels = pixels[lum >= np.quantile(lum, 1 - brightest)]
    return np.median(pixels, axis=0)


def eyeball_images(image: np.ndarray, rest: np.ndarray, openings: tuple[Opening, Opening],
                   iod_px: float, band: np.ndarray, *,
                   white: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """The portrait with each eye's surroundings replaced by its eyeball, as
    ``(at_rest, wide)`` (H, W, 3) uint8 images.

    ``openings`` is (right, left); ``band`` (V,) the lid band of
    :func:`lift_to_lid_margin`, which moves with the lid. ``at_rest`` keeps the
    photo in the opening below the band (and a 1-pixel margin), so the rest pose
    is unchanged. ``wide`` also synthesises the top :data:`WIDE_SHARE` of the
    opening, where the photo shows the lid's shadow and the iris cut flat by the
    lid, and the photo's lash line where it lies below the band (:func:`_lash_line_below_band`: the band rises
    with the lid, the line would stay): the warp fades to it as the lids open wider than at rest. ``white`` (3,): a
    white under the photo's light (:func:`.raster.photo_light` times :data:`DEFAULT_SCLERA`); a sclera darker than
    it is drawn lighter (:func:`lifted_sclera`).
    """
    at_rest, wide = image.copy(), image.copy()
    pad = int(round(0.3 * iod_px)) + 2
    h, w = image.shape[:2]
    for o, side in zip(openings, ("right", "left")):
        inside = opening_mask(image.shape[:2], rest, o, band) > 0
        ys, xs = np.nonzero(inside)
        if len(xs) < 4:
            continue
        x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
        y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
        opening_px = np.zeros(len(rest))
        opening_px[o.upper] = np.linalg.norm(rest[o.lower] - rest[o.upper], axis=1)
        clear = opening_mask(image.shape[:2], rest, o, band + WIDE_SHARE * opening_px) > 0
        box = image[y0:y1, x0:x1].astype(np.float64)
        synth = _synthesised_eyeball(box, clear[y0:y1, x0:x1], rest, o, side, (x0, y0), iod_px, white=white,
                                     shown=inside[y0:y1, x0:x1])
        at_rest[y0:y1, x0:x1] = _keep_photo(box, synth, inside[y0:y1, x0:x1], iod_px)
        line = _lash_line_below_band(box, (x0, y0), rest, o, side, band, band + WIDE_SHARE * opening_px, iod_px)
        kept = _keep_photo(box, synth, clear[y0:y1, x0:x1], iod_px).astype(np.float64)  # the photo below the top
        wide[y0:y1, x0:x1] = np.clip(kept + line[..., None] * (synth - kept) + 0.5, 0, 255).astype(np.uint8)
    return at_rest, wide


def _lash_line_below_band(box: np.ndarray, origin: tuple[int, int], rest: np.ndarray, o: Opening, side: str,
                          band: np.ndarray, kept_from: np.ndarray, iod_px: float) -> np.ndarray:
    """(h, w) float32 over ``box`` (its top left pixel at ``origin`` in the photo): 1 where the photo's lash line
    lies in the opening ``o`` below its lid band (``band`` (V,) px below the upper chain) and above it, 0
    elsewhere, softened by a Gaussian of :data:`LASH_LINE_SOFT_IODS` (across, down). In each pixel column, down to
    where the luma has risen from its darkest between the band and the part a wide eye keeps (from ``kept_from``
    (V,) px below the chain) :data:`LASH_LINE_END` of the way back to the brightest within :data:`LASH_LINE_IODS`
    below it. Columns whose line ends on the iris, or with no line (a rise under :data:`LASH_LINE_CONTRAST` of that
    brightest, or one that goes on rising as far again, :data:`LASH_LINE_SHARP`: the lid's soft shadow) have none,
    and those near a threshold (within :data:`LASH_LINE_RAMP`) have it in part. Found on the photo and the opening
    averaged down to about :data:`LASH_LINE_IOD_PX` between the eyes (whole blocks of pixels from the photo's
    corner), so every output size takes the same columns.

    The lid band rises with the lid; a line left below it stayed on the eyeball, and a wide eye drew two lid lines
    with a pale strip of skin between them (the astronaut's inner lids, whose lifted margin lies 2-3 px above her
    lash line)."""
    import cv2

    f = max(int(round(iod_px / LASH_LINE_IOD_PX)), 1)
    ox, oy = -origin[0] % f, -origin[1] % f  # the blocks start at multiples of f in the photo
    rows, cols = (box.shape[0] - oy) // f, (box.shape[1] - ox) // f
    bx, by = (origin[0] + ox) // f, (origin[1] + oy) // f  # the box's first whole block
    small = box[oy:oy + rows * f, ox:ox + cols * f].reshape(rows, f, cols, f, 3).mean(axis=(1, 3))
    shape = (by + rows, bx + cols)
    inside, clear = (opening_mask(shape, rest / f, o, below / f)[by:, bx:] > 0 for below in (band, kept_from))
    centre_i, rim_i = IRIS[side]
    radius = float(np.mean(np.linalg.norm(rest[list(rim_i)] - rest[centre_i], axis=1))) / f
    lines = _lash_line_ends(small, inside, clear, rest[centre_i] / f - 0.5 - (bx, by), radius, iod_px / f)
    lash = np.zeros(box.shape[:2], np.float32)
    lash[oy:oy + rows * f, ox:ox + cols * f] = lines if f == 1 else cv2.resize(lines, (cols * f, rows * f),
                                                                               interpolation=cv2.INTER_LINEAR)
    across, down = (share * iod_px for share in LASH_LINE_SOFT_IODS)
    return cv2.GaussianBlur(lash, (0, 0), sigmaX=across, sigmaY=down)


def _lash_line_ends(box: np.ndarray, inside: np.ndarray, clear: np.ndarray, centre: np.ndarray, radius: float,
                    iod_px: float) -> np.ndarray:
    """:func:`_lash_line_below_band`'s lines, unsoftened, on ``box`` ((h, w, 3) float; the iris's ``centre`` (2,)
    in its pixels, ``radius`` px): (h, w) float32, each column with a line 1 down to where it ends (a pixel's
    coverage in the row it ends in)."""
    luma = _at_colour_scale(box, iod_px) @ LUMA
    reach = max(int(round(LASH_LINE_IODS * iod_px)), 1)
    lash = np.zeros(clear.shape, np.float32)
    for x in np.flatnonzero(inside.any(0) & clear.any(0)):
        top, clear_top = int(np.argmax(inside[:, x])), int(np.argmax(clear[:, x]))
        if clear_top <= top:
            continue
        k = top + int(np.argmin(luma[top:clear_top, x]))  # the line's darkest
        after = luma[k:k + reach + 1, x]
        rise = float(after.max()) - float(luma[k, x])
        # how surely this is a line, each from 0 to 1 past its threshold (marginal columns are taken in part, alike
        # at every output size)
        contrast = rise / max(float(after.max()), 1e-6)
        sharp = rise / max(float(luma[k:k + 2 * reach + 1, x].max()) - float(luma[k, x]), 1e-6)
        level = luma[k, x] + LASH_LINE_END * rise
        j = k + int(np.flatnonzero(after >= level)[0])  # the first row at the level; it is crossed above it
        end = j - (luma[j, x] - level) / max(luma[j, x] - luma[j - 1, x], 1e-6) if j > k else float(k)
        beside = np.hypot(x - centre[0], end - centre[1]) / max(radius, 1e-6)  # off the iris
        sure = (np.clip((contrast - LASH_LINE_CONTRAST) / LASH_LINE_RAMP, 0.0, 1.0)
                * np.clip((sharp - LASH_LINE_SHARP) / LASH_LINE_RAMP, 0.0, 1.0)
                * np.clip((beside - 1.0) / LASH_LINE_RAMP, 0.0, 1.0))
        lash[:, x] = sure * np.clip(end + 0.5 - np.arange(lash.shape[0]), 0.0, 1.0)
    return lash


def _at_colour_scale(image: np.ndarray, iod_px: float) -> np.ndarray:
    """``image`` blurred with a Gaussian of :data:`COLOUR_BLUR_IODS`: the brightest pixels of a sharper copy are
    brighter, so colours picked from it would differ with the output size."""
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigmaX=COLOUR_BLUR_IODS * iod_px, borderType=cv2.BORDER_REPLICATE)


def lifted_sclera(measured: np.ndarray, white: Optional[np.ndarray]) -> np.ndarray:
    """(3,) the synthesised sclera: the photo's ``measured`` one taken toward ``white`` (a white under the photo's
    light) by :data:`SCLERA_LIFT` times the share it is darker, ``1 - mean(measured) / mean(white)``, at most all the
    way (not at all where it is as bright). A small or shadowed eye shows little sclera, and the brightest of what it
    shows is the lids' pink skin: a wide eye bared a skin-coloured hole (Biden's (111, 71, 68) under his light's
    (209, 175, 174)). The share is continuous (piecewise linear) in the measured colour, so photos drawn at
    different sizes, whose measures differ by a few grey levels, draw scleras as close (a mix that set in past a
    saturation did not: 16 grey levels apart at 512 and 2048)."""
    measured = np.asarray(measured, np.float64)
    if white is None:
        return measured
    white = np.asarray(white, np.float64)
    share = float(np.clip(SCLERA_LIFT * (1.0 - measured.mean() / max(float(white.mean()), 1.0)), 0.0, 1.0))
    return measured + share * (white - measured)


def _synthesised_eyeball(box: np.ndarray, seen: np.ndarray, rest: np.ndarray, o: Opening, side: str,
                         origin: tuple[int, int], iod_px: float, *, shown: np.ndarray,
                         white: Optional[np.ndarray] = None) -> np.ndarray:
    """(h, w, 3) float eyeball over ``box``: a sclera shaded as a lit sphere, the iris
    disc with a darker rim and the pupil, in the colours of the ``seen`` pixels, and the photo's own catchlight
    where ``shown`` (the whole opening the photo shows) has one on the iris (:data:`CATCHLIGHT_SHARES`)."""
    centre_i, rim_i = IRIS[side]
    centre = rest[centre_i] - 0.5
    radius = float(np.mean(np.linalg.norm(rest[list(rim_i)] - rest[centre_i], axis=1)))
    radius = radius if radius > 1.0 else 0.12 * iod_px
    gy, gx = np.mgrid[origin[1]:origin[1] + box.shape[0], origin[0]:origin[0] + box.shape[1]]
    dist = np.hypot(gx - centre[0], gy - centre[1])
    colours = _at_colour_scale(box, iod_px)
    measured = _median_colour(colours[seen & (dist > 1.15 * radius)], DEFAULT_SCLERA, brightest=SCLERA_BRIGHTEST)
    sclera = sclera_tint_capped(lifted_sclera(measured, white))
    iris = _median_colour(colours[seen & (dist < 0.85 * radius) & (dist > 0.4 * radius)], np.array([90.0, 60.0, 40.0]))
    t = np.clip(dist / radius, 0.0, 1.0)[..., None]
    iris_px = iris * (1.0 - 0.35 * t ** 4)
    soft = max(1.0, LIMBUS_IODS * iod_px)  # the same at any size, and never under a pixel
    pupil = np.clip((0.38 * radius - dist) / soft + 0.5, 0.0, 1.0)[..., None]
    iris_px = iris_px * (1 - pupil) + iris * 0.35 * pupil
    edge = np.clip((dist - radius) / soft + 0.5, 0.0, 1.0)[..., None]  # soft limbus
    corners = rest[list(o.corners)]
    half_width = max(float(np.linalg.norm(corners[1] - corners[0])) / 2, radius)
    across = np.abs(gx - corners[:, 0].mean() + 0.5) / half_width  # from the eyeball's middle toward the corners
    above = np.maximum(centre[1] - gy, 0.0) / half_width  # up toward the lid, which shades it
    shade = SCLERA_FALLOFF * np.clip(across, 0.0, 1.0) ** 2 + SCLERA_TOP * np.clip(above, 0.0, 1.0) ** 2
    ball = 1.0 - shade[..., None]
    eyeball = iris_px * (1 - edge) + sclera * ball * edge
    # the photo's catchlight: its iris pixels well brighter than the iris (CATCHLIGHT_SHARES of the way to the sclera)
    lum_iris, lum_sclera = float(iris @ LUMA), float(measured @ LUMA)
    gap = max(lum_sclera - lum_iris, 1.0)
    light = np.clip((box @ LUMA - lum_iris - CATCHLIGHT_SHARES[0] * gap) / ((CATCHLIGHT_SHARES[1] - CATCHLIGHT_SHARES[0])
                                                                         * gap), 0.0, 1.0)
    light *= shown & (dist < CATCHLIGHT_IRIS * radius)
    return eyeball * (1.0 - light[..., None]) + box * light[..., None]


def _keep_photo(box: np.ndarray, synth: np.ndarray, seen: np.ndarray, iod_px: float) -> np.ndarray:
    """The photo where ``seen`` (and a :data:`MARGIN_IODS` margin), fading into ``synth`` within
    :data:`FEATHER_IODS` outside it (no seam for a tracker to take for a lid)."""
    import cv2

    away_px = cv2.distanceTransform((~seen).astype(np.uint8), cv2.DIST_L2, 5)[..., None]
    photo = np.clip(1.0 - (away_px - MARGIN_IODS * iod_px) / max(FEATHER_IODS * iod_px, 1.0), 0.0, 1.0)
    return np.clip(box * photo + synth * (1.0 - photo) + 0.5, 0, 255).astype(np.uint8)


#: A closed upper lid is this share of the cheeks' brightness (the skin under the eyes) where the photo's lid
#: is darker: the lid folded under a low brow lies in shadow, the unfolded lid faces the light.
CLOSED_LID_LIGHT = 0.9
#: The most a shadowed lid is brightened, times.
CLOSED_LID_MAX_GAIN = 2.0
#: The closed lid's skin takes the colour of the photo's skin within about this many inter-ocular distances
#: (a Gaussian's sigma), skin being what is at least :data:`CLOSED_LID_SKIN` of the cheeks' brightness: lashes,
#: brows and the fold's shadow do not count, and nothing is left to streak when the lid skin stretches.
CLOSED_LID_BLUR_IODS = 0.06
CLOSED_LID_SKIN = 0.65
#: Rec. 601 luma weights (R, G, B): brightness of a colour.
#: Rec. 601 luma weights of (R, G, B).
LUMA = np.array([0.299, 0.587, 0.114])


#: (x0, y0, x1, y1) px: a part of the photo, x0 <= x < x1 and y0 <= y < y1.
Box = tuple[int, int, int, int]
#: The closed lid's and the lifted brow's images (:func:`closed_lid_image`, :func:`lid_shadow`,
#: :func:`brow_skin_image`, :func:`unfold_image`) are made over the eye openings and the brows with this margin
#: (inter-ocular distances) around them (:func:`eye_box`), not over the whole photo: what a shut lid or a lifted brow
#: shows reaches at most 0.13 IOD past them on the photo set, and made over the whole photo they took half of a
#: 2048x2048 prepare() (obama.jpg 11.1 s, 5.2 s over the box, medians of 3 on an idle 2-core VM; the frames are the
#: same to the bit).
EYE_BOX_MARGIN_IODS = 0.35


def eye_box(rest: np.ndarray, openings: tuple[Opening, Opening], iod_px: float, shape_hw: tuple[int, int]) -> Box:
    """The part of the photo the closed lid's and the lifted brow's images cover: the (right, left) eye openings'
    and the brows' points (``rest`` (V, 2) px) with :data:`EYE_BOX_MARGIN_IODS` around them, inside the photo."""
    idx = [i for o in openings for i in (*o.upper, *o.lower)]
    points = np.concatenate([rest[idx], rest[brow_points(0)], rest[brow_points(1)]])
    margin = EYE_BOX_MARGIN_IODS * iod_px
    x0, y0 = np.maximum(np.floor(points.min(0) - margin), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(points.max(0) + margin), [shape_hw[1], shape_hw[0]]).astype(int)
    return int(x0), int(y0), int(max(x1, x0 + 1)), int(max(y1, y0 + 1))


class _Crop(NamedTuple):
    photo: tuple[slice, slice]  # the crop in the photo
    box: tuple[slice, slice]  # the box in the photo
    inner: tuple[slice, slice]  # the box in the crop
    x0: int  # the crop's origin in the photo (px)
    y0: int


def _crop(box: Optional[Box], shape_hw: tuple[int, int], *, reach_px: float) -> _Crop:
    """``box`` (the whole photo where None) and the crop around it that Gaussian blurs of ``reach_px`` (their
    sigmas, summed where one blurs the other's result) need: 4 sigma (OpenCV's kernel for float images) and two
    pixels more, so that inside ``box`` they give what they give over the whole photo."""
    h, w = shape_hw
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    pad = int(math.ceil(4.0 * reach_px)) + 2 if box is not None else 0
    cx0, cy0, cx1, cy1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, w), min(y1 + pad, h)
    return _Crop(photo=(slice(cy0, cy1), slice(cx0, cx1)), box=(slice(y0, y1), slice(x0, x1)),
                 inner=(slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0)), x0=cx0, y0=cy0)


def _cheek_colour(image: np.ndarray, rest: np.ndarray, openings: tuple[Opening, Opening], iod_px: float) -> np.ndarray:
    """(3,) float64: the median colour of the cheeks just under the eyes (0.15-0.3 IODs below the lower lids)."""
    h, w = image.shape[:2]
    cheeks = []
    for o in openings:
        low = rest[o.lower[1:-1]]
        pts = np.concatenate([low + np.array([0.0, k * iod_px]) for k in np.linspace(0.15, 0.3, 6)])
        xy = np.clip(np.round(pts - 0.5).astype(int), 0, [w - 1, h - 1])
        cheeks.append(image[xy[:, 1], xy[:, 0]].astype(np.float64))
    return np.median(np.concatenate(cheeks), axis=0)


def closed_lid_image(filled: np.ndarray, rest: np.ndarray, openings: tuple[Opening, Opening],
                     iod_px: float, *, box: Optional[Box] = None) -> np.ndarray:
    """(H, W, 3) uint8: the skin a closing upper lid unfolds, for the skin above the lids to fade into as the
    eye closes (:func:`lid_unfold`) and for the lid layer: at every pixel the colour of the skin around it in
    the photo (its openings filled, ``filled``), smooth (:data:`CLOSED_LID_BLUR_IODS`), shadows lifted to
    :data:`CLOSED_LID_LIGHT` of the cheeks' brightness. Stretching the photo's own fold instead drew the lashes
    and the fold's shadow as a dark smear on photos with low brows. Made inside ``box`` (:func:`eye_box`; the
    whole photo where None), the cheeks' colour outside it."""
    import cv2

    cheek = _cheek_colour(filled, rest, openings, iod_px)
    cheek_lum = max(float(cheek @ LUMA), 1.0)
    sigma = max(CLOSED_LID_BLUR_IODS * iod_px, 0.5)
    crop = _crop(box, filled.shape[:2], reach_px=sigma)
    photo = filled[crop.photo].astype(np.float64)
    skin = (photo @ LUMA >= CLOSED_LID_SKIN * cheek_lum).astype(np.float64)

    def blur(a):
        return cv2.GaussianBlur(a, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)

    prior = 0.02  # where no skin is near, the cheeks' colour
    colour = (blur(photo * skin[..., None]) + prior * cheek) / (blur(skin)[..., None] + prior)
    gain = np.clip(CLOSED_LID_LIGHT * cheek_lum / np.maximum(colour @ LUMA, 1.0), 1.0, CLOSED_LID_MAX_GAIN)
    out = np.empty_like(filled)
    out[...] = np.clip(cheek + 0.5, 0, 255).astype(np.uint8)
    out[crop.box] = np.clip(colour * gain[..., None] + 0.5, 0, 255).astype(np.uint8)[crop.inner]
    return out


#: The closed lid's grain is the photo's skin detail finer than this (a Gaussian's sigma, pixels), relative to
#: its local brightness.
GRAIN_SIGMA_PX = 1.5
#: It is measured on squares of skin this many inter-ocular distances wide (8-64 px): this far below the middle
#: of each lower lid (the square's top), and, for the shut lid's share of it (:func:`lid_grain_share`), this far
#: below it on each cheek (the square's middle) and this far above the upper lids in the forehead's middle. Under
#: a grin's squint the skin under the eyes is its wrinkles: obama.jpg's grain is 0.08 of the skin's brightness (the
#: astronaut's 0.014, Biden's 0.064), and shut lids were drawn as wood grain (their share: 0.047, 0.012, 0.047).
GRAIN_PATCH_IODS = 0.12
GRAIN_BELOW_IODS = 0.08
GRAIN_CHEEK_IODS = 0.35
GRAIN_FOREHEAD_IODS = 0.55


def _fine_detail(image: np.ndarray) -> np.ndarray:
    """(H, W) float64: ``image``'s brightness detail finer than :data:`GRAIN_SIGMA_PX`, relative to the local
    brightness (what :func:`skin_grain` and :func:`grain_amplitude` measure)."""
    import cv2

    lum = image.astype(np.float64) @ LUMA
    local = cv2.GaussianBlur(lum, (0, 0), GRAIN_SIGMA_PX, borderType=cv2.BORDER_REPLICATE)
    return (lum - local) / np.maximum(local, 1.0)


def _grain_squares(image: np.ndarray, rest: np.ndarray, openings: tuple[Opening, Opening],
                   iod_px: float) -> list[tuple[bool, np.ndarray]]:
    """(under an eye, the square's fine detail less its mean) of the skin squares :data:`GRAIN_PATCH_IODS` wide
    (8-64 px) that lie inside ``image``: under each eye (its top :data:`GRAIN_BELOW_IODS` below the lower lid's
    lowest point), on each cheek below it (its middle :data:`GRAIN_CHEEK_IODS` below), and the forehead's middle
    (its middle :data:`GRAIN_FOREHEAD_IODS` above the upper lids' highest point)."""
    h, w = image.shape[:2]
    detail = _fine_detail(image)
    n = int(np.clip(round(GRAIN_PATCH_IODS * iod_px), 8, 64))
    corners = []  # (under an eye, left, top)
    for o in openings:
        low = rest[o.lower[1:-1]]
        x, y = float(low[:, 0].mean()) - n / 2, float(low[:, 1].max())
        corners += [(True, x, y + GRAIN_BELOW_IODS * iod_px), (False, x, y + GRAIN_CHEEK_IODS * iod_px - n / 2)]
    upper = np.concatenate([rest[o.upper] for o in openings])
    corners.append((False, float(upper[:, 0].mean()) - n / 2,
                    float(upper[:, 1].min()) - GRAIN_FOREHEAD_IODS * iod_px - n / 2))
    squares = []
    for under, x, y in corners:
        x0, y0 = int(round(x)), int(round(y))
        if 0 <= x0 and 0 <= y0 and x0 + n <= w and y0 + n <= h:
            patch = detail[y0:y0 + n, x0:x0 + n]
            squares.append((under, patch - patch.mean()))
    return squares


def _at_width(image: np.ndarray, width_px: int) -> tuple[np.ndarray, float]:
    """(``image`` scaled to ``width_px`` wide (area-averaged; itself at that width already), the scale)."""
    import cv2

    h, w = image.shape[:2]
    scale = width_px / w
    if abs(scale - 1.0) <= 1e-6:
        return image, scale
    return cv2.resize(image, (max(round(w * scale), 8), max(round(h * scale), 8)), interpolation=cv2.INTER_AREA), scale


def skin_grain(image: np.ndarray, rest: np.ndarray, openings: tuple[Opening, Opening], iod_px: float, *,
               width_px: int, seed: int = 0) -> np.ndarray:
    """(H, W, 1) float32: relative brightness detail (mean 0, a few hundredths) with the power spectrum and the
    strength of the photo's skin grain under the eyes (``image`` (H, W, 3) uint8, its mesh's ``rest`` vertices; the
    other squares of :func:`_grain_squares` where the photo's edge cuts those off), for skin drawn without its own:
    the closed lid's (:func:`closed_lid_image`, smooth; at :func:`lid_grain_share` of it) and skin the stretch blur
    blurred. The raster multiplies such skin by (1 + grain) in the frame's own pixels, so that no stretch draws
    the grain into streaks. The phases are random (``seed``): the cheek's wrinkles and pores are not copied as
    shapes, only how grainy it is. Made on the image scaled to ``width_px`` wide and scaled back (cubic), so that
    every output size draws the same grain."""
    import cv2

    h, w = image.shape[:2]
    if abs(width_px / w - 1.0) > 1e-6:
        small, scale = _at_width(image, width_px)
        grain = skin_grain(small, rest * scale, openings, iod_px * scale, width_px=small.shape[1], seed=seed)[..., 0]
        sized = cv2.resize(grain, (w, h), interpolation=cv2.INTER_CUBIC)
        # what box-filtering the frame back to the grain's size would lose, put back: the 2048 frame filtered down to
        # 512 then has the 512 frame's grain (cubic alone smoothed it, 1 grey level off on a shut lid)
        lost = grain - cv2.resize(sized, (grain.shape[1], grain.shape[0]), interpolation=cv2.INTER_AREA)
        return (sized + cv2.resize(lost, (w, h), interpolation=cv2.INTER_NEAREST))[..., None]
    squares = _grain_squares(image, rest, openings, iod_px)
    picked = [p for under, p in squares if under] or [p for _, p in squares]
    if not picked:
        return np.zeros((h, w, 1), np.float32)
    n = picked[0].shape[0]
    window = np.outer(np.hanning(n), np.hanning(n))
    power = sum(np.abs(np.fft.fft2(p * window)) ** 2 for p in picked)
    if power.sum() <= 0.0:
        return np.zeros((h, w, 1), np.float32)
    # the squares' spectrum at the frame's frequencies (both span -1/2..1/2 cycles per pixel)
    shaped = cv2.resize(np.fft.fftshift(power), (w, h), interpolation=cv2.INTER_LINEAR)
    noise = np.random.default_rng(seed).standard_normal((h, w))
    grain = np.real(np.fft.ifft2(np.fft.fft2(noise) * np.sqrt(np.fft.ifftshift(shaped))))
    grain *= math.sqrt(float(np.mean([np.mean(p ** 2) for p in picked]))) / max(float(grain.std()), 1e-12)
    return grain[..., None].astype(np.float32)


def lid_grain_share(image: np.ndarray, rest: np.ndarray, openings: tuple[Opening, Opening], iod_px: float, *,
                    width_px: int) -> float:
    """0..1: the share of :func:`skin_grain` that the skin between the lids and the brows gets as a lid shuts or a
    brow lifts (the closed lid's skin, the skin a lifted brow uncovers, and skin the stretch blur blurred there; the
    raster ramps to it with how far the lid has shut or the brow lifted), for ``image`` (H, W, 3) uint8 and its
    mesh's ``rest`` vertices, measured at ``width_px`` wide as the grain is. That grain's strength is the geometric
    mean of the skin's under the eyes (the grain's own) and the median of all of :func:`_grain_squares`' squares,
    at most the grain's: under a grin's squint the skin under the eyes is its wrinkles (:data:`GRAIN_PATCH_IODS`),
    and shut lids and the skin under a raised brow took them as wood grain."""
    small, scale = _at_width(image, width_px)
    squares = _grain_squares(small, rest * scale, openings, iod_px * scale)
    every = [float(np.mean(p ** 2)) for _, p in squares]
    under = [float(np.mean(p ** 2)) for u, p in squares if u]
    if not under or not every or np.mean(under) <= 0.0:
        return 1.0
    return float(min(1.0, (float(np.median(every)) / float(np.mean(under))) ** 0.25))


#: The photo's own grain at each pixel is the RMS of its fine detail (as :func:`skin_grain` measures it) over a
#: Gaussian of this many inter-ocular distances.
GRAIN_AMPLITUDE_IODS = 0.04


def grain_amplitude(image: np.ndarray, iod_px: float, grain: np.ndarray, *, width_px: int) -> np.ndarray:
    """(H, W) float32 0..1, in the photo's pixels: how strong the photo's own grain is at each pixel, as a share of
    ``grain``'s ((H, W, 1), :func:`skin_grain`), at most all of it. Skin that a stretch blurs gets back the grain the
    blur took out in this share: the grain under the eyes is the face's strongest (wrinkles), and laid at full
    strength over a smooth chin or cheek it glittered (obama.jpg's neutral chin: detail 0.05 against the grain's
    0.08). Measured on the image scaled to ``width_px`` wide, as the grain is, and scaled back."""
    import cv2

    h, w = image.shape[:2]
    small, scale = _at_width(image, width_px)
    rms = np.sqrt(cv2.GaussianBlur(_fine_detail(small) ** 2, (0, 0), max(GRAIN_AMPLITUDE_IODS * iod_px * scale, 1.0),
                                   borderType=cv2.BORDER_REPLICATE))
    reference = float(grain.std())
    amp = np.clip(rms / reference, 0.0, 1.0) if reference > 0.0 else np.zeros_like(rms)
    if amp.shape != (h, w):
        amp = cv2.resize(amp, (w, h), interpolation=cv2.INTER_LINEAR)
    return amp.astype(np.float32)


def lid_unfold(blink: np.ndarray, o: Opening) -> np.ndarray:
    """(V,) how much of the closed lid's skin each vertex shows when the eye is shut: its downward motion in the
    eye's blink field ``blink`` ((V, 2) pixels at weight 1) as a share of the lid margin's (1 on the margin, 0 on
    the brow and below the eye)."""
    margin = lid_margin_px(blink, o)
    if margin <= 0.0:
        return np.zeros(len(blink))
    share = np.clip(blink[:, 1] / margin, 0.0, 1.0)
    share[list(o.lower)] = 0.0
    return share


#: A shut upper lid is not flat: its skin bulges over the eyeball below a crease. The closed lid's skin
#: (:func:`closed_lid_image`, smooth) is drawn with this relief where a blink shows it, not where a lifted brow bares
#: the same skin (``raster._lid_relief``): darker by :data:`LID_CREASE_DARK` (a Gaussian :data:`LID_CREASE_WIDTH_IODS`
#: wide) where the skin lands :data:`LID_CREASE_IODS` above the shut lashes (:func:`lid_landing`), and lighter by up
#: to :data:`LID_BULGE` halfway between (none at the lashes, where the lid layer samples the closed lid's skin). The
#: raster works it out in the frame's own pixels from the height the skin lands at (smooth in the photo): made in the
#: photo's pixels, the crease was under a pixel thin where the blink stretches the skin most, and the frame's columns
#: sampled it at their own phases (stripes down obama2's lids). Without it a shut lid was a flat almond, pale under
#: obama2's low brow.
LID_CREASE_IODS = 0.2
LID_CREASE_DARK = 0.25
LID_CREASE_WIDTH_IODS = 0.02
LID_BULGE = 0.08
#: ... on skin that unfolds: none where the unfold share is under the first of these, all of it from the second.
LID_RELIEF_SHARES = (0.05, 0.3)
#: ... and as the eye shuts: all of it once the lid has come down this share of the way (smoothly from none).
LID_RELIEF_SHUT = 0.5
#: The height the skin lands at is smoothed this much (inter-ocular distances; at most :data:`UNFOLD_BLUR_IODS`,
#: which sizes the crop it is made on): it is linear over each triangle, and its kinks bent the crease.
LID_LANDING_BLUR_IODS = 0.025


def smoothstep(t: np.ndarray) -> np.ndarray:
    """``t`` clipped to [0, 1] and eased at both ends (3t^2 - 2t^3), elementwise."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def lid_margin_px(blink: np.ndarray, o: Opening) -> float:
    """px: how far eye opening ``o``'s blink field ``blink`` ((V, 2) px at weight 1) moves its upper lid's margin down
    (the most of its inner points; 0 where it moves none down)."""
    return max(float(np.max(blink[o.upper[1:-1], 1])), 0.0)


def lid_landing(share: np.ndarray, above_px: np.ndarray, margin_px: float, iod_px: float) -> tuple[np.ndarray,
                                                                                                      np.ndarray]:
    """(landing, reach), both (H, W) float64, for the shut lid's relief (:data:`LID_CREASE_IODS`): how far above the
    shut lashes (inter-ocular distances) a blink takes the photo's skin ``above_px`` ((H, W) px) above the eye's
    upper lid line, whose unfold share (:func:`lid_unfold`, linear over each triangle) is ``share`` ((H, W) in
    [0, 1]), for a lid margin that moves ``margin_px`` down (:func:`lid_margin_px`): ``above_px + (1 - share) *
    margin_px`` (the margin's skin lands on the lashes), smoothed by :data:`LID_LANDING_BLUR_IODS`; and how much of
    the relief it gets (0-1: by :data:`LID_RELIEF_SHARES`, and none inside the eye opening)."""
    import cv2

    landing = cv2.GaussianBlur(above_px + (1.0 - share) * margin_px, (0, 0),
                               sigmaX=max(LID_LANDING_BLUR_IODS * iod_px, 0.5), borderType=cv2.BORDER_REPLICATE)
    lo, hi = LID_RELIEF_SHARES
    return landing / iod_px, smoothstep((share - lo) / (hi - lo)) * np.clip(above_px + 0.5, 0.0, 1.0)


#: The closed lid's skin fades in over the unfold share blurred this much, inter-ocular distances. The share
#: is linear over each triangle; where it falls to 0 within a triangle or two (at the eye's corners) its
#: kinks drew the faded-in lid's edge as a line.
UNFOLD_BLUR_IODS = 0.03
#: Shares under this are taken as none (the triangle's skin is drawn without sampling the closed lid's).
UNFOLD_MIN = 1e-3


#: Where a closing lid unfolds skin that lies in shadow in the photo (tucked under a low brow, obama2's lids at 0.1-0.3
#: of the cheeks' brightness), the shut lid shows this much more of the closed lid's skin (which faces the light)
#: for every unit the photo is darker than it (:func:`lid_shadow`): stretched, the fold's shadow drew the shut lid as
#: a dark grey patch, 0.4-0.6 of the cheeks' brightness. Not all of it: the lid under a low brow stays in its shade
#: (at 1 it was a flat pale almond).
SHADOWED_UNFOLD = 0.7
#: ... where the unfold share is at least the first of these, fully from the second (the brow's hair, which moves
#: hardly at all, keeps its own colour).
SHADOWED_UNFOLD_SHARES = (0.05, 0.2)
#: The photo's brightness is compared with the closed lid's blurred this much (inter-ocular distances), so that
#: single lashes and pores do not count as shadow.
LID_SHADOW_BLUR_IODS = 0.015


def lid_shadow(filled: np.ndarray, lid_img: np.ndarray, iod_px: float, *, box: Optional[Box] = None) -> np.ndarray:
    """(H, W) float64 in [0, 1]: how much darker the photo (its openings filled, ``filled``; blurred by
    :data:`LID_SHADOW_BLUR_IODS`) is than the closed lid's skin (``lid_img``, :func:`closed_lid_image`) at each
    pixel, as a share of the lid's brightness (0 where it is as bright or brighter, and outside ``box``,
    :func:`eye_box`)."""
    import cv2

    sigma = max(LID_SHADOW_BLUR_IODS * iod_px, 0.5)
    crop = _crop(box, filled.shape[:2], reach_px=sigma)
    lum = cv2.GaussianBlur(filled[crop.photo].astype(np.float64) @ LUMA, (0, 0), sigmaX=sigma,
                           borderType=cv2.BORDER_REPLICATE)
    lid = np.maximum(lid_img[crop.photo].astype(np.float64) @ LUMA, 1.0)
    out = np.zeros(filled.shape[:2])
    out[crop.box] = np.clip((lid - lum) / lid, 0.0, 1.0)[crop.inner]
    return out


#: Where a raised brow lifts off its eye, the hair between them takes the closed lid's (hair-free) colour
#: (:func:`closed_lid_image`, :func:`brow_skin_image`): all of it once the gap between the eye's corners and the
#: brow's lower edge (:func:`brow_gap`) has grown by this share of the neutral face's. Stretched (and blurred as it
#: stretches), the lower edge of the brow's hair ran down to the lid as a dark, grey-brown hatch (obama.jpg's
#: browOuterUp); taken from how far each triangle stretched, the change drew the triangles' outlines.
BROW_LIFT_FULL = 0.6
#: ... with this share of the closed lid's grain (:func:`skin_grain`, the photo's grain under the eyes): the grain the
#: stretch blur would have put back is measured where the brow's hair was, and drew the skin as a coarse hatch.
BROW_SKIN_GRAIN = 0.4
#: The band (shares of the way from the upper lid's margin up to the brow's lower edge, per column): the share rises
#: from 0 at the margin (its lashes) to 1 at the first, and falls back to 0 from the second to the third, in the
#: brow's hair: MediaPipe's lower brow points lie in the hair, and the hair below them stretched as a dark smear.
BROW_SKIN_BAND = (0.2, 0.8, 1.1)
#: Hair fades into skin over this share of the cheeks' brightness, about :data:`CLOSED_LID_SKIN` of it.
BROW_HAIR_SOFT = 0.2


def brow_points(eye: int) -> np.ndarray:
    """Landmark indices of the brow over the right (``eye`` 0) or left (1) eye."""
    from facecast.engine.face.landmarks import connection_points

    return np.array(sorted(connection_points(f"FACE_LANDMARKS_{('RIGHT', 'LEFT')[eye]}_EYEBROW")))


def brow_lower_edge(points: np.ndarray, eye: int) -> np.ndarray:
    """Landmark indices of the lower edge of the brow over the right (``eye`` 0) or left (1) eye: its points on
    or below the straight line fitted through all of them (``points`` (V, 2) landmark positions, y down)."""
    idx = brow_points(eye)
    slope, offset = np.polyfit(points[idx, 0], points[idx, 1], 1)
    return idx[points[idx, 1] >= slope * points[idx, 0] + offset]


def brow_gap(vertices: np.ndarray, eye: np.ndarray, edge: np.ndarray) -> float:
    """How far (px) the middle of a brow's lower edge (``edge`` indices) lies from the middle of its eye's points
    ``eye`` (its corners), for ``vertices`` (V, 2) px."""
    return float(np.linalg.norm(vertices[edge].mean(0) - vertices[eye].mean(0)))


def brow_lift(gap_px: float, neutral_gap_px: float) -> float:
    """0..1: how far a brow has lifted off its eye, from its gap (:func:`brow_gap`) now and on the neutral face: 1 once
    the gap has grown by :data:`BROW_LIFT_FULL` of the neutral face's."""
    return min(max((gap_px / max(neutral_gap_px, 1e-3) - 1.0) / BROW_LIFT_FULL, 0.0), 1.0)


def brow_skin_image(filled: np.ndarray, rest: np.ndarray, openings: tuple[Opening, Opening],
                    iod_px: float, *, box: Optional[Box] = None) -> np.ndarray:
    """(H, W, 2) float32 in [0, 1], in the photo's pixels, per (right, left) eye: how much of the closed lid's skin
    (:func:`closed_lid_image`) the photo's hair between the eye's upper lid and its brow (:data:`BROW_SKIN_BAND`)
    shows with the brow lifted, 0 elsewhere (and outside ``box``, :func:`eye_box`): hair being what is darker than
    :data:`CLOSED_LID_SKIN` of the cheeks' brightness in the photo (its openings filled, ``filled``), as the closed
    lid's skin leaves out. The skin there keeps its own shading. ``rest`` (V, 2) the mesh's vertices (px);
    ``openings`` the eyes."""
    import cv2

    cheek_lum = max(float(_cheek_colour(filled, rest, openings, iod_px) @ LUMA), 1.0)
    hair_sigma, sigma = max(LID_SHADOW_BLUR_IODS * iod_px, 0.5), max(UNFOLD_BLUR_IODS * iod_px, 0.5)
    crop = _crop(box, filled.shape[:2], reach_px=hair_sigma + sigma)
    lum = cv2.GaussianBlur(filled[crop.photo].astype(np.float64) @ LUMA, (0, 0), sigmaX=hair_sigma,
                           borderType=cv2.BORDER_REPLICATE)
    hair = np.clip((CLOSED_LID_SKIN * cheek_lum - lum) / (BROW_HAIR_SOFT * cheek_lum) + 0.5, 0.0, 1.0)
    h, w = lum.shape
    gy, gx = np.mgrid[0:h, 0:w] + 0.5 + np.array([crop.y0, crop.x0])[:, None, None]
    image = np.zeros((h, w, 2))
    rise_to, fall_from, fall_to = BROW_SKIN_BAND
    for e, o in enumerate(openings):
        lid = rest[list(o.upper)]
        brow = rest[brow_points(e)]
        lower_edge = rest[brow_lower_edge(rest, e)]
        x0 = max(float(min(lid[:, 0].min(), brow[:, 0].min())), float(crop.x0))
        x1 = min(float(max(lid[:, 0].max(), brow[:, 0].max())), float(crop.x0 + w))
        cols = slice(int(np.floor(x0)) - crop.x0, int(np.ceil(x1)) - crop.x0)
        xs = gx[0, cols]
        lid_y = np.interp(xs, *lid[np.argsort(lid[:, 0])].T)
        edge_y = np.interp(xs, *lower_edge[np.argsort(lower_edge[:, 0])].T)
        gap = np.maximum(lid_y - edge_y, 1.0)
        up = (lid_y[None, :] - gy[:, cols]) / gap[None, :]  # 0 at the lid's margin, 1 at the brow's lower edge
        rise = np.clip(up / rise_to, 0.0, 1.0)
        fall = np.clip((fall_to - up) / (fall_to - fall_from), 0.0, 1.0)
        share = np.minimum(rise * rise * (3 - 2 * rise), fall * fall * (3 - 2 * fall))
        # ... fading out past the eye's and the brow's ends (over a tenth of the eye's width)
        ends = np.clip(np.minimum(xs - x0, x1 - xs) / max(0.1 * (x1 - x0), 1.0), 0.0, 1.0)
        image[:, cols, e] = share * ends[None, :] * hair[:, cols]
    out = np.zeros((*filled.shape[:2], 2), np.float32)
    out[crop.box] = np.clip(cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE), 0.0,
                            1.0)[crop.inner]
    return out


def unfold_image(shape_hw: tuple[int, int], rest: np.ndarray, triangles: np.ndarray, shares: np.ndarray,
                 openings: tuple[Opening, Opening], iod_px: float, *, brow: np.ndarray,
                 margins_px: tuple[float, float], shadow: Optional[np.ndarray] = None,
                 box: Optional[Box] = None) -> tuple[np.ndarray, np.ndarray]:
    """The unfold shares (:func:`lid_unfold`) as a smooth picture of the photo's skin.

    ``shares`` (2, V): each (right, left) eye's share per vertex; ``triangles`` (T, 3) the mesh's. Returns
    ``(image, per_triangle)``: (H, W, 6) float32: the shares interpolated over the triangles at ``rest``, kept
    on the skin (outside the eye openings' rest polygons) and blurred there by :data:`UNFOLD_BLUR_IODS` (a blur
    normalised over the skin, so the openings do not thin the share at their rims), each eye's scaled to a
    peak of 1 again (0 below :data:`UNFOLD_MIN`), raised where the photo lies in ``shadow`` ((H, W) in [0, 1],
    :func:`lid_shadow`; :data:`SHADOWED_UNFOLD`), then ``brow`` ((H, W, 2), :func:`brow_skin_image`) as two more
    channels, and the shut lid's (landing, reach) (:func:`lid_landing` of the shares before the shadow's raise, for
    lid margins that move ``margins_px`` (right, left) down) as two more, all 0 outside ``box`` (:func:`eye_box`);
    and (T, 4) float32 the most of each of the first four channels each triangle's bilinear samples can read
    (:func:`.mesh.sample_boxes`)."""
    import cv2

    sigma = max(UNFOLD_BLUR_IODS * iod_px, 0.5)
    crop = _crop(box, shape_hw, reach_px=sigma)
    ch, cw = crop.photo[0].stop - crop.y0, crop.photo[1].stop - crop.x0
    flat = np.zeros((ch, cw, 2), np.float64)
    for t in np.nonzero(shares[:, triangles].max(axis=(0, 2)) > 0)[0]:
        p = rest[triangles[t]] - np.array([crop.x0, crop.y0])  # in the crop's pixels
        x0, y0 = np.maximum(np.floor(p.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(p.max(0)).astype(int) + 1, [cw, ch])
        if x0 >= x1 or y0 >= y1:
            continue
        gy, gx = np.mgrid[y0:y1, x0:x1] + 0.5
        m = np.array([p[1] - p[0], p[2] - p[0]]).T
        if abs(np.linalg.det(m)) < 1e-9:
            continue
        b1, b2 = np.linalg.solve(m, np.stack([gx.ravel() - p[0, 0], gy.ravel() - p[0, 1]]))
        inside = (b1 >= -1e-6) & (b2 >= -1e-6) & (b1 + b2 <= 1 + 1e-6)
        b0 = 1.0 - b1 - b2
        for e in range(2):
            v = shares[e, triangles[t]]
            value = (b0 * v[0] + b1 * v[1] + b2 * v[2]).reshape(gx.shape)
            block = flat[y0:y1, x0:x1, e]
            block[inside.reshape(gx.shape)] = np.maximum(block, value)[inside.reshape(gx.shape)]
    skin = np.ones((ch, cw), np.float64)
    for o in openings:
        skin[opening_mask(shape_hw, rest, o)[crop.photo] > 0] = 0.0

    def blur(a):
        return cv2.GaussianBlur(a, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)

    weight = np.maximum(blur(skin), 1e-3)
    inner = np.stack([blur(flat[..., e] * skin) / weight for e in range(2)], axis=-1)[crop.inner]
    # the lid margin's middle shows all of it again (the blur took the peak to 0.7-0.8 and the lid layer, all
    # closed lid's skin, showed paler than the skin above it)
    inner = np.clip(inner / np.maximum(inner.max(axis=(0, 1)), 1e-6), 0.0, 1.0).astype(np.float32)
    yy, xx = np.mgrid[crop.photo[0], crop.photo[1]] + 0.5
    landing, reach = np.zeros((ch, cw)), np.zeros((ch, cw))
    for e, o in enumerate(openings):  # the eyes lie apart: each pixel takes the eye whose share is larger
        chain = rest[list(o.upper)]
        order = np.argsort(chain[:, 0])
        above = np.interp(xx, chain[order, 0], chain[order, 1]) - yy
        mine = flat[..., e] >= flat[..., 1 - e]
        eye_landing, eye_reach = lid_landing(flat[..., e], above, margins_px[e], iod_px)
        landing[mine], reach[mine] = eye_landing[mine], eye_reach[mine]
    relief = np.stack([np.where(reach > 0.0, landing, 0.0), reach], axis=-1)[crop.inner]  # 0 where it gets none
    if shadow is not None:
        lo, hi = SHADOWED_UNFOLD_SHARES
        reach = smoothstep((inner - lo) / (hi - lo))
        inner = (inner + (1.0 - inner) * SHADOWED_UNFOLD * shadow[crop.box][..., None] * reach).astype(np.float32)
    inner[inner < UNFOLD_MIN] = 0.0
    image = np.zeros((*shape_hw, 6), np.float32)
    image[crop.box] = np.concatenate([inner, brow[crop.box].astype(np.float32), relief.astype(np.float32)], axis=-1)
    bx, by = crop.box[1], crop.box[0]
    per_triangle = np.zeros((len(triangles), 4), np.float32)
    for t, (x0, x1, y0, y1) in enumerate(sample_boxes(rest, triangles, shape_hw)):
        if x1 >= bx.start and x0 < bx.stop and y1 >= by.start and y0 < by.stop:  # 0 outside the box
            per_triangle[t] = image[y0:y1 + 1, x0:x1 + 1, :4].max(axis=(0, 1))
    return image, per_triangle
