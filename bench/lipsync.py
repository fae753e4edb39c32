"""Benchmark: lip-sync's CPU cost per 10 ms hop, and audio -> published parameters latency.

- ``per hop``: :class:`LipsyncAnalyzer` fed espeak-ng's speech (a sentence in four voices, male and female) in
  10 ms blocks, the time of each ``push`` (features, visemes, shapes, smoothing). Goal: p99 < 2 ms per hop on
  this machine (a hop is 10 ms of audio, so the analysis must leave the core to everything else).
- ``latency``: ``facecast run --source none --lipsync wav:SENTENCE`` (the file played in real time, 10 ms blocks)
  with ``--renderer none`` and with the portrait renderer at 256x256, and a real ZeroMQ subscriber. From each
  received header: ``t_send_ns - t_capture_ns``, the capture being when the hop's last sample arrived (the
  engine's part: analysis, mix, retarget, render, publish), and ``receive - t_capture_ns``. A sample waits for
  the end of its 10 ms block before the hop that contains it is analysed: add 5 ms on average, 10 ms at most,
  for sample -> published (the table's last column).

Prints a table and writes ``bench/results/lipsync.json``.
Run: ``.venv-test/bin/python bench/lipsync.py``. About 40 s on 2 cores.
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
import wave
from pathlib import Path

import numpy as np
import zmq

from facecast.bridge.protocol import decode
from facecast.bridge.publisher import free_port
from facecast.engine.sources.lipsync import LipsyncAnalyzer
from facecast.engine.sources.lipsync.audio import BLOCK, to_analysis_rate

HERE = Path(__file__).resolve().parent
GOAL_HOP_MS = 2.0
VOICES = ("en", "en+f3", "de", "de+f2")
SENTENCE = "The quick brown fox jumps over the lazy dog. Peter Piper picked a peck of pickled peppers."


def speech(voice: str, folder: Path) -> Path:
    path = folder / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), SENTENCE], check=True, capture_output=True)
    return path


def read(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16), w.getframerate()


def per_hop_ms(wavs: list[Path]) -> np.ndarray:
    times = []
    for path in wavs:
        data, rate = read(path)
        x = to_analysis_rate(data, rate)
        analyzer = LipsyncAnalyzer()
        analyzer.push(x[:BLOCK * 20])  # warm-up (first calls, caches)
        analyzer = LipsyncAnalyzer()
        for start in range(0, len(x) - BLOCK, BLOCK):
            t0 = time.perf_counter()
            analyzer.push(x[start:start + BLOCK])
            times.append((time.perf_counter() - t0) * 1e3)
    return np.asarray(times)


def live_latency_ms(wav: Path, renderer: list[str]) -> dict:
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"facecast.params")
    sub.setsockopt(zmq.RCVTIMEO, 200)
    sub.connect(endpoint)
    proc = subprocess.Popen([sys.executable, "-m", "facecast.engine.cli", "run", "--source", "none", "--lipsync",
                             f"wav:{wav}", "--publish", endpoint, *renderer],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    engine, received = [], []
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                parts = sub.recv_multipart()
            except zmq.Again:
                continue
            now_ns = time.time_ns()
            msg = decode(parts)
            engine.append((msg.t_send_ns - msg.t_capture_ns) / 1e6)
            received.append((now_ns - msg.t_capture_ns) / 1e6)
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate(timeout=10)[0]
        sub.close(0)
    if proc.returncode != 0 or len(engine) < 50:
        raise SystemExit(f"facecast run failed or sent too little ({len(engine)} messages):\n{out}")
    skip = 20  # the first messages include the renderer's warm-up
    e, r = np.asarray(engine[skip:]), np.asarray(received[skip:])
    return {"messages": len(e), "engine_p50_ms": float(np.percentile(e, 50)),
            "engine_p99_ms": float(np.percentile(e, 99)), "received_p50_ms": float(np.percentile(r, 50)),
            "received_p99_ms": float(np.percentile(r, 99))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "results" / "lipsync.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wavs = [speech(v, Path(tmp)) for v in VOICES]
        hops = per_hop_ms(wavs)
        rows = {"none": live_latency_ms(wavs[0], ["--renderer", "none"]),
                "portrait 256x256": live_latency_ms(wavs[0], ["--renderer", "portrait", "--size", "256x256"])}
    p50, p99 = float(np.percentile(hops, 50)), float(np.percentile(hops, 99))
    ok = p99 < GOAL_HOP_MS
    print(f"\nfacecast lip-sync ({os.cpu_count()} CPUs, {platform.platform()})\n")
    print(f"per 10 ms hop ({len(hops)} hops, {len(VOICES)} voices): p50 {p50:.3f} ms  p99 {p99:.3f} ms  "
          f"(goal p99 < {GOAL_HOP_MS:g} ms: {'PASS' if ok else 'MISS'})")
    print(f"\n{'renderer':18s} {'msgs':>5s}  {'hop -> sent p50/p99':>20s}  {'hop -> received p50/p99':>24s}  "
          f"{'sample -> received p50 / p99 (<=)':>34s}")
    for name, r in rows.items():
        print(f"{name:18s} {r['messages']:5d}  {r['engine_p50_ms']:8.2f} / {r['engine_p99_ms']:6.2f} ms  "
              f"{r['received_p50_ms']:10.2f} / {r['received_p99_ms']:6.2f} ms  "
              f"{r['received_p50_ms'] + 5:16.2f} / {r['received_p99_ms'] + 10:6.2f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load": os.getloadavg()[0]},
        "per_hop_ms": {"p50": p50, "p99": p99, "hops": len(hops), "goal_p99_ms": GOAL_HOP_MS, "met": ok},
        "latency": rows, "block_wait_ms": {"mean": 5.0, "max": 10.0}}, indent=1))
    print(f"\nwrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
