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


def expression_adapter_state(unet, *, seed: int = 0) -> dict:
    """``{"image_proj", "ip_adapter"}`` in the layout diffusers' IP-Adapter loader reads."""
    import torch

    g = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim
    image_proj = {"proj.weight": torch.randn(4 * cross, 55, generator=g) * 0.05,
                  "proj.bias": torch.zeros(4 * cross), "norm.weight": torch.ones(cross), "norm.bias": torch.zeros(cross)}
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
                        reference_adapter: bool = False) -> Path:
    """Write a complete tiny models folder (Arc2Face layout + ``sd15/``) to ``root``;
    with ``sd15_size``, the UNet, VAE and text encoder have SD1.5's real shapes;
    with ``reference_adapter``, ``ref_adapter/pytorch_lora_weights.safetensors`` too."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    root = Path(root)
    unet = UNet2DConditionModel(**(SD15_UNET_CONFIG if sd15_size else UNET_CONFIG))
    unet.save_pretrained(root / "arc2face")
    write_tokenizer(root / "sd15" / "tokenizer")
    vocab = len(json.loads((root / "sd15" / "tokenizer" / "vocab.json").read_text()))
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
    vae.save_pretrained(root / "sd15" / "vae")
    (root / "sd15" / "scheduler").mkdir(parents=True, exist_ok=True)
    (root / "sd15" / "scheduler" / "scheduler_config.json").write_text(json.dumps(SCHEDULER_CONFIG))
    tiny_arcface(root / "arcface.onnx")
    (root / "exp_adapter").mkdir(parents=True, exist_ok=True)
    torch.save(expression_adapter_state(unet, seed=seed), root / "exp_adapter" / "exp_adapter.bin")
    if reference_adapter:
        write_lora(unet, root / "ref_adapter", seed=seed)
    return root


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
