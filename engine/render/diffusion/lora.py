"""Fusing diffusers-format LoRAs (few-step LoRAs such as LCM-LoRA, TCD, Hyper-SD, and
Arc2Face's reference adapter) into the UNet, so the per-frame path pays nothing for them."""

from __future__ import annotations

from pathlib import Path

from facecast.engine.render.base import RendererUnavailable


def fuse_unet_lora(models, path: Path, *, scale: float, name: str) -> None:
    """Load the LoRA at ``path`` (a ``.safetensors`` in any layout diffusers'
    ``load_lora_weights`` reads), fuse it into ``models.unet`` at ``scale``, and
    drop the adapter layers.

    Raises:
        RendererUnavailable: missing file, or weights that do not fit the UNet.
    """
    from diffusers import StableDiffusionPipeline

    path = Path(path)
    if not path.is_file():
        raise RendererUnavailable(f"LoRA {path} does not exist")
    holder = StableDiffusionPipeline(vae=models.vae, text_encoder=models.text_encoder, tokenizer=models.tokenizer,
                                     unet=models.unet, scheduler=_any_scheduler(models), safety_checker=None,
                                     feature_extractor=None, image_encoder=None, requires_safety_checker=False)
    try:
        expected = unet_lora_modules(path)
        if expected == 0:
            raise ValueError("it adapts no UNet layer (no 'unet.' or 'lora_unet_' keys)")
        holder.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
        loaded = sum(1 for m in models.unet.modules() if name in getattr(m, "lora_A", {}))
        if loaded != expected:  # a layer the loader skipped would silently change the model
            raise ValueError(f"{expected} UNet layers in the file but {loaded} took the adapter; convert the "
                             "LoRA to diffusers' (peft) key names")
        holder.fuse_lora(components=["unet"], lora_scale=scale, adapter_names=[name])
        holder.unload_lora_weights()
    except Exception as exc:  # safetensors, peft and diffusers raise their own types for a bad file
        raise RendererUnavailable(f"cannot fuse the LoRA {path}: {exc}") from None


def unet_lora_modules(path: Path) -> int:
    """How many UNet layers a LoRA file adapts (diffusers/peft ``unet.`` or kohya ``lora_unet_`` keys)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
    return len({k.split(".lora")[0] for k in keys if ".lora" in k and k.startswith(("unet.", "lora_unet_"))})


def _any_scheduler(models):
    from diffusers import LCMScheduler
    return LCMScheduler.from_config(models.scheduler_config)
