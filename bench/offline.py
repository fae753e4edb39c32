"""Offline rendering throughput: the portrait renderer at 512x512, rendered locally
and spread over Ray with 2 workers on this machine (same script, same frames,
PNG frames written as they finish), and the temporal stability of the rendered
transition (the fidelity harness's frame-change per unit of parameter change).

    python bench/offline.py [--seconds 10] [--fps 30] [--size 512]

No goal: the table reports the ratio measured in one run (Ray pays its start-up
and per-batch transfer; on 2 cores the two workers share the cores the local
render's warp already uses).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from facecast.calibration.eval.fidelity import temporal_change
from facecast.engine.offline.job import render_job
from facecast.engine.render import RenderOptions
from facecast.engine.session import SessionSpec
from facecast.engine.offline.timeline import parse_script

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    third = args.seconds / 3
    script = {"fps": args.fps, "keyframes": [
        {"t": 0, "preset": "neutral"}, {"t": third, "preset": "surprise", "ease": "ease-in-out"},
        {"t": 2 * third, "preset": "laugh", "ease": "cubic"}, {"t": args.seconds, "preset": "neutral"}]}
    timeline = parse_script(script)
    spec = SessionSpec("portrait", RenderOptions(width=args.size, height=args.size, pixel_format="rgb8"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = render_job(spec, timeline, Path(tmp) / "local")
        wall = time.perf_counter() - t0
        rows.append({"how": "local", "frames": result.frames, "wall_s": wall, "fps": result.frames / wall})
        print(f"  local: {result.frames} frames in {wall:.1f} s", flush=True)
        import ray
        t0 = time.perf_counter()
        ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = render_job(spec, timeline, Path(tmp) / "ray", use_ray=True, workers=2)
        wall = time.perf_counter() - t0
        ray.shutdown()
        rows.append({"how": "Ray, 2 local workers", "frames": result.frames, "wall_s": wall,
                     "fps": result.frames / wall, "ray_init_s": startup})
        print(f"  Ray: {result.frames} frames in {wall:.1f} s (after ray.init, {startup:.1f} s)", flush=True)
        from PIL import Image
        frames = np.stack([np.asarray(Image.open(p)) for p in sorted((Path(tmp) / "local").glob("frame_*.png"))])
        same = all((Path(tmp) / "ray" / p.name).read_bytes() == p.read_bytes()
                   for p in sorted((Path(tmp) / "local").glob("frame_*.png")))
    stability = temporal_change(frames, timeline.weights)
    print(f"\nportrait {args.size}x{args.size}, {len(timeline)} frames ({args.seconds:g} s at {args.fps:g} fps), "
          "neutral -> surprise -> laugh -> neutral, PNG frames + job folder")
    print(f"{'how':24s} {'wall s':>8s} {'fps':>7s} {'vs local':>9s}")
    for r in rows:
        r["vs_local"] = r["fps"] / rows[0]["fps"]
        print(f"{r['how']:24s} {r['wall_s']:8.2f} {r['fps']:7.1f} {r['vs_local']:8.2f}x")
    print(f"Ray frames identical to local: {same}")
    print("temporal stability of the transition: " + ", ".join(f"{k} {v:.3f}" for k, v in stability.items()))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "offline.json"
    path.write_text(json.dumps({"rows": rows, "identical": same, "temporal": stability, "size": args.size,
                                "frames": len(timeline)}, indent=1))
    print(f"wrote {path}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
