"""Benchmark: what each source costs per sample.

- Network sources (Live Link Face, iFacialMocap, VMC, VTube Studio): the pure
  parser's cost per packet, and the latency the UDP runner adds (wall clock when
  the packet is sent -> wall clock when the sample reaches the emit callback,
  i.e. the mailbox), p50/p99 over loopback. Goal: p99 <= 0.5 ms.
- The webcam/MediaPipe path at 640x480: decode + FaceLandmarker per frame,
  p50/p99 and fps, on a synthetic 640x480 clip of the astronaut photo (there is
  no camera on CI machines).

Prints a table and writes ``bench/results/sources.json``.
Run: ``.venv/bin/python bench/sources.py [--packets N] [--frames N]``.
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
from pathlib import Path

import numpy as np

from facecast.engine.sources.ifacialmocap import IFacialMocapSource, parse_ifacialmocap
from facecast.engine.sources.livelink import LiveLinkSource, encode_livelink, parse_livelink
from facecast.engine.sources.vmc import VmcSource, VmcState, parse_vmc
from facecast.engine.sources.vts import VtsSource, parse_vts

GOAL_P99_MS = 0.5
HERE = Path(__file__).resolve().parent


def golden_packets() -> dict[str, bytes]:
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    rng = np.random.default_rng(0)
    w = rng.random(52).astype(np.float32)
    ifm = "|".join(f"{n}-{int(v * 100)}" for n, v in zip(
        ["eyeBlink_L", "eyeBlink_R", "jawOpen", "mouthSmile_L", "mouthSmile_R", "browInnerUp"] * 8, w)) + \
        "|=head#-10.0,20.0,5.0,0.01,-0.02,0.3|rightEye#3.0,-2.0,0.0|leftEye#4.0,-1.0,0.0|"
    bundle = OscBundleBuilder(IMMEDIATELY)
    from facecast.engine.types import ARKIT_NAMES
    for name, v in zip(ARKIT_NAMES, w):
        m = OscMessageBuilder("/VMC/Ext/Blend/Val")
        m.add_arg(name)
        m.add_arg(float(v))
        bundle.add_content(m.build())
    bundle.add_content(OscMessageBuilder("/VMC/Ext/Blend/Apply").build())
    vts = {"FaceFound": True, "Rotation": {"x": 1.0, "y": 2.0, "z": 3.0},
           "EyeLeft": {"x": 0.0, "y": 0.0, "z": 0.0}, "EyeRight": {"x": 0.0, "y": 0.0, "z": 0.0},
           "BlendShapes": [{"k": n, "v": float(v)} for n, v in zip(ARKIT_NAMES, w)]}
    return {"livelink": encode_livelink(weights=w, head_rad=(0.1, 0.2, 0.3)), "ifacialmocap": ifm.encode(),
            "vmc": bundle.build().dgram, "vts": json.dumps(vts).encode()}


def parse_cost(name: str, packet: bytes, n: int) -> dict:
    parse = {"livelink": lambda d: parse_livelink(d, received_ns=0),
             "ifacialmocap": lambda d: parse_ifacialmocap(d, received_ns=0),
             "vmc": lambda d: parse_vmc(d, VmcState(), received_ns=0),
             "vts": lambda d: parse_vts(d, received_ns=0)}[name]
    times = np.empty(n)
    for i in range(n):
        t = time.perf_counter_ns()
        parse(packet)
        times[i] = time.perf_counter_ns() - t
    return {"parse_p50_us": float(np.percentile(times, 50) / 1e3), "parse_p99_us": float(np.percentile(times, 99) / 1e3)}


def runner_latency(name: str, packet: bytes, n: int) -> dict:
    source = {"livelink": lambda: LiveLinkSource(host="127.0.0.1", port=0),
              "ifacialmocap": lambda: IFacialMocapSource(phone_host="127.0.0.1", port=0, phone_port=9),
              "vmc": lambda: VmcSource(host="127.0.0.1", port=0),
              "vts": lambda: VtsSource(phone_host="127.0.0.1", phone_port=9)}[name]()
    source.open()
    arrived: list[int] = []
    got = threading.Event()

    def emit(sample):
        arrived.append(time.time_ns())
        got.set()

    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(emit, stop))
    thread.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = ("127.0.0.1", source.local_port)
    latencies = []
    try:
        for _ in range(n):
            got.clear()
            sent = time.time_ns()
            tx.sendto(packet, addr)
            if got.wait(1.0):
                latencies.append(arrived[-1] - sent)
            time.sleep(0.002)  # a 500 Hz stream, well above any tracker's rate
    finally:
        stop.set()
        thread.join(2)
        source.close()
        tx.close()
    lat = np.array(latencies) / 1e6
    return {"received": len(latencies), "sent": n, "latency_p50_ms": float(np.percentile(lat, 50)),
            "latency_p99_ms": float(np.percentile(lat, 99))}


def mediapipe_cost(frames: int) -> dict:
    import tempfile

    import cv2
    from skimage import data

    from facecast.engine.sources.mediapipe_source import FaceTracker

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    canvas = np.full((480, 640, 3), 60, np.uint8)
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
        decode, track = [], []
        for i in range(frames):
            t0 = time.perf_counter_ns()
            ok, bgr = cap.read()
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            t1 = time.perf_counter_ns()
            tracker.track(rgb, timestamp_ms=i * 33)
            t2 = time.perf_counter_ns()
            decode.append(t1 - t0)
            track.append(t2 - t1)
        cap.release()
        tracker.close()
    d, t = np.array(decode[5:]) / 1e6, np.array(track[5:]) / 1e6
    total = d + t
    return {"decode_p50_ms": float(np.median(d)), "landmarker_p50_ms": float(np.median(t)),
            "landmarker_p99_ms": float(np.percentile(t, 99)), "total_p50_ms": float(np.median(total)),
            "total_p99_ms": float(np.percentile(total, 99)), "fps": float(1000 / np.median(total))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=2000, help="packets per protocol")
    ap.add_argument("--frames", type=int, default=150, help="MediaPipe frames")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "sources.json")
    args = ap.parse_args()

    rows = {}
    for name, packet in golden_packets().items():
        rows[name] = {"packet_bytes": len(packet), **parse_cost(name, packet, args.packets),
                      **runner_latency(name, packet, args.packets)}
        rows[name]["pass"] = rows[name]["latency_p99_ms"] <= GOAL_P99_MS
    mp_row = mediapipe_cost(args.frames)

    print(f"{'source':13s} {'bytes':>6s} {'parse p50':>10s} {'parse p99':>10s} {'runner p50':>11s} "
          f"{'runner p99':>11s}  goal p99<={GOAL_P99_MS} ms")
    for name, r in rows.items():
        print(f"{name:13s} {r['packet_bytes']:6d} {r['parse_p50_us']:8.1f}us {r['parse_p99_us']:8.1f}us "
              f"{r['latency_p50_ms']:9.3f}ms {r['latency_p99_ms']:9.3f}ms  {'PASS' if r['pass'] else 'FAIL'}"
              f"  ({r['received']}/{r['sent']} received)")
    print(f"\nwebcam/MediaPipe at 640x480: decode {mp_row['decode_p50_ms']:.2f} ms, FaceLandmarker "
          f"p50 {mp_row['landmarker_p50_ms']:.2f} ms / p99 {mp_row['landmarker_p99_ms']:.2f} ms, total p50 "
          f"{mp_row['total_p50_ms']:.2f} ms / p99 {mp_row['total_p99_ms']:.2f} ms ({mp_row['fps']:.0f} fps)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"), "goal_p99_ms": GOAL_P99_MS,
        "network": rows, "mediapipe_640x480": mp_row}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
