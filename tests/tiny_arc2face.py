"""Tiny random-weight Arc2Face models written in the published file layout.

The shapes that make the layout what it is are kept: a text encoder 768 wide
(the ArcFace embedding, 512, is zero-padded to it), UNet cross-attention 768,
the expression adapter projecting 55 -> 4 x 768 tokens with one to_k_ip/to_v_ip
pair per cross-attention layer at odd processor indices. Everything else is small.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = ("photo", "of", "a", "id", "person")
UNET_CONFIG = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                   down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                   up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=768,
                   attention_head_dim=8, norm_num_groups=32)
#: SD1.5's UNet, VAE and CLIP text encoder shapes (for benchmarks: random weights, real costs).
SD15_UNET_CONFIG = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                        block_out_channels=(320, 640, 1280, 1280),
                        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768,
                        attention_head_dim=8, norm_num_groups=32)
SD15_VAE_CONFIG = dict(block_out_channels=(128, 256, 512, 512), in_channels=3, out_channels=3, latent_channels=4,
                       down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                       layers_per_block=2, norm_num_groups=32, sample_size=512, scaling_factor=0.18215)
SCHEDULER_CONFIG = {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
                    "beta_start": 0.00085, "clip_sample": False, "num_train_timesteps": 1000,
                    "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                    "trained_betas": None, "prediction_type": "epsilon"}


def write_tokenizer(folder: Path) -> None:
    """A CLIP BPE tokenizer whose vocabulary holds the letters and the identity prompt's words."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}

    def add(token: str) -> None:
        vocab.setdefault(token, len(vocab))

    add("!")
    letters = "abcdefghijklmnopqrstuvwxyz"
    for c in letters:
        add(c)
    for c in letters:
        add(c + "</w>")
    merges = []
    for w in WORDS:
        parts = list(w[:-1]) + [w[-1] + "</w>"]
        while len(parts) > 1:
            merges.append(f"{parts[0]} {parts[1]}")
            add(parts[0] + parts[1])
            parts = [parts[0] + parts[1]] + parts[2:]
    add("<|startoftext|>")
    add("<|endoftext|>")
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
               "pad_token": "<|endoftext|>"}
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77, **special}))
    (folder / "special_tokens_map.json").write_text(json.dumps(special))


