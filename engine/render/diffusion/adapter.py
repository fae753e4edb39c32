"""The expression adapter (an IP-Adapter taking the 55-d FLAME vector): which of diffusers'
projection layouts a file holds, what facecast checks of it, and the adapter inside a loaded UNet
(its input's shape, its scale, switching it off).

diffusers' ``load_ip_adapter`` reads five projection layouts, told apart by their keys (the order
below is diffusers' own). facecast needs two things of a file, and leaves the rest to diffusers:
one ``to_k_ip``/``to_v_ip`` pair per cross-attention layer of the UNet, and an input 55 wide.

Importing this module does not import torch.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

from facecast.engine.types import FLAME_DIM


@dataclass(frozen=True)
class Projection:
    """One of diffusers' IP-Adapter projection layouts.

    Attributes:
        name: what diffusers calls it.
        marker: the ``image_proj`` key that identifies it (None: the remaining layout, the Resampler).
        input_key: the weight whose shape[1] is the input width.
        sequence: the projection reads a sequence of vectors (B, S, D), not one vector (B, D); facecast
            feeds the FLAME vector as a sequence of one.
        supported: None, or why facecast cannot drive it with the FLAME vector alone.
    """

    name: str
    marker: Optional[str]
    input_key: str
    sequence: bool = False
    supported: Optional[str] = None


PROJECTIONS: tuple[Projection, ...] = (
    Projection("IP-Adapter (linear + LayerNorm)", "proj.weight", "proj.weight"),
    Projection("IP-Adapter Full (MLP)", "proj.3.weight", "proj.0.weight"),
    Projection("IP-Adapter FaceID-Plus", "perceiver_resampler.proj_in.weight", "proj.0.weight",
               supported="its perceiver also reads CLIP image features, which facecast does not compute: an "
                         "expression adapter takes the FLAME vector alone"),
    Projection("IP-Adapter FaceID (MLP)", "norm.weight", "proj.0.weight"),
    Projection("IP-Adapter Plus (Resampler)", None, "proj_in.weight", sequence=True),
)


def projection_of(image_proj: dict) -> Projection:
    """The layout of an ``image_proj`` state dict, decided the way diffusers' loader decides it."""
    for p in PROJECTIONS:
        if p.marker is None or p.marker in image_proj:
            return p
    raise AssertionError("unreachable: the last layout has no marker")


def check_adapter_state(state: dict, *, cross_attention_layers: Optional[int]) -> list[str]:
    """What keeps facecast from driving an IP-Adapter state dict with the 55-d FLAME vector (empty: all
    fits). ``state`` is ``{"image_proj": {...}, "ip_adapter": {...}}``; ``cross_attention_layers``:
    the UNet's (None: not checked)."""
    problems = []
    proj = projection_of(state["image_proj"])
    weight = state["image_proj"].get(proj.input_key)
    shape = tuple(getattr(weight, "shape", ()))
    if len(shape) != 2:
        problems.append(f"{proj.name} projection without a 2-d '{proj.input_key}' (got {shape or 'nothing'}); "
                        "diffusers cannot read it")
    elif shape[1] != FLAME_DIM:
        problems.append(f"the {proj.name} projection takes {shape[1]} values ('{proj.input_key}' is {shape}); "
                        f"the expression adapter takes the {FLAME_DIM}-d FLAME vector")
    if proj.supported is not None:
        problems.append(f"an {proj.name} projection: {proj.supported}")
    if cross_attention_layers is not None:
        layers = {k.split(".")[0] for k in state["ip_adapter"] if k.endswith("to_k_ip.weight")}
        if len(layers) != cross_attention_layers:
            problems.append(f"{len(layers)} adapter layers for a UNet with {cross_attention_layers} "
                            "cross-attention layers: adapter and UNet do not match")
    return problems


def loaded_projection(unet) -> Projection:
    """The layout of the adapter loaded into ``unet`` (by its projection module's class)."""
    names = {"ImageProjection": 0, "IPAdapterFullImageProjection": 1, "IPAdapterFaceIDPlusImageProjection": 2,
             "IPAdapterFaceIDImageProjection": 3, "IPAdapterPlusImageProjection": 4}
    hid = getattr(unet, "encoder_hid_proj", None)
    layers = getattr(hid, "image_projection_layers", None)
    if not layers:
        raise ValueError("the UNet has no IP-Adapter loaded (load the expression adapter first)")
    kind = type(layers[0]).__name__
    if kind not in names:
        raise ValueError(f"unknown IP-Adapter projection {kind}")
    return PROJECTIONS[names[kind]]


def expression_embeds(unet, expression):
    """``added_cond_kwargs["image_embeds"]`` for ``expression`` (B, 1, 55): ``[expression]``, or for a
    projection that reads sequences ``[expression (B, 1, 1, 55)]`` (one image, a sequence of one)."""
    if getattr(unet, "_facecast_sequence_projection", None) is None:
        unet._facecast_sequence_projection = loaded_projection(unet).sequence
    return [expression[:, :, None] if unet._facecast_sequence_projection else expression]


def set_expression_scale(unet, scale: float) -> None:
    """The adapter's strength in every IP-Adapter processor (upstream's "Expression Adapter scale"
    slider; 1 = as trained, 0 = the adapter's tokens count for nothing)."""
    found = 0
    for proc in unet.attn_processors.values():
        if hasattr(proc, "scale") and hasattr(proc, "to_k_ip"):
            proc.scale = [float(scale)] * len(proc.scale)
            found += 1
    if not found:
        raise ValueError("no IP-Adapter processors in the UNet: the expression adapter is not loaded")


@contextmanager
def adapter_disabled(unet) -> Iterator[None]:
    """Inside the block ``unet`` is the plain UNet, without the expression adapter: its cross-attention
    processors attend to the prompt alone and no image embeddings are expected. Everything is put
    back afterwards. (A scale of 0 is not the same UNet everywhere: diffusers still projects the
    vector; this takes the adapter out.)"""
    from diffusers.models.attention_processor import AttnProcessor2_0

    processors = dict(unet.attn_processors)
    hid_proj, hid_type = unet.encoder_hid_proj, unet.config.encoder_hid_dim_type
    unet.set_attn_processor({n: (AttnProcessor2_0() if hasattr(p, "to_k_ip") else p) for n, p in processors.items()})
    unet.encoder_hid_proj = None
    unet.config.encoder_hid_dim_type = None
    try:
        yield
    finally:
        unet.set_attn_processor(processors)
        unet.encoder_hid_proj = hid_proj
        unet.config.encoder_hid_dim_type = hid_type
