"""Benchmark: what each face source costs per sample.

Network sources (Live Link Face, iFacialMocap, VMC, VTube Studio), each with
64 different realistic packets (all 52 shapes, random values) used in turn:

- ``parse``: the pure parser's cost per packet, microseconds (the VMC parser
  keeps one state across packets, as the source does).
- ``runner``: the latency the UDP runner adds on loopback: the sender's
  ``time.time_ns()`` just before ``sendto`` -> ``time.time_ns()`` in the emit
  callback (the sample reaching the mailbox), so it includes the wake-up and
  the parse. Packets are sent at 500 Hz, above any tracker's rate. Goal: p99
  <= 0.5 ms for every source except the webcam.

The webcam/MediaPipe path at 640x480 (decode + FaceLandmarker per frame) has
a row too; its goal does not apply.

Adding a row: write a function ``bench_NAME(args) -> list[Row]`` and append it
to :data:`BENCHES` (see ``bench_network`` and ``bench_mediapipe``).

Prints a table and writes ``bench/results/sources.json``.
Run: ``.venv-test/bin/python bench/sources.py [--packets N] [--frames N] [--only NAME ...]``.
Default runtime: about 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from facecast.engine.sources.ifacialmocap import IFacialMocapSource, parse_ifacialmocap
from facecast.engine.sources.livelink import LiveLinkSource, encode_livelink, parse_livelink
from facecast.engine.sources.vmc import VmcSource, VmcState, parse_vmc
from facecast.engine.sources.vts import VtsSource, parse_vts
from facecast.engine.types import ARKIT_NAMES

GOAL_P99_MS = 0.5
HERE = Path(__file__).resolve().parent
PACKET_VARIANTS = 64
SEND_PERIOD_S = 0.002
WARMUP = 50


@dataclass
class Row:
    """One line of the table. ``goal_p99_ms`` None: no goal applies."""

    source: str
    measure: str
    p50_ms: float
    p99_ms: float
    goal_p99_ms: Optional[float] = None
    notes: dict = field(default_factory=dict)

    @property
    def result(self) -> str:
        if self.goal_p99_ms is None:
            return "n/a"
        return "PASS" if self.p99_ms <= self.goal_p99_ms else "FAIL"


def _ms(samples_ns) -> tuple[float, float]:
    a = np.asarray(samples_ns, np.float64) / 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


# --------------------------------------------------------------------------- #
# Network sources

def _raw(name: str) -> str:
    """Apple's raw blendshape name (``eyeBlink_L``), as iFacialMocap sends it."""
    n = name[0].lower() + name[1:]
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        if n.endswith(side):
            return n[:-len(side)] + suffix
    return n


def packets(protocol: str, count: int = PACKET_VARIANTS) -> list[bytes]:
    """``count`` realistic datagrams of ``protocol``: all 52 shapes, random values, a head pose."""
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        w = rng.random(52).astype(np.float32)
        head_deg = rng.uniform(-30, 30, 3)
        if protocol == "livelink":
            out.append(encode_livelink(weights=w, head_rad=np.radians(head_deg), subject="iPhone"))
        elif protocol == "ifacialmocap":
            shapes = "|".join(f"{_raw(n)}-{int(v * 100)}" for n, v in zip(ARKIT_NAMES, w))
            rx, ry, rz = head_deg
            out.append(f"{shapes}|=head#{rx:.3f},{ry:.3f},{rz:.3f},0.01,-0.02,0.3|rightEye#3.0,-2.0,0.0|"
                       f"leftEye#4.0,-1.0,0.0|".encode())
        elif protocol == "vmc":
            bundle = OscBundleBuilder(IMMEDIATELY)
            for name, v in zip(ARKIT_NAMES, w):
                m = OscMessageBuilder("/VMC/Ext/Blend/Val")
                m.add_arg(name)
                m.add_arg(float(v))
                bundle.add_content(m.build())
            bundle.add_content(OscMessageBuilder("/VMC/Ext/Blend/Apply").build())
            out.append(bundle.build().dgram)
        elif protocol == "vts":
            x, y, z = head_deg
            doc = {"Timestamp": 1700000000000, "Hotkey": -1, "FaceFound": True,
                   "Rotation": {"x": x, "y": y, "z": z}, "Position": {"x": 0.0, "y": 0.0, "z": 0.0},
                   "EyeLeft": {"x": 1.0, "y": 2.0, "z": 0.0}, "EyeRight": {"x": 1.0, "y": 2.0, "z": 0.0},
                   "BlendShapes": [{"k": n, "v": round(float(v), 4)} for n, v in zip(ARKIT_NAMES, w)]}
            out.append(json.dumps(doc).encode())
        else:
            raise ValueError(protocol)
    return out


def parse_cost(protocol: str, datagrams: list[bytes], n: int) -> Row:
    state = VmcState()
    parse: Callable[[bytes], object] = {
        "livelink": lambda d: parse_livelink(d, received_ns=0),
        "ifacialmocap": lambda d: parse_ifacialmocap(d, received_ns=0),
        "vmc": lambda d: parse_vmc(d, state, received_ns=0),
        "vts": lambda d: parse_vts(d, received_ns=0)}[protocol]
    for d in datagrams:
        assert not hasattr(parse(d), "reason"), f"{protocol}: a bench packet was rejected"
    times = np.empty(n, np.int64)
    for i in range(n):
        d = datagrams[i % len(datagrams)]
        t0 = time.perf_counter_ns()
        parse(d)
        times[i] = time.perf_counter_ns() - t0
    p50, p99 = _ms(times)
    return Row(protocol, "parse", p50, p99, notes={"packet_bytes": int(np.mean([len(d) for d in datagrams]))})


