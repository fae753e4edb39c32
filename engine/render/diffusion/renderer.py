"""``diffusion``: Arc2Face + the expression adapter, few-step streaming with
temporal-consistency attention (or upstream's 25-step recipe, ``--quality reference``).

``prepare()`` does all per-identity work once (StreamDiffusion-style): load the
models, the enrolled identity's prompt embeddings, bank
the reference photo (before any LoRA is fused and with the expression adapter taken
out, so the bank comes from Arc2Face's plain UNet), fuse the LoRAs (the few-step
path's default is the models folder's LCM-LoRA), install the banked attention,
precompute the schedule, the fixed noise and the constants. ``render()`` is then pure tensor
work: the FLAME vector in, ``steps`` UNet calls, one decode, uint8 out. The
FLAME parameters come from the retarget stage (which owns the ARKit -> FLAME map);
the renderer never loads a map. ``prepare_engines()`` is the part of ``prepare()``
that ``facecast accelerate build`` runs: the models and their compiled engines,
without an identity.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from facecast.engine import accel
from facecast.engine.progress import lazy_progress_bar
from facecast.engine.render.base import Renderer, RendererUnavailable, raw_output_format
from facecast.engine.render.diffusion.adapter import set_expression_scale
from facecast.engine.render.diffusion.config import LORA_NONE, DiffusionConfig
from facecast.engine.render.diffusion.identity import EnrollmentError, enrollment
from facecast.engine.render.diffusion.loading import load_models, require_torch
from facecast.engine.render.diffusion.lora import fuse_unet_lora
from facecast.engine.render.diffusion.reference import bank_reference
from facecast.engine.types import FaceSample, FlameParams, NUM_ARKIT, PixelFormat


log = logging.getLogger(__name__)

# torch and the modules that import it when imported (attention, sampler, step, the accel backends) are imported
# inside the functions that use them: the command line imports this module, and must start without torch.

#: Output side must be a multiple of this (the VAE's 8x times the UNet's 4x downsampling of SD1.5).
SIZE_MULTIPLE = 64


def resolve_device(device: str) -> str:
    torch = require_torch()  # a clear error when the diffusion extra is missing

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RendererUnavailable("no CUDA GPU here (device 'cuda' asked); use --device cpu to run on the CPU "
                                  "(seconds per frame)")
    return device


def bank_weights(cfg: DiffusionConfig) -> dict[str, float]:
    """The bank sources' attention weights (0: off)."""
    return {"reference": cfg.reference_weight, "anchor": cfg.anchor_weight, "previous": cfg.previous_weight}


#: Warnings given once per process (the few-step rule on a UNet without a few-step LoRA).
_warned: set[str] = set()


def fuse_loras(models, cfg: DiffusionConfig) -> None:
    """Fuse the reference adapter's LoRA (when the reference is attended to) and the
    few-step LoRA (``cfg.lora``; by default, for the ``lcm`` rule, the models folder's
    LCM-LoRA) into ``models.unet``, in that order. The ``lcm`` rule with no LoRA at all
    (not asked for with ``lora='none'``) warns, once, and says what to fetch."""

    if cfg.reference_weight > 0 and models.reference_lora is not None:
        fuse_unet_lora(models, models.reference_lora, scale=cfg.reference_lora_scale, name="reference")
    lora = cfg.lora_file(models.lcm_lora)
    if lora is not None:
        fuse_unet_lora(models, lora, scale=cfg.lora_scale, name="few_step")
        log.info("few-step LoRA fused: %s (scale %g)", lora, cfg.lora_scale)
    elif cfg.step_kind == "lcm" and cfg.lora != LORA_NONE and "undistilled" not in _warned:
        _warned.add("undistilled")
        log.warning("the LCM rule on Arc2Face's own UNet, with no few-step LoRA: %d step(s) give blurry frames. "
                    "Fetch the LCM-LoRA with 'facecast models fetch' (latent-consistency/lcm-lora-sdv1-5 into "
                    "%s/lcm-lora-sdv1-5/), or pass --lora FILE (a distilled student from 'facecast distill'), or "
                    "--lora none if the UNet is distilled already; upstream's full recipe is --quality reference",
                    cfg.steps, models.root)


