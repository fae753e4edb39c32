"""``facecast distill``: train a few-step LoRA student of the full teacher (Arc2Face
with the expression adapter, sampled with classifier-free guidance) by latent
consistency distillation, the recipe of LCM-LoRA.

The teacher is upstream's full-quality recipe (``--quality reference``): the base UNet with
the expression adapter, guidance 3.0, on DPM-Solver++'s 25-step timestep grid. One training
step, for a batch of clean latents ``x0`` with their conditions:

1. pick a timestep ``t`` of the teacher's grid (``t_prev``: the next one, or clean after the
   last) and noise ``x0`` to ``x_t``;
2. the *teacher* (the same UNet with the LoRA disabled) takes one guided DPM-Solver++ step
   from ``x_t`` to ``x_prev`` (guidance ``w``: the unconditional half is the empty
   prompt with a zero expression; from a single state the solver's step is first order,
   which is DDIM's update);
3. the *student* (LoRA enabled) maps ``x_t`` to its consistency output
   ``f(x_t, t) = c_skip(t) x_t + c_out(t) x0_hat``; the target is the student's own
   output at ``(x_prev, t_prev)`` without gradient;
4. minimise the mean squared difference. Only the LoRA trains.

The result is a diffusers-format ``pytorch_lora_weights.safetensors`` that
``facecast run --renderer diffusion --lora FILE`` fuses; sample it with the
``lcm`` step kind, guidance-free (the teacher's guidance is distilled in).

Training set (``.safetensors``): ``images`` (N, H, W, 3) uint8 face crops at the
training size, ``embeddings`` (N, 512) their ArcFace embeddings and ``flame``
(N, 55) their FLAME vectors (e.g. from SMIRK on the same images).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from facecast.engine.render.diffusion.config import REFERENCE_RECIPE
from facecast.engine.render.diffusion.identity import EnrollmentError, prompt_embeddings, unconditional_embeddings
from facecast.engine.types import FLAME_DIM


#: The modules an SD1.5 few-step LoRA adapts (attention, feed-forward, resnet convolutions).
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
                "conv1", "conv2", "conv_shortcut", "time_emb_proj")


@dataclass(frozen=True)
class DistillConfig:
    """Options of :func:`distill` (serialised next to the LoRA as ``distill.json``).

    Attributes:
        iterations: training steps.
        batch_size: latents per step.
        learning_rate: AdamW learning rate of the LoRA.
        lora_rank: LoRA rank (alpha = rank).
        guidance: the teacher's classifier-free guidance (the reference recipe's 3.0).
        solver_steps: the teacher's DPM-Solver++ grid (the reference recipe's 25 steps).
        seed: noise and timestep sampling.
    """

    iterations: int = 4000
    batch_size: int = 8
    learning_rate: float = 1e-4
    lora_rank: int = 64
    guidance: float = REFERENCE_RECIPE["guidance"]
    solver_steps: int = REFERENCE_RECIPE["steps"]
    seed: int = 0


@dataclass
class TrainingSet:
    """Prepared conditions: ``latents`` (N, C, h, w) scaled, ``prompts`` (N, 77, D), ``expressions`` (N, 55)."""

    latents: object
    prompts: object
    expressions: object

    def __len__(self) -> int:
        return int(self.latents.shape[0])


def prepare_training_set(models, path: Path, *, progress: Optional[Callable[[int, int], None]] = None) -> TrainingSet:
    """Encode a training set file (see module doc) with the models' VAE and text encoder.

    Raises:
        ValueError: missing arrays, mismatched lengths or sizes, NaN.
    """
    import torch
    from safetensors.torch import load_file

    try:
        data = load_file(str(path))
    except Exception as exc:  # OSError, SafetensorError
        raise ValueError(f"cannot read the training set {path}: {exc}") from None
    missing = {"images", "embeddings", "flame"} - set(data)
    if missing:
        raise ValueError(f"the training set lacks {', '.join(sorted(missing))} (see 'facecast distill --help')")
    images, embeddings, flame = data["images"], data["embeddings"].double(), data["flame"].float()
    n = images.shape[0]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != torch.uint8:
        raise ValueError(f"images must be (N, H, W, 3) uint8, got {tuple(images.shape)} {images.dtype}")
    if embeddings.shape != (n, 512) or flame.shape != (n, FLAME_DIM):
        raise ValueError(f"embeddings must be ({n}, 512) and flame ({n}, 55), got "
                         f"{tuple(embeddings.shape)} and {tuple(flame.shape)}")
    if not (torch.isfinite(embeddings).all() and torch.isfinite(flame).all()):
        raise ValueError("embeddings or flame contain NaN or infinite values")
    device, dtype = models.unet.device, models.unet.dtype
    latents, prompts = [], []
    cache: dict[bytes, object] = {}
    with torch.no_grad():
        for i in range(n):
            x = (images[i].permute(2, 0, 1)[None].float() / 127.5 - 1.0).to(device, dtype)
            enc = models.vae.encode(x)
            z = enc.latent_dist.mean if hasattr(enc, "latent_dist") else enc.latents
            latents.append(z * models.vae.config.scaling_factor)
            key = embeddings[i].numpy().tobytes()
            if key not in cache:
                try:
                    cache[key] = prompt_embeddings(models.text_encoder, models.tokenizer, embeddings[i].numpy())
                except EnrollmentError as exc:
                    raise ValueError(f"training sample {i}: {exc}") from None
            prompts.append(cache[key])
            if progress is not None:
                progress(i + 1, n)
    return TrainingSet(latents=torch.cat(latents), prompts=torch.cat(prompts).to(device, dtype),
                       expressions=flame.to(device, dtype))


def teacher_grid(scheduler_config: dict, steps: int):
    """The teacher's jumps: (t, t_next) int64 tensors of length ``steps``, the timesteps the reference
    recipe's DPM-Solver++ visits, each with the next one (-1 after the last: the clean latent)."""
    import torch

    from facecast.engine.render.diffusion.multistep import dpm_solver

    solver = dpm_solver(scheduler_config)
    solver.set_timesteps(steps)
    t = solver.timesteps.long()
    return t, torch.cat([t[1:], torch.tensor([-1])])