def tiny_arcface(path: Path) -> Path:
    """A random-weight stand-in with ArcFace's interface: (1, 3, 112, 112) -> (1, 512)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = np.random.default_rng(0).standard_normal((3, 512)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "w"], ["683"])],
        "tiny_arcface", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 512])], [numpy_helper.from_array(w, "w")])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


#: The projection layouts diffusers' IP-Adapter loader reads (see engine/render/diffusion/adapter.py).
PROJECTIONS = ("linear", "mlp", "faceid", "faceid_plus", "resampler")


def expression_adapter_state(unet, *, seed: int = 0, projection: str = "linear", width: int = 55,
                             biases: bool = False) -> dict:
    """``{"image_proj", "ip_adapter"}`` in the original IP-Adapter key layout that diffusers' loader reads
    (and renames), with ``projection`` one of :data:`PROJECTIONS` taking ``width`` values: ``linear``
    (IP-Adapter), ``mlp`` (IP-Adapter Full), ``faceid``, ``faceid_plus`` and ``resampler`` (IP-Adapter Plus).
    ``biases``: LayerNorms and the linear projection with biases, as trained ones have (a zero vector
    then still gives the UNet tokens); else unit LayerNorms and zero biases."""
    import torch

    g = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim

    def rnd(*shape, scale=0.05):
        return torch.randn(*shape, generator=g) * scale

    def norm(prefix, n):
        if biases:
            return {f"{prefix}.weight": 1 + rnd(n, scale=0.1), f"{prefix}.bias": rnd(n, scale=0.5)}
        return {f"{prefix}.weight": torch.ones(n), f"{prefix}.bias": torch.zeros(n)}

    def perceiver(prefix, dim, inner=64, depth=4):
        """The resampler blocks (one head of 64) in the original layout: norm1, norm2, to_q, to_kv,
        to_out, then the feed-forward (LayerNorm, Linear x4, GELU, Linear)."""
        out = {}
        for i in range(depth):
            b = f"{prefix}layers.{i}"
            out.update({**norm(f"{b}.0.norm1", dim), **norm(f"{b}.0.norm2", dim),
                        f"{b}.0.to_q.weight": rnd(inner, dim), f"{b}.0.to_kv.weight": rnd(2 * inner, dim),
                        f"{b}.0.to_out.weight": rnd(dim, inner), **norm(f"{b}.1.0", dim),
                        f"{b}.1.1.weight": rnd(4 * dim, dim), f"{b}.1.3.weight": rnd(dim, 4 * dim)})
        return out

    if projection == "linear":
        image_proj = {"proj.weight": rnd(4 * cross, width),
                      "proj.bias": rnd(4 * cross) if biases else torch.zeros(4 * cross), **norm("norm", cross)}
    elif projection == "mlp":
        image_proj = {"proj.0.weight": rnd(width, width), "proj.0.bias": torch.zeros(width),
                      "proj.2.weight": rnd(cross, width), "proj.2.bias": torch.zeros(cross), **norm("proj.3", cross)}
    elif projection == "faceid":
        image_proj = {"proj.0.weight": rnd(2 * width, width), "proj.0.bias": torch.zeros(2 * width),
                      "proj.2.weight": rnd(4 * cross, 2 * width), "proj.2.bias": torch.zeros(4 * cross),
                      **norm("norm", cross)}
    elif projection == "faceid_plus":
        hidden = 32  # the CLIP image features' width
        image_proj = {"proj.0.weight": rnd(2 * width, width), "proj.0.bias": torch.zeros(2 * width),
                      "proj.2.weight": rnd(4 * cross, 2 * width), "proj.2.bias": torch.zeros(4 * cross),
                      **norm("norm", cross), "perceiver_resampler.proj_in.weight": rnd(cross, hidden),
                      "perceiver_resampler.proj_in.bias": torch.zeros(cross),
                      "perceiver_resampler.proj_out.weight": rnd(cross, cross),
                      "perceiver_resampler.proj_out.bias": torch.zeros(cross),
                      **norm("perceiver_resampler.norm_out", cross), **perceiver("perceiver_resampler.", cross)}
    elif projection == "resampler":
        hidden = 64
        image_proj = {"latents": rnd(1, 4, hidden, scale=1.0), "proj_in.weight": rnd(hidden, width),
                      "proj_in.bias": torch.zeros(hidden), "proj_out.weight": rnd(cross, hidden),
                      "proj_out.bias": torch.zeros(cross), **norm("norm_out", cross), **perceiver("", hidden)}
    else:
        raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
    ip = {}
    for i, name in enumerate(unet.attn_processors):
        if i % 2 == 1:  # attn2 follows attn1 in every transformer block
            hidden = _hidden_size(unet, name)
            ip[f"{i}.to_k_ip.weight"] = torch.randn(hidden, cross, generator=g) * 0.02
            ip[f"{i}.to_v_ip.weight"] = torch.randn(hidden, cross, generator=g) * 0.02
    return {"image_proj": image_proj, "ip_adapter": ip}


def write_random_taesd(folder: Path, *, seed: int = 0) -> Path:
    """An AutoencoderTiny with TAESD's architecture and random weights, in diffusers format."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    AutoencoderTiny().save_pretrained(folder)
    return folder


def _hidden_size(unet, name: str) -> int:
    channels = unet.config.block_out_channels
    if name.startswith("mid_block"):
        return channels[-1]
    block = int(name.split(".")[1])
    return channels[block] if name.startswith("down_blocks") else list(reversed(channels))[block]


