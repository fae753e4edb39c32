"""The published file layout of Arc2Face and the other files the diffusion renderer reads; checking
a local folder against it, and downloading it for users with network access.

A models folder (default ``<cache>/models``, see :func:`models_dir`) holds the Hugging Face repo
``FoivosPar/Arc2Face`` as published, so an upstream ``models/`` folder works as it is::

    arc2face/config.json, arc2face/diffusion_pytorch_model.safetensors   the UNet
    encoder/config.json, encoder/pytorch_model.bin (or model.safetensors) the text encoder
    arcface.onnx (or antelopev2/arcface.onnx, upstream's place)          identity embedding
    exp_adapter/exp_adapter.bin                                          expression adapter
    ref_adapter/pytorch_lora_weights.safetensors                         reference adapter (optional)
    lcm-lora-sdv1-5/pytorch_lora_weights.safetensors                     LCM-LoRA (optional, few-step)
    smirk/SMIRK_em1.pt                                                   SMIRK (optional, by hand)

SD1.5's VAE, tokenizer and noise schedule are read from ``sd15/vae/...``, ``sd15/tokenizer/...``,
``sd15/scheduler/...`` in the folder, or else from the Hugging Face cache when
``stable-diffusion-v1-5/stable-diffusion-v1-5`` is already there (huggingface_hub's
``try_to_load_from_cache``; ``$HF_HUB_CACHE`` moves the cache). The LCM-LoRA is found the same way.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from facecast.engine.face.smirk import download_command as smirk_download
from facecast.engine.paths import cache_dir
from facecast.engine.render.diffusion.adapter import check_adapter_state

ARC2FACE_REPO = "FoivosPar/Arc2Face"
SD15_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SD15_FOLDER = "sd15"
LCM_LORA_REPO = "latent-consistency/lcm-lora-sdv1-5"
LCM_LORA_FOLDER = "lcm-lora-sdv1-5"
#: Files a user downloads by hand (not on the Hugging Face hub).
MANUAL = "by hand"
#: The ArcFace embedding size and the text encoder width it is zero-padded to.
ARCFACE_DIM = 512


@dataclass(frozen=True)
class ModelFile:
    """One file of the layout.

    Attributes:
        path: the file's path in its repo.
        what: what it is, for messages.
        repo: the Hugging Face repo it comes from (:data:`MANUAL`: downloaded by hand).
        folder: where under the models folder it goes ("" for Arc2Face's own files).
        required: the renderer cannot start without it.
        alternatives: other paths under the models folder accepted instead (upstream's places).
        cached: also found in the Hugging Face cache (repos facecast does not own).
        download: how to get it by hand, for :data:`MANUAL` files.
    """

    path: str
    what: str
    repo: str = ARC2FACE_REPO
    folder: str = ""
    required: bool = True
    alternatives: tuple[str, ...] = ()
    cached: bool = False
    download: str = ""

    @property
    def key(self) -> str:
        """Its path under the models folder (the name :func:`find` takes)."""
        return f"{self.folder}/{self.path}" if self.folder else self.path

    def local(self, root: Path) -> Path:
        return Path(root) / self.key

    def present(self, root: Path) -> Optional[Path]:
        """The path that exists: under ``root`` (this file or an alternative), else in the Hugging
        Face cache; None when nowhere."""
        for rel in (self.key, *self.alternatives):
            p = Path(root) / rel
            if p.is_file():
                return p
        return cached_file(self.repo, self.path) if self.cached else None


def cached_file(repo: str, path: str) -> Optional[Path]:
    """``repo``'s ``path`` in the local Hugging Face cache (no network), or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # the core install: no huggingface_hub, no cache to read
        return None
    found = try_to_load_from_cache(repo, path, cache_dir=os.environ.get("HF_HUB_CACHE") or None)
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


FILES: tuple[ModelFile, ...] = (
    ModelFile("arc2face/config.json", "Arc2Face UNet config"),
    ModelFile("arc2face/diffusion_pytorch_model.safetensors", "Arc2Face UNet weights"),
    ModelFile("encoder/config.json", "Arc2Face text encoder config"),
    ModelFile("encoder/pytorch_model.bin", "Arc2Face text encoder weights",
              alternatives=("encoder/model.safetensors",)),
    ModelFile("arcface.onnx", "ArcFace identity model", alternatives=("antelopev2/arcface.onnx",)),
    ModelFile("exp_adapter/exp_adapter.bin", "blendshape expression adapter (IP-Adapter form)"),
    ModelFile("ref_adapter/pytorch_lora_weights.safetensors", "reference adapter LoRA", required=False),
    ModelFile("vae/config.json", "SD1.5 VAE config", repo=SD15_REPO, folder=SD15_FOLDER, cached=True),
    ModelFile("vae/diffusion_pytorch_model.safetensors", "SD1.5 VAE weights", repo=SD15_REPO, folder=SD15_FOLDER,
              cached=True),
    ModelFile("tokenizer/vocab.json", "SD1.5 tokenizer vocabulary", repo=SD15_REPO, folder=SD15_FOLDER, cached=True),
    ModelFile("tokenizer/merges.txt", "SD1.5 tokenizer merges", repo=SD15_REPO, folder=SD15_FOLDER, cached=True),
    ModelFile("tokenizer/tokenizer_config.json", "SD1.5 tokenizer config", repo=SD15_REPO, folder=SD15_FOLDER,
              cached=True),
    ModelFile("tokenizer/special_tokens_map.json", "SD1.5 tokenizer special tokens", repo=SD15_REPO,
              folder=SD15_FOLDER, required=False, cached=True),
    ModelFile("scheduler/scheduler_config.json", "SD1.5 noise schedule", repo=SD15_REPO, folder=SD15_FOLDER,
              cached=True),
    ModelFile("pytorch_lora_weights.safetensors", "LCM-LoRA for SD1.5 (the few-step sampler's default LoRA)",
              repo=LCM_LORA_REPO, folder=LCM_LORA_FOLDER, required=False, cached=True),
    ModelFile("SMIRK_em1.pt", "SMIRK (FLAME from video: calibrate make-pairs, --flame smirk:)", repo=MANUAL,
              folder="smirk", required=False,
              download=smirk_download("DIR/smirk")),
)


def find(root: Path, key: str) -> Optional[Path]:
    """Where the layout's file ``key`` (its path under the models folder) is, or None."""
    return next(f for f in FILES if f.key == key).present(root)


def part_folder(root: Path, part: str) -> Optional[Path]:
    """The folder holding every required file of SD1.5's ``part`` (``vae``, ``tokenizer``,
    ``scheduler``) together: ``root/sd15/part`` or the Hugging Face cache's; None when neither has all."""
    files = [f for f in FILES if f.repo == SD15_REPO and f.path.startswith(part + "/") and f.required]
    for where in (lambda f: f.local(root), lambda f: cached_file(f.repo, f.path)):
        paths = [where(f) for f in files]
        if all(p is not None and p.is_file() for p in paths) and len({p.parent for p in paths}) == 1:
            return paths[0].parent
    return None


def models_dir() -> Path:
    """``$FACECAST_MODELS_DIR``, else ``<cache>/models``."""
    return Path(os.environ.get("FACECAST_MODELS_DIR") or cache_dir() / "models")


@dataclass(frozen=True)
class Problem:
    """What is wrong with one file, and what to do."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _json(path: Path) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _safetensors_shapes(path: Path) -> Optional[dict[str, tuple]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception:  # safetensors raises its own error types on a bad header
        return None


def check_models(root: Path) -> list[Problem]:
    """Every missing or mismatched file under ``root`` (empty when all is well).

    Checks presence, that configs parse, that the UNet and text encoder agree on widths
    (cross-attention, ArcFace's 512 fitting the encoder) and that SD1.5's parts are complete in one
    place, and of the expression adapter what facecast needs: one layer per cross-attention layer
    of the UNet and an input 55 wide (the projection's layout is diffusers' business).
    """
    root = Path(root)
    fetch = f"run 'facecast models fetch --dir {root}' (needs network), or copy the files there"
    if not root.is_dir():
        return [Problem(root, f"no models folder here; {fetch}")]
    problems: list[Problem] = []
    found: dict[str, Path] = {}
    for f in FILES:
        p = f.present(root)
        if p is None:
            if f.required:
                where = f" (or the Hugging Face cache's {f.repo})" if f.cached else ""
                problems.append(Problem(f.local(root), f"missing ({f.what} from {f.repo}){where}"))
        else:
            found[f.key] = p
    if problems:  # the advice once, not once per file
        problems.append(Problem(root, f"{len(problems)} file(s) missing: {fetch}"))
    for part in ("vae", "tokenizer", "scheduler"):
        if all(f.key in found for f in FILES if f.required and f.key.startswith(f"{SD15_FOLDER}/{part}/")) \
                and part_folder(root, part) is None:
            problems.append(Problem(root / SD15_FOLDER / part, f"SD1.5's {part} files are split between this "
                                    "folder and the Hugging Face cache; put them all in one place"))
    unet_cfg = _json(found["arc2face/config.json"]) if "arc2face/config.json" in found else None
    text_cfg = _json(found["encoder/config.json"]) if "encoder/config.json" in found else None
    for key, cfg in (("arc2face/config.json", unet_cfg), ("encoder/config.json", text_cfg)):
        if key in found and cfg is None:
            problems.append(Problem(found[key], f"not a JSON object; {fetch}"))
    if unet_cfg is not None and text_cfg is not None:
        cross = unet_cfg.get("cross_attention_dim")
        width = text_cfg.get("hidden_size")
        if cross != width:
            problems.append(Problem(found["arc2face/config.json"], f"UNet cross_attention_dim {cross} differs from "
                                    f"the text encoder's hidden_size {width}: the files are from different models"))
        if isinstance(width, int) and width < ARCFACE_DIM:
            problems.append(Problem(found["encoder/config.json"], f"hidden_size {width} < {ARCFACE_DIM}: an ArcFace "
                                    "embedding does not fit; this is not Arc2Face's encoder"))
    weights = found.get("arc2face/diffusion_pytorch_model.safetensors")
    if weights is not None and _safetensors_shapes(weights) is None:
        problems.append(Problem(weights, f"not a readable safetensors file; {fetch}"))
    adapter = found.get("exp_adapter/exp_adapter.bin")
    if adapter is not None:
        try:
            state = load_adapter_state(adapter)
        except ValueError as exc:
            problems.append(Problem(adapter, f"{exc}; {fetch}"))
        else:
            layers = _cross_attention_layers(unet_cfg) if unet_cfg is not None else None
            problems += [Problem(adapter, p) for p in check_adapter_state(state, cross_attention_layers=layers)]
    return problems


def _cross_attention_layers(unet_cfg: dict) -> int:
    """Transformer blocks with cross-attention in a UNet2DConditionModel config."""
    per = unet_cfg.get("layers_per_block", 2)
    per = per if isinstance(per, int) else per[0]
    tpl = unet_cfg.get("transformer_layers_per_block", 1)
    tpl = tpl if isinstance(tpl, int) else tpl[0]
    down = sum(per for b in unet_cfg.get("down_block_types", ()) if "CrossAttn" in b)
    up = sum(per + 1 for b in unet_cfg.get("up_block_types", ()) if "CrossAttn" in b)
    mid = 1 if "CrossAttn" in (unet_cfg.get("mid_block_type") or "UNetMidBlock2DCrossAttn") else 0
    return (down + up + mid) * tpl


def load_adapter_state(path: Path) -> dict:
    """``exp_adapter.bin`` as ``{"image_proj": {...}, "ip_adapter": {...}}`` of tensors,
    read with ``weights_only=True`` (no pickled code runs).

    Raises:
        ValueError: unreadable, or not the IP-Adapter layout.
    """
    import pickle

    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise ValueError(f"cannot read {path.name} as weights ({str(exc).splitlines()[0]})") from None
    if not (isinstance(state, dict) and isinstance(state.get("image_proj"), dict)
            and isinstance(state.get("ip_adapter"), dict)):
        raise ValueError(f"{path.name} is not in the IP-Adapter layout (a dict with image_proj and ip_adapter)")
    return state


def manual_files(root: Path) -> list[ModelFile]:
    """The optional files to download by hand that are not there yet."""
    return [f for f in FILES if f.repo == MANUAL and f.present(root) is None]


class FetchError(RuntimeError):
    """Downloading failed; the message says why and what to do."""


def _online(host: str = "huggingface.co", timeout_s: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def fetch_models(root: Path, *, include_optional: bool = True,
                 progress: Optional[Callable[[int, int, str], None]] = None) -> list[Path]:
    """Download the layout's files into ``root`` with huggingface_hub (files already there, or in the
    Hugging Face cache for SD1.5 and the LCM-LoRA, are kept). Files to get by hand (SMIRK) are skipped:
    :func:`manual_files` lists them. Fails within seconds without network.

    Raises:
        FetchError: no network, huggingface_hub missing, or a download failed.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise FetchError("downloading needs huggingface_hub: pip install huggingface_hub") from None
    root = Path(root)
    wanted = [f for f in FILES if (f.required or include_optional) and f.repo != MANUAL]
    if all(f.present(root) is not None for f in wanted):
        return [f.present(root) for f in wanted]
    if not _online():
        raise FetchError("cannot reach huggingface.co (no network, or HF_HUB_OFFLINE is set). Download the files "
                         f"on a machine with network ({ARC2FACE_REPO}, {SD15_REPO} and {LCM_LORA_REPO}; see "
                         "'facecast models check --help' for the layout) and copy them here")
    done = []
    for i, f in enumerate(wanted):
        if progress is not None:
            progress(i, len(wanted), f.key)
        target = f.present(root)
        if target is None:
            local = root / f.folder if f.folder else root
            try:
                target = Path(hf_hub_download(f.repo, f.path, local_dir=str(local)))
            except Exception as exc:  # huggingface_hub raises many types (HTTP, auth, not found)
                if not f.required and "404" in str(exc):
                    continue
                raise FetchError(f"downloading {f.repo}/{f.path} failed: {exc}") from None
        done.append(target)
    if progress is not None:
        progress(len(wanted), len(wanted), "")
    return done
