"""onnxruntime's fused attention operator for the exported UNet step.

Exported plainly, the banked self-attention becomes MatMul-Softmax-MatMul with the
whole score matrix in memory: at a 64x64 latent that is 4,096 queries against
12,288 keys (the frame and two bank slots) per head, and onnxruntime on a CPU is
then no faster than torch's fused kernel. ``com.microsoft::MultiHeadAttention``
runs a tiled flash attention on the CPU, but only without an additive bias, and
the bank's per-key logit bias ``c_j`` (log of the slot's weight) is one. So the
bias is folded into the dot product, exactly: each head's query gains a last
component ``1`` and each key a last component ``c_j * sqrt(D)``; with the scale
fixed at ``1/sqrt(D)``, ``scale * q'.k'_j = scale * q.k_j + c_j``. Values keep
their ``D`` (the operator takes a value head size apart from the query's).

Only the onnxruntime CPU export uses it (TensorRT's parser does not read
``com.microsoft`` operators, and CUDA's fused kernels want equal query and value
heads); the traced values are computed with torch's own attention.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

DOMAIN = "com.microsoft"


@torch.library.custom_op("facecast::multi_head_attention", mutates_args=())
def _multi_head_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, heads: int,
                          scale: float) -> torch.Tensor:
    """(B, S, H*Dq) query, (B, L, H*Dq) key, (B, L, H*Dv) value -> (B, S, H*Dv)."""
    b, s, _ = query.shape
    q = query.view(b, s, heads, -1).transpose(1, 2)
    k = key.view(b, key.shape[1], heads, -1).transpose(1, 2)
    v = value.view(b, value.shape[1], heads, -1).transpose(1, 2)
    return F.scaled_dot_product_attention(q, k, v, scale=scale).transpose(1, 2).reshape(b, s, -1)


@_multi_head_attention.register_fake
def _(query, key, value, heads, scale):
    return query.new_empty(query.shape[0], query.shape[1], value.shape[2])


def _symbolic(g, query, key, value, heads, scale):
    from torch.onnx.symbolic_helper import _get_const
    return g.op(f"{DOMAIN}::MultiHeadAttention", query, key, value, num_heads_i=_get_const(heads, "i", "heads"),
                scale_f=_get_const(scale, "f", "scale"))


torch.onnx.register_custom_op_symbolic("facecast::multi_head_attention", _symbolic, 1)


def fused_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    key_bias: Optional[torch.Tensor]) -> torch.Tensor:
    """Banked attention as one fused operator: ``query`` (B, H, S, D), ``key``/``value``
    (B, H, L, D), ``key_bias`` (B, L) or (L,) logit bias per key (per batch row) or None -> (B, H, S, D)."""
    b, heads, s, d = query.shape
    length = key.shape[2]
    scale = 1.0 / math.sqrt(d)
    if key_bias is not None:
        query = torch.cat([query, torch.ones_like(query[..., :1])], dim=-1)
        folded = (key_bias * math.sqrt(d)).to(key.dtype).reshape(-1, 1, length, 1).expand(b, heads, length, 1)
        key = torch.cat([key, folded], dim=-1)
    q = query.transpose(1, 2).reshape(b, s, -1)
    k = key.transpose(1, 2).reshape(b, length, -1)
    v = value.transpose(1, 2).reshape(b, length, -1)
    out = _multi_head_attention(q, k, v, heads, scale)
    return out.view(b, s, heads, d).transpose(1, 2)
