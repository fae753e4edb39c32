"""The published file layout of Arc2Face and the SD1.5 parts it uses; checking a
local folder against it, and downloading it for users with network access.

A models folder (default ``<cache>/models``, see :func:`models_dir`) holds the
Hugging Face repo ``FoivosPar/Arc2Face`` as published, and the SD1.5 parts in
``sd15/``::

    arc2face/config.json, arc2face/diffusion_pytorch_model.safetensors   the UNet
    encoder/config.json, encoder/pytorch_model.bin (or model.safetensors) the text encoder
    arcface.onnx                                                         identity embedding
    exp_adapter/exp_adapter.bin                                          expression adapter
    ref_adapter/pytorch_lora_weights.safetensors                         reference adapter (optional)
    sd15/vae/..., sd15/tokenizer/..., sd15/scheduler/scheduler_config.json
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from facecast.engine.paths import cache_dir
from facecast.engine.types import FLAME_DIM

ARC2FACE_REPO = "FoivosPar/Arc2Face"
SD15_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SD15_FOLDER = "sd15"
#: The ArcFace embedding size and the text encoder width it is zero-padded to.
ARCFACE_DIM = 512
EXPRESSION_DIM = FLAME_DIM  # the expression adapter takes the 55-d FLAME vector
EXPRESSION_TOKENS = 4


@dataclass(frozen=True)
class ModelFile:
    """One file of the layout: ``path`` relative to the models folder (or to
    ``sd15/`` when ``repo`` is SD1.5); ``alternatives`` are accepted instead."""

    path: str
    what: str
    repo: str = ARC2FACE_REPO
    required: bool = True
    alternatives: tuple[str, ...] = ()

    def local(self, root: Path) -> Path:
        return root / SD15_FOLDER / self.path if self.repo == SD15_REPO else root / self.path

    def present(self, root: Path) -> Optional[Path]:
        """The path that exists (this file or an alternative), or None."""
        for rel in (self.path, *self.alternatives):
            p = (root / SD15_FOLDER / rel) if self.repo == SD15_REPO else root / rel
            if p.is_file():
                return p
        return None


FILES: tuple[ModelFile, ...] = (
    ModelFile("arc2face/config.json", "Arc2Face UNet config"),
    ModelFile("arc2face/diffusion_pytorch_model.safetensors", "Arc2Face UNet weights"),
    ModelFile("encoder/config.json", "Arc2Face text encoder config"),
    ModelFile("encoder/pytorch_model.bin", "Arc2Face text encoder weights", alternatives=("encoder/model.safetensors",)),
    ModelFile("arcface.onnx", "ArcFace identity model"),
    ModelFile("exp_adapter/exp_adapter.bin", "blendshape expression adapter (IP-Adapter form)"),
    ModelFile("ref_adapter/pytorch_lora_weights.safetensors", "reference adapter LoRA", required=False),
    ModelFile("vae/config.json", "SD1.5 VAE config", repo=SD15_REPO),
    ModelFile("vae/diffusion_pytorch_model.safetensors", "SD1.5 VAE weights", repo=SD15_REPO),
    ModelFile("tokenizer/vocab.json", "SD1.5 tokenizer vocabulary", repo=SD15_REPO),
    ModelFile("tokenizer/merges.txt", "SD1.5 tokenizer merges", repo=SD15_REPO),
    ModelFile("tokenizer/tokenizer_config.json", "SD1.5 tokenizer config", repo=SD15_REPO),
    ModelFile("tokenizer/special_tokens_map.json", "SD1.5 tokenizer special tokens", repo=SD15_REPO,
              required=False),
    ModelFile("scheduler/scheduler_config.json", "SD1.5 noise schedule", repo=SD15_REPO),
)


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

    Checks presence, that configs parse, that the UNet, text encoder and
    expression adapter agree on widths (cross-attention 768, ArcFace 512 fits the
    encoder, adapter projecting 55 -> 4 x cross-attention tokens), and the
    adapter's layer count against the UNet's cross-attention layers.
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
                problems.append(Problem(f.local(root), f"missing ({f.what} from {f.repo})"))
        else:
            found[f.path if f.repo == ARC2FACE_REPO else f"{SD15_FOLDER}/{f.path}"] = p
    if problems:  # the advice once, not once per file
        problems.append(Problem(root, f"{len(problems)} file(s) missing: {fetch}"))
    unet_cfg = _json(found["arc2face/config.json"]) if "arc2face/config.json" in found else None
    text_cfg = _json(found["encoder/config.json"]) if "encoder/config.json" in found else None
    for key, cfg in (("arc2face/config.json", unet_cfg), ("encoder/config.json", text_cfg)):
        if key in found and cfg is None:
            problems.append(Problem(found[key], f"not a JSON object; {fetch}"))
    if unet_cfg is not None and text_cfg is not None:
        cross = unet_cfg.get("cross_attention_dim")
        width = text_cfg.get("hidden_size")
        if cross != width:
            problems.append(Problem(found["arc2face/config.json"], f"UNet cross_attention_dim {cross} differs "
                                    f"from the text encoder's hidden_size {width}: the files are from different models"))
        if isinstance(width, int) and width < ARCFACE_DIM:
            problems.append(Problem(found["encoder/config.json"], f"hidden_size {width} < {ARCFACE_DIM}: an ArcFace "
                                    "embedding does not fit; this is not Arc2Face's encoder"))
    weights = found.get("arc2face/diffusion_pytorch_model.safetensors")
    if weights is not None and _safetensors_shapes(weights) is None:
        problems.append(Problem(weights, f"not a readable safetensors file; {fetch}"))
    adapter = found.get("exp_adapter/exp_adapter.bin")
    if adapter is not None:
        problems += _check_adapter(adapter, unet_cfg, fetch)
    return problems


def _check_adapter(path: Path, unet_cfg: Optional[dict], fetch: str) -> list[Problem]:
    try:
        state = load_adapter_state(path)
    except ValueError as exc:
        return [Problem(path, f"{exc}; {fetch}")]
    proj = state["image_proj"].get("proj.weight")
    problems = []
    cross = unet_cfg.get("cross_attention_dim") if unet_cfg else None
    if proj is None or tuple(proj.shape)[1:] != (EXPRESSION_DIM,):
        problems.append(Problem(path, f"image_proj.proj.weight should be ({EXPRESSION_TOKENS} x cross, "
                                      f"{EXPRESSION_DIM}), got {None if proj is None else tuple(proj.shape)}"))
    elif cross is not None and proj.shape[0] != EXPRESSION_TOKENS * cross:
        problems.append(Problem(path, f"image_proj.proj.weight has {proj.shape[0]} rows, expected "
                                      f"{EXPRESSION_TOKENS} x {cross}: adapter and UNet do not match"))
    if unet_cfg is not None:
        layers = _cross_attention_layers(unet_cfg)
        keys = {k.split(".")[0] for k in state["ip_adapter"] if k.endswith("to_k_ip.weight")}
        if len(keys) != layers:
            problems.append(Problem(path, f"{len(keys)} adapter layers for a UNet with {layers} cross-attention layers"))
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
    """Download the layout's files into ``root`` with huggingface_hub (files already
    there are kept). Fails within seconds without network.

    Raises:
        FetchError: no network, huggingface_hub missing, or a download failed.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise FetchError("downloading needs huggingface_hub: pip install huggingface_hub") from None
    if not _online():
        raise FetchError("cannot reach huggingface.co (no network, or HF_HUB_OFFLINE is set). Download the files "
                         f"on a machine with network ({ARC2FACE_REPO} and {SD15_REPO}; see "
                         "'facecast models check --help' for the layout) and copy them here")
    root = Path(root)
    wanted = [f for f in FILES if f.required or include_optional]
    done = []
    for i, f in enumerate(wanted):
        if progress is not None:
            progress(i, len(wanted), f.path)
        target = f.present(root)
        if target is None:
            local = root / SD15_FOLDER if f.repo == SD15_REPO else root
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
