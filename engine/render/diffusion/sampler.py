"""The streaming sampler: few steps per frame, everything per session precomputed, and the
stream's frames banked per denoising step for the temporal-consistency attention.

Every sampler calls the UNet the same way: ``unet(latents, t, encoder_hidden_states=prompt,
added_cond_kwargs={"image_embeds": [expression]})``, where ``expression`` is the (B, 1, 55) FLAME
vector the expression adapter (IP-Adapter form) projects to its extra cross-attention tokens.
Zeros are the adapter's unconditional input.

- :class:`StreamSampler` (here): one frame at a time, ``steps`` UNet calls;
- :class:`~.stream_batch.StreamBatchSampler`: the steps of consecutive frames in one batched call;
- :class:`~.multistep.MultistepSampler`: upstream's DPM-Solver++ recipe (``--quality reference``).
"""

from __future__ import annotations

from typing import Optional

import torch

from facecast.engine.accel import get_backend
from facecast.engine.render.diffusion.attention import PLAIN_CALL, BankCall
from facecast.engine.render.diffusion.schedule import StreamSchedule
from facecast.engine.render.diffusion.step import BankFeed, StepProfile, UNetStep
from facecast.engine.types import FLAME_DIM


def as_step(unet_or_step, latent_hw: tuple[int, int]):
    """An accelerated UNet step as it is, or a plain UNet wrapped as one (eager, no bank)."""

    if hasattr(unet_or_step, "component"):
        return unet_or_step
    dtype = "float16" if next(unet_or_step.parameters()).dtype == torch.float16 else "float32"
    step = UNetStep(unet_or_step, None, StepProfile(latent_hw=tuple(latent_hw), dtype=dtype))
    return get_backend("torch").build(step)


