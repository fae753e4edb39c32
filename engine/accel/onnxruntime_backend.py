"""onnxruntime backends: the exported ONNX on the CPU, CUDA, or TensorRT execution provider.

The CPU provider reads torch's CPU tensors as numpy arrays without a copy. The
CUDA and TensorRT providers bind torch's CUDA tensors in place (IO binding), so
no frame goes through host memory. onnxruntime runs its kernels on a CUDA stream
of its own, which knows nothing of the work torch has queued on its stream: each
run therefore first waits for torch's current stream (the inputs are written), and
onnxruntime's run returns once its outputs are complete. The TensorRT provider keeps its engines in
the facecast engine-cache entry of its key (model, shapes, onnxruntime and
TensorRT versions, GPU), so a stale engine is never picked up.
"""

from __future__ import annotations

import logging
import os
from typing import Optional

import numpy as np
import torch

from facecast.engine.accel.base import Accelerated, Backend, gpu_name, missing_module, no_cuda
from facecast.engine.accel.export import MODEL_FILE, exported

log = logging.getLogger(__name__)

_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
              "tensorrt": "TensorrtExecutionProvider"}
_NUMPY = {torch.float32: np.float32, torch.float16: np.float16, torch.uint8: np.uint8}
_ORT_TYPES = {"tensor(float)": torch.float32, "tensor(float16)": torch.float16, "tensor(uint8)": torch.uint8}


class OnnxRuntime(Backend):
    """onnxruntime on one execution provider: ``cpu``, ``cuda`` or ``tensorrt``."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.name = "onnxruntime" if provider == "cpu" else f"onnxruntime-{provider}"
        self.devices = ("cpu",) if provider == "cpu" else ("cuda",)
        self.summary = {"cpu": "onnxruntime, CPU execution provider (all graph optimisations)",
                        "cuda": "onnxruntime, CUDA execution provider, IO binding",
                        "tensorrt": "onnxruntime, TensorRT execution provider (fp16, engine cache)"}[provider]

    def unavailable(self) -> Optional[str]:
        reason = missing_module("onnxruntime", "pip install onnxruntime, or onnxruntime-gpu for CUDA/TensorRT")
        if reason or self.provider == "cpu":
            return reason
        reason = no_cuda()
        if reason:
            return reason
        import onnxruntime as ort
        if _PROVIDERS[self.provider] not in ort.get_available_providers():
            return (f"this onnxruntime build has no {_PROVIDERS[self.provider]} (pip install onnxruntime-gpu"
                    + (" and TensorRT's libraries)" if self.provider == "tensorrt" else ")"))
        return None

    def versions(self) -> dict:
        import onnxruntime as ort
        out = {"onnxruntime": ort.__version__, "provider": self.provider}
        if self.provider != "cpu":
            out["gpu"] = gpu_name()
        if self.provider == "tensorrt":
            out["tensorrt"] = _tensorrt_version()
        return out

    def _build(self, component, *, cache, progress) -> Accelerated:
        import onnxruntime as ort

        model = component.digest()
        # the fused attention operator (a flash attention on the CPU) with the bias folded in has a query
        # head one wider than the value's; CUDA's fused kernels want equal heads, TensorRT cannot read it
        onnx_entry = exported(component, cache=cache, model=model, progress=progress,
                              fused_attention=self.provider == "cpu")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if self.provider == "cpu":
            options.intra_op_num_threads = torch.get_num_threads()
            providers = ["CPUExecutionProvider"]
        else:
            device_id = torch.cuda.current_device()
            cuda = ("CUDAExecutionProvider", {"device_id": device_id})
            providers = [cuda]
            if self.provider == "tensorrt":
                trt_entry = cache.build(self.cache_key(component, model=model),
                                        lambda folder: (folder / "README").write_text(
                                            "onnxruntime's TensorRT engine cache for this key\n"))
                providers.insert(0, ("TensorrtExecutionProvider", {
                    "device_id": device_id, "trt_fp16_enable": True, "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(trt_entry.folder / "trt"),
                    "trt_timing_cache_enable": True, "trt_timing_cache_path": str(trt_entry.folder / "trt"),
                    **_trt_profile_shapes(component)}))
        if progress:
            progress(0, 1, f"loading into onnxruntime ({self.provider})")
        session = ort.InferenceSession(str(onnx_entry.path(MODEL_FILE)), options, providers=providers)
        if progress:
            progress(1, 1, "loaded")
        names = component.output_names
        if self.provider == "cpu":
            def run(*inputs):
                feeds = {n: t.detach().contiguous().numpy() for n, t in zip(component.input_names, inputs)}
                return tuple(torch.from_numpy(o) for o in session.run(names, feeds))
        else:
            run = _bound_runner(session, component)
        return Accelerated(self.name, component, run, folder=onnx_entry.folder)


def wait_for_torch(device) -> None:
    """Block until the work queued on torch's current CUDA stream of ``device`` is done (onnxruntime
    runs on its own stream, which would otherwise read tensors torch is still writing)."""
    torch.cuda.current_stream(device).synchronize()


def _bound_runner(session, component):
    """A CUDA runner that binds torch tensors in place (no host copies)."""
    device = next(component.parameters()).device
    dtypes = {o.name: o.type for o in session.get_outputs()}

    def run(*inputs):
        binding = session.io_binding()
        for name, t in zip(component.input_names, inputs):
            t = t.contiguous()
            binding.bind_input(name, "cuda", device.index or 0, _NUMPY[t.dtype], tuple(t.shape), t.data_ptr())
        batch = inputs[0].shape[0]
        outputs = []
        for name, shape in component.output_shapes(batch).items():
            dtype = _ORT_TYPES[dtypes[name]]
            out = torch.empty(shape, dtype=dtype, device=device)
            binding.bind_output(name, "cuda", device.index or 0, _NUMPY[dtype], shape, out.data_ptr())
            outputs.append(out)
        wait_for_torch(device)  # the inputs (and the outputs' allocations) are on torch's stream
        session.run_with_iobinding(binding)
        return tuple(outputs)
    return run


def _trt_profile_shapes(component) -> dict:
    """The TensorRT provider's explicit min/opt/max shapes (one profile, batch dynamic)."""
    lo, opt, hi = component.profile.batch

    def shapes(batch):
        return ",".join(f"{n}:{'x'.join(map(str, s))}" for n, s in component.input_shapes(batch).items())
    return {"trt_profile_min_shapes": shapes(lo), "trt_profile_opt_shapes": shapes(opt),
            "trt_profile_max_shapes": shapes(hi)}


def _tensorrt_version() -> str:
    try:
        import tensorrt
        return tensorrt.__version__
    except ImportError:
        return os.environ.get("ORT_TENSORRT_VERSION", "unknown")