def write_tiny_arc2face(root: Path, *, seed: int = 0, encoder_bin: bool = True, sd15_size: bool = False,
                        reference_adapter: bool = False, projection: str = "linear", lcm_lora: bool = False,
                        adapter_biases: bool = False, hf_cache: Path | None = None) -> Path:
    """Write a complete tiny models folder to ``root``; with ``sd15_size``, the UNet, VAE and text
    encoder have SD1.5's real shapes; with ``reference_adapter``, ``ref_adapter/pytorch_lora_weights.safetensors``
    too; with ``lcm_lora``, a random few-step LoRA as ``lcm-lora-sdv1-5/pytorch_lora_weights.safetensors``;
    ``projection``, ``adapter_biases``: the expression adapter's layout (:data:`PROJECTIONS`) and whether its
    norms have biases (see :func:`expression_adapter_state`).

    Without ``hf_cache`` the folder is facecast's layout (``arcface.onnx`` at the top, SD1.5's parts in
    ``sd15/``). With it, upstream Arc2Face's own ``models/`` layout: ``antelopev2/arcface.onnx``, and
    SD1.5's parts in the Hugging Face cache ``hf_cache`` (hub layout), not in the folder."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    root = Path(root)
    sd15 = root / "sd15" if hf_cache is None else hub_snapshot(Path(hf_cache), SD15_REPO)
    unet = UNet2DConditionModel(**(SD15_UNET_CONFIG if sd15_size else UNET_CONFIG))
    unet.save_pretrained(root / "arc2face")
    write_tokenizer(sd15 / "tokenizer")
    vocab = len(json.loads((sd15 / "tokenizer" / "vocab.json").read_text()))
    layers = dict(intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12) if sd15_size else \
        dict(intermediate_size=64, num_hidden_layers=1, num_attention_heads=4)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=vocab, hidden_size=768, max_position_embeddings=77,
                                        bos_token_id=vocab - 2, eos_token_id=vocab - 1, pad_token_id=vocab - 1,
                                        **layers))
    text.save_pretrained(root / "encoder")
    if encoder_bin:  # the published encoder is a pytorch_model.bin
        from safetensors.torch import load_file
        st = root / "encoder" / "model.safetensors"
        torch.save(load_file(str(st)), root / "encoder" / "pytorch_model.bin")
        st.unlink()
    vae = AutoencoderKL(**SD15_VAE_CONFIG) if sd15_size else AutoencoderKL(
        block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=32, sample_size=16)
    vae.save_pretrained(sd15 / "vae")
    (sd15 / "scheduler").mkdir(parents=True, exist_ok=True)
    (sd15 / "scheduler" / "scheduler_config.json").write_text(json.dumps(SCHEDULER_CONFIG))
    tiny_arcface(root / ("arcface.onnx" if hf_cache is None else "antelopev2/arcface.onnx"))
    (root / "exp_adapter").mkdir(parents=True, exist_ok=True)
    torch.save(expression_adapter_state(unet, seed=seed, projection=projection, biases=adapter_biases),
               root / "exp_adapter" / "exp_adapter.bin")
    if reference_adapter:
        write_lora(unet, root / "ref_adapter", seed=seed)
    if lcm_lora:
        write_lora(unet, root / "lcm-lora-sdv1-5", seed=seed + 1)
    return root


SD15_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"


def hub_snapshot(cache: Path, repo: str, *, commit: str = "0" * 40) -> Path:
    """The snapshot folder of ``repo`` in a Hugging Face cache at ``cache`` (hub layout:
    ``models--ORG--NAME/refs/main`` naming the commit, files under ``snapshots/COMMIT/``), made empty."""
    entry = Path(cache) / f"models--{repo.replace('/', '--')}"
    (entry / "refs").mkdir(parents=True, exist_ok=True)
    (entry / "refs" / "main").write_text(commit)
    folder = entry / "snapshots" / commit
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_lora(unet, folder: Path, *, seed: int = 0, rank: int = 4) -> Path:
    """A random attention LoRA for ``unet`` as ``folder/pytorch_lora_weights.safetensors``
    (diffusers format); ``unet`` is left without the adapter."""
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]), adapter_name="tmp")
    layers = {k: v * 0.1 for k, v in get_peft_model_state_dict(unet, adapter_name="tmp").items()}
    StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=layers, safe_serialization=True)
    unet.delete_adapters("tmp")
    return folder / "pytorch_lora_weights.safetensors"
