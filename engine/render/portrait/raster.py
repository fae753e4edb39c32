"""The piecewise-affine backward warp, compiled with numba.

For every destination triangle, every pixel inside it gets its barycentric
coordinates, and from them:

- :data:`~.mesh.SKIN`: the same point of the rest triangle in the portrait
  (bilinear sample). Near an opening whose size has changed, from the photo with
  its openings filled from the surrounding skin (:func:`filled_photo`): a lip's
  inner edge never shows the photo's teeth or a lid's edge its sclera (that was
  a light 1-2 px halo). Where the warp stretches the skin much more one way than
  the other (past :data:`STRETCH_LO`, the ratio of the singular values of the
  triangle's rest-to-frame map), from the photo blurred across the stretch, the
  more the more it stretches (:func:`stretch_images`), so stretched lids and lips
  show smooth skin instead of streaks. At a closing eye's edges, the lashes.
- eyes: the eyeball image under the lids, through the eye's per-frame affine
  map (eye corners + gaze), darkened in the upper lid's shadow, and the lid
  layer (skin with the lash line at its edge) over the top share of the opening
  that the lid covers; the eyeball is never squashed, the lid slides over it;
- :data:`~.mesh.MOUTH`: the mouth interior in layers measured in pixels from
  the lips, so it keeps its size as the jaw opens: a cavity darker toward the
  back and under the upper lip, a shaded tongue, lower teeth and upper teeth as
  rows of rounded teeth (:func:`_tooth_row`) in the photo's teeth colour, and the
  photo's own upper teeth over them where it shows them (:func:`teeth_layer`).

Every boundary is drawn with fractional coverage, never a binary test:

- where skin meets an opening, each opening triangle is first drawn half a pixel
  past its edges on the opening's rim (its colour continues under the lip), then
  each skin triangle with an edge on the rim covers a pixel by
  ``clamp(0.5 + d, 0, 1)``, ``d`` the pixel centre's signed distance to that edge
  (pixels up to half a pixel outside it included, within the edge's own slab so
  that neighbours never cover one twice). Coverage adds up (a pixel shared by the
  upper and lower lid of a closed eye is all skin), up to full coverage and never
  past it: a skin pixel is ``out + coverage * (skin - under)``, ``under`` the
  opening's colour there, ``coverage`` at most what the skin has left uncovered;
- inside the openings every layer edge (teeth, tongue, lash band, lid layer,
  sclera) is a smooth ramp about a pixel wide.

Triangles facing away are drawn first, openings next and skin over them. Compiled
once per machine (numba cache); the first call in a process loads or compiles it.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np
from numba import njit, prange

from facecast.engine.face.landmarks import connection_points
from facecast.engine.render.portrait.eyes import (BROW_SKIN_GRAIN, LID_BULGE, LID_CREASE_DARK, LID_CREASE_IODS,
                                                  LID_CREASE_WIDTH_IODS, LID_RELIEF_SHUT, opening_mask)
from facecast.engine.render.portrait.mesh import (EYE_LEFT, EYE_RIGHT, FOLDED, MOUTH, NUM_MESH_LANDMARKS, SKIN, Opening,
                                                WarpMesh)

#: Mouth interior layout, inter-ocular distances: the teeth rows' and the tongue's heights at the middle.
#: The upper teeth show this much below the upper lip of a mouth just open, and more as it opens wide (the upper lip
#: rides up over them): :data:`UPPER_TEETH_OPEN` of the opening's height more, up to :data:`UPPER_TEETH_MAX_IODS`.
#: A relaxed mouth shows a few millimetres of its upper teeth, and the lower lip covers most of the lower ones: with
#: 0.13 and 0.07 IOD at every opening, the rows filled a mouth open for speech (jawOpen 0.3, an opening of about
#: 0.15 IOD) edge to edge with white, one slab with no dark between the teeth.
UPPER_TEETH_IODS = 0.07
UPPER_TEETH_OPEN = 0.12
UPPER_TEETH_MAX_IODS = 0.13
#: Lips parted further than the jaw opens them (a stretch, a grimace) pull back off the teeth: the upper row shows this
#: share of that parting more. (Without it a stretch's upper row was 0.07-0.09 IOD, and MediaPipe read
#: mouthStretchLeft 0.25 on obama2_16bit, 0.28 on astronaut_rolled; 0.45 and 0.37 with it, as with 0.13 at any
#: opening.)
UPPER_TEETH_RETRACT = 0.3
LOWER_TEETH_IODS = 0.05
#: The lower teeth move with the jaw, not with the lower lip: lips parted with the jaw shut (a stretch, a grimace, a
#: lower lip pulled down) show them up behind the upper teeth, this far (IODs) over their tips; only the jaw's own
#: travel (:data:`P_JAW_OPEN`) takes them apart. (Grown from the lower lip alone, a stretch's rows stood apart with
#: the cavity between them, and MediaPipe read mouthStretchLeft on the astronaut 0.21 instead of 0.46.)
OVERBITE_IODS = 0.02
#: Little light reaches the tongue through a small opening: it is :data:`TONGUE_DIM` darker while the mouth is open
#: less than the first height (IODs), fully lit from the second. (Lit as in a wide-open mouth, it showed between the
#: teeth of a mouth open for speech as a bright pink band.)
TONGUE_DIM = 0.5
TONGUE_LIT_IODS = (0.1, 0.35)
TONGUE_IODS = 0.1
TONGUE_OUT_EXTRA_IODS = 0.05
#: ... and this share of how far the jaw alone opens the mouth (:data:`P_JAW_OPEN`) past the second (IODs) more: the
#: tongue drops with the jaw, and once the jaw opens past speech's openings the camera sees more of its back over the
#: lower teeth. (At a fixed height, a mouth opened wide was a flat dark hole over a thin pink band; risen from the
#: first opening on, the tongue filled the dark between the rows of a mouth open for speech.)
TONGUE_JAW_SHARE, TONGUE_JAW_FROM_IODS = 0.3, 0.25
#: The tongue's dome spans this share of the opening's width, in its middle: it lies inside the lower teeth's arch,
#: whose sides turn back into the cheeks' dark. (Across the whole opening, corner to corner, it was a flat pink band
#: filling the lower mouth.)
TONGUE_WIDTH_SHARE = 0.75
#: tongueOut puts the tongue out between the lips and over the lower lip (:func:`_tongue_out`): at 1 its tip lies this
#: far (IODs) past the lower lip's outer edge, its half width is this share of the mouth's width (at most the second,
#: IODs), it is this much darker where it comes out from under the upper lip and teeth (over the first IODs below
#: them), and it shades the skin around it over this many IODs. (Drawn only inside the mouth's opening, the tongue
#: filled the opening as a flat slab and never came out.)
TONGUE_PAST_LIP_IODS = 0.08
TONGUE_HALF_SHARE, TONGUE_HALF_MAX_IODS = 0.3, 0.2
#: ... narrowing by this share of its half width from its root to its tip, with the grain of the skin (the frame's
#: :data:`Scene.grain_img`, :func:`_grain`) this strong on it.
TONGUE_TAPER = 0.15
TONGUE_GRAIN = 0.4
#: ... and a wet sheen on its round toward the tip: this share of the way to its colour's brightest channel.
TONGUE_SHEEN = 0.25
TONGUE_ROOT_SHADE, TONGUE_ROOT_IODS = 0.45, 0.1
#: Inside the mouth, the tongue's dome goes this much darker toward its top (its back, which lies flat, away from the
#: light and under the palate), from this share of its height above the lower lip. (At 0.3 from halfway up, a wide
#: mouth's tongue was a bright pink dome with a hard rim against the dark cavity.)
TONGUE_BACK_SHADE, TONGUE_BACK_FROM = 0.55, 0.3
TONGUE_SHADOW_IODS = 0.025
#: A front tooth's width (upper, lower), inter-ocular distances.
UPPER_TOOTH_IODS = 0.12
LOWER_TOOTH_IODS = 0.085
#: A tooth's tip corners are rounded with this share of its width.
TOOTH_ROUND = 0.15
#: The teeth from the midline out (central incisor, lateral incisor, canine, two premolars; the last repeats) seen
#: from the front, per row (upper, lower): each tooth's width (share of the front tooth's width above), its length
#: (share of the row's), its cusp (share of :data:`TOOTH_CUSP`: the canine's point, the premolars' lesser one) and
#: its tone (share of the teeth's colour: the teeth behind the incisors are darker and greyer). A real upper row has
#: its central incisors widest and longest, the laterals narrower and about a millimetre shorter, the canines
#: pointed; the lower incisors are narrow and all alike. (One tooth repeated along the arch, every tooth the same
#: width, length and tone, drew a row of piano keys.) Lengths and cusps show as far as ``anatomy`` of
#: :func:`_tooth_row` says: not where the rows meet, nor in a photo that shows its own upper teeth (they set the row's
#: length, and the sequence's lengths put steps where the drawn row starts from them).
UPPER_TEETH_WIDTHS = (1.0, 0.78, 0.86, 0.78, 0.75)
UPPER_TEETH_LENGTHS = (1.0, 0.88, 0.95, 0.9, 0.88)
UPPER_TEETH_CUSPS = (0.0, 0.0, 1.0, 0.5, 0.5)
UPPER_TEETH_TONES = (1.0, 0.96, 0.92, 0.89, 0.86)
LOWER_TEETH_WIDTHS = (1.0, 1.05, 1.2, 1.15, 1.15)
LOWER_TEETH_LENGTHS = (1.0, 1.0, 1.0, 0.95, 0.9)
#: (No cusps below: the lower row is about 5 px high at 512x512, and a lower canine's point a pixel high was a V tip
#: the frame could not draw, the astronaut's jawOpen 0.5 mouth 17.3 grey levels from the 2048 frame (p99; 12.7
#: before the sequence, 13.8 with it and no lower cusps).)
LOWER_TEETH_CUSPS = (0.0, 0.0, 0.0, 0.0, 0.0)
LOWER_TEETH_TONES = (1.0, 0.98, 0.94, 0.9, 0.87)
#: A cusp of 1 is a point this share of the tooth's width past its straight edge.
TOOTH_CUSP = 0.12
#: Rows for :func:`_tooth_row`.
UPPER_ROW, LOWER_ROW = 0, 1
#: The shadow between two teeth darkens them by at most this share (real interdental shadows are faint).
GAP_SHADE = 0.15
#: A tooth's face is rounded: toward its sides it is darker by up to this share; and its tip, thin enamel, by this
#: share. (Drawn flat, every tooth the same tone edge to edge, a row looked like one moulded strip.)
TOOTH_CURVE = 0.1
TOOTH_TIP_GREY = 0.08
#: The dental arch seen from the front: the mouth corners look at it at this angle (rad), so the
#: teeth narrow toward the corners.
ARCH_RAD = 1.0
#: The buccal corridor: from this share of the opening's half width out to its corners, the drawn tooth rows go
#: into the cavity's shadow, up to :data:`CORRIDOR_DARK` of the way at the corners. Hung from the lips into the
#: corners at their full light, the upper and lower rows ringed the dark opening in a light band (issue 17's
#: halo; the photo's own teeth keep their light).
CORRIDOR_FROM = 0.55
CORRIDOR_DARK = 0.85
LID_SHADOW_IODS = 0.03
#: The cavity's colour before the photo's lips tint it, and how much darker it gets at the back
#: and right under the upper lip and teeth.
CAVITY_RGB = (62.0, 20.0, 24.0)
CAVITY_BACK = 0.45
CAVITY_UNDER_LIP = 0.4
#: An opening narrower than this (inter-ocular distances) is darker inside: lips just apart show the cavity's
#: shadow, all but :data:`NARROW_SHADE` of what lies behind them (little light gets in). The first is for lips the
#: jaw parts, the second for lips pulled apart with the jaw shut (a stretch, a grimace, a lower lip pulled down):
#: drawn back flat over the teeth, they shade them less. (With the first for both, MediaPipe read the stretches of
#: obama.jpg, obama_dark and obama3_gray 0.57 / 0.42 / 0.37 -> 0.34 / 0.26 / 0.27.) ...
NARROW_IODS = 0.15
NARROW_PULLED_IODS = 0.08
NARROW_SHADE = 0.15
#: ... except on the front teeth, which stand right behind the lips and catch the light that does: that shadow is
#: :data:`NARROW_FRONT` lighter at the middle, over a Gaussian this share of the opening's half width. (obama3's own
#: mouth, parted 0.059 IOD, is 0.38 of the teeth's colour over its middle half and its front 1.57 times its sides.
#: With 0.08 and no lit front, lips parted 0.05 IOD drew a flat slab of teeth, 0.64-0.78 of their colour and the
#: front 1.13-1.19 times the sides: a grey-white band between the lips at speech's most common opening.)
NARROW_FRONT = 0.5
NARROW_FRONT_SHARE = 0.3
#: ... and lips this close (inter-ocular distances) show nothing behind them: the seam between them, this share of
#: the lips' colour (the photos' own closed seams: 0.35-0.52 of their lips' median luma; the cavity's shadow and
#: the teeth behind drew a sealed mouth's seam as a grey line).
SEAM_IODS = 0.03
SEAM_DARK = 0.45
#: Lips that meet roll in toward their seam, in the shadow of the upper lip: drawn from a photo whose mouth is open,
#: their edges are lit lip up to the seam, which was a line one pixel wide, as if drawn with a pen (Biden's own seam
#: is a soft band 3-4 px wide). Where the lips meet (:data:`SEAM_IODS`) and the photo has them apart, the upper lip
#: goes :data:`SEAM_SHADOW` of the way toward the seam's colour at the seam, the lower lip :data:`SEAM_SHADOW_LOWER`
#: of that, falling off over :data:`SEAM_SHADOW_IODS` (inter-ocular distances) from it (:func:`_seam_shadow`).
SEAM_SHADOW = 0.6
SEAM_SHADOW_LOWER = 0.5
SEAM_SHADOW_IODS = 0.03
#: Lips squeezed narrower than the neutral face's (a funnel's O, a pucker) are pushed out, away from the teeth: at
#: this share narrower and more, the rows show :data:`RECEDE_HIDE` less of their length below the lips, and the
#: cavity between them goes :data:`RECEDE_DARK` of the way into its shadow. (Drawn as at rest, the rows filled
#: obama2's O with white, and MediaPipe read a funnel of 0.08 at full weight; with these 0.27, the astronaut's
#: 0.38 as before. Dimmed to grey, the teeth took hers to 0.28; shaded warm, :data:`RECEDE_TEETH_SHADE`, 0.32.)
RECEDE_SQUEEZE = 0.35
RECEDE_HIDE = 0.7
RECEDE_DARK = 0.7
#: And the teeth behind those lips lie in their shadow too: at the full squeeze each channel of the rows (drawn and
#: the photo's own) goes this share darker, less in the lips' own colour (:func:`_behind_lips`). In full light, a
#: grin's teeth filled the astronaut's and Obama's O with bright white, like a rabbit's; at 0.6 (with a bounce of 0.6)
#: they still stood out in it, light beige at 0.70 of the photo's teeth's luma, where little light reaches through
#: the O; at 0.85 they are 0.46 of it. MediaPipe's funnel at weight 1 (fitted gains) against 0.6: obama 0.45 / 0.37,
#: the mirrored Obama 0.39 / 0.29, the astronaut 0.33 / 0.33, two_faces 0.40 / 0.42, obama2 0.15 / 0.13 (and against
#: full light: astronaut 0.32 / 0.45, obama 0.38 / 0.23).
RECEDE_TEETH_SHADE = 0.85
#: Light that reaches teeth in a shadow has come off the lips: each channel keeps up to this share of the lips'
#: colour (relative to its brightest channel), so shaded teeth are warm, not the blue-grey of white dimmed (at 0.3
#: they were slate grey in the darker shadow).
LIP_BOUNCE = 0.45
#: A photo shows its own upper teeth (which keep their length behind a squeeze) as far as they reach down the
#: opening somewhere: from the first share (not at all) to the second (fully). obama2's copies, which show a
#: sliver, read 0.09-0.25; the astronaut and obama.jpg 1.
PHOTO_TEETH_SHARES = (0.3, 0.6)
#: Tooth rows less than this far apart (inter-ocular distances) shade what shows between them the same way.
TEETH_GAP_IODS = 0.06
#: The lower teeth right under the upper teeth's tips lie in their shadow: darker by this share at the tips, a third
#: of it :data:`OCCLUSAL_IODS` inter-ocular distances below (at least half a pixel). Where the rows overlap (a mouth a
#: little open, speech's most common) the upper row's edge is a line across the lower teeth; without it the two rows
#: drew one white slab.
OCCLUSAL_SHADE = 0.45
OCCLUSAL_IODS = 0.015
#: The photo's own upper teeth stop this far (inter-ocular distances) short of their reach, and the tooth row under
#: them ends them: their own lower end is uneven (each tooth's, and the lower lip's shadow on them).
PHOTO_TEETH_CUT_IODS = 0.03
#: Where the photo shows its own upper teeth, the row reaches this far past their tips (their colour at the cut goes
#: on down to there), and a row longer than that (beside the photo's teeth, :func:`teeth_row_scale`) fades from that
#: colour into the drawn tooth over the next :data:`PHOTO_TEETH_FADE_IODS` (inter-ocular distances).
PAST_PHOTO_TIPS_IODS = 0.012
PHOTO_TEETH_FADE_IODS = 0.04
#: The shadow in a narrow gap: this share of the cavity's colour.
SHADOW_OF_CAVITY = 0.6

LASH_IODS = 0.028
#: The lid layer's skin is the photo's this far above the lash line (inter-ocular distances).
LID_SKIN_IODS = 0.04
#: How dark the lash line drawn where a closing eye's lids meet is (share toward the lash colour).
LASH_DARK = 0.75
#: A skin triangle along an eye draws the lash line at the distance to the chain where it touches it and this many
#: chain segments on either side (one: triangles touching the chain two vertices apart still disagreed on a
#: shared edge, by up to 3 px).
CHAIN_REACH = 2
#: Vertices of the chain each skin triangle along an eye measures the lash line against (:func:`edge_tables`).
RUN_LEN = 2 * CHAIN_REACH + 2
#: The shut eye's lashes thin out over this share of the eye's width toward the inner corner, and end over this
#: share at the outer one (a line of one width ended square at both corners, drawn with a marker). Shares of the
#: way between the corners in the frame, not of the chain's segments (MediaPipe's points crowd toward a turned eye's
#: corners, 2 px apart on obama_turned against 5-9 px in the middle, and a taper of 0.6 segments drew no lashes at
#: its outer end), nor of the lid's length in the photo (the open lid's arc bunches its points by its corners).
LASH_INNER_SHARE = 0.19
LASH_OUTER_SHARE = 0.075
#: The lashes that hang over the lower lid where the lids meet: this share of the line's darkness, fading out
#: over this many lash widths below it.
LASH_FRINGE = 0.6
LASH_FRINGE_LASHES = 1.1
#: An eye opening narrower than this (inter-ocular distances) is a slit in the lashes' shadow: what shows in it
#: (the lash band, the eyeball) is up to :data:`SLIT_DARK` darker (it showed as a pale line between nearly shut
#: lids).
SLIT_IODS = 0.06
SLIT_DARK = 0.6
#: Opening beyond its rest size over which the eyeball fades to its wide-open image (share of the rest opening).
WIDE_BLEND = 0.25
#: How much darker the hanging lash band gets at its lower edge when the eye is wide open.
WIDE_LASH_DARKEN = 0.4
#: As the lids open past their rest opening (to a wide eye's, :data:`WIDE_BLEND`), the lash band hanging from the upper
#: lid's edge thins by up to this share: the lid's skin below the crease folds up into it as the lid retracts. Drawn
#: at its full height, the photo's band (the lid margin, its lashes and the skin above them) ringed a wide eye with a
#: thick dark outline, like eyeliner.
WIDE_BAND_THIN = 0.4
#: The lid layer (the share of an eye the mesh leaves open that a blink closes over it, :attr:`.deform.Pose.lid_cover`)
#: fades in as that share goes from the first value to the second. The photo's lash band hangs from the layer's
#: edge; a layer over the top tenth of an opening is a strip within that band, and drew the band's upper rows as a
#: pale line over the eye (sadness's blinks of 0.2 on a photo whose blink gain is under 1).
LID_LAYER_SHARES = (0.1, 0.3)
#: The lid layer's own lash line shows as the opening left under the layer narrows from this many of the lash
#: band's heights to 0.3 of one: until then the hanging band's own lashes are the lid's edge, and the layer's line
#: over them drew a dark loop around a half-closed eye (the astronaut's left eye at blinks of 0.1-0.7, with its
#: fitted gain 0.7), where a closing lid shows one line.
LID_LINE_GAP_BANDS = 1.0

#: Soft edges inside the mouth (the tongue's, the photo's teeth's lower end): this share of the inter-ocular
#: distance, at least a pixel (so the picture is the same at any size, and never aliased).
SOFT_IODS = 0.016
#: Half-width of the soft skin-to-opening boundary, pixels (coverage ramps over twice this).
EDGE_PX = 0.5
#: How far past the rim an opening is drawn under the skin, pixels (a little more than :data:`EDGE_PX`).
RIM_PX = 0.6
#: An opening this many pixels from its rest height at a vertex samples the filled photo at its edges.
FILL_PX = 1.0
#: The openings are filled from the skin within this many inter-ocular distances (3 px at 100 px, the 512x512
#: crop's; at least a pixel).
INPAINT_IODS = 0.03
#: Skin stretched more than this many times more one way than the other (the ratio ``k`` of the singular
#: values of its rest-to-frame map) is blurred across the stretch, with a Gaussian of sigma
#: :data:`STRETCH_BLUR_IODS` inter-ocular distances per unit of ``k`` past it: the stretched texture's
#: features come out as wide as they are long, instead of streaks.
STRETCH_LO = 1.5
STRETCH_BLUR_IODS = 0.012
#: A squeeze past this counts as this much: a triangle squashed flat (a shut eye's corner, 1/30 of its height)
#: asked for a blur of 40 px, which drew the blurred photo around it as a pale wedge.
SQUEEZE_FLOOR = 0.5
#: Skin squeezed across x (a pucker's and a funnel's lips, a third narrower and more) draws the photo's vertical
#: creases closer together: vertical streaks, twice the photo's. Where one frame pixel across x spans this many
#: times as much of the neutral face as across y or more, the photo is blurred along x with :data:`PINCH_BLUR`
#: times the stretch blur's sigma per unit past it (4.3 px at 2x, for an inter-ocular distance of 100 px). Along
#: y it is not: there a squeeze draws the lips' and the teeth's edges closer (an open mouth's upper lip), and the
#: blur took them out (jawOpen's streak ratio 1.45 -> 1.52).
PINCH_LO = 1.1
PINCH_BLUR = 4.0
#: The blurs are precomputed at these sigmas (times :data:`STRETCH_BLUR_IODS` inter-ocular distances) and
#: interpolated between.
STRETCH_LEVELS = (1.0, 3.0, 9.0)
#: Columns of the mouth the photo's upper-teeth extent is tabled at.
TEETH_RUN_BINS = 64
#: The rows of :data:`Scene.teeth_run`, per column of the mouth: the photo's upper teeth's reach below its lip (px,
#: :func:`teeth_reach_px`), the drawn row's length over the arch (:func:`teeth_row_scale`), and the photo's column
#: there: its top (x, y) and bottom (x, y) and the opening's height (px); :func:`teeth_table` makes it.
TEETH_REACH, TEETH_ROW_SCALE, TEETH_TOP, TEETH_BOTTOM, TEETH_H0, TEETH_ROWS = 0, 1, 2, 4, 6, 7

#: Per-frame parameter vector layout (float32): inter-ocular distance, tongueOut,
#: teeth and tongue colours, mouth width, then per eye (right, left) the share of
#: the opening the lid layer covers and the lid's skin colour, per eye the strength of
#: the lash line where the lids meet, the cavity's colour, and per eye how far its upper lid has closed (0 open
#: as in the photo, 1 shut: the skin above it shows the closed lid's skin that much, :data:`Scene.lid_img`), and
#: for the skin's grain (:data:`Scene.grain_img`): the (x, y) whole-pixel shift of the eyes' corners from the
#: photo (the grain rides with it) and the size of the grain's pixels in the frame's (the grain is made at one
#: width for every output size, :func:`.eyes.skin_grain`), and the mouth's width in this frame (corner to corner)
#: as a share of the neutral face's, and how far (0..1) the photo shows its own upper teeth, and per eye how much
#: wider (at least 1) the neutral face opens it than the photo (a smile's squint taken out), and the colour of the
#: seam between lips that touch, and how far (0..1) the mouth shows the photo's own opening (:func:`mouth_rest_share`),
#: and the mouth's opening in this frame (px, the mean over its middle third, as :data:`P_JAW_OPEN`), and how far the middle of the upper lip has come
#: down from the photo (px, :attr:`.deform.Pose.upper_lip_drop_px` where the lip's middle third is), and how far the
#: jaw alone opens the middle of the mouth in this frame (px, beyond the neutral face's opening), and per eye how far
#: (0..1) its brow has lifted off it (the hair between them shows the closed lid's skin that much,
#: :func:`.eyes.brow_lift`), and the tongue put out past the lips (:func:`tongue_out_geometry`, :func:`_tongue_out`):
#: its root (x, y) and the direction it points (x, y), its length to its tip and its half width (px), and how far
#: below the upper lip it comes out (px, under the upper teeth), and the share of the grain the closed lid's skin
#: gets (:func:`.eyes.lid_grain_share`), and the share of each channel the teeth keep in the lips' shadow
#: (:func:`teeth_shadow_keep`).
P_IOD, P_TONGUE, P_TEETH, P_TONGUE_RGB, P_MOUTH_WIDTH, P_LID, P_LID_RGB = 0, 1, 2, 5, 8, 9, 11
P_LASH, P_CAVITY_RGB, P_CLOSED, P_GRAIN_SHIFT, P_GRAIN_PX, P_MOUTH_SHARE, P_PHOTO_TEETH = 17, 19, 22, 24, 26, 27, 28
P_NEUTRAL_OPEN, P_SEAM_RGB, P_MOUTH_REST, P_MOUTH_OPEN, P_LIP_DROP = 29, 31, 34, 35, 36
P_JAW_OPEN, P_BROW_LIFT = 37, 38
P_TONGUE_ROOT, P_TONGUE_DIR, P_TONGUE_LEN, P_TONGUE_HALF, P_TONGUE_UNDER = 40, 42, 44, 45, 46
P_LID_GRAIN, P_TEETH_SHADOW = 47, 48
NUM_PARAMS = 51

#: Skin triangle chain codes (:func:`edge_tables`): touching the (right, left) eye's upper chain, lower chain.
_UPPER_RIGHT, _UPPER_LEFT, _LOWER_RIGHT, _LOWER_LEFT = 1, 2, 3, 4


@njit(inline="always", fastmath=True, error_model="numpy")
def _sample(img, x, y, c):
    """Bilinear sample of channel ``c`` at continuous pixel-centre coordinates."""
    h, w = img.shape[0], img.shape[1]
    x = min(max(x, 0.0), w - 1.001)
    y = min(max(y, 0.0), h - 1.001)
    x0, y0 = int(x), int(y)
    fx, fy = x - x0, y - y0
    a = img[y0, x0, c] * (1 - fx) + img[y0, x0 + 1, c] * fx
    b = img[y0 + 1, x0, c] * (1 - fx) + img[y0 + 1, x0 + 1, c] * fx
    return a * (1 - fy) + b * fy


@njit(inline="always", fastmath=True, error_model="numpy")
def _sample3(img, x, y, rgb):
    """Bilinear sample of three channels into ``rgb``."""
    h, w = img.shape[0], img.shape[1]
    x = min(max(x, 0.0), w - 1.001)
    y = min(max(y, 0.0), h - 1.001)
    x0, y0 = int(x), int(y)
    fx, fy = x - x0, y - y0
    for c in range(3):
        a = img[y0, x0, c] * (1 - fx) + img[y0, x0 + 1, c] * fx
        b = img[y0 + 1, x0, c] * (1 - fx) + img[y0 + 1, x0 + 1, c] * fx
        rgb[c] = a * (1 - fy) + b * fy


@njit(inline="always", fastmath=True, error_model="numpy")
def _sample1(img, x, y):
    """Bilinear sample of a one-channel image."""
    h, w = img.shape[0], img.shape[1]
    x = min(max(x, 0.0), w - 1.001)
    y = min(max(y, 0.0), h - 1.001)
    x0, y0 = int(x), int(y)
    fx, fy = x - x0, y - y0
    a = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    b = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return a * (1 - fy) + b * fy


@njit(inline="always", fastmath=True, error_model="numpy")
def _smooth(edge0, edge1, x):
    t = min(max((x - edge0) / (edge1 - edge0), 0.0), 1.0)
    return t * t * (3 - 2 * t)


@njit(inline="always", fastmath=True, error_model="numpy")
def _mix(rgb, colour, a):
    for c in range(3):
        rgb[c] += a * (colour[c] - rgb[c])


@njit(inline="always", fastmath=True, error_model="numpy")
def _shadow_share(apart):
    """How far toward the cavity's shadow what shows through a gap goes: ``apart`` 0 (the gap shut) .. 1 (wide
    enough for light to get in, :data:`NARROW_IODS` between lips, :data:`TEETH_GAP_IODS` between tooth rows)."""
    return (1.0 - NARROW_SHADE) * (1.0 - apart)


@njit(inline="always", fastmath=True, error_model="numpy")
def _behind_lips(rgb, share, mp):
    """Darken teeth ``rgb`` by ``share`` (0..1), less in the lips' colour (:data:`RECEDE_TEETH_SHADE`,
    :data:`P_TEETH_SHADOW`)."""
    for c in range(3):
        rgb[c] *= 1.0 - share * (1.0 - mp[P_TEETH_SHADOW + c])


def teeth_shadow_keep(lips_rgb: np.ndarray) -> np.ndarray:
    """(3,) the share of each channel teeth keep in the lips' shadow (:data:`P_TEETH_SHADOW`): :data:`LIP_BOUNCE` of
    the lips' ``lips_rgb`` (3,) relative to its brightest channel."""
    lips = np.asarray(lips_rgb, np.float64)
    return LIP_BOUNCE * lips / max(float(lips.max()), 1e-3)


