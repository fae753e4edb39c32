"""The few-step samplers' schedule: per-step constants computed once per session from the model's
noise schedule (diffusers' ``LCMScheduler`` or a trailing ``DDIMScheduler``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facecast.engine.render.diffusion.config import FEW_STEP_KINDS, MAX_FEW_STEPS

#: Few-step update rules: ``lcm`` (consistency models: LCM-LoRA, TCD and Hyper-SD LoRAs
#: trained for it) and ``ddim`` (deterministic, trailing timesteps).
STEP_KINDS = FEW_STEP_KINDS
#: LCM's boundary-condition constants (diffusers' LCMScheduler defaults).
LCM_SIGMA_DATA = 0.5
LCM_TIMESTEP_SCALING = 10.0


@dataclass(frozen=True)
class StreamSchedule:
    """Per-step constants of a few-step sampler, all (S,) float64 except ``timesteps`` (S,) int.

    Step ``i`` turns latents ``x`` at ``timesteps[i]`` with the model's noise
    prediction ``eps`` into ``x0 = (x - sigma[i] * eps) / alpha[i]``, then
    ``denoised = c_out[i] * x0 + c_skip[i] * x`` and, unless it is the last step,
    ``x = alpha_next[i] * denoised + sigma_next[i] * n`` with ``n`` the stream's
    fixed noise (``lcm``) or the predicted ``eps`` (``ddim``).
    """

    kind: str
    timesteps: np.ndarray
    alpha: np.ndarray
    sigma: np.ndarray
    c_skip: np.ndarray
    c_out: np.ndarray
    alpha_next: np.ndarray
    sigma_next: np.ndarray

    @property
    def steps(self) -> int:
        return len(self.timesteps)


def stream_schedule(scheduler_config: dict, steps: int, *, kind: str = "lcm") -> StreamSchedule:
    """The constants for ``steps`` (1..8) steps of ``kind`` on the model's noise schedule.

    ``scheduler_config``: the SD1.5 ``scheduler/scheduler_config.json`` contents
    (beta schedule and training steps).

    Raises:
        ValueError: unknown kind, steps outside 1..8, or a prediction type other than epsilon.
    """
    from diffusers import DDIMScheduler, LCMScheduler

    if kind not in STEP_KINDS:
        raise ValueError(f"unknown step kind {kind!r}; use one of {', '.join(STEP_KINDS)}")
    if not 1 <= steps <= MAX_FEW_STEPS:
        raise ValueError(f"streaming steps must be 1..{MAX_FEW_STEPS}, got {steps}")
    if scheduler_config.get("prediction_type", "epsilon") != "epsilon":
        raise ValueError("only epsilon-prediction models are supported (SD1.5 and Arc2Face are)")
    if kind == "lcm":
        sched = LCMScheduler.from_config(scheduler_config)
    else:
        sched = DDIMScheduler.from_config(scheduler_config, timestep_spacing="trailing")
    sched.set_timesteps(steps)
    ts = sched.timesteps.cpu().numpy().astype(np.int64)
    acp = sched.alphas_cumprod.double().cpu().numpy()
    alpha, sigma = np.sqrt(acp[ts]), np.sqrt(1 - acp[ts])
    nxt = np.append(acp[ts[1:]], 1.0)  # after the last step: clean
    if kind == "lcm":
        scaled = ts * LCM_TIMESTEP_SCALING
        c_skip = LCM_SIGMA_DATA ** 2 / (scaled ** 2 + LCM_SIGMA_DATA ** 2)
        c_out = scaled / np.sqrt(scaled ** 2 + LCM_SIGMA_DATA ** 2)
    else:
        c_skip, c_out = np.zeros(steps), np.ones(steps)
    return StreamSchedule(kind=kind, timesteps=ts, alpha=alpha, sigma=sigma, c_skip=c_skip, c_out=c_out,
                          alpha_next=np.sqrt(nxt), sigma_next=np.sqrt(1 - nxt))
