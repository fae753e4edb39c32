"""The studio's web app (Starlette): the pages, the JSON API and the WebSocket.

| path | what |
|---|---|
| ``GET /`` | the control page |
| ``GET /view`` | the avatar alone, for OBS's Browser Source (``?bg=transparent|green|#rrggbb``) |
| ``GET /static/...`` | the pages' scripts and styles (shipped in the package; no build step) |
| ``GET /api/state`` | the choices and current settings |
| ``GET /api/status`` | the live status (what the WebSocket's status messages carry) |
| ``POST /api/source`` | ``{"spec": "livelink:11111", "lan": false}`` (``lan``: listen on every interface) |
| ``POST /api/renderer`` | ``{"name": "portrait", "portrait": ID}`` (``portrait`` optional) |
| ``GET /api/portraits``, ``POST /api/portraits`` | the portraits; an upload is the raw image as the body |
| ``POST /api/portraits/check`` | ``{"id": ID}``: ``facecast portrait check``'s result |
| ``POST /api/calibrate`` | ``{"step": "neutral"|"range", "seconds": S, "profile": NAME}`` |
| ``POST /api/profile`` | ``{"name": NAME}`` (``null``: no profile) |
| ``POST /api/stream`` | ``{"running": true|false}`` |
| ``WS /ws`` | frames and status out, small JSON messages in (:mod:`.clients`) |

A refused change answers 400 (or 404, 413, 415) with ``{"error": ...}``; the engine keeps running.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from facecast.engine.studio.clients import BrowserClient
from facecast.engine.studio.controller import Studio, StudioError
from facecast.engine.studio.frames import Encodings
from facecast.engine.studio.portraits import UploadError
from facecast.engine.studio.security import Guard

log = logging.getLogger(__name__)

STATIC = Path(str(resources.files("facecast.engine.studio") / "static"))
#: Largest JSON body accepted, bytes.
MAX_JSON_BYTES = 16_384
_NO_CACHE = {"Cache-Control": "no-store"}


class BadRequest(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past ``limit`` bytes without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadError(f"the body has {declared} bytes; at most {limit} are accepted", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadError(f"the body is over {limit} bytes; at most {limit} are accepted", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> dict:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest("send JSON with Content-Type: application/json", 415)
    try:
        data = json.loads(await _body(request, MAX_JSON_BYTES))
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body is a JSON object")
    return data


def create_app(studio: Studio, *, token: str | None, max_upload_bytes: int) -> Guard:
    """The studio's ASGI app, behind its :class:`~.security.Guard`."""
    encodings = Encodings()
    auto_encoding = "jpeg+alpha" if studio.spec.options.background.transparent else "jpeg"

    def api(handler):
        async def endpoint(request: Request):
            try:
                return JSONResponse(await handler(request), headers=_NO_CACHE)
            except (StudioError, UploadError, BadRequest) as exc:
                return JSONResponse({"error": str(exc)}, status_code=getattr(exc, "status", 400), headers=_NO_CACHE)
        return endpoint

    async def index(request: Request):
        return FileResponse(STATIC / "index.html", headers=_NO_CACHE)

    async def view(request: Request):
        return FileResponse(STATIC / "view.html", headers=_NO_CACHE)

    async def state(request: Request) -> dict:
        return studio.state()

    async def status(request: Request) -> dict:
        return studio.status()

    async def source(request: Request) -> dict:
        data = await _json(request)
        return await studio.set_source(data.get("spec"), lan=data.get("lan", False))

    async def renderer(request: Request) -> dict:
        data = await _json(request)
        return await studio.set_renderer(data.get("name"), data.get("portrait"))

    async def portraits(request: Request) -> dict:
        if request.method == "GET":
            return {"portraits": studio.portraits.describe()}
        kind = request.headers.get("content-type", "")
        if not kind.startswith("image/"):
            raise UploadError("upload the photo itself as the body, with an image/... Content-Type", status=415)
        return await studio.upload_portrait(await _body(request, max_upload_bytes))

    async def check(request: Request) -> dict:
        return await studio.check_portrait((await _json(request)).get("id"))

    async def calibrate(request: Request) -> dict:
        data = await _json(request)
        return await studio.calibrate(data.get("step"), seconds=data.get("seconds", 3.0),
                                      profile=data.get("profile"))

    async def profile(request: Request) -> dict:
        return await studio.use_profile((await _json(request)).get("name"))

    async def stream(request: Request) -> dict:
        running = (await _json(request)).get("running")
        if not isinstance(running, bool):
            raise BadRequest("running is true or false")
        return await studio.set_running(running)

    async def websocket(ws: WebSocket) -> None:
        await ws.accept()
        client = BrowserClient(ws, tap=studio.tap, encodings=encodings, status=studio.status,
                               auto_encoding=auto_encoding, sharing=studio.hub.rate_limited)
        studio.hub.add(client)
        log.debug("browser %d connected", client.id)
        try:
            await client.serve()
        except Exception as exc:  # a connection that breaks mid-send: that client is gone, nothing else
            log.debug("browser %d: %s", client.id, exc)
        finally:
            studio.hub.remove(client)
            log.debug("browser %d left", client.id)

    routes = [
        Route("/", index), Route("/view", view),
        Route("/api/state", api(state)),
        Route("/api/status", api(status)),
        Route("/api/source", api(source), methods=["POST"]),
        Route("/api/renderer", api(renderer), methods=["POST"]),
        Route("/api/portraits", api(portraits), methods=["GET", "POST"]),
        Route("/api/portraits/check", api(check), methods=["POST"]),
        Route("/api/calibrate", api(calibrate), methods=["POST"]),
        Route("/api/profile", api(profile), methods=["POST"]),
        Route("/api/stream", api(stream), methods=["POST"]),
        WebSocketRoute("/ws", websocket),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Guard(Starlette(routes=routes), token=token)
