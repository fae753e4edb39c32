"""The diffusion renderer's options: one serialisable dataclass (no torch import), and the two
sampling recipes (``--quality stream`` and ``--quality reference``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

#: Few-step update rules (one fixed noise per stream) and the multistep solver of upstream's recipe.
FEW_STEP_KINDS = ("lcm", "ddim")
MULTISTEP_KINDS = ("dpmsolver++",)
STEP_KINDS = FEW_STEP_KINDS + MULTISTEP_KINDS
#: Most steps per frame: few-step rules, and the multistep solver.
MAX_FEW_STEPS = 8
MAX_MULTISTEPS = 100
#: ``lora`` values that are not files: the models folder's LCM-LoRA for the lcm rule, and no LoRA.
LORA_AUTO, LORA_NONE = "auto", "none"
#: ``--quality``: the streaming recipe (the defaults below) and upstream's full-quality recipe
#: (Arc2Face's expression demo: DPM-Solver++, 25 steps, guidance 3.0, the base UNet).
QUALITIES = ("stream", "reference")
REFERENCE_RECIPE = {"steps": 25, "step_kind": "dpmsolver++", "guidance": 3.0, "lora": LORA_NONE}


@dataclass(frozen=True)
class DiffusionConfig:
    """How the diffusion renderer samples; every field has one default, here.

    Attributes:
        steps: denoising steps per frame: 1..8 for the few-step rules (2 by default), 1..100 for
            ``dpmsolver++``.
        step_kind: ``lcm`` (LCM-LoRA, TCD, Hyper-SD; distilled students), ``ddim`` (trailing
            timesteps), or ``dpmsolver++`` (DPM-Solver++ multistep: upstream's sampler, for many steps).
        lora: ``auto`` (None means the same): with ``lcm``, the models folder's LCM-LoRA
            (``lcm-lora-sdv1-5/``, fetched by ``facecast models fetch``); ``none``: no LoRA (a UNet
            that is distilled already); or a diffusers-format LoRA file (or folder with
            ``pytorch_lora_weights.safetensors``), e.g. a ``facecast distill`` student.
        lora_scale: its fusing scale.
        guidance: 1 = guidance-free (one UNet call per step); > 1 doubles the rows of each call.
        expression_scale: the expression adapter's strength (upstream's slider; 1 = as trained).
        seed: the stream's fixed noise.
        decoder: an AutoencoderTiny (TAESD) folder to decode with; None = SD1.5's VAE.
        device: ``auto`` (CUDA when present), ``cuda``, ``cuda:N`` or ``cpu``.
        half: float16 weights on CUDA.
        reference_weight: attention weight of the reference photo's bank (Arc2Face's
            reference adapter); 0 turns it off. Needs ``ref_adapter/`` and a reference photo.
        reference_lora_scale: the reference adapter LoRA's scale.
        anchor_weight: attention weight of the stream's first frame (at the same denoising step); 0 = off.
        previous_weight: attention weight of the previous frame (at the same denoising step); 0 = off.
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
    expression_scale: float = 1.0
    seed: int = 0
    decoder: Optional[str] = None
    device: str = "auto"
    half: bool = True
    reference_weight: float = 0.0
    reference_lora_scale: float = 0.8
    anchor_weight: float = 0.1
    previous_weight: float = 0.3
    backend: str = "torch"
    stream_batch: bool = False

    def __post_init__(self) -> None:
        if self.step_kind not in STEP_KINDS:
            raise ValueError(f"step_kind must be one of {', '.join(STEP_KINDS)}, got {self.step_kind!r}")
        most = MAX_MULTISTEPS if self.step_kind in MULTISTEP_KINDS else MAX_FEW_STEPS
        if not 1 <= self.steps <= most:
            raise ValueError(f"steps must be 1..{most} for {self.step_kind}, got {self.steps}")
        if self.stream_batch and self.guidance > 1.0:
            raise ValueError("stream_batch is guidance-free: use guidance 1")
        if self.stream_batch and self.step_kind in MULTISTEP_KINDS:
            raise ValueError(f"stream_batch needs a few-step rule ({', '.join(FEW_STEP_KINDS)}), not {self.step_kind}")
        if self.guidance < 1.0:
            raise ValueError(f"guidance must be >= 1 (1 = guidance-free), got {self.guidance}")
        for name in ("reference_weight", "anchor_weight", "previous_weight", "lora_scale", "reference_lora_scale",
                     "expression_scale"):
            if not 0.0 <= getattr(self, name) <= 10.0:
                raise ValueError(f"{name} must be in [0, 10], got {getattr(self, name)}")

    @classmethod
    def for_quality(cls, quality: str, **options) -> "DiffusionConfig":
        """The config of a ``--quality``: ``stream`` (the defaults) or ``reference`` (upstream's recipe,
        :data:`REFERENCE_RECIPE`), with ``options`` for the other fields.

        Raises:
            ValueError: an unknown quality, or an option that the reference recipe fixes.
        """
        if quality not in QUALITIES:
            raise ValueError(f"quality must be one of {', '.join(QUALITIES)}, got {quality!r}")
        if quality == "reference":
            fixed = sorted(set(options) & set(REFERENCE_RECIPE))
            if fixed:
                raise ValueError("the reference quality is upstream's recipe (DPM-Solver++, 25 steps, guidance 3.0, "
                                 f"no LoRA); leave out {', '.join(fixed)}")
            options = {**options, **REFERENCE_RECIPE}
        return cls(**options)

    @property
    def few_step(self) -> bool:
        """A few-step rule (fixed per-step noise, the stream's samplers), not the multistep solver."""
        return self.step_kind in FEW_STEP_KINDS

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

    def lora_file(self, lcm_lora: Optional[Path] = None) -> Optional[Path]:
        """The few-step LoRA to fuse: the ``lora`` file; for ``auto`` with the ``lcm`` rule,
        ``lcm_lora`` (the models folder's LCM-LoRA, None when it is not there); else None."""
        if self.lora in (None, LORA_AUTO):
            return lcm_lora if self.step_kind == "lcm" else None
        if self.lora == LORA_NONE:
            return None
        p = Path(self.lora)
        return p / "pytorch_lora_weights.safetensors" if p.is_dir() else p
