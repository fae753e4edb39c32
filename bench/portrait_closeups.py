"""Portrait renderer realism (issue 17): aliasing, streaks and neutralisation, and the close-up sheet.

Measures one portrait with :mod:`facecast.calibration.eval.realism` (the same measures as ``facecast
eval``'s ``realism`` section) at 512x512, the aliasing reference at 2048x2048 box-filtered to 512:

- aliasing of jawOpen 0.5, a blink and eyeWide in the mouth and eye regions, goal mean <= 3 and p99 <= 24
  grey levels (the photo's own expression is the control, not judged);
- streaks: vertical / horizontal high-frequency energy in the upper lids' skin (blink) and the lips and
  the skin below them (mouthFunnel, mouthPucker, jawOpen), relative to the photo's frame, goal <= 1.5;
- neutralisation: FaceLandmarker's readback of all-zero weights (mouthSmile <= 0.3) and of the sadness
  preset (mouthFrown above mouthSmile on each side).

Prints a table, writes the close-up sheet (the eyes and the mouth of the standard expressions at 2x,
nearest neighbour) and JSON, and exits non-zero when a goal is missed.

    python bench/portrait_closeups.py [--portrait PHOTO] [--out SHEET.png] [--json RESULT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from facecast.calibration.eval import realism

RESULTS = Path(__file__).parent / "results"


def table(m: dict) -> list[str]:
    """The measures as printable lines, one figure per goal."""
    a, s, n = m["aliasing"], m["streaks"], m["neutralisation"]
    lines = [f"{'measure':38s} {'value':>8s} {'goal':>8s}  result"]

    def row(label: str, value, goal: str, ok) -> None:
        v = "-" if value is None else f"{value:8.2f}"
        lines.append(f"{label:38s} {v:>8s} {goal:>8s}  {'' if ok is None else ('met' if ok else 'MISSED')}")

    for pose, e in [*a["poses"].items(), ("photo (control)", a["control"])]:
        judged = pose != "photo (control)"
        for region in ("mouth", "eyes"):
            st = e[region]
            row(f"aliasing {pose} {region} mean", st["mean"], f"<= {realism.GOAL_ALIAS_MEAN:g}",
                st["mean"] <= realism.GOAL_ALIAS_MEAN if judged else None)
            row(f"aliasing {pose} {region} p99", st["p99"], f"<= {realism.GOAL_ALIAS_P99:g}",
                st["p99"] <= realism.GOAL_ALIAS_P99 if judged else None)
    for shape, e in s["shapes"].items():
        row(f"streaks {shape} ({e['region']})", e["relative"], f"<= {realism.GOAL_STREAK_RATIO:g}", e["passes"])
    read = n["readback"]
    for key, label in (("photo", "photo"), ("zero", "all zeros"), ("sadness", "sadness")):
        v = read[key]
        if v is None:
            lines.append(f"readback {label}: no face found")
            continue
        for side in ("Left", "Right"):
            smile, frown = v[f"mouthSmile{side}"], v[f"mouthFrown{side}"]
            if key == "zero":
                row(f"readback {label} mouthSmile{side}", smile, f"<= {realism.GOAL_NEUTRAL_SMILE:g}",
                    smile <= realism.GOAL_NEUTRAL_SMILE)
            elif key == "sadness":
                row(f"readback {label} frown - smile {side}", frown - smile, "> 0", frown > smile)
            else:
                row(f"readback {label} mouthSmile{side}", smile, "", None)
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--portrait", default="astronaut", metavar="PHOTO", help="photo to measure (default: astronaut)")
    p.add_argument("--out", type=Path, metavar="PNG",
                   help="close-up sheet (default: bench/results/portrait_closeups_<photo>.png)")
    p.add_argument("--json", type=Path, metavar="PATH",
                   help="results (default: bench/results/portrait_closeups_<photo>.json)")
    args = p.parse_args()
    stem = "astronaut" if args.portrait == "astronaut" else Path(args.portrait).stem
    name = "astronaut" if args.portrait == "astronaut" else Path(args.portrait).name
    out = args.out or RESULTS / f"portrait_closeups_{stem}.png"
    dest = args.json or RESULTS / f"portrait_closeups_{stem}.json"
    t0 = time.perf_counter()
    measured, sheet = realism.evaluate_portrait(
        args.portrait, title=f"{name}: {realism.SIZE_PX}x{realism.SIZE_PX} render, eyes and mouth at 2x (nearest)")
    seconds = time.perf_counter() - t0
    print(f"portrait {name}, {realism.SIZE_PX}x{realism.SIZE_PX} (reference {realism.SUPERSAMPLE}x, box-filtered)")
    for line in table(measured):
        print(line)
    for note in measured["aliasing"]["notes"]:
        print(f"note: {note}")
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(out, optimize=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                                "portrait": name, "seconds": round(seconds, 2), "sheet": str(out),
                                **measured}, indent=2))
    verdict = measured["passes_all"]
    print("goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in measured["passes"].items()))
    print(f"wrote {out} and {dest}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
