"""Diffusion renderer cost on this machine: facecast's few-step streaming sampler
against the published 25-step guided recipe, with SD1.5-architecture random
weights (real shapes, so real costs) written in Arc2Face's layout and loaded
through facecast's own loader.

Goals (issue 5): at least 25x fewer UNet evaluations per frame, and at least 20x
less time per frame at 2 steps, than the reference (DPM-Solver++ 25 steps,
guidance 3.0, SD1.5 VAE). Also prints FLOPs per UNet call (torch's FlopCounterMode,
attention counted) for the GPU arithmetic in docs/benchmarks.md.

    python bench/diffusion.py [--size 256] [--frames 3] [--device cpu] [--no-flops]
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

from facecast.engine.render.diffusion import identity as ident  # noqa: E402
from facecast.engine.render.diffusion.loading import load_models, reference_scheduler  # noqa: E402
from facecast.engine.render.diffusion.sampler import (  # noqa: E402
    StreamSampler, decode, reference_sample, stream_schedule)

RESULTS = Path(__file__).resolve().parent / "results"


def count_flops(unet, latent: int, prompt) -> float:
    """FLOPs (2 per multiply-add) of one batch-1 UNet call at ``latent`` x ``latent``."""
    from torch.utils.flop_counter import FlopCounterMode

    def sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
        b, h, q, d = query_shape
        k = key_shape[-2]
        return 2 * b * h * q * k * d * 2  # QK^T and AV

    mapping = {}
    for name in ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_efficient_attention",
                 "_scaled_dot_product_flash_attention"):
        op = getattr(torch.ops.aten, name, None)
        if op is not None:
            mapping[op] = sdpa
    x = torch.randn(1, 4, latent, latent)
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter, torch.no_grad():
        unet(x, 500, encoder_hidden_states=prompt, added_cond_kwargs={"image_embeds": [torch.zeros(1, 1, 55)]})
    return float(counter.get_total_flops())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="output side, pixels")
    ap.add_argument("--frames", type=int, default=3, help="timed frames per streaming setting")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-flops", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        print("writing SD1.5-size random weights in the Arc2Face layout...", flush=True)
        root = write_tiny_arc2face(Path(tmp) / "models", sd15_size=True)
        taesd = write_random_taesd(Path(tmp) / "taesd")
        models = load_models(root, device=args.device)
        tiny = load_models(root, device=args.device, decoder=taesd).vae
    unet = models.unet
    params = {n: sum(p.numel() for p in m.parameters()) / 1e6 for n, m in
              (("unet", unet), ("text_encoder", models.text_encoder), ("vae", models.vae), ("taesd", tiny))}
    prompt = ident.prompt_embeddings(models.text_encoder, models.tokenizer, np.random.default_rng(0).standard_normal(512))
    uncond = ident.unconditional_embeddings(models.text_encoder, models.tokenizer)
    latent = args.size // 8
    exp = torch.from_numpy(np.random.default_rng(1).normal(0, 1, (1, 55)).astype(np.float32))
    calls = []
    hook = unet.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))

    rows = []
    # reference: one frame (it takes minutes on a CPU)
    calls.clear()
    t0 = time.perf_counter()
    scheduler = reference_scheduler(models.scheduler_config)
    z = torch.randn(1, 4, latent, latent, generator=torch.Generator().manual_seed(0)) * scheduler.init_noise_sigma
    out = reference_sample(unet, scheduler, prompt_embeds=prompt, uncond_embeds=uncond, expression=exp, latents=z,
                           steps=25, guidance=3.0, progress=lambda i, n: print(f"\r  reference step {i}/{n}",
                                                                              end="", flush=True))
    decode(models.vae, out)
    ref_s = time.perf_counter() - t0
    ref_evals = sum(calls)
    print()
    rows.append({"recipe": "reference: DPM-Solver++ 25 steps, guidance 3.0, SD1.5 VAE", "unet_evals": ref_evals,
                 "frame_s_median": ref_s, "frames": 1})
    for decoder_name, vae in (("TAESD", tiny), ("SD1.5 VAE", models.vae)):
        for steps in (1, 2, 4):
            if decoder_name == "SD1.5 VAE" and steps != 2:
                continue
            sampler = StreamSampler(unet, stream_schedule(models.scheduler_config, steps), prompt_embeds=prompt,
                                    latent_shape=(4, latent, latent), seed=0)
            times = []
            for _ in range(args.frames):
                calls.clear()
                t0 = time.perf_counter()
                decode(vae, sampler(exp))
                times.append(time.perf_counter() - t0)
            rows.append({"recipe": f"facecast stream: {steps} step(s), guidance-free, {decoder_name}",
                         "unet_evals": sum(calls), "frame_s_median": statistics.median(times),
                         "frame_s_all": times, "frames": args.frames})
            print(f"  {rows[-1]['recipe']}: {statistics.median(times):.2f} s", flush=True)
    hook.remove()
    flops = {}
    if not args.no_flops:
        for side in (args.size, 512):
            flops[side] = count_flops(unet, side // 8, prompt)

    print(f"\nSD1.5-architecture random weights, {args.size}x{args.size}, {args.device}, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}; parameters (M): "
          + ", ".join(f"{k} {v:.1f}" for k, v in params.items()))
    print(f"{'recipe':62s} {'UNet evals':>10s} {'fewer':>6s} {'s/frame':>8s} {'faster':>7s}")
    for r in rows:
        r["fewer_evals_x"] = ref_evals / r["unet_evals"]
        r["faster_x"] = ref_s / r["frame_s_median"]
        print(f"{r['recipe']:62s} {r['unet_evals']:10d} {r['fewer_evals_x']:5.1f}x {r['frame_s_median']:8.2f} "
              f"{r['faster_x']:6.1f}x")
    two = next(r for r in rows if r["recipe"].startswith("facecast stream: 2 step(s), guidance-free, TAESD"))
    goals = {"unet_evals_25x": two["fewer_evals_x"] >= 25, "time_20x_at_2_steps": two["faster_x"] >= 20}
    for side, f in flops.items():
        print(f"FLOPs per UNet call at {side}x{side}: {f / 1e9:.1f} GFLOP")
    print("goals: " + ", ".join(f"{k} {'MET' if v else 'NOT MET'}" for k, v in goals.items()))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "diffusion.json"
    path.write_text(json.dumps({"size": args.size, "device": args.device, "rows": rows, "params_m": params,
                                "gflops_per_unet_call": {str(k): v / 1e9 for k, v in flops.items()},
                                "goals": goals, "torch": torch.__version__}, indent=1))
    print(f"wrote {path}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
