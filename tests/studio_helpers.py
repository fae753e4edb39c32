"""Shared by the studio's tests and its benchmark: a real ``facecast studio`` process, a Live Link Face phone
emulator sending golden packets over UDP, the JSON API, and headless Chromium as Playwright drives it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from facecast.bridge.publisher import free_port
from facecast.engine.sources.livelink import encode_livelink
from facecast.engine.types import NUM_ARKIT, arkit_index

#: Flags the issue names for Debian's chromium under Playwright (its own browser download is not used).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
STARTUP_TIMEOUT_S = 240.0


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("the studio's tests need Debian's chromium: 'make sysdeps' installs it "
                           "(sudo apt-get install chromium)")
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StudioProcess:
    """A running ``facecast studio``: its base URL, printed lines and the process."""

    proc: subprocess.Popen
    base: str
    lines: list[str]
    token: Optional[str] = None

    def url(self, path: str = "") -> str:
        return self.base + path

    def api(self, path: str, body=None, *, token: Optional[str] = None, headers: Optional[dict] = None,
            data: Optional[bytes] = None, content_type: str = "application/json", timeout_s: float = 60.0):
        """(HTTP status, decoded JSON or text) of one request to the studio."""
        sent = data if data is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url(path), data=sent, method="GET" if sent is None else "POST")
        if sent is not None:
            request.add_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        if token or self.token:
            request.add_header("Authorization", f"Bearer {token or self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def status(self) -> dict:
        code, body = self.api("api/status")
        assert code == 200, body
        return body

    def engine_fps(self, seconds: float) -> float:
        """Frames the engine published per second over ``seconds`` (its own counter, its own clock)."""
        a = self.status()
        time.sleep(seconds)
        b = self.status()
        return (b["frames"] - a["frames"]) / ((b["server_wall_ms"] - a["server_wall_ms"]) / 1000.0)


@contextmanager
def studio_process(*args: str, env: Optional[dict] = None) -> Iterator[StudioProcess]:
    """``facecast studio ARGS`` on a free port; yields once it serves; stops it with SIGTERM (as Ctrl-C does)
    and checks that it shut down cleanly."""
    port = free_port()
    cmd = [sys.executable, "-m", "facecast.engine.cli", "studio", "--port", str(port), "--publish",
           "tcp://127.0.0.1:0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "control page:" in line:
                ready.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not ready.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("facecast studio did not start:\n" + "\n".join(lines[-40:]))
    base = re.search(r"control page:\s+(http://\S+?/)(\?token=\S+)?$", next(l for l in lines if "control page:" in l))
    token = re.search(r"token=(\S+)", base.group(0)).group(1) if base.group(2) else None
    studio = StudioProcess(proc=proc, base=base.group(1), lines=lines, token=token)
    try:
        yield studio
    finally:
        proc.terminate()
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait(10)
        reader.join(5)
    assert code == 0, "the studio did not stop cleanly:\n" + "\n".join(lines[-40:])


class Phone:
    """A Live Link Face phone: sends the app's packets to ``port`` at ``rate_hz`` from its own thread, with the
    weights set by :meth:`set` (ARKit names), and the send time of every packet."""

    def __init__(self, port: int, *, rate_hz: float = 60.0) -> None:
        self.port = port
        self.rate_hz = rate_hz
        self.weights = np.zeros(NUM_ARKIT, np.float32)
        self.sent_wall_ns: list[int] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._frame = 0

    def set(self, **weights: float) -> None:
        w = np.zeros(NUM_ARKIT, np.float32)
        for name, value in weights.items():
            w[arkit_index(name)] = value
        self.weights = w

    def _run(self) -> None:
        period = 1.0 / self.rate_hz
        next_t = time.monotonic()
        while not self._stop.is_set():
            packet = encode_livelink(weights=self.weights, subject="iPhone", frame=self._frame)
            self.sent_wall_ns.append(time.time_ns())
            self._sock.sendto(packet, ("127.0.0.1", self.port))
            self._frame += 1
            next_t += period
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def __enter__(self) -> "Phone":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


@contextmanager
def browser() -> Iterator:
    """Headless Debian chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


ROOT = Path(__file__).resolve().parent.parent
