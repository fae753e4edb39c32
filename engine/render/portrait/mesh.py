"""The warp mesh: MediaPipe's face-mesh triangles, the eye and mouth openings, and
rings of anchors that reach the image border.

Vertex layout (``V = 478 + 3 * 36``):

- ``0..477``: FaceLandmarker's landmarks (the iris points ``468..477`` are in no
  triangle; they follow the gaze);
- then three rings of 36 points each, one per face-oval point, pushed outward
  from the face centre: two *soft* rings (they follow the face partly, so hair
  and neck bend instead of tearing) and a *fixed* ring far outside the image
  (it never moves, so the background stays put).

Triangle kinds: :data:`SKIN` (the face, its surroundings), :data:`MOUTH` (the
opening between the inner lips, drawn as a mouth interior), :data:`EYE_RIGHT`
and :data:`EYE_LEFT` (the openings between the lids, drawn as an eyeball under
the lids), and :data:`FOLDED`: the few face triangles that already face away in
the photo (MediaPipe's mesh folds under itself at the mouth corners, the nose
wings and the jaw line) or are slivers of next to no area (:data:`SLIVER_IOD2`) or height
(:data:`SLIVER_HEIGHT_IODS`: along the lips, where a pixel of motion flips them). They are hidden surfaces: drawn only where nothing
else covers a pixel, and free to move. Triangles are wound so that a positive
area faces the camera.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from facecast.engine.face.landmarks import NUM_LANDMARKS, connection_points, eye_centres

NUM_MESH_LANDMARKS = 468
SKIN, MOUTH, EYE_RIGHT, EYE_LEFT, FOLDED = 0, 1, 2, 3, 4
#: Face triangles smaller than this (squared inter-ocular distances; 2 px^2 at 100 px) in the photo are
#: slivers with nothing to show: hidden like the folded ones, so that no guard protects a shape they lack.
SLIVER_IOD2 = 2e-4
#: Face triangles thinner than this (height over their longest side, inter-ocular distances: 1.2 px at 100 px)
#: are slivers too: the ones along the lip lines flip under a pixel of motion as the lips close or stretch.
SLIVER_HEIGHT_IODS = 0.012
#: Radial scale of the soft rings and their share of the face-oval motion.
RING_SCALES = (1.3, 1.75)
RING_FOLLOW = (0.5, 0.15)
#: How far outside the image the fixed ring lies, in image sizes.
BORDER_MARGIN = 1.0


@lru_cache(maxsize=1)
def face_triangles() -> np.ndarray:
    """(852, 3) int32 triangles of ``FACE_LANDMARKS_TESSELATION`` (each three
    consecutive connections close one triangle)."""
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections

    edges = [(c.start, c.end) for c in FaceLandmarksConnections.FACE_LANDMARKS_TESSELATION]
    tris = np.array([(edges[i][0], edges[i + 1][0], edges[i + 2][0]) for i in range(0, len(edges), 3)],
                    np.int32)
    closes = all(edges[i][1] == edges[i + 1][0] and edges[i + 2][1] == edges[i][0]
                 for i in range(0, len(edges), 3))
    if not closes:
        raise RuntimeError("this MediaPipe's FACE_LANDMARKS_TESSELATION is not a list of triangles")
    return tris


def boundary_loops(tris: np.ndarray) -> list[list[int]]:
    """Ordered vertex loops along the edges used by one triangle only."""
    count = Counter(tuple(sorted(e)) for t in tris for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))
    adjacent = defaultdict(list)
    for (a, b), n in count.items():
        if n == 1:
            adjacent[a].append(b)
            adjacent[b].append(a)
    loops, seen = [], set()
    for start in sorted(adjacent):
        if start in seen:
            continue
        loop, prev, cur = [start], -1, start
        seen.add(start)
        while True:
            nxt = [n for n in adjacent[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(loop)
    return loops


@dataclass(frozen=True)
class Opening:
    """An eye or mouth opening split at its corners into two chains that run from
    the first corner to the second: ``upper[0] == lower[0]`` and ``upper[-1] == lower[-1]``."""

    upper: np.ndarray
    lower: np.ndarray

    @property
    def corners(self) -> tuple[int, int]:
        return int(self.upper[0]), int(self.upper[-1])


#: MediaPipe landmarks that lie on the upper chain of an opening: the inner upper lip's middle (13) and the
#: upper lids' middles (159 right eye, 386 left eye).
KNOWN_UPPER = frozenset({13, 159, 386})


def split_opening(loop: list[int], rest_xy: np.ndarray, x_axis: np.ndarray) -> Opening:
    """Split a closed loop at its extreme points along ``x_axis`` into upper and lower chains."""
    loop = np.asarray(loop)
    along = rest_xy[loop] @ x_axis
    a, b = int(np.argmin(along)), int(np.argmax(along))
    rolled = np.roll(loop, -a)
    k = (b - a) % len(loop)
    one, other = rolled[: k + 1], np.concatenate([rolled[k:], rolled[:1]])[::-1]
    if len(one) != len(other):
        raise ValueError(f"opening {loop.tolist()} has chains of {len(one)} and {len(other)} points")
    # Which chain is upper is MediaPipe's topology, not where the points lie: a tightly closed mouth is often
    # tracked with its inner lip lines crossed (the lower above the upper by a few pixels), and a chain
    # taken for the wrong one moves the upper lip with the jaw.
    if KNOWN_UPPER.intersection(one.tolist()):
        return Opening(upper=one, lower=other)
    if KNOWN_UPPER.intersection(other.tolist()):
        return Opening(upper=other, lower=one)
    normal = np.array([-x_axis[1], x_axis[0]])  # image-down in the face frame
    if rest_xy[one[1:-1]].mean(0) @ normal < rest_xy[other[1:-1]].mean(0) @ normal:
        return Opening(upper=one, lower=other)
    return Opening(upper=other, lower=one)


def _strip(opening: Opening) -> list[tuple[int, int, int]]:
    u, lo = opening.upper, opening.lower
    tris = [(u[0], u[1], lo[1])]
    for i in range(1, len(u) - 2):
        tris += [(u[i], u[i + 1], lo[i + 1]), (u[i], lo[i + 1], lo[i])]
    tris.append((u[-2], u[-1], lo[-2]))
    return tris


@dataclass(frozen=True)
class WarpMesh:
    """Topology and rest geometry of the warp mesh for one portrait.

    Attributes:
        triangles: (T, 3) int32, opening triangles first, then skin.
        kinds: (T,) int8 :data:`SKIN`, :data:`MOUTH`, :data:`EYE_RIGHT`, :data:`EYE_LEFT`, :data:`FOLDED`.
        rest_areas: (T,) float64 twice the signed area of each triangle at rest:
            positive facing the camera, negative for the :data:`FOLDED` ones.
        oval: (36,) face-oval landmark indices in loop order.
        mouth, eye_right, eye_left: the openings.
        follow: (V,) share of the face motion each vertex takes (1 on the face,
            :data:`RING_FOLLOW` on the soft rings, 0 on the fixed ring).
        ring_parent: (V,) for ring vertices the face-oval landmark they follow, else -1.
    """

    triangles: np.ndarray
    kinds: np.ndarray
    rest_areas: np.ndarray
    oval: np.ndarray
    mouth: Opening
    eye_right: Opening
    eye_left: Opening
    follow: np.ndarray
    ring_parent: np.ndarray

    @property
    def num_vertices(self) -> int:
        return len(self.follow)


def signed_areas(xy: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle; ``xy`` is (V, 2) or (N, V, 2)."""
    a, b, c = xy[..., triangles[:, 0], :], xy[..., triangles[:, 1], :], xy[..., triangles[:, 2], :]
    return ((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1])
            - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))


