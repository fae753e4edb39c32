"""The UDP runner shared by the network sources.

A :class:`UdpSource` binds one datagram socket, receives with a short timeout
(so ``stop`` is noticed within ~0.1 s), hands each datagram to the source's
pure parser, emits samples and counts rejections. Sources that must talk first
(handshakes, subscription renewals) override :meth:`on_tick`.
"""

from __future__ import annotations

import abc
import errno
import logging
import socket
import threading
import time
from typing import Optional, Union

from facecast.engine.diagnostics import TRACE
from facecast.engine.sources.base import Emit, Rejection, Source, SourceError
from facecast.engine.types import FaceSample

log = logging.getLogger(__name__)

#: Largest datagram accepted; longer ones are rejected as ``oversized``.
MAX_DATAGRAM_BYTES = 16384
RECV_TIMEOUT_S = 0.1

ParseResult = Union[FaceSample, Rejection, None]


class UdpSource(Source):
    """Base of the UDP sources.

    Args:
        host: local address to bind (127.0.0.1 unless the user opts in to more).
        port: local port; 0 picks a free one (see :attr:`local_port`).
    """

    def __init__(self, *, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._sock: Optional[socket.socket] = None

    @property
    def local_port(self) -> int:
        if self._sock is None:
            raise SourceError(f"{self.name}: not open")
        return self._sock.getsockname()[1]

    def open(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise SourceError(f"{self.name}: UDP port {self._port} on {self._host} is in use; close the "
                                  "other program listening there or pick another port") from None
            raise SourceError(f"{self.name}: cannot listen on {self._host}:{self._port}: {exc.strerror or exc}; "
                              "check --source-bind / the spec's HOST") from None
        sock.settimeout(RECV_TIMEOUT_S)
        self._sock = sock
        log.info("%s: listening on UDP %s:%d", self.name, self._host, self.local_port)

    @abc.abstractmethod
    def parse(self, data: bytes, received_ns: int) -> ParseResult:
        """Turn one datagram into a sample, a rejection, or None (valid, no sample)."""

    def on_tick(self, sock: socket.socket, now_s: float, last_data_s: Optional[float]) -> None:
        """Called about every 0.1 s on the source thread; send handshakes here."""

    def run(self, emit: Emit, stop: threading.Event) -> None:
        sock = self._sock
        if sock is None:
            raise SourceError(f"{self.name}: run() before open()")
        last_data_s: Optional[float] = None
        while not stop.is_set():
            self.on_tick(sock, time.monotonic(), last_data_s)
            try:
                data = sock.recv(MAX_DATAGRAM_BYTES + 1)
            except socket.timeout:
                continue
            except OSError as exc:
                if stop.is_set() or self._sock is None:
                    return
                if exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
                    continue  # an ICMP "port unreachable" for a handshake we sent
                raise
            received_ns = time.time_ns()
            last_data_s = time.monotonic()
            if len(data) > MAX_DATAGRAM_BYTES:
                self.rejections.add(Rejection("oversized", f"datagram over {MAX_DATAGRAM_BYTES} bytes"))
                continue
            result = self.parse(data, received_ns)
            if isinstance(result, Rejection):
                self.rejections.add(result)
            elif result is not None:
                log.log(TRACE, "%s: sample", self.name)
                emit(result)

    def send(self, data: bytes, address: tuple[str, int]) -> None:
        """Send from the bound socket (so replies come back to it)."""
        if self._sock is not None:
            try:
                self._sock.sendto(data, address)
            except OSError as exc:
                log.debug("%s: send to %s failed: %s", self.name, address, exc)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
