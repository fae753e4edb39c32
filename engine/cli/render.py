"""``facecast render``: a script of expressions rendered offline."""

from __future__ import annotations

from pathlib import Path

from facecast.engine.cli.options import (
    HelpFormatter, UserError, add_background_option, add_csv_options, add_picture_options, add_renderer_options,
    lipsync_templates, positive, session_spec)
from facecast.engine.offline import timeline as tl
from facecast.engine.offline.audio import with_audio
from facecast.engine.offline.job import RenderJobError, render_job
from facecast.engine.progress import progress_bar
from facecast.engine.render import RENDERER_NAMES, RendererUnavailable
from facecast.engine.sources import SourceError
from facecast.engine.types import PixelFormat



def add_render(sub) -> None:
    p = sub.add_parser(
        "render", help="render a script of expressions offline to MP4, PNG frames or a contact sheet",
        description="Render SCRIPT (YAML or JSON keyframes: presets, ARKit weights or FLAME values, with times, "
                    "easing per segment and an fps; or csv:PATH, a Live Link Face recording) with one renderer. "
                    "Frames are written as they finish; --resume finishes a killed render without redoing "
                    "finished frames. The same script and seed give identical frames. "
                    "Schema: docs/offline.md or 'facecast render --schema'.",
        formatter_class=HelpFormatter)
    p.add_argument("script", nargs="?", metavar="SCRIPT", help="script (.yaml/.json) or csv:PATH (a file or a take "
                                                                "folder)")
    p.add_argument("--out", type=Path, metavar="OUT", help="OUT.mp4 (H.264), OUT.png (contact sheet) or a folder "
                                                           "(PNG frames)")
    p.add_argument("--renderer", default="portrait", choices=[n for n in RENDERER_NAMES if n not in ("none", "auto")],
                   help="the renderer to render with")
    add_picture_options(p, pixel_format=False)
    add_background_option(p)
    p.add_argument("--fps", type=positive(float), help="frame rate for a csv: timeline (scripts set their own)")
    add_csv_options(p)
    p.add_argument("--resume", action="store_true",
                   help="finish an interrupted render into the same OUT: keep its finished frames, render the "
                        "missing ones and those whose part of the script changed since (it says which)")
    p.add_argument("--force", action="store_true", help="discard what an earlier render into OUT left; render all")
    p.add_argument("--keep-frames", action="store_true",
                   help="keep the PNG frames of an MP4 or contact sheet (in the hidden .OUT.facecast-frames/ "
                        "beside it); by default they are removed once OUT is written")
    p.add_argument("--batch", type=positive(int), help="frames rendered together (default: 8 for diffusion, "
                                                        "where a batch shares attention; 1 otherwise)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="spread the frames over a Ray cluster (no ADDRESS: a local one)")
    p.add_argument("--workers", type=positive(int), default=2, help="Ray workers (one renderer each)")
    p.add_argument("--audio", type=Path, metavar="WAV",
                   help="drive the mouth from this speech (lip-sync, as live --lipsync) over the script's other "
                        "channels, and put it in the MP4 (AAC); the script's last frame is held if the audio is "
                        "longer")
    p.add_argument("--voice", metavar="PROFILE",
                   help="with --audio: the voice templates of this calibration profile ('facecast calibrate "
                        "lipsync'; default: published averages)")
    p.add_argument("--presets", action="store_true", help="list the expression presets and exit")
    p.add_argument("--schema", action="store_true", help="print the script schema and exit")
    add_renderer_options(p)
    p.set_defaults(func=_cmd_render)


def _cmd_render(args) -> int:
    if args.presets:
        for name, shapes in sorted(tl.PRESETS.items()):
            print(f"{name:12s} " + (", ".join(f"{k} {v:g}" for k, v in shapes.items()) or "(all zero)"))
        return 0
    if args.schema:
        print(tl.__doc__.split("Schema", 1)[1].split("::", 1)[1].rstrip())
        return 0
    if not args.script or not args.out:
        raise UserError("give a SCRIPT and --out (see 'facecast render --help')")
    if args.resume and args.force:
        raise UserError("--resume keeps an earlier render's frames and --force discards them: choose one")
    try:
        timeline = tl.load_timeline(args.script, fps=args.fps, timecode_fps=args.timecode_fps,
                                    take_file=args.take_file)
    except tl.ScriptError as exc:
        raise UserError(str(exc)) from None
    if args.voice and args.audio is None:
        raise UserError("--voice gives --audio's voice templates: add --audio WAV")
    if args.audio is not None:
        if args.out.suffix.lower() != ".mp4":
            print(f"--audio drives the mouth; only an MP4 carries the sound ({args.out} will have none)")
        try:
            timeline = with_audio(timeline, args.audio, templates=lipsync_templates(args.voice))
        except SourceError as exc:
            raise UserError(str(exc)) from None
    spec = session_spec(args, renderer=args.renderer, size_wh=args.size, seed=timeline.seed,
                        pixel_format=PixelFormat.RGBA8 if args.background.transparent else PixelFormat.RGB8)
    batch = args.batch or (8 if args.renderer == "diffusion" else 1)
    bar = progress_bar(len(timeline), unit="frames")
    print(f"render: {args.script} -> {args.renderer} -> {args.out}: {len(timeline)} frames at {timeline.fps:g} fps"
          + (f" on Ray ({args.ray or 'local'}, {args.workers} workers)" if args.ray is not None else ""), flush=True)
    try:
        result = render_job(spec, timeline, args.out, batch=batch, resume=args.resume, force=args.force,
                            keep_frames=args.keep_frames, use_ray=args.ray is not None, ray_address=args.ray or None,
                            workers=args.workers, progress=lambda i, n: bar(i), notice=lambda line: print(line),
                            audio=args.audio)
    except (RenderJobError, RendererUnavailable, ValueError, OSError) as exc:
        raise UserError(str(exc)) from None
    except Exception as exc:  # PyAV's FFmpegError, Ray's errors: one clear line, frames kept for --resume
        raise UserError(f"{type(exc).__name__}: {exc}; the finished frames are kept, re-run with --resume") from None
    stale = f", {result.stale} of them stale" if result.stale else ""
    print(f"{result.frames} frames ({result.rendered} rendered{stale}, {result.reused} already done)")
    print(f"output: {result.out}" + (f" (frames in {result.folder})" if result.folder.exists() and
                                     result.folder != result.out else ""))
    return 0
