"""``facecast portrait check``: what the portrait renderer sees in a photo, before going live."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facecast.engine.cli.options import HelpFormatter, UserError
from facecast.engine.media import contact_sheet
from facecast.engine.render.base import RendererUnavailable
from facecast.engine.types import FaceSample, KEY_SHAPES, NUM_ARKIT, PixelFormat, arkit_index


#: Side of each picture of the check's sheet, pixels.
SHEET_FRAME_PX = 256


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
                    "the expression shown (under 100%: the fold guard held some back). Exit code 1 when "
                    "the photo is refused. It also says whether this photo's own field gains have been fitted "
                    "('facecast calibrate fit-portrait').",
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
        shown = _write_sheet(args.photo, args.out)
        summary = {"photo": str(args.photo), "size_px": list(check.size_px), "faces": check.faces,
                   "iod_px": check.iod_px, "head_deg": list(check.head_deg), "outside_share": check.outside_share,
                   "steadiness_iods": check.steadiness_iods, "notes": list(check.notes),
                   "expression_shown": shown}
        (args.out / "check.json").write_text(json.dumps(summary, indent=1))
        held = {k: v for k, v in shown.items() if v < 1.0}
        print("key shapes at full weight: " + ("all shown in full" if not held else
              "held back by the fold guard: " + ", ".join(f"{k} {v:.0%}" for k, v in held.items())))
        print(f"sheet: {args.out / 'check.png'}")
    return 0


def _write_sheet(photo: str, out: Path) -> dict[str, float]:
    """check.png: the photo's own expression, the neutral face (all weights 0), then each key shape at weight 1
    from the neutral face, labelled with the share shown; returns that share per key shape."""
    from PIL import Image, ImageDraw

    from facecast.engine.render.portrait import PortraitRenderer  # numba: compiled on first use

    renderer = PortraitRenderer(portrait=photo, width=SHEET_FRAME_PX, height=SHEET_FRAME_PX,
                                pixel_format=PixelFormat.RGB8)
    renderer.prepare()
    frames, shown = [], {}
    for name in ("photo", "neutral", *KEY_SHAPES):
        w = renderer.rest_weights.astype(np.float32) if name == "photo" else np.zeros(NUM_ARKIT, np.float32)
        if name in KEY_SHAPES:
            w[arkit_index(name)] = 1.0
        image = Image.fromarray(renderer.render(FaceSample(capture_wall_ns=0, weights=w)))
        label = name
        if name in KEY_SHAPES:
            shown[name] = float(renderer.expression_shown)
            label += f" {shown[name]:.0%}"
        draw = ImageDraw.Draw(image)
        draw.rectangle([0, 0, 8 + 6 * len(label), 14], fill=(0, 0, 0))
        draw.text((4, 2), label, fill=(255, 255, 255) if shown.get(name, 1.0) >= 1.0 else (255, 120, 90))
        frames.append(np.asarray(image))
    renderer.close()
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".check.png.tmp"
    Image.fromarray(contact_sheet(frames, columns=4, thumb_px=SHEET_FRAME_PX)).save(tmp, format="PNG")
    tmp.replace(out / "check.png")
    return shown
