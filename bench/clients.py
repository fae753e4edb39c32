"""Benchmark: capture -> decoded frame latency and sustained fps at the C# and C++ clients.

Starts ``facecast run --source demo --renderer testpattern --fps 60`` (512x512 RGBA, the
parameter feed alongside), compiles and runs each client's command-line harness (the Unity
package's C# core under Mono, the Unreal plugin's C++ core), and reads the frames it decoded.
Latency = the client's wall clock after decoding - the header's ``t_capture_ns`` (same host).
Goal: p99 <= 5 ms and no dropped frame (no ``seq`` gap) at 60 fps.

Prints a table and writes ``bench/results/clients.json``.
Run: ``.venv-test/bin/python bench/clients.py [--seconds S]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from facecast.bridge.publisher import free_port

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = {
    "C# (Mono)": (ROOT / "unity_plugin/Tests/Cli~/build.sh", ["mono"], "facecast_client_cli.exe"),
    "C++": (ROOT / "unreal_plugin/FacecastBridge/Tools/build.sh", [], "facecast_client_cli"),
}
GOAL_P99_MS = 5.0
FPS = 60


def measure(argv: list[str], seconds: float) -> dict:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    engine = subprocess.Popen([sys.executable, "-m", "facecast.engine.cli", "run", "--source", "demo",
                               "--renderer", "testpattern", "--fps", str(FPS), "--publish", endpoint,
                               "--duration", str(seconds + 5)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    engine.stdout.readline()  # bound
    count = int(seconds * FPS)
    frames, arrived_s = [], []
    client = subprocess.Popen(argv + ["--connect", endpoint, "--count", str(count), "--timeout", "5"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in client.stdout:  # stamped as the client reports each decoded frame
            event = json.loads(line) if line.strip() else {}
            if event.get("event") == "frame":
                frames.append(event)
                arrived_s.append(time.monotonic())
        client.wait(seconds + 60)
    finally:
        client.kill()
        engine.terminate()
        engine.wait(10)
    skip = FPS // 2  # the first half second (connection, JIT warm-up)
    frames, arrived_s = frames[skip:], arrived_s[skip:]
    lat = np.array([f["latency_ms"] for f in frames])
    seqs = np.array([f["seq"] for f in frames])
    gaps = int(np.sum(np.diff(seqs) - 1)) if len(seqs) > 1 else 0
    span_s = arrived_s[-1] - arrived_s[0] if len(arrived_s) > 1 else 0.0
    return {"frames": len(frames), "seq_gaps": gaps, "fps": (len(frames) - 1) / span_s if span_s else 0.0,
            "latency_p50_ms": float(np.percentile(lat, 50)), "latency_p99_ms": float(np.percentile(lat, 99)),
            "pass": bool(np.percentile(lat, 99) <= GOAL_P99_MS and gaps == 0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per client")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "clients.json")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (build, runner, exe) in CLIENTS.items():
            subprocess.run(["bash", str(build), tmp], check=True, capture_output=True)
            results[name] = measure(runner + [os.path.join(tmp, exe)], args.seconds)
    print(f"\nclients at {FPS} fps, 512x512 RGBA ({os.cpu_count()} CPUs, {platform.platform()})\n")
    print(f"{'client':10s} {'frames':>7s} {'fps':>6s} {'seq gaps':>9s} {'latency p50':>12s} {'p99':>9s}  "
          f"goal p99<={GOAL_P99_MS:g} ms, no gaps")
    for name, r in results.items():
        print(f"{name:10s} {r['frames']:7d} {r['fps']:6.1f} {r['seq_gaps']:9d} {r['latency_p50_ms']:10.2f}ms "
              f"{r['latency_p99_ms']:7.2f}ms  {'PASS' if r['pass'] else 'FAIL'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"), "fps": FPS,
                                    "goal_p99_ms": GOAL_P99_MS, "clients": results}, indent=2))
    print(f"\nwrote {args.out}")
    return 0 if all(r["pass"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