@njit(inline="always", fastmath=True, error_model="numpy")
def _into_shadow(rgb, share, mp):
    """Move ``rgb`` ``share`` of the way toward the cavity's shadow (:data:`SHADOW_OF_CAVITY` of its colour)."""
    for c in range(3):
        rgb[c] += share * (SHADOW_OF_CAVITY * mp[P_CAVITY_RGB + c] - rgb[c])


@njit(inline="always", fastmath=True, error_model="numpy")
def _tooth_tip(x, length, tooth_px, half_width, rounding, anatomy, row):
    """(tip, across, width, detail, tone) of row ``row`` (:data:`UPPER_ROW`, :data:`LOWER_ROW`) of teeth at ``x``
    (-1..1 across the mouth): ``tip`` px from the lip the row grows from to the tooth's outline there, ``across`` px
    to the nearest gap between two teeth, the tooth's ``width`` px, ``detail`` 0..1 how far the teeth are told apart
    (too narrow: a plain band) and its ``tone`` (:data:`UPPER_TEETH_TONES`, even across a gap).

    The teeth follow the row's sequence (:data:`UPPER_TEETH_WIDTHS` ...) out from the midline; ``rounding`` 0..1 of
    :data:`TOOTH_ROUND` rounds their tips' corners, and their lengths and cusps differ by ``anatomy`` 0..1 of the
    sequence's. Each tip's corners are rounded so that two neighbours of different lengths meet at one point in their
    gap: the outline has no step (a step is a stair in the frame, whichever way the pixel grid runs)."""
    widths, lengths, cusps, tones = UPPER_TEETH_WIDTHS, UPPER_TEETH_LENGTHS, UPPER_TEETH_CUSPS, UPPER_TEETH_TONES
    if row == LOWER_ROW:
        widths, lengths, cusps, tones = LOWER_TEETH_WIDTHS, LOWER_TEETH_LENGTHS, LOWER_TEETH_CUSPS, LOWER_TEETH_TONES
    last = len(widths) - 1
    sin_arch = math.sin(ARCH_RAD)
    phi = math.asin(min(max(x, -1.0), 1.0) * sin_arch)
    n = abs(half_width * phi / sin_arch / max(tooth_px, 1e-3))  # front teeth from the midline, along the arch
    k = 0
    while k < last and n >= widths[k]:
        n -= widths[k]
        k += 1
    s = n / widths[k]
    inner = max(k - 1, 0)
    if k == last and s >= 1.0:  # past the sequence's end its last tooth repeats
        s -= math.floor(s)
        inner = last
    s = min(max(s, 0.0), 1.0)  # 0..1 across the tooth, from its side toward the midline
    near = min(k + 1, last) if s >= 0.5 else inner  # the neighbour across the nearest gap
    cos_phi = math.cos(phi)
    width = tooth_px * widths[k] * cos_phi
    detail = _smooth(1.5, 4.0, width)  # teeth too narrow to draw them one by one are a plain band
    across = (0.5 - abs(s - 0.5)) * width  # px to the nearest gap
    # both corners at a gap are rounded as the narrower tooth's, and the longer tooth's further, down to where the
    # shorter one's corner meets the gap
    own = 1.0 + anatomy * (lengths[k] - 1.0)
    other = 1.0 + anatomy * (lengths[near] - 1.0)
    narrower = tooth_px * min(widths[k], widths[near]) * cos_phi
    r = TOOTH_ROUND * narrower * _smooth(1.5, 4.0, narrower) * rounding + max(own - other, 0.0) * length
    dr = max(r - across, 0.0)
    cusp = anatomy * cusps[k] * TOOTH_CUSP * 2.0 * across
    tone = tones[k] + (tones[near] - tones[k]) * 0.5 * (1.0 - _smooth(0.0, 0.35 * width, across))
    return own * length - r + math.sqrt(max(r * r - dr * dr, 0.0)) + cusp, across, width, detail, tone


