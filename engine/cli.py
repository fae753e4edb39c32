"""``facecast``: the one command-line entry point.

Each subcommand is a thin layer over the library: it parses options, builds
the pieces, and turns errors into one clear message and an exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

from facecast.engine.diagnostics import TRACE

log = logging.getLogger("facecast")

EXIT_USAGE = 2


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` with each option's default, once: added only where the help text does not already
    say it, and not for switches or options without a default."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        if ("default" in text.lower() or action.default in (None, False, argparse.SUPPRESS)
                or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


class UserError(Exception):
    """A problem the user can fix; printed as ``error: <message>`` without a traceback."""


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 512x512") from None
    return w, h


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not positive")
        return value
    return parse


# --------------------------------------------------------------------------- #
# Source options (shared by run and calibrate)
# --------------------------------------------------------------------------- #


def add_source_options(p, *, default: Optional[str] = "demo") -> None:
    p.add_argument("--source", default=default, required=default is None, metavar="SPEC",
                   help="demo, csv:PATH, webcam:[INDEX], video:PATH, livelink:[HOST:]PORT, "
                        "ifacialmocap:PHONE_IP, vmc:[HOST:]PORT or vts:PHONE_IP (see README)")
    p.add_argument("--loop", action="store_true", help="csv, video: start again at the end of the file")
    p.add_argument("--timecode-fps", type=_positive(float), metavar="N",
                   help="csv: the recording's timecode frame rate (default: inferred)")
    p.add_argument("--source-bind", default="127.0.0.1", metavar="HOST",
                   help="network sources: local address to listen on (0.0.0.0 for a phone on Wi-Fi)")
    p.add_argument("--subject", help="livelink: accept only this Live Link subject name")
    p.add_argument("--model", type=Path, metavar="PATH",
                   help="webcam, video: MediaPipe face_landmarker.task (default: see README)")


def source_from_args(args):
    """The (unopened) source the options name; raises UserError for a bad spec."""
    from facecast.engine.sources import SourceError, SourceOptions, open_source

    try:
        return open_source(args.source, SourceOptions(
            loop=args.loop, timecode_fps=args.timecode_fps, bind_host=args.source_bind,
            subject=args.subject, model_path=args.model))
    except SourceError as exc:
        raise UserError(str(exc)) from None


# --------------------------------------------------------------------------- #
# facecast run
# --------------------------------------------------------------------------- #


def add_renderer_options(p) -> None:
    p.add_argument("--portrait", metavar="PHOTO",
                   help="portrait renderer: a photo of one face looking at the camera "
                        "(default: 'astronaut', scikit-image's public-domain NASA portrait)")
    p.add_argument("--portrait-gains", metavar="NPZ",
                   help="portrait renderer: per-shape field gains from 'facecast calibrate fit-portrait'")
    d = p.add_argument_group("diffusion renderer (Arc2Face; see 'facecast models --help')")
    d.add_argument("--identity", metavar="NAME", help="an identity enrolled with 'facecast enroll'")
    d.add_argument("--flame-map", metavar="MAP",
                   help="ARKit -> FLAME mapping from 'facecast calibrate fit-mapping' (required)")
    add_diffusion_options(d)


def add_picture_options(p, *, pixel_format: bool = True) -> None:
    """``--size`` (and ``--format``): the rendered picture, one default each for
    ``run``, ``render``, ``eval`` and ``accelerate build`` (whose engines must match the run's)."""
    p.add_argument("--size", type=parse_size, default=(512, 512), metavar="WxH", help="output picture size")
    if pixel_format:
        p.add_argument("--format", default="rgba8", choices=("rgb8", "rgba8", "bgra8"),
                       help="pixel format of the pictures the renderer emits")


def add_diffusion_options(d) -> None:
    """The diffusion renderer's model and sampling options: one definition, one default each,
    for ``run``, ``render`` and ``accelerate build`` (see :class:`DiffusionConfig`)."""
    from facecast.engine.accel import BACKEND_NAMES

    d.add_argument("--models", metavar="DIR", help="models folder (default: $FACECAST_MODELS_DIR or the cache)")
    d.add_argument("--steps", type=int, default=2, help="denoising steps per frame, 1..4")
    d.add_argument("--lora", metavar="FILE", help="few-step LoRA to fuse (LCM-LoRA, TCD, Hyper-SD SD1.5)")
    d.add_argument("--lora-scale", type=float, default=1.0, help="strength of the fused --lora")
    d.add_argument("--step-kind", choices=("lcm", "ddim"), default="lcm", help="few-step update rule")
    d.add_argument("--guidance", type=float, default=1.0, help="1 = guidance-free (half the UNet calls)")
    d.add_argument("--decoder", metavar="DIR", help="TAESD (AutoencoderTiny) folder to decode with")
    d.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    d.add_argument("--no-half", action="store_true", help="float32 weights on CUDA (default: float16)")
    d.add_argument("--seed", type=int, default=0, help="the stream's fixed noise")
    d.add_argument("--anchor-weight", type=float, default=0.5,
                   help="attention to the stream's first frame (0 = off)")
    d.add_argument("--previous-weight", type=float, default=0.5,
                   help="attention to the previous frame (0 = off)")
    d.add_argument("--reference-weight", type=float, default=0.0,
                   help="attention to the reference photo (Arc2Face's reference adapter; 0 = off)")
    d.add_argument("--backend", default="torch", choices=("auto", *BACKEND_NAMES),
                   help="how the UNet and decoder run; compiled backends are built once and cached; auto = the "
                        "fastest that runs here ('facecast doctor' lists them and what auto picks, "
                        "'facecast accelerate build' builds ahead)")
    d.add_argument("--stream-batch", action="store_true",
                   help="run the denoising steps of consecutive frames as one batched UNet call per frame "
                        "(StreamDiffusion-style; guidance-free; a frame shows the expression of steps-1 "
                        "frames before)")


def diffusion_config(args):
    """The :class:`DiffusionConfig` of the options :func:`add_diffusion_options` added.

    Raises:
        UserError: a value out of range (the message names it).
    """
    from facecast.engine.render.diffusion.config import DiffusionConfig

    try:
        return DiffusionConfig(
            steps=args.steps, step_kind=args.step_kind, lora=args.lora, lora_scale=args.lora_scale,
            guidance=args.guidance, seed=args.seed, decoder=args.decoder, device=args.device, half=not args.no_half,
            anchor_weight=args.anchor_weight, previous_weight=args.previous_weight,
            reference_weight=args.reference_weight, backend=args.backend, stream_batch=args.stream_batch)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def render_options(args, *, width: int, height: int, pixel_format) -> dict:
    """The keyword options of ``create_renderer`` from the parsed renderer options."""
    diffusion = diffusion_config(args)
    return dict(width=width, height=height, pixel_format=pixel_format, portrait=args.portrait,
                portrait_gains=args.portrait_gains, models=args.models, identity=args.identity,
                flame_map=args.flame_map, diffusion=diffusion)


def _add_run(sub) -> None:
    from facecast.bridge.publisher import DEFAULT_ENDPOINT
    from facecast.engine.render import RENDERER_NAMES

    p = sub.add_parser(
        "run", help="stream: source -> retarget -> render -> publish",
        description="Read face samples from a source, retarget them, render the face and publish "
                    "frames and parameters over ZeroMQ (bridge protocol v1, see bridge/PROTOCOL.md). "
                    "Stop with Ctrl-C; the report of per-stage timings is printed at the end.",
        formatter_class=HelpFormatter)
    add_source_options(p)
    p.add_argument("--renderer", default="auto", choices=RENDERER_NAMES,
                   help="auto = best available; none = parameter feed only, no pixels")
    add_renderer_options(p)
    p.add_argument("--publish", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                   help="where to bind the PUB socket")
    p.add_argument("--fps", type=_positive(float), help="maximum output frame rate (default: every sample)")
    p.add_argument("--duration", type=_positive(float), metavar="S", help="stop after S seconds")
    p.add_argument("--skip-below", type=_non_negative, metavar="DELTA",
                   help="re-send the last picture instead of rendering when no parameter (ARKit weight, "
                        "angle in rad, FLAME value) moved by DELTA or more since it was rendered, e.g. 0.01")
    add_picture_options(p)
    p.add_argument("--jpeg", type=int, metavar="QUALITY", help="send pictures as JPEG at this quality")
    p.add_argument("--profile", metavar="NAME",
                   help="apply this calibration profile (see 'facecast calibrate') in the retarget stage")
    p.add_argument("--neutral-ease", type=_non_negative, metavar="S",
                   help="when the tracker loses the face, ease to neutral over S seconds "
                        "(default: the profile's value, else 0.5)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow --publish on a non-loopback interface (use --curve-secret too)")
    p.add_argument("--curve-secret", type=Path, metavar="FILE",
                   help="encrypt with CURVE using this .key_secret file (see 'facecast keys')")
    p.add_argument("--curve-clients", type=Path, metavar="DIR",
                   help="with --curve-secret: accept only clients whose public .key files are in DIR")
    p.add_argument("--checksum", action="store_true", help="test mode: add a CRC-32 of each payload")
    p.add_argument("--report-json", type=Path, metavar="PATH", help="write the session report as JSON")
    p.set_defaults(func=_cmd_run)


def _load_profile(name: Optional[str]):
    if name is None:
        return None
    from facecast.engine.retarget.profile import load_profile

    try:
        return load_profile(name)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None


def _cmd_run(args) -> int:
    from facecast.bridge.publisher import EndpointError, Publisher
    from facecast.engine.loop import Engine, LoopConfig
    from facecast.engine.render import RendererUnavailable, create_renderer
    from facecast.engine.retarget import Retargeter
    from facecast.engine.retarget.steps import profile_steps
    from facecast.engine.sources import SourceError
    from facecast.engine.types import PixelFormat

    config = LoopConfig(fps=args.fps, duration_s=args.duration, skip_below=args.skip_below)
    if args.curve_clients and not args.curve_secret:
        raise UserError("--curve-clients needs --curve-secret")
    source = source_from_args(args)
    steps = profile_steps(_load_profile(args.profile), neutral_ease_s=args.neutral_ease)
    try:
        width, height = args.size
        renderer = create_renderer(args.renderer, **render_options(args, width=width, height=height,
                                                                   pixel_format=PixelFormat(args.format)))
    except (RendererUnavailable, ValueError) as exc:
        raise UserError(str(exc)) from None
    retargeter = Retargeter(steps=steps, flame_map=getattr(renderer, "flame_map", None))
    try:
        publisher = Publisher(args.publish, allow_remote=args.allow_remote,
                              curve_secret_file=args.curve_secret, curve_clients_dir=args.curve_clients,
                              jpeg_quality=args.jpeg, with_crc32=args.checksum)
    except (EndpointError, FileNotFoundError, ValueError) as exc:
        if renderer is not None:
            renderer.close()
        raise UserError(str(exc)) from None
    except Exception as exc:  # zmq.ZMQError: address in use, bad interface
        if renderer is not None:
            renderer.close()
        raise UserError(f"cannot bind {args.publish}: {exc}") from None
    engine = Engine(source=source, retargeter=retargeter, renderer=renderer, publisher=publisher,
                    config=config)
    previous = {sig: signal.signal(sig, lambda *_: engine.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"facecast: {args.source} -> {renderer.name if renderer else 'none'} -> "
          f"{publisher.bound_endpoint}", flush=True)
    try:
        report = engine.run()
    except SourceError as exc:
        raise UserError(str(exc)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(report.format(), flush=True)
    if args.report_json:
        args.report_json.write_text(json.dumps(
            report.__dict__ | {"fps": report.fps, "renderer": renderer.name if renderer else "none"}, indent=2))
    return 0


# --------------------------------------------------------------------------- #
# facecast receive
# --------------------------------------------------------------------------- #


def _add_receive(sub) -> None:
    from facecast.bridge.publisher import DEFAULT_ENDPOINT

    p = sub.add_parser(
        "receive", help="reference receiver: print latency and fps, optionally save pictures",
        description="Subscribe to a facecast publisher, validate every message against bridge "
                    "protocol v1, and print capture->receive latency and fps once a second.",
        formatter_class=HelpFormatter)
    p.add_argument("--connect", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                   help="the publisher's endpoint ('facecast run --publish'; tcp://HOST:PORT for another machine)")
    p.add_argument("--count", type=_positive(int), metavar="N", help="stop after N messages")
    p.add_argument("--duration", type=_positive(float), metavar="S", help="stop after S seconds")
    p.add_argument("--timeout", type=_positive(float), default=10.0, metavar="S",
                   help="give up when nothing arrives for S seconds")
    p.add_argument("--save", type=Path, metavar="DIR", help="save each picture as a PNG in DIR")
    p.add_argument("--params-only", action="store_true",
                   help="subscribe to the parameter feed only (no pixels are received)")
    p.add_argument("--curve-server-key", type=Path, metavar="FILE",
                   help="the publisher's public .key file, when it uses CURVE")
    p.set_defaults(func=_cmd_receive)


def _cmd_receive(args) -> int:
    from facecast.bridge.receiver import receive_main

    if args.curve_server_key is not None and not args.curve_server_key.is_file():
        raise UserError(f"{args.curve_server_key} not found: ask the publisher's owner for its .key file")
    return receive_main(connect=args.connect, count=args.count, save=args.save,
                        params_only=args.params_only, timeout_s=args.timeout, duration_s=args.duration,
                        curve_server_key_file=args.curve_server_key)


# --------------------------------------------------------------------------- #
# facecast demo
# --------------------------------------------------------------------------- #


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the demo source through the best renderer and receive it",
        description="Start 'facecast run --source demo --renderer auto' in a child process, receive its "
                    "frames here over ZeroMQ as a client would, print fps and latency, and write a contact "
                    "sheet and a GIF preview of evenly spaced frames (kept in memory, written at the end).",
        formatter_class=HelpFormatter)
    p.add_argument("--duration", type=_positive(float), default=8.0, metavar="S", help="seconds to stream")
    p.add_argument("--fps", type=_positive(float), default=30.0, help="the engine's output frame rate")
    p.add_argument("--renderer", default="auto", help="which renderer the engine uses (see 'facecast run --help')")
    add_renderer_options(p)
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the contact sheet and preview")
    p.set_defaults(func=_cmd_demo)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for loopback endpoints)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: The demo keeps one frame per 1/20 s for its previews; the GIF plays them at this rate, in real time
#: (GIF counts time in hundredths of a second, so the rate must divide 100).
DEMO_PREVIEW_FPS = 20.0


def _cmd_demo(args) -> int:
    from facecast.bridge.receiver import receive_stream
    from facecast.engine.media import PreviewFrames, write_previews

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    args.out.mkdir(parents=True, exist_ok=True)
    report_path = args.out / "engine_report.json"
    report_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "facecast.engine.cli", "run", "--source", "demo", "--renderer",
           args.renderer, "--publish", endpoint, "--fps", f"{args.fps:g}", "--duration", f"{args.duration:g}",
           "--report-json", str(report_path)]
    for option, value in (("--portrait", args.portrait), ("--portrait-gains", args.portrait_gains)):
        if value:
            cmd += [option, value]
    print("engine:  facecast " + " ".join(cmd[3:]), flush=True)
    engine = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # its report comes back as JSON; errors on stderr
    preview = PreviewFrames(fps=DEMO_PREVIEW_FPS)
    try:
        summary = receive_stream(connect=endpoint, timeout_s=15.0, duration_s=args.duration + 15.0,
                                 on_message=preview.add, stop_when=lambda: engine.poll() is not None)
        engine_code = engine.wait(timeout=30)
    finally:
        if engine.poll() is None:
            engine.terminate()
            engine.wait(timeout=10)
    if not summary.received or engine_code != 0:
        raise UserError(f"demo failed (the receiver got {summary.received} frames, engine exit {engine_code})")
    print(demo_summary(json.loads(report_path.read_text()), summary), flush=True)
    written = write_previews(preview.frames(), args.out, gif_fps=preview.fps)
    print(f"contact sheet: {written['contact_sheet']}\n"
          f"preview:       {written['preview']} ({len(preview)} frames, {preview.fps:g} fps, real time)",
          flush=True)
    return 0


