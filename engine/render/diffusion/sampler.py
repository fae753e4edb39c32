"""Samplers: the reference (25-step DPM-Solver++ with classifier-free guidance) and
the few-step streaming sampler with everything per session precomputed.

Both call the UNet the same way: ``unet(latents, t, encoder_hidden_states=prompt,
added_cond_kwargs={"image_embeds": [expression]})``, where ``expression`` is the
(B, 1, 55) FLAME vector the expression adapter (IP-Adapter form) projects to its
extra cross-attention tokens. Zeros are the adapter's unconditional input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from facecast.engine.accel import get_backend
from facecast.engine.render.diffusion.attention import BankCall, PLAIN_CALL
from facecast.engine.render.diffusion.step import BankFeed, StepProfile, UNetStep
from facecast.engine.types import FLAME_DIM



#: Few-step update rules: ``lcm`` (consistency models: LCM-LoRA, TCD and Hyper-SD LoRAs
#: trained for it) and ``ddim`` (deterministic, trailing timesteps).
STEP_KINDS = ("lcm", "ddim")
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
    if not 1 <= steps <= 8:
        raise ValueError(f"streaming steps must be 1..8, got {steps}")
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


def _unet_eps(unet, latents, t, prompt, expression):
    """One plain UNet call (the reference sampler's; streaming goes through a UNet step)."""
    return unet(latents, t, encoder_hidden_states=prompt, added_cond_kwargs={"image_embeds": [expression]},
                return_dict=False)[0]


def as_step(unet_or_step, latent_hw: tuple[int, int]):
    """An accelerated UNet step as it is, or a plain UNet wrapped as one (eager, no bank)."""

    if hasattr(unet_or_step, "component"):
        return unet_or_step
    dtype = "float16" if next(unet_or_step.parameters()).dtype == torch.float16 else "float32"
    step = UNetStep(unet_or_step, None, StepProfile(latent_hw=tuple(latent_hw), dtype=dtype))
    return get_backend("torch").build(step)


class StreamSampler:
    """Few-step sampling for a stream: fixed noise, precomputed constants, one call per frame.

    Args:
        step: the UNet step on its backend (:class:`facecast.engine.accel.Accelerated`
            around a :class:`~facecast.engine.render.diffusion.step.UNetStep`; few-step LoRA fused,
            expression adapter loaded), or a plain UNet, run eagerly without a bank.
        schedule: from :func:`stream_schedule`.
        prompt_embeds: (1, 77, D) identity prompt embeddings.
        latent_shape: (C, h, w) of one latent.
        seed: the stream's noise.
        guidance: 1 = guidance-free (one UNet call per step); > 1 adds the
            unconditional half (``uncond_embeds`` with a zero expression).
        uncond_embeds: (1, 77, D) unconditional prompt, needed when ``guidance`` > 1.
        bank: the temporal-consistency bank whose sources feed the step's bank slots and which
            receives the frame's attn1 inputs when a call asks to ``keep_frame``.
    """

    def __init__(self, step, schedule: StreamSchedule, *, prompt_embeds: torch.Tensor, latent_shape: tuple,
                 seed: int = 0, guidance: float = 1.0, uncond_embeds: Optional[torch.Tensor] = None,
                 bank=None) -> None:

        if guidance > 1.0 and uncond_embeds is None:
            raise ValueError("guidance > 1 needs the unconditional prompt embeddings")
        self.step = as_step(step, latent_shape[1:])
        self.schedule = schedule
        self.guidance = float(guidance)
        device, dtype = prompt_embeds.device, prompt_embeds.dtype
        self.dtype = dtype
        gen = torch.Generator("cpu").manual_seed(int(seed))
        shape = (1, *latent_shape)
        # fixed per stream: the start noise and the re-noising noise of every step
        self.start_noise = torch.randn(shape, generator=gen, dtype=torch.float32).to(device, dtype)
        self.step_noise = [torch.randn(shape, generator=gen, dtype=torch.float32).to(device, dtype)
                           for _ in range(schedule.steps)]
        self.prompt = (torch.cat([uncond_embeds, prompt_embeds]) if self.guidance > 1.0 else prompt_embeds)
        self.timesteps = [float(t) for t in schedule.timesteps]
        self._zero_expression = torch.zeros(1, 1, FLAME_DIM, device=device, dtype=dtype)
        s = schedule
        self._coef = [tuple(float(v) for v in (s.alpha[i], s.sigma[i], s.c_skip[i], s.c_out[i], s.alpha_next[i],
                                               s.sigma_next[i])) for i in range(s.steps)]
        component = self.step.component
        self.bank = bank
        self._feed = BankFeed(component.layers, component.profile.bank_sources, device=device, dtype=dtype) \
            if component.profile.bank_sources else None
        if self._feed is not None and bank is None:
            raise ValueError("a step with bank slots needs the bank that fills them")
        self._layer_names = [layer.name for layer in component.layers]
        self._t_rows: dict[tuple[int, int], torch.Tensor] = {}

    @property
    def unet_calls_per_frame(self) -> int:
        return self.schedule.steps * (2 if self.guidance > 1.0 else 1)

    def _timesteps(self, i: int, rows: int) -> torch.Tensor:
        """(rows,) float32 timestep ``i`` (made once per batch size)."""
        key = (i, rows)
        if key not in self._t_rows:
            self._t_rows[key] = torch.full((rows,), self.timesteps[i], device=self.start_noise.device)
        return self._t_rows[key]

    def _call(self, x, t, prompt, exp, bank_inputs, *, keep_frame: bool, row: int = -1):
        """One UNet call; with ``keep_frame``, keeps batch row ``row``'s attn1 inputs
        (views, no copies: every call returns new tensors) as the frame's pending ``previous``."""
        out = self.step(x, t, prompt, exp, *bank_inputs)
        if keep_frame and len(out) > 1 and self.bank is not None:
            self.bank.set_pending({n: o[row:row + 1] if row != -1 else o[-1:]
                                   for n, o in zip(self._layer_names, out[1:])})
        return out[0]

    def bank_inputs(self, call: BankCall = PLAIN_CALL) -> tuple:
        return self._feed.inputs(self.bank, call) if self._feed is not None else ()

    @torch.no_grad()
    def __call__(self, expression: torch.Tensor, *, keep_frame: bool = False,
                 call: BankCall = PLAIN_CALL) -> torch.Tensor:
        """(B, 55) expression vectors -> (B, C, h, w) clean latents. Every frame of a
        batch starts from the stream's noise (the batch is B frames of one stream).

        ``keep_frame``: keep the frame's attn1 inputs as the bank's pending ``previous``
        (:meth:`AttentionBank.commit_frame` makes it current). ``call``: what the bank does in
        this frame's UNet calls (weights for this call, batch-shared attention)."""
        if self.bank is None:
            return self._sample(expression, keep_frame=False, bank_inputs=())
        with self.bank.using(call):
            return self._sample(expression, keep_frame=keep_frame, bank_inputs=self.bank_inputs(call))

    def _sample(self, expression: torch.Tensor, *, keep_frame: bool, bank_inputs: tuple) -> torch.Tensor:
        b = expression.shape[0]
        exp = expression.to(self.start_noise.device, self.dtype).view(b, 1, -1)
        guided = self.guidance > 1.0
        prompt = self.prompt if b == 1 else self.prompt.repeat_interleave(b, dim=0)
        if guided:
            exp = torch.cat([self._zero_expression.expand(b, -1, -1), exp])
        x = self.start_noise.expand(b, -1, -1, -1)
        last = self.schedule.steps - 1
        for i in range(self.schedule.steps):
            model_in = torch.cat([x, x]) if guided else x
            eps = self._call(model_in, self._timesteps(i, model_in.shape[0]), prompt, exp, bank_inputs,
                             keep_frame=keep_frame)
            if guided:
                uncond, cond = eps.chunk(2)
                eps = uncond + self.guidance * (cond - uncond)
            alpha, sigma, c_skip, c_out, alpha_next, sigma_next = self._coef[i]
            x0 = (x - sigma * eps) / alpha
            denoised = c_out * x0 + c_skip * x
            if i == last:
                x = denoised
            else:
                again = self.step_noise[i].expand(b, -1, -1, -1) if self.schedule.kind == "lcm" else eps
                x = alpha_next * denoised + sigma_next * again
        return x


class StreamBatchSampler(StreamSampler):
    """Stream batching (StreamDiffusion's pipelined denoising): the ``S`` steps of ``S``
    consecutive frames run as one batched UNet call per frame.

    Row ``k`` of the batch is the frame that arrived ``k`` frames ago, at step ``k``;
    each call advances every row by one step, the oldest row comes out clean, and
    the new frame enters at step 0. So a frame costs one UNet call of batch ``S``
    instead of ``S`` calls of batch 1 (on a GPU, far less than ``S`` times one), but
    a frame shows the expression of ``S - 1`` frames before: that is the latency
    cost, ``(S - 1) / fps`` (33 ms at 2 steps and 30 fps). Until the pipeline is
    full (the first ``S - 1`` frames), the most advanced row's estimate is shown.
    Guidance-free only.
    """

    def __init__(self, step, schedule: StreamSchedule, **kwargs) -> None:
        super().__init__(step, schedule, **kwargs)
        if self.guidance > 1.0:
            raise ValueError("stream batching is guidance-free (guidance 1)")
        s = schedule.steps
        lo, _, hi = self.step.component.profile.batch
        if not lo <= s <= hi:
            raise ValueError(f"stream batching of {s} steps needs a step built for batch {s} "
                             f"(this one takes {lo}..{hi})")
        self._t_all = torch.tensor(self.timesteps, device=self.start_noise.device)
        coef = torch.tensor(self._coef, dtype=torch.float64).T  # (6, S)
        self._c = [c.to(self.start_noise.device, self.dtype).view(s, 1, 1, 1) for c in coef]
        self._noise = torch.cat([n for n in self.step_noise])  # (S, C, h, w): row k re-noised with step k's noise
        self._x = self.start_noise.repeat(s, 1, 1, 1)  # rows in flight (row 0 is replaced by each new frame)
        self._exp = torch.zeros(s, 1, FLAME_DIM, device=self.start_noise.device, dtype=self.dtype)
        self._prompt = self.prompt.expand(s, -1, -1).contiguous()
        self.filled = 0

    @property
    def unet_calls_per_frame(self) -> int:
        return 1

    def reset(self) -> None:
        self.filled = 0

    def _sample(self, expression: torch.Tensor, *, keep_frame: bool, bank_inputs: tuple) -> torch.Tensor:
        """(1, 55) the newest frame's expression -> (1, C, h, w) the frame leaving the pipeline."""
        if expression.shape[0] != 1:
            raise ValueError("stream batching takes one frame at a time")
        s = self.schedule.steps
        x = self._x.clone()
        x[0] = self.start_noise[0]
        self._exp[1:] = self._exp[:-1].clone()
        self._exp[0] = expression.to(self._exp.device, self.dtype).view(1, -1)
        # the frame banked as "previous" is the most advanced row that holds a frame
        eps = self._call(x, self._t_all, self._prompt, self._exp, bank_inputs, keep_frame=keep_frame,
                         row=min(self.filled, s - 1))
        alpha, sigma, c_skip, c_out, alpha_next, sigma_next = self._c
        denoised = c_out * (x - sigma * eps) / alpha + c_skip * x
        again = self._noise if self.schedule.kind == "lcm" else eps
        advanced = alpha_next * denoised + sigma_next * again
        self._x[1:] = advanced[:-1]  # row k moves to row k + 1
        self.filled = min(self.filled + 1, s)
        return denoised[self.filled - 1:self.filled]


@torch.no_grad()
def reference_sample(unet, scheduler, *, prompt_embeds: torch.Tensor, uncond_embeds: torch.Tensor,
                     expression: torch.Tensor, latents: torch.Tensor, steps: int = 25,
                     guidance: float = 3.0, progress=None) -> torch.Tensor:
    """The published recipe: ``steps`` of ``scheduler`` (DPMSolverMultistep) with
    classifier-free guidance, the unconditional half being ``uncond_embeds`` and a
    zero expression. ``prompt_embeds`` (B, 77, D), ``expression`` (B, 55),
    ``latents`` (B, C, h, w) initial noise (already scaled by the scheduler's
    ``init_noise_sigma``). Returns clean latents; 2 x ``steps`` UNet evaluations."""
    scheduler.set_timesteps(steps, device=latents.device)
    b = latents.shape[0]
    prompt = torch.cat([uncond_embeds.expand(b, -1, -1), prompt_embeds])
    exp = expression.to(latents.dtype).view(b, 1, -1)
    exp = torch.cat([torch.zeros_like(exp), exp])
    x = latents
    for i, t in enumerate(scheduler.timesteps):
        model_in = scheduler.scale_model_input(torch.cat([x, x]), t)
        uncond, cond = _unet_eps(unet, model_in, t, prompt, exp).chunk(2)
        x = scheduler.step(uncond + guidance * (cond - uncond), t, x, return_dict=False)[0]
        if progress is not None:
            progress(i + 1, steps)
    return x


@torch.no_grad()
def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) latents -> (B, H, W, 3) float32 in [0, 1] (AutoencoderKL or AutoencoderTiny)."""
    image = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
    return (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float()