@njit(inline="always", fastmath=True, error_model="numpy")
def _tooth_row(x, dist, length, tooth_px, half_width, iod, rounding, anatomy, length_dx, x_px, x_py, dist_px, dist_py,
               row):
    """(coverage, shade) of a row of teeth at ``dist`` px from the lip they grow from.

    ``x`` -1..1 across the mouth; the teeth of row ``row`` are ``length`` px long, ``tooth_px`` wide at the
    front, on an arch seen from the front (:data:`ARCH_RAD`), so they narrow toward the corners.
    Each tip's corners are rounded (``rounding`` of :data:`TOOTH_ROUND`; the notch between two tips shows what
    is behind), their lengths and cusps differ by ``anatomy`` of the row's sequence (:func:`_tooth_tip`), and the
    gap between two teeth is a soft shadow of at most :data:`GAP_SHADE`, faint near the lip
    where teeth touch: no dark dividers. The lip shades the teeth near it a little.

    The outline is covered over a pixel across it in the frame, whichever way it runs: ``length_dx`` is the
    length's change per unit of ``x``, ``x_px``/``x_py`` and ``dist_px``/``dist_py`` those of ``x`` and ``dist``
    per frame pixel along x / y. (Covered over a pixel along ``dist`` only, the steep sides of the tips'
    notches and the rows' ends toward the corners came out stair-stepped.)
    """
    tip, across, width, detail, tone = _tooth_tip(x, length, tooth_px, half_width, rounding, anatomy, row)
    # the outline's slope: the steeper side's (at the cusp between two rounded tips the two sides cancel)
    e = 1e-3
    ahead = (_tooth_tip(x + e, length, tooth_px, half_width, rounding, anatomy, row)[0] - tip) / e
    behind = (tip - _tooth_tip(x - e, length, tooth_px, half_width, rounding, anatomy, row)[0]) / e
    tip_dx = (ahead if abs(ahead) > abs(behind) else behind) + length_dx
    gx = tip_dx * x_px - dist_px
    gy = tip_dx * x_py - dist_py
    cover = min(max((tip - dist) / max(math.sqrt(gx * gx + gy * gy), 0.25) + 0.5, 0.0), 1.0)
    toward_tip = _smooth(0.3 * length, length, dist)
    gap = GAP_SHADE * detail * math.exp(-(across / max(0.7, 0.5 * SOFT_IODS * iod)) ** 2) * (0.3 + 0.7 * toward_tip)
    # each tooth's face is rounded: it turns away from the light toward its sides, and its tip is thin enamel
    # (where they touch, near the lip, the rounding shows less, as the gap's shadow does)
    curve = TOOTH_CURVE * detail * (1.0 - _smooth(0.0, 0.5 * width, across)) ** 2 * (0.3 + 0.7 * toward_tip)
    tip_grey = TOOTH_TIP_GREY * _smooth(0.55 * length, length, dist)
    shade = (1.0 - gap) * (1.0 - curve) * (1.0 - tip_grey) * (0.84 + 0.16 * _smooth(0.0, 0.4 * length, dist)) * tone
    return cover, shade


@njit(inline="always", fastmath=True, error_model="numpy")
def _cavity_shade(d_up, d_low, t_up, iod):
    """(shade, upper lip's shadow) of the cavity ``d_up`` px below the upper lip and ``d_low`` px above the
    lower one, the upper teeth ``t_up`` px long there: darker toward the back (away from both lips) and in
    the shadow of the upper lip and teeth."""
    back = _smooth(0.0, 0.18 * iod, min(d_up, d_low))
    under = 1.0 - CAVITY_UNDER_LIP * math.exp(-max(d_up - t_up, 0.0) / max(0.04 * iod, 1e-3))
    return (1.0 - CAVITY_BACK * back) * under, under


@njit(inline="always", fastmath=True, error_model="numpy")
def _teeth_table(teeth_run, row, u):
    """Row ``row`` of the teeth's table (:data:`Scene.teeth_run`) at ``u`` 0..1 across the mouth (linear between
    the bins' centres, held beyond the outermost)."""
    q = min(max(u * TEETH_RUN_BINS - 0.5, 0.0), TEETH_RUN_BINS - 1.0)
    k0 = min(int(q), TEETH_RUN_BINS - 2)
    fr = q - k0
    return teeth_run[row, k0] * (1.0 - fr) + teeth_run[row, k0 + 1] * fr


@njit(inline="always", fastmath=True, error_model="numpy")
def _teeth_shift(teeth_run, row, u_from, u_to):
    """How far row ``row`` of the teeth's table changes from ``u_from`` to ``u_to``."""
    return _teeth_table(teeth_run, row, u_to) - _teeth_table(teeth_run, row, u_from)


@njit(fastmath=True, error_model="numpy")
def _upper_teeth(u, u_teeth, h0, teeth_run, iod, shown, mp):
    """(length px of the upper tooth row, ``run`` px the photo's own upper teeth reach below the upper lip, ``drop``
    px the lip has come down over them) at ``u`` 0..1 across the mouth, of an opening ``h0`` px high in the photo (0:
    none); ``u_teeth`` the photo's column whose teeth show there (``u`` but behind lips squeezed narrow, see
    :func:`_mouth_rgb`); ``teeth_run`` the teeth's table (:data:`Scene.teeth_run`); ``shown`` 0..1 of the row's
    length shows below the lip (less behind lips pushed out); ``mp`` the frame's parameters (the opening,
    :data:`P_MOUTH_OPEN`, and the lip's drop, :data:`P_LIP_DROP`).

    The row hangs from the upper lip, which it follows into the corners, and the middle of the lip come down from
    the photo's (a grin's neutral face) covers the top of the photo's own teeth: their tips stay where the photo has
    them. (Hung whole from the lowered lip, obama.jpg's teeth reached 8 px below their own tips mid-mouth, and a
    mouth open for speech showed nothing but teeth.)"""
    x = 2.0 * u - 1.0
    base = UPPER_TEETH_IODS * iod
    retract = max(mp[P_MOUTH_OPEN] - mp[P_JAW_OPEN], 0.0)  # the lips' own parting, beyond the jaw's
    show = min(base + UPPER_TEETH_OPEN * mp[P_MOUTH_OPEN] + UPPER_TEETH_RETRACT * retract, UPPER_TEETH_MAX_IODS * iod)
    arch = math.sqrt(max(0.0, 1.0 - x * x))
    t_up = show * arch * shown
    if h0 <= 0.05:
        return t_up, 0.0, 0.0
    reach = _teeth_table(teeth_run, TEETH_REACH, u_teeth)
    scale = _teeth_table(teeth_run, TEETH_ROW_SCALE, u_teeth)
    # (less what the lip rides up an open mouth's teeth, as the drawn row's length grows with the opening)
    drop = max(mp[P_LIP_DROP] - (show - base), 0.0)
    run = max(reach - drop, 0.0)
    # a photo that shows its teeth has them in the skull: the drawn row beside them is hidden as far (beside a grin's
    # teeth hidden by the neutral face's lip, rows hung from the lip stood out as fangs toward the corners), and it
    # goes on from their ends along the arch (:func:`teeth_row_scale`)
    own = mp[P_PHOTO_TEETH]
    t_up = max(t_up - own * drop, own * (scale * arch - drop), 0.0)
    # where the photo's own teeth show below the lip, the row reaches their tips (a little below the photo's cut;
    # ramped in over the first pixel the lip leaves of them)
    t_up = max(t_up, _smooth(0.0, 1.0, run) * (run + PAST_PHOTO_TIPS_IODS * iod))
    return t_up, run, drop


@njit(fastmath=True, error_model="numpy")
def _mouth_rgb(img, teeth_alpha, teeth_run, u, v, h, h0, tx, ty, bx, by, grad, lips, mp, rgb, layer, tmp3):
    """One pixel of the mouth interior into ``rgb`` (``layer`` and ``tmp3`` are scratch). ``grad`` (6,): the change
    of ``u``, ``v`` and ``h`` per frame pixel along x and y (u_x, u_y, v_x, v_y, h_x, h_y), constant over a triangle.
    ``lips`` (:data:`LIPS_LEN`,): px below the upper lip's chain and its change per frame pixel along x and y, then
    px above the lower lip's chain and its change, then each chain's column there (:func:`_lip_distances`); 1e30
    where a triangle has no chain, to measure ``v * h`` and ``(1 - v) * h`` instead (and ``u``, ``h0``, the photo's
    column as interpolated over the triangle). Those products of attributes linear over each triangle are kinked at
    every triangle's edge: they put the upper teeth's end 1-2 px out, and sawed the tongue's top into 2-4 px steps."""
    iod = mp[P_IOD]
    d_up = lips[0] if lips[0] < 1e29 else v * h  # px below the upper lip
    d_low = lips[3] if lips[3] < 1e29 else (1.0 - v) * h  # px above the lower lip
    # each tooth row's column: its own lip's (the upper teeth stay in the skull as the jaw moves sideways)
    u_up, du_up_px, du_up_py, h0_up = u, grad[0], grad[1], h0
    u_lo, du_lo_px, du_lo_py = u, grad[0], grad[1]
    txu, tyu, bxu, byu = tx, ty, bx, by
    if lips[0] < 1e29:
        u_up, du_up_px, du_up_py, h0_up = lips[6], lips[7], lips[8], lips[9]
        txu, tyu, bxu, byu = lips[10], lips[11], lips[12], lips[13]
    if lips[3] < 1e29:
        u_lo, du_lo_px, du_lo_py = lips[14], lips[15], lips[16]
    x_lo = 2.0 * u_lo - 1.0
    root_lo = math.sqrt(max(0.0, 1.0 - x_lo * x_lo))
    x = 2.0 * u - 1.0
    root = math.sqrt(max(0.0, 1.0 - x * x))
    corner = 0.55 + 0.45 * root
    half_width = 0.5 * mp[P_MOUTH_WIDTH]
    # lips squeezed narrower than at rest (a pucker, a funnel) show the teeth behind them at their own size: only
    # the middle of the row, at ``arch`` -1..1 across the rest mouth (squeezed into the opening, the whole row
    # was drawn as narrow teeth, a white grille filling a small round mouth)
    squeeze = min(max(mp[P_MOUTH_SHARE], 0.1), 1.0)
    arch_up = (2.0 * u_up - 1.0) * squeeze
    arch_lo = x_lo * squeeze
    # teeth toward the corners lie in the cheeks' shadow
    buccal_up = 0.3 + 0.7 * _smooth(0.0, 0.8, math.sqrt(max(0.0, 1.0 - arch_up * arch_up)))
    buccal_lo = 0.3 + 0.7 * _smooth(0.0, 0.8, math.sqrt(max(0.0, 1.0 - arch_lo * arch_lo)))
    # and toward the opening's own corners the drawn rows go into the cavity's shadow (the buccal corridor)
    corridor_up = CORRIDOR_DARK * _smooth(CORRIDOR_FROM, 1.0, abs(2.0 * u_up - 1.0))
    corridor_lo = CORRIDOR_DARK * _smooth(CORRIDOR_FROM, 1.0, abs(x_lo))
    # lips pushed out into an O hide more of the teeth, and shade them and what lies behind
    recede = _smooth(0.0, RECEDE_SQUEEZE, 1.0 - squeeze)
    # (not where the photo shows its own upper teeth: they hang from the lip at their own length, and rows hidden
    # beside them left the cavity's shadow around them in ragged patches)
    shown = 1.0 - RECEDE_HIDE * recede * (1.0 - mp[P_PHOTO_TEETH])
    # the photo's own upper teeth reach ``run`` px below the upper lip (at this column). Behind lips squeezed narrow
    # they show at their own size too: the middle of the photo's row, its column ``u_teeth`` (squeezed with the
    # lips, a funnel's O showed all of a grin's teeth as a grille of narrow white stripes)
    u_teeth = 0.5 + (u_up - 0.5) * squeeze
    t_up, run, drop = _upper_teeth(u_up, u_teeth, h0_up, teeth_run, iod, shown, mp)
    t_low = LOWER_TEETH_IODS * iod * root_lo * root_lo * shown
    # the lower teeth's tips as far below the upper teeth's as the jaw has opened here (its opening is a lens),
    # measured above the lower lip: lips parted more than the jaw show the lower teeth up to the upper ones
    clench = shown * (d_up + d_low - (t_up - OVERBITE_IODS * iod + mp[P_JAW_OPEN] * root_lo))
    clenched = clench > t_low
    if clenched:
        t_low = clench
    # for the rows' outlines: how the arch's x, d_up and the lengths change across the frame's pixels
    xu_px, xu_py = 2.0 * du_up_px * squeeze, 2.0 * du_up_py * squeeze
    xl_px, xl_py = 2.0 * du_lo_px * squeeze, 2.0 * du_lo_py * squeeze
    vh_px, vh_py = grad[2] * h + v * grad[4], grad[3] * h + v * grad[5]  # of v * h
    up_px, up_py = (lips[1], lips[2]) if lips[0] < 1e29 else (vh_px, vh_py)
    low_px, low_py = (lips[4], lips[5]) if lips[3] < 1e29 else (grad[4] - vh_px, grad[5] - vh_py)
    e = 5e-4
    up_dx = (_upper_teeth(u_up + e, u_teeth + e * squeeze, h0_up, teeth_run, iod, shown, mp)[0]
             - _upper_teeth(u_up - e, u_teeth - e * squeeze, h0_up, teeth_run, iod, shown, mp)[0]) / (4.0 * e)
    up_dx /= squeeze  # per unit of the arch's x
    low_dx = -2.0 * LOWER_TEETH_IODS * iod * x_lo / squeeze  # d(t_low)/d(arch)
    rise_px = ((TONGUE_IODS + TONGUE_OUT_EXTRA_IODS * mp[P_TONGUE]) * iod
               + TONGUE_JAW_SHARE * max(mp[P_JAW_OPEN] - TONGUE_JAW_FROM_IODS * iod, 0.0))
    x_tongue = x / TONGUE_WIDTH_SHARE
    root_tongue = math.sqrt(max(0.0, 1.0 - x_tongue * x_tongue))
    tongue_top = t_low + rise_px * root_tongue
    cavity, under = _cavity_shade(d_up, d_low, t_up, iod)
    for c in range(3):
        rgb[c] = mp[P_CAVITY_RGB + c] * cavity * corner
    # tongue: a dome behind the lower teeth, lit from the front, darker where it curves away at its top
    # and at its sides, with a faint groove down its middle
    top = max(tongue_top, 1e-3)
    # with its edge as soft across the frame where it falls steeply toward its sides: the edge's distance is the
    # height over its top's gradient along the frame's x and y (the top's fall across the opening, less the lower
    # lip's rise)
    rise_dx = -rise_px * x_tongue / (TONGUE_WIDTH_SHARE * max(root_tongue, 0.05))
    steep = math.sqrt((2.0 * rise_dx * grad[0] - low_px) ** 2 + (2.0 * rise_dx * grad[1] - low_py) ** 2)
    tongue_cover = min(max((tongue_top - d_low) / (max(1.0, SOFT_IODS * iod) * max(steep, 1.0)) + 0.5, 0.0), 1.0)
    if tongue_cover > 0.0:
        y = min(max(d_low / top, 0.0), 1.0)
        mid_px = abs(x) * half_width
        lit = (0.72 + 0.28 * root_tongue * root_tongue) * (1.0 - TONGUE_BACK_SHADE * _smooth(TONGUE_BACK_FROM, 1.0, y)) * (0.75 + 0.25 * under)
        lit *= 1.0 - TONGUE_DIM * (1.0 - _smooth(TONGUE_LIT_IODS[0] * iod, TONGUE_LIT_IODS[1] * iod, mp[P_MOUTH_OPEN]))
        lit *= 1.0 - 0.1 * math.exp(-(mid_px / max(0.02 * iod, 0.5)) ** 2) * _smooth(0.2, 0.8, y)
        for c in range(3):
            layer[c] = mp[P_TONGUE_RGB + c] * lit * corner
        _mix(rgb, layer, tongue_cover)
    # between tooth rows that nearly meet, little light gets in: the tongue and the cavity behind them go dark
    # (the tongue showed as a jagged pink line between the teeth of a mouth a little open)
    apart = _smooth(0.0, TEETH_GAP_IODS * iod, h - t_up - t_low)
    _into_shadow(rgb, _shadow_share(apart), mp)
    # and little through lips squeezed into a small O
    _into_shadow(rgb, RECEDE_DARK * recede, mp)
    # lower teeth, rising from the lower lip (the tongue comes out over them)
    if d_low < t_low + 0.5:
        if clenched:  # the tips' outline runs along the upper row's: it changes across the frame as d_up does
            low_dx, low_px, low_py = -up_dx, -up_px, -up_py
        cover, shade = _tooth_row(arch_lo, d_low, t_low, LOWER_TOOTH_IODS * iod, half_width, iod, apart, apart, low_dx,
                                  xl_px, xl_py, low_px, low_py, LOWER_ROW)
        cover *= 1.0 - mp[P_TONGUE] * tongue_cover
        if cover > 0.0:
            shade *= 1.0 - OCCLUSAL_SHADE * math.exp(-max(d_up - t_up, 0.0) / max(OCCLUSAL_IODS * iod, 0.5))
            for c in range(3):
                layer[c] = mp[P_TEETH + c] * 0.9 * shade * buccal_lo
            _into_shadow(layer, corridor_lo, mp)
            _behind_lips(layer, RECEDE_TEETH_SHADE * recede, mp)
            _mix(rgb, layer, cover)
    # upper teeth hanging from the upper lip
    if d_up < t_up + 0.5:
        # square tips where the rows nearly meet (their notches showed the dark between them as dots) and under
        # the photo's own teeth (rounded ones put notches where the photo has none)
        rounding = apart * (1.0 - _smooth(0.5, 0.5 + PHOTO_TEETH_CUT_IODS * iod, run))
        # a photo's own upper teeth set the row's length beside them too: teeth of the sequence's lengths put steps
        # where the drawn row starts from them
        anatomy = rounding * (1.0 - mp[P_PHOTO_TEETH])
        cover, shade = _tooth_row(arch_up, d_up, t_up, UPPER_TOOTH_IODS * iod, half_width, iod, rounding, anatomy, up_dx,
                                  xu_px, xu_py, up_px, up_py, UPPER_ROW)
        if cover > 0.0:
            for c in range(3):
                layer[c] = mp[P_TEETH + c] * shade * buccal_up
            _into_shadow(layer, corridor_up, mp)
            if run > 0.5:
                # the photo's own upper teeth, where the photo has them (the lip's drop below its place in the
                # photo hides their top), in the row's outline: down to their cut, then their colour at the cut
                # (their own lower end is uneven: each tooth's, and the lower lip's shadow on them; drawn where the
                # photo's teeth mask reached, it hung ragged drips)
                # (and past the photo's tips, where the row goes on beside shorter teeth of the photo, it fades into
                # the drawn tooth: the colour at the cut carried on down hung vertical stripes from the gaps the cut
                # crosses)
                cut = run - PHOTO_TEETH_CUT_IODS * iod
                if u_teeth != u_up:  # the photo's column u_teeth: this one's, moved by the table's difference
                    txu += _teeth_shift(teeth_run, TEETH_TOP, u_up, u_teeth)
                    tyu += _teeth_shift(teeth_run, TEETH_TOP + 1, u_up, u_teeth)
                    bxu += _teeth_shift(teeth_run, TEETH_BOTTOM, u_up, u_teeth)
                    byu += _teeth_shift(teeth_run, TEETH_BOTTOM + 1, u_up, u_teeth)
                    h0_up = max(h0_up + _teeth_shift(teeth_run, TEETH_H0, u_up, u_teeth), 0.1)
                f = min(max((min(d_up, cut) + drop) / h0_up, 0.0), 1.0)
                sx = txu + f * (bxu - txu) - 0.5
                sy = tyu + f * (byu - tyu) - 0.5
                _sample3(img, sx, sy, tmp3)
                past = 1.0 - _smooth(0.0, PHOTO_TEETH_FADE_IODS * iod, d_up - run - PAST_PHOTO_TIPS_IODS * iod)
                _mix(layer, tmp3, _sample1(teeth_alpha, sx, sy) * past)
            _behind_lips(layer, RECEDE_TEETH_SHADE * recede, mp)
            _mix(rgb, layer, cover)
    # little light gets between lips barely apart: all goes toward the cavity's shadow but the front teeth, right
    # behind the lips, and between lips that touch (a sealed mouth's seam) nothing behind them shows, only the seam
    # (how much of the opening past a seam's the lips' own pull made, not the jaw)
    past_seam = mp[P_MOUTH_OPEN] - SEAM_IODS * iod
    pulled = min(max(past_seam - mp[P_JAW_OPEN], 0.0) / max(past_seam, 1e-3), 1.0)
    narrow_px = (NARROW_IODS + (NARROW_PULLED_IODS - NARROW_IODS) * pulled) * iod
    seam = 1.0 - _smooth(0.0, SEAM_IODS * iod, h)
    narrow = _shadow_share(_smooth(0.0, narrow_px, h))
    narrow *= 1.0 - NARROW_FRONT * math.exp(-(x / NARROW_FRONT_SHARE) ** 2) * (1.0 - seam)
    narrow += (1.0 - narrow) * seam
    for c in range(3):
        dark = SHADOW_OF_CAVITY * mp[P_CAVITY_RGB + c]
        rgb[c] += narrow * (dark + seam * (mp[P_SEAM_RGB + c] - dark) - rgb[c])
    # all of the photo's own opening while it is at its rest size (the photo's own weights draw the photo), a
    # closed one too: a closed mouth shows its own seam while it stays shut
    rest = mp[P_MOUTH_REST]
    if rest > 0.0:
        # the share down the photo's own column (the upper lip's chain is not its top there)
        f = v * h / h0 if h0 > 0.05 else v
        _sample3(img, tx + f * (bx - tx) - 0.5, ty + f * (by - ty) - 0.5, layer)
        _into_shadow(layer, (1.0 - rest) * narrow, mp)
        _mix(rgb, layer, rest)


