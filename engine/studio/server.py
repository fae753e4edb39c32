"""Serving the studio: uvicorn on the main thread's event loop, the engine on its own thread.

:func:`serve` binds the port first (so "in use" is a clear error, not a server log line), wires the engine's
frame tap to the event loop, prints the addresses, opens the browser if asked, and runs until Ctrl-C or until
the engine stops (``--duration``); then it stops the engine and returns its report.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import threading
import webbrowser
from typing import Callable, Optional

import uvicorn

from facecast.engine.loop import Engine, LoopReport
from facecast.engine.sources import SourceError
from facecast.engine.studio.clients import notify_from_thread
from facecast.engine.studio.controller import Studio

log = logging.getLogger(__name__)

class ServeError(RuntimeError):
    """The studio cannot listen where asked; the message says what to do."""


def lan_address() -> Optional[str]:
    """This machine's address on its local network (what a phone app on the same Wi-Fi sends to), or None.

    Asks the system which interface would route to a documentation-only address (RFC 5737); connecting a UDP
    socket sends nothing."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; raises :class:`ServeError`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is in use (another studio?): pass --port N") from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def serve(app, studio: Studio, engine: Engine, *, sock: socket.socket,
          on_ready: Callable[[], None] = lambda: None, open_url: Optional[str] = None) -> LoopReport:
    """Run the studio until Ctrl-C or the engine's end; returns the engine's report.

    Raises:
        SourceError: the first source could not be opened (nothing was served).
    """
    outcome: dict = {}

    def run_engine() -> None:
        try:
            outcome["report"] = engine.run()
        except BaseException as exc:  # reported on the main thread
            outcome["error"] = exc

    thread = threading.Thread(target=run_engine, name="facecast-engine", daemon=True)
    # no per-message deflate: the frames are JPEG and PNG already, and compressing each one again for each
    # browser cost more CPU than encoding it
    config = uvicorn.Config(app, log_level="warning", access_log=False, ws="websockets-sansio", lifespan="off",
                            ws_per_message_deflate=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)

    async def main() -> None:
        studio.tap.notify = notify_from_thread(asyncio.get_running_loop(), studio.hub)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        if server.started:
            on_ready()
            if open_url:
                threading.Thread(target=webbrowser.open, args=(open_url,), daemon=True).start()
        while not serving.done():
            if not thread.is_alive():  # the engine ended (--duration, or a source that failed to open)
                server.should_exit = True
            await asyncio.sleep(0.1)
        await serving

    # uvicorn stops on Ctrl-C and SIGTERM, then raises the signal again for the handler it found: this one, so
    # that the engine's report is still printed (the default handlers would end the process there)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, lambda *_: engine.stop()) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if main_thread else {}
    thread.start()
    try:
        asyncio.run(main())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        studio.tap.notify = None
        engine.stop()
        thread.join(timeout=10.0)
    if "error" in outcome:
        if isinstance(outcome["error"], SourceError):
            raise outcome["error"]
        raise RuntimeError(f"the engine failed: {outcome['error']}") from outcome["error"]
    if "report" not in outcome:
        raise RuntimeError("the engine did not stop within 10 s")
    return outcome["report"]
