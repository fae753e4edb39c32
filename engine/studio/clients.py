"""One browser connection: frames and status out, the page's small messages in.

Flow control is by credit: a client has at most :data:`WINDOW` messages (frames and status) that it has not
acknowledged yet. The page acknowledges each after painting or showing it (``{"type": "ack"}``). A frame is
only taken from the tap when the client has credit, and then it is the newest one: a slow, hidden or paused
tab gets fewer frames, never older ones, and nothing queues for it (not here, nor in the socket buffers).

Pages that ask for a frame rate (``max_fps``: the control pages' previews) share it: with ``n`` of them taking
frames (a paused or hidden page that holds all its credit does not count), each gets at most ``max_fps / n``
frames a second, so more control pages do not take more of the CPU the engine
and the OBS view need (a software-painting browser spends 12-16 ms of CPU per frame). Pages that ask for every
frame (the OBS view) always get every frame.

Messages from the page (JSON text, each an object with a ``type``):

- ``hello``: ``encoding`` (``auto`` or one of :data:`~.frames.ENCODINGS`), ``quality`` 1..100,
  ``status`` (whether it wants the status messages), ``max_fps`` (frames a second at most for this page, 1..240,
  or null for every frame: the control page's preview asks for 30, the OBS view for all), all optional;
- ``ack``: one message handled;
- ``clock``: ``t_page_ms``, the page's wall clock; answered at once with the server's, so the page can
  measure capture-to-paint latency against the server's clock even from another machine.

A message that is not one of these gets ``{"type": "error", "error": ...}`` back; the connection and the
engine go on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import time
from typing import Any, Callable, Optional

from starlette.websockets import WebSocket, WebSocketDisconnect

from facecast.engine.studio.frames import DEFAULT_QUALITY, ENCODINGS, Encodings, FrameTap

log = logging.getLogger(__name__)

#: Messages a client may have unacknowledged.
WINDOW = 3
#: Seconds between status messages.
STATUS_PERIOD_S = 0.2
#: Longest message accepted from a page, bytes.
MAX_MESSAGE_BYTES = 4096
_ids = itertools.count(1)


class ClientMessageError(ValueError):
    """A message from a page that is not one the studio understands; the message says what was wrong."""


def parse_client_message(text: Any) -> dict:
    """The validated message ``text`` (a JSON object); raises :class:`ClientMessageError`."""
    if not isinstance(text, str):
        raise ClientMessageError("binary messages are not accepted; send JSON text")
    if len(text) > MAX_MESSAGE_BYTES:
        raise ClientMessageError(f"message of {len(text)} characters (at most {MAX_MESSAGE_BYTES})")
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise ClientMessageError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ClientMessageError("a message is a JSON object with a 'type'")
    kind = message["type"]
    if kind == "ack":
        return {"type": "ack"}
    if kind == "clock":
        t = message.get("t_page_ms")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise ClientMessageError("clock needs t_page_ms, a number of milliseconds")
        return {"type": "clock", "t_page_ms": float(t)}
    if kind == "hello":
        encoding = message.get("encoding", "auto")
        quality = message.get("quality", DEFAULT_QUALITY)
        status = message.get("status", True)
        max_fps = message.get("max_fps")
        if max_fps is not None and (isinstance(max_fps, bool) or not isinstance(max_fps, (int, float))
                                    or not 1 <= max_fps <= 240):
            raise ClientMessageError("max_fps is null or a number from 1 to 240")
        if encoding != "auto" and encoding not in ENCODINGS:
            raise ClientMessageError(f"encoding {encoding!r}: choose auto or one of {', '.join(ENCODINGS)}")
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise ClientMessageError("quality is a whole number from 1 to 100")
        if not isinstance(status, bool):
            raise ClientMessageError("status is true or false")
        return {"type": "hello", "encoding": encoding, "quality": quality, "status": status, "max_fps": max_fps}
    raise ClientMessageError(f"unknown message type {kind!r} (hello, ack or clock)")


class BrowserClient:
    """Serves one accepted WebSocket until it closes.

    Args:
        ws: the accepted WebSocket.
        tap: the engine's frames.
        encodings: the shared encoder.
        status: makes the status message (a dict), called at most every :data:`STATUS_PERIOD_S` per client.
        auto_encoding: what ``auto`` means for this session (``jpeg+alpha`` for a transparent background).
        sharing: how many pages share the preview rate now (:meth:`ClientHub.rate_limited`); None: this page's
            own ``max_fps`` alone.
    """

    def __init__(self, ws: WebSocket, *, tap: FrameTap, encodings: Encodings, status: Callable[[], dict],
                 auto_encoding: str, sharing: Optional[Callable[[], int]] = None) -> None:
        self.id = next(_ids)
        self._ws = ws
        self._tap = tap
        self._encodings = encodings
        self._status = status
        self._auto = auto_encoding
        self.encoding = auto_encoding
        self.quality = DEFAULT_QUALITY
        self.wants_status = True
        self.min_frame_interval_s = 0.0
        self._sharing = sharing
        self._last_frame_s = 0.0
        self.credit = WINDOW
        self.frames_sent = 0
        self.rejected_messages = 0
        self.encode_errors = 0
        self._sent_seq = 0
        self._last_status = 0.0
        self.wake = asyncio.Event()
        self.wake.set()

    @property
    def in_flight(self) -> int:
        return WINDOW - self.credit

    def describe(self) -> dict:
        return {"id": self.id, "encoding": self.encoding, "frames_sent": self.frames_sent,
                "in_flight": self.in_flight, "rejected_messages": self.rejected_messages,
                "encode_errors": self.encode_errors}

    async def serve(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        ticker = asyncio.create_task(self._tick())
        try:
            await self._receive_loop()
        finally:
            sender.cancel()
            ticker.cancel()
            await asyncio.gather(sender, ticker, return_exceptions=True)

    async def _receive_loop(self) -> None:
        while True:
            try:
                raw = await self._ws.receive()
            except WebSocketDisconnect:
                return
            if raw["type"] == "websocket.disconnect":
                return
            try:
                message = parse_client_message(raw.get("text") if raw.get("text") is not None else raw.get("bytes"))
            except ClientMessageError as exc:
                self.rejected_messages += 1
                log.debug("client %d: rejected a message: %s", self.id, exc)
                await self._ws.send_text(json.dumps({"type": "error", "error": str(exc)}))
                continue
            kind = message["type"]
            if kind == "ack":
                self.credit = min(WINDOW, self.credit + 1)
                self.wake.set()
            elif kind == "clock":
                await self._ws.send_text(json.dumps({"type": "clock", "t_page_ms": message["t_page_ms"],
                                                     "t_server_ms": time.time_ns() / 1e6}))
            else:
                self.encoding = self._auto if message["encoding"] == "auto" else message["encoding"]
                self.quality = message["quality"]
                self.wants_status = message["status"]
                self.min_frame_interval_s = 1.0 / message["max_fps"] if message["max_fps"] else 0.0
                self.wake.set()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(STATUS_PERIOD_S)
            self.wake.set()

    async def _send_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.credit > 0:
                now = time.monotonic()
                if self.wants_status and now - self._last_status >= STATUS_PERIOD_S:
                    self._last_status = now
                    status = self._status()
                    status["client"] = self.describe()
                    self.credit -= 1
                    await self._ws.send_text(json.dumps(status))
                    continue
                seq, frame = self._tap.seq, self._tap.latest
                if frame is None or seq == self._sent_seq:
                    break
                interval_s = self.min_frame_interval_s
                if interval_s and self._sharing is not None:
                    interval_s *= max(1, self._sharing())
                wait_s = self._last_frame_s + interval_s - now
                if wait_s > 0:  # this page asked for fewer frames: the newest one goes when it is due
                    asyncio.get_running_loop().call_later(wait_s, self.wake.set)
                    break
                self._last_frame_s = now
                self._sent_seq = seq
                try:
                    data = await self._encodings.get(frame, seq=seq, encoding=self.encoding, quality=self.quality)
                except Exception as exc:  # a frame that cannot be encoded is skipped; the next one is tried
                    self.encode_errors += 1
                    log.debug("client %d: frame %d not encoded as %s: %s", self.id, seq, self.encoding, exc)
                    continue
                self.credit -= 1
                await self._ws.send_bytes(data)
                self.frames_sent += 1


class ClientHub:
    """The connected clients; :meth:`wake_all` (on the event loop) tells each that a frame arrived."""

    def __init__(self) -> None:
        self.clients: dict[int, BrowserClient] = {}

    def wake_all(self) -> None:
        for client in self.clients.values():
            client.wake.set()

    def describe(self) -> list[dict]:
        return [c.describe() for c in self.clients.values()]

    def rate_limited(self) -> int:
        """How many clients asked for a frame rate (``max_fps``) and can take a frame now: they share it. A page
        that holds all its credit (paused, hidden, or too slow to acknowledge) takes no share."""
        return sum(1 for c in self.clients.values() if c.min_frame_interval_s > 0.0 and c.credit > 0)

    def add(self, client: BrowserClient) -> None:
        self.clients[client.id] = client

    def remove(self, client: BrowserClient) -> None:
        self.clients.pop(client.id, None)


def notify_from_thread(loop: asyncio.AbstractEventLoop, hub: ClientHub) -> Callable[[], None]:
    """A function the engine's thread can call to wake the hub's clients on ``loop``."""
    def notify() -> None:
        if hub.clients and not loop.is_closed():
            loop.call_soon_threadsafe(hub.wake_all)
    return notify


__all__ = ["BrowserClient", "ClientHub", "ClientMessageError", "parse_client_message", "notify_from_thread",
           "WINDOW", "STATUS_PERIOD_S"]

