"""Stream batching (StreamDiffusion's pipelined denoising): the ``S`` steps of ``S`` consecutive
frames as one batched UNet call per frame."""

from __future__ import annotations

from typing import Optional

import torch

from facecast.engine.render.diffusion.attention import BankCall
from facecast.engine.render.diffusion.sampler import StreamSampler
from facecast.engine.render.diffusion.schedule import StreamSchedule
from facecast.engine.render.diffusion.step import BankFeed
from facecast.engine.types import FLAME_DIM


class StreamBatchSampler(StreamSampler):
    """Stream batching: row ``k`` of the batch is the frame that arrived ``k`` frames ago, at step ``k``;
    each call advances every row by one step, the oldest row comes out clean, and the new frame
    enters at step 0. So a frame costs one UNet call of batch ``S`` instead of ``S`` calls of batch 1
    (on a GPU, far less than ``S`` times one), but a frame shows the expression of ``S - 1`` frames
    before: that is the latency cost, ``(S - 1) / fps`` (33 ms at 2 steps and 30 fps). Until the
    pipeline is full (the first ``S - 1`` frames), the most advanced row's estimate is shown.
    Guidance-free only.

    The bank is per row: row k attends to step k of the previous frame (row k of the last call) and
    of the anchor (the first frame at step k, banked by call k), so every frame follows the trajectory
    the step-by-step :class:`StreamSampler` gives it. The step must be built with ``per_row_bank``.
    """

    def __init__(self, step, schedule: StreamSchedule, **kwargs) -> None:
        super().__init__(step, schedule, **kwargs)
        if self.guidance > 1.0:
            raise ValueError("stream batching is guidance-free (guidance 1)")
        s = schedule.steps
        profile = self.step.component.profile
        lo, _, hi = profile.batch
        if not lo <= s <= hi:
            raise ValueError(f"stream batching of {s} steps needs a step built for batch {s} "
                             f"(this one takes {lo}..{hi})")
        if profile.bank_sources and not profile.per_row_bank:
            raise ValueError("stream batching needs a step built with per_row_bank (row k attends to step k)")
        self._t_all = torch.tensor(self.timesteps, device=self.start_noise.device)
        coef = torch.tensor(self._coef, dtype=torch.float64).T  # (6, S)
        self._c = [c.to(self.start_noise.device, self.dtype).view(s, 1, 1, 1) for c in coef]
        self._noise = torch.cat([n for n in self.step_noise])  # (S, C, h, w): row k re-noised with step k's noise
        self._x = self.start_noise.repeat(s, 1, 1, 1)  # rows in flight (row 0 is replaced by each new frame)
        self._exp = torch.zeros(s, 1, FLAME_DIM, device=self.start_noise.device, dtype=self.dtype)
        self._prompt = self.prompt.expand(s, -1, -1).contiguous()
        self.filled = 0

    def _make_feed(self, component, *, device, dtype) -> BankFeed:
        return BankFeed(component.layers, component.profile.bank_sources, rows=self.schedule.steps, device=device,
                        dtype=dtype)

    @property
    def unet_calls_per_frame(self) -> int:
        return 1

    @property
    def unet_rows_per_frame(self) -> int:
        return self.schedule.steps

    def reset(self) -> None:
        super().reset()
        self.filled = 0

    def _sample(self, expression: torch.Tensor, *, kept: Optional[list], call: BankCall) -> torch.Tensor:
        """(1, 55) the newest frame's expression -> (1, C, h, w) the frame leaving the pipeline."""
        if expression.shape[0] != 1:
            raise ValueError("stream batching takes one frame at a time")
        s = self.schedule.steps
        x = self._x.clone()
        x[0] = self.start_noise[0]
        self._exp[1:] = self._exp[:-1].clone()
        self._exp[0] = expression.to(self._exp.device, self.dtype).view(1, -1)
        bank_inputs = self._feed.inputs(self.bank, call, step=None, batch=s) if self._feed is not None else ()
        out = self.step(x, self._t_all, self._prompt, self._exp, *bank_inputs)
        if kept is not None and len(out) > 1:
            kept.append(dict(zip(self._layer_names, out[1:])))
        eps = out[0]
        alpha, sigma, c_skip, c_out, alpha_next, sigma_next = self._c
        denoised = c_out * (x - sigma * eps) / alpha + c_skip * x
        again = self._noise if self.schedule.kind == "lcm" else eps
        advanced = alpha_next * denoised + sigma_next * again
        self._x[1:] = advanced[:-1]  # row k moves to row k + 1
        self.filled = min(self.filled + 1, s)
        return denoised[self.filled - 1:self.filled]

    def _bank_frame(self, kept: list[dict[str, torch.Tensor]]) -> None:
        """After call ``c`` (= :attr:`frames`), row k held frame ``c - k`` at step k: it is the next
        call's ``previous`` for row k when that frame exists (k <= c); row ``c`` (while c < S) is the
        first frame's step c, the anchor's row c."""
        c, s = self.frames, self.schedule.steps
        layers = kept[0]
        self.bank.set("previous", layers, present=[k <= c for k in range(s)])
        if c < s and self.bank.weight("anchor") > 0:
            anchor = self.bank.states.get("anchor")
            if c == 0 or anchor is None:
                self.bank.set("anchor", {n: torch.zeros_like(t) for n, t in layers.items()}, present=[False] * s)
                anchor = self.bank.states["anchor"]
            for name, t in layers.items():
                anchor.layers[name][c] = t[c]
            anchor.present[c] = True
