"""A :class:`Component`: what every backend builds and runs. A torch module with named tensor
inputs and outputs, a static shape profile (part of every engine-cache key) and a digest of its
weights. The models themselves (the diffusion renderer's UNet step and decoder) live with their
renderer and subclass this."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import ContextManager, Optional, Protocol

import torch


class ShapeProfile(Protocol):
    """The static shape of a build: what a backend reads of a component's profile."""

    batch: tuple[int, int, int]  # (min, opt, max) batch rows; engines are built for this range

    def as_dict(self) -> dict: ...

    @property
    def torch_dtype(self) -> torch.dtype: ...


def module_digest(module: torch.nn.Module, *, extra: Optional[dict] = None) -> str:
    """A hash of every parameter and buffer (names, dtypes, shapes, bytes) and ``extra``:
    what makes two modules compute the same thing. Fused LoRAs change it."""
    h = hashlib.blake2b(digest_size=20)
    h.update(type(module).__name__.encode())
    h.update(json.dumps(extra or {}, sort_keys=True, default=str).encode())
    for name, t in module.state_dict().items():
        t = t.detach()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.contiguous().cpu().reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


class Component(torch.nn.Module):
    """A module with named tensor inputs and outputs, the batch dynamic on axis 0 of
    the names in ``batch_inputs`` and ``batch_outputs``."""

    kind: str = ""
    profile: ShapeProfile

    @property
    def input_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def output_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def batch_inputs(self) -> list[str]:
        raise NotImplementedError

    @property
    def batch_outputs(self) -> list[str]:
        return list(self.output_names)

    def example_inputs(self, batch: int) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def input_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        return {n: tuple(t.shape) for n, t in zip(self.input_names, self.example_inputs(batch))}

    def output_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def digest(self) -> str:
        """The model part of the engine-cache key (weights and what else changes the function)."""
        raise NotImplementedError

    def exporting(self, *, fused_attention: bool = False) -> ContextManager:
        """A context the ONNX export runs in; ``fused_attention``: emit attention as onnxruntime's fused
        ``MultiHeadAttention`` where the component has attention it can fuse (see
        :mod:`facecast.engine.accel.fused_attention`). The default changes nothing."""
        return contextlib.nullcontext()

    def _device(self) -> torch.device:
        return next(self.parameters()).device
