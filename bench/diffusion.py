"""Diffusion renderer cost on this machine, through the renderer itself: its few-step streaming path
at 1, 2 and 4 steps (the models folder's LCM-LoRA fused, the anchor and previous-frame banks at their
defaults, TAESD) against upstream's full recipe (``--quality reference``: DPM-Solver++ 25 steps,
guidance 3.0, the base UNet, SD1.5's VAE), in one run, with SD1.5-architecture random weights (real
shapes, so real costs) written in Arc2Face's layout and loaded by facecast's loader.

For each: UNet calls per frame (invocations; a guided call has two rows) and UNet rows per frame
(evaluations), counted by a hook on the UNet, and the time of the renderer's whole frame
(``render()``: sampler, decoder, picture), median of ``--frames`` (the reference: one frame).

Goals (issue 5): at least 25x fewer UNet evaluations per frame, and at least 20x less time per frame
at 2 steps, than the reference. Also prints FLOPs per UNet call (torch's FlopCounterMode, attention
counted) for the GPU arithmetic in docs/benchmarks.md.

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
from facecast.engine.render.diffusion.config import DiffusionConfig  # noqa: E402
from facecast.engine.render.diffusion.renderer import DiffusionRenderer  # noqa: E402
from facecast.engine.types import NUM_ARKIT, FaceSample, FlameParams, PixelFormat  # noqa: E402

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


def measure(renderer: DiffusionRenderer, frames: int) -> dict:
    """Calls, rows and seconds per frame of ``renderer`` (prepared) over ``frames`` frames."""
    calls: list[int] = []
    hook = renderer.models.unet.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))
    rng = np.random.default_rng(1)
    sample = FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32))
    times, per_frame = [], []
    try:
        for _ in range(frames):
            flame = FlameParams.from_vector(rng.normal(0, 1, 55).astype(np.float32), clamp=True)
            calls.clear()
            t0 = time.perf_counter()
            renderer.render(sample, flame)
            times.append(time.perf_counter() - t0)
            per_frame.append((len(calls), sum(calls)))
    finally:
        hook.remove()
    return {"unet_calls": per_frame[-1][0], "unet_rows": per_frame[-1][1], "frame_s_median": statistics.median(times),
            "frame_s_all": times, "frames": frames}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="output side, pixels")
    ap.add_argument("--frames", type=int, default=3, help="timed frames per streaming setting")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-flops", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="facecast-bench-") as tmp:
        return run(args, Path(tmp))


def run(args, tmp: Path) -> int:
    print("writing SD1.5-size random weights in the Arc2Face layout (with an LCM-LoRA)...", flush=True)
    root = write_tiny_arc2face(tmp / "models", sd15_size=True, lcm_lora=True)
    taesd = write_random_taesd(tmp / "taesd")
    folder = tmp / "identity"
    ident.enroll("bench", embedding=np.random.default_rng(0).standard_normal(512), source="bench", folder=folder)
    recipes = [("reference: DPM-Solver++ 25 steps, guidance 3.0, base UNet, SD1.5 VAE",
                DiffusionConfig.for_quality("reference", device=args.device), 1)]
    recipes += [(f"stream: {s} step(s), LCM-LoRA, guidance-free, bank, TAESD",
                 DiffusionConfig(steps=s, decoder=str(taesd), device=args.device), args.frames) for s in (1, 2, 4)]
    rows = []
    params = {}
    for name, config, frames in recipes:
        print(f"  {name}: preparing...", flush=True)
        r = DiffusionRenderer(models=root, identity="bench", config=config, width=args.size, height=args.size,
                              pixel_format=PixelFormat.RGB8, identity_folder=folder)
        r.prepare()
        if not params:
            m = r.models
            params = {n: sum(p.numel() for p in mod.parameters()) / 1e6 for n, mod in
                      (("unet", m.unet), ("text_encoder", m.text_encoder), ("vae", m.vae))}
        rows.append({"recipe": name, **measure(r, frames)})
        print(f"  {name}: {rows[-1]['frame_s_median']:.2f} s per frame", flush=True)
        prompt = r.sampler.prompt[-1:]
        unet = r.models.unet
        r.close()
    flops = {}
    if not args.no_flops:
        for side in (args.size, 512):
            flops[side] = count_flops(unet, side // 8, prompt)
    ref = rows[0]
    print(f"\nSD1.5-architecture random weights, {args.size}x{args.size}, {args.device}, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; parameters (M): "
          + ", ".join(f"{k} {v:.1f}" for k, v in params.items()))
    print(f"{'recipe':70s} {'calls':>5s} {'rows':>5s} {'fewer':>6s} {'s/frame':>8s} {'faster':>7s}")
    for r in rows:
        r["fewer_rows_x"] = ref["unet_rows"] / r["unet_rows"]
        r["faster_x"] = ref["frame_s_median"] / r["frame_s_median"]
        print(f"{r['recipe']:70s} {r['unet_calls']:5d} {r['unet_rows']:5d} {r['fewer_rows_x']:5.1f}x "
              f"{r['frame_s_median']:8.2f} {r['faster_x']:6.1f}x")
    two = next(r for r in rows if r["recipe"].startswith("stream: 2 step"))
    goals = {"unet_evals_25x": two["fewer_rows_x"] >= 25, "time_20x_at_2_steps": two["faster_x"] >= 20}
    for side, f in flops.items():
        print(f"FLOPs per UNet call at {side}x{side}: {f / 1e9:.1f} GFLOP")
    print("goals: " + ", ".join(f"{k} {'MET' if v else 'NOT MET'}" for k, v in goals.items()))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "diffusion.json"
    path.write_text(json.dumps({"size": args.size, "device": args.device, "rows": rows, "params_m": params,
                                "gflops_per_unet_call": {str(k): v / 1e9 for k, v in flops.items()},
                                "goals": goals, "torch": torch.__version__, "threads": torch.get_num_threads()},
                               indent=1))
    print(f"wrote {path}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
