"""Backends that run the torch module itself: eager, ``torch.compile``, and stable-fast."""

from __future__ import annotations

import importlib
import logging
import shutil
import sysconfig
from pathlib import Path
from typing import Optional

import torch

from facecast.engine.accel.base import Accelerated, Backend, missing_module, no_cuda


log = logging.getLogger(__name__)


class TorchEager(Backend):
    name = "torch"
    summary = "PyTorch eager (the reference every other backend is compared with)"

    def unavailable(self) -> Optional[str]:
        return None

    def _build(self, component, *, cache, progress) -> Accelerated:
        def run(*inputs):
            with torch.inference_mode():
                return component(*inputs)
        return Accelerated(self.name, component, run)


class TorchCompile(Backend):
    """``torch.compile`` (Inductor) with static shapes; on a CPU it needs a C++ compiler
    and Python's headers, on CUDA Triton (bundled with CUDA builds of torch)."""

    name = "torch-compile"
    summary = "torch.compile (Inductor), static shapes; recompiles once per batch size"

    def unavailable(self) -> Optional[str]:
        if torch.cuda.is_available():
            return missing_module("triton", "it comes with the CUDA builds of torch")
        if not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
            return "on a CPU Inductor compiles C++ and no C++ compiler was found (apt-get install g++)"
        if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
            return "on a CPU Inductor needs Python's headers (apt-get install python3-dev)"
        return None

    def _build(self, component, *, cache, progress) -> Accelerated:
        mode = "max-autotune-no-cudagraphs" if next(component.parameters()).is_cuda else None
        compiled = torch.compile(component, dynamic=False, mode=mode)
        if progress:
            progress(0, 1, "compiling on the first call")
        example = component.example_inputs(component.profile.batch[1])  # ordinary tensors, as the sampler's
        with torch.no_grad():  # not inference_mode: its tensors would fail the compiled graph's guards
            compiled(*example)  # compile now, not on the first frame
        if progress:
            progress(1, 1, "compiled")

        def run(*inputs):
            seen, distinct = set(), []
            for t in inputs:  # one tensor in two slots (the anchor is the previous frame) would recompile
                distinct.append(t.clone() if id(t) in seen else t)
                seen.add(id(t))
            with torch.no_grad():
                return compiled(*distinct)
        return Accelerated(self.name, component, run)


class StableFast(Backend):
    """stable-fast (sfast): traced TorchScript with fused kernels and CUDA graphs, for
    NVIDIA GPUs. The component is compiled whole, so the bank inputs stay inputs and
    facecast's attention processors are kept (xformers attention is not switched on)."""

    name = "stable-fast"
    summary = "stable-fast: traced, fused CUDA kernels and CUDA graphs (NVIDIA)"
    devices = ("cuda",)

    def unavailable(self) -> Optional[str]:
        return no_cuda() or missing_module("sfast", "pip install stable-fast, a wheel matching your torch and CUDA")

    def versions(self) -> dict:
        import sfast
        return {"stable_fast": getattr(sfast, "__version__", "unknown")}

    def _build(self, component, *, cache, progress) -> Accelerated:
        compiler = None
        for module in ("sfast.compilers.diffusion_pipeline_compiler",
                       "sfast.compilers.stable_diffusion_pipeline_compiler"):  # newer, older releases
            try:
                compiler = importlib.import_module(module)
                break
            except ImportError:
                continue
        if compiler is None:
            from facecast.engine.accel.base import BackendUnavailable  # imports torch
            raise BackendUnavailable("stable-fast is installed but has no diffusion pipeline compiler module")
        config = compiler.CompilationConfig.Default()
        config.enable_xformers = False  # it would replace the banked attention processors
        config.enable_triton = missing_module("triton", "") is None
        config.enable_cuda_graph = True
        compiled = compiler.compile_unet(component, config) if component.kind == "unet_step" else \
            compiler.compile_vae(component, config)
        with torch.inference_mode():
            compiled(*component.example_inputs(component.profile.batch[1]))  # trace and capture now

        def run(*inputs):
            with torch.inference_mode():
                return compiled(*inputs)
        return Accelerated(self.name, component, run)
