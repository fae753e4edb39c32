"""The diffusion renderer's pieces on tiny random-weight models in the published layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from tiny_arc2face import expression_adapter_state, write_tiny_arc2face  # noqa: E402

from facecast.engine.render.base import RendererUnavailable  # noqa: E402
from facecast.engine.render.diffusion import identity as ident  # noqa: E402
from facecast.engine.render.diffusion.attention import AttentionBank, install_bank  # noqa: E402
from facecast.engine.render.diffusion.layout import check_models  # noqa: E402
from facecast.engine.render.diffusion.loading import load_models, reference_scheduler  # noqa: E402
from facecast.engine.render.diffusion.sampler import (  # noqa: E402
    StreamSampler, decode, reference_sample, stream_schedule)


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    return write_tiny_arc2face(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def models(models_root):
    return load_models(models_root)


@pytest.fixture(scope="module")
def embedding():
    return ident.normalise_embedding(np.random.default_rng(1).standard_normal(512))


def test_layout_check_passes_and_lists_every_problem(models_root, tmp_path):
    assert check_models(models_root) == []
    broken = shutil.copytree(models_root, tmp_path / "m")
    (broken / "arcface.onnx").unlink()
    (broken / "sd15" / "vae" / "config.json").unlink()
    (broken / "arc2face" / "config.json").write_text("not json")
    problems = [str(p) for p in check_models(broken)]
    assert any("arcface.onnx: missing" in p for p in problems)
    assert any("vae/config.json: missing" in p for p in problems)
    assert any("arc2face/config.json: not a JSON object" in p for p in problems)
    assert all("facecast models fetch" in p or "JSON" in p for p in problems)
    with pytest.raises(RendererUnavailable, match="arcface.onnx"):
        load_models(broken)


def test_adapter_that_does_not_fit_the_unet_is_reported(models_root, models, tmp_path):
    bad = shutil.copytree(models_root, tmp_path / "m")
    state = expression_adapter_state(models.unet)
    state["image_proj"]["proj.weight"] = torch.zeros(4 * 768, 54)
    torch.save(state, bad / "exp_adapter" / "exp_adapter.bin")
    assert any("proj.weight" in str(p) for p in check_models(bad))
    (bad / "exp_adapter" / "exp_adapter.bin").write_bytes(b"garbage")
    assert any("cannot read" in str(p) for p in check_models(bad))


def test_loading_round_trip(models_root, models):
    """What was written is what is loaded, and the adapter went through diffusers' IP-Adapter loader."""
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0

    fresh = UNet2DConditionModel.from_pretrained(models_root / "arc2face")
    for (k, a), (_, b) in zip(sorted(fresh.state_dict().items()), sorted(models.unet.state_dict().items())):
        if k in models.unet.state_dict():
            assert torch.equal(models.unet.state_dict()[k], a), k
    procs = list(models.unet.attn_processors.values())
    assert sum(isinstance(p, IPAdapterAttnProcessor2_0) for p in procs) == len(procs) // 2
    saved = torch.load(models_root / "exp_adapter" / "exp_adapter.bin", weights_only=True)
    proj = models.unet.encoder_hid_proj.image_projection_layers[0]
    assert torch.equal(proj.image_embeds.weight, saved["image_proj"]["proj.weight"])
    assert models.text_encoder.config.hidden_size == 768


def test_identity_token_receives_the_embedding(models, embedding):
    tok, enc = models.tokenizer, models.text_encoder
    ids = tok(ident.ID_PROMPT, padding="max_length", max_length=77, return_tensors="pt").input_ids[0]
    where = (ids == tok.encode("id", add_special_tokens=False)[0]).nonzero().flatten().tolist()
    assert len(where) == 1
    k = where[0]
    embeddings = enc.embeddings if hasattr(enc, "embeddings") else enc.text_model.embeddings
    captured = {}
    handle = embeddings.register_forward_hook(lambda m, i, o: captured.__setitem__("tokens", o.detach().clone()))
    try:
        prompt = ident.prompt_embeddings(enc, tok, embedding * 3.0)  # normalised inside
    finally:
        handle.remove()
    assert prompt.shape == (1, 77, 768)
    # the input at the id position is the unit embedding, zero-padded to 768 (plus the position embedding)
    token_in = captured["tokens"][0, k] - embeddings.position_embedding.weight[k]
    assert torch.allclose(token_in[:512], torch.from_numpy(embedding), atol=1e-6)
    assert torch.count_nonzero(token_in[512:]) == 0
    # every other position is the plain prompt's input
    plain = enc(ids[None])[0]
    # causal encoder: tokens before "id" cannot see it; the ones from it on do
    assert torch.allclose(prompt[0, :k], plain[0, :k], atol=1e-6)
    assert (prompt[0, k:] - plain[0, k:]).abs().amax() > 1e-3
    assert not torch.allclose(prompt, ident.prompt_embeddings(enc, tok, -embedding))


