"""Acceleration of a renderer's models: one call signature, many backends.

The pieces, in data-flow order:

- :mod:`.component`: :class:`~.component.Component`, a torch module with named
  inputs and outputs, a static shape profile and a digest of its weights. The
  models themselves are the renderer's (the diffusion renderer's UNet step and
  decoder live in :mod:`facecast.engine.render.diffusion.step`); nothing here
  imports a renderer;
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

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from facecast.engine.accel.base import Accelerated, Backend, BackendUnavailable  # imports torch

#: The backends, in the order ``facecast doctor`` lists them. Kept here, free of imports,
#: so that building the command line does not import torch.
BACKEND_NAMES = ("torch", "torch-compile", "onnxruntime", "onnxruntime-cuda", "onnxruntime-tensorrt", "tensorrt",
                 "stable-fast")
#: What ``auto`` picks, first that runs here, per device: on a CPU the one measured faster
#: (bench/accel.py); on CUDA compiled engines first, torch when none is installed.
AUTO_ORDER = {"cpu": ("onnxruntime", "torch"),
              "cuda": ("tensorrt", "onnxruntime-tensorrt", "stable-fast", "onnxruntime-cuda", "torch")}
_registry: dict = {}


def backends() -> dict[str, "Backend"]:
    """Name -> :class:`~.base.Backend`, made on first use."""
    if not _registry:
        from facecast.engine.accel.onnxruntime_backend import OnnxRuntime  # imports torch
        from facecast.engine.accel.tensorrt_backend import TensorRT  # imports torch
        from facecast.engine.accel.torch_backends import StableFast, TorchCompile, TorchEager  # imports torch

        made = (TorchEager(), TorchCompile(), OnnxRuntime("cpu"), OnnxRuntime("cuda"), OnnxRuntime("tensorrt"),
                TensorRT(), StableFast())
        _registry.update({b.name: b for b in made})
        assert tuple(_registry) == BACKEND_NAMES
    return _registry


def get_backend(name: str) -> "Backend":
    """The backend called ``name``.

    Raises:
        BackendUnavailable: no such backend (the message lists them).
    """
    from facecast.engine.accel.base import BackendUnavailable  # imports torch

    if name not in BACKEND_NAMES:
        raise BackendUnavailable(f"unknown backend {name!r}; use one of {', '.join(BACKEND_NAMES)}")
    return backends()[name]


def resolve_backend(name: str, device: str) -> str:
    """``name``, or for ``auto`` the first backend of :data:`AUTO_ORDER` that runs on ``device`` here."""
    if name != "auto":
        return name
    backends_ = backends()
    for candidate in AUTO_ORDER.get(device.split(":")[0], ("torch",)):
        if backends_[candidate].unavailable() is None:
            return candidate
    return "torch"


def availability() -> dict[str, Optional[str]]:
    """Backend name -> None where it can run here, else why not."""
    return {name: backend.unavailable() for name, backend in backends().items()}


def __getattr__(name: str):
    if name == "BACKENDS":
        return backends()
    if name in ("Accelerated", "Backend", "BackendUnavailable"):
        from facecast.engine.accel import base
        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AUTO_ORDER", "Accelerated", "BACKENDS", "BACKEND_NAMES", "Backend", "BackendUnavailable", "availability",
           "backends", "get_backend", "resolve_backend"]