def accelerate(models, bank, cfg: DiffusionConfig, *, size_wh: tuple[int, int],
               pixel_format: PixelFormat = PixelFormat.RGBA8, progress=None, cache=None):
    """The UNet step and the decoder on ``cfg.backend`` (built, or loaded from the engine
    ``cache``, default the user's), for frames of ``size_wh`` in ``pixel_format``;
    LoRAs must already be fused.

    Returns:
        (unet_step, decoder): :class:`facecast.engine.accel.Accelerated` callables.

    Raises:
        RendererUnavailable: the backend cannot run here (the message says why).
    """
    import torch

    from facecast.engine.render.diffusion.step import DecoderStep, StepProfile, UNetStep  # imports torch

    f = models.vae_scale_factor
    latent_hw = (size_wh[1] // f, size_wh[0] // f)
    dtype = "float16" if next(models.unet.parameters()).dtype == torch.float16 else "float32"
    rows = cfg.steps if cfg.stream_batch else (2 if cfg.guidance > 1.0 else 1)
    weights = bank_weights(cfg)
    profile = StepProfile(latent_hw=latent_hw, batch=(1, rows, max(rows, 2)),
                          bank_sources=tuple(s for s, v in weights.items() if v > 0),
                          capture=cfg.previous_weight > 0 or cfg.anchor_weight > 0,
                          per_row_bank=cfg.stream_batch, dtype=dtype)
    try:
        backend = accel.get_backend(accel.resolve_backend(cfg.backend, next(models.unet.parameters()).device.type))
        unet_step = backend.build(UNetStep(models.unet, bank, profile), progress=progress, cache=cache)
        decoder = backend.build(DecoderStep(models.vae, StepProfile(latent_hw=latent_hw, dtype=dtype),
                                            layout=pixel_format.value.rstrip("8")), progress=progress, cache=cache)
    except accel.BackendUnavailable as exc:  # resolved on use: the name imports torch
        raise RendererUnavailable(f"{exc}; 'facecast doctor' lists the backends that run here") from None
    return unet_step, decoder


class DiffusionRenderer(Renderer):
    """Renders the enrolled identity with the requested FLAME expression.

    Args:
        models: the models folder (published Arc2Face layout + ``sd15/``).
        identity: an enrolled identity name (``facecast enroll``).
        config: sampling options.
        width, height: output size (multiples of 64, up to 1024).
        pixel_format: RGB8, RGBA8 or BGRA8.
        identity_folder: where the identity is stored (default: the cache's identities folder).
    """

    name = "diffusion"
    needs_flame = True

    def __init__(self, *, models: Path, identity: str, config: Optional[DiffusionConfig] = None,
                 width: int = 512, height: int = 512, pixel_format: PixelFormat = PixelFormat.RGBA8,
                 identity_folder: Optional[Path] = None) -> None:
        self.pixel_format = raw_output_format(self.name, width=width, height=height, pixel_format=pixel_format,
                                              max_side_px=1024)
        if width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
            raise RendererUnavailable(f"diffusion output size must be a multiple of {SIZE_MULTIPLE}, got {width}x{height}")
        self.config = config if config is not None else DiffusionConfig()
        self._models_root = Path(models)
        self._identity_name = identity
        self._identity_folder = identity_folder
        self._size = (width, height)
        self._ready = False
        self._progress = lazy_progress_bar(unit="steps")  # engine builds (only when not cached)
        self._make_batch_sampler = self._batch_sampler = None

    # -- per session -------------------------------------------------------------

    def prepare(self) -> None:
        if self._ready:
            return

        require_torch()
        try:
            self.enrolled = enrollment(self._identity_name, folder=self._identity_folder)
        except EnrollmentError as exc:
            raise RendererUnavailable(str(exc)) from None
        models, device, dtype = self._load_models()
        self.identity = self.enrolled.name
        try:
            prompt, uncond = self.enrolled.prompts(models.text_encoder, models.tokenizer,
                                                   weights_digest=models.text_digest())
        except (EnrollmentError, ValueError) as exc:
            raise RendererUnavailable(str(exc)) from None
        prompt, uncond = prompt.to(device, dtype), uncond.to(device, dtype)
        self._setup_sampler(prompt, uncond, device, dtype)
        self._ready = True
        self.render(FaceSample(capture_wall_ns=0, weights=np.zeros(NUM_ARKIT, np.float32)), FlameParams.neutral())
        self.reset()
        log.info("diffusion: %s, %d step(s) %s, %d UNet call(s) (%d rows) per frame, %s", self.identity,
                 self.config.steps, self.config.step_kind, self.sampler.unet_calls_per_frame,
                 self.sampler.unet_rows_per_frame, device)

    def prepare_engines(self):
        """The models and their accelerated UNet step and decoder for this renderer's options, built or
        found in the engine cache, without an identity (``facecast accelerate build``). The engines
        depend on shapes and weights only, so ``prepare()`` with the same options finds them cached.

        Returns:
            (unet_step, decoder): :class:`facecast.engine.accel.Accelerated` callables.
        """
        require_torch()  # first: a clear error without torch
        from facecast.engine.render.diffusion.attention import AttentionBank, install_bank  # imports torch

        models, _, _ = self._load_models()
        bank = install_bank(models.unet, AttentionBank(weights=bank_weights(self.config)))
        fuse_loras(models, self.config)
        set_expression_scale(models.unet, self.config.expression_scale)
        return accelerate(models, bank, self.config, size_wh=self._size, pixel_format=self.pixel_format,
                          progress=self._progress)

    def _load_models(self):
        """(models, device, dtype) for the config's device: float16 on CUDA unless ``half`` is off."""
        import torch

        cfg = self.config
        device = resolve_device(cfg.device)
        dtype = torch.float16 if (cfg.half and device.startswith("cuda")) else torch.float32
        self.models = load_models(self._models_root, device=device, dtype=dtype,
                                  decoder=Path(cfg.decoder) if cfg.decoder else None)
        return self.models, device, dtype

    def _setup_sampler(self, prompt, uncond, device: str, dtype) -> None:
        # these import torch
        from facecast.engine.render.diffusion.attention import AttentionBank, install_bank
        from facecast.engine.render.diffusion.multistep import MultistepSampler
        from facecast.engine.render.diffusion.sampler import StreamSampler
        from facecast.engine.render.diffusion.schedule import stream_schedule
        from facecast.engine.render.diffusion.stream_batch import StreamBatchSampler

        cfg, models = self.config, self.models
        w, h = self._size
        self.bank = install_bank(models.unet, AttentionBank(weights=bank_weights(cfg)))
        if cfg.reference_weight > 0:
            if models.reference_lora is None or not self.enrolled.reference_path.is_file():
                raise RendererUnavailable("reference_weight > 0 needs ref_adapter/pytorch_lora_weights.safetensors "
                                          "and an identity enrolled from a photo; set it to 0 or fetch the adapter")
            try:
                bank_reference(models, self.bank, self.enrolled.reference_path, prompt=prompt, size_wh=self._size,
                               cache=self.enrolled.folder / f"reference_bank_{w}x{h}.safetensors",
                               variant=f"{cfg.decoder}:{dtype}")
            except (OSError, ValueError) as exc:
                raise RendererUnavailable(f"cannot bank the reference photo {self.enrolled.reference_path}: {exc}; "
                                          "enroll the identity again") from None
        fuse_loras(models, cfg)
        set_expression_scale(models.unet, cfg.expression_scale)
        self._keeps_previous = cfg.previous_weight > 0 or cfg.anchor_weight > 0
        self.unet_step, self.decoder = accelerate(models, self.bank, cfg, size_wh=self._size,
                                                  pixel_format=self.pixel_format, progress=self._progress)
        latent_shape = (models.unet.config.in_channels, *self.unet_step.profile.latent_hw)
        sampler_kwargs = dict(prompt_embeds=prompt, latent_shape=latent_shape, seed=cfg.seed, guidance=cfg.guidance,
                              uncond_embeds=uncond, bank=self.bank)

        def make(step):
            if not cfg.few_step:
                return MultistepSampler(step, models.scheduler_config, steps=cfg.steps, **sampler_kwargs)
            schedule = stream_schedule(models.scheduler_config, cfg.steps, kind=cfg.step_kind)
            return (StreamBatchSampler if cfg.stream_batch and step is self.unet_step else StreamSampler)(
                step, schedule, **sampler_kwargs)
        self.sampler = make(self.unet_step)

        def batch_sampler():  # offline batches attend across the batch: the eager step runs them
            return make(accel.get_backend("torch").build(self.unet_step.component))
        self._make_batch_sampler = batch_sampler
        self._batch_sampler = None

    # -- per frame ---------------------------------------------------------------

    def render(self, sample: FaceSample, flame: Optional[FlameParams]) -> np.ndarray:
        import torch

        if not self._ready:
            self.prepare()
        if flame is None:
            raise ValueError("the diffusion renderer needs FLAME parameters (run with a --flame-map)")
        vector = flame.as_vector()
        if not np.isfinite(vector).all():
            raise ValueError("FLAME vector has NaN or infinite values")
        latents = self.sampler(torch.from_numpy(vector)[None], keep_frame=self._keeps_previous)
        return self.decoder(latents)[0][0].cpu().numpy()  # the picture in the output format

    def render_batch(self, samples: Sequence[FaceSample], flames: Sequence[Optional[FlameParams]]) -> list[np.ndarray]:
        """Render frames of one shot together, every frame attending to all the
        others' keys and values (the offline consistency mode); the stream's
        anchor and previous frames are not used or changed."""
        import torch

        if not self._ready:
            self.prepare()
        if any(f is None for f in flames):
            raise ValueError("the diffusion renderer needs FLAME parameters for every frame (a --flame-map)")
        vectors = np.stack([f.as_vector() for f in flames])
        if not np.isfinite(vectors).all():
            raise ValueError("FLAME vectors have NaN or infinite values")
        if self._batch_sampler is None:
            self._batch_sampler = self._make_batch_sampler()
        from facecast.engine.render.diffusion.attention import BankCall  # imports torch

        # every frame attends to the whole batch (within its guidance half), not to the stream's frames
        call = BankCall(weights={"anchor": 0.0, "previous": 0.0}, batch_groups=2 if self.config.guidance > 1.0 else 1)
        latents = self._batch_sampler(torch.from_numpy(vectors), call=call)
        most = self.decoder.profile.batch[2]
        pixels = torch.cat([self.decoder(latents[i:i + most])[0] for i in range(0, len(latents), most)])
        return list(pixels.cpu().numpy())

    def reset(self) -> None:
        """Forget the anchor and previous frames (a new shot)."""
        self.sampler.reset()

    def close(self) -> None:
        self._ready = False
        self.models = self.sampler = self.bank = self.unet_step = self.decoder = self._batch_sampler = None