def demo_summary(engine: dict, received) -> str:
    """The demo's closing lines: what the engine did, what the receiver got, and why they differ."""
    render = engine["timings"].get("render", {})
    lines = [f"engine:   {engine['renderer']} renderer, {engine['frames']} frames in {engine['elapsed_s']:.1f} s "
             f"({engine['fps']:.1f} fps); render p50 {render.get('p50_ms', float('nan')):.1f} ms, "
             f"p99 {render.get('p99_ms', float('nan')):.1f} ms",
             f"receiver: {received.received} frames; latency capture->receive p50 {received.latency_p50_ms:.1f} ms, "
             f"p99 {received.latency_p99_ms:.1f} ms"]
    reasons = []
    if engine["samples_dropped"]:
        reasons.append(f"{engine['samples_dropped']} demo samples came faster than the {engine['fps']:.0f} fps "
                       "output and were superseded by newer ones")
    if received.first_seq:
        reasons.append(f"the first {received.first_seq} frames went out before the receiver had connected")
    if received.skipped_seq:
        reasons.append(f"{received.skipped_seq} frames were passed over for newer ones while the receiver was busy "
                       "(it shares the CPU with the engine)")
    if reasons:
        lines.append("Nothing is broken: facecast always shows the newest data, so " + "; ".join(reasons) + ".")
    errors = engine.get("errors") or {}
    if errors:
        lines.append(f"errors in the engine: {errors} (see its log above)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# facecast keys
# --------------------------------------------------------------------------- #


def _add_keys(sub) -> None:
    p = sub.add_parser("keys", help="create CURVE key pairs for remote publishing",
                       description="Create a CURVE key pair: NAME.key (public, give it to receivers) and "
                                   "NAME.key_secret (keep it on the publishing machine).")
    p.add_argument("action", choices=("create",))
    p.add_argument("dir", type=Path)
    p.add_argument("--name", default="facecast", help="file name of the pair: NAME.key and NAME.key_secret")
    p.set_defaults(func=_cmd_keys)


def _cmd_keys(args) -> int:
    import zmq.auth

    args.dir.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(args.dir), args.name)
    print(f"public key (give to receivers): {public}\nsecret key (keep private):      {secret}")
    return 0


