"""The UDP runner shared by the network sources.

:class:`UdpSource` owns one datagram socket:

- ``open()`` binds it (127.0.0.1 unless the user opts in to more) and raises
  :class:`SourceError` saying what to do when that fails (port in use, an
  address that is not this computer's, a privileged port).
- ``run()`` receives with a :data:`RECV_TIMEOUT_S` timeout, so ``stop`` is
  noticed within about 0.1 s; takes every datagram already waiting, hands each
  to the source's pure parser (:meth:`UdpSource.parse`) in order, and emits only
  the newest sample of the batch (newest wins: after a stall the renderer gets
  the current face, not the backlog; ``self.superseded`` counts the rest);
  counts the rejections in ``self.rejections``. A datagram over
  :data:`MAX_DATAGRAM_BYTES` is rejected as ``oversized`` without being parsed.
  Nothing a peer sends can end ``run``.
- Sources that must speak first (iFacialMocap's handshake, VTube Studio's
  request renewal) derive from :class:`PhoneUdpSource` and give only their
  greeting and when to repeat it; it is sent from the bound socket (so the phone
  answers to the port we listen on) at ``open()`` and from
  :meth:`UdpSource.on_tick`, which ``run`` calls about every :data:`TICK_S` seconds.
- ``close()`` closes the socket; it may be called more than once.

The receive path does no per-datagram setup: peers are resolved once, and
logging is at TRACE level only.
"""

from __future__ import annotations

import abc
import errno
import ipaddress
import logging
import math
import select
import socket
import threading
import time
from typing import Optional, Union

from facecast.engine.diagnostics import TRACE
from facecast.engine.sources.base import Emit, Rejection, Source, SourceError
from facecast.engine.types import FaceSample

log = logging.getLogger(__name__)

#: Largest datagram accepted, bytes. Every supported app sends under 4 KiB.
MAX_DATAGRAM_BYTES = 16384
#: Most datagrams taken from the socket in one batch (newest wins within a batch).
MAX_DRAIN = 256
#: Receive timeout, seconds: the longest ``run`` takes to notice ``stop``.
RECV_TIMEOUT_S = 0.1
#: Interval between :meth:`UdpSource.on_tick` calls, seconds.
TICK_S = 0.1

#: What a source's parser returns for one datagram: a sample, a rejection, or
#: None for valid input that completes no sample (VMC before its Apply).
ParseResult = Union[FaceSample, Rejection, None]

# ICMP "port unreachable" for a datagram we sent can surface on the next
# receive (always on Windows): not an input, not an error of ours.
_PEER_GONE = {errno.ECONNREFUSED, errno.ECONNRESET}


