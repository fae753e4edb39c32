"""Temporal-consistency attention: self-attention that also attends to banked frames.

:class:`AttentionBank` holds, per transformer block, the hidden states that enter
its self-attention (``attn1``, after the block's first norm) for one or more
*sources*:

- ``reference``: the reference photo, banked once by a UNet pass over its latent
  (Arc2Face's reference adapter);
- ``anchor``: one frame of the stream (by default the first), kept for the session;
- ``previous``: the frame before, replaced after every frame.

:class:`BankedSelfAttnProcessor` replaces the stock processor of every ``attn1``:
keys and values of the banked states (through the layer's own ``to_k``/``to_v``)
are concatenated to the frame's own. Each source has a weight ``w``: its keys get
``log(w)`` added to their attention logits, so 1 is a plain concatenation, less
than 1 attends to it less, 0 drops it. Cross-attention (``attn2``, where the
IP-Adapter expression processors live) is not touched, so the two compose.

What one UNet call does with the bank is a :class:`BankCall` handed in for that
call (``with bank.using(call):``): weights for this call, a bank pass that records
a source, or batch-shared attention (offline batches, Gen-AFFECT style: every frame
of a batch attends to the keys and values of all frames of the batch). A frame is
banked as ``previous`` from the attn1 inputs the UNet step returns
(:meth:`AttentionBank.set_pending`, then :meth:`AttentionBank.commit_frame`).

With nothing banked and a plain call, the processor computes exactly what
diffusers' ``AttnProcessor2_0`` computes.

For compiled backends (ONNX, TensorRT; see :mod:`facecast.engine.render.diffusion.step`) the
bank is not Python state but tensors: a call's ``feed`` hands each layer its banked
states and per-token logit bias, and its ``capture`` collects each layer's
``attn1`` input as an output, so the whole step is a pure function of tensors.
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
        batch_groups: 0: each frame attends to itself (and the bank); n >= 1: every frame of a batch
            attends to all frames of its group, the batch split into n groups (2 under classifier-free
            guidance, whose unconditional and conditional halves stay apart).
        feed: the tensor-fed mode: layer name -> ((1, M, C) banked states, (M,) logit bias) replaces
            the bank's states and weights; a layer missing from it attends to nothing banked.
        capture: when not None, every processor puts its (B, N, C) ``attn1`` input there.
        attention_op: with ``feed``, computes the attention itself:
            ``op(query (B,H,S,D), key (B,H,L,D), value (B,H,L,D), key_bias (L,) or None)`` -> (B,H,S,D);
            used to export a fused operator (:mod:`facecast.engine.accel.fused_attention`).
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    record: Optional[str] = None
    batch_groups: int = 0
    feed: Optional[dict[str, tuple[torch.Tensor, torch.Tensor]]] = None
    capture: Optional[dict[str, torch.Tensor]] = None
    attention_op: Optional[Callable] = None


#: A plain streaming call: the bank's sources at the bank's weights.
PLAIN_CALL = BankCall()


@dataclass
class AttentionBank:
    """The banked states of all :class:`BankedSelfAttnProcessor` of one UNet.

    What a UNet call does with them is a :class:`BankCall` passed in for that call
    (:meth:`using`); between calls the bank holds only states.

    Attributes:
        weights: source -> weight in [0, inf) for the session (missing: 1).
        states: source -> layer name -> (1, N, C) hidden states.
    """

    weights: dict[str, float] = field(default_factory=dict)
    states: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    _pending: dict[str, torch.Tensor] = field(default_factory=dict)
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
            self._pending.clear()
        else:
            self.states.pop(source, None)

    def set_pending(self, states: dict[str, torch.Tensor]) -> None:
        """The frame being rendered's attn1 inputs (layer name -> (1, N, C)), made
        the ``previous`` source by :meth:`commit_frame`."""
        self._pending = states

    def commit_frame(self) -> None:
        """Make the frame just rendered the ``previous`` source."""
        if self._pending:
            self.states["previous"] = self._pending
            self._pending = {}

    def keep_previous_as(self, source: str) -> None:
        """Copy the ``previous`` source under another name (e.g. the first frame as ``anchor``)."""
        if "previous" in self.states:
            self.states[source] = dict(self.states["previous"])

    def active(self) -> list[tuple[str, float]]:
        """Banked sources with a weight > 0 in the call in progress, in :data:`SOURCES` order."""
        return [(s, self.weight(s)) for s in SOURCES if s in self.states and self.weight(s) > 0]


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
            bank.states.setdefault(call.record, {})[self.name] = hidden_states[:1].detach().clone()
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
                own = torch.zeros(key.shape[1] - fed_bias.shape[0], dtype=query.dtype, device=query.device)
                key_bias = torch.cat([own, fed_bias.to(query.dtype)])
                logit_bias = key_bias.view(1, 1, 1, -1)
                attention_mask = logit_bias if attention_mask is None else attention_mask + logit_bias
        elif call.record is None:
            for source, weight in bank.active():
                banked = bank.states[source].get(self.name)
                if banked is None:
                    continue
                banked = banked.to(hidden_states.dtype).expand(batch_size, -1, -1)
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