# --------------------------------------------------------------------------- #


# --------------------------------------------------------------------------- #
# facecast render
# --------------------------------------------------------------------------- #


def _add_render(sub) -> None:
    from facecast.engine.render import RENDERER_NAMES

    p = sub.add_parser(
        "render", help="render a script of expressions offline to MP4, PNG frames or a contact sheet",
        description="Render SCRIPT (YAML or JSON keyframes: presets, ARKit weights or FLAME values, with times, "
                    "easing per segment and an fps; or csv:PATH, a Live Link Face recording) with one renderer. "
                    "Frames are written as they finish; --resume finishes a killed render without redoing "
                    "finished frames. The same script and seed give identical frames. "
                    "Schema: see the README or 'facecast render --schema'.",
        formatter_class=HelpFormatter)
    p.add_argument("script", nargs="?", metavar="SCRIPT", help="script (.yaml/.json) or csv:PATH")
    p.add_argument("--out", type=Path, metavar="OUT", help="OUT.mp4 (H.264), OUT.png (contact sheet) or a folder "
                                                           "(PNG frames)")
    p.add_argument("--renderer", default="portrait", choices=[n for n in RENDERER_NAMES if n not in ("none", "auto")],
                   help="the renderer to render with")
    add_picture_options(p, pixel_format=False)
    p.add_argument("--fps", type=_positive(float), help="frame rate for a csv: timeline (scripts set their own)")
    p.add_argument("--resume", action="store_true",
                   help="finish an interrupted render into the same OUT: keep its finished frames, render the "
                        "missing ones and those whose part of the script changed since (it says which)")
    p.add_argument("--force", action="store_true", help="discard what an earlier render into OUT left; render all")
    p.add_argument("--keep-frames", action="store_true",
                   help="keep the PNG frames of an MP4 or contact sheet (in the hidden .OUT.facecast-frames/ "
                        "beside it); by default they are removed once OUT is written")
    p.add_argument("--batch", type=_positive(int), help="frames rendered together (default: 8 for diffusion, "
                                                        "where a batch shares attention; 1 otherwise)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="spread the frames over a Ray cluster (no ADDRESS: a local one)")
    p.add_argument("--workers", type=_positive(int), default=2, help="Ray workers (one renderer each)")
    p.add_argument("--presets", action="store_true", help="list the expression presets and exit")
    p.add_argument("--schema", action="store_true", help="print the script schema and exit")
    add_renderer_options(p)
    p.set_defaults(func=_cmd_render)


def _cmd_render(args) -> int:
    from facecast.engine.offline import RendererSpec, RenderJobError, render_job
    from facecast.engine.render import RendererUnavailable
    from facecast.engine.progress import progress_bar
    from facecast.engine.sources import timeline as tl
    from facecast.engine.types import PixelFormat

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
        timeline = tl.load_timeline(args.script, fps=args.fps)
    except tl.ScriptError as exc:
        raise UserError(str(exc)) from None
    width, height = args.size
    options = render_options(args, width=width, height=height, pixel_format=PixelFormat.RGB8)
    if options["diffusion"] is not None:
        import dataclasses
        options["diffusion"] = dataclasses.replace(options["diffusion"], seed=timeline.seed)
    spec = RendererSpec(name=args.renderer, options=options)
    batch = args.batch or (8 if args.renderer == "diffusion" else 1)
    bar = progress_bar(len(timeline), unit="frames")
    print(f"render: {args.script} -> {args.renderer} -> {args.out}: {len(timeline)} frames at {timeline.fps:g} fps"
          + (f" on Ray ({args.ray or 'local'}, {args.workers} workers)" if args.ray is not None else ""), flush=True)
    try:
        result = render_job(spec, timeline, args.out, batch=batch, resume=args.resume, force=args.force,
                            keep_frames=args.keep_frames, use_ray=args.ray is not None, ray_address=args.ray or None,
                            workers=args.workers, progress=lambda i, n: bar(i), notice=lambda line: print(line))
    except (RenderJobError, RendererUnavailable, ValueError, OSError) as exc:
        raise UserError(str(exc)) from None
    except Exception as exc:  # PyAV's FFmpegError, Ray's errors: one clear line, frames kept for --resume
        raise UserError(f"{type(exc).__name__}: {exc}; the finished frames are kept, re-run with --resume") from None
    stale = f", {result.stale} of them stale" if result.stale else ""
    print(f"{result.frames} frames ({result.rendered} rendered{stale}, {result.reused} already done)")
    print(f"output: {result.out}" + (f" (frames in {result.folder})" if result.folder.exists() and
                                     result.folder != result.out else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facecast",
        description="Real-time facial animation: face blendshapes in, a rendered face and its "
                    "parameters out over ZeroMQ to Unity, Unreal or your own client.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v debug, -vv per-frame trace)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from facecast.calibration.cli import add_calibrate, add_eval
    from facecast.engine.accel.cli import add_accelerate, add_doctor
    from facecast.engine.render.diffusion.cli import add_distill, add_enroll, add_models
    from facecast.engine.render.portrait.cli import add_portrait

    for add in (_add_run, _add_receive, _add_demo, _add_keys, _add_render, add_portrait, add_calibrate, add_eval,
                add_models, add_enroll, add_distill, add_accelerate, add_doctor):
        add(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.INFO, 1: logging.DEBUG}.get(args.verbose, TRACE)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # run the imported module's main, so that UserError raised by other modules is this one's class
    from facecast.engine.cli import main as _main
    sys.exit(_main())
