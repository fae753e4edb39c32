"""Native TensorRT engines built from the ONNX export: fp16, one optimisation profile
(static resolution, dynamic batch), CUDA graphs per batch size, and refitting.

Written against TensorRT 10's Python API (``tensorrt`` on PyPI) and imported only
when this backend is used; on a machine without CUDA or TensorRT it reports why
and is never selected.

Refit: engines are built refittable. When only the weights change (another
few-step LoRA, another LoRA scale: same graph, new ``model`` digest), the engine
of the same graph is copied and refitted from the new ONNX's weights, which
takes seconds instead of a full build.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Optional

import torch

from facecast.engine.accel.base import Accelerated, Backend, gpu_name, missing_module, no_cuda
from facecast.engine.accel.cache import key_digest
from facecast.engine.accel.export import MODEL_FILE, exported

log = logging.getLogger(__name__)

PLAN = "engine.plan"


class TensorRT(Backend):
    name = "tensorrt"
    summary = "TensorRT engine from the ONNX export: fp16, CUDA graphs, refit on weight changes"
    devices = ("cuda",)

    def __init__(self, *, fp16: bool = True, cuda_graphs: bool = True) -> None:
        self.fp16 = fp16
        self.cuda_graphs = cuda_graphs

    def unavailable(self) -> Optional[str]:
        return no_cuda() or missing_module("tensorrt", "pip install tensorrt (NVIDIA's wheels, CUDA 12)")

    def versions(self) -> dict:
        import tensorrt as trt
        return {"tensorrt": trt.__version__, "gpu": gpu_name(), "fp16": self.fp16}

    def _build(self, component, *, cache, progress) -> Accelerated:
        import tensorrt as trt

        model = component.digest()
        onnx_path = exported(component, cache=cache, model=model, progress=progress).path(MODEL_FILE)
        key = self.cache_key(component, model=model)
        graph_key = {k: v for k, v in key.items() if k != "model"}
        index = cache.root / f"tensorrt-graph-{key_digest(graph_key)}.json"
        logger = trt.Logger(trt.Logger.WARNING)

        def make(folder: Path) -> None:
            donor = _refittable_donor(index, cache)
            if donor is not None and _refit_copy(donor, onnx_path, folder / PLAN, logger):
                log.info("tensorrt: refitted %s with the new weights (no rebuild)", donor)
                return
            _build_engine(onnx_path, component, folder / PLAN, logger, fp16=self.fp16, progress=progress)

        entry = cache.build(key, make)
        index.write_text(json.dumps({"entry": str(entry.folder)}))
        runner = _EngineRunner(entry.path(PLAN), component, logger, cuda_graphs=self.cuda_graphs)
        return Accelerated(self.name, component, runner, folder=entry.folder)


def _build_engine(onnx_path: Path, component, plan: Path, logger, *, fp16: bool, progress) -> None:
    import tensorrt as trt

    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    config.set_flag(trt.BuilderFlag.REFIT)
    profile = builder.create_optimization_profile()
    lo, opt, hi = component.profile.batch
    shapes = [component.input_shapes(b) for b in (lo, opt, hi)]
    for name in component.input_names:
        profile.set_shape(name, shapes[0][name], shapes[1][name], shapes[2][name])
    config.add_optimization_profile(profile)
    if progress is not None and hasattr(trt, "IProgressMonitor"):
        config.progress_monitor = _monitor(trt, progress)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("TensorRT could not build the engine (see the TensorRT messages above)")
    plan.write_bytes(bytes(serialized))


def _monitor(trt, progress):
    """A TensorRT IProgressMonitor that drives facecast's progress bar (outermost phase)."""

    class Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self._phases: dict[str, tuple[Optional[str], str, int]] = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            self._phases[phase_name] = (parent_phase, phase_name, num_steps)
            if parent_phase is None:
                progress(0, max(num_steps, 1), phase_name)

        def step_complete(self, phase_name, step):
            parent, name, steps = self._phases.get(phase_name, (None, phase_name, 1))
            if parent is None:
                progress(min(step + 1, steps), max(steps, 1), name)
            return True  # keep building

        def phase_finish(self, phase_name):
            self._phases.pop(phase_name, None)

    return Monitor()