def teacher_step(x0, eps, t_next, alphas_cumprod):
    """DPM-Solver++'s first-order update to timestep ``t_next`` (B,) (-1: the clean latent), from a
    state whose guided clean estimate is ``x0`` and noise ``eps`` (B, C, h, w): ``alpha_next x0 +
    sigma_next eps``, what the solver's data-prediction step with ``h = lambda_next - lambda``
    works out to (DDIM's update)."""
    import torch

    acp = torch.where(t_next < 0, torch.ones_like(t_next, dtype=alphas_cumprod.dtype),
                      alphas_cumprod[t_next.clamp(min=0)]).view(-1, 1, 1, 1).to(x0.dtype)
    return acp.sqrt() * x0 + (1 - acp).sqrt() * eps


def _boundary(t, scaling: float = 10.0, sigma_data: float = 0.5):
    scaled = t.double() * scaling
    c_skip = sigma_data ** 2 / (scaled ** 2 + sigma_data ** 2)
    c_out = scaled / (scaled ** 2 + sigma_data ** 2).sqrt()
    return c_skip, c_out


def distill(models, data: TrainingSet, config: DistillConfig = DistillConfig(), *,
            progress: Optional[Callable[[int, int, float], None]] = None) -> list[float]:
    """Add a LoRA to ``models.unet`` and train it (see module doc); returns the loss per iteration.

    ``models.unet`` keeps the trained (unfused) LoRA adapter; save it with :func:`save_lora`.
    """
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from peft import LoraConfig

    unet = models.unet
    torch.manual_seed(config.seed)
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=config.lora_rank, lora_alpha=config.lora_rank, init_lora_weights="gaussian",
                                target_modules=list(LORA_TARGETS)))
    params = [p for p in unet.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=config.learning_rate)
    schedule = DDPMScheduler.from_config(models.scheduler_config)
    acp = schedule.alphas_cumprod.to(unet.device)
    grid_t, grid_next = (g.to(unet.device) for g in teacher_grid(models.scheduler_config, config.solver_steps))
    uncond = unconditional_embeddings(models.text_encoder, models.tokenizer).to(unet.device, unet.dtype)
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    n = len(data)
    losses = []

    def eps(x, t, prompt, exp):
        return unet(x, t, encoder_hidden_states=prompt, added_cond_kwargs={"image_embeds": [exp[:, None]]}).sample

    def x0_from(x, e, t):
        a = acp[t].view(-1, 1, 1, 1)
        return (x - (1 - a).sqrt() * e) / a.sqrt()

    def consistency(x, e, t):
        c_skip, c_out = _boundary(t)
        return (c_skip.view(-1, 1, 1, 1) * x + c_out.view(-1, 1, 1, 1) * x0_from(x, e, t)).to(x.dtype)

    unet.train()
    for it in range(config.iterations):
        pick = torch.randint(0, n, (config.batch_size,), generator=gen)
        x0, prompt, exp = data.latents[pick], data.prompts[pick], data.expressions[pick]
        index = torch.randint(0, config.solver_steps, (config.batch_size,), generator=gen).to(unet.device)
        t, t_prev = grid_t[index], grid_next[index]
        noise = torch.randn(x0.shape, generator=gen).to(x0.device, x0.dtype)
        a_t = acp[t].view(-1, 1, 1, 1).to(x0.dtype)
        x_t = a_t.sqrt() * x0 + (1 - a_t).sqrt() * noise
        student = consistency(x_t, eps(x_t, t, prompt, exp), t)
        with torch.no_grad():
            unet.disable_adapters()
            try:
                e_c = eps(x_t, t, prompt, exp)
                e_u = eps(x_t, t, uncond.expand(len(t), -1, -1), torch.zeros_like(exp))
            finally:
                unet.enable_adapters()
            e = e_u + config.guidance * (e_c - e_u)
            x_prev = teacher_step(x0_from(x_t, e, t).to(x0.dtype), e, t_prev, acp)
            t_student = t_prev.clamp(min=0)  # after the last jump: t = 0, where the consistency output is x itself
            target = consistency(x_prev, eps(x_prev, t_student, prompt, exp), t_student)
        loss = F.mse_loss(student.float(), target.float())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(it + 1, config.iterations, losses[-1])
    unet.eval()
    unet.requires_grad_(False)
    return losses


def save_lora(unet, out_dir: Path, config: DistillConfig) -> Path:
    """Write the trained adapter as ``out_dir/pytorch_lora_weights.safetensors`` (diffusers format)
    and the options as ``distill.json``; returns the weights file."""
    from diffusers import StableDiffusionPipeline
    from peft.utils import get_peft_model_state_dict

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = get_peft_model_state_dict(unet)  # peft key names (lora_A/lora_B), which the loader takes as they are
    StableDiffusionPipeline.save_lora_weights(str(out_dir), unet_lora_layers=layers, safe_serialization=True)
    (out_dir / "distill.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    return out_dir / "pytorch_lora_weights.safetensors"
