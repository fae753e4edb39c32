"""Upstream's full-quality recipe: DPM-Solver++ multistep with classifier-free guidance
(Arc2Face's expression demo: 25 steps, guidance 3.0, the base UNet), as ``--quality reference``.

:class:`MultistepSampler` runs it through the renderer's UNet step (any backend, the temporal bank,
the same per-step banking as the stream), from the stream's fixed noise; :func:`reference_sample`
is the same recipe on a plain UNet, what a ``StableDiffusionPipeline`` computes (tests, benchmarks
and ``facecast distill``'s teacher use it).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from facecast.engine.render.diffusion.attention import BankCall
from facecast.engine.render.diffusion.config import MAX_MULTISTEPS
from facecast.engine.render.diffusion.sampler import StreamSampler
from facecast.engine.render.diffusion.schedule import StreamSchedule


def dpm_solver(scheduler_config: dict):
    """The published sampler: DPM-Solver++ multistep on SD1.5's noise schedule (diffusers' defaults)."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler.from_config(scheduler_config)


def multistep_schedule(scheduler_config: dict, steps: int) -> StreamSchedule:
    """The timesteps DPM-Solver++ visits in ``steps`` steps, with the noise levels at them (the
    update itself is the solver's: ``c_skip``/``c_out`` are those of a plain x0 estimate)."""
    if not 1 <= steps <= MAX_MULTISTEPS:
        raise ValueError(f"multistep steps must be 1..{MAX_MULTISTEPS}, got {steps}")
    solver = dpm_solver(scheduler_config)
    solver.set_timesteps(steps)
    ts = solver.timesteps.cpu().numpy().astype(np.int64)
    acp = solver.alphas_cumprod.double().cpu().numpy()
    nxt = np.append(acp[ts[1:]], 1.0)
    return StreamSchedule(kind="dpmsolver++", timesteps=ts, alpha=np.sqrt(acp[ts]), sigma=np.sqrt(1 - acp[ts]),
                          c_skip=np.zeros(steps), c_out=np.ones(steps), alpha_next=np.sqrt(nxt),
                          sigma_next=np.sqrt(1 - nxt))


class MultistepSampler(StreamSampler):
    """DPM-Solver++ multistep through the renderer's UNet step: ``steps`` calls per frame (two rows
    each under guidance), starting every frame from the stream's fixed noise.

    Args:
        step: as :class:`~.sampler.StreamSampler`'s.
        scheduler_config: SD1.5's ``scheduler_config.json``.
        steps: solver steps (upstream: 25).
        **kwargs: :class:`~.sampler.StreamSampler`'s (``guidance`` 3.0 is upstream's).
    """

    def __init__(self, step, scheduler_config: dict, *, steps: int, **kwargs) -> None:
        super().__init__(step, multistep_schedule(scheduler_config, steps), **kwargs)
        self._solver = dpm_solver(scheduler_config)

    def _sample(self, expression: torch.Tensor, *, kept: Optional[list], call: BankCall) -> torch.Tensor:
        prompt, exp, b = self._conditions(expression)
        solver = self._solver
        solver.set_timesteps(self.schedule.steps, device=self.start_noise.device)  # a fresh solver state
        x = self.start_noise.expand(b, -1, -1, -1) * solver.init_noise_sigma
        for i, t in enumerate(solver.timesteps):
            eps = self._eps(solver.scale_model_input(x, t), i, prompt, exp, kept=kept, call=call)
            x = solver.step(eps, t, x, return_dict=False)[0]
        return x


@torch.no_grad()
def reference_sample(unet, scheduler, *, prompt_embeds: torch.Tensor, uncond_embeds: torch.Tensor,
                     expression: torch.Tensor, latents: torch.Tensor, steps: int = 25,
                     guidance: float = 3.0, progress=None) -> torch.Tensor:
    """The published recipe on a plain UNet: ``steps`` of ``scheduler`` (DPMSolverMultistep) with
    classifier-free guidance, the unconditional half being ``uncond_embeds`` and a zero expression.
    ``prompt_embeds`` (B, 77, D), ``expression`` (B, 55), ``latents`` (B, C, h, w) initial noise
    (already scaled by the scheduler's ``init_noise_sigma``). Returns clean latents; 2 x ``steps``
    UNet evaluations."""
    scheduler.set_timesteps(steps, device=latents.device)
    b = latents.shape[0]
    prompt = torch.cat([uncond_embeds.expand(b, -1, -1), prompt_embeds])
    exp = expression.to(latents.dtype).view(b, 1, -1)
    exp = torch.cat([torch.zeros_like(exp), exp])
    x = latents
    for i, t in enumerate(scheduler.timesteps):
        model_in = scheduler.scale_model_input(torch.cat([x, x]), t)
        uncond, cond = unet(model_in, t, encoder_hidden_states=prompt, added_cond_kwargs={"image_embeds": [exp]},
                            return_dict=False)[0].chunk(2)
        x = scheduler.step(uncond + guidance * (cond - uncond), t, x, return_dict=False)[0]
        if progress is not None:
            progress(i + 1, steps)
    return x
