"""The diffusion renderer's options: one serialisable dataclass (no torch import)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class DiffusionConfig:
    """How the diffusion renderer samples; every field has one default, here.

    Attributes:
        steps: streaming denoising steps per frame, 1..4 (8 at most).
        step_kind: ``lcm`` (LCM-LoRA, TCD, Hyper-SD) or ``ddim``.
        lora: a diffusers-format few-step LoRA (``.safetensors`` file or folder with
            ``pytorch_lora_weights.safetensors``) fused into the UNet; None for none.
        lora_scale: its fusing scale.
        guidance: 1 = guidance-free (one UNet call per step); > 1 doubles the calls.
        seed: the stream's fixed noise.
        decoder: an AutoencoderTiny (TAESD) folder to decode with; None = SD1.5's VAE.
        device: ``auto`` (CUDA when present), ``cuda``, ``cuda:N`` or ``cpu``.
        half: float16 weights on CUDA.
        reference_weight: attention weight of the reference photo's bank (Arc2Face's
            reference adapter); 0 turns it off. Needs ``ref_adapter/`` and a reference photo.
        reference_lora_scale: the reference adapter LoRA's scale.
        anchor_weight: attention weight of the stream's first frame; 0 = off.
        previous_weight: attention weight of the previous frame; 0 = off.
        backend: how the UNet step and the decoder run (``facecast doctor`` lists the
            backends: ``torch``, ``torch-compile``, ``onnxruntime``, ``onnxruntime-cuda``,
            ``onnxruntime-tensorrt``, ``tensorrt``, ``stable-fast``; ``auto``: the fastest that runs here).
        stream_batch: pipeline the ``steps`` denoising steps of consecutive frames in
            one batched UNet call per frame (guidance-free; adds ``steps - 1`` frames of latency).
    """

    steps: int = 2
    step_kind: str = "lcm"
    lora: Optional[str] = None
    lora_scale: float = 1.0
    guidance: float = 1.0
    seed: int = 0
    decoder: Optional[str] = None
    device: str = "auto"
    half: bool = True
    reference_weight: float = 0.0
    reference_lora_scale: float = 0.8
    anchor_weight: float = 0.5
    previous_weight: float = 0.5
    backend: str = "torch"
    stream_batch: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= 8:
            raise ValueError(f"steps must be 1..8, got {self.steps}")
        if self.step_kind not in ("lcm", "ddim"):
            raise ValueError(f"step_kind must be lcm or ddim, got {self.step_kind!r}")
        if self.stream_batch and self.guidance > 1.0:
            raise ValueError("stream_batch is guidance-free: use guidance 1")
        if self.guidance < 1.0:
            raise ValueError(f"guidance must be >= 1 (1 = guidance-free), got {self.guidance}")
        for name in ("reference_weight", "anchor_weight", "previous_weight", "lora_scale", "reference_lora_scale"):
            if not 0.0 <= getattr(self, name) <= 10.0:
                raise ValueError(f"{name} must be in [0, 10], got {getattr(self, name)}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DiffusionConfig":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown diffusion options: {', '.join(sorted(unknown))}")
        return cls(**data)

    def lora_file(self) -> Optional[Path]:
        if self.lora is None:
            return None
        p = Path(self.lora)
        return p / "pytorch_lora_weights.safetensors" if p.is_dir() else p