@pytest.mark.parametrize("bad", [np.zeros(512), np.full(512, np.nan), np.ones(128)])
def test_bad_embeddings_are_refused(bad):
    with pytest.raises(ident.EnrollmentError):
        ident.normalise_embedding(bad)


def test_reference_sampler_matches_a_plain_diffusers_pipeline(models, embedding):
    """25-step DPM-Solver++ at guidance 3.0, same seed: facecast's sampler == StableDiffusionPipeline."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils.torch_utils import randn_tensor

    prompt = ident.prompt_embeddings(models.text_encoder, models.tokenizer, embedding)
    uncond = ident.unconditional_embeddings(models.text_encoder, models.tokenizer)
    exp = torch.from_numpy(np.random.default_rng(2).normal(0, 1, (1, 55)).astype(np.float32))
    pipe = StableDiffusionPipeline(vae=models.vae, text_encoder=models.text_encoder, tokenizer=models.tokenizer,
                                   unet=models.unet, scheduler=reference_scheduler(models.scheduler_config),
                                   safety_checker=None, feature_extractor=None, image_encoder=None,
                                   requires_safety_checker=False)
    expected = pipe(prompt_embeds=prompt, ip_adapter_image_embeds=[torch.cat([torch.zeros_like(exp), exp])[:, None]],
                    num_inference_steps=25, guidance_scale=3.0, height=32, width=32, output_type="np",
                    generator=torch.Generator().manual_seed(7)).images[0]
    scheduler = reference_scheduler(models.scheduler_config)
    latents = randn_tensor((1, 4, 16, 16), generator=torch.Generator().manual_seed(7), dtype=torch.float32)
    latents = latents * scheduler.init_noise_sigma
    got = reference_sample(models.unet, scheduler, prompt_embeds=prompt, uncond_embeds=uncond, expression=exp,
                           latents=latents, steps=25, guidance=3.0)
    image = decode(models.vae, got)[0].numpy()
    assert image.shape == expected.shape == (32, 32, 3)
    assert np.abs(image - expected).max() < 1e-4
    # and the expression is not ignored
    other = reference_sample(models.unet, scheduler, prompt_embeds=prompt, uncond_embeds=uncond,
                             expression=torch.zeros_like(exp), latents=latents, steps=25, guidance=3.0)
    assert (other - got).abs().max() > 1e-3


def _frame(models, bank_weights=None):
    prompt = ident.prompt_embeddings(models.text_encoder, models.tokenizer,
                                     ident.normalise_embedding(np.arange(512.0) - 200))
    return prompt


def test_empty_bank_equals_the_stock_processor_exactly(models):
    from diffusers.models.attention_processor import AttnProcessor2_0

    unet = models.unet
    prompt = _frame(models)
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(3))
    exp = torch.randn(2, 1, 55, generator=torch.Generator().manual_seed(4))
    kwargs = dict(encoder_hidden_states=prompt.expand(2, -1, -1), added_cond_kwargs={"image_embeds": [exp]})
    before = dict(unet.attn_processors)
    try:
        unet.set_attn_processor({n: (AttnProcessor2_0() if n.endswith("attn1.processor") else p)
                                 for n, p in before.items()})
        with torch.no_grad():
            stock = unet(x, 500, **kwargs).sample
        install_bank(unet, AttentionBank())
        with torch.no_grad():
            banked = unet(x, 500, **kwargs).sample
    finally:
        unet.set_attn_processor(before)
    assert torch.equal(stock, banked)


def test_a_frame_attending_to_a_bank_of_itself_reproduces_itself(models):
    unet = models.unet
    prompt = _frame(models)
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(5))
    exp = torch.randn(1, 1, 55, generator=torch.Generator().manual_seed(6))
    kwargs = dict(encoder_hidden_states=prompt, added_cond_kwargs={"image_embeds": [exp]})
    before = dict(unet.attn_processors)
    try:
        bank = install_bank(unet, AttentionBank())
        with torch.no_grad():
            alone = unet(x, 300, **kwargs).sample
            bank.recording = "anchor"
            unet(x, 300, **kwargs)
            bank.recording = None
            with_itself = unet(x, 300, **kwargs).sample
            bank.weights["anchor"] = 0.25  # a weighted bank of itself still gives the same attention output
            weighted = unet(x, 300, **kwargs).sample
            other = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(8))
            bank.recording = "anchor"
            unet(other, 300, **kwargs)
            bank.recording = None
            bank.weights["anchor"] = 1.0
            with_other = unet(x, 300, **kwargs).sample
    finally:
        unet.set_attn_processor(before)
    assert torch.allclose(alone, with_itself, atol=1e-5)
    assert torch.allclose(alone, weighted, atol=1e-5)
    assert (alone - with_other).abs().max() > 1e-3  # a different bank does change the frame


def test_batch_shared_attention_ties_the_batch_together(models):
    unet = models.unet
    prompt = _frame(models)
    x = torch.randn(3, 4, 16, 16, generator=torch.Generator().manual_seed(9))
    exp = torch.randn(3, 1, 55, generator=torch.Generator().manual_seed(10))
    kwargs = dict(encoder_hidden_states=prompt.expand(3, -1, -1), added_cond_kwargs={"image_embeds": [exp]})
    before = dict(unet.attn_processors)
    try:
        bank = install_bank(unet, AttentionBank())
        with torch.no_grad():
            independent = unet(x, 300, **kwargs).sample
            bank.batch_shared = True
            shared = unet(x, 300, **kwargs).sample
            x2 = x.clone()
            x2[2] = torch.randn(4, 16, 16, generator=torch.Generator().manual_seed(11))
            shared2 = unet(x2, 300, **kwargs).sample
    finally:
        unet.set_attn_processor(before)
    assert (independent - shared).abs().max() > 1e-4
    # frame 0 now depends on frame 2 (it would not without sharing)
    assert (shared[0] - shared2[0]).abs().max() > 1e-5


def test_stream_schedule_matches_diffusers_lcm_steps(models):
    from diffusers import LCMScheduler

    sched = stream_schedule(models.scheduler_config, 4, kind="lcm")
    ref = LCMScheduler.from_config(models.scheduler_config)
    ref.set_timesteps(4)
    assert sched.timesteps.tolist() == ref.timesteps.tolist() == [999, 759, 499, 259]
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    eps = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    out = ref.step(eps, int(ref.timesteps[0]), x, generator=torch.Generator().manual_seed(2)).prev_sample
    x0 = (x - sched.sigma[0] * eps) / sched.alpha[0]
    mine = sched.alpha_next[0] * (sched.c_out[0] * x0 + sched.c_skip[0] * x) + sched.sigma_next[0] * noise
    assert torch.allclose(out, mine.float(), atol=1e-5)


def test_stream_sampler_is_deterministic_and_counts_its_unet_calls(models):
    prompt = _frame(models)
    calls = []
    handle = models.unet.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        for steps in (1, 2, 4):
            schedule = stream_schedule(models.scheduler_config, steps)
            s = StreamSampler(models.unet, schedule, prompt_embeds=prompt, latent_shape=(4, 16, 16), seed=3)
            calls.clear()
            a = s(torch.ones(1, 55))
            assert len(calls) == steps == s.unet_calls_per_frame
            b = StreamSampler(models.unet, schedule, prompt_embeds=prompt, latent_shape=(4, 16, 16), seed=3)(
                torch.ones(1, 55))
            assert torch.equal(a, b)
        guided = StreamSampler(models.unet, stream_schedule(models.scheduler_config, 2), prompt_embeds=prompt,
                               latent_shape=(4, 16, 16), guidance=2.0, uncond_embeds=torch.zeros_like(prompt))
        calls.clear()
        guided(torch.ones(1, 55))
        assert guided.unet_calls_per_frame == 4 and len(calls) == 2  # two batched calls of 2
    finally:
        handle.remove()


# --------------------------------------------------------------------------- #
# distillation
# --------------------------------------------------------------------------- #


def _synthetic_latent_set(n: int = 64):
    """A conditional set with structure: a blob whose x position is the first FLAME
    value, whose channel signs are the identity (4 people)."""
    from facecast.engine.render.diffusion.distill import TrainingSet

    rng = np.random.default_rng(0)
    people = rng.standard_normal((4, 512))
    signs = np.array([[1, -1, 1, -1], [-1, 1, 1, -1], [1, 1, -1, -1], [-1, -1, -1, 1]], np.float32)
    yy, xx = np.mgrid[:8, :8]
    latents = np.zeros((n, 4, 8, 8), np.float32)
    flame = np.zeros((n, 55), np.float32)
    for i in range(n):
        flame[i, 0] = rng.uniform(-1, 1)
        blob = np.exp(-((xx - 3.5 - 2.5 * flame[i, 0]) ** 2 + (yy - 3.5) ** 2) / 3.0)
        latents[i] = signs[i % 4][:, None, None] * (2 * blob[None] - 0.5)
    return TrainingSet(latents=torch.from_numpy(latents), prompts=None, expressions=torch.from_numpy(flame)), people


def _train_teacher(models, data, *, iterations: int, batch: int = 8):
    """Plain eps-prediction training of the whole tiny UNet, 10% unconditional."""
    import torch.nn.functional as F
    from diffusers import DDPMScheduler

    unet, sched = models.unet, DDPMScheduler.from_config(models.scheduler_config)
    uncond = ident.unconditional_embeddings(models.text_encoder, models.tokenizer)
    g = torch.Generator().manual_seed(0)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=1e-3)
    unet.requires_grad_(True)
    unet.train()
    for _ in range(iterations):
        pick = torch.randint(0, len(data), (batch,), generator=g)
        x0, prompt, exp = data.latents[pick], data.prompts[pick], data.expressions[pick]
        drop = torch.rand(batch, generator=g) < 0.1
        prompt = torch.where(drop[:, None, None], uncond.expand(batch, -1, -1), prompt)
        exp = torch.where(drop[:, None], torch.zeros_like(exp), exp)
        t = torch.randint(0, 1000, (batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        pred = unet(sched.add_noise(x0, noise, t), t, encoder_hidden_states=prompt,
                    added_cond_kwargs={"image_embeds": [exp[:, None]]}).sample
        loss = F.mse_loss(pred, noise)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    unet.eval()
    unet.requires_grad_(False)


def test_distilled_two_step_student_is_closer_to_the_teacher_than_its_own_two_steps(tmp_path):
    import torch.nn.functional as F

    from facecast.engine.render.diffusion.distill import DistillConfig, distill, save_lora

    models = load_models(write_tiny_arc2face(tmp_path / "models"))
    torch.manual_seed(0)
    data, people = _synthetic_latent_set()
    data.prompts = torch.cat([ident.prompt_embeddings(models.text_encoder, models.tokenizer, people[i % 4])
                              for i in range(len(data))])
    _train_teacher(models, data, iterations=150)
    uncond = ident.unconditional_embeddings(models.text_encoder, models.tokenizer)
    picks = [j * 7 % len(data) for j in range(8)]
    noise = [torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(100 + j)) for j in range(8)]

    def teacher(steps):
        return torch.cat([reference_sample(models.unet, reference_scheduler(models.scheduler_config),
                                           prompt_embeds=data.prompts[i:i + 1], uncond_embeds=uncond,
                                           expression=data.expressions[i:i + 1], latents=z, steps=steps,
                                           guidance=3.0) for i, z in zip(picks, noise)])

    reference, teacher_two = teacher(25), teacher(2)
    config = DistillConfig(iterations=100, batch_size=8, learning_rate=2e-3, lora_rank=8)
    losses = distill(models, data, config)
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    schedule = stream_schedule(models.scheduler_config, 2)
    student = []
    for i, z in zip(picks, noise):
        s = StreamSampler(models.unet, schedule, prompt_embeds=data.prompts[i:i + 1], latent_shape=(4, 8, 8))
        s.start_noise = z
        student.append(s(data.expressions[i:i + 1]))
    student = torch.cat(student)
    mse_student = float(F.mse_loss(student, reference))
    mse_teacher = float(F.mse_loss(teacher_two, reference))
    assert mse_student < 0.85 * mse_teacher, (mse_student, mse_teacher)

    # the saved LoRA, fused by the renderer's path, gives the adapter's own output
    lora = save_lora(models.unet, tmp_path / "lora", config)
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    kwargs = dict(encoder_hidden_states=data.prompts[:1], added_cond_kwargs={"image_embeds": [data.expressions[:1, None]]})
    with torch.no_grad():
        with_adapter = models.unet(x, 499, **kwargs).sample
    fused = load_models(tmp_path / "models")
    from facecast.engine.render.diffusion.lora import fuse_unet_lora
    fused.unet.load_state_dict({k: v for k, v in models.unet.state_dict().items() if "lora" not in k}, strict=False)
    _copy_base_weights(models.unet, fused.unet)
    fuse_unet_lora(fused, lora, scale=1.0, name="student")
    assert not any("lora" in k for k in fused.unet.state_dict())
    with torch.no_grad():
        out = fused.unet(x, 499, **kwargs).sample
    assert torch.allclose(out, with_adapter, atol=1e-4)


def _copy_base_weights(src, dst) -> None:
    """Copy the trained teacher's base weights (peft wraps them as ``base_layer``) into a fresh UNet."""
    base = {k.replace(".base_layer", ""): v for k, v in src.state_dict().items() if "lora_" not in k}
    missing = dst.load_state_dict(base, strict=False)
    assert not [k for k in missing.missing_keys if "lora" not in k]
