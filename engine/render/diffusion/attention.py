"""Temporal-consistency attention: self-attention that also attends to banked frames.

:class:`AttentionBank` holds, per transformer block, the hidden states that enter its
self-attention (``attn1``, after the block's first norm) for one or more *sources*:

- ``reference``: the reference photo, banked once by a pass of the plain UNet over its latent
  (Arc2Face's reference adapter); one set of states that serves every denoising step;
- ``anchor``: one frame of the stream (by default the first), kept for the session;
- ``previous``: the frame before, replaced after every frame.

The stream's sources are kept **per denoising step** (a :class:`BankSource` has one row per step):
step k of frame n attends to step k of the anchor and of frame n - 1, states at the same noise level
(Live2Diff's per-step key/value cache does the same). Stream batching, whose batch row k is at step
k, feeds row k with row k.

:class:`BankedSelfAttnProcessor` replaces the stock processor of every ``attn1``: keys and values of
the banked states (through the layer's own ``to_k``/``to_v``) are concatenated to the frame's own.
Each source has a weight ``w``: its keys get ``log(w)`` added to their attention logits, so 1 is a
plain concatenation, less than 1 attends to it less, 0 drops it. The logit bias is per batch row:
under classifier-free guidance the unconditional rows get -1e4 (``exp`` of it is 0 in float16 and
float32), so they attend to themselves only and guidance strengthens the bank, as Arc2Face's
``ReferenceAdapter`` does. Cross-attention (``attn2``, where the IP-Adapter expression processors
live) is not touched, so the two compose.

What one UNet call does with the bank is a :class:`BankCall` handed in for that call
(``with bank.using(call):``): weights for this call, a bank pass that records a source, or
batch-shared attention (offline batches, Gen-AFFECT style: every frame of a batch attends to the
keys and values of all frames of the batch).

With nothing banked and a plain call, the processor computes exactly what diffusers'
``AttnProcessor2_0`` computes.

For compiled backends (ONNX, TensorRT; see :mod:`facecast.engine.render.diffusion.step`) the bank is
not Python state but tensors: a call's ``feed`` hands each layer its banked states and per-row,
per-token logit bias, and its ``capture`` collects each layer's ``attn1`` input as an output, so the
whole step is a pure function of tensors.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Optional

import torch
import torch.nn.functional as F

SOURCES = ("reference", "anchor", "previous")


@dataclass(frozen=True)
class BankCall:
    """What the banked processors do during one UNet call: values handed in for that call
    (:meth:`AttentionBank.using`), never switches left set.

    Attributes:
        weights: source -> weight for this call, over the bank's own (e.g. ``{"anchor": 0}``).
        record: store every ``attn1`` input under this source, replacing what was there (a bank
            pass); the call attends to nothing banked.
        step: the denoising step of this call (which row of a per-step source the eager path reads).
        batch_groups: 0: each frame attends to itself (and the bank); n >= 1: every frame of a batch
            attends to all frames of its group, the batch split into n groups (2 under classifier-free
            guidance, whose unconditional and conditional halves stay apart).
        feed: the tensor-fed mode: layer name -> ((R, M, C) banked states, R = 1 or the batch; (B, M)
            logit bias per batch row and banked token) replaces the bank's states and weights; a layer
            missing from it attends to nothing banked.
        capture: when not None, every processor puts its (B, N, C) ``attn1`` input there.
        attention_op: with ``feed``, computes the attention itself:
            ``op(query (B,H,S,D), key (B,H,L,D), value (B,H,L,D), key_bias (B, L) or None)`` -> (B,H,S,D);
            used to export a fused operator (:mod:`facecast.engine.accel.fused_attention`).
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    record: Optional[str] = None
    step: int = 0
    batch_groups: int = 0
    feed: Optional[dict[str, tuple[torch.Tensor, torch.Tensor]]] = None
    capture: Optional[dict[str, torch.Tensor]] = None
    attention_op: Optional[Callable] = None


#: A plain streaming call: the bank's sources at the bank's weights.
PLAIN_CALL = BankCall()


@dataclass
class BankSource:
    """One source's banked ``attn1`` inputs.

    Attributes:
        layers: layer name -> (R, N, C) states; row r is denoising step r, or, with R = 1, one set
            of states for every step (the reference photo).
        present: (R,) whether each row holds states (a stream's rows fill as its frames arrive).
    """

    layers: dict[str, torch.Tensor]
    present: list[bool]

    @property
    def rows(self) -> int:
        return len(self.present)

    def row_of(self, step: int) -> int:
        """The row that serves denoising step ``step``."""
        return 0 if self.rows == 1 else step

    def has(self, step: int) -> bool:
        r = self.row_of(step)
        return r < self.rows and self.present[r]


