"""The reference receiver: a SUB socket that decodes and validates protocol v1.

:class:`Receiver` is the library piece (used by tests, benchmarks and tools);
:func:`receive_main` is ``facecast receive``, which prints latency and fps and
can save the pictures.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import zmq

from facecast.bridge.protocol import Message, ProtocolError, TOPIC_FRAME, TOPIC_PARAMS, VersionError, decode
from facecast.bridge.publisher import load_curve_keys
from facecast.engine.diagnostics import Timings


log = logging.getLogger(__name__)

RECV_HWM = 4
#: Latencies kept for the closing summary of ``facecast receive`` (about 28 min at 60 fps).
LATENCY_HISTORY = 100_000
RECV_BUFFER_BYTES = 256 * 1024


class Receiver:
    """SUB socket connected to a facecast publisher.

    Args:
        endpoint: the publisher's endpoint, e.g. ``tcp://127.0.0.1:5570``.
        topics: topics to subscribe to; ``(TOPIC_PARAMS,)`` receives no pixels.
        curve_server_key: the publisher's public Z85 key when it uses CURVE.
        curve_client_keys: this client's (public, secret) pair; generated when
            None and CURVE is used.

    Malformed messages are counted in ``rejected`` by reason and skipped. A
    newer protocol major version is logged once and kept in ``version_error``.
    """

    def __init__(self, endpoint: str, *, topics: Sequence[bytes] = (TOPIC_FRAME,),
                 curve_server_key: Optional[bytes] = None,
                 curve_client_keys: Optional[tuple[bytes, bytes]] = None,
                 context: Optional[zmq.Context] = None) -> None:
        self._own_context = context is None
        self._ctx = context or zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.RCVHWM, RECV_HWM)
        self._sock.setsockopt(zmq.RCVBUF, RECV_BUFFER_BYTES)
        self._sock.setsockopt(zmq.LINGER, 0)
        if curve_server_key is not None:
            public, secret = curve_client_keys or zmq.curve_keypair()
            self._sock.curve_serverkey = curve_server_key
            self._sock.curve_publickey = public
            self._sock.curve_secretkey = secret
        for topic in topics:
            self._sock.setsockopt(zmq.SUBSCRIBE, topic)
        self._sock.connect(endpoint)
        self._poller = zmq.Poller()
        self._poller.register(self._sock, zmq.POLLIN)
        self.rejected: Counter[str] = Counter()
        self.version_error: Optional[VersionError] = None

    def recv(self, timeout_s: float) -> Optional[Message]:
        """The next valid message, or None if none arrived within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            if not self._poller.poll(remaining_ms):
                return None
            msg = self._decode(self._sock.recv_multipart(copy=False))
            if msg is not None:
                return msg

    def recv_latest(self, timeout_s: float) -> Optional[Message]:
        """The newest valid message: waits up to ``timeout_s`` for one, then takes
        everything already queued and decodes only the newest (falling back to older
        ones if it is malformed). Use it to stay current when processing is slower
        than the stream (PROTOCOL.md 1.3); skipped messages show as ``seq`` gaps.
        Returns None when nothing arrived in time or everything pending was malformed."""
        if not self._poller.poll(max(0, int(timeout_s * 1000))):
            return None
        pending = [self._sock.recv_multipart(copy=False)]
        while self._sock.poll(0):
            pending.append(self._sock.recv_multipart(copy=False))
        for parts in reversed(pending):
            msg = self._decode(parts)
            if msg is not None:
                return msg
        return None

    def _decode(self, parts) -> Optional[Message]:
        """Decode one message; count and log a rejection and return None."""
        try:
            return decode(parts)
        except VersionError as exc:
            self.rejected[exc.reason] += 1
            if self.version_error is None:
                self.version_error = exc
                log.error("%s", exc)
        except ProtocolError as exc:
            self.rejected[exc.reason] += 1
            level = logging.WARNING if self.rejected[exc.reason] == 1 else logging.DEBUG
            log.log(level, "discarded a malformed message (%s; further ones of this kind "
                    "are counted)", exc)
        return None

    def close(self) -> None:
        if not self._sock.closed:
            self._sock.close()
        if self._own_context and not self._ctx.closed:
            self._ctx.term()

    def __enter__(self) -> "Receiver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def save_picture(msg: Message, path: Path) -> None:
    """Write a message's picture as PNG (raw formats) or as the JPEG it is."""
    from PIL import Image

    if msg.pixels is None:
        return
    if msg.pixel_format.value == "jpeg":
        path.with_suffix(".jpg").write_bytes(msg.pixels.tobytes())
        return
    Image.fromarray(np.ascontiguousarray(msg.pixel_format.rgb(msg.pixels))).save(path.with_suffix(".png"), compress_level=1)


@dataclass
class ReceiveSummary:
    """What :func:`receive_stream` saw. ``skipped_seq`` counts sequence numbers that never reached this
    receiver: frames it passed over to stay current (:meth:`Receiver.recv_latest`) or that the publisher's
    queue dropped for a slow receiver, both by design (PROTOCOL.md 1.3)."""

    received: int = 0
    first_seq: Optional[int] = None
    skipped_seq: int = 0
    elapsed_s: float = 0.0
    latency_p50_ms: float = float("nan")
    latency_p99_ms: float = float("nan")
    latency_kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    version_error: Optional[VersionError] = None