@njit(fastmath=True, error_model="numpy")
def _lid_rgb(rgb, above, mp, colour, alpha, line):
    """Blend ``alpha`` (0..1) of the lid layer over ``rgb``: skin of ``colour`` ``above`` px over the lid's edge, a
    little darker toward the edge where it curves over the eyeball, with ``line`` (0..1) of the lash line along
    the edge (:data:`LID_LAYER_SHARES`, :data:`LID_LINE_GAP_BANDS`)."""
    iod = mp[P_IOD]
    lash = max(LASH_IODS * iod, 1.0)
    skin = 0.9 + 0.1 * min(1.0, above / max(0.08 * iod, 1e-3))
    dark = line * _smooth(lash, 0.3 * lash, above)
    edge = alpha * _smooth(-0.7, 0.7, above)
    for c in range(3):
        lid = colour[c] * (skin * (1.0 - dark) + 0.3 * dark)
        rgb[c] = rgb[c] * (1.0 - edge) + lid * edge


@njit(inline="always", fastmath=True, error_model="numpy")
def _grain(rgb, grain_img, px, py, share, mp):
    """The skin's grain (:data:`Scene.grain_img`) on ``share`` (0..1) of ``rgb``: the frame's pixel (centre
    ``px``, ``py``) moved back by the eyes' shift in whole pixels (:data:`P_GRAIN_SHIFT`), so that it rides with
    the face and is never stretched with the skin."""
    if share <= 0.0:
        return
    h, w = grain_img.shape[0], grain_img.shape[1]
    x = min(max(int(px - mp[P_GRAIN_SHIFT]), 0), w - 1)
    y = min(max(int(py - mp[P_GRAIN_SHIFT + 1]), 0), h - 1)
    g = 1.0 + share * grain_img[y, x, 0]
    for c in range(3):
        rgb[c] *= g


@njit(inline="always", fastmath=True, error_model="numpy")
def _lid_relief(landing, reach, shut):
    """The shut lid's relief less 1 (a factor on the closed lid's skin, less 1: about -0.25 to 0.08) where the skin
    lands ``landing`` inter-ocular distances above the shut lashes and gets ``reach`` (0-1) of the relief
    (:func:`.eyes.lid_landing`): a crease :data:`~.eyes.LID_CREASE_IODS` above them, a bulge between; on an eye
    ``shut`` (0 open as in the photo .. 1 shut) it forms over the first :data:`~.eyes.LID_RELIEF_SHUT` of the way
    (none at the photo's own lids: drawn at its own weights, the photo is the photo to the grey level)."""
    ramp = _smooth(0.0, LID_RELIEF_SHUT, shut)
    if reach <= 0.0 or ramp <= 0.0:
        return 0.0
    reach *= ramp
    z = (landing - LID_CREASE_IODS) / LID_CREASE_WIDTH_IODS
    bulge = LID_BULGE * math.sin(math.pi * min(max(landing / LID_CREASE_IODS, 0.0), 1.0))
    return reach * (bulge - LID_CREASE_DARK * math.exp(-0.5 * z * z))


@njit(fastmath=True, error_model="numpy")
def _eye_rgb(px, py, w0, w1, w2, i0, i1, i2, kind, skin_img, lid_img, eye_img, eye_wide_img, attr_v, attr_h,
             attr_h0, attr_band, attr_top, attr_bottom, eye_affine, mp, rgb, ball, smooth_img, unfold_img, grain_img):
    """One pixel of an eye opening into ``rgb``: the lash band hanging from the lid's
    edge, then the eyeball (``ball`` is scratch), with a one-pixel blend between
    them, and the lid layer over what the lid covers. The layer's skin is the skin just above the lash line in
    the photo's column as the skin there is drawn: the closed lid's (:data:`Scene.lid_img`) as far as the
    frame shows it there (``unfold_img``), else the photo blurred along x (``smooth_img``): the layer takes
    one sample per column, so what varies across the columns there (lashes) would streak down the layer. All closed
    lid's skin, a layer under a shadowed lid's skin showed as a pale almond."""
    m = eye_affine[kind]
    sx = m[0, 0] * px + m[0, 1] * py + m[0, 2] - 0.5
    sy = m[1, 0] * px + m[1, 1] * py + m[1, 2] - 0.5
    v = w0 * attr_v[i0] + w1 * attr_v[i1] + w2 * attr_v[i2]
    h = w0 * attr_h[i0] + w1 * attr_h[i1] + w2 * attr_h[i2]
    h0 = w0 * attr_h0[i0] + w1 * attr_h0[i1] + w2 * attr_h0[i2]
    band = w0 * attr_band[i0] + w1 * attr_band[i1] + w2 * attr_band[i2]
    e = kind - EYE_RIGHT  # 0: the right eye, 1: the left
    cover = mp[P_LID + e]
    below_lid = (v - cover) * h  # px below the lid's edge (negative: under the lid)
    ratio = h * (1.0 - cover) / max(h0, 1e-3)
    wide = min(max((ratio - 1.0) / WIDE_BLEND, 0.0), 1.0)  # 0 at rest, 1 wide open
    # ... and past the neutral face's opening, where the lid retracts: a squinting photo's eye opened to its neutral
    # face is not wide (its band drawn thinner and its lashes darker ringed the neutral eye like eyeliner)
    past = min(max((ratio / max(mp[P_NEUTRAL_OPEN + kind - EYE_RIGHT], 1.0) - 1.0) / WIDE_BLEND, 0.0), 1.0)
    thin = WIDE_BAND_THIN * past
    band_px = band * (1.0 - thin)  # the band drawn: thinner as the lid retracts
    to_ball = min(max(below_lid - band_px + 0.5, 0.0), 1.0)  # 0 in the lash band, 1 on the eyeball
    slit_px = max(SLIT_IODS * mp[P_IOD], 1.0)
    slit = SLIT_DARK * _smooth(slit_px, 0.3 * slit_px, h * (1.0 - cover))
    if to_ball < 1.0:
        # the lash line hangs from the lid's edge: the portrait's own band at the same depth,
        # its lashes drawn darker against the bared eyeball as the lids open wide
        f = min(max(below_lid, 0.0) / (1.0 - thin), band) / max(h0, 1e-3)
        tx = w0 * attr_top[i0, 0] + w1 * attr_top[i1, 0] + w2 * attr_top[i2, 0]
        ty = w0 * attr_top[i0, 1] + w1 * attr_top[i1, 1] + w2 * attr_top[i2, 1]
        bx = w0 * attr_bottom[i0, 0] + w1 * attr_bottom[i1, 0] + w2 * attr_bottom[i2, 0]
        by = w0 * attr_bottom[i0, 1] + w1 * attr_bottom[i1, 1] + w2 * attr_bottom[i2, 1]
        lash = past * _smooth(band_px, 0.4 * band_px, below_lid) * WIDE_LASH_DARKEN
        for c in range(3):
            rgb[c] = _sample(skin_img, tx + f * (bx - tx) - 0.5, ty + f * (by - ty) - 0.5, c) * (1.0 - lash) * (1.0 - slit)
    if to_ball > 0.0:
        # the lid's shadow deepens as it closes, and falls on newly bared eyeball as it opens; a slit between
        # nearly shut lids lies all in their lashes' shadow
        strength = 0.45 * max(0.0, 1.0 - ratio) + min(0.3, 0.6 * max(0.0, ratio - 1.0))
        shadow = max(LID_SHADOW_IODS * mp[P_IOD], 1e-3)
        shade = (1.0 - strength * math.exp(-max(below_lid - band_px, 0.0) / shadow)) * (1.0 - slit)
        for c in range(3):
            ball[c] = _sample(eye_img, sx, sy, c)
            if wide > 0.0:
                ball[c] += wide * (_sample(eye_wide_img, sx, sy, c) - ball[c])
            ball[c] *= shade
            rgb[c] = ball[c] if to_ball >= 1.0 else rgb[c] + to_ball * (ball[c] - rgb[c])
    if cover > 0.0 and below_lid < 0.7:
        tx = w0 * attr_top[i0, 0] + w1 * attr_top[i1, 0] + w2 * attr_top[i2, 0]
        ty = w0 * attr_top[i0, 1] + w1 * attr_top[i1, 1] + w2 * attr_top[i2, 1]
        ux = tx - (w0 * attr_bottom[i0, 0] + w1 * attr_bottom[i1, 0] + w2 * attr_bottom[i2, 0])
        uy = ty - (w0 * attr_bottom[i0, 1] + w1 * attr_bottom[i1, 1] + w2 * attr_bottom[i2, 1])
        up = LID_SKIN_IODS * mp[P_IOD] / max(math.sqrt(ux * ux + uy * uy), 1e-3)
        sx, sy = tx + up * ux - 0.5, ty + up * uy - 0.5
        _sample3(lid_img, sx, sy, ball)
        shown = min(_sample(unfold_img, sx, sy, 0) * mp[P_CLOSED] + _sample(unfold_img, sx, sy, 1) * mp[P_CLOSED + 1],
                    1.0)
        if shown < 1.0:
            for c in range(3):
                photo = _sample(smooth_img, sx, sy, c)
                ball[c] = photo + shown * (ball[c] - photo)
        _grain(ball, grain_img, px, py, shown, mp)
        _lid_rgb(rgb, -below_lid, mp, ball, _smooth(LID_LAYER_SHARES[0], LID_LAYER_SHARES[1], cover),
                 _smooth(LID_LINE_GAP_BANDS * band, 0.3 * band, h * (1.0 - cover)))


@njit(inline="always", fastmath=True, error_model="numpy")
def _chain_axes(run, dst):
    """(ok, x0, y0, ax, ay, nx, ny): for a row of :func:`edge_tables`' ``chain_run``, its first corner and the unit
    axes along the line between its corners in this frame and across it, down the face (so a rolled head measures
    along its own up); ok False where the row has no corners."""
    c0, c1 = run[RUN_LEN], run[RUN_LEN + 1]
    if c0 < 0 or c1 < 0:
        return False, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0
    ax, ay = dst[c1, 0] - dst[c0, 0], dst[c1, 1] - dst[c0, 1]
    norm = math.sqrt(ax * ax + ay * ay)
    if norm < 1e-6:
        return False, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0
    ax, ay = ax / norm, ay / norm
    nx, ny = -ay, ax  # down the face, if the corners run left to right
    if ny < 0.0:
        nx, ny = -nx, -ny
    return True, dst[c0, 0], dst[c0, 1], ax, ay, nx, ny


@njit(inline="always", fastmath=True, error_model="numpy")
def _chain_height(s, run, dst, x0, y0, ax, ay, nx, ny):
    """(ok, the chain's depth down the face, its slope, the segment's vertices ``ja``, ``jb``, the share of the way
    from ``ja`` to ``jb`` (clamped to the segment), the change of that share per unit of ``s``) at ``s`` along the axes
    of :func:`_chain_axes`: on the segment of ``run`` that spans ``s``, else along the nearest end segment; ok False
    where the row has fewer than two vertices."""
    first, last = -1, -1
    for q in range(RUN_LEN):
        if run[q] >= 0:
            if first < 0:
                first = q
            last = q
    best, slope, ja_, jb_, share, per_s = 0.0, 0.0, 0, 0, 0.0, 0.0
    if first < 0 or last == first:
        return False, best, slope, ja_, jb_, share, per_s
    for q in range(first, last):
        ja, jb = run[q], run[q + 1]
        sa = (dst[ja, 0] - x0) * ax + (dst[ja, 1] - y0) * ay
        sb = (dst[jb, 0] - x0) * ax + (dst[jb, 1] - y0) * ay
        da = (dst[ja, 0] - x0) * nx + (dst[ja, 1] - y0) * ny
        db = (dst[jb, 0] - x0) * nx + (dst[jb, 1] - y0) * ny
        lo, hi = min(sa, sb), max(sa, sb)
        if (lo <= s <= hi) or (q == first and s < lo) or (q == last - 1 and s > hi):
            slope = (db - da) / (sb - sa) if abs(sb - sa) > 1e-6 else 0.0
            best = da + (s - sa) * slope
            per_s = 1.0 / (sb - sa) if abs(sb - sa) > 1e-6 else 0.0
            share = min(max((s - sa) * per_s, 0.0), 1.0)
            if share <= 0.0 or share >= 1.0:
                per_s = 0.0
            ja_, jb_ = ja, jb
            if lo <= s <= hi:
                break
    return True, best, slope, ja_, jb_, share, per_s


#: The length of :func:`_lip_distances`' output.
LIPS_LEN = 17


@njit(inline="always", fastmath=True, error_model="numpy")
def _lip_distances(px, py, run, lower_run, dst, attr_u, attr_h0, attr_top, attr_bottom, lips):
    """Into ``lips`` (:data:`LIPS_LEN`,): px the point ``px``, ``py`` lies below the mouth's upper chain along ``run``
    (a row of :func:`edge_tables`' ``chain_run``) and its change per frame pixel along x and y, then px it lies above
    the lower chain along ``lower_run`` (the same columns) and its change; each across the line between the mouth's
    corners in this frame, at the chain's height where the point is along that line. 1e30 (and 0, 0) where a row has
    no chain. Then the column of the upper chain there: its ``u`` and that ``u``'s change per frame pixel along x
    and y, the photo's opening height there and the photo's top and bottom points of that column (x, y, x, y); and
    the lower chain's ``u`` and its change. The tooth rows hang from their own lip's column: interpolated across the
    opening's triangles, a jaw moved sideways (jawLeft) sheared the upper teeth, which stay in the skull, into
    slanted stripes."""
    lips[0], lips[1], lips[2], lips[3], lips[4], lips[5] = 1e30, 0.0, 0.0, 1e30, 0.0, 0.0
    ok, x0, y0, ax, ay, nx, ny = _chain_axes(run, dst)
    if not ok:
        return
    s = (px - x0) * ax + (py - y0) * ay
    depth = (px - x0) * nx + (py - y0) * ny
    ok, best, slope, ja, jb, f, per_s = _chain_height(s, run, dst, x0, y0, ax, ay, nx, ny)
    if ok:
        lips[0], lips[1], lips[2] = depth - best, nx - slope * ax, ny - slope * ay
        du = (attr_u[jb] - attr_u[ja]) * per_s
        lips[6], lips[7], lips[8] = attr_u[ja] + f * (attr_u[jb] - attr_u[ja]), du * ax, du * ay
        lips[9] = attr_h0[ja] + f * (attr_h0[jb] - attr_h0[ja])
        for c in range(2):
            lips[10 + c] = attr_top[ja, c] + f * (attr_top[jb, c] - attr_top[ja, c])
            lips[12 + c] = attr_bottom[ja, c] + f * (attr_bottom[jb, c] - attr_bottom[ja, c])
    ok, best, slope, ja, jb, f, per_s = _chain_height(s, lower_run, dst, x0, y0, ax, ay, nx, ny)
    if ok:
        lips[3], lips[4], lips[5] = best - depth, slope * ax - nx, slope * ay - ny
        du = (attr_u[jb] - attr_u[ja]) * per_s
        lips[14], lips[15], lips[16] = attr_u[ja] + f * (attr_u[jb] - attr_u[ja]), du * ax, du * ay


