"""The diffusion renderer's pieces on tiny random-weight models in the published layout."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from conftest import CHANGED_ATOL, assert_same_computation  # noqa: E402
from tiny_arc2face import expression_adapter_state, write_tiny_arc2face  # noqa: E402

from facecast.engine.render.base import RendererUnavailable  # noqa: E402
from facecast.engine.render.diffusion import identity as ident  # noqa: E402
from facecast.engine.render.diffusion.attention import PLAIN_CALL, AttentionBank, BankCall, install_bank  # noqa: E402
from facecast.engine.render.diffusion.layout import check_models  # noqa: E402
from facecast.engine.render.diffusion.loading import load_models, reference_scheduler  # noqa: E402
from facecast.engine.render.diffusion.multistep import reference_sample  # noqa: E402
from facecast.engine.render.diffusion.sampler import StreamSampler, decode  # noqa: E402
from facecast.engine.render.diffusion.schedule import stream_schedule  # noqa: E402


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
    assert sum("facecast models fetch" in p for p in problems) == 2  # the missing files' advice once, the JSON's
    assert [str(p) for p in check_models(tmp_path / "nothing")] == [  # no folder: one line, not one per file
        f"{tmp_path / 'nothing'}: no models folder here; run 'facecast models fetch --dir {tmp_path / 'nothing'}' "
        "(needs network), or copy the files there"]
    with pytest.raises(RendererUnavailable, match="arcface.onnx"):
        load_models(broken)


def test_adapter_that_does_not_fit_the_unet_is_reported(models_root, models, tmp_path):
    bad = shutil.copytree(models_root, tmp_path / "m")
    state = expression_adapter_state(models.unet)
    state["image_proj"]["proj.weight"] = torch.zeros(4 * 768, 54)
    torch.save(state, bad / "exp_adapter" / "exp_adapter.bin")
    assert any("takes 54 values" in str(p) for p in check_models(bad))
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
    assert_same_computation(token_in[:512], torch.from_numpy(embedding))
    assert torch.count_nonzero(token_in[512:]) == 0
    # every other position is the plain prompt's input
    plain = enc(ids[None])[0]
    # causal encoder: tokens before "id" cannot see it; the ones from it on do
    assert_same_computation(prompt[0, :k], plain[0, :k])
    assert (prompt[0, k:] - plain[0, k:]).abs().amax() > CHANGED_ATOL
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
    assert_same_computation(image, expected)
    # and the expression is not ignored
    other = reference_sample(models.unet, scheduler, prompt_embeds=prompt, uncond_embeds=uncond,
                             expression=torch.zeros_like(exp), latents=latents, steps=25, guidance=3.0)
    assert (other - got).abs().max() > CHANGED_ATOL


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
            with bank.using(BankCall(record="anchor")):
                unet(x, 300, **kwargs)
            with_itself = unet(x, 300, **kwargs).sample
            with bank.using(BankCall(weights={"anchor": 0.25})):  # a weighted bank of itself: the same output
                weighted = unet(x, 300, **kwargs).sample
            other = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(8))
            with bank.using(BankCall(record="anchor")):
                unet(other, 300, **kwargs)
            with_other = unet(x, 300, **kwargs).sample
    finally:
        unet.set_attn_processor(before)
    assert_same_computation(with_itself, alone)
    assert_same_computation(weighted, alone)
    assert (alone - with_other).abs().max() > CHANGED_ATOL  # a different bank does change the frame


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
            with bank.using(BankCall(batch_groups=1)):
                shared = unet(x, 300, **kwargs).sample
                x2 = x.clone()
                x2[2] = torch.randn(4, 16, 16, generator=torch.Generator().manual_seed(11))
                shared2 = unet(x2, 300, **kwargs).sample
    finally:
        unet.set_attn_processor(before)
    assert (independent - shared).abs().max() > CHANGED_ATOL
    # frame 0 now depends on frame 2 (it would not without sharing)
    assert (shared[0] - shared2[0]).abs().max() > CHANGED_ATOL


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
    assert_same_computation(mine.float(), out)


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
        assert guided.unet_calls_per_frame == 2 and guided.unet_rows_per_frame == 4 and len(calls) == 2  # calls of 2
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
    # the consistency loss chases the student's own moving target: no steady fall to check at 100 steps;
    # the measure of the training is the student's samples against the teacher's, below
    assert len(losses) == 100 and np.isfinite(losses).all()
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
    assert_same_computation(out, with_adapter)


def _copy_base_weights(src, dst) -> None:
    """Copy the trained teacher's base weights (peft wraps them as ``base_layer``) into a fresh UNet."""
    base = {k.replace(".base_layer", ""): v for k, v in src.state_dict().items() if "lora_" not in k}
    missing = dst.load_state_dict(base, strict=False)
    assert not [k for k in missing.missing_keys if "lora" not in k]


