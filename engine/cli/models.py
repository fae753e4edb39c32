"""``facecast models``, ``facecast enroll`` and ``facecast distill``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facecast.engine.cli.options import HelpFormatter, UserError
from facecast.engine.face.arcface import ArcFace, reference_crop
from facecast.engine.progress import lazy_progress_bar, progress_bar
from facecast.engine.render.base import RendererUnavailable
from facecast.engine.render.diffusion.distill import DistillConfig, distill, prepare_training_set, save_lora
from facecast.engine.render.diffusion.identity import EnrollmentError, enroll
from facecast.engine.render.diffusion.layout import (
    FILES, MANUAL, FetchError, check_models, fetch_models, find, manual_files, models_dir)
from facecast.engine.render.diffusion.loading import load_models
from facecast.engine.render.diffusion.renderer import resolve_device



def add_models(sub) -> None:
    lines = [f"  {f.key:52s} {f.what}{'' if f.required else ' (optional)'}"
             + (f"\n  {'':52s}   or {', '.join(f.alternatives)}" if f.alternatives else "") for f in FILES]
    p = sub.add_parser(
        "models", help="check or download the diffusion renderer's models",
        description="The diffusion renderer loads Arc2Face (Hugging Face FoivosPar/Arc2Face) and the parts of "
                    "SD1.5 it uses from one folder, in the published layout (an upstream Arc2Face models/ folder "
                    "works as it is):\n\n" + "\n".join(lines) +
                    "\n\nSD1.5's parts (sd15/) and the LCM-LoRA are also found in the Hugging Face cache when "
                    "they are there already. SMIRK_em1.pt is not on the hub: 'models check' says how to get it."
                    f"\n\nDefault folder: {models_dir()} ($FACECAST_MODELS_DIR overrides it).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    q = steps.add_parser("check", help="report every missing or mismatched file and what to do")
    q.add_argument("dir", type=Path, nargs="?", default=None, metavar="DIR", help="models folder")
    q.set_defaults(func=_cmd_check)
    q = steps.add_parser("fetch", help="download the published files (needs network; a few GB)")
    q.add_argument("--dir", type=Path, default=None, help="models folder")
    q.add_argument("--no-optional", action="store_true",
                   help="skip the optional files (the reference adapter and the LCM-LoRA)")
    q.set_defaults(func=_cmd_fetch)


def _cmd_check(args) -> int:
    root = args.dir or models_dir()
    problems = check_models(root)
    if not problems:
        print(f"{root}: all files present and consistent")
        _print_optional(root)
        return 0
    print(f"{root}: {len(problems)} problem(s)")
    for p in problems:
        print(f"  {p}")
    _print_optional(root)
    return 1


def _print_optional(root: Path) -> None:
    """The optional files that are not there, and how to get them."""
    for f in FILES:
        if f.required or f.present(root) is not None:
            continue
        how = f.download.replace("DIR", str(root)) if f.repo == MANUAL else f"'facecast models fetch' ({f.repo})"
        print(f"  optional, not there: {f.key} ({f.what}): {how}")


def _cmd_fetch(args) -> int:
    root = args.dir or models_dir()
    try:
        files = fetch_models(root, include_optional=not args.no_optional,
                             progress=lazy_progress_bar(unit="files"))
    except FetchError as exc:
        raise UserError(str(exc)) from None
    print(f"{len(files)} files in {root}; check them with 'facecast models check {root}'")
    for f in manual_files(root):
        print(f"not on the Hugging Face hub, to get by hand: {f.key} ({f.what}): "
              f"{f.download.replace('DIR', str(root))}")
    return 0


def add_enroll(sub) -> None:
    p = sub.add_parser(
        "enroll", help="enroll a person for the diffusion renderer from one photo",
        description="Detect and align the face in PORTRAIT (MediaPipe landmarks reduced to 5 points), embed "
                    "it with Arc2Face's arcface.onnx (onnxruntime) and store the 512-d embedding and a "
                    "512x512 FFHQ-framed crop (the reference adapter's photo) under NAME. The prompt embeddings are computed and "
                    "cached on first use. With --embedding FILE.npy, detection is skipped.",
        formatter_class=HelpFormatter)
    p.add_argument("portrait", nargs="?", metavar="PORTRAIT", help="photo of the person (or 'astronaut')")
    p.add_argument("--name", required=True, help="identity name for --identity")
    p.add_argument("--embedding", type=Path, metavar="NPY", help="use this (512,) ArcFace embedding instead")
    p.add_argument("--models", type=Path, metavar="DIR", help="models folder (for arcface.onnx)")
    p.add_argument("--folder", type=Path, metavar="DIR", help="store here instead of the cache's identities folder")
    p.set_defaults(func=_cmd_enroll)


def _cmd_enroll(args) -> int:
    crop = None
    try:
        if args.embedding is not None:
            try:
                embedding = np.load(args.embedding, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise EnrollmentError(f"cannot read {args.embedding}: {exc}") from None
            source = str(args.embedding)
        else:
            if not args.portrait:
                raise EnrollmentError("give a PORTRAIT photo or --embedding FILE.npy")
            from facecast.engine.render.portrait.rig import load_portrait  # numba: compiled on first use

            root = args.models or models_dir()
            model = find(root, "arcface.onnx") or root / "arcface.onnx"  # or upstream's antelopev2/arcface.onnx
            try:
                rgb, _ = load_portrait(args.portrait)
                arcface = ArcFace(model)
            except RuntimeError as exc:
                raise EnrollmentError(f"{exc}; fetch the models with 'facecast models fetch', or pass "
                                      "--embedding FILE.npy") from None
            except Exception as exc:  # load_portrait's own errors (RendererUnavailable)
                raise EnrollmentError(str(exc)) from None
            try:
                landmarks = arcface.landmarks(rgb)
                embedding = None if landmarks is None else arcface.embed(rgb, landmarks)
            finally:
                arcface.close()
            if embedding is not None:
                crop = reference_crop(rgb, landmarks)
            if embedding is None:
                raise EnrollmentError(f"no face found in {args.portrait}; use a photo of one face looking "
                                      "at the camera")
            source = args.portrait
        result = enroll(args.name, embedding=embedding, source=source, reference_rgb=crop, folder=args.folder)
    except EnrollmentError as exc:
        raise UserError(str(exc)) from None
    print(f"enrolled {result.name} in {result.folder}; use: facecast run --renderer diffusion --identity {result.name}")
    return 0


def add_distill(sub) -> None:
    d = DistillConfig()
    p = sub.add_parser(
        "distill", help="train a few-step LoRA student of Arc2Face + the expression adapter (GPU)",
        description="Latent consistency distillation (the LCM-LoRA recipe): the teacher is upstream's full "
                    "recipe (the base UNet with the expression adapter, DPM-Solver++ on its 25-step timesteps, "
                    "guidance 3.0: --quality reference); the student is the same UNet with a LoRA, trained to jump "
                    "along the "
                    "teacher's trajectories, so 1-4 guidance-free steps stand in for 25 guided ones. "
                    "DATA is a .safetensors with 'images' (N, H, W, 3) uint8 aligned face crops, "
                    "'embeddings' (N, 512) their ArcFace embeddings and 'flame' (N, 55) their FLAME vectors "
                    "(e.g. SMIRK on the same crops). Writes OUT/pytorch_lora_weights.safetensors for "
                    "'facecast run --renderer diffusion --lora OUT'. Meant for a GPU: hours at SD1.5 scale.",
        formatter_class=HelpFormatter)
    p.add_argument("--data", type=Path, required=True, metavar="SET", help="training set (.safetensors)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the LoRA")
    p.add_argument("--models", type=Path, metavar="DIR", help="models folder")
    p.add_argument("--iterations", type=int, default=d.iterations, help="training steps of the student")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="training images per step")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help="AdamW learning rate of the LoRA")
    p.add_argument("--rank", type=int, default=d.lora_rank, help="LoRA rank")
    p.add_argument("--guidance", type=float, default=d.guidance, help="the teacher's guidance")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the training noise and expressions")
    p.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    p.set_defaults(func=_cmd_distill)


def _cmd_distill(args) -> int:
    try:
        config = DistillConfig(iterations=args.iterations, batch_size=args.batch_size,
                               learning_rate=args.learning_rate, lora_rank=args.rank, guidance=args.guidance,
                               seed=args.seed)
        models = load_models(args.models or models_dir(), device=resolve_device(args.device))
        data = prepare_training_set(models, args.data, progress=lazy_progress_bar(unit="images encoded"))
    except (RendererUnavailable, ValueError) as exc:
        raise UserError(str(exc)) from None
    bar = progress_bar(config.iterations, unit="steps")
    losses = distill(models, data, config, progress=lambda i, n, loss: bar(i, f"loss {loss:.4f}"))
    path = save_lora(models.unet, args.out, config)
    first, last = sum(losses[:10]) / max(1, len(losses[:10])), sum(losses[-10:]) / max(1, len(losses[-10:]))
    print(f"{len(data)} training latents, {config.iterations} steps, loss {first:.4f} -> {last:.4f}")
    print(f"LoRA: {path}  (use: facecast run --renderer diffusion --lora {path} --steps 2)")
    return 0