def runner_latency(protocol: str, datagrams: list[bytes], n: int) -> Row:
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # absorbs handshakes and requests
    phone.bind(("127.0.0.1", 0))
    phone_port = phone.getsockname()[1]
    source = {"livelink": lambda: LiveLinkSource(host="127.0.0.1", port=0),
              "ifacialmocap": lambda: IFacialMocapSource(phone_host="127.0.0.1", phone_port=phone_port),
              "vmc": lambda: VmcSource(host="127.0.0.1", port=0),
              "vts": lambda: VtsSource(phone_host="127.0.0.1", phone_port=phone_port)}[protocol]()
    source.open()
    arrived_ns: list[int] = []
    got = threading.Event()

    def emit(sample) -> None:
        arrived_ns.append(time.time_ns())
        got.set()

    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(emit, stop), name=f"bench-{protocol}")
    thread.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    address = ("127.0.0.1", source.local_port)
    latencies, lost = [], 0
    try:
        for i in range(n + WARMUP):
            got.clear()
            before = len(arrived_ns)
            sent_ns = time.time_ns()
            tx.sendto(datagrams[i % len(datagrams)], address)
            if got.wait(1.0) and len(arrived_ns) > before:
                if i >= WARMUP:
                    latencies.append(arrived_ns[before] - sent_ns)
            else:
                lost += 1
            time.sleep(SEND_PERIOD_S)
    finally:
        stop.set()
        thread.join(2)
        source.close()
        tx.close()
        phone.close()
    p50, p99 = _ms(latencies)
    return Row(protocol, "runner", p50, p99, GOAL_P99_MS,
               notes={"sent": n, "received": len(latencies), "lost": lost,
                      "rejected": source.rejections.as_dict()})


def bench_network(args: argparse.Namespace) -> list[Row]:
    rows = []
    for protocol in ("livelink", "ifacialmocap", "vmc", "vts"):
        datagrams = packets(protocol)
        rows.append(parse_cost(protocol, datagrams, args.packets))
        rows.append(runner_latency(protocol, datagrams, args.packets))
    return rows


# --------------------------------------------------------------------------- #
# Webcam / MediaPipe

def bench_mediapipe(args: argparse.Namespace) -> list[Row]:
    """Decode + FaceLandmarker per 640x480 frame, on a synthetic clip of the astronaut
    photo (there is no camera on CI machines). No goal: the webcam is exempt."""
    import tempfile

    import cv2
    from skimage import data

    from facecast.engine.face.tracker import FaceTracker

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    canvas = np.full((480, 640, 3), 60, np.uint8)
    frames = args.frames
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "clip.avi")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
        small = cv2.resize(face, (400, 400))
        for i in range(frames):
            frame = canvas.copy()
            x = 120 + int(20 * np.sin(i / 10))
            frame[40:440, x:x + 400] = small
            writer.write(frame)
        writer.release()
        tracker = FaceTracker(video=True)
        cap = cv2.VideoCapture(path)
        decode_ns, track_ns = [], []
        for i in range(frames):
            t0 = time.perf_counter_ns()
            _, bgr = cap.read()
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            t1 = time.perf_counter_ns()
            tracker.track(rgb, timestamp_ms=i * 33)
            t2 = time.perf_counter_ns()
            decode_ns.append(t1 - t0)
            track_ns.append(t2 - t1)
        cap.release()
        tracker.close()
    d, t = np.array(decode_ns[5:]), np.array(track_ns[5:])
    p50, p99 = _ms(d + t)
    return [Row("webcam", "decode+landmarker 640x480", p50, p99,
                notes={"decode_p50_ms": _ms(d)[0], "landmarker_p50_ms": _ms(t)[0],
                       "landmarker_p99_ms": _ms(t)[1], "fps": 1000.0 / p50, "frames": frames})]


#: Every benchmark, in table order. Add a row by appending a function here.
BENCHES: list[Callable[[argparse.Namespace], list[Row]]] = [bench_network, bench_mediapipe]


# --------------------------------------------------------------------------- #

def print_table(rows: list[Row]) -> None:
    print(f"{'source':13s} {'measure':27s} {'p50':>9s} {'p99':>9s}  {'goal p99':>9s}  result")
    for r in rows:
        goal = f"{r.goal_p99_ms:.3f} ms" if r.goal_p99_ms is not None else "-"
        unit, scale = ("us", 1000.0) if r.measure == "parse" else ("ms", 1.0)
        print(f"{r.source:13s} {r.measure:27s} {r.p50_ms * scale:7.3f}{unit} {r.p99_ms * scale:7.3f}{unit}  "
              f"{goal:>9s}  {r.result}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=2000, help="packets per protocol and measure")
    ap.add_argument("--frames", type=int, default=150, help="MediaPipe frames")
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help=f"run only these benches: {', '.join(b.__name__[6:] for b in BENCHES)}")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "sources.json")
    args = ap.parse_args()

    rows: list[Row] = []
    for bench in BENCHES:
        if args.only and bench.__name__[6:] not in args.only:
            continue
        rows.extend(bench(args))
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"), "goal_p99_ms": GOAL_P99_MS,
        "rows": [dict(asdict(r), result=r.result) for r in rows]}, indent=2))
    print(f"\nwrote {args.out}")
    return 0 if all(r.result != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
