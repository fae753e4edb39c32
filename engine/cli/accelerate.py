"""``facecast accelerate build`` and ``facecast doctor``."""

from __future__ import annotations

import platform
import time
from pathlib import Path

from facecast.engine import accel
from facecast.engine.accel.cache import engines_dir, facecast_version
from facecast.engine.cli.options import (
    HelpFormatter, UserError, add_diffusion_options, add_picture_options, diffusion_config)
from facecast.engine.render.base import RendererUnavailable
from facecast.engine.render.diffusion.layout import check_models, models_dir
from facecast.engine.render.diffusion.renderer import DiffusionRenderer
from facecast.engine.types import PixelFormat



def add_accelerate(sub) -> None:
    p = sub.add_parser(
        "accelerate", help="build the diffusion renderer's compiled engines ahead of a session",
        description="Export the streaming UNet step (expression adapter and temporal-attention bank included) and "
                    "the decoder, and build them for a backend, into the engine cache (keyed by the model's "
                    "hash, shapes, dtype, backend and the versions and GPU they were built for). 'facecast run' "
                    "with the same options then starts without building. A stale or foreign engine is rebuilt.",
        formatter_class=HelpFormatter)
    steps = p.add_subparsers(dest="accelerate_command", required=True, metavar="ACTION")
    q = steps.add_parser("build", help="build (or check) the engines for one backend and one set of options",
                         description="Takes the options 'facecast run' takes for the diffusion renderer; those "
                                     "that shape the engines (size, format, steps, guidance, LoRA, decoder, "
                                     "device, bank weights, backend, stream batching) must match the run's.",
                         formatter_class=HelpFormatter)
    add_picture_options(q)
    add_diffusion_options(q)
    q.set_defaults(func=_cmd_build)


def _cmd_build(args) -> int:
    width, height = args.size
    config = diffusion_config(args)
    t0 = time.monotonic()
    try:
        renderer = DiffusionRenderer(models=Path(args.models) if args.models else models_dir(), identity="",
                                     config=config, width=width, height=height, pixel_format=PixelFormat(args.format))
        unet_step, decoder = renderer.prepare_engines()  # the renderer's own preparation, without an identity
    except (RendererUnavailable, ValueError) as exc:
        raise UserError(str(exc)) from None
    except RuntimeError as exc:  # an exporter or builder failure
        raise UserError(f"building for {args.backend} failed: {exc}") from None
    print(f"{args.backend}: built or found in {time.monotonic() - t0:.1f} s")
    for acc in (unet_step, decoder):
        error = parity(acc)
        where = f" ({acc.folder})" if acc.folder else ""
        print(f"  {acc.component.kind:10s} max |difference| from torch eager: {error:.2e}{where}")
    return 0


def parity(accelerated, *, batch: int = 1) -> float:
    """Max absolute difference between ``accelerated`` and the eager component on its example inputs."""
    import torch

    inputs = accelerated.component.example_inputs(batch)
    with torch.inference_mode():
        want = accelerated.component(*inputs)
    got = accelerated(*inputs)
    return max(float((g.float() - w.float()).abs().max()) for g, w in zip(got, want))


def add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="what runs on this machine: acceleration backends, GPU, models",
                       description="Report which acceleration backends can run here and why not where one "
                                   "cannot, the GPU, the engine cache and the diffusion models folder.")
    p.set_defaults(func=_cmd_doctor)


def _cmd_doctor(args) -> int:
    try:
        import torch
    except ImportError:
        torch = None
    versions = (f"torch {torch.__version__} (CUDA {torch.version.cuda or 'none'})" if torch is not None
                else "no torch")
    print(f"facecast {facecast_version()}, Python {platform.python_version()}, {versions}, {platform.machine()}")
    print("portrait renderer: yes (CPU)")
    print(f"lip-sync microphone (--lipsync mic): {_microphones()}")
    if torch is None:
        print("diffusion renderer: no: torch is not installed. Add it with 'make diffusion', or "
              "'pip install torch' (the build for your GPU) then pip install 'facecast[diffusion]'")
    else:
        _report_backends(torch)
    cache = engines_dir()
    entries = [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")] if cache.is_dir() else []
    size = sum(f.stat().st_size for e in entries for f in e.iterdir() if f.is_file())
    print(f"\nengine cache: {cache} ({len(entries)} entries, {size / 2**20:.1f} MiB)")
    root = models_dir()
    problems = check_models(root) if root.exists() else None
    state = "not there ('facecast models fetch')" if problems is None else \
        "complete" if not problems else f"{len(problems)} problem(s) ('facecast models check')"
    print(f"diffusion models: {root}: {state}")
    return 0


def _microphones() -> str:
    """What ``--lipsync mic`` would find: the inputs, or why none (PortAudio or sounddevice missing)."""
    from facecast.engine.sources import SourceError
    from facecast.engine.sources.lipsync import list_input_devices

    try:
        devices = list_input_devices()
    except SourceError as exc:
        return f"no: {exc}"
    if not devices:
        return "no input device found (--lipsync wav:PATH still works)"
    default = next((d["name"] for d in devices if d["default"]), devices[0]["name"])
    return f"yes, {len(devices)} input(s), default {default!r}"


def _report_backends(torch) -> None:
    """GPU, onnxruntime's providers, and each acceleration backend: yes, or why not."""
    from facecast.engine.accel.base import gpu_name  # imports torch

    print(f"GPU: {gpu_name()}")
    try:
        import onnxruntime as ort
        print(f"onnxruntime {ort.__version__}: {', '.join(ort.get_available_providers())}")
    except ImportError:
        print("onnxruntime: not installed")
    print("\nacceleration backends (--backend):")
    for name, backend in accel.backends().items():
        reason = backend.unavailable()
        print(f"  {'yes' if reason is None else 'no ':3s}  {name:22s} {backend.summary if reason is None else reason}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"  --backend auto picks: {accel.resolve_backend('auto', device)} (on {device})")
