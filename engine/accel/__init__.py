"""Acceleration of the diffusion renderer's models: one call signature, many backends.

The pieces, in data-flow order:

- :mod:`.step`: the UNet step and the decoder as pure functions of tensors
  (:class:`~.step.UNetStep`, :class:`~.step.DecoderStep`), with the expression
  adapter's input and the temporal-consistency bank as plain inputs, and the
  static shapes of a build (:class:`~.step.StepProfile`);
- :mod:`.export`: ONNX export (static resolution, dynamic batch);
- :mod:`.cache`: the engine cache, keyed by the model's hash, shapes, dtype,
  backend and the versions and GPU it was built for;
- the backends, all behind :class:`~.base.Backend`: ``torch`` (eager),
  ``torch-compile``, ``onnxruntime`` (CPU), ``onnxruntime-cuda``,
  ``onnxruntime-tensorrt``, ``tensorrt`` (native engines) and ``stable-fast``.
  The ones that need CUDA, TensorRT or stable-fast import them only when used
  and say why they cannot run where they cannot (``facecast doctor``).
"""

from __future__ import annotations

from typing import Optional

from facecast.engine.accel.base import Accelerated, Backend, BackendUnavailable
from facecast.engine.accel.onnxruntime_backend import OnnxRuntime
from facecast.engine.accel.tensorrt_backend import TensorRT
from facecast.engine.accel.torch_backends import StableFast, TorchCompile, TorchEager

BACKENDS: dict[str, Backend] = {b.name: b for b in (
    TorchEager(), TorchCompile(), OnnxRuntime("cpu"), OnnxRuntime("cuda"), OnnxRuntime("tensorrt"), TensorRT(),
    StableFast())}


def get_backend(name: str) -> Backend:
    """The backend called ``name``.

    Raises:
        BackendUnavailable: no such backend (the message lists them).
    """
    try:
        return BACKENDS[name]
    except KeyError:
        raise BackendUnavailable(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}") from None


def availability() -> dict[str, Optional[str]]:
    """Backend name -> None where it can run here, else why not."""
    return {name: backend.unavailable() for name, backend in BACKENDS.items()}


__all__ = ["Accelerated", "BACKENDS", "Backend", "BackendUnavailable", "availability", "get_backend"]
