"""The diffusion renderer's models as pure functions of tensors: what every backend runs.

Each is a :class:`~facecast.engine.accel.component.Component` (a torch module plus the names,
shapes and dynamic batch of its inputs and outputs) that the acceleration backends build. Two:

- :class:`UNetStep`: one UNet evaluation of the streaming sampler, with the
  expression adapter's input and the temporal-consistency bank as plain inputs::

      sample          (B, 4, h, w)     latents
      timestep        (B,)             float32, one per batch row (stream batching mixes steps)
      prompt_embeds   (B, 77, 768)     identity prompt
      expression      (B, 1, 55)       FLAME vector for the expression adapter
      bank_log_weight (B, K)           float32 log-weight of each bank slot for each batch row
                                       (-1e4: the slot counts for nothing in that row)
      bank_<s>_<i>    (R, N_i, C_i)    slot s's banked attn1 states of layer i (slot after slot);
                                       R = 1 (one set for the whole batch) or B (``per_row_bank``)
    ->
      eps             (B, 4, h, w)     noise prediction
      attn1_<i>       (B, N_i, C_i)    layer i's attn1 input (only with ``capture``)

  The bank inputs exist only when the profile has bank slots (K > 0).
- :class:`DecoderStep`: latents (B, 4, h, w) -> pixels (B, H, W, C) uint8 in the
  output layout (RGB, RGBA or BGRA): the conversion to the published picture is
  part of the graph, so on a GPU only the final bytes leave the device.

Shapes are static per :class:`StepProfile` (the resolution, the bank slots)
except the batch, which is dynamic in ``batch`` = (min, opt, max).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

import torch

from facecast.engine.accel.component import Component, module_digest
from facecast.engine.render.diffusion.adapter import expression_embeds
from facecast.engine.render.diffusion.attention import AttentionBank, BankCall, PLAIN_CALL, SOURCES
from facecast.engine.types import FLAME_DIM


#: Logit bias of an empty bank slot: exp(-1e4) is 0 in float16 and float32, so the slot adds nothing.
EMPTY_SLOT_LOG_WEIGHT = -1.0e4
PROMPT_TOKENS = 77
EXPRESSION_DIM = FLAME_DIM  # the expression adapter takes the 55-d FLAME vector


@dataclass(frozen=True)
class StepProfile:
    """The static shape of an accelerated component (part of every engine-cache key).

    Attributes:
        latent_hw: latent height and width (output size / 8).
        batch: (min, opt, max) batch rows; engines are built for this range.
        bank_sources: the bank slots, a subset of ``reference``, ``anchor``, ``previous`` in that order.
        capture: whether the UNet step also returns every attn1 input (to bank the frame).
        per_row_bank: each batch row has its own banked states (stream batching: row k is at
            denoising step k and attends to step k's states); else one set for the whole batch.
        dtype: ``float32`` or ``float16``.
    """

    latent_hw: tuple[int, int]
    batch: tuple[int, int, int] = (1, 1, 4)
    bank_sources: tuple[str, ...] = ()
    capture: bool = False
    per_row_bank: bool = False
    dtype: str = "float32"

    def __post_init__(self) -> None:
        lo, opt, hi = self.batch
        if not 1 <= lo <= opt <= hi:
            raise ValueError(f"batch must be 1 <= min <= opt <= max, got {self.batch}")
        if tuple(s for s in SOURCES if s in self.bank_sources) != tuple(self.bank_sources):
            raise ValueError(f"bank_sources must be in the order {SOURCES}, got {self.bank_sources}")
        if self.dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be float32 or float16, got {self.dtype}")

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


@dataclass(frozen=True)
class BankLayer:
    """One self-attention layer's bank geometry: ``tokens`` (N) per slot, ``channels`` (C)."""

    name: str
    tokens: int
    channels: int


def bank_layers(unet, latent_hw: tuple[int, int]) -> tuple[BankLayer, ...]:
    """The attn1 layers of ``unet`` in processor order, with their token count at ``latent_hw``."""
    n_down = len(unet.config.block_out_channels)
    layers = []
    for name in unet.attn_processors:
        if not name.endswith("attn1.processor"):
            continue
        module = unet.get_submodule(name[: -len(".processor")])
        if name.startswith("down_blocks."):
            level = int(name.split(".")[1])
        elif name.startswith("mid_block."):
            level = n_down - 1
        else:
            level = n_down - 1 - int(name.split(".")[1])
        h, w = latent_hw
        for _ in range(level):  # stride-2 convolutions with padding 1
            h, w = (h + 1) // 2, (w + 1) // 2
        layers.append(BankLayer(name=name, tokens=h * w, channels=module.to_q.in_features))
    return tuple(layers)


class UNetStep(Component):
    """One UNet evaluation as a pure function (see the module docstring for the signature).

    Args:
        unet: the UNet with the expression adapter loaded (LoRAs fused) and, when the
            profile has bank slots or ``capture``, :class:`BankedSelfAttnProcessor` on its attn1 layers.
        bank: the processors' shared :class:`AttentionBank` (each call hands it its feed and capture as a ``BankCall``).
        profile: the static shapes.
    """

    kind = "unet_step"

    def __init__(self, unet, bank: Optional[AttentionBank], profile: StepProfile) -> None:
        super().__init__()
        if (profile.bank_sources or profile.capture) and bank is None:
            raise ValueError("a profile with bank slots or capture needs the UNet's AttentionBank")
        self.unet = unet
        self.bank = bank if bank is not None else AttentionBank()
        self.profile = profile
        self.layers = bank_layers(unet, profile.latent_hw)
        self._slots = len(profile.bank_sources)

    @property
    def input_names(self) -> list[str]:
        names = ["sample", "timestep", "prompt_embeds", "expression"]
        if self._slots:
            names += ["bank_log_weight"] + [f"bank_{source}_{i}" for source in self.profile.bank_sources
                                            for i in range(len(self.layers))]
        return names

    @property
    def output_names(self) -> list[str]:
        names = ["eps"]
        if self.profile.capture:
            names += [f"attn1_{i}" for i in range(len(self.layers))]
        return names

    @property
    def batch_inputs(self) -> list[str]:
        names = ["sample", "timestep", "prompt_embeds", "expression"]
        if self._slots:
            names.append("bank_log_weight")
            if self.profile.per_row_bank:
                names += self.input_names[5:]
        return names

    def forward(self, sample, timestep, prompt_embeds, expression, *bank_inputs):
        bank = self.bank
        feed = {}
        if self._slots:
            log_weight, states = bank_inputs[0], bank_inputs[1:]
            n = len(self.layers)
            for i, layer in enumerate(self.layers):
                banked = torch.cat([states[k * n + i] for k in range(self._slots)], dim=1)
                feed[layer.name] = (banked, log_weight.repeat_interleave(layer.tokens, dim=1))
        captured: Optional[dict] = {} if self.profile.capture else None
        with bank.using(dataclasses.replace(bank.call, feed=feed, capture=captured)):
            eps = self.unet(sample, timestep, encoder_hidden_states=prompt_embeds,
                            added_cond_kwargs={"image_embeds": expression_embeds(self.unet, expression)},
                            return_dict=False)[0]
        if captured is None:
            return (eps,)
        return (eps, *(captured[layer.name] for layer in self.layers))

    def exporting(self, *, fused_attention: bool = False):
        """With ``fused_attention``, the banked self-attention is exported as onnxruntime's fused operator."""
        if not fused_attention:
            return super().exporting()
        from facecast.engine.accel.fused_attention import fused_attention as op  # only for this export
        return self.bank.using(dataclasses.replace(self.bank.call, attention_op=op))

    def output_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        h, w = self.profile.latent_hw
        shapes = {"eps": (batch, self.unet.config.out_channels, h, w)}
        if self.profile.capture:
            shapes.update({f"attn1_{i}": (batch, layer.tokens, layer.channels) for i, layer in enumerate(self.layers)})
        return shapes

    def example_inputs(self, batch: int) -> tuple[torch.Tensor, ...]:
        device, dtype = self._device(), self.profile.torch_dtype
        h, w = self.profile.latent_hw
        g = torch.Generator().manual_seed(0)
        cross = self.unet.config.cross_attention_dim

        def rnd(*shape):
            return torch.randn(*shape, generator=g).to(device, dtype)

        inputs = [rnd(batch, self.unet.config.in_channels, h, w),
                  torch.full((batch,), 500.0, device=device), rnd(batch, PROMPT_TOKENS, cross),
                  rnd(batch, 1, EXPRESSION_DIM) * 0.5]
        if self._slots:
            rows = batch if self.profile.per_row_bank else 1
            inputs.append(torch.zeros(batch, self._slots, device=device))
            inputs += [rnd(rows, layer.tokens, layer.channels) for _ in range(self._slots) for layer in self.layers]
        return tuple(inputs)

    def digest(self) -> str:
        procs = {n: [type(p).__name__, list(map(float, getattr(p, "scale", []) or []))]
                 for n, p in self.unet.attn_processors.items()}
        return module_digest(self.unet, extra={"processors": procs})


#: Pixel layouts a :class:`DecoderStep` can emit: channel order, and whether an opaque alpha follows.
LAYOUTS = {"rgb": ((0, 1, 2), False), "rgba": ((0, 1, 2), True), "bgra": ((2, 1, 0), True)}


class DecoderStep(Component):
    """The VAE (or TAESD) decoder: (B, 4, h, w) latents -> (B, H, W, C) uint8 pixels in
    ``layout`` (``rgb``, ``rgba`` or ``bgra``; alpha 255), rounded to the nearest level."""

    kind = "decoder"

    def __init__(self, vae, profile: StepProfile, *, layout: str = "rgb") -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        self.vae = vae
        self.profile = profile
        self.layout = layout
        self._scale = float(vae.config.scaling_factor)
        blocks = getattr(vae.config, "block_out_channels", None) or vae.config.decoder_block_out_channels
        #: output pixels per latent (8 for SD1.5's VAE and TAESD)
        self.upscale = 2 ** (len(blocks) - 1)

    @property
    def input_names(self) -> list[str]:
        return ["latents"]

    @property
    def output_names(self) -> list[str]:
        return ["pixels"]

    @property
    def batch_inputs(self) -> list[str]:
        return ["latents"]

    def output_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        h, w = self.profile.latent_hw
        channels = 4 if LAYOUTS[self.layout][1] else 3
        return {"pixels": (batch, h * self.upscale, w * self.upscale, channels)}

    def forward(self, latents):
        image = self.vae.decode(latents / self._scale, return_dict=False)[0].float()
        order, alpha = LAYOUTS[self.layout]
        levels = (image * 127.5 + 128.0).clamp(0, 255)  # [-1, 1] -> [0.5, 255.5], then rounded down
        if order != (0, 1, 2):
            levels = levels[:, list(order)]
        if alpha:
            levels = torch.cat([levels, torch.full_like(levels[:, :1], 255.0)], dim=1)
        return (levels.permute(0, 2, 3, 1).to(torch.uint8),)

    def example_inputs(self, batch: int) -> tuple[torch.Tensor, ...]:
        h, w = self.profile.latent_hw
        g = torch.Generator().manual_seed(0)
        channels = getattr(self.vae.config, "latent_channels", 4)
        return (torch.randn(batch, channels, h, w, generator=g).to(self._device(), self.profile.torch_dtype),)

    def digest(self) -> str:
        return module_digest(self.vae, extra={"layout": self.layout})


class BankFeed:
    """Turns an :class:`AttentionBank`'s sources into a :class:`UNetStep`'s bank inputs.

    Nothing is copied: a present source's tensors are passed as they are (a per-step source's row
    as a view), an empty slot gets zeros made once; the per-row log-weights say which rows count.

    Args:
        layers: the step's bank layers.
        sources: the step's bank slots.
        rows: the rows of the banked states the step takes: 1 (one set for the batch; the rows of a
            per-step source are picked by the call's step) or the stream-batching depth S (row k =
            step k).
    """

    def __init__(self, layers: tuple[BankLayer, ...], sources: tuple[str, ...], *, rows: int = 1,
                 device, dtype) -> None:
        self.layers, self.sources, self.rows = layers, tuple(sources), rows
        # zeros per slot (one tensor passed twice would make a compiled graph recompile)
        self._empty = [[torch.zeros(rows, layer.tokens, layer.channels, device=device, dtype=dtype)
                        for layer in layers] for _ in self.sources]
        self._log_weight: tuple[tuple, Optional[torch.Tensor]] = ((), None)  # the last setting and its tensor
        self._device = device

    def inputs(self, bank: AttentionBank, call: BankCall = PLAIN_CALL, *, step: Optional[int] = 0, batch: int = 1,
               uncond_rows: int = 0) -> tuple[torch.Tensor, ...]:
        """``(bank_log_weight (batch, K), bank_<slot>_<layer>, ...)`` for the bank's sources at the
        weights of ``call``. ``step``: the denoising step of every row (rows = 1), or None when row k
        is step k (rows = S = ``batch``). The first ``uncond_rows`` rows (the unconditional half under
        guidance) attend to nothing banked."""
        if not self.sources:
            return ()
        if step is None and batch != self.rows:
            raise ValueError(f"a per-row bank of {self.rows} rows fed to a batch of {batch}")
        log_weight, states = [], []
        for k, source in enumerate(self.sources):
            banked = bank.states.get(source)
            weight = bank.weight(source, call)
            steps = range(self.rows) if step is None else [step]
            have = [banked is not None and weight > 0 and banked.has(s) for s in steps]
            log_w = math.log(weight) if weight > 0 else EMPTY_SLOT_LOG_WEIGHT
            if step is None:
                log_weight.append([log_w if h else EMPTY_SLOT_LOG_WEIGHT for h in have])
            else:
                log_weight.append([log_w if have[0] else EMPTY_SLOT_LOG_WEIGHT] * batch)
            if not any(have):
                states += self._empty[k]
            elif step is None:
                states += [_rows(banked.layers[layer.name], self.rows) for layer in self.layers]
            else:
                r = banked.row_of(step)
                states += [banked.layers[layer.name][r:r + 1] for layer in self.layers]
        key = tuple(tuple(EMPTY_SLOT_LOG_WEIGHT if row < uncond_rows else w[row] for w in log_weight)
                    for row in range(batch))
        if key != self._log_weight[0]:  # changes when a source appears or a weight is set, not per frame
            self._log_weight = (key, torch.tensor(key, dtype=torch.float32, device=self._device))
        return (self._log_weight[1], *states)


def _rows(states: torch.Tensor, rows: int) -> torch.Tensor:
    """(R, N, C) states as ``rows`` rows: as they are, or one row repeated (a view)."""
    return states if states.shape[0] == rows else states[:1].expand(rows, -1, -1)
