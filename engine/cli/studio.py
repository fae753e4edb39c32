"""``facecast studio``: the live engine with a control page, an OBS view and the ZeroMQ stream beside them."""

from __future__ import annotations

import dataclasses

from facecast.engine.cli.live import add_stream_options, open_stream
from facecast.engine.cli.options import HelpFormatter, UserError, lipsync_wrapper, positive, session_spec
from facecast.engine.loop import Engine, LoopConfig
from facecast.engine.paths import cache_dir
from facecast.engine.sources import SourceError, SourceOptions
from facecast.engine.types import PixelFormat

DEFAULT_PORT = 8765


def add_studio(sub) -> None:
    p = sub.add_parser(
        "studio", help="the live engine with a control page in the browser, an OBS view and a virtual camera",
        description="Run the live engine as 'facecast run' does (the ZeroMQ stream keeps going for Unity and Unreal) "
                    "and serve a local web app: the control page at http://127.0.0.1:PORT/ (preview, blendshape "
                    "bars, fps and latency, source, renderer and portrait pickers, calibration) and the avatar alone "
                    "at /view for OBS's Browser Source (add ?bg=transparent, ?bg=green or ?bg=%%23rrggbb). It listens "
                    "on 127.0.0.1 only, unless --allow-remote, which then requires the access token it prints. "
                    "Stop with Ctrl-C. See docs/studio.md.",
        formatter_class=HelpFormatter)
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="the web app's TCP port")
    p.add_argument("--host", metavar="ADDRESS",
                   help="the address to listen on (default: 127.0.0.1; with --allow-remote, 0.0.0.0: every "
                        "interface, token required)")
    p.add_argument("--open", action="store_true", help="open the control page in the default browser")
    p.add_argument("--max-upload-mb", type=positive(float), default=10.0, metavar="MB",
                   help="largest portrait photo the page may upload")
    add_stream_options(p)
    p.set_defaults(func=_cmd_studio)


def _cmd_studio(args) -> int:
    # the web stack (Starlette, uvicorn) is imported here, so that only the studio pays for it (a third of a
    # second), not every other command
    from facecast.engine.studio.app import create_app
    from facecast.engine.studio.clients import ClientHub
    from facecast.engine.studio.controller import Outputs, Studio
    from facecast.engine.studio.frames import FrameTap
    from facecast.engine.studio.portraits import PortraitStore
    from facecast.engine.studio.security import new_token
    from facecast.engine.studio.server import ServeError, bind, lan_address, serve
    from facecast.engine.studio.swap import SwitchableRenderer, SwitchableRetargeter, SwitchableSource

    if args.renderer == "none":
        raise UserError("the studio shows pictures: choose a renderer other than none (e.g. --renderer portrait)")
    host = args.host or ("0.0.0.0" if args.allow_remote else "127.0.0.1")
    token = new_token() if args.allow_remote else None
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        raise UserError(f"--host {host} would let other machines use the studio: add --allow-remote, which "
                        "requires an access token")
    try:
        sock = bind(host, args.port)
    except ServeError as exc:
        raise UserError(str(exc)) from None
    tap = FrameTap()
    try:
        stream = open_stream(args, extra_outputs=[tap])
    except BaseException:
        sock.close()
        raise
    source = SwitchableSource(stream.source, spec=args.source)
    renderer = SwitchableRenderer(stream.session.renderer)
    retargeter = SwitchableRetargeter(stream.session.retargeter, profile=args.profile)
    engine = Engine(source=source, retargeter=retargeter, renderer=renderer, publisher=stream.outputs,
                    config=LoopConfig(fps=args.fps, duration_s=args.duration, skip_below=args.skip_below))
    try:
        source.open()
    except SourceError as exc:
        sock.close()
        stream.outputs.close()
        stream.session.close()
        raise UserError(str(exc)) from None
    spec = session_spec(args, renderer=renderer.name, size_wh=args.size, pixel_format=PixelFormat(args.format))
    options = SourceOptions(loop=args.loop, timecode_fps=args.timecode_fps, take_file=args.take_file,
                            bind_host=args.source_bind, subject=args.subject, model_path=args.model)
    hub = ClientHub()
    studio = Studio(engine=engine, source=source, renderer=renderer, retargeter=retargeter, spec=spec,
                    source_options=dataclasses.replace(options, timecode_fps=None, take_file=None),
                    flame_map=stream.session.flame_map, tap=tap, hub=hub,
                    portraits=PortraitStore(cache_dir() / "studio" / "portraits",
                                            max_bytes=int(args.max_upload_mb * 1e6), cli_photo=args.portrait),
                    outputs=Outputs(publish_endpoint=stream.publisher.bound_endpoint, virtualcam=stream.virtualcam),
                    lan_address=lan_address(), wrap_source=lipsync_wrapper(args) if args.lipsync else None)
    app = create_app(studio, token=token, max_upload_bytes=int(args.max_upload_mb * 1e6))
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown if ':' not in shown else f'[{shown}]'}:{port}/"
    query = f"?token={token}" if token else ""
    url = base + query

    def ready() -> None:
        view = base + "view?bg=transparent" + (f"&token={token}" if token else "")
        lines = [f"facecast studio: {args.source} -> {renderer.name} -> {stream.publisher.bound_endpoint}",
                 f"  control page:       {url}",
                 f"  OBS browser source: {view}"]
        if token:
            lines.append(f"  access token:       {token} (every request needs it)")
            if studio.lan_address and host in ("0.0.0.0", "::"):
                lines.append(f"  from another machine: http://{studio.lan_address}:{port}/{query}")
        lines.append("Stop with Ctrl-C.")
        print("\n".join(lines), flush=True)

    try:  # uvicorn turns Ctrl-C and SIGTERM into a clean stop
        report = serve(app, studio, engine, sock=sock, on_ready=ready, open_url=url if args.open else None)
    except SourceError as exc:
        raise UserError(str(exc)) from None
    report.errors.update(stream.errors())
    print(report.format(), flush=True)
    return 0