@njit(inline="always", fastmath=True, error_model="numpy")
def _chain_distance(px, py, run, dst, opening_px):
    """(px from the point ``px``, ``py`` to the eye's chain along ``run`` (a row of :func:`edge_tables`'
    ``chain_run``), the opening's height there, and how far that point is from the chain's first and last vertex,
    as shares of the way between the eye's corners in this frame): the chain where a triangle touches it and :data:`CHAIN_REACH`
    segments on either side.
    Measured to a triangle's own chain edge or its one chain vertex alone, neighbouring triangles disagreed on
    where the line was, and the lash line where the lids meet came out stair-stepped."""
    dist, open_px, best_q, best_along = 1e30, 0.0, 0, 0.0
    for q in range(RUN_LEN - 1):
        ja, jb = run[q], run[q + 1]
        if ja < 0 or jb < 0:
            continue
        ex, ey = dst[jb, 0] - dst[ja, 0], dst[jb, 1] - dst[ja, 1]
        along = ((px - dst[ja, 0]) * ex + (py - dst[ja, 1]) * ey) / max(ex * ex + ey * ey, 1e-9)
        along = min(max(along, 0.0), 1.0)
        d = math.sqrt((px - dst[ja, 0] - along * ex) ** 2 + (py - dst[ja, 1] - along * ey) ** 2)
        if d < dist:
            dist, open_px = d, opening_px[ja] + along * (opening_px[jb] - opening_px[ja])
            best_q, best_along = q, along
    # the nearest point of the chain, projected on the line between the eye's corners in this frame
    ja, jb, c0, c1 = run[best_q], run[best_q + 1], run[RUN_LEN], run[RUN_LEN + 1]
    qx = dst[ja, 0] + best_along * (dst[jb, 0] - dst[ja, 0])
    qy = dst[ja, 1] + best_along * (dst[jb, 1] - dst[ja, 1])
    ax, ay = dst[c1, 0] - dst[c0, 0], dst[c1, 1] - dst[c0, 1]
    share = min(max(((qx - dst[c0, 0]) * ax + (qy - dst[c0, 1]) * ay) / max(ax * ax + ay * ay, 1e-9), 0.0), 1.0)
    return dist, open_px, share, 1.0 - share


@njit(fastmath=True, error_model="numpy")
def _lash_line(rgb, code, dist, open_px, from_first, from_last, mp):
    """Darken skin ``dist`` px from a closing eye's upper lid edge (the lashes' root) or lower lid edge (the lashes
    that hang over it). ``open_px`` is the opening's height at that point of the edge: where the lid layer covers
    more than a lash line's width of it, the layer's own edge (:func:`_lid_rgb`) is the lash line, and the mesh's
    upper edge draws none (two lines with the lid layer between them drew a loop). ``from_first``,
    ``from_last``: how far the chain's ends are, as shares of the eye's width (:func:`_chain_distance`); the lashes thin
    out toward the inner corner over :data:`LASH_INNER_SHARE` and end over :data:`LASH_OUTER_SHARE` at the outer
    one."""
    e = (code - 1) % 2
    strength = mp[P_LASH + e]
    if strength <= 0.0:
        return
    # the chains run along the face's x axis: the right eye's from its outer corner, the left eye's from its inner
    inner, outer = (from_last, from_first) if e == 0 else (from_first, from_last)
    strength *= _smooth(0.0, LASH_INNER_SHARE, inner) * _smooth(0.0, LASH_OUTER_SHARE, outer)
    lash = max(LASH_IODS * mp[P_IOD], 1.0)
    if code <= _UPPER_LEFT:
        strength *= 1.0 - _smooth(0.5 * lash, lash, mp[P_LID + e] * open_px)
        dark = LASH_DARK * (1.0 - _smooth(0.35 * lash, lash, dist))
    else:
        dark = LASH_FRINGE * LASH_DARK * (1.0 - _smooth(0.2 * lash, LASH_FRINGE_LASHES * lash, dist))
    dark *= strength
    if dark > 0.0:
        for c in range(3):
            rgb[c] += dark * (0.25 * mp[P_LID_RGB + 3 * e + c] - rgb[c])


@njit(inline="always", fastmath=True, error_model="numpy")
def _stretch_blur(dst, src, i0, i1, i2, unit, ref):
    """(sigma along x, sigma along y), pixels, of the blur one skin triangle needs: none up to
    :data:`STRETCH_LO` (its rest-to-frame map stretches one way ``k`` times more than the other, ``k``
    the ratio of its singular values, the smaller taken as at least :data:`SQUEEZE_FLOOR`), then ``unit`` px
    per unit of ``k`` past it, across the stretch; and along x, where one frame pixel across x spans more than
    :data:`PINCH_LO` times as much of the neutral face ``ref`` ((V, 2) its vertices, px) as across y (each at most
    ``1 / SQUEEZE_FLOOR``), ``unit * PINCH_BLUR`` px per unit past it."""
    d00, d01 = dst[i1, 0] - dst[i0, 0], dst[i2, 0] - dst[i0, 0]
    d10, d11 = dst[i1, 1] - dst[i0, 1], dst[i2, 1] - dst[i0, 1]
    s00, s01 = src[i1, 0] - src[i0, 0], src[i2, 0] - src[i0, 0]
    s10, s11 = src[i1, 1] - src[i0, 1], src[i2, 1] - src[i0, 1]
    det_s = s00 * s11 - s01 * s10
    det_d = d00 * d11 - d01 * d10
    if det_s * det_d <= 1e-12:
        return 0.0, 0.0
    inv = 1.0 / det_s
    # the rest-to-frame map, and its singular values from its Gram matrix
    m00, m01 = (d00 * s11 - d01 * s10) * inv, (d01 * s00 - d00 * s01) * inv
    m10, m11 = (d10 * s11 - d11 * s10) * inv, (d11 * s00 - d10 * s01) * inv
    a = m00 * m00 + m10 * m10
    b = m00 * m01 + m10 * m11
    c = m01 * m01 + m11 * m11
    mean = 0.5 * (a + c)
    r = math.sqrt(0.25 * (a - c) ** 2 + b * b)
    k = math.sqrt((mean + r) / max(mean - r, SQUEEZE_FLOOR ** 2))
    # how much of the neutral face one frame pixel spans across x (the x part of the frame's x step taken back to
    # it), and across y: a squeeze both ways draws no streaks. From the neutral face, not the photo: taking a smile
    # out narrows the lips back to the texture they have at rest (blurring it there moved MediaPipe's readings of
    # other shapes: obama_dark's blink 0.307 -> 0.239 at the same gains)
    pinch = 0.0
    n00, n01 = ref[i1, 0] - ref[i0, 0], ref[i2, 0] - ref[i0, 0]
    n10, n11 = ref[i1, 1] - ref[i0, 1], ref[i2, 1] - ref[i0, 1]
    det_n = n00 * n11 - n01 * n10
    if det_n * det_d > 1e-12:
        # the diagonal of the neutral-to-frame map's inverse (frame pixels to the neutral face): the x part of the
        # frame's x step and the y part of its y step
        span_x = min(abs((n00 * d11 - n01 * d10) / det_d), 1.0 / SQUEEZE_FLOOR)
        span_y = min(abs((n11 * d00 - n10 * d01) / det_d), 1.0 / SQUEEZE_FLOOR)
        # ... and no more than the photo itself is pinched there: a grinning photo's cheeks are pinched from its
        # neutral face, and drawn as they are (the rest pose) they are the photo's own texture, not streaks
        own_x = min(abs((s00 * d11 - s01 * d10) / det_d), 1.0 / SQUEEZE_FLOOR)
        own_y = min(abs((s11 * d00 - s10 * d01) / det_d), 1.0 / SQUEEZE_FLOOR)
        pinch = unit * PINCH_BLUR * max(min(span_x / max(span_y, 1.0), own_x / max(own_y, 1.0)) - PINCH_LO, 0.0)
    if k <= STRETCH_LO:
        return pinch, 0.0
    sigma = unit * (k - STRETCH_LO)
    sn = abs(math.sin(0.5 * math.atan2(2.0 * b, a - c)))  # of the rest direction stretched most
    return sigma * sn + pinch, sigma * math.sqrt(max(1.0 - sn * sn, 0.0))


@njit(inline="always", fastmath=True, error_model="numpy")
def _blurred(levels, sigma, unit, x, y, photo, rgb, tmp):
    """Add to ``rgb`` the difference between the photo blurred with ``sigma`` px (interpolated between
    the ``levels`` (L, H, W, 3) images, blurred at :data:`STRETCH_LEVELS` times ``unit``) and ``photo``."""
    q = sigma / unit
    if q <= STRETCH_LEVELS[0]:
        _sample3(levels[0], x, y, tmp)
        t = q / STRETCH_LEVELS[0]
        for c in range(3):
            rgb[c] += t * (tmp[c] - photo[c])
        return
    k = 0
    while k < len(STRETCH_LEVELS) - 2 and q > STRETCH_LEVELS[k + 1]:
        k += 1
    t = min((q - STRETCH_LEVELS[k]) / (STRETCH_LEVELS[k + 1] - STRETCH_LEVELS[k]), 1.0)
    _sample3(levels[k], x, y, tmp)
    for c in range(3):
        rgb[c] += (1.0 - t) * (tmp[c] - photo[c])
    _sample3(levels[k + 1], x, y, tmp)
    for c in range(3):
        rgb[c] += t * (tmp[c] - photo[c])


@njit(fastmath=True, cache=True, error_model="numpy")
def _frame_attributes(dst, src, tris, kinds, opening_px, h0, unit, ref, fill, blur_x, blur_y):
    """Per vertex: ``fill``, how far the filled photo replaces the photo (an opening off its rest
    size), and ``blur_x``/``blur_y``, the sigmas (px) of the blur along x / y it needs (the most any
    skin triangle around it needs, :func:`_stretch_blur`)."""
    for i in range(len(fill)):
        blur_x[i] = min(abs(opening_px[i] - h0[i]) / FILL_PX, 1.0)  # (scratch)
        fill[i] = blur_x[i]
    for t in range(len(tris)):  # an opening's corners (no height of their own) take their neighbours'
        if kinds[t] == MOUTH or kinds[t] == EYE_RIGHT or kinds[t] == EYE_LEFT:
            i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
            most = max(blur_x[i0], blur_x[i1], blur_x[i2])
            for i in (i0, i1, i2):
                if h0[i] == 0.0 and opening_px[i] == 0.0:
                    fill[i] = max(fill[i], most)
    for i in range(len(fill)):
        blur_x[i] = 0.0
        blur_y[i] = 0.0
    for t in range(len(tris)):
        if kinds[t] != SKIN:
            continue
        i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
        along_x, along_y = _stretch_blur(dst, src, i0, i1, i2, unit, ref)
        if along_x + along_y > 0.0:
            for i in (i0, i1, i2):
                blur_x[i] = max(blur_x[i], along_x)
                blur_y[i] = max(blur_y[i], along_y)


@njit(inline="always", fastmath=True, error_model="numpy")
def _chain_at(chain, dst, px):
    """(y, k, t): the chain ``chain`` (vertex indices into ``dst``, corner to corner) at column ``px``, linear between
    its vertices: its height, and the segment from ``chain[k]``, ``t`` 0..1 of the way to ``chain[k + 1]``; (1e30, -1,
    0) past its ends."""
    for k in range(len(chain) - 1):
        a, b = chain[k], chain[k + 1]
        xa, xb = dst[a, 0], dst[b, 0]
        if (xa - px) * (xb - px) <= 0.0 and xa != xb:
            t = (px - xa) / (xb - xa)
            return dst[a, 1] + t * (dst[b, 1] - dst[a, 1]), k, t
    return 1e30, -1, 0.0


@njit(fastmath=True, cache=True, error_model="numpy")
def _tongue_out(out, channels, dst, upper_chain, grain_img, mp):
    """Draw the tongue put out (:data:`P_TONGUE_ROOT` ...) over the frame ``out`` already drawn: a capsule from its
    root (between the lips) to its tip, seen below the upper lip's inner chain (``upper_chain`` its vertex indices in
    ``dst``) and the upper teeth (:data:`P_TONGUE_UNDER` px below it), with fractional coverage at every edge; lit
    across its round, lighter toward its tip, darker along its middle groove and under the upper lip, with the skin's
    grain (``grain_img``, :data:`Scene.grain_img`), and shading the skin around it."""
    h, w = out.shape[0], out.shape[1]
    iod = mp[P_IOD]
    rx, ry = mp[P_TONGUE_ROOT], mp[P_TONGUE_ROOT + 1]
    dx, dy = mp[P_TONGUE_DIR], mp[P_TONGUE_DIR + 1]
    half = mp[P_TONGUE_HALF]
    length = mp[P_TONGUE_LEN]
    seg = max(length - half * (1.0 - TONGUE_TAPER), 0.0)  # the capsule's axis, root to the tip's centre
    under = mp[P_TONGUE_UNDER]
    shadow_px = max(TONGUE_SHADOW_IODS * iod, 1.0)
    reach = half + 2.0 * shadow_px
    ex, ey = rx + dx * seg, ry + dy * seg
    x_lo, x_hi = max(int(min(rx, ex) - reach), 0), min(int(max(rx, ex) + reach) + 1, w - 1)
    y_lo, y_hi = max(int(min(ry, ey) - reach), 0), min(int(max(ry, ey) + reach) + 1, h - 1)
    n = len(upper_chain)
    rgb = np.empty(3, np.float32)
    tongue = np.empty(3, np.float32)
    for y in range(y_lo, y_hi + 1):
        py = y + 0.5
        for x in range(x_lo, x_hi + 1):
            px = x + 0.5
            # below the upper lip's inner chain (at this column; past its ends, the nearer end's height)
            lip_y, k, _ = _chain_at(upper_chain, dst, px)
            if k < 0:
                first, last = upper_chain[0], upper_chain[n - 1]
                lip_y = dst[first, 1] if abs(px - dst[first, 0]) < abs(px - dst[last, 0]) else dst[last, 1]
            below = py - lip_y  # px below the upper lip
            if below <= -0.5:
                continue
            # along the tongue (from its root) and across it
            along = (px - rx) * dx + (py - ry) * dy
            across = (px - rx) * dy - (py - ry) * dx
            a = min(max(along, 0.0), seg)
            radius = half * (1.0 - TONGUE_TAPER * a / max(seg, 1.0))
            dist = math.sqrt((along - a) ** 2 + across * across) - radius  # < 0 inside
            if dist > 2.0 * shadow_px:
                continue
            show = min(max(below - under + 0.5, 0.0), 1.0)  # out from under the upper teeth
            for c in range(3):
                rgb[c] = out[y, x, channels[c]]
            if dist > -0.5 and below > under:
                # the skin around it in its shade
                dark = 0.3 * math.exp(-max(dist, 0.0) / shadow_px) * show
                for c in range(3):
                    rgb[c] *= 1.0 - dark
            cover = min(max(0.5 - dist, 0.0), 1.0) * show
            if cover > 0.0:
                u = across / max(radius, 1e-3)
                tip = _smooth(0.4, 1.0, along / max(length, 1.0))
                lit = 0.72 + 0.28 * math.sqrt(max(1.0 - u * u, 0.0)) + 0.08 * tip
                # the groove down its middle, fading toward the tip
                lit *= 1.0 - 0.07 * math.exp(-(across / max(0.015 * iod, 0.5)) ** 2) * (1.0 - tip)
                lit *= 1.0 - TONGUE_ROOT_SHADE * (1.0 - _smooth(under, under + TONGUE_ROOT_IODS * iod, below))
                lit *= 0.88 + 0.12 * _smooth(0.0, max(0.03 * iod, 1.0), -dist)  # its edge curves away
                # wet: a soft sheen on its round toward the tip, in the light of its own colour's brightest channel
                toward_tip = (along / max(length, 1.0) - 0.6) / 0.2
                sheen = TONGUE_SHEEN * math.exp(-(u / 0.4) ** 2 - toward_tip * toward_tip)
                light = max(mp[P_TONGUE_RGB], mp[P_TONGUE_RGB + 1], mp[P_TONGUE_RGB + 2])
                for c in range(3):
                    tongue[c] = mp[P_TONGUE_RGB + c] * lit
                    tongue[c] += sheen * (light - tongue[c])
                _grain(tongue, grain_img, px, py, TONGUE_GRAIN, mp)
                _mix(rgb, tongue, cover)
            for c in range(3):
                out[y, x, channels[c]] = np.uint8(min(max(rgb[c] + 0.5, 0.0), 255.0))


