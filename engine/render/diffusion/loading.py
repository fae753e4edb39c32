"""Loading Arc2Face from a local folder in the published layout (see :mod:`.layout`)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from facecast.engine.render.base import RendererUnavailable
from facecast.engine.render.diffusion.digest import files_digest
from facecast.engine.render.diffusion.layout import LCM_LORA_FOLDER, check_models, find, load_adapter_state, part_folder

log = logging.getLogger(__name__)


@dataclass
class Arc2FaceModels:
    """The loaded components (torch modules in eval mode, no gradients).

    Attributes:
        unet: Arc2Face's UNet2DConditionModel, with the expression adapter loaded
            (its attn2 processors are IP-Adapter processors, and
            ``encoder_hid_proj`` projects the 55-d vector to 4 tokens).
        text_encoder: Arc2Face's fine-tuned CLIP text encoder.
        tokenizer: SD1.5's CLIP tokenizer.
        vae: SD1.5's AutoencoderKL, or an AutoencoderTiny (TAESD) decoder.
        scheduler_config: SD1.5's noise schedule.
        arcface_path: the ArcFace ONNX file.
        reference_lora: the reference adapter's LoRA file, or None.
        lcm_lora: the LCM-LoRA (``lcm-lora-sdv1-5``) file, or None.
        root: the models folder.
        text_files: the text encoder's weights and the tokenizer's vocabulary and merges (what the
            prompt embeddings depend on).
        image_files: the UNet's and the VAE's weights (what a reference bank depends on).
    """

    unet: object
    text_encoder: object
    tokenizer: object
    vae: object
    scheduler_config: dict
    arcface_path: Path
    reference_lora: Optional[Path]
    lcm_lora: Optional[Path]
    root: Path
    text_files: tuple[Path, ...] = ()
    image_files: tuple[Path, ...] = ()

    def text_digest(self) -> str:
        """Digest of :attr:`text_files`' contents (the prompt-embedding cache's key)."""
        return files_digest(self.text_files)

    def image_digest(self) -> str:
        """Digest of :attr:`image_files`' contents (the reference-bank cache's key)."""
        return files_digest(self.image_files)

    @property
    def vae_scale_factor(self) -> int:
        cfg = self.vae.config
        blocks = getattr(cfg, "block_out_channels", None) or getattr(cfg, "encoder_block_out_channels")
        return 2 ** (len(blocks) - 1)


def require_torch():
    """Import torch and diffusers, or raise :class:`RendererUnavailable` saying what to install."""
    try:
        import diffusers  # noqa: F401
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        missing = f"{exc.name} is missing" if exc.name else str(exc)
        raise RendererUnavailable(f"the diffusion renderer needs torch, diffusers and transformers ({missing}): "
                                  "pip install 'facecast[diffusion]'") from None
    return torch


def load_models(root: Path, *, device: str = "cpu", dtype=None, decoder: Optional[Path] = None) -> Arc2FaceModels:
    """Load every component from ``root`` (checked first with :func:`.layout.check_models`).

    Args:
        root: the models folder.
        device: torch device.
        dtype: torch dtype (default float32; float16 on CUDA is the usual choice).
        decoder: a folder with an AutoencoderTiny (TAESD) in diffusers format to
            decode with instead of the full VAE.

    Raises:
        RendererUnavailable: missing or mismatched files (all listed), or a load error.
    """
    torch = require_torch()
    from diffusers import AutoencoderKL, AutoencoderTiny, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    root = Path(root)
    problems = check_models(root)
    if problems:
        raise RendererUnavailable("the diffusion models are not usable:\n  " + "\n  ".join(map(str, problems)))
    dtype = dtype or torch.float32
    vae_dir, tokenizer_dir, scheduler_dir = (part_folder(root, part) for part in ("vae", "tokenizer", "scheduler"))
    try:
        unet = UNet2DConditionModel.from_pretrained(root / "arc2face", torch_dtype=dtype)
        text_encoder = CLIPTextModel.from_pretrained(root / "encoder", torch_dtype=dtype)
        tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
        if decoder is not None:
            vae = AutoencoderTiny.from_pretrained(decoder, torch_dtype=dtype)
        else:
            vae = AutoencoderKL.from_pretrained(vae_dir, torch_dtype=dtype)
        with open(scheduler_dir / "scheduler_config.json", encoding="utf-8") as f:
            scheduler_config = json.load(f)
        # the expression adapter, through diffusers' own IP-Adapter loader (as the published demo does)
        adapter = load_adapter_state(root / "exp_adapter" / "exp_adapter.bin")
        holder = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                         scheduler=_scheduler(scheduler_config), safety_checker=None,
                                         feature_extractor=None, image_encoder=None, requires_safety_checker=False)
        holder.load_ip_adapter(adapter, subfolder="", weight_name="exp_adapter.bin", image_encoder_folder=None)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise RendererUnavailable(f"cannot load the diffusion models from {root}: {exc}") from None
    for m in (unet, text_encoder, vae):
        m.to(device).eval().requires_grad_(False)
    log.info("Arc2Face loaded from %s (%s, %s)%s", root, device, dtype, " with TAESD" if decoder else "")
    vae_weights = (sorted(Path(decoder).glob("*.safetensors")) if decoder is not None
                   else [find(root, "sd15/vae/diffusion_pytorch_model.safetensors")])
    return Arc2FaceModels(unet=unet, text_encoder=text_encoder, tokenizer=tokenizer, vae=vae,
                          scheduler_config=scheduler_config, arcface_path=find(root, "arcface.onnx"),
                          reference_lora=find(root, "ref_adapter/pytorch_lora_weights.safetensors"),
                          lcm_lora=find(root, f"{LCM_LORA_FOLDER}/pytorch_lora_weights.safetensors"), root=root,
                          text_files=(find(root, "encoder/pytorch_model.bin"), tokenizer_dir / "vocab.json",
                                      tokenizer_dir / "merges.txt"),
                          image_files=(find(root, "arc2face/diffusion_pytorch_model.safetensors"), *vae_weights))


def _scheduler(config: dict):
    from diffusers import DPMSolverMultistepScheduler
    return DPMSolverMultistepScheduler.from_config(config)


def reference_scheduler(config: dict):
    """The published sampler: DPM-Solver++ multistep on SD1.5's noise schedule."""
    return _scheduler(config)
