"""Portrait renderer speed: ms per frame at 512x512 (and other sizes) on this CPU.

Renders a looping expression script (blinks, jaw, smile, brows, head sway) with
the astronaut portrait (and any ``--portrait PHOTO``) after a warm-up, and reports
the median and p99 of the whole ``render()`` call and of its two parts: the mesh
pose (fields, contact, fold guard, head) and the compiled warp. Goal: a median of
at least 60 fps at 512x512, on every portrait.

Prints a table and writes ``bench/results/renderer_portrait.json``.

    python bench/renderer_portrait.py [--frames N] [--sizes 512,256] [--portrait PHOTO ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from facecast.engine.render.portrait import PortraitRenderer
from facecast.engine.types import NUM_ARKIT, FaceSample, PixelFormat, arkit_index

GOAL_FPS = 60.0


def script(n: int) -> list[FaceSample]:
    out = []
    for i in range(n):
        t = i / 60.0
        w = np.zeros(NUM_ARKIT, np.float32)
        w[arkit_index("jawOpen")] = 0.5 * (1 - math.cos(2.1 * t))
        w[arkit_index("mouthSmileLeft")] = w[arkit_index("mouthSmileRight")] = 0.4 * (1 - math.cos(0.7 * t))
        w[arkit_index("eyeBlinkLeft")] = w[arkit_index("eyeBlinkRight")] = float((i % 180) < 8)
        w[arkit_index("browInnerUp")] = 0.5 * (1 - math.cos(1.3 * t))
        head = np.array([0.25 * math.sin(0.9 * t), 0.1 * math.sin(0.6 * t), 0.08 * math.sin(0.4 * t)], np.float32)
        out.append(FaceSample(capture_wall_ns=i, weights=w, head_rad=head))
    return out


def bench_size(width: int, height: int, frames: int, portrait: str = "astronaut") -> dict:
    r = PortraitRenderer(portrait=portrait, width=width, height=height, pixel_format=PixelFormat.RGBA8)
    t0 = time.perf_counter()
    r.prepare()
    prepare_s = time.perf_counter() - t0
    samples = script(frames)
    for s in samples[:30]:  # warm-up (numba load, caches)
        r.render(s)
    total, pose = [], []
    for s in samples:
        t0 = time.perf_counter()
        r.pose(s)
        t1 = time.perf_counter()
        r.render(s)
        t2 = time.perf_counter()
        pose.append(t1 - t0)
        total.append(t2 - t1)
    total_ms, pose_ms = np.array(total) * 1e3, np.array(pose) * 1e3
    return {
        "portrait": Path(portrait).name, "size": f"{width}x{height}", "frames": frames, "prepare_s": round(prepare_s, 3),
        "render_ms_p50": round(float(np.median(total_ms)), 3), "render_ms_p99": round(float(np.percentile(total_ms, 99)), 3),
        "pose_ms_p50": round(float(np.median(pose_ms)), 3), "pose_ms_p99": round(float(np.percentile(pose_ms, 99)), 3),
        "fps_median": round(1000.0 / float(np.median(total_ms)), 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=600)
    p.add_argument("--sizes", default="512,256,1024")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "renderer_portrait.json")
    p.add_argument("--portrait", action="append", default=[], metavar="PHOTO",
                   help="also measure this photo (repeatable); the astronaut is always measured")
    args = p.parse_args()
    rows = [bench_size(int(s), int(s), args.frames) for s in args.sizes.split(",")]
    rows += [bench_size(512, 512, args.frames, photo) for photo in args.portrait]
    print(f"{'portrait':>16s} {'size':>10s} {'render p50':>11s} {'p99':>8s} {'pose p50':>9s} {'p99':>8s} "
          f"{'fps':>7s} {'prepare':>8s}")
    for r in rows:
        print(f"{r['portrait'][:16]:>16s} {r['size']:>10s} {r['render_ms_p50']:9.2f}ms {r['render_ms_p99']:6.2f}ms "
              f"{r['pose_ms_p50']:7.2f}ms {r['pose_ms_p99']:6.2f}ms {r['fps_median']:7.1f} {r['prepare_s']:7.2f}s")
    at512 = [r for r in rows if r["size"] == "512x512"]
    verdict = None
    if at512:
        verdict = all(r["fps_median"] >= GOAL_FPS for r in at512)
        measured = ", ".join(f"{r['portrait']} {r['fps_median']}" for r in at512)
        print(f"goal: median >= {GOAL_FPS:.0f} fps at 512x512 on every portrait: {'MET' if verdict else 'NOT MET'} "
              f"({measured} fps)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                                    "rows": rows, "goal_fps": GOAL_FPS, "goal_met": verdict}, indent=2))
    print(f"wrote {args.out}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
