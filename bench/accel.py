"""Acceleration backends on this machine: time per UNet call and per frame, parity with
torch eager, and the per-frame overhead outside the model, with SD1.5-architecture
random weights (real shapes, so real costs) in Arc2Face's layout, loaded and built
by facecast's own code (the renderer's ``accelerate()``; bank slots for the anchor
and previous frame, as the renderer's defaults).

Goals (issue 8) on a 2-core CPU: onnxruntime at least 1.3x faster than torch eager
per UNet call (256x256), and at most 1 ms of per-frame overhead outside the model.
The same script runs on a GPU with ``--device cuda`` and records the GPU's name.

    python bench/accel.py [--device cpu|cuda] [--sizes 256,512] [--backends torch,onnxruntime] [--reps 3]
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
from tiny_arc2face import write_random_taesd, write_tiny_arc2face  # noqa: E402

from facecast.engine.accel import BACKENDS, Accelerated, availability  # noqa: E402
from facecast.engine.accel.base import gpu_name  # noqa: E402
from facecast.engine.accel.cache import EngineCache  # noqa: E402
from facecast.engine.render.diffusion import identity as ident  # noqa: E402
from facecast.engine.render.diffusion.attention import AttentionBank, install_bank  # noqa: E402
from facecast.engine.render.diffusion.config import DiffusionConfig  # noqa: E402
from facecast.engine.render.diffusion.loading import load_models  # noqa: E402
from facecast.engine.render.diffusion.renderer import accelerate, bank_weights  # noqa: E402
from facecast.engine.render.diffusion.sampler import StreamSampler  # noqa: E402
from facecast.engine.render.diffusion.schedule import stream_schedule  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


class Frame:
    """The renderer's per-frame path: sampler (bank fed, frame recorded), decode to RGBA bytes."""

    def __init__(self, unet_step, decoder, bank, *, prompt, steps: int, scheduler_config) -> None:
        latent = (4, *unet_step.profile.latent_hw)
        self.sampler = StreamSampler(unet_step, stream_schedule(scheduler_config, steps), prompt_embeds=prompt,
                                     latent_shape=latent, bank=bank)
        self.decoder, self.bank = decoder, bank
        self.exp = torch.from_numpy(np.random.default_rng(1).normal(0, 0.5, (1, 55)).astype(np.float32))

    def __call__(self) -> np.ndarray:
        latents = self.sampler(self.exp, keep_frame=True)  # banked as the previous frame, step by step
        return self.decoder(latents)[0][0].cpu().numpy()


