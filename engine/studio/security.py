"""Who may use the studio: an ASGI guard in front of every HTTP request and WebSocket.

- **Host** (local mode): the request must name the studio by a loopback address (``127.0.0.1``,
  ``localhost``, ``[::1]``), so a web page cannot reach it through a DNS name that it points at 127.0.0.1
  (DNS rebinding).
- **Origin**: a WebSocket, and any request but GET and HEAD, must come from the studio's own pages (a
  browser sends ``Origin``; a request from another site's page is refused, as is a cross-site form post).
  Tools that send no ``Origin`` (curl, OBS's browser source loading a page) pass this check.
- **Token** (``--allow-remote``): every request needs the random token printed at start, as ``?token=``
  (which also sets a cookie for the page's own requests), the cookie, or ``Authorization: Bearer``. It is
  compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
from http.cookies import SimpleCookie
from typing import Optional
from urllib.parse import parse_qs, urlsplit

COOKIE = "facecast_token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def new_token() -> str:
    """A random access token (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _host_name(host_header: str) -> str:
    return urlsplit(f"//{host_header}").hostname or ""


class Guard:
    """ASGI middleware: refuses what the module docstring says, before ``app`` sees it.

    Args:
        app: the studio's ASGI app.
        token: the access token, or None (local mode: no token, loopback Host only).
    """

    def __init__(self, app, *, token: Optional[str]) -> None:
        self.app = app
        self.token = token
        self.refused = 0

    def _presented_token(self, scope, headers: dict[str, str]) -> tuple[Optional[str], bool]:
        """(the token the request carries, whether it came in the query string)."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0], True
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header carries no token
            return None, False
        return (cookie[COOKIE].value if COOKIE in cookie else None), False

    def check(self, scope) -> tuple[Optional[str], bool]:
        """(why the request is refused or None, whether to set the token cookie)."""
        headers = _headers(scope)
        host = headers.get("host", "")
        if self.token is None and _host_name(host) not in LOOPBACK_HOSTS:
            return f"host {host!r} is not this machine's loopback address (use http://127.0.0.1:PORT/)", False
        origin = headers.get("origin")
        unsafe = scope["type"] == "websocket" or scope.get("method", "GET") not in ("GET", "HEAD")
        if unsafe and origin is not None and urlsplit(origin).netloc != host:
            return f"origin {origin!r} is not this studio's page", False
        if self.token is None:
            return None, False
        presented, in_query = self._presented_token(scope, headers)
        if presented is None or not hmac.compare_digest(presented.encode(), self.token.encode()):
            return "this studio needs its access token (printed when it started): open the URL it printed", False
        return None, in_query

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        reason, set_cookie = self.check(scope)
        if reason is not None:
            self.refused += 1
            if scope["type"] == "websocket":
                await receive()  # websocket.connect; closing before accepting answers the handshake with 403
                await send({"type": "websocket.close", "code": 4403, "reason": reason[:120]})
                return
            body = (reason + "\n").encode()
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if not set_cookie:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)
        await self.app(scope, receive, send_with_cookie)