@njit(fastmath=True, cache=True, error_model="numpy")
def _seam_shadow(out, channels, dst, upper_chain, lower_chain, rest_px, mp):
    """Over the frame ``out`` already drawn, shade the lips toward their seam where they meet (:data:`SEAM_SHADOW`),
    column by column between the mouth's corners: ``upper_chain``, ``lower_chain`` the inner lip chains' vertex
    indices into ``dst``, ``rest_px`` (V,) the photo's opening height at each vertex (where the photo's lips meet, its
    own seam is in its pixels)."""
    rest_share = 1.0 - mp[P_MOUTH_REST]  # the photo's own mouth drawn: its own seam
    if rest_share <= 0.0:
        return
    h, w = out.shape[0], out.shape[1]
    iod = mp[P_IOD]
    seam_px = SEAM_IODS * iod
    reach = max(SEAM_SHADOW_IODS * iod, 1.0)
    x0 = min(dst[upper_chain[0], 0], dst[upper_chain[len(upper_chain) - 1], 0])
    x1 = max(dst[upper_chain[0], 0], dst[upper_chain[len(upper_chain) - 1], 0])
    for x in range(max(int(x0), 0), min(int(x1) + 1, w)):
        px = x + 0.5
        up, k, t = _chain_at(upper_chain, dst, px)
        low, k_low, _ = _chain_at(lower_chain, dst, px)
        if k < 0 or k_low < 0:
            continue
        photo_gap = rest_px[upper_chain[k]] + t * (rest_px[upper_chain[k + 1]] - rest_px[upper_chain[k]])
        gap = low - up
        strength = rest_share * (1.0 - _smooth(0.0, seam_px, gap)) * _smooth(0.0, seam_px, photo_gap)
        if strength <= 0.0:
            continue
        for y in range(max(int(up - reach - 1.0), 0), min(int(low + reach + 2.0), h)):
            py = y + 0.5
            if py < up:
                dark = SEAM_SHADOW * (1.0 - _smooth(0.0, reach, up - py))
            elif py > low:
                dark = SEAM_SHADOW * SEAM_SHADOW_LOWER * (1.0 - _smooth(0.0, reach, py - low))
            else:
                continue  # the seam itself: the mouth's opening drew it
            dark *= strength
            for c in range(3):
                v = float(out[y, x, channels[c]])
                out[y, x, channels[c]] = np.uint8(min(max(v + dark * (mp[P_SEAM_RGB + c] - v) + 0.5, 0.0), 255.0))


#: Horizontal bands the image is split into; each thread draws whole bands, so
#: every pixel is written by one thread in triangle order: the output is the same
#: on every run (threads drawing whole triangles would race on shared edges).
BANDS = 16


@njit(parallel=True, nogil=True, fastmath=True, cache=True, error_model="numpy")
def _draw(out, channels, dst, src, tris, kinds, soft, chain, chain_run, lower_run, num_openings, skin_img, fill_img,
          blur_x_img, blur_y_img, lid_img, eye_img, eye_wide_img, teeth_alpha, teeth_run, attr_u, attr_v, attr_h,
          attr_h0, attr_band, attr_top, attr_bottom, unfold_img, tri_unfold, grain_img, eye_affine, ref, mp):
    height = out.shape[0]
    n = len(dst)
    fill = np.empty(n, np.float32)
    blur_x = np.empty(n, np.float32)
    blur_y = np.empty(n, np.float32)
    _frame_attributes(dst, src, tris, kinds, attr_h, attr_h0, STRETCH_BLUR_IODS * mp[P_IOD], ref, fill, blur_x,
                      blur_y)
    under = skin_img.copy()  # what the openings drew under the skin's soft edges (RGB)
    # the skin's coverage added over it so far (0 where an opening or hidden triangle drew last): soft edges that
    # overlap (two lips' triangles over a closed mouth, two rim edges at a corner) add up to full coverage, never past
    # it (past it they drew a lip's colour darker than the lip: a dark dot on the mirrored Biden's lips)
    covered = np.zeros(out.shape[:2], np.float32)
    for band in prange(BANDS):
        band_lo = band * height // BANDS
        band_hi = (band + 1) * height // BANDS - 1
        scratch = np.empty((5, LIPS_LEN), np.float32)
        for mode in (1, 0, 2, 3, 4):
            _draw_pass(mode, out, under, covered, channels, dst, src, tris, kinds, soft, chain, chain_run, lower_run,
                       num_openings, band_lo, band_hi, scratch, skin_img, fill_img, blur_x_img, blur_y_img, lid_img,
                       eye_img, eye_wide_img, teeth_alpha, teeth_run, fill, blur_x, blur_y, unfold_img, tri_unfold,
                       grain_img, attr_u, attr_v, attr_h, attr_h0, attr_band, attr_top, attr_bottom, eye_affine, ref,
                       mp)


@njit(inline="always", fastmath=True, error_model="numpy")
def _plain_span(out, covered, img, y, xa, xb, py, al0, be0, ga0, al1, be1, ga1, tau0, tau1, tau2, sxa, sxb, sxc, sya,
                syb, syc, ch0, ch1, ch2):
    """One row of plain skin: the photo's bilinear sample at each pixel centre inside the triangle (covered whole)."""
    h, w = img.shape[0], img.shape[1]
    for x in range(xa, xb + 1):
        px = x + 0.5
        w0 = al0 * px + be0 * py + ga0
        w1 = al1 * px + be1 * py + ga1
        if w0 < -tau0 or w1 < -tau1 or 1.0 - w0 - w1 < -tau2:
            continue
        sx = min(max(sxa * px + sxb * py + sxc, 0.0), w - 1.001)
        sy = min(max(sya * px + syb * py + syc, 0.0), h - 1.001)
        x0, y0 = int(sx), int(sy)
        fx, fy = sx - x0, sy - y0
        for c, ch in ((0, ch0), (1, ch1), (2, ch2)):
            a = img[y0, x0, c] * (1.0 - fx) + img[y0, x0 + 1, c] * fx
            b = img[y0 + 1, x0, c] * (1.0 - fx) + img[y0 + 1, x0 + 1, c] * fx
            out[y, x, ch] = np.uint8(min(a * (1.0 - fy) + b * fy + 0.5, 255.0))
        covered[y, x] = 1.0


@njit(fastmath=True, cache=True, error_model="numpy")
def _draw_pass(mode, out, under, covered, channels, dst, src, tris, kinds, soft, chain, chain_run, lower_run,
               num_openings, band_lo, band_hi, scratch, skin_img, fill_img, blur_x_img, blur_y_img, lid_img, eye_img,
               eye_wide_img, teeth_alpha, teeth_run, fill, blur_x, blur_y, unfold_img, tri_unfold, grain_img, attr_u,
               attr_v, attr_h, attr_h0, attr_band, attr_top, attr_bottom, eye_affine, ref, mp):
    """Drawn in this order: mode 1, the openings' rims (past their soft edges: what the skin's soft edges
    cover); 0: triangles facing away and folded ones (over the rims: a rim is not drawn for them); 2: the
    openings; 3: folded triangles on an opening's rim that face the camera, 4: facing skin; these two with
    coverage along their soft edges."""
    width = out.shape[1]
    rgb, tmp, ball, grad, lips = scratch[0, :3], scratch[1, :3], scratch[2, :3], scratch[3], scratch[4]
    smooth_img = blur_x_img[len(STRETCH_LEVELS) - 1]  # the lid layer's photo, smooth across its columns
    ch0, ch1, ch2 = channels[0], channels[1], channels[2]
    first = num_openings if mode >= 3 else 0  # the openings come first
    last = num_openings if mode == 1 or mode == 2 else len(tris)
    reach = RIM_PX if mode == 1 else EDGE_PX
    for t in range(first, last):
        bits = soft[t] if mode == 1 or mode >= 3 else 0
        if mode == 1 and bits == 0:
            continue
        i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
        ax, ay = dst[i0, 0], dst[i0, 1]
        bx, by = dst[i1, 0], dst[i1, 1]
        cx, cy = dst[i2, 0], dst[i2, 1]
        margin = reach if bits else 0.0
        y_lo = max(band_lo, int(math.floor(min(ay, by, cy) - 0.5 - margin)))
        y_hi = min(band_hi, int(math.ceil(max(ay, by, cy) - 0.5 + margin)))
        if y_lo > y_hi:
            continue
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        kind = kinds[t]
        if abs(area) < 1e-7:
            continue
        # a folded triangle on an opening's rim is drawn as skin while it faces the camera (its soft edge),
        # under the skin
        hidden = area < 0 or (kind == FOLDED and soft[t] == 0)
        if mode == 0:
            if not hidden:
                continue
        elif hidden or (mode == 3) != (kind == FOLDED) or (mode == 4) != (kind == SKIN):
            continue
        inv = 1.0 / area  # barycentrics come out right for either winding
        # w_k = al_k * px + be_k * py + ga_k, the barycentric of vertex k (0 on the edge opposite it)
        al0, be0, ga0 = (by - cy) * inv, (cx - bx) * inv, (bx * cy - by * cx) * inv
        al1, be1, ga1 = (cy - ay) * inv, (ax - cx) * inv, (cx * ay - cy * ax) * inv
        al2, be2, ga2 = -al0 - al1, -be0 - be1, 1.0 - ga0 - ga1
        # how far past each edge a pixel may lie (barycentric units): a hair for hard edges, ``reach``
        # px for soft ones; dk_scale turns a barycentric into px from that edge
        len0 = math.sqrt((cx - bx) ** 2 + (cy - by) ** 2)
        len1 = math.sqrt((ax - cx) ** 2 + (ay - cy) ** 2)
        len2 = math.sqrt((bx - ax) ** 2 + (by - ay) ** 2)
        scale0 = abs(area) / max(len0, 1e-6)
        scale1 = abs(area) / max(len1, 1e-6)
        scale2 = abs(area) / max(len2, 1e-6)
        tau0 = reach / scale0 if bits & 1 else 1e-5
        tau1 = reach / scale1 if bits & 2 else 1e-5
        tau2 = reach / scale2 if bits & 4 else 1e-5
        x_lo = max(0, int(math.floor(min(ax, bx, cx) - 0.5 - margin)))
        x_hi = min(width - 1, int(math.ceil(max(ax, bx, cx) - 0.5 + margin)))
        # an opening's triangle turned over (a closed mouth tracked with its lip lines crossed) is no opening: it is
        # drawn as the skin it covers in the photo (drawn as the interior, its attributes ran off their range and it
        # left single black pixels along Biden's closed lips)
        skin = kind == SKIN or kind == FOLDED or area < 0
        extras = False  # any filled photo, blur or lash line for this skin triangle
        code = 0
        lid_t = tri_unfold[t, 0] * mp[P_CLOSED] + tri_unfold[t, 1] * mp[P_CLOSED + 1]  # the closed lid's skin
        brow_t = tri_unfold[t, 2] * mp[P_BROW_LIFT] + tri_unfold[t, 3] * mp[P_BROW_LIFT + 1]  # ... below a lifted brow
        # skin between the lids and the brows gets the lid's share of the grain as the lid shuts or the brow lifts
        lid_grain = 1.0 + (mp[P_LID_GRAIN] - 1.0) * min(lid_t + brow_t, 1.0)
        if mode >= 3:
            code = chain[t]
            extras = (code > 0 or fill[i0] + fill[i1] + fill[i2] > 0.0 or lid_t > 0.0 or brow_t > 0.0
                      or blur_x[i0] + blur_x[i1] + blur_x[i2] + blur_y[i0] + blur_y[i1] + blur_y[i2] > 0.0)
        own_x, own_y = 0.0, 0.0  # a hidden or folded triangle's own stretch (its vertices are the skin's)
        blur_cap = 1e30
        if mode == 0 or mode == 3:
            # hidden triangles show through gaps between skin (around a mouth corner, say): blurred as they
            # stretch, all blurred when turned over, and no photo teeth or sclera at an opening either
            unit = STRETCH_BLUR_IODS * mp[P_IOD]
            own_x, own_y = _stretch_blur(dst, src, i0, i1, i2, unit, ref)
            if mode == 0 and area < 0:
                own_x = own_y = unit * STRETCH_LEVELS[-1]
            # ... but at most about as wide as what they show: a fold of 1-7 px^2 at a mouth corner, opened by the
            # jaw and blurred 11 px, drew the skin around it, lighter than the lips' corner, as slivers
            src_area = 0.5 * abs((src[i1, 0] - src[i0, 0]) * (src[i2, 1] - src[i0, 1])
                                 - (src[i2, 0] - src[i0, 0]) * (src[i1, 1] - src[i0, 1]))
            blur_cap = max(math.sqrt(src_area), unit)
            extras = True
        # the source point is affine in the pixel centre: (sxa px + sxb py + sxc, sya px + syb py + syc)
        s0x, s1x, s2x = src[i0, 0], src[i1, 0], src[i2, 0]
        s0y, s1y, s2y = src[i0, 1], src[i1, 1], src[i2, 1]
        sxa, sxb, sxc = al0 * s0x + al1 * s1x + al2 * s2x, be0 * s0x + be1 * s1x + be2 * s2x, ga0 * s0x + ga1 * s1x + ga2 * s2x - 0.5
        sya, syb, syc = al0 * s0y + al1 * s1y + al2 * s2y, be0 * s0y + be1 * s1y + be2 * s2y, ga0 * s0y + ga1 * s1y + ga2 * s2y - 0.5
        plain = skin and not extras and bits == 0  # most skin: the photo, nothing else
        if kind == MOUTH:  # the mouth's attributes per frame pixel along x and y (its tooth rows' outlines)
            for k, attr in enumerate((attr_u, attr_v, attr_h)):
                grad[2 * k] = al0 * attr[i0] + al1 * attr[i1] + al2 * attr[i2]
                grad[2 * k + 1] = be0 * attr[i0] + be1 * attr[i1] + be2 * attr[i2]
        for y in range(y_lo, y_hi + 1):
            py = y + 0.5
            # this row's span: each edge's constraint is linear in px
            left, right = -1e9, 1e9
            r0, r1, r2 = be0 * py + ga0 + tau0, be1 * py + ga1 + tau1, be2 * py + ga2 + tau2
            if al0 > 1e-12:
                left = max(left, -r0 / al0)
            elif al0 < -1e-12:
                right = min(right, -r0 / al0)
            elif r0 < 0:
                continue
            if al1 > 1e-12:
                left = max(left, -r1 / al1)
            elif al1 < -1e-12:
                right = min(right, -r1 / al1)
            elif r1 < 0:
                continue
            if al2 > 1e-12:
                left = max(left, -r2 / al2)
            elif al2 < -1e-12:
                right = min(right, -r2 / al2)
            elif r2 < 0:
                continue
            xa = max(x_lo, int(math.floor(max(left, -1e6) - 0.5)))
            xb = min(x_hi, int(math.ceil(min(right, 1e6) - 0.5)))
            if plain:
                _plain_span(out, covered, skin_img, y, xa, xb, py, al0, be0, ga0, al1, be1, ga1, tau0, tau1, tau2,
                            sxa, sxb, sxc, sya, syb, syc, ch0, ch1, ch2)
                continue
            for x in range(xa, xb + 1):
                px = x + 0.5
                w0 = al0 * px + be0 * py + ga0
                w1 = al1 * px + be1 * py + ga1
                w2 = 1.0 - w0 - w1
                if w0 < -tau0 or w1 < -tau1 or w2 < -tau2:
                    continue
                cover = 1.0
                if bits:
                    outside = (w0 < -1e-5 and bits & 1) or (w1 < -1e-5 and bits & 2) or (w2 < -1e-5 and bits & 4)
                    if mode == 1:
                        if not outside:
                            continue  # an inner pixel: mode 2 draws it
                    else:
                        for k in range(3):
                            if not bits & (1 << k):
                                continue
                            wk = w0 if k == 0 else (w1 if k == 1 else w2)
                            d = wk * (scale0 if k == 0 else (scale1 if k == 1 else scale2))
                            if d < 0.0:
                                # past this edge: only within its own slab (no pixel covered twice)
                                ja, jb = (i1, i2) if k == 0 else ((i2, i0) if k == 1 else (i0, i1))
                                ex, ey = dst[jb, 0] - dst[ja, 0], dst[jb, 1] - dst[ja, 1]
                                along = ((px - dst[ja, 0]) * ex + (py - dst[ja, 1]) * ey) / max(ex * ex + ey * ey, 1e-9)
                                if along < 0.0 or along > 1.0:
                                    cover = 0.0
                            cover *= min(max(0.5 + d, 0.0), 1.0)
                        if cover <= 0.0:
                            continue
                if skin:
                    sx = sxa * px + sxb * py + sxc
                    sy = sya * px + syb * py + syc
                    _sample3(skin_img, sx, sy, rgb)
                    if extras:
                        f = w0 * fill[i0] + w1 * fill[i1] + w2 * fill[i2]
                        if f > 0.0:
                            _sample3(fill_img, sx, sy, tmp)
                            _mix(rgb, tmp, min(f, 1.0))
                        gx = min(max(w0 * blur_x[i0] + w1 * blur_x[i1] + w2 * blur_x[i2], own_x), blur_cap)
                        gy = min(max(w0 * blur_y[i0] + w1 * blur_y[i1] + w2 * blur_y[i2], own_y), blur_cap)
                        if gx > 0.0 or gy > 0.0:
                            unit = STRETCH_BLUR_IODS * mp[P_IOD]
                            for c in range(3):
                                ball[c] = rgb[c]
                            if gx > 0.0:
                                _blurred(blur_x_img, gx, unit, sx, sy, ball, rgb, tmp)
                            if gy > 0.0:
                                _blurred(blur_y_img, gy, unit, sx, sy, ball, rgb, tmp)
                        f = 0.0
                        shut = 0.0  # how far the eye whose lid this is has shut
                        if lid_t > 0.0:
                            s0, s1 = _sample(unfold_img, sx, sy, 0), _sample(unfold_img, sx, sy, 1)
                            f = min(s0 * mp[P_CLOSED] + s1 * mp[P_CLOSED + 1], 1.0)
                            shut = mp[P_CLOSED] if s0 >= s1 else mp[P_CLOSED + 1]
                        skin_f = f
                        if brow_t > 0.0:
                            skin_f = max(f, min(_sample(unfold_img, sx, sy, 2) * mp[P_BROW_LIFT]
                                                + _sample(unfold_img, sx, sy, 3) * mp[P_BROW_LIFT + 1], 1.0))
                        if skin_f > 0.0:
                            _sample3(lid_img, sx, sy, tmp)
                            if f > 0.0:  # the shut lid's relief, on the share a blink shows (not a lifted brow's)
                                landing, lid_reach = _sample(unfold_img, sx, sy, 4), _sample(unfold_img, sx, sy, 5)
                                relief = 1.0 + _lid_relief(landing, lid_reach, shut) * f / skin_f
                                for c in range(3):
                                    tmp[c] = min(tmp[c] * relief, 255.0)
                            _mix(rgb, tmp, skin_f)
                        # the grain the closed lid's smooth skin lacks, and that a blur of one of the grain's pixels
                        # or more took out (in its pixels: every output size draws the same grain)
                        # at the photo's own grain there (its strength at this source point)
                        lost = min(max(gx, gy) / mp[P_GRAIN_PX], 1.0)
                        if lost > 0.0:
                            lost *= _sample(grain_img, sx, sy, 1)
                        _grain(rgb, grain_img, px, py,
                               (f + (skin_f - f) * BROW_SKIN_GRAIN + (1.0 - skin_f) * lost) * lid_grain, mp)
                        if code > 0:
                            dist, open_px, from_first, from_last = _chain_distance(px, py, chain_run[t], dst,
                                                                                   attr_h)
                            _lash_line(rgb, code, dist, open_px, from_first, from_last, mp)
                elif kind == MOUTH:
                    u = w0 * attr_u[i0] + w1 * attr_u[i1] + w2 * attr_u[i2]
                    v = w0 * attr_v[i0] + w1 * attr_v[i1] + w2 * attr_v[i2]
                    h = w0 * attr_h[i0] + w1 * attr_h[i1] + w2 * attr_h[i2]
                    h0 = w0 * attr_h0[i0] + w1 * attr_h0[i1] + w2 * attr_h0[i2]
                    tx = w0 * attr_top[i0, 0] + w1 * attr_top[i1, 0] + w2 * attr_top[i2, 0]
                    ty = w0 * attr_top[i0, 1] + w1 * attr_top[i1, 1] + w2 * attr_top[i2, 1]
                    bx_ = w0 * attr_bottom[i0, 0] + w1 * attr_bottom[i1, 0] + w2 * attr_bottom[i2, 0]
                    by_ = w0 * attr_bottom[i0, 1] + w1 * attr_bottom[i1, 1] + w2 * attr_bottom[i2, 1]
                    _lip_distances(px, py, chain_run[t], lower_run[t], dst, attr_u, attr_h0, attr_top, attr_bottom,
                                   lips)
                    _mouth_rgb(skin_img, teeth_alpha, teeth_run, u, v, h, h0, tx, ty, bx_, by_, grad, lips, mp, rgb,
                               tmp, ball)
                else:
                    _eye_rgb(px, py, w0, w1, w2, i0, i1, i2, kind, skin_img, lid_img, eye_img, eye_wide_img, attr_v,
                             attr_h, attr_h0, attr_band, attr_top, attr_bottom, eye_affine, mp, rgb, ball,
                             smooth_img, unfold_img, grain_img)
                if mode <= 2:  # what lies under the skin's soft edges (a hidden triangle's too: blended against
                    # the photo instead, the skin's edge over it came out darker than either where the photo is dark)
                    for c in range(3):
                        value = np.uint8(min(max(rgb[c] + 0.5, 0.0), 255.0))
                        out[y, x, channels[c]] = value
                        under[y, x, c] = value
                    covered[y, x] = 0.0
                elif cover < 1.0:
                    # coverage adds up to 1: the skin replaces its share of what the opening drew here
                    cover = min(cover, 1.0 - covered[y, x])
                    if cover <= 0.0:
                        continue
                    covered[y, x] += cover
                    for c in range(3):
                        now = out[y, x, channels[c]] + cover * (rgb[c] - under[y, x, c])
                        out[y, x, channels[c]] = np.uint8(min(max(now + 0.5, 0.0), 255.0))
                else:
                    covered[y, x] = 1.0
                    for c in range(3):
                        out[y, x, channels[c]] = np.uint8(min(max(rgb[c] + 0.5, 0.0), 255.0))