def null_like(accelerated: Accelerated) -> Accelerated:
    """The same component answered instantly with outputs of the right shapes (to time what is not the model)."""
    comp = accelerated.component
    device = next(comp.parameters()).device
    dtype = torch.uint8 if comp.kind == "decoder" else torch.float32
    outs = {b: tuple(torch.zeros(s, device=device, dtype=dtype) for s in comp.output_shapes(b).values())
            for b in (1, 2)}
    return Accelerated("null", comp, lambda *inputs: outs[inputs[0].shape[0]])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default="256,512", help="output sides, pixels")
    ap.add_argument("--backends", default=None, help="comma-separated (default: every one available here)")
    ap.add_argument("--reps", type=int, default=3, help="timed UNet calls and frames per backend and size")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--overhead-frames", type=int, default=200)
    ap.add_argument("--cache", type=Path, default=None, help="engine cache (default: a temporary folder)")
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default: bench/results/accel_<device>.json)")
    args = ap.parse_args()
    names = args.backends.split(",") if args.backends else [n for n, r in availability().items() if r is None]
    on_device = [n for n in names if args.device.split(":")[0] in BACKENDS[n].devices]
    if "torch" not in on_device:
        on_device.insert(0, "torch")
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.manual_seed(0)
    tmp = tempfile.TemporaryDirectory()
    cache = EngineCache(args.cache or Path(tmp.name) / "engines")
    print("writing SD1.5-size random weights in the Arc2Face layout...", flush=True)
    root = write_tiny_arc2face(Path(tmp.name) / "models", sd15_size=True)
    taesd = write_random_taesd(Path(tmp.name) / "taesd")
    models = load_models(root, device=args.device, decoder=taesd)
    prompt = ident.prompt_embeddings(models.text_encoder, models.tokenizer,
                                     np.random.default_rng(0).standard_normal(512)).to(args.device)
    rows, overhead = [], {}
    for size in sizes:
        eager_eps = None
        for name in on_device:
            cfg = DiffusionConfig(backend=name, decoder=str(taesd), steps=args.steps, device=args.device)
            bank = install_bank(models.unet, AttentionBank(weights=bank_weights(cfg)))
            t0 = time.perf_counter()
            unet_step, decoder = accelerate(models, bank, cfg, size_wh=(size, size), cache=cache)
            build_s = time.perf_counter() - t0
            inputs = unet_step.component.example_inputs(1)
            with torch.inference_mode():
                eps = unet_step(*inputs)[0]  # warm-up
            if name == "torch":
                eager_eps = eps
            call_s = timed(lambda: unet_step(*inputs), args.reps)
            frame = Frame(unet_step, decoder, bank, prompt=prompt, steps=args.steps,
                          scheduler_config=models.scheduler_config)
            frame()
            frame_s = timed(frame, args.reps)
            err = float((eps.float() - eager_eps.float()).abs().max())
            rel = err / float(eager_eps.float().abs().max())
            rows.append({"size": size, "backend": name, "build_s": build_s, "unet_call_ms": 1e3 * statistics.median(call_s),
                         "unet_call_ms_all": [1e3 * t for t in call_s], "frame_ms": 1e3 * statistics.median(frame_s),
                         "parity_max_abs": err, "parity_rel": rel})
            print(f"  {size}x{size} {name}: build {build_s:.1f} s, UNet call {rows[-1]['unet_call_ms']:.0f} ms, "
                  f"frame {rows[-1]['frame_ms']:.0f} ms, parity {err:.1e}", flush=True)
            if name == "torch":
                null = Frame(null_like(unet_step), null_like(decoder), bank, prompt=prompt, steps=args.steps,
                             scheduler_config=models.scheduler_config)
                null()
                ms = [1e3 * t for t in timed(null, args.overhead_frames)]
                overhead[size] = {"p50_ms": statistics.median(ms), "p99_ms": float(np.percentile(ms, 99))}
    device = gpu_name() if args.device.startswith("cuda") else (platform.processor() or platform.machine())
    print(f"\nSD1.5-architecture random weights, {args.steps}-step frames with TAESD, device {args.device} "
          f"({device}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'size':>9s} {'backend':22s} {'build s':>8s} {'UNet ms':>9s} {'vs eager':>8s} {'frame ms':>9s} "
          f"{'vs eager':>8s} {'max |err|':>9s} {'rel err':>8s}")
    for r in rows:
        base_row = next(x for x in rows if x["size"] == r["size"] and x["backend"] == "torch")
        r["unet_speedup"] = base_row["unet_call_ms"] / r["unet_call_ms"]
        r["frame_speedup"] = base_row["frame_ms"] / r["frame_ms"]
        print(f"{r['size']:4d}x{r['size']:<4d} {r['backend']:22s} {r['build_s']:8.1f} {r['unet_call_ms']:9.0f} "
              f"{r['unet_speedup']:7.2f}x {r['frame_ms']:9.0f} {r['frame_speedup']:7.2f}x {r['parity_max_abs']:9.1e} "
              f"{r['parity_rel']:8.1e}")
    for size, o in overhead.items():
        print(f"per-frame overhead outside the model at {size}x{size}: p50 {o['p50_ms']:.3f} ms, p99 {o['p99_ms']:.3f} ms")
    goals = {"overhead_1ms": all(o["p50_ms"] <= 1.0 for o in overhead.values())}
    if args.device == "cpu":
        for r in rows:
            if r["backend"] == "onnxruntime":
                goals[f"onnxruntime_1.3x_per_unet_call_at_{r['size']}"] = r["unet_speedup"] >= 1.3
    print("goals: " + ", ".join(f"{k} {'MET' if v else 'NOT MET'}" for k, v in goals.items()))
    RESULTS.mkdir(exist_ok=True)
    path = args.out or RESULTS / f"accel_{args.device.split(':')[0]}.json"
    path.write_text(json.dumps({"device": args.device, "device_name": device, "steps": args.steps, "rows": rows,
                                "overhead": overhead, "goals": goals, "torch": torch.__version__,
                                "threads": torch.get_num_threads()}, indent=1))
    print(f"wrote {path}")
    tmp.cleanup()
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
