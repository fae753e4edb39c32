"""``diffusion``: Arc2Face (SD1.5-based, identity from an ArcFace embedding) with its
blendshape-guided expression adapter, sampled in a few steps per frame.

- ``layout.py``: the published file layout, ``facecast models check`` / ``fetch``;
- ``loading.py``: loading the components (the adapter through diffusers' IP-Adapter loader);
- ``arcface.py``, ``identity.py``: enrollment: ArcFace embedding -> prompt embeddings, cached;
- ``sampler.py``: the reference 25-step sampler and the few-step streaming sampler;
- ``attention.py``: the key/value-bank self-attention (reference, anchor, previous frame, batch-shared);
- ``reference.py``: banking the reference photo; ``lora.py``: fusing LoRAs;
- ``renderer.py``: :class:`DiffusionRenderer`; ``distill.py``: ``facecast distill``.

Importing this package does not import torch.
"""

from facecast.engine.render.diffusion.config import DiffusionConfig

__all__ = ["DiffusionConfig"]