# --------------------------------------------------------------------------- #
# mapping, enrollment and the CLI, end to end
# --------------------------------------------------------------------------- #

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

FACECAST = [sys.executable, "-m", "facecast.engine.cli"]


def cli(*args, env=None, timeout=180):
    return subprocess.run(FACECAST + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_fit_mapping_recovers_a_linear_map_and_reports_cross_validated_error(tmp_path):
    from facecast.calibration.mapping_fit import fit_mapping
    from facecast.engine.retarget.flame import LinearFlameMap

    rng = np.random.default_rng(0)
    w_true = rng.normal(0, 0.8, (55, 52))
    b_true = rng.normal(0, 0.1, 55)
    x = rng.uniform(0, 1, (400, 52))
    y = x @ w_true.T + b_true + rng.normal(0, 0.01, (400, 55))
    fit = fit_mapping(x, y)
    assert np.abs(fit.mapping.weight - w_true).max() < 0.05
    assert fit.summary()["expression"]["cv_rmse"] < 0.02 < fit.summary()["expression"]["mean_predictor_rmse"]
    y[3] = np.nan  # dropped, not fatal
    np.savez(tmp_path / "pairs.npz", arkit=x, flame=y)
    result = cli("calibrate", "fit-mapping", tmp_path / "pairs.npz", "--out", tmp_path / "map.npz")
    assert result.returncode == 0, result.stderr
    assert "399 pairs" in result.stdout and "cv rmse" in result.stdout
    loaded = LinearFlameMap.load(tmp_path / "map.npz")
    assert np.allclose(loaded.weight, fit.mapping.weight, atol=0.01)
    np.savez(tmp_path / "bad.npz", arkit=x[:, :50], flame=y)
    bad = cli("calibrate", "fit-mapping", tmp_path / "bad.npz", "--out", tmp_path / "m2.npz")
    assert bad.returncode == 2 and "arkit (N, 52)" in bad.stderr and "Traceback" not in bad.stderr


def test_the_map_applies_the_adapter_clamps():
    from facecast.engine.retarget.flame import LinearFlameMap
    from facecast.engine.types import FaceSample

    w = np.zeros((55, 52))
    w[50, 0] = 5.0   # eyelid -> clamped to 1
    w[52, 1] = -3.0  # jaw opening -> ReLU'd
    w[53, 2] = 2.0   # jaw side -> +-0.2
    flame = LinearFlameMap(w, np.zeros(55))(FaceSample(capture_wall_ns=0, weights=np.ones(52, np.float32)))
    assert flame.eyelid[0] == 1.0 and flame.jaw_rad[0] == 0.0 and abs(flame.jaw_rad[1] - 0.2) < 1e-6


@pytest.fixture(scope="module")
def enrolled(models_root, tmp_path_factory):
    """An identity enrolled through the CLI from the astronaut photo, in a private cache, and a mapping."""
    from facecast.engine.retarget.flame import LinearFlameMap

    cache = tmp_path_factory.mktemp("cache")
    env = {"FACECAST_CACHE_DIR": str(cache)}
    result = cli("enroll", "astronaut", "--name", "astro", "--models", models_root, env=env)
    assert result.returncode == 0, result.stderr
    mapping = LinearFlameMap(np.random.default_rng(0).normal(0, 0.5, (55, 52)), np.zeros(55)).save(
        cache / "map.npz")
    return env, mapping, cache


def flame_map(enrolled):
    """The enrolled fixture's ARKit -> FLAME map (the retarget stage's, given to the renderer as FlameParams)."""
    from facecast.engine.retarget.flame import LinearFlameMap

    return LinearFlameMap.load(enrolled[1])


def make_renderer(enrolled, root, *, fmt="rgb8", **config):
    """A prepared DiffusionRenderer on the enrolled astronaut at 64x64 on the CPU."""
    from facecast.engine.render.diffusion.config import DiffusionConfig
    from facecast.engine.render.diffusion.renderer import DiffusionRenderer
    from facecast.engine.types import PixelFormat

    _, _, cache = enrolled
    r = DiffusionRenderer(models=root, identity="astro", width=64, height=64,
                          pixel_format=PixelFormat(fmt), identity_folder=cache / "identities" / "astro",
                          config=DiffusionConfig(device="cpu", **config))
    r.prepare()
    return r


def test_enroll_stores_the_embedding_and_the_aligned_crop(enrolled, models_root, tmp_path):
    env, _, cache = enrolled
    folder = cache / "identities" / "astro"
    e = np.load(folder / "embedding.npy")
    assert e.shape == (512,) and abs(np.linalg.norm(e) - 1) < 1e-5
    from PIL import Image
    crop = np.asarray(Image.open(folder / "reference.png"))
    assert crop.shape == (512, 512, 3) and crop.std() > 20  # a real picture, not padding
    np.save(tmp_path / "short.npy", np.ones(128))
    bad = cli("enroll", "--embedding", tmp_path / "short.npy", "--name", "x", env=env)
    assert bad.returncode == 2 and "512 values" in bad.stderr
    np.save(tmp_path / "good.npy", np.ones(512))
    good = cli("enroll", "--embedding", tmp_path / "good.npy", "--name", "direct", env=env)
    assert good.returncode == 0 and np.allclose(np.load(cache / "identities" / "direct" / "embedding.npy"),
                                                 np.ones(512) / np.sqrt(512))
    missing = cli("enroll", "astronaut", "--name", "y", "--models", tmp_path, env=env)
    assert missing.returncode == 2 and "facecast models fetch" in missing.stderr


def test_run_streams_diffusion_frames_with_flame_parameters(enrolled, models_root, endpoint):
    from facecast.bridge.protocol import TOPIC_FRAME
    from facecast.bridge.receiver import Receiver

    env, mapping, _ = enrolled
    with Receiver(endpoint, topics=(TOPIC_FRAME,)) as rx:
        proc = subprocess.Popen(FACECAST + ["run", "--renderer", "diffusion", "--models", str(models_root),
                                            "--identity", "astro", "--flame-map", str(mapping), "--size", "64x64",
                                            "--format", "rgb8", "--device", "cpu", "--duration", "20",
                                            "--publish", endpoint], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
        try:
            msgs = [rx.recv(60.0) for _ in range(4)]
        finally:
            proc.terminate()
            out, err = proc.communicate(30)
    assert all(m is not None for m in msgs), err
    assert all(m.pixels.shape == (64, 64, 3) for m in msgs)
    assert all(m.flame is not None and m.flame.shape == (55,) for m in msgs)
    assert "-> diffusion ->" in out


def test_diffusion_refuses_to_start_without_a_mapping(enrolled, models_root):
    env, mapping, _ = enrolled
    result = cli("run", "--renderer", "diffusion", "--models", models_root, "--identity", "astro",
                 "--size", "64x64", "--device", "cpu", env=env)
    assert result.returncode == 2
    assert "fit-mapping" in result.stderr and "Traceback" not in result.stderr
    unknown = cli("run", "--renderer", "diffusion", "--models", models_root, "--identity", "nobody",
                  "--flame-map", mapping, "--device", "cpu", env=env)
    assert unknown.returncode == 2 and "facecast enroll" in unknown.stderr


def test_renderer_drops_bad_expressions_and_keeps_streaming(enrolled, models_root):
    from facecast.engine.types import FaceSample, FlameParams

    r = make_renderer(enrolled, models_root, fmt="rgba8", steps=1)
    fm = flame_map(enrolled)
    s = FaceSample(capture_wall_ns=0, weights=np.full(52, 0.2, np.float32))
    first = r.render(s, fm(s))
    assert first.shape[2] == 4 and (first[..., 3] == 255).all()
    with pytest.raises(ValueError, match="FLAME"):
        r.render(s, None)
    bad = object.__new__(FlameParams)
    object.__setattr__(bad, "expression", np.full(50, np.nan, np.float32))
    object.__setattr__(bad, "eyelid", np.zeros(2, np.float32))
    object.__setattr__(bad, "jaw_rad", np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        r.render(s, bad)
    again = r.render(s, fm(s))
    assert again.shape == first.shape  # still streaming after the bad frames
    r.close()


def test_distill_command_writes_a_lora_the_renderer_fuses(enrolled, models_root, tmp_path, endpoint):
    from safetensors.torch import save_file

    env, mapping, _ = enrolled
    rng = np.random.default_rng(0)
    save_file({"images": torch.from_numpy(rng.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)),
               "embeddings": torch.from_numpy(rng.standard_normal((4, 512))),
               "flame": torch.from_numpy(rng.normal(0, 1, (4, 55)).astype(np.float32))}, str(tmp_path / "set.st"))
    result = cli("distill", "--models", models_root, "--data", tmp_path / "set.st", "--out", tmp_path / "lora",
                 "--iterations", 3, "--batch-size", 2, "--rank", 4, "--device", "cpu", env=env)
    assert result.returncode == 0, result.stderr
    lora = tmp_path / "lora" / "pytorch_lora_weights.safetensors"
    assert lora.is_file() and "loss" in result.stdout
    run = cli("run", "--renderer", "diffusion", "--models", models_root, "--identity", "astro", "--flame-map",
              mapping, "--size", "64x64", "--device", "cpu", "--lora", lora, "--steps", "2", "--duration", "2",
              "--publish", endpoint, env=env)
    assert run.returncode == 0, run.stderr
    save_file({"images": torch.zeros(2, 16, 16, 3, dtype=torch.uint8)}, str(tmp_path / "bad.st"))
    bad = cli("distill", "--models", models_root, "--data", tmp_path / "bad.st", "--out", tmp_path / "x",
              "--device", "cpu", env=env)
    assert bad.returncode == 2 and "lacks embeddings, flame" in bad.stderr


def test_reference_adapter_banks_the_photo_and_fuses_its_lora(tmp_path, enrolled):
    from facecast.engine.types import FaceSample

    root = write_tiny_arc2face(tmp_path / "models", reference_adapter=True)
    assert check_models(root) == []
    with_ref, without = (make_renderer(enrolled, root, steps=1, reference_weight=w, anchor_weight=0,
                                       previous_weight=0) for w in (1.0, 0.0))
    cached = list(with_ref.enrolled.folder.glob("reference_bank_64x64.safetensors"))
    assert len(cached) == 1
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    with safe_open(str(cached[0]), framework="pt") as f:
        key = f.metadata()["key"]
    save_file({k: v * 2 for k, v in load_file(str(cached[0])).items()}, str(cached[0]), metadata={"key": key})
    again = make_renderer(enrolled, root, steps=1, reference_weight=1.0, anchor_weight=0, previous_weight=0)
    for name, state in with_ref.bank.states["reference"].layers.items():  # the next session loads the saved bank
        assert torch.allclose(state * 2, again.bank.states["reference"].layers[name])
    attn1 = [n for n in with_ref.models.unet.attn_processors if n.endswith("attn1.processor")]
    assert sorted(with_ref.bank.states["reference"].layers) == sorted(attn1)
    assert "reference" not in without.bank.states
    s = FaceSample(capture_wall_ns=0, weights=np.full(52, 0.3, np.float32))
    fm = flame_map(enrolled)
    a, b = with_ref.render(s, fm(s)), without.render(s, fm(s))
    assert np.abs(a.astype(int) - b).max() > 0
    # the reference LoRA was fused (weights changed), with no adapter layers left
    base = load_models(root).unet.state_dict()
    fused = with_ref.models.unet.state_dict()
    assert not any("lora" in k for k in fused)
    q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    assert not torch.equal(base[q], fused[q])


def test_batch_rendering_shares_attention_across_the_batch(enrolled, models_root):
    from facecast.engine.types import FaceSample

    r = make_renderer(enrolled, models_root, steps=2)
    samples = [FaceSample(capture_wall_ns=0, weights=np.full(52, v, np.float32)) for v in (0, .5, 1)]
    flames = [flame_map(enrolled)(s) for s in samples]
    batch = r.render_batch(samples, flames)
    assert len(batch) == 3 and all(f.shape == (64, 64, 3) for f in batch)
    changed = r.render_batch([samples[0], samples[1], samples[0]], [flames[0], flames[1], flames[0]])
    assert np.abs(batch[0].astype(int) - changed[0]).max() > 0  # frame 0 sees frame 2
    # the stream's own settings, untouched
    assert r.bank.call is PLAIN_CALL and r.bank.weights["previous"] == r.config.previous_weight > 0


def test_models_fetch_fails_fast_without_network(tmp_path):
    import time

    t0 = time.monotonic()
    result = cli("models", "fetch", "--dir", tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2 and time.monotonic() - t0 < 30
    assert "cannot reach huggingface.co" in result.stderr and "Traceback" not in result.stderr
    check = cli("models", "check", tmp_path)
    assert check.returncode == 1 and "arcface.onnx: missing" in check.stdout


def test_render_command_renders_diffusion_batches_deterministically(enrolled, models_root, tmp_path):
    env, mapping, _ = enrolled
    script = tmp_path / "s.json"
    script.write_text('{"fps": 10, "seed": 3, "keyframes": [{"t": 0, "preset": "neutral"}, '
                      '{"t": 0.5, "preset": "laugh", "ease": "ease-in-out"}]}')
    outs = []
    for name in ("a", "b"):
        result = cli("render", script, "--out", tmp_path / name, "--renderer", "diffusion", "--models", models_root,
                     "--identity", "astro", "--flame-map", mapping, "--size", "64x64", "--device", "cpu",
                     "--steps", "1", "--batch", "4", env=env)
        assert result.returncode == 0, result.stderr
        outs.append([p.read_bytes() for p in sorted((tmp_path / name).glob("frame_*.png"))])
    assert len(outs[0]) == 6 and outs[0] == outs[1]


def test_renderer_on_onnxruntime_draws_the_torch_frames(enrolled, models_root, tmp_path, monkeypatch):
    """The whole renderer (anchor and previous banks, TAESD-less VAE decoder) with the
    backend swapped: the same stream of frames, to a grey level."""
    from facecast.engine.types import FaceSample

    monkeypatch.setenv("FACECAST_ENGINE_DIR", str(tmp_path / "engines"))
    samples = [FaceSample(capture_wall_ns=0, weights=np.full(52, v, np.float32)) for v in (0.0, 0.4, 0.8)]
    frames = {}
    fm = flame_map(enrolled)
    for backend in ("torch", "onnxruntime"):
        r = make_renderer(enrolled, models_root, steps=2, backend=backend)
        frames[backend] = [r.render(s, fm(s)) for s in samples]
        assert r.unet_step.backend == backend and r.decoder.backend == backend
        r.close()
    for a, b in zip(frames["torch"], frames["onnxruntime"]):
        assert np.abs(a.astype(int) - b).max() <= 1
    assert np.abs(frames["torch"][0].astype(int) - frames["torch"][2]).max() > 0


def test_accelerate_build_then_run_finds_the_engines(enrolled, models_root, tmp_path, endpoint):
    env, mapping, _ = enrolled
    env = {**env, "FACECAST_ENGINE_DIR": str(tmp_path / "engines")}
    build = cli("accelerate", "build", "--backend", "onnxruntime", "--models", models_root, "--size", "64x64",
                "--device", "cpu", "--stream-batch", env=env)
    assert build.returncode == 0, build.stderr
    assert "unet_step  max |difference| from torch eager" in build.stdout and "decoder" in build.stdout
    entries = sorted(p.name for p in (tmp_path / "engines").iterdir())
    assert len(entries) == 2  # the UNet step's and the decoder's ONNX
    run = cli("run", "--renderer", "diffusion", "--backend", "onnxruntime", "--stream-batch", "--models",
              models_root, "--identity", "astro", "--flame-map", mapping, "--size", "64x64", "--device", "cpu",
              "--publish", endpoint, "--duration", "3", "--skip-below", "0.01", env=env)
    assert run.returncode == 0, run.stderr
    assert "engine cache: using" in run.stderr and "engine cache: building" not in run.stderr
    assert sorted(p.name for p in (tmp_path / "engines").iterdir()) == entries
    unavailable = cli("run", "--renderer", "diffusion", "--backend", "tensorrt", "--models", models_root,
                      "--identity", "astro", "--flame-map", mapping, "--size", "64x64", "--device", "cpu", env=env)
    assert unavailable.returncode == 2 and "cannot run here" in unavailable.stderr
    assert "facecast doctor" in unavailable.stderr and "Traceback" not in unavailable.stderr