def sample_boxes(rest_xy: np.ndarray, triangles: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """(T, 4) int64 ``x0, x1, y0, y1`` (inclusive, inside the image): each triangle's bounding box at ``rest_xy``
    (pixel centres at +0.5), one pixel wider: every pixel a bilinear sample taken inside the triangle reads."""
    h, w = shape_hw
    pts = rest_xy[triangles]  # (T, 3, 2)
    x0 = np.clip(np.floor(pts[..., 0].min(1) - 1.5), 0, w - 1)
    x1 = np.clip(np.ceil(pts[..., 0].max(1) + 0.5), 0, w - 1)
    y0 = np.clip(np.floor(pts[..., 1].min(1) - 1.5), 0, h - 1)
    y1 = np.clip(np.ceil(pts[..., 1].max(1) + 0.5), 0, h - 1)
    return np.stack([x0, x1, y0, y1], axis=1).astype(np.int64)


def ring_points(rest_xy: np.ndarray, oval: np.ndarray, *, size_wh: tuple[int, int]) -> np.ndarray:
    """(3 * 36, 2) anchor rings for the face oval ``rest_xy[oval]`` in an image of ``size_wh``."""
    centre = rest_xy[:NUM_MESH_LANDMARKS].mean(0)
    spokes = rest_xy[oval] - centre
    rings = [centre + k * spokes for k in RING_SCALES]
    # The fixed ring: where each spoke leaves a box BORDER_MARGIN image sizes around the image.
    w, h = size_wh
    lo = np.array([-BORDER_MARGIN * w, -BORDER_MARGIN * h])
    hi = np.array([(1 + BORDER_MARGIN) * w, (1 + BORDER_MARGIN) * h])
    with np.errstate(divide="ignore"):
        t = np.where(spokes > 0, (hi - centre) / spokes, (lo - centre) / spokes)
    rings.append(centre + np.min(np.where(np.isfinite(t) & (t > 0), t, np.inf), axis=1)[:, None] * spokes)
    return np.concatenate(rings)


#: How far (IODs) each opening's lower chain is pushed down to decide which way its triangles are wound.
OPENING_PROBE_IODS = 0.2


def build_mesh(rest_xy: np.ndarray, *, size_wh: tuple[int, int]) -> tuple[WarpMesh, np.ndarray]:
    """The warp mesh around landmarks ``rest_xy`` ((478, 2) pixels).

    Returns:
        (mesh, vertices) with vertices (V, 2) float64: the landmarks and the rings.
    """
    tris = face_triangles()
    left_eye, right_eye = connection_points("FACE_LANDMARKS_LEFT_EYE"), connection_points("FACE_LANDMARKS_RIGHT_EYE")
    right_centre, left_centre = eye_centres(rest_xy)
    x_axis = (left_centre - right_centre) / np.linalg.norm(left_centre - right_centre)
    oval_set = connection_points("FACE_LANDMARKS_FACE_OVAL")
    lips = connection_points("FACE_LANDMARKS_LIPS")
    openings: dict[str, Opening] = {}
    oval = None
    for loop in boundary_loops(tris):
        members = set(loop)
        if members <= oval_set:
            oval = np.array(loop)
        elif members <= lips:
            openings["mouth"] = split_opening(loop, rest_xy, x_axis)
        elif members <= left_eye:
            openings["eye_left"] = split_opening(loop, rest_xy, x_axis)
        elif members <= right_eye:
            openings["eye_right"] = split_opening(loop, rest_xy, x_axis)
    if oval is None or len(openings) != 3:
        raise RuntimeError("MediaPipe's face mesh no longer has the expected oval, eye and mouth openings")

    rings = ring_points(rest_xy, oval, size_wh=size_wh)
    vertices = np.concatenate([rest_xy.astype(np.float64), rings])
    n = len(oval)
    ring_tris = []
    layers = [oval] + [NUM_LANDMARKS + k * n + np.arange(n) for k in range(3)]
    for inner, outer in zip(layers[:-1], layers[1:]):
        for i in range(n):
            j = (i + 1) % n
            ring_tris += [(inner[i], inner[j], outer[j]), (inner[i], outer[j], outer[i])]

    kinds, all_tris = [], []
    for kind, key in ((MOUTH, "mouth"), (EYE_RIGHT, "eye_right"), (EYE_LEFT, "eye_left")):
        strip = _strip(openings[key])
        all_tris += strip
        kinds += [kind] * len(strip)
    skin = [tuple(t) for t in tris] + ring_tris
    all_tris += skin
    kinds += [SKIN] * len(skin)  # face triangles, then the rings
    triangles = np.array(all_tris, np.int32)
    # MediaPipe winds its triangles clockwise on screen for a face looking at the
    # camera: turn them so that facing the camera is a positive area. The few that
    # are then negative at rest face away (the far sides of the nose, the jaw
    # line): they are hidden and never drawn. The openings and rings are built
    # here, so they are wound facing.
    face = np.zeros(len(triangles), bool)
    face[len(all_tris) - len(skin): len(all_tris) - len(ring_tris)] = True
    triangles[face] = triangles[face][:, [0, 2, 1]]
    # The openings are wound so that an open mouth or eye is a positive area, judged with each lower chain
    # pushed down: a mouth tracked closed with its lip lines crossed is then slightly negative at rest, and
    # opening it is not taken for turning it inside out.
    face_down = np.array([-x_axis[1], x_axis[0]])
    probe = vertices.copy()
    for opening in openings.values():
        probe[opening.lower[1:-1]] += OPENING_PROBE_IODS * np.linalg.norm(left_centre - right_centre) * face_down
    built = ~face & (signed_areas(probe, triangles) < 0)
    triangles[built] = triangles[built][:, [0, 2, 1]]
    areas = signed_areas(vertices, triangles)
    kinds = np.array(kinds, np.int8)
    right, left = eye_centres(vertices[:NUM_LANDMARKS])
    iod2 = float(np.sum((left - right) ** 2))
    corners = vertices[triangles]
    longest = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2).max(1)
    thin = areas / np.maximum(longest, 1e-9) < SLIVER_HEIGHT_IODS * np.sqrt(iod2)  # areas are twice the area
    kinds[face & ((areas < SLIVER_IOD2 * iod2) | thin)] = FOLDED

    follow = np.ones(len(vertices))
    parent = np.full(len(vertices), -1, np.int64)
    for k, share in enumerate((*RING_FOLLOW, 0.0)):
        idx = NUM_LANDMARKS + k * n + np.arange(n)
        follow[idx] = share
        parent[idx] = oval
    mesh = WarpMesh(triangles=triangles, kinds=kinds, rest_areas=areas,
                    oval=oval, mouth=openings["mouth"], eye_right=openings["eye_right"],
                    eye_left=openings["eye_left"], follow=follow, ring_parent=parent)
    return mesh, vertices
