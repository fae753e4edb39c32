"""Cost per frame of the ``--flame smirk:PATH`` source variant on this machine: what a webcam or video
source adds per frame to estimate FLAME with SMIRK (MediaPipe's 478 landmarks converted, SMIRK's crop,
the expression encoder), next to the MediaPipe tracking it already does. Random SMIRK weights in the
published layout (the network's cost does not depend on the values); the astronaut photo in a 640x480
frame.

    python bench/smirk.py [--frames 30] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_smirk import write_smirk_checkpoint  # noqa: E402

from facecast.engine.face.smirk import SmirkExpression, crop_face  # noqa: E402
from facecast.engine.face.tracker import FaceTracker  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def frame_640x480() -> np.ndarray:
    from PIL import Image

    from facecast.engine.render.portrait.rig import astronaut_rgb  # the shipped public-domain photo

    photo = np.asarray(Image.fromarray(astronaut_rgb()).resize((400, 400)))
    frame = np.full((480, 640, 3), 40, np.uint8)
    frame[40:440, 120:520] = photo
    return frame


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=30, help="timed frames")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    rgb = frame_640x480()
    with tempfile.TemporaryDirectory() as tmp:
        smirk = SmirkExpression(write_smirk_checkpoint(Path(tmp) / "SMIRK_em1.pt"), device=args.device)
    tracker = FaceTracker(video=True)
    times = {"track (blendshapes only)": [], "track (with landmarks)": [], "crop": [], "encoder": [],
             "smirk added (landmarks + crop + encoder)": []}
    for i in range(args.frames + 3):  # the first frames warm up MediaPipe and torch
        t0 = time.perf_counter()
        tracker.track(rgb, timestamp_ms=2 * i * 33, landmarks=False)
        t1 = time.perf_counter()
        result = tracker.track(rgb, timestamp_ms=(2 * i + 1) * 33, landmarks=True)
        t2 = time.perf_counter()
        crop = crop_face(rgb, result.landmarks[:, :2] * np.array([rgb.shape[1], rgb.shape[0]]))
        t3 = time.perf_counter()
        smirk.flame_of_crops(crop[None])
        t4 = time.perf_counter()
        if i >= 3:
            for k, v in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, (t2 - t1) - (t1 - t0) + (t4 - t2))):
                times[k].append(v * 1000)
    tracker.close()
    print(f"SMIRK per frame, 640x480, {args.device}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{platform.processor() or platform.machine()}, median of {args.frames}:")
    summary = {k: statistics.median(v) for k, v in times.items()}
    for k, v in summary.items():
        print(f"  {k:42s} {v:7.1f} ms")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "smirk.json"
    path.write_text(json.dumps({"device": args.device, "frames": args.frames, "median_ms": summary,
                                "torch": torch.__version__, "threads": torch.get_num_threads()}, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
