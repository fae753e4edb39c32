"""``facecast run``, ``receive`` and ``demo``: the live stream, its reference receiver, and both together."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from facecast.bridge.publisher import DEFAULT_ENDPOINT, EndpointError, Publisher, free_port
from facecast.bridge.receiver import receive_main, receive_stream
from facecast.engine.cli.options import (
    HelpFormatter, UserError, add_background_option, add_lipsync_options, add_picture_options, add_renderer_options,
    add_source_options, non_negative, positive, open_session, session_spec, source_from_args)
from facecast.engine.media import PreviewFrames, write_previews
from facecast.engine.loop import Engine, LoopConfig
from facecast.engine.outputs.fanout import Fanout
from facecast.engine.outputs.virtualcam import VirtualCamera, VirtualCameraError
from facecast.engine.render import RENDERER_NAMES
from facecast.engine.session import Session
from facecast.engine.sources import Source, SourceError
from facecast.engine.types import PixelFormat


def add_run(sub) -> None:
    p = sub.add_parser(
        "run", help="stream: source -> retarget -> render -> publish",
        description="Read face samples from a source, retarget them, render the face and publish "
                    "frames and parameters over ZeroMQ (bridge protocol v1, see bridge/PROTOCOL.md), and to a "
                    "virtual camera with --virtualcam. Stop with Ctrl-C; the report of per-stage timings is "
                    "printed at the end.",
        formatter_class=HelpFormatter)
    add_stream_options(p)
    p.set_defaults(func=_cmd_run)


def add_stream_options(p) -> None:
    """The options of a live stream: ``run``'s, which ``studio`` takes too."""
    add_source_options(p)
    add_lipsync_options(p)
    p.add_argument("--renderer", default="auto", choices=RENDERER_NAMES,
                   help="auto = best available; none = parameter feed only, no pixels")
    add_renderer_options(p)
    p.add_argument("--publish", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                   help="where to bind the PUB socket")
    p.add_argument("--fps", type=positive(float), help="maximum output frame rate (default: every sample)")
    p.add_argument("--duration", type=positive(float), metavar="S", help="stop after S seconds")
    p.add_argument("--skip-below", type=non_negative, metavar="DELTA",
                   help="re-send the last picture instead of rendering when no parameter (ARKit weight, "
                        "angle in rad, FLAME value) moved by DELTA or more since it was rendered, e.g. 0.01")
    add_picture_options(p)
    add_background_option(p)
    p.add_argument("--jpeg", type=int, metavar="QUALITY", help="send pictures as JPEG at this quality")
    p.add_argument("--virtualcam", action="store_true",
                   help="also send the frames to a virtual camera (OBS Virtual Camera on Windows and macOS, "
                        "v4l2loopback on Linux; a transparent background is sent over green)")
    p.add_argument("--virtualcam-device", metavar="DEVICE",
                   help="with --virtualcam: which device (default: the first; e.g. /dev/video4)")
    p.add_argument("--profile", metavar="NAME",
                   help="apply this calibration profile (see 'facecast calibrate') in the retarget stage")
    p.add_argument("--neutral-ease", type=non_negative, metavar="S",
                   help="when the tracker loses the face, ease to neutral over S seconds "
                        "(default: the profile's value, else 0.5)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow --publish on a non-loopback interface (use --curve-secret too); studio: also let other "
                        "machines use the web app, with the access token it prints")
    p.add_argument("--curve-secret", type=Path, metavar="FILE",
                   help="encrypt with CURVE using this .key_secret file (see 'facecast keys')")
    p.add_argument("--curve-clients", type=Path, metavar="DIR",
                   help="with --curve-secret: accept only clients whose public .key files are in DIR")
    p.add_argument("--checksum", action="store_true", help="test mode: add a CRC-32 of each payload")
    p.add_argument("--report-json", type=Path, metavar="PATH", help="write the session report as JSON")


@dataclass
class Stream:
    """What ``run`` and ``studio`` stream with: the unopened source, the session (retarget stage and
    prepared renderer), the ZeroMQ publisher, the virtual camera (or None) and the outputs together."""

    source: Source
    session: Session
    publisher: Publisher
    virtualcam: Optional[VirtualCamera]
    outputs: Fanout

    def errors(self) -> dict[str, int]:
        """Errors of the outputs that run on their own threads (the virtual camera's)."""
        return self.virtualcam.errors.as_dict() if self.virtualcam is not None else {}