class Scene(NamedTuple):
    """Everything the warp reads that is fixed for a session (made once in ``prepare``).

    Attributes:
        channels: (3,) int64 indices of R, G, B in the output's channels.
        src: (V, 2) float32 rest vertex positions, pixels.
        triangles: (T, 3) int64, the openings first (``triangles[:num_openings]``).
        kinds: (T,) int64 triangle kinds of :mod:`.mesh` (SKIN, MOUTH, EYE_RIGHT, EYE_LEFT, FOLDED).
        num_openings: how many triangles are mouth and eye openings.
        skin_img: (H, W, 3) uint8 the photo; eye_img, eye_wide_img: the synthesised eyeballs.
        attr_u, attr_v, attr_h0, attr_band: (V,) float32 opening attributes (across, along, rest
            height, lash band); attr_top, attr_bottom: (V, 2) float32 the opening's rims.
        soft, chain: (T,) int8 the triangles' soft edges and eye chains, chain_run: (T, RUN_LEN + 2) int32 the
            chain's vertices around each, then its corners, lower_run: (T, RUN_LEN) int32 a mouth triangle's lower
            lip chain at the same columns (:func:`edge_tables`).
        fill_img: (H, W, 3) uint8 the photo with its openings filled (:func:`filled_photo`);
            blur_x_img, blur_y_img: (L, H, W, 3) uint8 it blurred along x and along y (:func:`stretch_images`).
        teeth_alpha: (H, W) float32 and teeth_run: (:data:`TEETH_ROWS`, :data:`TEETH_RUN_BINS`) float32, the
            photo's upper teeth (:func:`teeth_layer`), and per column their reach in pixels (:func:`teeth_reach_px`),
            the drawn row's length as a multiple of the arch (:func:`teeth_row_scale`) and the photo's column
            (:func:`teeth_table`).
        lid_img: (H, W, 3) uint8 the skin of a closed upper lid (:func:`.eyes.closed_lid_image`); mouth_upper, mouth_lower:
            (U,) int64 the mouth's upper and lower (inner) chains, corner to corner: a tongue put out comes out below
            the upper (:func:`_tongue_out`), the lips roll in toward their seam between them (:func:`_seam_shadow`);
            unfold_img: (H, W, 6) float32 how much of it the photo's skin at each pixel shows with the (right,
            left) eye shut, and with the (right, left) brow lifted, and where the shut lid's relief finds it
            (:func:`.eyes.unfold_image`), tri_unfold: (T, 4)
            float32 the most of each that each triangle can show (0: the triangle needs no sample of it);
            grain_img: (H, W, 2) float32 the closed lid's grain, in the frame's pixels (:func:`.eyes.skin_grain`),
            and in the photo's pixels how much of it blurred skin gets back (:func:`.eyes.grain_amplitude`).
    """

    channels: np.ndarray
    src: np.ndarray
    triangles: np.ndarray
    kinds: np.ndarray
    num_openings: int
    skin_img: np.ndarray
    eye_img: np.ndarray
    eye_wide_img: np.ndarray
    attr_u: np.ndarray
    attr_v: np.ndarray
    attr_h0: np.ndarray
    attr_band: np.ndarray
    attr_top: np.ndarray
    attr_bottom: np.ndarray
    soft: np.ndarray
    chain: np.ndarray
    chain_run: np.ndarray
    lower_run: np.ndarray
    fill_img: np.ndarray
    blur_x_img: np.ndarray
    blur_y_img: np.ndarray
    teeth_alpha: np.ndarray
    teeth_run: np.ndarray
    lid_img: np.ndarray
    mouth_upper: np.ndarray
    mouth_lower: np.ndarray
    unfold_img: np.ndarray
    tri_unfold: np.ndarray
    grain_img: np.ndarray


def draw(out: np.ndarray, scene: Scene, *, dst: np.ndarray, opening_px: np.ndarray, eye_affine: np.ndarray,
         neutral: np.ndarray, params: np.ndarray) -> None:
    """Draw one frame into ``out`` ((H, W, C) uint8) in five passes: the openings' rims (half a pixel past
    their edges), triangles facing away and the folded ones (they show only where nothing facing covers a
    pixel, e.g. beside a turned cheek), the openings, then the skin (folded triangles on an opening's rim
    that face the camera first). Deterministic.

    Per frame: ``dst`` (V, 2) float32 vertex positions, ``opening_px`` (V,) float32 opening heights,
    ``eye_affine`` (4, 2, 3) float32 eyeball transforms, ``neutral`` (V, 2) float32 the neutral face's vertices
    (what a squeeze is measured from, :func:`_stretch_blur`), ``params`` (:data:`NUM_PARAMS`,) float32
    (the ``P_*`` slots: IOD, teeth, tongue, lids, ...)."""
    s = scene
    _draw(out, s.channels, dst, s.src, s.triangles, s.kinds, s.soft, s.chain, s.chain_run, s.lower_run, s.num_openings,
          s.skin_img, s.fill_img, s.blur_x_img, s.blur_y_img, s.lid_img, s.eye_img, s.eye_wide_img, s.teeth_alpha,
          s.teeth_run, s.attr_u, s.attr_v, opening_px, s.attr_h0, s.attr_band, s.attr_top, s.attr_bottom,
          s.unfold_img, s.tri_unfold, s.grain_img, eye_affine, neutral, params)
    _seam_shadow(out, s.channels, dst, s.mouth_upper, s.mouth_lower, s.attr_h0, params)
    if params[P_TONGUE_LEN] > 0.0:
        _tongue_out(out, s.channels, dst, s.mouth_upper, s.grain_img, params)


#: MediaPipe's middle points of the lips: the upper lip's inner edge, the lower lip's inner and outer edge.
_UPPER_INNER, _LOWER_INNER, _LOWER_OUTER = 13, 14, 17


def tongue_out_geometry(vertices: np.ndarray, mouth: Opening, iod_px: float, tongue_out: float,
                        opening_px: float) -> np.ndarray:
    """(7,) float32, the slots :data:`P_TONGUE_ROOT` to :data:`P_TONGUE_UNDER` for ``tongue_out`` (0..1) on the
    frame's ``vertices`` (V, 2) px: the root halfway between the lips' inner middles, pointing down the face (across
    the line through the mouth's corners), its tip :data:`TONGUE_PAST_LIP_IODS` past the lower lip's outer edge at 1
    (as far short of it at 0 as that edge lies from the root), :data:`TONGUE_HALF_SHARE` of the mouth's width wide
    (at most :data:`TONGUE_HALF_MAX_IODS`), out from under the upper teeth (as long as the mouth interior draws them
    for an opening of ``opening_px``, px, once it is open twice that; right under the lip where it is open less than
    that length). All zero for no tongue."""
    t = min(max(float(tongue_out), 0.0), 1.0)
    if t <= 0.0:
        return np.zeros(7, np.float32)
    v = np.asarray(vertices, np.float64)
    c0, c1 = v[mouth.corners[0]], v[mouth.corners[1]]
    width = float(np.linalg.norm(c1 - c0))
    across = (c1 - c0) / max(width, 1e-6)
    down = np.array([-across[1], across[0]])
    if down[1] < 0:
        down = -down
    root = 0.5 * (v[_UPPER_INNER] + v[_LOWER_INNER])
    to_lip = max(float((v[_LOWER_OUTER] - root) @ down), 0.0)
    length = t * (to_lip + TONGUE_PAST_LIP_IODS * iod_px)
    half = min(TONGUE_HALF_SHARE * width, TONGUE_HALF_MAX_IODS * iod_px)
    teeth = min(UPPER_TEETH_IODS * iod_px + UPPER_TEETH_OPEN * max(opening_px, 0.0), UPPER_TEETH_MAX_IODS * iod_px)
    # a mouth open less than twice its teeth's length shows less of them above the tongue, none where it is open less
    # than that length: the tongue comes out right under the upper lip (with the teeth above it, a slit of grey teeth)
    under = min(teeth, max(float(opening_px) - teeth, 0.0))
    return np.array([root[0], root[1], down[0], down[1], length, half, under], np.float32)


# -- made once per portrait (prepare) ---------------------------------------------------------------------------