@dataclass
class AttentionBank:
    """The banked states of all :class:`BankedSelfAttnProcessor` of one UNet.

    What a UNet call does with them is a :class:`BankCall` passed in for that call
    (:meth:`using`); between calls the bank holds only states.

    Attributes:
        weights: source -> weight in [0, inf) for the session (missing: 1).
        states: source -> :class:`BankSource`.
    """

    weights: dict[str, float] = field(default_factory=dict)
    states: dict[str, BankSource] = field(default_factory=dict)
    _call: BankCall = PLAIN_CALL

    @property
    def call(self) -> BankCall:
        """The call in progress (:data:`PLAIN_CALL` outside :meth:`using`)."""
        return self._call

    @contextmanager
    def using(self, call: BankCall) -> Iterator[None]:
        """The processors follow ``call`` inside the ``with`` block; the previous call after it."""
        previous, self._call = self._call, call
        try:
            yield
        finally:
            self._call = previous

    def weight(self, source: str, call: Optional[BankCall] = None) -> float:
        """``source``'s weight in ``call`` (default: the call in progress), else the bank's, else 1."""
        call = call if call is not None else self._call
        return float(call.weights.get(source, self.weights.get(source, 1.0)))

    def clear(self, source: Optional[str] = None) -> None:
        """Forget one source (or all)."""
        if source is None:
            self.states.clear()
        else:
            self.states.pop(source, None)

    def set(self, source: str, layers: dict[str, torch.Tensor], present: Optional[list[bool]] = None) -> None:
        """Bank ``layers`` (layer name -> (R, N, C), row r = denoising step r, or R = 1 for all steps)
        as ``source``; ``present``: which rows hold states (default: all)."""
        rows = next(iter(layers.values())).shape[0]
        self.states[source] = BankSource(layers=dict(layers), present=list(present) if present else [True] * rows)

    def active(self, step: int = 0) -> list[tuple[str, float]]:
        """Sources with states for ``step`` and a weight > 0 in the call in progress, in :data:`SOURCES` order."""
        return [(s, self.weight(s)) for s in SOURCES
                if s in self.states and self.states[s].has(step) and self.weight(s) > 0]


class BankedSelfAttnProcessor:
    """``attn1`` processor that attends to the frame and to the banked sources of ``bank``.

    Args:
        name: the layer's processor name (``...attn1.processor``), its key in the bank.
        bank: the UNet's shared :class:`AttentionBank`.
    """

    def __init__(self, name: str, bank: AttentionBank) -> None:
        self.name = name
        self.bank = bank

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: Optional[torch.Tensor] = None,
                 attention_mask: Optional[torch.Tensor] = None, temb: Optional[torch.Tensor] = None,
                 *args, **kwargs) -> torch.Tensor:
        if encoder_hidden_states is not None:
            raise ValueError(f"{self.name}: the banked processor is for self-attention only")
        bank = self.bank
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        batch_size, sequence_length, _ = hidden_states.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
            attention_mask = attention_mask.view(batch_size, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        call = bank.call
        if call.feed is None and call.record is not None:  # a bank pass (a UNet step captures tensors instead)
            source = bank.states.setdefault(call.record, BankSource(layers={}, present=[True]))
            source.layers[self.name] = hidden_states[:1].detach().clone()
        if call.capture is not None:
            call.capture[self.name] = hidden_states

        context = hidden_states
        groups = call.batch_groups
        if groups and batch_size > groups:
            if batch_size % groups:
                raise ValueError(f"batch of {batch_size} does not split into {groups} groups")
            per = batch_size // groups
            shared = hidden_states.reshape(groups, per * sequence_length, -1)
            context = shared.repeat_interleave(per, dim=0)
        query = attn.to_q(hidden_states)
        key = attn.to_k(context)
        value = attn.to_v(context)

        bias = []
        key_bias = None
        if call.feed is not None:
            fed = call.feed.get(self.name)
            if fed is not None:
                banked, fed_bias = fed
                banked = banked.to(hidden_states.dtype)
                key = torch.cat([key, attn.to_k(banked).expand(batch_size, -1, -1)], dim=1)
                value = torch.cat([value, attn.to_v(banked).expand(batch_size, -1, -1)], dim=1)
                fed_bias = fed_bias.to(query.dtype)
                own = torch.zeros(batch_size, key.shape[1] - fed_bias.shape[1], dtype=query.dtype,
                                  device=query.device)
                key_bias = torch.cat([own, fed_bias.expand(batch_size, -1)], dim=1)
                logit_bias = key_bias[:, None, None, :]
                attention_mask = logit_bias if attention_mask is None else attention_mask + logit_bias
        elif call.record is None:
            for source, weight in bank.active(call.step):
                state = bank.states[source]
                banked = state.layers.get(self.name)
                if banked is None:
                    continue
                r = state.row_of(call.step)
                banked = banked[r:r + 1].to(hidden_states.dtype).expand(batch_size, -1, -1)
                key = torch.cat([key, attn.to_k(banked)], dim=1)
                value = torch.cat([value, attn.to_v(banked)], dim=1)
                bias.append((banked.shape[1], math.log(weight)))
        if bias and any(b != 0.0 for _, b in bias):
            own = torch.zeros(key.shape[1] - sum(n for n, _ in bias), dtype=query.dtype, device=query.device)
            parts = [own] + [torch.full((n,), b, dtype=query.dtype, device=query.device) for n, b in bias]
            logit_bias = torch.cat(parts).view(1, 1, 1, -1)
            attention_mask = logit_bias if attention_mask is None else attention_mask + logit_bias

        inner_dim = key.shape[-1]
        head_dim = inner_dim // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if call.feed is not None and call.attention_op is not None and not groups:
            hidden_states = call.attention_op(query, key, value, key_bias)
        else:
            hidden_states = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                           dropout_p=0.0, is_causal=False)
        hidden_states = hidden_states.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim)
        hidden_states = hidden_states.to(query.dtype)
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def install_bank(unet, bank: Optional[AttentionBank] = None) -> AttentionBank:
    """Give every ``attn1`` of ``unet`` a :class:`BankedSelfAttnProcessor` on one bank
    (returned); every other processor (``attn2``: stock or IP-Adapter) is kept."""
    bank = bank if bank is not None else AttentionBank()
    processors = {}
    for name, proc in unet.attn_processors.items():
        processors[name] = BankedSelfAttnProcessor(name, bank) if name.endswith("attn1.processor") else proc
    unet.set_attn_processor(processors)
    return bank