class StreamSampler:
    """Few-step sampling for a stream: fixed noise, precomputed constants, ``steps`` UNet calls per frame.

    Args:
        step: the UNet step on its backend (:class:`facecast.engine.accel.Accelerated`
            around a :class:`~facecast.engine.render.diffusion.step.UNetStep`; few-step LoRA fused,
            expression adapter loaded), or a plain UNet, run eagerly without a bank.
        schedule: from :func:`~.schedule.stream_schedule`.
        prompt_embeds: (1, 77, D) identity prompt embeddings.
        latent_shape: (C, h, w) of one latent.
        seed: the stream's noise.
        guidance: 1 = guidance-free (one UNet call per step); > 1 adds the
            unconditional half (``uncond_embeds`` with a zero expression), which attends to nothing banked.
        uncond_embeds: (1, 77, D) unconditional prompt, needed when ``guidance`` > 1.
        bank: the temporal-consistency bank whose sources feed the step's bank slots. A frame
            sampled with ``keep_frame`` becomes its ``previous`` source, step by step; the first frame
            since :meth:`reset` also becomes its ``anchor`` (when the anchor's weight is > 0).
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
        self._feed = self._make_feed(component, device=device, dtype=dtype) if component.profile.bank_sources \
            else None
        if self._feed is not None and bank is None:
            raise ValueError("a step with bank slots needs the bank that fills them")
        self._layer_names = [layer.name for layer in component.layers]
        self._t_rows: dict[tuple[int, int], torch.Tensor] = {}
        #: frames sampled since :meth:`reset`
        self.frames = 0

    def _make_feed(self, component, *, device, dtype) -> BankFeed:
        return BankFeed(component.layers, component.profile.bank_sources, rows=1, device=device, dtype=dtype)

    @property
    def steps(self) -> int:
        return self.schedule.steps

    @property
    def unet_calls_per_frame(self) -> int:
        """UNet invocations per frame (a guided call evaluates two rows in one invocation)."""
        return self.steps

    @property
    def unet_rows_per_frame(self) -> int:
        """UNet evaluations (batch rows) per frame."""
        return self.steps * (2 if self.guidance > 1.0 else 1)

    def reset(self) -> None:
        """A new shot: forget the stream's anchor and previous frame."""
        self.frames = 0
        if self.bank is not None:
            self.bank.clear("previous")
            self.bank.clear("anchor")

    def _timesteps(self, i: int, rows: int) -> torch.Tensor:
        """(rows,) float32 timestep ``i`` (made once per batch size)."""
        key = (i, rows)
        if key not in self._t_rows:
            self._t_rows[key] = torch.full((rows,), self.timesteps[i], device=self.start_noise.device)
        return self._t_rows[key]

    @torch.no_grad()
    def __call__(self, expression: torch.Tensor, *, keep_frame: bool = False,
                 call: BankCall = PLAIN_CALL) -> torch.Tensor:
        """(B, 55) expression vectors -> (B, C, h, w) clean latents. Every frame of a
        batch starts from the stream's noise (the batch is B frames of one stream).

        ``keep_frame``: bank the frame's attn1 inputs at every step as the ``previous`` source (and as
        the ``anchor`` when it is the first frame since :meth:`reset`). ``call``: what the bank does in
        this frame's UNet calls (weights for this call, batch-shared attention)."""
        if self.bank is None:
            return self._sample(expression, kept=None, call=call)
        kept: Optional[list] = [] if keep_frame and self.step.component.profile.capture else None
        with self.bank.using(call):
            x = self._sample(expression, kept=kept, call=call)
        if kept:
            self._bank_frame(kept)
        self.frames += 1
        return x

    def _bank_frame(self, kept: list[dict[str, torch.Tensor]]) -> None:
        """Bank the frame's per-step attn1 inputs (one (1, N, C) per layer and step) as ``previous``,
        and the first frame's as ``anchor``."""
        layers = {name: torch.cat([k[name] for k in kept]) for name in kept[0]}
        self.bank.set("previous", layers)
        if self.frames == 0 and self.bank.weight("anchor") > 0:
            self.bank.set("anchor", layers)

    def _conditions(self, expression: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(prompt, expression rows, frames) for a (B, 55) batch: the unconditional rows first when guided."""
        b = expression.shape[0]
        exp = expression.to(self.start_noise.device, self.dtype).view(b, 1, -1)
        prompt = self.prompt if b == 1 else self.prompt.repeat_interleave(b, dim=0)
        if self.guidance > 1.0:
            exp = torch.cat([self._zero_expression.expand(b, -1, -1), exp])
        return prompt, exp, b

    def _eps(self, x: torch.Tensor, i: int, prompt, exp, *, kept: Optional[list], call: BankCall) -> torch.Tensor:
        """The (guided) noise prediction of step ``i`` for model input ``x`` (B, C, h, w); banks the
        conditional row's attn1 inputs into ``kept``."""
        guided = self.guidance > 1.0
        model_in = torch.cat([x, x]) if guided else x
        rows = model_in.shape[0]
        bank_inputs = (self._feed.inputs(self.bank, call, step=i, batch=rows, uncond_rows=rows // 2 if guided else 0)
                       if self._feed is not None else ())
        out = self.step(model_in, self._timesteps(i, rows), prompt, exp, *bank_inputs)
        if kept is not None and len(out) > 1:
            kept.append({n: o[-1:] for n, o in zip(self._layer_names, out[1:])})
        eps = out[0]
        if guided:
            uncond, cond = eps.chunk(2)
            eps = uncond + self.guidance * (cond - uncond)
        return eps

    def _sample(self, expression: torch.Tensor, *, kept: Optional[list], call: BankCall) -> torch.Tensor:
        prompt, exp, b = self._conditions(expression)
        x = self.start_noise.expand(b, -1, -1, -1)
        last = self.schedule.steps - 1
        for i in range(self.schedule.steps):
            eps = self._eps(x, i, prompt, exp, kept=kept, call=call)
            alpha, sigma, c_skip, c_out, alpha_next, sigma_next = self._coef[i]
            x0 = (x - sigma * eps) / alpha
            denoised = c_out * x0 + c_skip * x
            if i == last:
                x = denoised
            else:
                again = self.step_noise[i].expand(b, -1, -1, -1) if self.schedule.kind == "lcm" else eps
                x = alpha_next * denoised + sigma_next * again
        return x


@torch.no_grad()
def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) latents -> (B, H, W, 3) float32 in [0, 1] (AutoencoderKL or AutoencoderTiny)."""
    image = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
    return (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float()