def edge_tables(mesh: WarpMesh) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per triangle, ``(soft, chain, chain_run, lower_run)``:

    - ``soft`` (T,) int8: bit k set when the edge opposite vertex k lies on an opening's rim (an opening
      triangle's edge that no other opening triangle shares, a skin or folded triangle's edge an
      opening triangle shares): the edges drawn with fractional coverage;
    - ``chain`` (T,) int8: for skin (and folded) triangles touching an eye's upper or lower chain (not just at a
      corner), ``_UPPER_RIGHT``.. ``_LOWER_LEFT`` (else 0);
    - ``chain_run`` (T, :data:`RUN_LEN` + 2) int32: the chain's vertices (mesh indices, in chain order, -1
      past its ends) from :data:`CHAIN_REACH` before those the triangle touches to as many after (the lash line is
      drawn at the distance to that piece of the chain), then the chain's first and last vertex (the eye's
      corners: the lashes taper toward them); for a mouth triangle, the upper lip's chain around the columns it
      spans (the upper teeth end at a distance from it);
    - ``lower_run`` (T, :data:`RUN_LEN`) int32: for a mouth triangle, the lower lip's chain at the same columns (the
      lower teeth and the tongue rise a distance above it); -1 elsewhere.
    """
    tris, kinds = mesh.triangles, mesh.kinds
    opening = np.isin(kinds, (MOUTH, EYE_RIGHT, EYE_LEFT))
    owners: dict[tuple[int, int], list[int]] = {}
    for t, tri in enumerate(tris):
        for k in range(3):
            owners.setdefault(tuple(sorted((int(tri[(k + 1) % 3]), int(tri[(k + 2) % 3])))), []).append(t)
    n = len(tris)
    soft = np.zeros(n, np.int8)
    for t, tri in enumerate(tris):
        for k in range(3):
            others = [o for o in owners[tuple(sorted((int(tri[(k + 1) % 3]), int(tri[(k + 2) % 3]))))] if o != t]
            if opening[t]:
                rim = not any(opening[o] for o in others)
            else:
                rim = any(opening[o] for o in others)
            if rim:
                soft[t] |= 1 << k
    chain = np.zeros(n, np.int8)
    chain_run = np.full((n, RUN_LEN + 2), -1, np.int32)
    for (up_code, low_code), o in (((_UPPER_RIGHT, _LOWER_RIGHT), mesh.eye_right),
                                   ((_UPPER_LEFT, _LOWER_LEFT), mesh.eye_left)):
        for code, seq in ((up_code, list(o.upper)), (low_code, list(o.lower))):
            inner = set(int(i) for i in seq[1:-1])
            position = {int(i): p for p, i in enumerate(seq)}
            for t in np.nonzero(~opening)[0]:
                if chain[t] or not inner & set(int(i) for i in tris[t]):
                    continue
                at = sorted(position[int(i)] for i in tris[t] if int(i) in position)
                if len(at) >= 2 and at[1] - at[0] == 1:
                    at = at[:2]  # its edge on the chain
                else:
                    at = [p for p in at if int(seq[p]) in inner][:1]  # its vertex on the chain
                chain[t] = code
                run = [*range(at[0] - CHAIN_REACH, at[0]), *at, *range(at[-1] + 1, at[-1] + 1 + CHAIN_REACH)]
                chain_run[t, :len(run)] = [int(seq[p]) if 0 <= p < len(seq) else -1 for p in run]
                chain_run[t, RUN_LEN:] = seq[0], seq[-1]
    # a mouth triangle's rows: the lips' chains around the columns it spans (the teeth hang from them)
    lower_run = np.full((n, RUN_LEN), -1, np.int32)
    _lip_chain_rows(chain_run, lower_run, tris, kinds, MOUTH, mesh.mouth)
    return soft, chain, chain_run, lower_run


def _lip_chain_rows(chain_run: np.ndarray, lower_run: np.ndarray, tris: np.ndarray, kinds: np.ndarray, kind: int,
                    o: Opening) -> None:
    """Fill ``chain_run``'s and ``lower_run``'s rows of the opening's triangles (``kind``) with its upper and lower
    chains around the columns each spans (:func:`edge_tables`)."""
    position = {int(i): p for p, i in enumerate(o.lower)}
    position.update({int(i): p for p, i in enumerate(o.upper)})
    for t in np.nonzero(kinds == kind)[0]:
        at = [position[int(i)] for i in tris[t] if int(i) in position]
        if not at:
            continue
        lo = min(at)
        hi = min(max(at), lo + 1)
        run = range(lo - CHAIN_REACH, hi + CHAIN_REACH + 1)
        chain_run[t, :len(run)] = [int(o.upper[p]) if 0 <= p < len(o.upper) else -1 for p in run]
        lower_run[t, :len(run)] = [int(o.lower[p]) if 0 <= p < len(o.lower) else -1 for p in run]
        chain_run[t, RUN_LEN:] = o.upper[0], o.upper[-1]


def _opening_masks(shape_hw: tuple[int, int], rest: np.ndarray, mesh: WarpMesh, band: np.ndarray,
                   iod_px: float) -> np.ndarray:
    """(H, W) bool: the rest mouth opening and the eyes below their lash bands, grown by about a pixel."""
    import cv2


    mask = opening_mask(shape_hw, rest, mesh.mouth)
    for o in (mesh.eye_right, mesh.eye_left):
        mask |= opening_mask(shape_hw, rest, o, band)
    k = max(1, int(round(0.012 * iod_px)))
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))) > 0


def mouth_rest_share(opening_px: np.ndarray, rest_px: np.ndarray) -> float:
    """0..1: how far the mouth shows the photo's own opening, from its columns' heights ``opening_px`` (C,) in this
    frame and ``rest_px`` (C,) in the photo: all of it while every column is within 0.03 of its rest height (or
    0.45 px), none once one is 0.1 of it (or 1.5 px) off (a head turn keeps it). One share for the whole mouth:
    judged per pixel, the columns near their rest height showed the photo's mouth and the others the synthesised
    one, a patchwork (obama2's dark corner beside synthesised teeth as its jaw passed its rest opening)."""
    rest_px = np.asarray(rest_px, np.float64)
    off = np.abs(np.asarray(opening_px, np.float64) - rest_px) / np.maximum(1.5, 0.1 * rest_px)
    return float(_smooth(1.0, 0.3, float(off.max(initial=0.0))))


def filled_photo(image: np.ndarray, rest: np.ndarray, mesh: WarpMesh, band: np.ndarray, iod_px: float) -> np.ndarray:
    """(H, W, 3) uint8: the photo with its rest openings (grown by a pixel) filled in from the skin
    around them. The skin next to an opening samples it once the opening moves, so a lip's edge
    carries lip, not the photo's teeth, and a lower lid's edge lid, not sclera."""
    return inpaint(image, _opening_masks(image.shape[:2], rest, mesh, band, iod_px), iod_px)


def inpaint(image: np.ndarray, mask: np.ndarray, iod_px: float) -> np.ndarray:
    """(H, W, 3) uint8: ``image`` with the ``mask`` (H, W) pixels filled from those around them, within
    :data:`INPAINT_IODS` (the same share of the face at any output size: with 3 px at any size, a 2048 frame's
    openings were filled from a quarter of the skin a 512 frame's were, and issue 17's aliasing measure, which
    compares the two, read the difference: the EXIF copy of obama2's blink 3.58 / p99 24.6 grey levels, 2.48 / 20.1
    with the radius in inter-ocular distances)."""
    import cv2

    radius_px = max(1.0, INPAINT_IODS * iod_px)
    return cv2.inpaint(np.ascontiguousarray(image), mask.astype(np.uint8), radius_px, cv2.INPAINT_TELEA)


def stretch_images(filled: np.ndarray, iod_px: float) -> tuple[np.ndarray, np.ndarray]:
    """``(along_x, along_y)`` (L, H, W, 3) uint8: the filled photo blurred along x and along y at
    :data:`STRETCH_LEVELS` times :data:`STRETCH_BLUR_IODS` inter-ocular distances, for skin stretched
    one way (the blur goes across the stretch)."""
    import cv2

    unit = STRETCH_BLUR_IODS * iod_px
    along_x = [cv2.GaussianBlur(filled, (0, 1), sigmaX=k * unit, sigmaY=1e-3, borderType=cv2.BORDER_REPLICATE)
               for k in STRETCH_LEVELS]
    along_y = [cv2.GaussianBlur(filled, (1, 0), sigmaX=1e-3, sigmaY=k * unit, borderType=cv2.BORDER_REPLICATE)
               for k in STRETCH_LEVELS]
    return np.stack(along_x), np.stack(along_y)


#: The photo's light (:func:`photo_light`) is at least this share of a typical sclera's colour per channel. At 0.45, a
#: photo of Obama taken down to 0.3 of its exposure (obama_dark) drew its tongue, its synthesised sclera and its enamel
#: 1.4-1.8x as bright against its skin as the photo itself does (its light 0.45 where it measures 0.28).
LIGHT_FLOOR = 0.1


def photo_light(image: np.ndarray, rest: np.ndarray, sclera: np.ndarray, typical_sclera: np.ndarray) -> np.ndarray:
    """(3,) the photo's light on white, as a share of a typical sclera's colour (:data:`LIGHT_FLOOR`..1.1 per
    channel): a hint of the sclera's tint, at the brighter of the sclera and the face's highlights (a small or shadowed
    sclera reads too dark). Synthesised teeth, tongue, cavity and sclera are lit with it."""
    import cv2

    face = np.zeros(image.shape[:2], np.uint8)
    hull = cv2.convexHull(np.asarray(rest[:NUM_MESH_LANDMARKS] - 0.5, np.float32)).reshape(-1, 2)
    cv2.fillPoly(face, [np.round(hull * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    lum = image.astype(np.float64).mean(2)[face > 0]
    level = max(float(np.mean(sclera)), 0.92 * float(np.percentile(lum, 99.5)) if len(lum) else 0.0)
    tint = 1.0 + 0.35 * (np.asarray(sclera, np.float64) / max(float(np.mean(sclera)), 1.0) - 1.0)  # a hint of it
    return np.clip(tint * level / np.asarray(typical_sclera, np.float64), LIGHT_FLOOR, 1.1)


def lip_colour(image: np.ndarray, rest: np.ndarray, mesh: WarpMesh) -> np.ndarray:
    """(3,) median colour of the lips: inside MediaPipe's outer lip contour, outside the mouth opening."""
    import cv2


    o = mesh.mouth
    outer = sorted(connection_points("FACE_LANDMARKS_LIPS") - set(int(i) for i in o.upper) - set(int(i) for i in o.lower))
    pts = rest[outer]
    centre = pts.mean(0)
    pts = pts[np.argsort(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0]))]  # the contour, in order
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round((pts - 0.5) * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    opening = cv2.dilate(opening_mask(image.shape[:2], rest, o), np.ones((5, 5), np.uint8))
    pixels = image[(mask > 0) & (opening == 0)].astype(np.float64)
    return np.median(pixels, axis=0) if len(pixels) >= 10 else np.array([170.0, 100.0, 100.0])


#: The photo's upper teeth reach is evened out over this many columns of :data:`TEETH_RUN_BINS` (a closing: dips
#: narrower than it are filled, the row is not widened), then smoothed over about a third of that.
TEETH_EDGE_BINS = 7


def _teeth_edge(run: np.ndarray) -> np.ndarray:
    """(B,) the upper teeth's reach per column of the mouth (shares of the opening, :func:`teeth_layer`) as one
    even edge: a column no lone tooth longer than its neighbours, and no dip where the photo showed a dark gap
    between two teeth, or a tooth half hidden by the lower lip (the edge that the jaw opened came out as a
    jagged line with notches 5 px deep)."""
    k = TEETH_EDGE_BINS // 2

    def windows(a: np.ndarray) -> np.ndarray:
        padded = np.concatenate([np.repeat(a[:1], k), a, np.repeat(a[-1:], k)])
        return np.stack([padded[i:i + len(a)] for i in range(2 * k + 1)])

    if len(run) <= 2 * k:
        return run
    closed = windows(windows(run).max(axis=0)).min(axis=0)
    for _ in range(3):
        padded = np.concatenate([closed[:1], closed, closed[-1:]])
        closed = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    return closed


#: The reach of the photo's upper teeth in pixels is smoothed over a Gaussian of this many of its bins: taken as
#: a share of each column's rest opening, the row's end followed the lower lip's contour and the mesh's triangles
#: (the open jaw drew it as a wavy, stepped edge, 2-3 px out).
TEETH_REACH_SMOOTH_BINS = 3.0


#: The photo's upper teeth reach at most this far below its upper lip (inter-ocular distances; an upper front tooth's
#: crown is about 10 mm, 0.16 of an eye distance). Below that a grin shows its lower teeth, and they move with the jaw:
#: obama.jpg's white reaches 0.21 IOD, and carried down with the upper row, his lower teeth's tips hung over the open
#: mouth as part of it.
PHOTO_UPPER_TEETH_MAX_IODS = 0.16


def _along_mouth(mouth: Opening, values: np.ndarray) -> np.ndarray:
    """(:data:`TEETH_RUN_BINS`,) ``values`` (one per vertex of a mouth chain) at the bins' centres ``u``, linear in
    ``u`` between the chain's vertices as the opening's attributes are (:func:`.deform.opening_attributes`)."""
    t = np.linspace(0.0, 1.0, len(mouth.upper))
    return np.interp((np.arange(TEETH_RUN_BINS) + 0.5) / TEETH_RUN_BINS, t, np.asarray(values, np.float64))


def mouth_columns(rest: np.ndarray, mouth: Opening) -> tuple[np.ndarray, np.ndarray]:
    """``(top, bottom)`` (:data:`TEETH_RUN_BINS`, 2) float64: per column of the mouth, the photo's column as the
    opening's attributes have it (:func:`_along_mouth`), its top on the upper chain and its bottom on the lower."""
    top = np.stack([_along_mouth(mouth, rest[mouth.upper, j]) for j in (0, 1)], axis=1)
    bottom = np.stack([_along_mouth(mouth, rest[mouth.lower, j]) for j in (0, 1)], axis=1)
    return top, bottom


def teeth_reach_px(run: np.ndarray, rest: np.ndarray, mouth: Opening, iod_px: float) -> np.ndarray:
    """(:data:`TEETH_RUN_BINS`,) float32: how far below the upper lip, in pixels of the photo, its upper teeth reach
    per column of the rest mouth (``run``, shares of each column, :func:`teeth_layer`), as one smooth edge
    (:data:`TEETH_REACH_SMOOTH_BINS`) and no further than :data:`PHOTO_UPPER_TEETH_MAX_IODS`; 0 where the photo
    shows none."""
    top, bottom = mouth_columns(rest, mouth)
    reach = np.asarray(run, np.float64) * np.linalg.norm(bottom - top, axis=1)
    k = np.arange(-3 * int(np.ceil(TEETH_REACH_SMOOTH_BINS)), 3 * int(np.ceil(TEETH_REACH_SMOOTH_BINS)) + 1)
    kernel = np.exp(-0.5 * (k / TEETH_REACH_SMOOTH_BINS) ** 2)
    padded = np.concatenate([np.repeat(reach[:1], len(k) // 2), reach, np.repeat(reach[-1:], len(k) // 2)])
    smooth = np.convolve(padded, kernel / kernel.sum(), mode="valid")
    smooth = np.minimum(smooth, PHOTO_UPPER_TEETH_MAX_IODS * iod_px)
    return np.where(run > 0.0, smooth, 0.0).astype(np.float32)


def teeth_row_scale(reach_px: np.ndarray, iod_px: float) -> np.ndarray:
    """(:data:`TEETH_RUN_BINS`,) float32: the upper tooth row's length per column as a multiple of the arch,
    ``sqrt(1 - x^2)`` at ``x`` -1..1 across the mouth, beside the photo's own teeth (``reach_px``,
    :func:`teeth_reach_px`): each column carries on the arch from the longest of the photo's teeth nearer the
    middle (relative to the arch there), so the drawn row meets the photo's teeth at their length and falls off
    toward the corners as an arch does. 0 everywhere when the photo shows no teeth.

    (A row at one length over the arch, the photo's longest reach, met the photo's teeth where their reach tapers
    off at their ends: obama.jpg's grew 4.5 px over 2 px of the mouth's width, a step with a pointed tooth at each
    end, and the turned Obama's one 5.6 px high.)"""
    reach = np.asarray(reach_px, np.float64)
    x = 2.0 * (np.arange(len(reach)) + 0.5) / len(reach) - 1.0
    arch = np.sqrt(1.0 - x * x)
    per_arch = np.where(reach > 0.0, (reach + PAST_PHOTO_TIPS_IODS * iod_px) / arch, 0.0)
    order = np.argsort(np.abs(x), kind="stable")  # from the middle out: a running maximum
    scale = np.empty_like(reach)
    scale[order] = np.maximum.accumulate(per_arch[order])
    # both columns at one distance from the middle see the same photo teeth
    scale = np.maximum(scale, scale[::-1])
    return scale.astype(np.float32)


def teeth_table(reach_px: np.ndarray, rest: np.ndarray, mouth: Opening, h0_px: np.ndarray,
                iod_px: float) -> np.ndarray:
    """(:data:`TEETH_ROWS`, :data:`TEETH_RUN_BINS`) float32, :data:`Scene.teeth_run`: per column of the mouth, the
    photo's upper teeth's reach (``reach_px``, :func:`teeth_reach_px`), the drawn row's length over the arch
    (:func:`teeth_row_scale`), the photo's column (:func:`mouth_columns`: top x, y, bottom x, y) and its opening's
    height (``h0_px``, (V,) px per vertex of the upper chain, interpolated as the opening's attributes are)."""
    table = np.zeros((TEETH_ROWS, TEETH_RUN_BINS), np.float32)
    table[TEETH_REACH] = reach_px
    table[TEETH_ROW_SCALE] = teeth_row_scale(reach_px, iod_px)
    top, bottom = mouth_columns(rest, mouth)
    table[TEETH_TOP:TEETH_TOP + 2] = top.T
    table[TEETH_BOTTOM:TEETH_BOTTOM + 2] = bottom.T
    table[TEETH_H0] = _along_mouth(mouth, np.asarray(h0_px)[mouth.upper])
    return table


def photo_teeth_shown(teeth_run: np.ndarray) -> float:
    """0..1: how far the photo shows its own upper teeth (:data:`PHOTO_TEETH_SHARES`), from :func:`teeth_layer`'s
    ``run``."""
    lo, hi = PHOTO_TEETH_SHARES
    return min(max((float(teeth_run.max(initial=0.0)) - lo) / (hi - lo), 0.0), 1.0)


def teeth_layer(image: np.ndarray, rest: np.ndarray, mesh: WarpMesh, iod_px: float,
                lips_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """The photo's own upper teeth: ``(alpha, run, colour)``.

    ``alpha`` (H, W) float32 0..1: how much each pixel of the rest mouth opening looks like teeth
    (lighter and paler than the lips), softened a little; ``run`` (:data:`TEETH_RUN_BINS`,) float32:
    per column of the opening, the share of it from the upper lip down that the upper teeth fill
    (0 where no teeth hang from the upper lip: lower teeth and tongue the photo shows are not
    carried down with the upper lip); ``colour`` (3,) their mean colour, or None when the photo
    shows none.
    """
    import cv2


    h, w = image.shape[:2]
    inside = opening_mask((h, w), rest, mesh.mouth)
    inside = cv2.dilate(inside, np.ones((3, 3), np.uint8)) > 0
    img = image.astype(np.float32)
    lum = img.mean(2)
    sat = (img.max(2) - img.min(2)) / np.maximum(img.max(2), 1.0)
    lip_lum = float(np.mean(lips_rgb))
    lip_sat = float((np.max(lips_rgb) - np.min(lips_rgb)) / max(np.max(lips_rgb), 1.0))

    def smooth(e0, e1, x):
        t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
        return t * t * (3 - 2 * t)

    # teeth are the opening's brightest, well over the lips (whatever the exposure), and paler than them
    top = float(np.percentile(lum[inside], 98)) if inside.sum() >= 20 else 0.0
    if top < 1.2 * lip_lum + 8.0:
        top = np.inf  # nothing in the opening much lighter than the lips: no teeth
    bright = smooth(lip_lum + 0.05 * (top - lip_lum), lip_lum + 0.4 * (top - lip_lum), lum)
    pale = smooth(max(lip_sat, 0.1), 0.55 * max(lip_sat, 0.1), sat)
    alpha = np.where(inside, bright * pale, 0.0).astype(np.float32)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.6, 0.0067 * iod_px))
    tops, bottoms = mouth_columns(rest, mesh.mouth)
    run = np.zeros(TEETH_RUN_BINS)
    for k in range(TEETH_RUN_BINS):
        top, bottom = tops[k], bottoms[k]
        length = float(np.linalg.norm(bottom - top))
        if length < 1.0:
            continue
        f = np.linspace(0.0, 1.0, max(int(length * 4), 2))
        pts = top + f[:, None] * (bottom - top) - 0.5
        mx, my = pts[:, 0:1].astype(np.float32), pts[:, 1:2].astype(np.float32)
        a = cv2.remap(alpha, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[:, 0]
        # teeth that start in the upper half under at most a strip of gum or lip (not dark cavity: those are
        # lower teeth) reach as far down as they stay most of what the column shows (a gap between two teeth
        # is not their end)
        starts = np.nonzero((a > 0.5) & (f <= 0.5))[0]
        if not len(starts):
            continue
        above = cv2.remap(lum, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[:starts[0], 0]
        if len(above) and above.mean() < 0.75 * lip_lum:
            continue
        below = a[starts[0]:]
        mostly = np.nonzero(np.cumsum(below) / np.arange(1, len(below) + 1) >= 0.6)[0]
        run[k] = f[starts[0] + mostly[-1]] if len(mostly) else 0.0
    run = _teeth_edge(run)
    teeth = alpha > 0.6
    colour = img[teeth].mean(0).astype(np.float64) if teeth.sum() >= 10 else None
    pale = None if colour is None else (colour.max() - colour.min()) / max(colour.max(), 1.0)
    if colour is None or colour.mean() < 1.1 * lip_lum or pale > min(0.2, 0.45 * lip_sat):  # a lip's highlight
        return np.zeros_like(alpha), np.zeros(TEETH_RUN_BINS, np.float32), None
    return alpha, run.astype(np.float32), colour