def _refittable_donor(index: Path, cache) -> Optional[Path]:
    try:
        folder = Path(json.loads(index.read_text())["entry"])
    except (OSError, ValueError, KeyError):
        return None
    plan = folder / PLAN
    return plan if plan.is_file() and folder.parent == cache.root else None


def _refit_copy(donor: Path, onnx_path: Path, plan: Path, logger) -> bool:
    """Copy the engine at ``donor`` and refit it from ``onnx_path``'s weights; False if that fails."""
    import tensorrt as trt

    engine = trt.Runtime(logger).deserialize_cuda_engine(donor.read_bytes())
    if engine is None:
        return False
    refitter = trt.Refitter(engine, logger)
    if not trt.OnnxParserRefitter(refitter, logger).refit_from_file(str(onnx_path)) or \
            not refitter.refit_cuda_engine():
        return False
    plan.write_bytes(bytes(engine.serialize()))
    return True


class _EngineRunner:
    """Runs a deserialised engine on torch's current CUDA stream, binding torch tensors
    in place; with ``cuda_graphs``, each batch size is captured once and replayed."""

    def __init__(self, plan: Path, component, logger, *, cuda_graphs: bool) -> None:
        import tensorrt as trt

        self.engine = trt.Runtime(logger).deserialize_cuda_engine(plan.read_bytes())
        if self.engine is None:  # built by another TensorRT or for another GPU
            shutil.rmtree(plan.parent, ignore_errors=True)
            raise RuntimeError(f"TensorRT could not load {plan} (another TensorRT version or GPU); it was removed, "
                               "run again to rebuild it")
        self.context = self.engine.create_execution_context()
        self.component = component
        self.device = next(component.parameters()).device
        self.dtypes = {n: _torch_dtype(trt, self.engine.get_tensor_dtype(n))
                       for n in (*component.input_names, *component.output_names)}
        self.cuda_graphs = cuda_graphs
        self._graphs: dict[int, tuple] = {}

    def _bind(self, batch: int):
        inputs = {n: torch.empty(s, dtype=self.dtypes[n], device=self.device)
                  for n, s in self.component.input_shapes(batch).items()}
        outputs = {n: torch.empty(s, dtype=self.dtypes[n], device=self.device)
                   for n, s in self.component.output_shapes(batch).items()}
        for n, t in {**inputs, **outputs}.items():
            if n in inputs:
                self.context.set_input_shape(n, tuple(t.shape))
            self.context.set_tensor_address(n, t.data_ptr())
        return inputs, outputs

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch = inputs[0].shape[0]
        if batch not in self._graphs:
            bound = self._bind(batch)
            stream = torch.cuda.current_stream()
            self.context.execute_async_v3(stream.cuda_stream)  # once before capture (TensorRT's rule)
            graph = None
            if self.cuda_graphs:
                graph = torch.cuda.CUDAGraph()
                capture_stream = torch.cuda.Stream()
                capture_stream.wait_stream(stream)
                with torch.cuda.graph(graph, stream=capture_stream):
                    self.context.execute_async_v3(capture_stream.cuda_stream)
                stream.wait_stream(capture_stream)
            self._graphs[batch] = (*bound, graph)
        static_in, static_out, graph = self._graphs[batch]
        for (name, buffer), t in zip(static_in.items(), inputs):
            buffer.copy_(t)
        if graph is not None:
            graph.replay()
        else:
            for n, t in {**static_in, **static_out}.items():  # another batch size may have rebound them
                if n in static_in:
                    self.context.set_input_shape(n, tuple(t.shape))
                self.context.set_tensor_address(n, t.data_ptr())
            self.context.execute_async_v3(torch.cuda.current_stream().cuda_stream)
        return tuple(t.clone() for t in static_out.values())


def _torch_dtype(trt, dtype):
    return {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
            trt.int64: torch.int64, trt.bool: torch.bool, trt.uint8: torch.uint8}[dtype]
