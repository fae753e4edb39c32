"""``diffusion``: Arc2Face (SD1.5-based, identity from an ArcFace embedding) with its
blendshape-guided expression adapter, sampled in a few steps per frame (or upstream's full recipe).

- ``layout.py``: the published file layout (an upstream ``models/`` folder, SD1.5 from the Hugging
  Face cache), ``facecast models check`` / ``fetch``; ``digest.py``: content digests for the caches;
- ``adapter.py``: the expression adapter's projection layouts, scale, and switching it off;
- ``loading.py``: loading the components (the adapter through diffusers' IP-Adapter loader);
- ``config.py``: :class:`DiffusionConfig` and the ``stream`` / ``reference`` recipes;
- ``identity.py``: enrollment: ArcFace embedding -> prompt embeddings, cached;
- ``schedule.py``, ``sampler.py``, ``stream_batch.py``: the few-step streaming samplers;
  ``multistep.py``: DPM-Solver++ (upstream's recipe);
- ``attention.py``: the key/value-bank self-attention (reference, anchor, previous frame per denoising
  step, batch-shared); ``step.py``: the UNet step and decoder as pure functions of tensors;
- ``reference.py``: banking the reference photo; ``lora.py``: fusing LoRAs;
- ``renderer.py``: :class:`DiffusionRenderer`; ``distill.py``: ``facecast distill``.

Importing this package does not import torch.
"""

from facecast.engine.render.diffusion.config import DiffusionConfig

__all__ = ["DiffusionConfig"]
