"""The ZeroMQ publisher: sends frames and the parameter feed (bridge protocol v1).

It binds a PUB socket to 127.0.0.1 unless the user opts in to another interface,
which then should be protected with CURVE keys (:func:`load_curve_keys`).
"""

from __future__ import annotations

import io
import ipaddress
import logging
import socket
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import zmq

from facecast.bridge.protocol import encode_params, encode_picture
from facecast.engine.diagnostics import TRACE
from facecast.engine.types import Frame

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5570"
#: Messages queued per subscriber before new ones are dropped.
SEND_HWM = 4
#: Kernel send buffer per connection. A fixed size (instead of TCP autotuning up to
#: several MiB) bounds how much a slow subscriber can fall behind; measured on
#: loopback it costs no throughput for 1 MiB frames.
SEND_BUFFER_BYTES = 256 * 1024


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for loopback endpoints)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EndpointError(ValueError):
    """The endpoint is malformed or would expose the stream without an explicit opt-in."""


def is_loopback_endpoint(endpoint: str) -> bool:
    """True for ``tcp://`` on a loopback address, and for ``ipc://`` / ``inproc://``."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp" or not rest:
        raise EndpointError(f"endpoint {endpoint!r} is not tcp://HOST:PORT, ipc://PATH or inproc://NAME")
    host = urlsplit(f"//{rest}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # '*', an interface name or a host name: not loopback


def load_curve_keys(path: str | Path) -> tuple[bytes, Optional[bytes]]:
    """(public, secret) Z85 keys from a ZeroMQ certificate file (``zmq.auth`` format).

    Create a pair with ``facecast keys create DIR``. A ``.key`` file holds only the
    public key (secret is None); ``.key_secret`` holds both.
    """
    import zmq.auth

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CURVE key file {path} not found; create keys with 'facecast keys create DIR'")
    public, secret = zmq.auth.load_certificate(str(path))
    return public, secret


class Publisher:
    """PUB socket that sends each :class:`Frame` as protocol v1 messages.

    Args:
        endpoint: where to bind, e.g. ``tcp://127.0.0.1:5570``.
        allow_remote: required to bind anything but loopback.
        curve_secret_file: a ``.key_secret`` certificate; enables CURVE (server side).
        curve_clients_dir: with CURVE, accept only clients whose public ``.key``
            files are in this folder (None: any client holding the server key).
        jpeg_quality: send pictures as JPEG at this quality (1-100) instead of raw.
        with_crc32: add a CRC-32 of each payload to the header (test mode).
        context: a zmq.Context to use (default: a private one, terminated on close).
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *, allow_remote: bool = False,
                 curve_secret_file: Optional[str | Path] = None,
                 curve_clients_dir: Optional[str | Path] = None,
                 jpeg_quality: Optional[int] = None, with_crc32: bool = False,
                 context: Optional[zmq.Context] = None) -> None:
        if not is_loopback_endpoint(endpoint) and not allow_remote:
            raise EndpointError(
                f"{endpoint} is not a loopback address: other machines could watch the stream. "
                "Pass --allow-remote to bind it (and --curve-secret to encrypt it).")
        if jpeg_quality is not None and not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
        self.endpoint = endpoint
        self._own_context = context is None
        self._ctx = context or zmq.Context()
        self._auth = None
        self._jpeg_quality = jpeg_quality
        self._with_crc32 = with_crc32
        self._seq = 0
        #: Messages handed to ZeroMQ. A PUB socket drops silently, per subscriber, at
        #: the high-water mark; receivers see those drops as gaps in ``seq``.
        self.sent_messages = 0
        self._sock = self._ctx.socket(zmq.PUB)
        try:
            self._sock.setsockopt(zmq.SNDHWM, SEND_HWM)
            self._sock.setsockopt(zmq.SNDBUF, SEND_BUFFER_BYTES)
            self._sock.setsockopt(zmq.LINGER, 200)
            self._sock.setsockopt(zmq.IMMEDIATE, 1)
            if curve_secret_file is not None:
                self._setup_curve(curve_secret_file, curve_clients_dir)
            self._sock.bind(endpoint)
            self.bound_endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        except Exception:
            self.close()
            raise
        log.info("publishing on %s", self.bound_endpoint)

    def _setup_curve(self, secret_file, clients_dir) -> None:
        public, secret = load_curve_keys(secret_file)
        if secret is None:
            raise ValueError(f"{secret_file} holds no secret key; pass the .key_secret file")
        if clients_dir is not None:
            from zmq.auth.thread import ThreadAuthenticator
            self._auth = ThreadAuthenticator(self._ctx)
            self._auth.start()
            self._auth.configure_curve(domain="*", location=str(clients_dir))
        self._sock.curve_secretkey = secret
        self._sock.curve_publickey = public
        self._sock.curve_server = True

    @property
    def next_seq(self) -> int:
        return self._seq

    def publish(self, frame: Frame) -> int:
        """Send ``frame``: the params message, then the picture if it has pixels.

        Never blocks: a subscriber over its high-water mark loses the message.
        Returns the frame's ``seq``.
        """
        seq = self._seq
        self._seq += 1
        self._send(encode_params(frame, seq=seq, t_send_ns=time.time_ns()))
        if frame.pixels is not None:
            jpeg = self._encode_jpeg(frame) if self._jpeg_quality else None
            self._send(encode_picture(frame, seq=seq, t_send_ns=time.time_ns(), jpeg=jpeg,
                                      with_crc32=self._with_crc32))
        log.log(TRACE, "published seq %d", seq)
        return seq

    def _send(self, parts: list) -> None:
        # PUB never blocks and never raises EAGAIN at the high-water mark: it drops.
        self._sock.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
        self.sent_messages += 1

    def _encode_jpeg(self, frame: Frame) -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(frame.pixel_format.rgb(frame.pixels)).save(buf, format="JPEG", quality=self._jpeg_quality)
        return buf.getvalue()

    def close(self) -> None:
        """Close the socket (and the private context). Safe to call twice."""
        if self._sock is not None and not self._sock.closed:
            self._sock.close()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._own_context and not self._ctx.closed:
            self._ctx.term()

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
