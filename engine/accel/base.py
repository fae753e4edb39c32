"""The one interface of every acceleration backend.

A :class:`Backend` turns a :class:`~facecast.engine.accel.component.Component` (a torch
module with named tensor inputs and outputs) into an :class:`Accelerated`
callable with the component's own signature: ``outputs = accelerated(*inputs)``,
tensors in, a tuple of tensors out, on the component's device. The pipeline
calls that and nothing else, so swapping the backend changes no pipeline code.
"""

from __future__ import annotations

import abc
import logging
from typing import Callable, Optional

import torch

from facecast.engine.accel.cache import EngineCache, facecast_version

log = logging.getLogger(__name__)

Progress = Optional[Callable[[int, int, str], None]]  # (done, total, note)


class BackendUnavailable(RuntimeError):
    """A backend cannot run on this machine; the message says why and what to install."""


class Accelerated:
    """``outputs = accelerated(*inputs)`` for one component, run by one backend.

    Attributes:
        backend: the backend's name.
        component: the component it runs (its names and shapes).
        folder: the engine-cache entry it came from, if any.
    """

    def __init__(self, backend: str, component, run: Callable[..., tuple], *, folder=None) -> None:
        self.backend = backend
        self.component = component
        self._run = run
        self.folder = folder

    @property
    def profile(self):
        """The component's static shapes."""
        return self.component.profile

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self._run(*inputs)

    def __repr__(self) -> str:
        return f"<{self.component.kind} on {self.backend}>"


class Backend(abc.ABC):
    """One way of running components. Subclasses set ``name``, ``summary`` and
    ``devices`` and implement :meth:`unavailable` and :meth:`_build`."""

    name: str = ""
    summary: str = ""
    #: the torch device types it runs on.
    devices: tuple[str, ...] = ("cpu", "cuda")

    @abc.abstractmethod
    def unavailable(self) -> Optional[str]:
        """None when the backend can run here, else why not and what to install."""

    @abc.abstractmethod
    def _build(self, component, *, cache: EngineCache, progress: Progress) -> Accelerated:
        """Build (or load from ``cache``) the accelerated component."""

    def versions(self) -> dict:
        """What the backend's artefacts depend on, for the engine-cache key."""
        return {}

    def build(self, component, *, cache: Optional[EngineCache] = None, progress: Progress = None) -> Accelerated:
        """The accelerated ``component``.

        Raises:
            BackendUnavailable: the backend cannot run here, or not on the component's device.
        """
        reason = self.unavailable()
        if reason is None:
            device = next(component.parameters()).device.type
            if device not in self.devices:
                reason = f"it runs on {' or '.join(self.devices)}, the model is on {device}"
        if reason is not None:
            raise BackendUnavailable(f"backend {self.name!r} cannot run here: {reason}")
        return self._build(component, cache=cache if cache is not None else EngineCache(), progress=progress)

    def cache_key(self, component, *, model: str, **extra) -> dict:
        """The full engine-cache key of ``component`` built by this backend."""
        return {"component": component.kind, "model": model, "profile": component.profile.as_dict(),
                "backend": self.name, "facecast": facecast_version(), "torch": torch.__version__,
                **self.versions(), **extra}


def gpu_name() -> str:
    """The CUDA device's name, or ``none``."""
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "none"


def missing_module(name: str, install: str) -> Optional[str]:
    """None if ``name`` imports, else the reason (with ``install``, what to do)."""
    import importlib.util
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"the Python package {name!r} is not installed ({install})"


def no_cuda() -> Optional[str]:
    if torch.cuda.is_available():
        return None
    return "no CUDA GPU is visible to torch" + ("" if torch.version.cuda else " (this torch is a CPU build)")
