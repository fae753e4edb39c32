"""Arc2Face's reference adapter, first half: bank the reference photo.

The reference photo (the enrollment's FFHQ-framed crop, resized to the output) is
encoded by the VAE and run once through Arc2Face's plain UNet at timestep 0 with
the identity prompt; every transformer block's self-attention input (its
normalised hidden states) goes into the ``reference`` source of the bank. "Plain" as
upstream's separate reference UNet is: no LoRA (the bank is made before any is fused)
and no expression adapter (taken out for the pass, not set to a scale of 0). The
second half is the denoising UNet attending to that bank (see :mod:`.attention`)
with the adapter's LoRA fused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facecast.engine.render.diffusion.adapter import adapter_disabled


def bank_reference(models, bank, photo: Path, *, prompt, size_wh: tuple[int, int],
                   cache: Path | None = None, variant: str = "") -> None:
    """Fill ``bank``'s ``reference`` source from ``photo`` (call before fusing any LoRA).

    With ``cache`` (a ``.safetensors`` path), a bank saved there for the same UNet and VAE
    weights (by content), photo, size and ``variant`` is loaded instead of recomputed, and a new
    one is saved.
    """
    import hashlib

    import torch
    from PIL import Image
    from safetensors.torch import load_file, save_file

    from facecast.engine.render.diffusion.attention import BankCall  # imports torch

    key = (hashlib.sha256(Path(photo).read_bytes()).hexdigest()
           + f":{size_wh[0]}x{size_wh[1]}:{models.image_digest()}:{variant}")
    if cache is not None and cache.is_file():
        try:
            from safetensors import safe_open
            with safe_open(str(cache), framework="pt") as f:
                same = (f.metadata() or {}).get("key") == key
            if same:
                states = load_file(str(cache))
                bank.set("reference", {k: v.to(prompt.device, prompt.dtype) for k, v in states.items()})
                return
        except Exception:  # OSError, SafetensorError, a missing key: recomputed below
            pass

    unet, vae = models.unet, models.vae
    device, dtype = prompt.device, prompt.dtype
    rgb = np.asarray(Image.open(photo).convert("RGB").resize(size_wh, Image.BICUBIC), np.float32)
    x = torch.from_numpy(rgb / 127.5 - 1.0).permute(2, 0, 1)[None].to(device, dtype)
    with torch.no_grad():
        if hasattr(vae, "encode"):
            enc = vae.encode(x)
            latent = enc.latent_dist.mean if hasattr(enc, "latent_dist") else enc.latents
        else:
            raise ValueError("the decoder cannot encode the reference photo")
        latent = latent * vae.config.scaling_factor
        bank.clear("reference")
        with adapter_disabled(unet), bank.using(BankCall(record="reference")):
            unet(latent, torch.tensor(0, device=device), encoder_hidden_states=prompt)
    if cache is not None:
        states = {k: v.float().contiguous().cpu() for k, v in bank.states["reference"].layers.items()}
        save_file(states, str(cache), metadata={"key": key})
