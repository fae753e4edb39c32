"""Offline rendering of a timeline to frames, then to MP4, a PNG sequence or a contact sheet.

Every frame is written as it finishes (to a temporary name, then renamed), into a
frames folder next to the output (``OUT.mp4.frames/``, or the output folder
itself for a PNG sequence), with a ``job.json`` that records what is rendered.
A killed render re-run with ``resume`` renders only the frames that are missing
(whole batches: frames of a batch are rendered together), and refuses a folder
that holds a different job. Frames are named by index, so none is ever missing
or duplicated in the result, which is made only when all are present.

Frames are rendered in fixed batches of frame indices (1 for the portrait
renderer; the diffusion renderer's batches share attention across their frames),
so a render split over Ray workers gives exactly the frames of a local one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from facecast.engine.sources.timeline import Timeline
from facecast.engine.types import FaceSample, FlameParams

log = logging.getLogger(__name__)

FRAME_NAME = "frame_{:06d}.png"


class RenderJobError(RuntimeError):
    """The job cannot run as asked; the message says what to do."""


@dataclass(frozen=True)
class RendererSpec:
    """How to make the renderer (in this process or a Ray worker): ``create_renderer(name, **options)``."""

    name: str
    options: dict

    def create(self):
        from facecast.engine.render import create_renderer
        return create_renderer(self.name, **self.options)


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


def frames_dir(out: Path) -> Path:
    return out if output_kind(out) == "frames" else out.with_name(out.name + ".frames")


def batches(n: int, size: int) -> list[range]:
    return [range(k, min(k + size, n)) for k in range(0, n, size)]


def _job_id(timeline: Timeline, spec: RendererSpec, batch: int) -> str:
    h = hashlib.sha256()
    for a in (timeline.weights, timeline.head_rad, timeline.flame):
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps({"fps": timeline.fps, "seed": timeline.seed, "renderer": spec.name, "batch": batch,
                         "options": {k: str(v) for k, v in sorted(spec.options.items())}}).encode())
    return h.hexdigest()


def render_frames(renderer, timeline: Timeline, indices: range) -> list[np.ndarray]:
    """Render the frames ``indices`` of ``timeline`` as (H, W, 3) uint8 RGB."""
    samples = [FaceSample(capture_wall_ns=0, weights=timeline.weights[i], head_rad=timeline.head_rad[i],
                          source="script") for i in indices]
    if timeline.flame is not None:
        if not renderer.needs_flame:
            raise RenderJobError(f"the script gives FLAME values, which the {renderer.name} renderer cannot use; "
                                 "use ARKit weights or presets, or the diffusion renderer")
        flames = [FlameParams.from_vector(timeline.flame[i], clamp=True) for i in indices]
    elif renderer.needs_flame:
        flames = [renderer.flame_map(s) for s in samples]
    else:
        flames = [None] * len(samples)
    if hasattr(renderer, "render_batch"):  # batch-shared attention, and no stream history (frames depend
        pictures = renderer.render_batch(flames)  # on their batch only, wherever it is rendered)
    else:
        pictures = [renderer.render(s, f) for s, f in zip(samples, flames)]
    out = []
    for p in pictures:
        rgb = p[..., :3]
        if renderer.pixel_format.value == "bgra8":
            rgb = rgb[..., ::-1]
        out.append(np.ascontiguousarray(rgb))
    return out


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
    out: Path
    frames: int
    rendered: int
    reused: int
    folder: Path


def render_job(spec: RendererSpec, timeline: Timeline, out: Path, *, batch: int = 1, resume: bool = False,
               ray_address: Optional[str] = None, use_ray: bool = False, workers: int = 2,
               progress: Optional[Callable[[int, int], None]] = None) -> RenderResult:
    """Render ``timeline`` with the renderer of ``spec`` into ``out`` (see module doc).

    Raises:
        RenderJobError: the output exists without ``resume``, belongs to another job, or a frame is missing.
    """
    out = Path(out)
    kind = output_kind(out)
    folder = frames_dir(out)
    job = {"job": _job_id(timeline, spec, batch), "frames": len(timeline), "fps": timeline.fps,
           "renderer": spec.name, "batch": batch}
    manifest = folder / "job.json"
    if folder.exists() and not folder.is_dir():
        raise RenderJobError(f"{folder} exists and is not a folder; choose another output")
    if folder.exists() and any(folder.glob("frame_*.png")):
        if not resume:
            raise RenderJobError(f"{folder} already holds frames: add --resume to finish that render, "
                                 "or remove the folder to start again")
        try:
            previous = json.loads(manifest.read_text())
        except (OSError, ValueError):
            raise RenderJobError(f"{folder} has no readable job.json: it is not a facecast render folder") from None
        if previous.get("job") != job["job"]:
            raise RenderJobError(f"{folder} holds a different render (another script, renderer or options); "
                                 "remove it or choose another output")
    folder.mkdir(parents=True, exist_ok=True)
    for tmp in folder.glob(".*.tmp"):  # a frame or job.json cut off by a kill
        tmp.unlink()
    _write_atomically(manifest, json.dumps(job, indent=1).encode())
    n = len(timeline)
    have = {i for i in range(n) if (folder / FRAME_NAME.format(i)).is_file()}
    todo = [b for b in batches(n, batch) if not set(b) <= have]
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
            renderer = spec.create()
            try:
                for b in todo:
                    store(b, [encode_png(f) for f in render_frames(renderer, timeline, b)])
            finally:
                if renderer is not None:
                    renderer.close()
    missing = [i for i in range(n) if not (folder / FRAME_NAME.format(i)).is_file()]
    if missing:
        raise RenderJobError(f"{len(missing)} frame(s) missing after the render (first: {missing[0]})")
    paths = [folder / FRAME_NAME.format(i) for i in range(n)]
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "mp4":
        write_mp4(paths, out, fps=timeline.fps)
    elif kind == "sheet":
        from PIL import Image

        from facecast.engine.media import contact_sheet
        pick = np.unique(np.linspace(0, n - 1, min(24, n)).round().astype(int))
        sheet = contact_sheet([np.asarray(Image.open(paths[i]).convert("RGB")) for i in pick])
        _write_atomically(out, encode_png(sheet))
    rendered = sum(len(b) for b in todo)
    return RenderResult(out=out, frames=n, rendered=rendered, reused=n - rendered, folder=folder)


def write_mp4(paths: list[Path], out: Path, *, fps: float, crf: int = 18) -> None:
    """H.264 MP4 (yuv420p) of the PNG frames through PyAV's bundled FFmpeg; written
    to a temporary name first. Odd sizes are padded by one pixel (H.264 needs even)."""
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
    os.replace(tmp, out)


def _render_with_ray(spec: RendererSpec, timeline: Timeline, todo: list[range], store, *,
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

    def __init__(self, spec: RendererSpec, timeline: Timeline) -> None:
        self.renderer = spec.create()
        self.timeline = timeline

    def render(self, start: int, stop: int) -> list[bytes]:
        return [encode_png(f) for f in render_frames(self.renderer, self.timeline, range(start, stop))]
