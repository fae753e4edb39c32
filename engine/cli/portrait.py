"""``facecast portrait check``: what the portrait renderer sees in a photo, before going live."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facecast.engine.cli.options import HelpFormatter, UserError
from facecast.engine.media import contact_sheet
from facecast.engine.render.base import RendererUnavailable
from facecast.engine.types import FaceSample, KEY_SHAPES, NUM_ARKIT, PixelFormat, arkit_index


#: Side of each picture of the check's sheet, pixels; the frames are drawn at ``facecast eval``'s size (so the
#: likeness is measured as eval measures it) and shrunk.
SHEET_FRAME_PX = 256
DRAWN_PX = 512
#: Past this likeness distance of the neutral face, the check says that a more relaxed photo keeps more of it.
RELAXED_PHOTO_HINT = 0.4


def add_portrait(sub) -> None:
    p = sub.add_parser(
        "portrait", help="check a photo for the portrait renderer",
        description="Tools for the portrait renderer's photo ('facecast run --portrait PHOTO').",
        formatter_class=HelpFormatter)
    steps = p.add_subparsers(dest="portrait_command", required=True, metavar="ACTION")
    q = steps.add_parser(
        "check", help="can this photo be animated, and how does it look",
        description="Track the faces in PHOTO and report what decides whether it can be animated: faces found "
                    "(the largest is used), the distance between the eyes in pixels, head yaw/pitch/roll, the "
                    "expression the photo already has, how much of the face is outside the photo and how "
                    "steadily MediaPipe tracks it; then the reason if it is refused. With --out, also a sheet: "
                    "the photo, its neutral face (weights are absolute: all zeros takes the photo's own "
                    "expression out), and the 14 key shapes at full weight, each labelled with the share of "
                    "the expression shown (under 100%: the fold guard held some back), and whether it found a "
                    "dark glasses frame (drawn as a layer that stays on the head). Exit code 1 when "
                    "the photo is refused. It also says whether this photo's own field gains have been fitted "
                    "('facecast calibrate fit-portrait'), and, with --out and dlib installed (facecast[eval]), "
                    "the likeness: dlib's face distance of the neutral face and of each key shape from the photo "
                    "(facecast's goal is 0.45 on every frame; a photo showing a strong expression loses some "
                    "where its expression is taken out).",
        formatter_class=HelpFormatter)
    q.add_argument("photo", metavar="PHOTO", help="the photo (JPEG, PNG, ...), or 'astronaut'")
    q.add_argument("--out", type=Path, metavar="DIR", help="folder for check.png (the sheet) and check.json")
    q.set_defaults(func=_cmd_check)


def _cmd_check(args) -> int:
    import json

    from facecast.engine.render.portrait.gains import fitted_gains_path
    from facecast.engine.render.portrait.photo import check_photo  # numba: compiled on first use
    from facecast.engine.render.portrait.rig import ASTRONAUT, load_portrait  # numba: compiled on first use

    try:
        rgb, name = load_portrait(args.photo)
        check = check_photo(rgb, name=name if name == ASTRONAUT else str(args.photo))
    except RendererUnavailable as exc:
        raise UserError(str(exc)) from None
    print("\n".join(check.lines()), flush=True)
    if check.refusal:
        return 1
    fitted = fitted_gains_path(check.digest)
    print(f"field gains: fitted for this photo ({fitted})" if fitted.is_file() else
          "field gains: shipped; fit them to this photo (about a minute, then used automatically): "
          f"facecast calibrate fit-portrait --portrait {args.photo}")
    if args.out is not None:
        frames, shown, glasses = _draw_key_shapes(args.photo)
        likeness = _likeness(rgb, frames)
        _write_sheet(frames, shown, likeness, args.out)
        summary = {"photo": str(args.photo), "size_px": list(check.size_px), "faces": check.faces,
                   "iod_px": check.iod_px, "head_deg": list(check.head_deg), "outside_share": check.outside_share,
                   "steadiness_iods": check.steadiness_iods, "notes": list(check.notes),
                   "glasses": glasses, "expression_shown": shown, "likeness": likeness}
        (args.out / "check.json").write_text(json.dumps(summary, indent=1))
        if glasses:
            print("glasses: a dark frame, drawn as a layer that stays on the head while the brows and lids move "
                  "under it (a light or clear frame is not found, and bends a little with the skin)")
        held = {k: v for k, v in shown.items() if v < 1.0}
        print("key shapes at full weight: " + ("all shown in full" if not held else
              "held back by the fold guard: " + ", ".join(f"{k} {v:.0%}" for k, v in held.items())))
        print("\n".join(_likeness_lines(likeness, check)))
        print(f"sheet: {args.out / 'check.png'}")
    return 0


def _likeness(photo_rgb: np.ndarray, frames: dict[str, np.ndarray]) -> dict:
    """dlib's face distance from the photo of each drawn frame but the photo's own: ``{"goal", "distances": {name:
    distance or None where dlib finds no face}}``, or ``{"error": why}`` where dlib is not installed."""
    from facecast.calibration.eval.fidelity import GOAL_IDENTITY, DlibIdentity

    try:
        dlib = DlibIdentity()
    except RuntimeError as exc:
        return {"error": str(exc)}
    reference = dlib.embed(photo_rgb)
    if reference is None:
        return {"error": "dlib finds no face in the photo"}
    distances = {}
    for name, frame in frames.items():
        if name != "photo":
            e = dlib.embed(frame)
            distances[name] = None if e is None else round(dlib.distance(e, reference), 3)
    return {"goal": GOAL_IDENTITY, "distances": distances}


def _likeness_lines(likeness: dict, check) -> list[str]:
    """:func:`_likeness`'s result as lines for a person, with the advice for a photo whose neutral face is far from it
    (``check``: the photo's :class:`~facecast.engine.render.portrait.photo.PhotoCheck`)."""
    if "error" in likeness:
        return [f"likeness: not measured ({likeness['error']})"]
    goal, d = likeness["goal"], likeness["distances"]
    shapes = {k: v for k, v in d.items() if k != "neutral"}
    found = {k: v for k, v in shapes.items() if v is not None}
    # three decimals: at two, a distance of 0.451 read "0.45", past the goal of 0.45 (two_faces' mouthStretchLeft)
    lines = [f"likeness (dlib's face distance from the photo; facecast's goal {goal} on every frame, dlib's "
             f"same-person threshold 0.6): neutral face "
             + ("not found" if d["neutral"] is None else f"{d['neutral']:.3f}")
             + (f", key shapes at full weight {min(found.values()):.3f}-{max(found.values()):.3f}" if found else "")]
    over = sorted(((v, k) for k, v in found.items() if v > goal), reverse=True)
    if over:
        lines.append("  past the goal: " + ", ".join(f"{k} {v:.3f}" for v, k in over))
    missing = [k for k, v in shapes.items() if v is None]
    if missing:
        lines.append("  no face found by dlib in: " + ", ".join(missing))
    if d["neutral"] is not None and d["neutral"] > RELAXED_PHOTO_HINT and check.taken_out() != "nothing":
        lines.append(f"  the neutral face takes the photo's own expression out ({check.taken_out(most=3)}), which "
                     f"moves it {d['neutral']:.3f} from the photo: a photo with a relaxed, closed-mouth face keeps "
                     "more of the likeness")
    return lines


def _draw_key_shapes(photo: str) -> tuple[dict[str, np.ndarray], dict[str, float], bool]:
    """The photo's own expression, the neutral face (all weights 0) and each key shape at weight 1 from the neutral
    face, drawn at :data:`DRAWN_PX`: ``({name: (H, W, 3) uint8}, {key shape: share of it shown}, whether the
    renderer found a glasses frame)``."""
    from facecast.engine.render.portrait import PortraitRenderer  # numba: compiled on first use

    renderer = PortraitRenderer(portrait=photo, width=DRAWN_PX, height=DRAWN_PX, pixel_format=PixelFormat.RGB8)
    renderer.prepare()
    frames, shown = {}, {}
    glasses = renderer.glasses is not None
    try:
        for name in ("photo", "neutral", *KEY_SHAPES):
            w = renderer.rest_weights.astype(np.float32) if name == "photo" else np.zeros(NUM_ARKIT, np.float32)
            if name in KEY_SHAPES:
                w[arkit_index(name)] = 1.0
            frames[name] = np.ascontiguousarray(renderer.render(FaceSample(capture_wall_ns=0, weights=w))[..., :3])
            if name in KEY_SHAPES:
                shown[name] = float(renderer.expression_shown)
    finally:
        renderer.close()
    return frames, shown, glasses


def _write_sheet(frames: dict[str, np.ndarray], shown: dict[str, float], likeness: dict, out: Path) -> None:
    """check.png: the frames of :func:`_draw_key_shapes`, each labelled with the share of the shape shown (orange
    under 100%: the fold guard held some back) and dlib's distance from the photo (orange past the goal)."""
    from PIL import Image, ImageDraw

    distances, goal = likeness.get("distances", {}), likeness.get("goal", np.inf)
    thumbs = []
    for name, frame in frames.items():
        image = Image.fromarray(frame).resize((SHEET_FRAME_PX, SHEET_FRAME_PX), Image.LANCZOS)
        label = name + (f" {shown[name]:.0%}" if name in shown else "")
        d = distances.get(name)
        if d is not None:
            label += f"  d {d:.3f}"
        warn = shown.get(name, 1.0) < 1.0 or (d is not None and d > goal)
        draw = ImageDraw.Draw(image)
        draw.rectangle([0, 0, 8 + 6 * len(label), 14], fill=(0, 0, 0))
        draw.text((4, 2), label, fill=(255, 120, 90) if warn else (255, 255, 255))
        thumbs.append(np.asarray(image))
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".check.png.tmp"
    Image.fromarray(contact_sheet(thumbs, columns=4, thumb_px=SHEET_FRAME_PX)).save(tmp, format="PNG")
    tmp.replace(out / "check.png")
