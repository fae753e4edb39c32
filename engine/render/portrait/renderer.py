"""``portrait``: animates one photo from the 52 ARKit weights on a CPU."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Union

import numpy as np

from facecast.engine.render.base import Renderer, RendererUnavailable, raw_output_format
from facecast.engine.render.portrait import raster
from facecast.engine.render.portrait.deform import Deformer, Pose, opening_attributes
from facecast.engine.render.portrait.eyes import (
    DEFAULT_SCLERA, LUMA, brow_gap, brow_lift, brow_lower_edge, brow_skin_image, closed_lid_image, eye_box,
    eyeball_images, grain_amplitude, lid_colour, lid_grain_share, lid_margin_px, lid_shadow, lid_unfold,
    lift_to_lid_margin, sclera_colour, skin_grain, unfold_image)
from facecast.engine.render.portrait.folds import (
    FOLD_SMILES, MIN_FOLD_SMILE, FoldFader, fit_fade, fold_lift, fold_shares)
from facecast.engine.render.portrait.fields import (FROM_NEUTRAL, FaceFrame, build_basis, build_field,
                                                    build_inverse_basis, lip_seal_kernels, way_out_basis)
from facecast.engine.render.portrait.gains import fitted_gains_path, load_gains
from facecast.engine.render.portrait.glasses import composite as glasses_composite
from facecast.engine.render.portrait.glasses import find_glasses, without_glasses
from facecast.engine.face.landmarks import NUM_LANDMARKS
from facecast.engine.face.tracker import FaceTracker
from facecast.engine.render.portrait.neutral import NEUTRAL_TARGET, NEUTRALISED, fit_neutral, neutralised
from facecast.engine.render.portrait.mesh import EYE_LEFT, EYE_RIGHT, MOUTH, build_mesh
from facecast.engine.render.portrait.photo import check_photo
from facecast.engine.render.portrait.rig import (
    ASTRONAUT, PortraitRig, crop_portrait, load_portrait)
from facecast.engine.types import NUM_ARKIT, FaceSample, FlameParams, PixelFormat, arkit_index

log = logging.getLogger(__name__)

_TONGUE_OUT = arkit_index("tongueOut")
_JAW_OPEN = arkit_index("jawOpen")
#: jawOpen weights the jaw's own opening of the mouth is tabled at (:meth:`PortraitRenderer._jaw_openings`).
_JAW_STEPS = np.linspace(0.0, 1.0, 11)
_BLINKS = (arkit_index("eyeBlinkRight"), arkit_index("eyeBlinkLeft"))  # (right, left), as the eye openings
_DEFAULT_TEETH_RGB = (226.0, 220.0, 205.0)
_TONGUE_RGB = (196.0, 92.0, 98.0)
#: The mouth's synthesised colours (the default teeth's, the tongue's, the cavity's) keep as much of their colour as
#: the photo's lips have of this saturation ((max - min) / max of their colour; real lips 0.3-0.5): a grey photo
#: (obama3_gray) drew a pink tongue and a red mouth in a grey face.
LIP_SATURATION = 0.25


#: The neutral fit reads frames of this size (a renderer of another size takes the fit of one of this size), so
#: that one portrait gets the same neutral face at every output size.
FIT_SIZE_PX = 512
#: MediaPipe points where a glasses frame rests (the nose's bridge, the eyes' inner corners, the temples): the affine
#: map nearest to the head's turn of these (on the rest face) moves the frame.
HEAD_ANCHORS = (6, 168, 197, 133, 362, 127, 356, 234, 454)


class PortraitRenderer(Renderer):
    """Animates ``portrait`` (a photo path, or ``astronaut``) at ``width`` x ``height``.

    Args:
        portrait: photo of one face looking at the camera, or ``astronaut``.
        width, height: output size, pixels (64..4096).
        pixel_format: RGB8, RGBA8 or BGRA8.
        gains: optional (52,) per-shape field gains (see ``facecast calibrate fit-portrait``);
            a ``.npz`` path with a ``gains`` array, or an array. None: the gains fitted for this
            photo where a fit was saved (:func:`gains.fitted_gains_path`), else the shipped ones;
            ``gains_source`` says which after :meth:`prepare`.
        model_path: FaceLandmarker model for tracking the portrait once.
    """

    name = "portrait"

    def __init__(self, *, portrait: Union[str, Path] = ASTRONAUT, width: int = 512, height: int = 512,
                 pixel_format: PixelFormat = PixelFormat.RGBA8, gains: Union[None, str, Path, np.ndarray] = None,
                 model_path: Optional[Path] = None) -> None:
        self.pixel_format = raw_output_format(self.name, width=width, height=height, pixel_format=pixel_format,
                                              max_side_px=4096)
        self._portrait = portrait
        self._size = (width, height)
        self._gains_option = gains
        self._model_path = model_path
        self._ready = False
        #: The portrait's glasses frame (:class:`.glasses.Glasses`, drawn as a layer that stays on the head), or None
        #: where it shows none; set by :meth:`prepare`.
        self.glasses = None

    # -- per session -------------------------------------------------------------

    def prepare(self) -> None:
        if self._ready:
            return
        w, h = self._size
        rgb, name = load_portrait(self._portrait)
        self.check = check_photo(rgb, name=name if name == ASTRONAUT else str(self._portrait),
                                 model_path=self._model_path)
        if self.check.refusal:
            raise RendererUnavailable(self.check.refusal)
        for note in self.check.notes:
            log.warning("portrait: %s", note)
        self._gains = self._resolve_gains(self.check.digest)
        try:
            self._prepare_rig(crop_portrait(rgb, self.check.landmarks, name=name, width=w, height=h),
                              rest_expression=self.check.rest_weights)
        except ValueError as exc:  # a face the checks passed but the mesh or fields cannot use
            raise RendererUnavailable(f"cannot animate {self._portrait}: {exc}; try a sharper photo looking "
                                      "straight at the camera ('facecast portrait check PHOTO' shows what it sees)"
                                      ) from None
        self._ready = True

    def _resolve_gains(self, digest: str) -> np.ndarray:
        """The field gains for this photo, and ``gains_source`` saying where they came from."""
        option = self._gains_option
        if option is None:
            fitted = fitted_gains_path(digest)
            if fitted.is_file():
                option = fitted
                self.gains_source = f"fitted for this photo ({fitted})"
            else:
                self.gains_source = "shipped (fit them for this photo: facecast calibrate fit-portrait)"
        else:
            self.gains_source = "given" if isinstance(option, np.ndarray) else f"from {option}"
        gains = load_gains(option)
        log.info("portrait: field gains %s", self.gains_source)
        return gains

    def _prepare_rig(self, rig: PortraitRig, *, rest_expression: np.ndarray) -> None:
        """Everything per portrait: mesh, fields, guard thresholds and neutral face (from the photo's own
        ``rest_expression``, (52,) ARKit weights), eye images."""
        w, h = self._size
        self.rig = rig
        name = rig.name
        self.identity = name
        rest_lm = self.rig.landmarks
        mesh, rest = build_mesh(rest_lm[:, :2], size_wh=(w, h))
        self.mesh = mesh
        band = lift_to_lid_margin(rest, mesh)
        self.glasses = find_glasses(rig.image, rig.landmarks, rig.iod_px, mesh=mesh)
        # the skin every image below is drawn from: the photo, with a glasses frame painted out (the frame is a
        # layer drawn over every frame, moved with the head only)
        self._skin = rig.image if self.glasses is None else without_glasses(rig.image, self.glasses, rig.iod_px)
        if self.glasses is not None:
            log.info("portrait %s: glasses (a bridge %.2f of the skin's luma): their dark frame stays on the head",
                     name, self.glasses.bridge_contrast)
        rest_lm = rest_lm.copy()
        rest_lm[:, :2] = rest[:NUM_LANDMARKS]  # the fields see the lifted lid margins
        frame = FaceFrame.from_landmarks(rest_lm, mesh)
        # The inverse fields take the photo's own expression out: drawn from the fields as authored, so the neutral
        # face is the photo's alone, the same whatever gains a fit tries (the gains calibrate the way out of it).
        authored = build_basis(frame, rest)
        basis = authored if np.all(self._gains == 1.0) else build_basis(frame, rest, gains=self._gains)
        inverse = build_inverse_basis(frame, rest, way_out_basis(frame, rest, authored), shapes=NEUTRALISED)
        self._frame = frame
        self.deformer = Deformer(mesh, rest, rest_lm[:, 2], basis, self.rig.iod_px, inverse=inverse,
                                 seal=lip_seal_kernels(frame))
        self.deformer.set_rest_weights(neutralised(rest_expression))
        self._rest = rest.astype(np.float32)
        eyes = (mesh.eye_right, mesh.eye_left)
        # the photo's light: its sclera's colour against a typical sclera's (teeth, tongue and a sclera the photo
        # shows too little of under the same light)
        self._light = raster.photo_light(self._skin, rest, sclera_colour(self._skin, rest, eyes, band), DEFAULT_SCLERA)
        self._eye_img, self._eye_wide_img = eyeball_images(self._skin, rest, eyes, self.rig.iod_px, band,
                                                           white=self._light * DEFAULT_SCLERA)
        self._u, self._v, self._top, self._bottom = opening_attributes(mesh, rest)
        self._band = band.astype(np.float32)
        self._h0 = self.deformer.pose(self.rest_weights).opening_px.copy()  # the photo's own openings
        self._mouth_columns = mesh.mouth.upper[1:-1]  # the mouth's columns and their heights in the photo
        self._rest_mouth_px = self._h0[self._mouth_columns].astype(np.float64)
        # the upper chain's points in the lip's middle third (u, across the mouth), whose drop hides the teeth, and
        # how far the jaw alone opens the mouth there
        self._lip_middle = np.flatnonzero(np.abs(self._u[list(mesh.mouth.upper)] - 0.5) <= 1.0 / 6.0)
        self._mouth_middle = np.asarray(mesh.mouth.upper)[self._lip_middle]
        self._num_openings = int(np.count_nonzero(np.isin(mesh.kinds, (MOUTH, EYE_RIGHT, EYE_LEFT))))  # they come first
        self._eye_rest = {k: rest[list(o.corners)] for k, o in ((EYE_RIGHT, mesh.eye_right), (EYE_LEFT, mesh.eye_left))}
        self._eye_corners = {EYE_RIGHT: list(mesh.eye_right.corners), EYE_LEFT: list(mesh.eye_left.corners)}
        self._eye_chains = [(o.upper[1:-1], float(max(self._band[o.upper].max(), 1.0)),
                             float(max(self._h0[o.upper].sum(), 1.0))) for o in eyes]
        self._lips_rgb = raster.lip_colour(self._skin, rest, mesh)
        self._teeth_alpha, teeth_run, self._teeth_rgb = raster.teeth_layer(self._skin, rest, mesh, self.rig.iod_px,
                                                                           self._lips_rgb)
        self._params = self._parameters(rest)
        self._mouth_corners = tuple(int(i) for i in mesh.mouth.corners)
        self._params[raster.P_PHOTO_TEETH] = raster.photo_teeth_shown(teeth_run)
        teeth_table = raster.teeth_table(raster.teeth_reach_px(teeth_run, rest, mesh.mouth, self.rig.iod_px), rest,
                                         mesh.mouth, self._h0, self.rig.iod_px)
        soft, chain, chain_run, lower_run = raster.edge_tables(mesh)
        filled = raster.filled_photo(self._skin, rest, mesh, band, self.rig.iod_px)
        blur_x, blur_y = raster.stretch_images(filled, self.rig.iod_px)
        self._blink_fields = {k: basis[k] for k in _BLINKS}
        self._eye_box = eye_box(rest, eyes, self.rig.iod_px, filled.shape[:2])  # the lid's and brow's images
        lid_img = closed_lid_image(filled, rest, eyes, self.rig.iod_px, box=self._eye_box)
        self._lid_shadow = lid_shadow(filled, lid_img, self.rig.iod_px, box=self._eye_box)
        self._brow_skin = brow_skin_image(filled, rest, eyes, self.rig.iod_px, box=self._eye_box)
        # per eye: its corners and its brow's lower edge (their gap is measured from the corners, which stay as the
        # lids close: from the upper lid, a blink lifted the brow)
        self._brow_gaps = [(np.asarray(o.corners), brow_lower_edge(rest, e)) for e, o in enumerate(eyes)]
        unfold_img, tri_unfold = self._unfold()
        fmt = self.pixel_format
        self._channels = np.array([2, 1, 0] if fmt is PixelFormat.BGRA8 else [0, 1, 2], np.int64)
        base = np.full((h, w, fmt.channels), 255, np.uint8)
        # every frame starts from the portrait with its openings filled: the warp covers every pixel but where
        # folding skin leaves a crack between its triangles, a pixel or two beside a moving mouth, which showed the
        # photo's own teeth there as a white speck (a grin's pucker)
        base[..., self._channels] = filled
        self._base = base
        skin_img, filled = self._skin.copy(), filled.copy()  # the warp's own: a smile's folds fade in them
        self._folds = self._fold_fader(rest, [skin_img, filled, blur_x, blur_y])
        self._fold_scale = np.ones(2)  # each fold's fade: the neutral fit lowers it where fading reads as a smile
        self._scene = raster.Scene(
            channels=self._channels, src=self._rest, triangles=self.mesh.triangles, kinds=self.mesh.kinds,
            num_openings=self._num_openings, skin_img=skin_img, eye_img=self._eye_img,
            eye_wide_img=self._eye_wide_img, attr_u=self._u, attr_v=self._v, attr_h0=self._h0, attr_band=self._band,
            attr_top=self._top, attr_bottom=self._bottom, soft=soft, chain=chain, chain_run=chain_run,
            lower_run=lower_run,
            fill_img=filled, blur_x_img=blur_x, blur_y_img=blur_y, teeth_alpha=self._teeth_alpha,
            teeth_run=teeth_table,
            lid_img=lid_img, mouth_upper=np.asarray(mesh.mouth.upper, np.int64),
            mouth_lower=np.asarray(mesh.mouth.lower, np.int64), unfold_img=unfold_img,
            tri_unfold=tri_unfold, grain_img=self._grain_images(rest, eyes))
        anchors = np.hstack([rest[list(HEAD_ANCHORS)], np.ones((len(HEAD_ANCHORS), 1))])
        self._anchor_fit = np.linalg.pinv(anchors)  # (3, K): the affine fit to where the head turns the anchors
        self._jaw_open_px = np.zeros(len(_JAW_STEPS))  # tabled once the neutral face is fitted (its frames: no jaw)
        self._ready = True
        self.render(FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32)))  # compile/load the warp now
        self._fit_neutral()
        self._params[raster.P_NEUTRAL_OPEN:raster.P_NEUTRAL_OPEN + 2] = self._neutral_openings()
        self._set_fields(sorted(FROM_NEUTRAL))  # drawn again from the neutral face, now that it is fitted
        self._jaw_open_px = self._jaw_openings()  # from the fitted neutral face
        log.info("portrait %s: %d triangles, IOD %.0f px", name, len(mesh.triangles), self.rig.iod_px)

    @property
    def gains(self) -> np.ndarray:
        """(52,) the field gains in use (:meth:`set_gain` changes them)."""
        return self._gains.copy()

    def set_gain(self, shape: int, gain: float) -> None:
        """Draw ARKit shape ``shape`` ((0..51)) at ``gain`` times its authored field from now on, exactly as a
        renderer prepared with that gain would (for fitting gains in closed loop); the neutral face is unchanged."""
        if not (np.isfinite(gain) and gain > 0):
            raise ValueError(f"a gain must be finite and > 0, got {gain}")
        self._gains = self._gains.copy()
        self._gains[shape] = gain
        self._set_fields([shape])

    def _set_fields(self, shapes: list[int]) -> None:
        """Build ``shapes``' fields at the current gains, those of :data:`.fields.FROM_NEUTRAL` from the neutral
        face, and hand them to the deformer (and the blinks' to the closed lid's share)."""
        neutral = self.deformer.neutral_px
        for k in shapes:
            field = build_field(self._frame, self._rest.astype(np.float64), k, gain=float(self._gains[k]),
                                neutral_px=neutral)
            self.deformer.set_field(k, field)
            if k in self._blink_fields:
                self._blink_fields[k] = field
        if any(k in self._blink_fields for k in shapes):
            unfold_img, tri_unfold = self._unfold()
            self._scene = self._scene._replace(unfold_img=unfold_img, tri_unfold=tri_unfold)
        if _JAW_OPEN in shapes:
            self._jaw_open_px = self._jaw_openings()

    def _jaw_openings(self) -> np.ndarray:
        """(len(_JAW_STEPS),) px: how far jawOpen alone, at each of :data:`_JAW_STEPS`, opens the middle of the mouth
        beyond the neutral face's opening (:data:`~.raster.P_JAW_OPEN`: the lower teeth move with the jaw)."""
        weights = np.zeros(NUM_ARKIT)
        opened = []
        for step in _JAW_STEPS:
            weights[_JAW_OPEN] = step
            opened.append(float(self.deformer.pose(weights).opening_px[self._mouth_middle].mean()))
        return np.maximum(np.asarray(opened) - opened[0], 0.0)

    def _fold_fader(self, rest: np.ndarray, images: list[np.ndarray]) -> Optional[FoldFader]:
        """The fader of a smiling photo's folds (:mod:`.folds`) over ``images``: the photo, the filled photo, its
        blurs along x and y (:func:`.raster.stretch_images`), and the frame's starting image; None where the neutral
        face takes no smile out."""
        if self.deformer.rest_weights[list(FOLD_SMILES)].max() < MIN_FOLD_SMILE:
            return None
        lift = fold_lift(self._skin, rest[:NUM_LANDMARKS], self.rig.iod_px)
        blurred = [raster.stretch_images(lift[side], self.rig.iod_px) for side in range(2)]
        lifts = [lift, lift, np.stack([b[0] for b in blurred]), np.stack([b[1] for b in blurred])]
        start = self._base[..., 0:3] if list(self._channels) == [0, 1, 2] else self._base[..., 2::-1]
        fader = FoldFader(images + [start], lifts + [lift])
        return fader if fader.active else None

    def _unfold(self) -> tuple[np.ndarray, np.ndarray]:
        """The closed lid's skin each pixel of the photo shows with its eye shut (:func:`.eyes.unfold_image`),
        from the blink fields as drawn now."""
        eyes = (self.mesh.eye_right, self.mesh.eye_left)
        shares = np.stack([lid_unfold(self._blink_fields[k], o) for k, o in zip(_BLINKS, eyes)])
        margins = tuple(lid_margin_px(self._blink_fields[k], o) for k, o in zip(_BLINKS, eyes))
        return unfold_image(self.rig.image.shape[:2], self._rest.astype(np.float64), self.mesh.triangles, shares,
                            eyes, self.rig.iod_px, brow=self._brow_skin, margins_px=margins, shadow=self._lid_shadow,
                            box=self._eye_box)

    def _fit_neutral(self) -> None:
        """Read the neutral face back with MediaPipe and take the photo's expression out further where it
        still shows (:func:`.neutral.fit_neutral`); a few frames, once per portrait."""
        if not self.deformer.asked_rest_weights.any():
            return
        if self._size != (FIT_SIZE_PX, FIT_SIZE_PX):
            # MediaPipe reads a 2048 frame shrunk to 512 a little differently from a 512 frame, enough to move a
            # bisection step: every size takes the fit of the 512x512 frame, so every size draws the same face.
            at_fit_size = PortraitRenderer(portrait=self._portrait, width=FIT_SIZE_PX, height=FIT_SIZE_PX,
                                           pixel_format=PixelFormat.RGB8, gains=self._gains,
                                           model_path=self._model_path)
            at_fit_size.prepare()
            self.deformer.set_inverse_gains(at_fit_size.deformer.inverse_gains)
            self._fold_scale = at_fit_size.fold_fade
            log.info("portrait %s: expression taken out %.0f%% (inverse field gains of the %dx%d fit)", self.rig.name,
                     100 * self.deformer.neutral_share, FIT_SIZE_PX, FIT_SIZE_PX)
            return
        zeros = FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32))
        tracker = FaceTracker(self._model_path)
        # the fit reads the photo's own folds: read faded, the turned Obama's grin was taken out further (inverse gain
        # 1.44 -> 1.72) and its jaw then turned skin over beside the lips; the folds change the texture, not the face
        folds, self._folds = self._folds, None
        if folds is not None:
            folds.apply(np.zeros(2))

        def read_neutral():
            found = tracker.track(np.ascontiguousarray(self.pixel_format.rgb(self.render(zeros))))
            return None if found is None else found.weights

        def read_smiles(scales: np.ndarray):
            self._fold_scale = scales
            read = read_neutral()
            return None if read is None else read[list(FOLD_SMILES)]

        try:
            gains = fit_neutral(self.deformer, read_neutral)
            self._folds = folds
            if folds is not None:
                self._fold_scale = fit_fade(read_smiles, target=NEUTRAL_TARGET)
        finally:
            self._folds = folds
            tracker.close()
        log.info("portrait %s: expression taken out %.0f%% (inverse field gains up to %.2f; folds faded %s)",
                 self.rig.name, 100 * self.deformer.neutral_share, gains.max(),
                 "no" if folds is None else " / ".join(f"{s:.0%}" for s in self._fold_scale))

    def _grain_images(self, rest: np.ndarray, eyes) -> np.ndarray:
        """(H, W, 2) float32: the skin's grain in the frame's pixels and its strength in the photo's
        (:func:`~.eyes.skin_grain`, :func:`~.eyes.grain_amplitude`), both made at the fit's width."""
        grain = skin_grain(self._skin, rest, eyes, self.rig.iod_px, width_px=FIT_SIZE_PX)
        amp = grain_amplitude(self._skin, self.rig.iod_px, grain, width_px=FIT_SIZE_PX)
        return np.ascontiguousarray(np.concatenate([grain, amp[..., None]], axis=-1))

    def _parameters(self, rest: np.ndarray) -> np.ndarray:
        mp = np.zeros(raster.NUM_PARAMS, np.float32)
        mp[raster.P_IOD] = self.rig.iod_px
        mp[raster.P_GRAIN_PX] = self._size[0] / FIT_SIZE_PX  # the grain is made at the fit's width
        mp[raster.P_LID_GRAIN] = lid_grain_share(self._skin, rest, (self.mesh.eye_right, self.mesh.eye_left),
                                                 self.rig.iod_px, width_px=FIT_SIZE_PX)
        light = self._light
        # the photo's own teeth where it shows them, else enamel under the photo's light
        lips = self._lips_rgb
        colour = min(float(np.ptp(lips)) / max(float(lips.max()), 1.0) / LIP_SATURATION, 1.0)

        def as_photo(rgb) -> np.ndarray:  # with no more colour than the photo has
            rgb = np.asarray(rgb, np.float64)
            grey = float(rgb @ LUMA)
            return grey + colour * (rgb - grey)

        teeth = self._teeth_rgb if self._teeth_rgb is not None else as_photo(np.array(_DEFAULT_TEETH_RGB) * light)
        mp[raster.P_TEETH:raster.P_TEETH + 3] = teeth
        mp[raster.P_TONGUE_RGB:raster.P_TONGUE_RGB + 3] = as_photo(0.7 * np.array(_TONGUE_RGB) * light + 0.3 * lips)
        mp[raster.P_CAVITY_RGB:raster.P_CAVITY_RGB + 3] = as_photo(0.5 * np.array(raster.CAVITY_RGB) * light
                                                                   + 0.5 * 0.3 * lips)
        mp[raster.P_SEAM_RGB:raster.P_SEAM_RGB + 3] = raster.SEAM_DARK * lips
        mp[raster.P_TEETH_SHADOW:raster.P_TEETH_SHADOW + 3] = raster.teeth_shadow_keep(lips)
        c0, c1 = self.mesh.mouth.corners
        mp[raster.P_MOUTH_WIDTH] = float(np.linalg.norm(rest[c1] - rest[c0]))
        mp[raster.P_MOUTH_SHARE] = 1.0
        for e, o in enumerate((self.mesh.eye_right, self.mesh.eye_left)):
            mp[raster.P_LID_RGB + 3 * e: raster.P_LID_RGB + 3 * e + 3] = lid_colour(self._skin, rest, o, self.rig.iod_px)
        mp[raster.P_NEUTRAL_OPEN:raster.P_NEUTRAL_OPEN + 2] = self._neutral_openings()
        return mp

    def _neutral_openings(self) -> np.ndarray:
        """(2,) per eye (right, left), how much wider than the photo the neutral face opens it, at least 1: what the
        lash band counts as wide from (:data:`~.raster.P_NEUTRAL_OPEN`). Taken again once the neutral face is fitted
        (:meth:`_fit_neutral` takes more of the expression out)."""
        neutral = self.deformer.pose(np.zeros(NUM_ARKIT)).opening_px
        return np.array([max(float(neutral[o.upper].sum()) / max(float(self._h0[o.upper].sum()), 1e-3), 1.0)
                         for o in (self.mesh.eye_right, self.mesh.eye_left)], np.float32)

    @property
    def rest_vertices(self) -> np.ndarray:
        """(V, 2) float32 pixels: the mesh's rest vertices (the photo's own positions), which every frame's warp
        maps from (the background matte, :mod:`.background`, rides the same warp)."""
        return self._rest

    @property
    def rest_weights(self) -> np.ndarray:
        """(52,) the photo's expression as far as it could be taken out without folding the face (the
        deformer's, current after ``set_gain``): these weights draw the photo itself."""
        return self.deformer.rest_weights

    @property
    def fold_fade(self) -> np.ndarray:
        """(2,) in [0, 1]: how far the (right, left) smile folds fade as their smile is taken out (:mod:`.folds`;
        the neutral fit lowers a side where fading reads as a smile); ones where the photo has no folds to fade."""
        return self._fold_scale.copy()

    # -- per frame ---------------------------------------------------------------

    def pose(self, sample: FaceSample) -> Pose:
        """The mesh for ``sample`` (landmarks and guard), without drawing."""
        return self.deformer.pose(sample.weights, sample.head_rad)

    def drawn_landmarks(self, sample: FaceSample) -> np.ndarray:
        """(478, 2) pixels: where the frame for ``sample`` draws MediaPipe's landmarks
        (the photo's tracked points, not the mesh's lid margins lifted to the lash
        line, moved as the mesh moves them). ``facecast eval``'s geometry channel
        scores these with MediaPipe's blendshape model."""
        if not self._ready:
            self.prepare()
        moved = self.pose(sample).vertices[:NUM_LANDMARKS] - self._rest[:NUM_LANDMARKS]
        return self.rig.landmarks[:, :2] + moved

    def _eye_affine(self, pose: Pose) -> np.ndarray:
        m = np.zeros((4, 2, 3), np.float32)
        for row, kind in enumerate((EYE_RIGHT, EYE_LEFT)):
            d0, d1 = pose.vertices[self._eye_corners[kind]].astype(np.float64)
            s0, s1 = self._eye_rest[kind]
            # similarity taking the destination corners to the rest corners
            dv, sv = d1 - d0, s1 - s0
            zd, zs = complex(*dv), complex(*sv)
            a = zs / zd if abs(zd) > 1e-6 else 1.0
            rot = np.array([[a.real, -a.imag], [a.imag, a.real]])
            offset = s0 - rot @ d0 - pose.gaze_px[row]
            m[kind] = np.hstack([rot, offset[:, None]])
        return m

    def _head_affine(self, head_rad: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """(2, 3) the affine map (portrait pixels) nearest to how ``head_rad`` turns the rest face's points where a
        glasses frame rests (:data:`HEAD_ANCHORS`), or None without a head pose: what moves a glasses frame."""
        if head_rad is None:
            return None
        rest = self.deformer.rest
        moved = rest + self.deformer.head(rest, np.asarray(head_rad, np.float64))
        return (self._anchor_fit @ moved[list(HEAD_ANCHORS)]).T  # least squares, (3, 2) -> (2, 3)

    def frame_params(self, pose: Pose, sample: FaceSample) -> np.ndarray:
        """(:data:`~.raster.NUM_PARAMS`,) float32: the raster's per-frame parameters for ``pose`` (of ``sample``)."""
        mp = self._params.copy()
        mp[raster.P_TONGUE] = float(sample.weights[_TONGUE_OUT])
        mp[raster.P_TONGUE_ROOT:raster.P_TONGUE_UNDER + 1] = raster.tongue_out_geometry(
            pose.vertices, self.mesh.mouth, self.rig.iod_px, mp[raster.P_TONGUE],
            float(pose.opening_px[self._mouth_middle].mean()))
        mp[raster.P_LID:raster.P_LID + 2] = pose.lid_cover
        mp[raster.P_MOUTH_REST] = raster.mouth_rest_share(pose.opening_px[self._mouth_columns], self._rest_mouth_px)
        # the opening measured where the jaw's table is (their difference is the lips' own parting: measured at the
        # tallest column, a jaw alone parted Biden's lips 0.3 px "beyond the jaw" and lengthened his upper row)
        mp[raster.P_MOUTH_OPEN] = float(pose.opening_px[self._mouth_middle].mean())
        mp[raster.P_LIP_DROP] = float(pose.upper_lip_drop_px[self._lip_middle].mean())
        mp[raster.P_JAW_OPEN] = pose.scale * float(np.interp(sample.weights[_JAW_OPEN], _JAW_STEPS, self._jaw_open_px))
        c0, c1 = self._mouth_corners
        neutral = self.deformer.neutral_vertices
        mp[raster.P_MOUTH_SHARE] = (float(np.linalg.norm(pose.vertices[c1] - pose.vertices[c0]))
                                    / max(float(np.linalg.norm(neutral[c1] - neutral[c0])), 1e-3))
        for e, (inner, band, rest) in enumerate(self._eye_chains):
            # what the eye shows open: what the mesh leaves open less what the lid layer covers
            shown_px = pose.opening_px[inner] * (1.0 - float(pose.lid_cover[e]))
            # lashes where the lids meet, as the lash band closes
            mp[raster.P_LASH + e] = max(0.0, 1.0 - float(shown_px.mean()) / band) ** 2
            # the skin above the eye shows the closed lid's as far as the lid skin has closed, and the lid layer's
            # skin the same mix (:func:`.raster._eye_rgb`); counting what the layer covers here too took 32bit's
            # blink to 3.47 grey levels of aliasing in the eyes (2.73 without; the goal is 3)
            mp[raster.P_CLOSED + e] = min(max(1.0 - float(pose.opening_px[inner].sum()) / rest, 0.0), 1.0)
        for e, (corners, edge) in enumerate(self._brow_gaps):
            # from the neutral face's gap: the neutral face itself is drawn as it was (taking a squint out lifts the
            # brows off the photo's by 20-40% on the grinning Obama photos)
            mp[raster.P_BROW_LIFT + e] = brow_lift(brow_gap(pose.vertices, corners, edge),
                                                   brow_gap(neutral, corners, edge))
        # the skin's grain rides with the eyes' corners (the lids' hinges), in whole pixels of the grain: sampled
        # between its pixels it was averaged down to half its strength, and the 2048 frame's shift, rounded to its
        # own pixels, put its grain half a pixel of the 512 frame's away from it
        corners = self._eye_corners[EYE_RIGHT] + self._eye_corners[EYE_LEFT]
        grain_px = float(mp[raster.P_GRAIN_PX])
        shift = (pose.vertices[corners] - self._rest[corners]).mean(0)
        mp[raster.P_GRAIN_SHIFT:raster.P_GRAIN_SHIFT + 2] = np.round(shift / grain_px) * grain_px
        return mp

    def render(self, sample: FaceSample, flame: Optional[FlameParams] = None) -> np.ndarray:
        if not self._ready:
            self.prepare()
        pose = self.pose(sample)
        self.expression_shown = pose.scale
        if self._folds is not None:
            self._folds.apply(fold_shares(sample.weights, self.deformer.rest_weights) * self._fold_scale)
        out = self._base.copy()
        mp = self.frame_params(pose, sample)
        raster.draw(out, self._scene, dst=pose.vertices, opening_px=pose.opening_px, eye_affine=self._eye_affine(pose),
                    neutral=self.deformer.neutral_vertices, params=mp)
        if self.glasses is not None:
            glasses_composite(out, self.glasses, self._channels, affine=self._head_affine(sample.head_rad))
        return out