def open_stream(args, *, extra_outputs: Sequence = ()) -> Stream:
    """The source, session and outputs the stream options name; ``extra_outputs`` (e.g. the studio's browsers)
    get every frame too. Raises :class:`UserError` (closing what was opened) when one cannot be had."""
    if args.curve_clients and not args.curve_secret:
        raise UserError("--curve-clients needs --curve-secret")
    if args.jpeg is not None and args.background.transparent:
        raise UserError("--jpeg drops the alpha channel that --background transparent makes: leave out --jpeg, "
                        "or use a colour background")
    source = source_from_args(args)
    session = open_session(session_spec(args, renderer=args.renderer, size_wh=args.size,
                                        pixel_format=PixelFormat(args.format)))
    opened: list = [session]
    try:
        camera = None
        if args.virtualcam:
            if session.renderer is None:
                raise UserError("--virtualcam needs pictures: choose a renderer other than none")
            try:
                camera = VirtualCamera(width=args.size[0], height=args.size[1], fps=args.fps or 30.0,
                                       device=args.virtualcam_device)
            except VirtualCameraError as exc:
                raise UserError(str(exc)) from None
            opened.append(camera)
            print(f"virtual camera: {camera.device}", flush=True)
        try:
            publisher = Publisher(args.publish, allow_remote=args.allow_remote,
                                  curve_secret_file=args.curve_secret, curve_clients_dir=args.curve_clients,
                                  jpeg_quality=args.jpeg, with_crc32=args.checksum)
        except (EndpointError, FileNotFoundError, ValueError) as exc:
            raise UserError(str(exc)) from None
        except Exception as exc:  # zmq.ZMQError: address in use, bad interface
            raise UserError(f"cannot bind {args.publish}: {exc}") from None
        opened.append(publisher)
    except BaseException:
        for thing in reversed(opened):
            thing.close()
        raise
    outputs = Fanout([publisher, *([camera] if camera else []), *extra_outputs])
    return Stream(source=source, session=session, publisher=publisher, virtualcam=camera, outputs=outputs)


def _cmd_run(args) -> int:
    config = LoopConfig(fps=args.fps, duration_s=args.duration, skip_below=args.skip_below)
    stream = open_stream(args)
    renderer = stream.session.renderer
    engine = Engine(source=stream.source, retargeter=stream.session.retargeter, renderer=renderer,
                    publisher=stream.outputs, config=config)
    previous = {sig: signal.signal(sig, lambda *_: engine.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"facecast: {args.source} -> {renderer.name if renderer else 'none'} -> "
          f"{stream.publisher.bound_endpoint}", flush=True)
    try:
        report = engine.run()
    except SourceError as exc:
        raise UserError(str(exc)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    report.errors.update(stream.errors())
    print(report.format(), flush=True)
    if args.report_json:
        args.report_json.write_text(json.dumps(
            report.__dict__ | {"fps": report.fps, "renderer": renderer.name if renderer else "none"}, indent=2))
    return 0


# --------------------------------------------------------------------------- #
# facecast receive
# --------------------------------------------------------------------------- #


def add_receive(sub) -> None:
    p = sub.add_parser(
        "receive", help="reference receiver: print latency and fps, optionally save pictures",
        description="Subscribe to a facecast publisher, validate every message against bridge "
                    "protocol v1, and print capture->receive latency and fps once a second.",
        formatter_class=HelpFormatter)
    p.add_argument("--connect", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                   help="the publisher's endpoint ('facecast run --publish'; tcp://HOST:PORT for another machine)")
    p.add_argument("--count", type=positive(int), metavar="N", help="stop after N messages")
    p.add_argument("--duration", type=positive(float), metavar="S", help="stop after S seconds")
    p.add_argument("--timeout", type=positive(float), default=10.0, metavar="S",
                   help="give up when nothing arrives for S seconds")
    p.add_argument("--save", type=Path, metavar="DIR", help="save each picture as a PNG in DIR")
    p.add_argument("--params-only", action="store_true",
                   help="subscribe to the parameter feed only (no pixels are received)")
    p.add_argument("--curve-server-key", type=Path, metavar="FILE",
                   help="the publisher's public .key file, when it uses CURVE")
    p.set_defaults(func=_cmd_receive)


def _cmd_receive(args) -> int:
    if args.curve_server_key is not None and not args.curve_server_key.is_file():
        raise UserError(f"{args.curve_server_key} not found: ask the publisher's owner for its .key file")
    return receive_main(connect=args.connect, count=args.count, save=args.save,
                        params_only=args.params_only, timeout_s=args.timeout, duration_s=args.duration,
                        curve_server_key_file=args.curve_server_key)


# --------------------------------------------------------------------------- #
# facecast demo
# --------------------------------------------------------------------------- #


def add_demo(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the demo source through the best renderer and receive it",
        description="Start 'facecast run --source demo --renderer auto' in a child process, receive its "
                    "frames here over ZeroMQ as a client would, print fps and latency, and write a contact "
                    "sheet and a GIF preview of evenly spaced frames (kept in memory, written at the end).",
        formatter_class=HelpFormatter)
    p.add_argument("--duration", type=positive(float), default=8.0, metavar="S", help="seconds to stream")
    p.add_argument("--fps", type=positive(float), default=30.0, help="the engine's output frame rate")
    p.add_argument("--renderer", default="auto", help="which renderer the engine uses (see 'facecast run --help')")
    add_renderer_options(p)
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the contact sheet and preview")
    p.set_defaults(func=_cmd_demo)


#: The demo keeps one frame per 1/20 s for its previews; the GIF plays them at this rate, in real time
#: (GIF counts time in hundredths of a second, so the rate must divide 100).
DEMO_PREVIEW_FPS = 20.0


def _cmd_demo(args) -> int:
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
