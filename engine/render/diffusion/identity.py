"""Identity: the ArcFace embedding turned into Arc2Face's prompt embeddings, and
the per-identity cache made by ``facecast enroll``.

Arc2Face's prompt is ``photo of a id person``. At the ``id`` token the input
token embedding is replaced by the L2-normalised 512-d ArcFace embedding,
zero-padded to the encoder's width (768); the fine-tuned text encoder turns the
sequence into (77, 768) prompt embeddings (its final hidden states, after the
final layer norm). The unconditional prompt is the empty string through the same
encoder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from facecast.engine.paths import cache_dir
from facecast.engine.render.diffusion.layout import ARCFACE_DIM

ID_PROMPT = "photo of a id person"
ID_WORD = "id"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class EnrollmentError(ValueError):
    """Enrollment input or cache is unusable; the message says what to do."""


def normalise_embedding(embedding) -> np.ndarray:
    """(512,) float32 unit vector from an ArcFace embedding.

    Raises:
        EnrollmentError: wrong size, NaN/inf, or all zeros.
    """
    try:
        e = np.asarray(embedding, np.float64).reshape(-1) if np.ndim(embedding) <= 2 else None
    except (TypeError, ValueError):
        e = None
    if e is None or e.shape != (ARCFACE_DIM,):
        raise EnrollmentError(f"an ArcFace embedding has {ARCFACE_DIM} values, got shape {np.shape(embedding)}")
    if not np.isfinite(e).all():
        raise EnrollmentError("the embedding has NaN or infinite values")
    n = np.linalg.norm(e)
    if n < 1e-8:
        raise EnrollmentError("the embedding is all zeros")
    return (e / n).astype(np.float32)


def prompt_embeddings(text_encoder, tokenizer, embedding: np.ndarray):
    """(1, 77, D) prompt embeddings of ``embedding`` (512,) (normalised here).

    The ``id`` token's input embedding is replaced through a forward hook on the
    encoder's token-embedding layer, so any CLIPTextModel works unchanged.
    """
    import torch
    import torch.nn.functional as F

    e = torch.from_numpy(normalise_embedding(embedding))
    width = text_encoder.config.hidden_size
    if width < ARCFACE_DIM:
        raise EnrollmentError(f"text encoder width {width} < {ARCFACE_DIM}: not Arc2Face's encoder")
    ids = tokenizer(ID_PROMPT, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    id_token = tokenizer.encode(ID_WORD, add_special_tokens=False)
    if len(id_token) != 1:
        raise EnrollmentError(f"the tokenizer splits {ID_WORD!r} into {len(id_token)} tokens; it is not CLIP's")
    where = ids[0] == id_token[0]
    padded = F.pad(e, (0, width - ARCFACE_DIM))

    def put_identity(module, inputs, output):
        output = output.clone()
        output[0, where.to(output.device)] = padded.to(output.device, output.dtype)
        return output

    layer = text_encoder.get_input_embeddings()
    handle = layer.register_forward_hook(put_identity)
    try:
        with torch.no_grad():
            out = text_encoder(ids.to(text_encoder.device))[0]
    finally:
        handle.remove()
    return out


def unconditional_embeddings(text_encoder, tokenizer):
    """(1, 77, D): the empty prompt, as diffusers' pipeline encodes it for guidance."""
    import torch

    ids = tokenizer("", padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    with torch.no_grad():
        return text_encoder(ids.to(text_encoder.device))[0]


def identities_dir() -> Path:
    return cache_dir() / "identities"


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise EnrollmentError(f"identity name {name!r}: use letters, digits, '_', '-', '.' (up to 64)")
    return name


@dataclass(frozen=True)
class Enrollment:
    """One enrolled identity on disk: ``folder/embedding.npy`` (512,) unit vector,
    ``prompt.safetensors`` (``prompt`` (1, 77, D), ``uncond`` (1, 77, D)),
    ``identity.json`` (name, source, and the digest of the text encoder and tokenizer the prompt
    embeddings came from), optional ``reference.png`` and ``reference_bank_WxH.safetensors`` (the
    reference adapter's bank, keyed by photo, size and the UNet's and VAE's weights)."""

    name: str
    folder: Path

    @property
    def embedding_path(self) -> Path:
        return self.folder / "embedding.npy"

    @property
    def prompt_path(self) -> Path:
        return self.folder / "prompt.safetensors"

    @property
    def reference_path(self) -> Path:
        return self.folder / "reference.png"

    def embedding(self) -> np.ndarray:
        try:
            return normalise_embedding(np.load(self.embedding_path, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise EnrollmentError(f"identity {self.name!r} has no usable embedding ({exc}); "
                                  f"enroll it again with 'facecast enroll PHOTO --name {self.name}'") from None

    def prompts(self, text_encoder, tokenizer, *, weights_digest: str):
        """(prompt, uncond) tensors: from the cache when it was made with the same text encoder and
        tokenizer (``weights_digest``: a digest of their files' contents, wherever they are), else
        computed (and cached)."""
        from safetensors.torch import load_file, save_file

        meta = self.meta()
        if self.prompt_path.is_file() and meta.get("text_weights") == weights_digest:
            try:
                t = load_file(str(self.prompt_path))
                if t["prompt"].shape[-1] == text_encoder.config.hidden_size:
                    return t["prompt"], t["uncond"]
            except Exception:  # a corrupt cache (SafetensorError, KeyError): computed again below
                pass
        prompt = prompt_embeddings(text_encoder, tokenizer, self.embedding())
        uncond = unconditional_embeddings(text_encoder, tokenizer)
        save_file({"prompt": prompt.float().contiguous().cpu(), "uncond": uncond.float().contiguous().cpu()},
                  str(self.prompt_path))
        self._write_meta({**{k: v for k, v in meta.items() if k != "models"}, "text_weights": weights_digest})
        return prompt, uncond

    def meta(self) -> dict:
        try:
            return json.loads((self.folder / "identity.json").read_text())
        except (OSError, ValueError):
            return {}

    def _write_meta(self, meta: dict) -> None:
        (self.folder / "identity.json").write_text(json.dumps(meta, indent=1))


def enrollment(name: str, *, folder: Optional[Path] = None) -> Enrollment:
    """The enrollment ``name`` (it must exist). Raises :class:`EnrollmentError` saying how to make it."""
    check_name(name)
    folder = Path(folder) if folder is not None else identities_dir() / name
    if not (folder / "embedding.npy").is_file():
        raise EnrollmentError(f"no enrolled identity {name!r} in {folder.parent}; "
                              f"run 'facecast enroll PHOTO --name {name}'")
    return Enrollment(name=name, folder=folder)


def enroll(name: str, *, embedding: np.ndarray, source: str, reference_rgb: Optional[np.ndarray] = None,
           folder: Optional[Path] = None) -> Enrollment:
    """Store ``embedding`` (and the reference photo crop) as identity ``name``; returns it.
    Prompt embeddings are computed and cached on first use with a models folder."""
    check_name(name)
    e = normalise_embedding(embedding)
    folder = Path(folder) if folder is not None else identities_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    for stale in ("prompt.safetensors", "reference.png", *(p.name for p in folder.glob("reference_bank_*"))):
        (folder / stale).unlink(missing_ok=True)
    np.save(folder / "embedding.npy", e)
    result = Enrollment(name=name, folder=folder)
    if reference_rgb is not None:
        from PIL import Image
        Image.fromarray(np.ascontiguousarray(reference_rgb[..., :3])).save(result.reference_path)
    result._write_meta({"name": name, "source": source})
    return result