def receive_stream(*, connect: str, count: Optional[int] = None, params_only: bool = False, timeout_s: float,
                   duration_s: Optional[float] = None, curve_server_key_file: Optional[Path] = None,
                   on_message: Optional[Callable[[Message], None]] = None, report_every_s: float = 1.0,
                   stop_when: Optional[Callable[[], bool]] = None) -> ReceiveSummary:
    """Receive until ``count`` messages, ``duration_s``, ``timeout_s`` without a message, or until
    ``stop_when()`` is true and nothing more arrives; call ``on_message`` with each message and print one
    status line per ``report_every_s`` of data (the first once that much has arrived)."""
    server_key = None
    if curve_server_key_file is not None:
        server_key, _ = load_curve_keys(curve_server_key_file)
    topics = (TOPIC_PARAMS,) if params_only else (TOPIC_FRAME,)
    latency = Timings(["latency"], capacity=LATENCY_HISTORY)  # a ring: bounded for long sessions
    window: list[float] = []
    summary = ReceiveSummary()
    last_seq: Optional[int] = None
    t_start = t_last_msg = time.monotonic()
    t_window: Optional[float] = None  # the status window opens with the first message
    with Receiver(connect, topics=topics, curve_server_key=server_key) as rx:
        print(f"receiving {'parameters' if params_only else 'frames'} from {connect} ...", flush=True)
        while count is None or summary.received < count:
            if duration_s is not None and time.monotonic() - t_start >= duration_s:
                break
            msg = rx.recv_latest(min(timeout_s, 0.25))
            if msg is None:
                if stop_when is not None and stop_when():
                    break
                if time.monotonic() - t_last_msg >= timeout_s:
                    print(f"no message for {timeout_s:g} s from {connect}; is 'facecast run' "
                          "publishing there?", flush=True)
                    break
                continue
            t_last_msg = time.monotonic()
            latency_ns = time.time_ns() - msg.t_capture_ns
            latency.add("latency", latency_ns)
            window.append(latency_ns / 1e6)
            if last_seq is not None and msg.seq > last_seq + 1:
                summary.skipped_seq += msg.seq - last_seq - 1
            if summary.first_seq is None:
                summary.first_seq = msg.seq
            last_seq = msg.seq
            summary.received += 1
            if on_message is not None:
                on_message(msg)
            now = time.monotonic()
            if t_window is None:
                t_window = now
            elif now - t_window >= report_every_s:
                print(f"seq {msg.seq:6d}  {msg.width}x{msg.height} {msg.pixel_format.value:5s}  "
                      f"{(len(window) - 1) / (now - t_window):5.1f} fps  latency p50 "
                      f"{np.percentile(window, 50):6.2f} ms  p99 {np.percentile(window, 99):6.2f} ms"
                      + (f"  mouth: {msg.mouth}" if msg.mouth != "tracker" else ""), flush=True)
                window = window[-1:]  # this message opens the next window
                t_window = now
        summary.elapsed_s = time.monotonic() - t_start
        summary.rejected = dict(rx.rejected)
        summary.version_error = rx.version_error
    if summary.received:
        summary.latency_p50_ms, summary.latency_p99_ms = latency.percentiles_ms("latency")
        summary.latency_kept = min(latency.count("latency"), LATENCY_HISTORY)
    return summary


def receive_main(*, connect: str, count: Optional[int], save: Optional[Path], params_only: bool,
                 timeout_s: float, duration_s: Optional[float], curve_server_key_file: Optional[Path],
                 report_every_s: float = 1.0) -> int:
    """``facecast receive``: print latency and fps (and save pictures); return a process exit code:
    0 if any message was received, else 1."""
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
    summary = receive_stream(
        connect=connect, count=count, params_only=params_only, timeout_s=timeout_s, duration_s=duration_s,
        curve_server_key_file=curve_server_key_file, report_every_s=report_every_s,
        on_message=None if save is None else lambda msg: save_picture(msg, save / f"frame_{msg.seq:06d}"))
    if summary.received:
        print(f"received {summary.received} messages in {summary.elapsed_s:.1f} s; skipped seq: "
              f"{summary.skipped_seq}; latency capture->receive (last {summary.latency_kept}) p50 "
              f"{summary.latency_p50_ms:.2f} ms, p99 {summary.latency_p99_ms:.2f} ms; rejected: "
              f"{summary.rejected or 'none'}", flush=True)
        if summary.skipped_seq:
            print("skipped seq: frames this receiver passed over to show the newest one (it keeps up with "
                  "the stream rather than fall behind; PROTOCOL.md 1.3)", flush=True)
        if save is not None:
            print(f"pictures saved in {save}", flush=True)
    if summary.version_error is not None:
        print(f"error: {summary.version_error}", flush=True)
    return 0 if summary.received else 1
