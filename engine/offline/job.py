"""Offline rendering of a timeline to frames, then to MP4, a PNG sequence or a contact sheet.

Every frame is written as it finishes (to a temporary name, then renamed). For an MP4 or a contact
sheet the frames go to a hidden folder beside the output (``.OUT.mp4.facecast-frames/``), removed once
the output is written; for a PNG sequence they are the output. A hidden ``.facecast-job.json`` records
the renderer options and one digest per batch of frames (its expressions, head and eye angles), so:

- a killed render re-run with ``resume`` renders only the frames that are missing;
- after the script is edited, ``resume`` also re-renders the batches whose inputs changed, and says
  which frames those are (``stale``); other renderer options refuse to resume;
- ``force`` discards what a previous render left and starts again.

Frames are named by index, so none is ever missing or duplicated in the result, which is made only
when all are present. Frames are rendered in fixed batches of frame indices (1 for the portrait
renderer; the diffusion renderer's batches share attention across their frames), so a render split
over Ray workers gives exactly the frames of a local one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from facecast.engine.media import contact_sheet
from facecast.engine.offline.audio import AudioTrack
from facecast.engine.offline.timeline import Timeline
from facecast.engine.session import Session, SessionError, SessionSpec
from facecast.engine.types import FaceSample, FlameParams


log = logging.getLogger(__name__)

FRAME_NAME = "frame_{:06d}.png"


class RenderJobError(RuntimeError):
    """The job cannot run as asked; the message says what to do."""


def output_kind(out: Path) -> str:
    """``mp4``, ``sheet`` (a ``.png`` contact sheet) or ``frames`` (a folder)."""
    suffix = out.suffix.lower()
    if out.is_dir():
        return "frames"
    if suffix == ".mp4":
        return "mp4"
    if suffix == ".png":
        return "sheet"
    if suffix:
        raise RenderJobError(f"output {out}: use a .mp4 file, a .png contact sheet, or a folder for PNG frames")
    return "frames"


JOB_FILE = ".facecast-job.json"


def frames_dir(out: Path) -> Path:
    """Where the frames of ``out`` are rendered: ``out`` itself for a PNG sequence, else a hidden
    folder beside it."""
    return out if output_kind(out) == "frames" else out.with_name(f".{out.name}.facecast-frames")


def batches(n: int, size: int) -> list[range]:
    return [range(k, min(k + size, n)) for k in range(0, n, size)]


def _options_key(timeline: Timeline, spec: SessionSpec, batch: int) -> str:
    """What every frame depends on besides its own inputs: renderer, options, FLAME map, seed and batch size."""
    return hashlib.sha256(json.dumps({"seed": timeline.seed, "renderer": spec.renderer, "batch": batch,
                                      "options": repr(spec.options), "flame_map": spec.flame_map}).encode()
                          ).hexdigest()


def _batch_keys(timeline: Timeline, options_key: str, parts: list[range]) -> list[str]:
    """One digest per batch: the options and the batch's frame inputs (a batch's frames depend on each other)."""
    keys = []
    for b in parts:
        h = hashlib.sha256(options_key.encode())
        h.update(f"{b.start}:{b.stop}".encode())
        for a in (timeline.weights, timeline.head_rad, timeline.flame, timeline.eye_left_rad, timeline.eye_right_rad):
            if a is not None:
                h.update(np.ascontiguousarray(a[b.start:b.stop]).tobytes())
        keys.append(h.hexdigest())
    return keys


def describe_frames(indices: list[int]) -> str:
    """``0-29, 45, 60-61``: sorted frame indices as ranges."""
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def render_frames(session: Session, timeline: Timeline, indices: range) -> list[np.ndarray]:
    """Render the frames ``indices`` of ``timeline`` with ``session``'s renderer as (H, W, 3) uint8 RGB, or
    (H, W, 4) RGBA when the renderer draws an alpha channel (``facecast render --background transparent`` asks
    for RGBA8; otherwise RGB8).
    The timeline's own FLAME values win; otherwise the session's FLAME map makes them."""
    renderer = session.renderer
    left, right = timeline.eye_left_rad, timeline.eye_right_rad
    samples = [FaceSample(capture_wall_ns=0, weights=timeline.weights[i], head_rad=timeline.head_rad[i],
                          eye_left_rad=None if left is None else left[i],
                          eye_right_rad=None if right is None else right[i], source="script") for i in indices]
    if timeline.flame is not None:
        if not renderer.needs_flame:
            raise RenderJobError(f"the script gives FLAME values, which the {renderer.name} renderer cannot use; "
                                 "use ARKit weights or presets, or the diffusion renderer")
        flames = [FlameParams.from_vector(timeline.flame[i], clamp=True) for i in indices]
    elif renderer.needs_flame:
        flames = [session.flame_map(s) for s in samples]
    else:
        flames = [None] * len(samples)
    # a batch's frames depend on that batch only (no stream history), wherever it is rendered
    pictures = renderer.render_batch(samples, flames)
    rgb = renderer.pixel_format.rgb
    return [np.ascontiguousarray(np.dstack([rgb(p), p[..., 3]]) if p.shape[-1] == 4 else rgb(p)) for p in pictures]


def _open(spec: SessionSpec) -> Session:
    """The session of ``spec``; offline renders need pixels (renderer ``none`` is refused)."""
    if spec.renderer == "none":
        raise RenderJobError("renderer 'none' draws nothing to render")
    try:
        return spec.open()
    except SessionError as exc:
        raise RenderJobError(str(exc)) from None


def encode_png(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass
class RenderResult:
    """``frames`` in all: ``rendered`` now (``stale`` of them replacing changed ones), ``reused`` from before."""

    out: Path
    frames: int
    rendered: int
    reused: int
    folder: Path
    stale: int = 0


def render_job(spec: SessionSpec, timeline: Timeline, out: Path, *, batch: int = 1, resume: bool = False,
               force: bool = False, keep_frames: bool = False, ray_address: Optional[str] = None,
               use_ray: bool = False, workers: int = 2, progress: Optional[Callable[[int, int], None]] = None,
               notice: Callable[[str], None] = log.info, audio: Optional[Path] = None) -> RenderResult:
    """Render ``timeline`` with the renderer of ``spec`` into ``out`` (see module doc).

    Args:
        resume: finish a previous render of ``out``: keep its frames whose inputs are unchanged.
        force: discard what a previous render of ``out`` left.
        keep_frames: keep the PNG frames of an MP4 or contact sheet (in :func:`frames_dir`).
        notice: called with one line when ``resume`` finds stale frames.
        audio: a WAV muxed into an MP4 output (its mouth is in ``timeline`` already:
            :func:`facecast.engine.offline.audio.with_audio`); other outputs ignore it.

    Raises:
        RenderJobError: a previous render's frames exist without ``resume`` or ``force``, it used other
            renderer options, or a frame is missing.
    """
    out = Path(out)
    kind = output_kind(out)
    if kind == "mp4" and importlib.util.find_spec("av") is None:
        raise RenderJobError("MP4 output needs PyAV: pip install 'facecast[video]' "
                             "(or write a .png contact sheet, or a folder of PNG frames)")
    if kind == "mp4" and spec.options.background.transparent:
        raise RenderJobError("an MP4 (H.264) has no alpha channel for --background transparent: write PNG frames "
                             "(a folder as --out), or choose a colour background")
    folder = frames_dir(out)
    n = len(timeline)
    parts = batches(n, batch)
    options_key = _options_key(timeline, spec, batch)
    keys = _batch_keys(timeline, options_key, parts)
    if folder.exists() and not folder.is_dir():
        raise RenderJobError(f"{folder} exists and is not a folder; choose another output")
    manifest = folder / JOB_FILE
    old = sorted(folder.glob("frame_*.png")) if folder.is_dir() else []
    stale: list[int] = []
    if old and force:
        for p in old:
            p.unlink()
        manifest.unlink(missing_ok=True)
    elif old:
        stale = _stale_frames(folder, manifest, options_key, keys, parts, resume=resume, out=out)
        if stale:
            notice(f"{len(stale)} frame(s) are stale (the script changed there): {describe_frames(stale)}; "
                   "rendering them again")
    folder.mkdir(parents=True, exist_ok=True)
    for tmp in folder.glob(".*.tmp"):  # a frame or the job file cut off by a kill
        tmp.unlink()
    for i in stale:
        (folder / FRAME_NAME.format(i)).unlink(missing_ok=True)
    for p in folder.glob("frame_*.png"):  # frames past the end of a shortened script
        if not p.stem[6:].isdigit() or int(p.stem[6:]) >= n:
            p.unlink()
    _write_atomically(manifest, json.dumps({"options": options_key, "frames": n, "fps": timeline.fps,
                                            "renderer": spec.renderer, "batch": batch, "batches": keys},
                                           indent=1).encode())
    have = {i for i in range(n) if (folder / FRAME_NAME.format(i)).is_file()}
    todo = [b for b in parts if not set(b) <= have]
    done = [len(have)]
    if progress is not None:
        progress(done[0], n)

    def store(indices: range, pngs: list[bytes]) -> None:
        for i, data in zip(indices, pngs):
            _write_atomically(folder / FRAME_NAME.format(i), data)
        done[0] += sum(1 for i in indices if i not in have)
        if progress is not None:
            progress(done[0], n)

    if todo:
        if use_ray:
            _render_with_ray(spec, timeline, todo, store, address=ray_address, workers=workers)
        else:
            session = _open(spec)
            try:
                for b in todo:
                    store(b, [encode_png(f) for f in render_frames(session, timeline, b)])
            finally:
                session.close()
    missing = [i for i in range(n) if not (folder / FRAME_NAME.format(i)).is_file()]
    if missing:
        raise RenderJobError(f"{len(missing)} frame(s) missing after the render (first: {missing[0]})")
    paths = [folder / FRAME_NAME.format(i) for i in range(n)]
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "mp4":
        write_mp4(paths, out, fps=timeline.fps, audio=audio)
    elif kind == "sheet":
        from PIL import Image

        pick = np.unique(np.linspace(0, n - 1, min(24, n)).round().astype(int))
        mode = "RGBA" if spec.options.background.transparent else "RGB"
        sheet = contact_sheet([np.asarray(Image.open(paths[i]).convert(mode)) for i in pick])
        _write_atomically(out, encode_png(sheet))
    if kind != "frames" and not keep_frames:
        shutil.rmtree(folder)  # the output is complete: the resume state has done its job
    rendered = sum(len(b) for b in todo)
    return RenderResult(out=out, frames=n, rendered=rendered, reused=n - rendered, stale=len(stale),
                        folder=folder)


def _stale_frames(folder: Path, manifest: Path, options_key: str, keys: list[str], parts: list[range], *,
                  resume: bool, out: Path) -> list[int]:
    """The frames of a previous render in ``folder`` whose inputs changed (to render again).

    Raises:
        RenderJobError: not ``resume``, no readable job file, or other renderer options.
    """
    count = len(list(folder.glob("frame_*.png")))
    if not resume:
        raise RenderJobError(f"{out} has {count} frame(s) of an earlier render in {folder}: add --resume to "
                             "finish it (frames whose script changed are rendered again), or --force to start over")
    try:
        previous = json.loads(manifest.read_text())
        previous_keys = list(previous["batches"])
    except (OSError, ValueError, KeyError, TypeError):
        raise RenderJobError(f"{folder} has no readable {JOB_FILE}: it is not a facecast render folder; "
                             "use --force to render over it, or choose another output") from None
    if previous.get("options") != options_key:
        raise RenderJobError(f"{folder} was rendered with another renderer, other options, seed or batch size: "
                             "--force renders everything again with these")
    return [i for k, b in enumerate(parts) if k >= len(previous_keys) or previous_keys[k] != keys[k] for i in b
            if (folder / FRAME_NAME.format(i)).is_file()]


def write_mp4(paths: list[Path], out: Path, *, fps: float, crf: int = 18, audio: Optional[Path] = None) -> None:
    """H.264 MP4 (yuv420p) of the PNG frames through PyAV's bundled FFmpeg, with ``audio`` (a WAV) as AAC
    from time 0 when given; written to a temporary name first. Odd sizes are padded by one pixel (H.264 needs
    even)."""
    from fractions import Fraction

    import av
    from PIL import Image

    tmp = out.with_name("." + out.name + ".tmp.mp4")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.unlink(missing_ok=True)  # left by a killed encode
    first = np.asarray(Image.open(paths[0]).convert("RGB"))
    h, w = first.shape[:2]
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = w + w % 2, h + h % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        track = AudioTrack(container, audio) if audio is not None else None
        for p in paths:
            rgb = np.asarray(Image.open(p).convert("RGB"))
            if rgb.shape[:2] != (h, w):
                raise RenderJobError(f"{p.name} is {rgb.shape[1]}x{rgb.shape[0]}, the first frame {w}x{h}")
            if w % 2 or h % 2:
                rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if track is not None:
            track.write(container)
    os.replace(tmp, out)


def _render_with_ray(spec: SessionSpec, timeline: Timeline, todo: list[range], store, *,
                     address: Optional[str], workers: int) -> None:
    """Spread the batches over ``workers`` Ray actors, each with its own prepared renderer;
    the frames come back as PNG bytes and are stored here as they finish."""
    try:
        import ray
    except ImportError:
        raise RenderJobError("--ray needs Ray: pip install 'ray[default]'") from None
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, log_to_driver=False, include_dashboard=False)
    try:
        worker = ray.remote(num_cpus=1)(_RayRenderer)
        actors = [worker.remote(spec, timeline) for _ in range(workers)]
        pending = {}
        queue = list(todo)
        for a in actors:
            if queue:
                b = queue.pop(0)
                pending[a.render.remote(b.start, b.stop)] = (a, b)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            a, b = pending.pop(ready[0])
            try:
                store(b, ray.get(ready[0]))
            except ray.exceptions.RayError as exc:
                raise RenderJobError(f"a Ray worker failed on frames {b.start}..{b.stop - 1}: {exc}") from None
            if queue:
                nb = queue.pop(0)
                pending[a.render.remote(nb.start, nb.stop)] = (a, nb)
    finally:
        if started:
            ray.shutdown()


class _RayRenderer:
    """One renderer per Ray worker, prepared once; renders index ranges to PNG bytes."""

    def __init__(self, spec: SessionSpec, timeline: Timeline) -> None:
        self.session = _open(spec)
        self.timeline = timeline

    def render(self, start: int, stop: int) -> list[bytes]:
        return [encode_png(f) for f in render_frames(self.session, self.timeline, range(start, stop))]