def is_loopback(host: str) -> bool:
    """True for a literal loopback address or ``localhost``; False for anything else."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class UdpSource(Source):
    """Base of the UDP sources: bind, receive, parse, emit, count.

    Args:
        host: local address to bind.
        port: local port; 0 picks a free one (read it from :attr:`local_port`).
    """

    def __init__(self, *, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._sock: Optional[socket.socket] = None
        self._send_failed = False
        #: Valid samples not emitted because a newer one arrived in the same batch.
        self.superseded = 0

    # -- to implement ------------------------------------------------------- #

    @abc.abstractmethod
    def parse(self, data: bytes, received_ns: int) -> ParseResult:
        """Turn one datagram into a sample, a rejection, or None (valid, no sample yet).

        ``received_ns`` is the wall clock at receipt (``time.time_ns()``)."""

    def on_tick(self, now_s: float, last_data_s: Optional[float]) -> None:
        """Called from ``run`` about every :data:`TICK_S`; send handshakes here.

        Args:
            now_s: ``time.monotonic()`` now.
            last_data_s: ``time.monotonic()`` at the last datagram received, None
                before the first.
        """

    # -- lifecycle ---------------------------------------------------------- #

    @property
    def local_port(self) -> int:
        """The bound UDP port (useful after binding port 0)."""
        if self._sock is None:
            raise SourceError(f"{self.name}: the source is not open")
        return self._sock.getsockname()[1]

    def open(self) -> None:
        if self._sock is not None:
            return
        host = self._host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((host, self._port))
        except OSError as exc:
            sock.close()
            raise SourceError(self._bind_error(host, exc)) from None
        sock.settimeout(RECV_TIMEOUT_S)
        self._sock = sock
        log.info("%s: listening on UDP %s:%d", self.name, host, self.local_port)

    def _bind_error(self, host: str, exc: OSError) -> str:
        where = f"UDP {host}:{self._port}"
        if exc.errno == errno.EADDRINUSE:
            return (f"{self.name}: {where} is already in use (another facecast, or another program "
                    f"receiving this tracker); stop that program, or choose another port (and enter "
                    f"it in the app too, where the app asks for one)")
        if exc.errno == errno.EACCES:
            return f"{self.name}: {where} needs administrator rights; choose a port above 1023"
        if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
            return (f"{self.name}: cannot listen on {host!r}: it is not an address of this computer; "
                    f"use 127.0.0.1 (this computer only) or 0.0.0.0 (all networks: needed for a "
                    f"phone on Wi-Fi, --source-bind 0.0.0.0)")
        return f"{self.name}: cannot listen on {where}: {exc.strerror or exc}"

    def resolve_peer(self, host: str, port: int) -> tuple:
        """The socket address of the phone, resolved once (at ``open``, after binding).

        Raises:
            SourceError: the name does not resolve, or the phone could not reach
                us because we listen on loopback only. The socket is closed first.
        """
        assert self._sock is not None, "resolve_peer() needs an open socket"
        try:
            address = socket.getaddrinfo(host.strip("[]"), port, self._sock.family, socket.SOCK_DGRAM)[0][4]
        except (socket.gaierror, UnicodeError) as exc:
            problem = (f"cannot resolve the phone's address {host!r} ({exc}); "
                       f"enter the IP address the app shows")
        else:
            if not is_loopback(self._host) or is_loopback(address[0]):
                return address
            problem = (f"facecast listens on {self._host} (this computer only), so the phone at {host} "
                       f"cannot reach it; add --source-bind 0.0.0.0")
        self.close()
        raise SourceError(f"{self.name}: {problem}")

    def send(self, data: bytes, address: tuple) -> None:
        """Send ``data`` from the bound socket (replies then come back to it).

        The first failure is logged at WARNING; later ones at TRACE."""
        sock = self._sock
        if sock is None:
            return
        try:
            sock.sendto(data, address)
        except OSError as exc:
            if not self._send_failed:
                self._send_failed = True
                log.warning("%s: cannot send to %s:%s (%s); is the phone on this network? "
                            "(further send failures are not logged)", self.name, address[0], address[1],
                            exc.strerror or exc)
            else:
                log.log(TRACE, "%s: send to %s failed: %s", self.name, address, exc)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        sock = self._sock
        if sock is None:
            raise SourceError(f"{self.name}: run() called before open()")
        last_data_s: Optional[float] = None
        now_s = time.monotonic()
        next_tick_s = now_s
        while not stop.is_set():
            if now_s >= next_tick_s:
                self.on_tick(now_s, last_data_s)
                next_tick_s = now_s + TICK_S
            try:
                batch = [(sock.recv(MAX_DATAGRAM_BYTES + 1), time.time_ns())]
            except socket.timeout:
                now_s = time.monotonic()
                continue
            except OSError as exc:
                if self._sock is None or stop.is_set():
                    return  # closed under us while stopping
                if exc.errno in _PEER_GONE:
                    now_s = time.monotonic()
                    continue
                raise
            self._drain(sock, batch)
            now_s = last_data_s = time.monotonic()
            # Every waiting datagram is parsed in order (stateful formats, rejection counts),
            # but only the newest sample is emitted: a backlog never reaches the renderer.
            newest = None
            for data, received_ns in batch:
                sample = self._parse_one(data, received_ns)
                if sample is not None:
                    self.superseded += newest is not None
                    newest = sample
            if newest is not None:
                emit(newest)

    @staticmethod
    def _drain(sock: socket.socket, batch: list) -> None:
        """Append the datagrams already waiting (at most :data:`MAX_DRAIN`) without blocking."""
        while len(batch) < MAX_DRAIN and select.select([sock], [], [], 0)[0]:
            try:
                batch.append((sock.recv(MAX_DATAGRAM_BYTES + 1), time.time_ns()))
            except OSError as exc:
                if exc.errno not in _PEER_GONE:
                    return  # the blocking receive will report it

    def _parse_one(self, data: bytes, received_ns: int) -> Optional[FaceSample]:
        """The sample in one datagram, or None (a rejection is counted once, here)."""
        if len(data) > MAX_DATAGRAM_BYTES:
            self.rejections.add(Rejection("oversized", f"datagram over {MAX_DATAGRAM_BYTES} bytes"))
            return None
        try:
            result = self.parse(data, received_ns)
        except Exception as exc:  # a parser bug must not end the stream: count it
            log.debug("%s: parser raised", self.name, exc_info=exc)
            result = Rejection("parser-error", f"{type(exc).__name__}: {exc}")
        if isinstance(result, Rejection):
            self.rejections.add(result)
            return None
        if result is not None:
            log.log(TRACE, "%s: sample of %d bytes", self.name, len(data))
        return result

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


class PhoneUdpSource(UdpSource):
    """A UDP source that must speak first: it sends :meth:`greeting` to the phone
    at ``open()`` and again whenever :meth:`greeting_due` says so (iFacialMocap's
    handshake, VTube Studio's tracking request). The phone's address is resolved
    once, at ``open()``.

    Args:
        phone_host: the phone's IP address (the app shows it).
        phone_port: the app's UDP port on the phone.
        bind_host, port: as :class:`UdpSource`.
    """

    def __init__(self, *, phone_host: str, phone_port: int, bind_host: str, port: int) -> None:
        super().__init__(host=bind_host, port=port)
        self._phone_host = phone_host
        self._phone_port = phone_port
        self._phone: Optional[tuple] = None
        self._greeting = b""
        self._last_greeting_s = -math.inf

    @abc.abstractmethod
    def greeting(self) -> bytes:
        """The datagram that asks the phone to stream (built once, at ``open()``)."""

    @abc.abstractmethod
    def greeting_due(self, now_s: float, last_data_s: Optional[float], last_greeting_s: float) -> bool:
        """Whether to send the greeting again now (monotonic seconds; ``last_data_s``
        None before the first datagram)."""

    def open(self) -> None:
        super().open()
        self._phone = self.resolve_peer(self._phone_host, self._phone_port)
        self._greeting = self.greeting()
        self._greet(time.monotonic())

    def _greet(self, now_s: float) -> None:
        self.send(self._greeting, self._phone)
        self._last_greeting_s = now_s

    def on_tick(self, now_s: float, last_data_s: Optional[float]) -> None:
        if self.greeting_due(now_s, last_data_s, self._last_greeting_s):
            self._greet(now_s)

