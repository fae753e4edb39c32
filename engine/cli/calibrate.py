"""``facecast calibrate``: record a neutral face and an expression range, show profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facecast.calibration.capture import CalibrationError, fit_neutral, fit_range, record
from facecast.calibration.eval.fidelity import KEY_SHAPES
from facecast.calibration.lipsync import LipsyncCalibrationError, draw_vowel_chart, fit_vowels, record_take
from facecast.calibration.mapping_fit import fit_mapping, load_pairs, pairs_origin
from facecast.calibration.pairs import PairsError, frame_count, make_pairs
from facecast.calibration.plots import plot_response
from facecast.calibration.portrait_fit import fit_photo
from facecast.engine.cli.options import HelpFormatter, UserError, add_source_options, positive, source_from_args
from facecast.engine.face.models import FaceModelError
from facecast.engine.face.smirk import SmirkError, SmirkExpression, default_checkpoint
from facecast.engine.progress import progress_bar
from facecast.engine.render.diffusion.layout import models_dir
from facecast.engine.retarget.flame import MappingError
from facecast.engine.retarget.profile import Profile, load_profile, profile_path, profiles_dir, save_profile
from facecast.engine.sources import SourceError
from facecast.engine.sources.lipsync.audio import MicAudio, list_input_devices, read_wav, to_analysis_rate
from facecast.engine.sources.lipsync.features import SAMPLE_RATE_HZ
from facecast.engine.sources.lipsync.visemes import VowelTemplates
from facecast.engine.types import ARKIT_NAMES




def add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="calibration profiles (neutral, range, lipsync, show, list) and portrait field gains",
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
    q = steps.add_parser(
        "lipsync", help="record your voice saying A, I, U, E, O: lip-sync's vowel templates",
        description="Say A, I, U, E, O (as in 'father', 'see', 'food', 'say', 'go'), each held for about half a "
                    "second, with a short pause between them, into the microphone (or give a WAV of that). "
                    "Stores the vowels' formants and your speech level in the profile; 'facecast run --lipsync "
                    "... --profile NAME' then uses them.",
        formatter_class=HelpFormatter)
    q.add_argument("--profile", metavar="NAME", help="profile to create or update (required unless --list-devices)")
    q.add_argument("--wav", type=Path, metavar="PATH", help="read the take from this WAV instead of recording")
    q.add_argument("--mic", metavar="DEVICE", nargs="?", const="", default=None,
                   help="the microphone (an index or part of a name; default: the system's default input)")
    q.add_argument("--seconds", type=positive(float), default=6.0, help="how long to record")
    q.add_argument("--plot", type=Path, metavar="PNG", help="draw your vowels against the defaults to this PNG")
    q.add_argument("--list-devices", action="store_true", help="list the audio inputs and exit")
    q.set_defaults(func=_cmd_lipsync)
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
                    "the smallest gain in 0.7..2.5 (blinks up to 1.45: a blink shuts the eye at 0.69 of its "
                    "weight at the earliest; eyeWide, judged by its drawn landmarks, from 0.4) whose measured "
                    "range reaches 0.35, among those that "
                    "fold nothing, respond monotonically, draw the landmarks far enough for MediaPipe's "
                    "blendshape model to score 0.35, keep dlib's identity distance within 0.1 of the "
                    "neutral face's (or under 0.43), and do not stretch the lips into streaks (jawOpen, "
                    "mouthFunnel and mouthPucker: where 0.7 streaks already, the largest of 0.6, 0.5 and 0.4 "
                    "that does not comes first). About a minute on two cores. The gains are saved for "
                    "this photo, and 'facecast run/render/eval --portrait PHOTO' use them from then on; "
                    "with --out they go to a file instead (use it with --portrait-gains FILE).",
        formatter_class=HelpFormatter)
    q.add_argument("--portrait", default="astronaut", metavar="PHOTO", help="the photo whose fields to fit")
    q.add_argument("--shapes", default="key", help="'key' (the 14 measured by facecast eval), 'all', or NAME,NAME")
    q.add_argument("--no-identity", action="store_true", help="skip the identity constraint (faster)")
    q.add_argument("--out", type=Path, metavar="NPZ",
                   help="write the gains to this file instead of saving them for the photo (shapes not "
                        "fitted keep the shipped gains)")
    q.set_defaults(func=_cmd_fit_portrait)
    q = steps.add_parser(
        "make-pairs", help="ARKit weights and SMIRK's FLAME of every frame of a video, for fit-mapping",
        description="Run MediaPipe FaceLandmarker (the 52 blendshapes the webcam: and video: sources give) and "
                    "SMIRK's expression encoder (the FLAME parameters the diffusion renderer's expression adapter "
                    "was trained on) on every frame of CLIP, and save the pairs of the frames with a face. Record "
                    "about 60 s of your own face, lit and facing the camera, going through many expressions "
                    "(smiles, frowns, open jaw, pursed lips, blinks, raised brows, one side then the other). "
                    "With --profile, the weights are taken after that calibration profile, as 'facecast run "
                    "--profile' feeds them to the map. Then: 'facecast calibrate fit-mapping PAIRS --out MAP.npz'.",
        formatter_class=HelpFormatter)
    q.add_argument("--video", type=Path, required=True, metavar="CLIP", help="the recording (any video OpenCV reads)")
    q.add_argument("--smirk", type=Path, metavar="PATH",
                   help="SMIRK's SMIRK_em1.pt (default: MODELS/smirk/SMIRK_em1.pt, Arc2Face's place; how to "
                        "download it: 'facecast models check')")
    q.add_argument("--models", type=Path, metavar="DIR", help="models folder to find smirk/SMIRK_em1.pt in")
    q.add_argument("--profile", metavar="NAME", help="calibration profile to apply to the weights first")
    q.add_argument("--model", type=Path, metavar="PATH", help="MediaPipe face_landmarker.task (default: see "
                                                              "docs/sources.md, \"The webcam model\")")
    q.add_argument("--device", default="auto", help="where SMIRK runs: auto, cpu, cuda")
    q.add_argument("--out", type=Path, required=True, metavar="PAIRS", help="where to write the pairs (.npz)")
    q.set_defaults(func=_cmd_make_pairs)
    q = steps.add_parser(
        "fit-mapping", help="fit the ARKit -> FLAME map the diffusion renderer needs",
        description="Fit a linear map (plus bias) from the 52 ARKit weights to the 55-d FLAME vector "
                    "(50 expression, 2 eyelid, 3 jaw) by ridge regression, the penalty chosen by "
                    "k-fold cross-validation, and print the cross-validated error. PAIRS is an .npz "
                    "with 'arkit' (N, 52) and 'flame' (N, 55) from the same frames: 'facecast calibrate "
                    "make-pairs' writes one. The map keeps whose weights (tracker, profile) it was fitted on; "
                    "'facecast run' warns when it is fed others. "
                    "Use the result with 'facecast run --renderer diffusion --flame-map MAP.npz'.",
        formatter_class=HelpFormatter)
    q.add_argument("pairs", type=Path, metavar="PAIRS", help="paired samples (.npz with arkit and flame)")
    q.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    q.add_argument("--out", type=Path, required=True, metavar="MAP", help="where to write the mapping (.npz)")
    q.set_defaults(func=_cmd_fit_mapping)


def _cmd_record(args) -> int:
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


def _cmd_lipsync(args) -> int:
    if args.list_devices:
        try:
            devices = list_input_devices()
        except SourceError as exc:
            raise UserError(str(exc)) from None
        for d in devices:
            print(f"{d['index']:3d}  {d['name']}  ({d['channels']} ch, {d['default_rate_hz']:.0f} Hz)"
                  + ("  [default]" if d["default"] else ""))
        if not devices:
            print("no audio inputs found (connect a microphone; on Linux check 'arecord -l')")
        return 0
    if not args.profile:
        raise UserError("give --profile NAME (the profile the templates go into)")
    if args.wav is not None and args.mic is not None:
        raise UserError("--wav reads a take and --mic records one: choose one")
    path = profile_path(args.profile)
    try:
        profile = load_profile(args.profile) if path.is_file() else Profile(name=path.stem)
        if args.wav is not None:
            data, rate = read_wav(args.wav)
            take = to_analysis_rate(data, rate)
        else:
            mic = MicAudio(args.mic or None)
            mic.open()
            try:
                print("Say A ... I ... U ... E ... O, each held for half a second, a short pause between them.",
                      flush=True)
                bar = progress_bar(int(args.seconds * SAMPLE_RATE_HZ), unit="samples")
                take = record_take(mic, args.seconds, progress=bar)
            finally:
                mic.close()
        templates = fit_vowels(take)
    except (SourceError, LipsyncCalibrationError, ValueError) as exc:
        raise UserError(str(exc)) from None
    written = save_profile(profile.with_changes(lipsync=templates.to_dict()), path)
    for v in templates.vowels_hz:
        f1, f2 = templates.vowels_hz[v]
        print(f"  {v}: F1 {f1:5.0f} Hz  F2 {f2:5.0f} Hz")
    print(f"  speech level {templates.peak_dbfs:.1f} dBFS")
    if args.plot:
        print(f"vowel chart: {draw_vowel_chart(templates, args.plot)}")
    print(f"profile written to {written}")
    return 0


def _cmd_show(args) -> int:
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
    if profile.lipsync is None:
        print("lip-sync voice: none (the defaults; 'facecast calibrate lipsync' fits one)")
    else:
        try:
            vowels = VowelTemplates.from_dict(profile.lipsync).vowels_hz
            print("lip-sync voice (F1, F2 Hz): " + ", ".join(f"{v} {f1:.0f}/{f2:.0f}" for v, (f1, f2) in vowels.items()))
        except ValueError as exc:
            print(f"lip-sync voice: unusable ({exc}); fit it again with 'facecast calibrate lipsync'")
    if args.plot is not None:

        plot_response(profile, args.plot)
        print(f"response plot written to {args.plot}")
    return 0


def _cmd_list(args) -> int:
    folder = profiles_dir()
    names = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
    print(f"{folder}: " + (", ".join(names) if names else "no profiles yet"))
    return 0


__all__ = ["add_calibrate"]


def _cmd_fit_portrait(args) -> int:
    if args.shapes == "key":
        shapes = KEY_SHAPES
    elif args.shapes == "all":
        shapes = ARKIT_NAMES
    else:
        shapes = tuple(n for n in args.shapes.split(",") if n)
    try:
        out, fits = fit_photo(args.portrait, shapes=tuple(shapes), identity=not args.no_identity, out=args.out)
    except (KeyError, RuntimeError) as exc:  # RendererUnavailable included; a missing model says what to install
        raise UserError(str(exc)) from None
    print(f"{'shape':20s} {'gain':>5s} {'range':>6s} {'rho':>6s} {'identity':>8s}  why")
    for f in fits:
        print(f"{f.shape:20s} {f.gain:5.2f} {f.range:6.3f} {f.rho:6.3f} {f.identity:8.3f}  {f.reason}")
    if args.out is not None:
        print(f"gains: {out}  (use: facecast run --renderer portrait --portrait-gains {out})")
    else:
        print(f"gains saved for {args.portrait}: {out}\n'facecast run --portrait {args.portrait}' uses them from now on")
    return 0


def _cmd_make_pairs(args) -> int:
    checkpoint = args.smirk or default_checkpoint(args.models or models_dir())
    if checkpoint is None:
        raise UserError(f"give --smirk PATH (SMIRK_em1.pt); none in {(args.models or models_dir()) / 'smirk'}")
    try:
        profile = load_profile(args.profile) if args.profile else None
        device = args.device
        if device == "auto":
            import torch  # SmirkExpression needs it; its own error says what to install
            device = "cuda" if torch.cuda.is_available() else "cpu"
        smirk = SmirkExpression(checkpoint, device=device)
    except ImportError:
        raise UserError("SMIRK needs torch: pip install 'facecast[diffusion]'") from None
    except (FileNotFoundError, ValueError, SmirkError, RuntimeError) as exc:
        raise UserError(str(exc)) from None
    bar = progress_bar(frame_count(args.video), unit="frames")  # a container that declares no count: no bar
    try:
        pairs = make_pairs(args.video, smirk=smirk, model_path=args.model, profile=profile,
                           progress=lambda done, total: bar(min(done, total)))
    except (PairsError, FaceModelError) as exc:
        raise UserError(str(exc)) from None
    path = pairs.save(args.out)
    print(f"{len(pairs.frame)} pairs from {pairs.frames_read} frames of {args.video} "
          f"({pairs.frames_read - len(pairs.frame)} without a face), profile: {pairs.profile or 'none'}")
    print(f"pairs: {path}  (next: facecast calibrate fit-mapping {path} --out map.npz)")
    return 0


def _cmd_fit_mapping(args) -> int:
    try:
        x, y = load_pairs(args.pairs)
        tracker, profile = pairs_origin(args.pairs)
    except MappingError as exc:
        raise UserError(str(exc)) from None
    fit = fit_mapping(x, y, folds=args.folds)
    fit.mapping.tracker, fit.mapping.profile = tracker, profile
    path = fit.mapping.save(args.out, cv_rmse=fit.cv_rmse, ridge_lambda=np.float64(fit.ridge_lambda))
    print(f"{fit.pairs} pairs, {fit.folds}-fold cross-validation, ridge lambda {fit.ridge_lambda:g}"
          + (f"; fitted on {tracker} weights, profile {profile or 'none'}" if tracker else ""))
    print(f"{'block':12s} {'cv rmse':>8s} {'mean-predictor rmse':>20s}")
    for block, r in fit.summary().items():
        print(f"{block:12s} {r['cv_rmse']:8.4f} {r['mean_predictor_rmse']:20.4f}")
    print(f"mapping: {path}  (use: facecast run --renderer diffusion --flame-map {path})")
    return 0

