"""ONNX export of a :class:`~facecast.engine.accel.component.Component`: static resolution,
dynamic batch, weights in one external-data file (SD1.5's UNet is over protobuf's 2 GiB)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from facecast.engine.accel.cache import facecast_version

log = logging.getLogger(__name__)

#: ONNX opset of the exports (onnxruntime >= 1.16 and TensorRT >= 8.6 read it).
OPSET = 17
MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "model.onnx.data"


def export_onnx(component, folder: Path, *, fused_attention: bool = False) -> Path:
    """Write ``folder/model.onnx`` (+ ``model.onnx.data``) for ``component``, traced at
    its profile's optimal batch, with axis 0 of its batch inputs and outputs dynamic.
    With ``fused_attention``, the UNet step's self-attention is onnxruntime's fused
    ``com.microsoft::MultiHeadAttention`` (see :mod:`.fused_attention`; onnxruntime only).

    Raises:
        RuntimeError: the exporter failed (the message names the component).
    """
    import onnx
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "raw"
    raw.mkdir(exist_ok=True)
    batch = component.profile.batch[1]
    dynamic = {n: {0: "batch"} for n in (*component.batch_inputs, *component.batch_outputs)}
    try:
        with component.exporting(fused_attention=fused_attention), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python branches on static shapes
            torch.onnx.export(component, component.example_inputs(batch), str(raw / MODEL_FILE),
                              input_names=component.input_names, output_names=component.output_names,
                              dynamic_axes=dynamic, opset_version=OPSET, do_constant_folding=True, dynamo=False,
                              custom_opsets={"com.microsoft": 1} if fused_attention else None)
    except Exception as exc:  # the exporter raises many types
        raise RuntimeError(f"ONNX export of the {component.kind} failed: {exc}") from exc
    model = onnx.load(str(raw / MODEL_FILE), load_external_data=True)
    onnx.save_model(model, str(folder / MODEL_FILE), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=WEIGHTS_FILE, size_threshold=1024)
    del model
    for p in raw.iterdir():
        p.unlink()
    raw.rmdir()
    onnx.checker.check_model(str(folder / MODEL_FILE))
    log.info("exported the %s to %s", component.kind, folder / MODEL_FILE)
    return folder / MODEL_FILE


def onnx_key(component, *, model: str, fused_attention: bool = False) -> dict:
    """The cache key of ``component``'s ONNX export (``model``: its :meth:`digest`)."""
    import torch

    return {"artefact": "onnx", "component": component.kind, "model": model, "profile": component.profile.as_dict(),
            "opset": OPSET, "attention": "fused" if fused_attention else "plain", "torch": torch.__version__,
            "facecast": facecast_version()}


def exported(component, *, cache, model: str, progress=None, fused_attention: bool = False):
    """The cache entry holding ``component``'s ONNX export, exporting it if needed."""
    def make(folder: Path) -> None:
        if progress:
            progress(0, 1, f"exporting the {component.kind} to ONNX")
        export_onnx(component, folder, fused_attention=fused_attention)
        if progress:
            progress(1, 1, "exported")
    return cache.build(onnx_key(component, model=model, fused_attention=fused_attention), make)
