"""Issue 20, items 1-10: the diffusion renderer against upstream Arc2Face's own choices, each on tiny
random-weight models in the published layout (``tiny_arc2face.py``)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from conftest import CHANGED_ATOL, assert_same_computation  # noqa: E402
from tiny_arc2face import PROJECTIONS, expression_adapter_state, tiny_arcface, write_tiny_arc2face  # noqa: E402

from facecast.engine.render.base import RendererUnavailable  # noqa: E402
from facecast.engine.render.diffusion import identity as ident  # noqa: E402
from facecast.engine.render.diffusion.attention import AttentionBank, install_bank  # noqa: E402
from facecast.engine.render.diffusion.config import DiffusionConfig  # noqa: E402
from facecast.engine.render.diffusion.layout import check_models  # noqa: E402
from facecast.engine.render.diffusion.loading import load_models  # noqa: E402
from facecast.engine.types import FaceSample, FlameParams, PixelFormat  # noqa: E402

FACECAST = [sys.executable, "-m", "facecast.engine.cli"]
LATENT = (8, 8)


def cli(*args, env=None, timeout=240):
    return subprocess.run(FACECAST + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    """Tiny models with the reference adapter and an LCM-LoRA in the models folder."""
    return write_tiny_arc2face(tmp_path_factory.mktemp("models"), reference_adapter=True, lcm_lora=True,
                               adapter_biases=True)


@pytest.fixture(scope="module")
def identity_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("identity") / "astro"
    photo = (np.random.default_rng(4).uniform(0, 255, (64, 64, 3))).astype(np.uint8)
    ident.enroll("astro", embedding=np.random.default_rng(1).standard_normal(512), source="test",
                 reference_rgb=photo, folder=folder)
    return folder


def make_renderer(root, folder, **config):
    from facecast.engine.render.diffusion.renderer import DiffusionRenderer

    r = DiffusionRenderer(models=root, identity="astro", width=64, height=64, pixel_format=PixelFormat.RGB8,
                          identity_folder=folder, config=DiffusionConfig(**{"device": "cpu", **config}))
    r.prepare()
    return r


def expression(seed: int, scale: float = 1.5) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(0, scale, (1, 55)).astype(np.float32))


# --------------------------------------------------------------------------- #
# 1. the adapter check: what facecast needs, the rest to diffusers
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("projection", PROJECTIONS)
def test_every_adapter_layout_diffusers_reads_is_checked_for_what_facecast_needs(models_root, tmp_path, projection):
    root = shutil.copytree(models_root, tmp_path / "m", ignore=shutil.ignore_patterns("ref_adapter", "lcm-lora*"))
    unet = load_models(models_root).unet
    adapter = root / "exp_adapter" / "exp_adapter.bin"
    torch.save(expression_adapter_state(unet, projection=projection, biases=True), adapter)
    problems = [str(p) for p in check_models(root)]
    if projection == "faceid_plus":  # loadable by diffusers, but it also reads CLIP image features
        assert len(problems) == 1 and "CLIP image features" in problems[0]
        return
    assert problems == []
    models = load_models(root)  # through diffusers' own IP-Adapter loader
    from facecast.engine.render.diffusion.step import StepProfile, UNetStep

    step = UNetStep(models.unet, None, StepProfile(latent_hw=LATENT))
    x = list(step.example_inputs(1))
    with torch.no_grad():
        a = step(*x)[0]
        x[3] = torch.zeros_like(x[3])
        b = step(*x)[0]
    assert (a - b).abs().max() > CHANGED_ATOL  # the vector reaches the UNet through this projection
    torch.save(expression_adapter_state(unet, projection=projection, width=54), adapter)
    assert any("takes 54 values" in str(p) for p in check_models(root))
    state = expression_adapter_state(unet, projection=projection)
    state["ip_adapter"] = {k: v for k, v in state["ip_adapter"].items() if not k.startswith("1.")}
    torch.save(state, adapter)
    assert any("3 adapter layers for a UNet with 4 cross-attention layers" in str(p) for p in check_models(root))


# --------------------------------------------------------------------------- #
# 2. the few-step path and its LoRA
# --------------------------------------------------------------------------- #


def test_the_few_step_path_fuses_the_models_lcm_lora_unless_told_otherwise(models_root, identity_folder, caplog):
    from facecast.engine.render.diffusion import renderer as renderer_module

    q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    base = load_models(models_root).unet.state_dict()[q]
    fused = make_renderer(models_root, identity_folder, steps=1)
    assert not torch.equal(fused.models.unet.state_dict()[q], base)  # the LCM-LoRA is in
    plain = make_renderer(models_root, identity_folder, steps=1, lora="none")  # a distilled UNet: left alone
    assert torch.equal(plain.models.unet.state_dict()[q], base)
    reference = make_renderer(models_root, identity_folder, **{**DiffusionConfig.for_quality("reference").__dict__,
                                                               "steps": 2})
    assert torch.equal(reference.models.unet.state_dict()[q], base)  # upstream's recipe: the base UNet
    # without the LoRA in the folder, the LCM rule warns, once, and says what to fetch
    bare = shutil.copytree(models_root, models_root.parent / "bare", ignore=shutil.ignore_patterns("lcm-lora*"))
    renderer_module._warned.discard("undistilled")
    with caplog.at_level(logging.WARNING, logger="facecast.engine.render.diffusion.renderer"):
        make_renderer(bare, identity_folder, steps=2)
        make_renderer(bare, identity_folder, steps=2)
    warnings = [r.getMessage() for r in caplog.records if "blurry" in r.getMessage()]
    assert len(warnings) == 1 and "facecast models fetch" in warnings[0] and "lcm-lora-sdv1-5" in warnings[0]


# --------------------------------------------------------------------------- #
# 3. --quality reference: upstream's recipe, for render, eval and distill's teacher
# --------------------------------------------------------------------------- #


def test_reference_quality_is_upstreams_recipe_through_the_renderer(models_root, identity_folder):
    from facecast.engine.render.diffusion.loading import reference_scheduler
    from facecast.engine.render.diffusion.multistep import reference_sample

    config = DiffusionConfig.for_quality("reference", anchor_weight=0.0, previous_weight=0.0)
    assert (config.steps, config.step_kind, config.guidance, config.lora) == (25, "dpmsolver++", 3.0, "none")
    steps = 5  # the recipe's solver at fewer steps: the same code, a fifth of the test's time
    r = make_renderer(models_root, identity_folder, **{**config.__dict__, "steps": steps})
    assert r.sampler.unet_calls_per_frame == steps and r.sampler.unet_rows_per_frame == 2 * steps
    e = expression(2)
    got = r.sampler(e)
    prompt, uncond = r.enrolled.prompts(r.models.text_encoder, r.models.tokenizer,
                                        weights_digest=r.models.text_digest())
    plain = load_models(models_root)  # the recipe on a plain UNet, as upstream's pipeline runs it
    want = reference_sample(plain.unet, reference_scheduler(plain.scheduler_config), prompt_embeds=prompt,
                            uncond_embeds=uncond, expression=e, latents=r.sampler.start_noise, steps=steps,
                            guidance=3.0)
    assert_same_computation(got, want)
    with pytest.raises(ValueError, match="leave out steps"):
        DiffusionConfig.for_quality("reference", steps=4)


def test_render_and_eval_take_quality_reference(tmp_path):
    script = tmp_path / "s.json"
    script.write_text('{"fps": 10, "keyframes": [{"t": 0, "preset": "neutral"}]}')
    bad = cli("render", script, "--out", tmp_path / "o", "--renderer", "diffusion", "--quality", "reference",
              "--steps", "4", "--identity", "x", "--flame-map", tmp_path / "m.npz")
    assert bad.returncode == 2 and "leave out steps" in bad.stderr and "Traceback" not in bad.stderr
    for command in ("render", "eval", "run"):
        assert "--quality {stream,reference}" in cli(command, "--help").stdout


def test_distill_teaches_with_the_reference_recipes_solver():
    """The teacher's jumps are DPM-Solver++'s own: the reference recipe's 25 timesteps, each step what
    the solver computes from a fresh state there."""
    from tiny_arc2face import SCHEDULER_CONFIG

    from facecast.engine.render.diffusion.distill import DistillConfig, teacher_grid, teacher_step
    from facecast.engine.render.diffusion.multistep import dpm_solver

    config = DistillConfig()
    assert (config.solver_steps, config.guidance) == (25, 3.0)
    t, t_next = teacher_grid(SCHEDULER_CONFIG, config.solver_steps)
    solver = dpm_solver(SCHEDULER_CONFIG)
    solver.set_timesteps(25)
    assert t.tolist() == solver.timesteps.tolist() and t_next.tolist() == t.tolist()[1:] + [-1]
    acp = solver.alphas_cumprod
    g = torch.Generator().manual_seed(0)
    for i in (0, 12, 24):
        x, eps = torch.randn(1, 4, 8, 8, generator=g), torch.randn(1, 4, 8, 8, generator=g)
        fresh = dpm_solver(SCHEDULER_CONFIG)
        fresh.set_timesteps(25)
        fresh.set_begin_index(i)
        want = fresh.step(eps, fresh.timesteps[i], x, return_dict=False)[0]
        a = acp[t[i]]
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        assert_same_computation(teacher_step(x0, eps, t_next[i:i + 1], acp), want)


# --------------------------------------------------------------------------- #
# 4. an upstream models/ folder as it is; --expression-scale; prompt cache by weights
# --------------------------------------------------------------------------- #


def test_an_upstream_models_folder_with_sd15_in_the_hugging_face_cache(tmp_path):
    hub = tmp_path / "hub"
    root = write_tiny_arc2face(tmp_path / "models", hf_cache=hub)
    assert (root / "antelopev2" / "arcface.onnx").is_file() and not (root / "sd15").exists()
    env = {"HF_HUB_CACHE": str(hub)}
    check = cli("models", "check", root, env=env)
    assert check.returncode == 0 and "all files present and consistent" in check.stdout, check.stdout
    assert "smirk/SMIRK_em1.pt" in check.stdout and "gdown" in check.stdout  # the optional one, and how
    without_cache = cli("models", "check", root, env={"HF_HUB_CACHE": str(tmp_path / "empty")})
    assert without_cache.returncode == 1 and "sd15/vae/config.json: missing" in without_cache.stdout


def test_expression_scale_is_the_adapters_strength(models_root, identity_folder):
    frames = {}
    for scale in (0.0, 1.0):
        r = make_renderer(models_root, identity_folder, steps=1, expression_scale=scale, anchor_weight=0.0,
                          previous_weight=0.0)
        frames[scale] = [r.sampler(expression(seed)) for seed in (5, 6)]
    assert torch.equal(frames[0.0][0], frames[0.0][1])  # at 0 the expression counts for nothing
    assert (frames[1.0][0] - frames[1.0][1]).abs().max() > CHANGED_ATOL


def test_the_prompt_cache_follows_the_weights_not_the_folder(models_root, identity_folder, tmp_path, monkeypatch):
    moved = shutil.copytree(models_root, tmp_path / "moved")
    first = load_models(models_root)
    enrolled = ident.enrollment("astro", folder=identity_folder)
    prompt, _ = enrolled.prompts(first.text_encoder, first.tokenizer, weights_digest=first.text_digest())
    calls = []
    real = ident.prompt_embeddings
    monkeypatch.setattr(ident, "prompt_embeddings", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = load_models(moved)  # the same files elsewhere: the cache holds
    cached, _ = enrolled.prompts(again.text_encoder, again.tokenizer, weights_digest=again.text_digest())
    assert calls == [] and torch.equal(cached, prompt)
    state = torch.load(moved / "encoder" / "pytorch_model.bin", weights_only=True)  # other weights, same place
    name = next(k for k in state if k.endswith("final_layer_norm.bias"))
    state[name] = state[name] + 1.0
    torch.save(state, moved / "encoder" / "pytorch_model.bin")
    changed = load_models(moved)
    fresh, _ = enrolled.prompts(changed.text_encoder, changed.tokenizer, weights_digest=changed.text_digest())
    assert calls == [1] and (fresh - prompt).abs().max() > CHANGED_ATOL


# --------------------------------------------------------------------------- #
# 5. the reference bank comes from the plain UNet
# --------------------------------------------------------------------------- #


def test_the_reference_bank_is_made_without_the_expression_adapter(models_root, identity_folder):
    from diffusers import UNet2DConditionModel

    from facecast.engine.render.diffusion.reference import bank_reference

    models = load_models(models_root)
    prompt = ident.prompt_embeddings(models.text_encoder, models.tokenizer, ident.enrollment(
        "astro", folder=identity_folder).embedding())
    photo = identity_folder / "reference.png"
    with_adapter = install_bank(models.unet, AttentionBank())
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    kwargs = dict(encoder_hidden_states=prompt, added_cond_kwargs={"image_embeds": [expression(3)[:, None]]})
    with torch.no_grad():
        before = models.unet(x, 400, **kwargs).sample
    bank_reference(models, with_adapter, photo, prompt=prompt, size_wh=(64, 64))
    plain_unet = UNet2DConditionModel.from_pretrained(models_root / "arc2face")  # upstream's separate reference UNet
    plain = install_bank(plain_unet, AttentionBank())
    bank_reference(SimpleNamespace(unet=plain_unet, vae=models.vae, image_digest=models.image_digest), plain, photo,
                   prompt=prompt, size_wh=(64, 64))
    layers = with_adapter.states["reference"].layers
    assert sorted(layers) == sorted(plain.states["reference"].layers)
    for name, t in layers.items():
        assert torch.equal(t, plain.states["reference"].layers[name]), name
    with_adapter.clear()
    with torch.no_grad():  # and the adapter is back
        assert torch.equal(models.unet(x, 400, **kwargs).sample, before)


# --------------------------------------------------------------------------- #
# 6-8. the temporal bank: guidance, stream batching, per-step states, damping
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def banked(models_root):
    models = load_models(models_root)
    models.bank = install_bank(models.unet, AttentionBank(weights={"anchor": 0.5, "previous": 0.5}))
    return models


def test_the_unconditional_half_attends_to_no_bank(banked):
    from facecast.engine.render.diffusion.step import BankFeed, StepProfile, UNetStep

    step = UNetStep(banked.unet, banked.bank, StepProfile(latent_hw=LATENT, batch=(1, 2, 2),
                                                          bank_sources=("anchor", "previous")))
    g = torch.Generator().manual_seed(1)
    banked.bank.set("anchor", {layer.name: torch.randn(1, layer.tokens, layer.channels, generator=g)
                               for layer in step.layers})
    feed = BankFeed(step.layers, step.profile.bank_sources, device="cpu", dtype=torch.float32)
    x, t, prompt, exp = step.example_inputs(2)[:4]
    exp = torch.cat([torch.zeros_like(exp[:1]), exp[1:]])  # [unconditional, conditional], as the sampler
    with torch.no_grad():
        guided = step(x, t, prompt, exp, *feed.inputs(banked.bank, step=0, batch=2, uncond_rows=1))[0]
        nothing = step(x, t, prompt, exp, *feed.inputs(AttentionBank(), step=0, batch=2))[0]
    banked.bank.clear()
    assert_same_computation(guided[0], nothing[0])  # the unconditional row: plain self-attention
    assert (guided[1] - nothing[1]).abs().max() > CHANGED_ATOL  # the conditional row sees the anchor


def test_each_step_attends_to_the_same_step_of_the_previous_frame_and_the_anchor(banked):
    """Step k of frame n is fed step k's attn1 inputs of frame n - 1 (and of frame 0 as the anchor)."""
    from facecast.engine.accel import get_backend
    from facecast.engine.render.diffusion.sampler import StreamSampler
    from facecast.engine.render.diffusion.schedule import stream_schedule
    from facecast.engine.render.diffusion.step import StepProfile, UNetStep

    step = get_backend("torch").build(UNetStep(banked.unet, banked.bank, StepProfile(
        latent_hw=LATENT, bank_sources=("anchor", "previous"), capture=True)))
    calls = []

    def spy(*inputs):
        out = step(*inputs)
        calls.append(([t.clone() for t in inputs[4:]], [t.clone() for t in out[1:]]))
        return out
    spy.component = step.component
    sampler = StreamSampler(spy, stream_schedule(banked.scheduler_config, 3),
                            prompt_embeds=torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(2)),
                            latent_shape=(4, *LATENT), bank=banked.bank)
    for seed in (1, 2, 3):
        sampler(expression(seed), keep_frame=True)
    n = len(step.component.layers)
    for frame in (1, 2):
        for k in range(3):
            fed, _ = calls[3 * frame + k]
            previous_captured = calls[3 * (frame - 1) + k][1]
            anchor_captured = calls[k][1]
            log_weight, anchor, previous = fed[0], fed[1:1 + n], fed[1 + n:]
            assert log_weight[0].tolist() == pytest.approx([np.log(0.5)] * 2)
            for i in range(n):
                assert torch.equal(previous[i], previous_captured[i]) and torch.equal(anchor[i], anchor_captured[i])
    sampler.reset()
    assert not banked.bank.states


def test_stream_batching_gives_each_frame_the_step_by_step_trajectory_with_the_bank(banked):
    """With the anchor and previous frames banked, the frame leaving the pipeline is the step-by-step
    sampler's frame: the anchor is the first frame at each step (not the pure noise of its step 0)."""
    from facecast.engine.accel import get_backend
    from facecast.engine.render.diffusion.sampler import StreamSampler
    from facecast.engine.render.diffusion.schedule import stream_schedule
    from facecast.engine.render.diffusion.step import StepProfile, UNetStep
    from facecast.engine.render.diffusion.stream_batch import StreamBatchSampler

    steps = 3
    sources = ("anchor", "previous")
    one = get_backend("torch").build(UNetStep(banked.unet, banked.bank, StepProfile(
        latent_hw=LATENT, bank_sources=sources, capture=True)))
    rows = get_backend("torch").build(UNetStep(banked.unet, banked.bank, StepProfile(
        latent_hw=LATENT, batch=(1, steps, steps), bank_sources=sources, capture=True, per_row_bank=True)))
    schedule = stream_schedule(banked.scheduler_config, steps)
    kwargs = dict(prompt_embeds=torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(3)),
                  latent_shape=(4, *LATENT), seed=4, bank=banked.bank)
    expressions = [expression(seed) for seed in range(6)]
    plain = StreamSampler(one, schedule, **kwargs)
    want = [plain(e, keep_frame=True) for e in expressions]
    plain.reset()
    batched = StreamBatchSampler(rows, schedule, **kwargs)
    got = [batched(e, keep_frame=True) for e in expressions]
    batched.reset()
    for n in range(steps - 1, len(expressions)):
        assert_same_computation(got[n], want[n - (steps - 1)])


def test_the_default_bank_weights_keep_the_expression(models_root, identity_folder):
    """Expression damping, in the self-attention outputs of the tiny UNet (every attn1's output at every
    step): the same expression after a neutral first frame, with the bank and without, differs by less
    than 10% of the expression's own change once the stream holds the expression, and by less than 30% on
    the first frame of the change. (Measured: 6% and 25% at the defaults, anchor 0.1 and previous 0.3;
    22% and 44% at the former 0.5 and 0.5, where the anchor held a fifth of every expression back.)"""
    def attn1_outputs(**weights):
        r = make_renderer(models_root, identity_folder, steps=2, **weights)
        outs = []
        hooks = [m.register_forward_hook(lambda mod, i, o: outs.append(o.detach().clone()))
                 for n, m in r.models.unet.named_modules() if n.endswith("attn1")]
        frames = []
        r.reset()
        sample = FaceSample(capture_wall_ns=0, weights=np.zeros(52, np.float32))
        for e in (torch.zeros(1, 55), expression(3), expression(3), expression(3)):
            outs.clear()
            r.render(sample, FlameParams.from_vector(e[0].numpy(), clamp=True))
            frames.append(torch.cat([o.flatten() for o in outs]))
        for h in hooks:
            h.remove()
        return frames

    c = DiffusionConfig()
    neutral, free = attn1_outputs(anchor_weight=0.0, previous_weight=0.0)[:2]
    banked = attn1_outputs(anchor_weight=c.anchor_weight, previous_weight=c.previous_weight)
    change = float((free - neutral).norm())
    first, held = (float((banked[i] - free).norm()) / change for i in (1, 3))
    assert first < 0.30 and held < 0.10, (first, held)


# --------------------------------------------------------------------------- #
# 9. ArcFace: all five points by least squares; the model's own input normalisation
# --------------------------------------------------------------------------- #


def _landmarks_with_points(points_px: np.ndarray, shape_hw) -> np.ndarray:
    """478 FaceLandmarker landmarks whose eye contours, nose tip and mouth corners give ``points_px``."""
    from facecast.engine.face.landmarks import connection_points

    h, w = shape_hw
    lm = np.zeros((478, 3), np.float32)
    right = sorted(connection_points("FACE_LANDMARKS_RIGHT_EYE"))
    left = sorted(connection_points("FACE_LANDMARKS_LEFT_EYE"))
    for idx, p in ((right, points_px[0]), (left, points_px[1]), ([1], points_px[2]), ([61], points_px[3]),
                   ([291], points_px[4])):
        lm[idx, 0], lm[idx, 1] = p[0] / w, p[1] / h
    return lm


def test_arcface_alignment_fits_all_five_points_by_least_squares(tmp_path):
    import cv2

    from facecast.engine.face.arcface import ARCFACE_TEMPLATE, ArcFace

    rng = np.random.default_rng(0)
    points = ARCFACE_TEMPLATE * 2.5 + np.array([60.0, 40.0])
    points[4] += (14.0, 9.0)  # one mouth corner far off: least squares weighs it, LMedS would drop it
    rgb = rng.integers(0, 255, (400, 360, 3), dtype=np.uint8)
    arc = ArcFace(tiny_arcface(tmp_path / "a.onnx"))
    got = arc.align(rgb, _landmarks_with_points(points, rgb.shape[:2]))
    # the least-squares similarity as a linear system in (a, b, tx, ty): x' = a x - b y + tx, y' = b x + a y + ty
    rows = []
    for (x, y), (u, v) in zip(points.astype(np.float64), ARCFACE_TEMPLATE.astype(np.float64)):
        rows += [([x, -y, 1, 0], u), ([y, x, 0, 1], v)]
    a, b, tx, ty = np.linalg.lstsq(np.array([r for r, _ in rows]), np.array([t for _, t in rows]), rcond=None)[0]
    want = cv2.warpAffine(rgb, np.array([[a, -b, tx], [b, a, ty]]), (112, 112), borderValue=0)
    assert np.abs(got.astype(int) - want).max() <= 1


def _arcface_onnx(path: Path, *, normalises: bool) -> Path:
    """An ArcFace-shaped ONNX model; with ``normalises``, it subtracts 127.5 and scales by 1/127.5 itself."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((3, 512)).astype(np.float32)
    nodes, first = [], "input.1"
    inits = [numpy_helper.from_array(w, "w")]
    if normalises:
        inits += [numpy_helper.from_array(np.array(127.5, np.float32), "mean"),
                  numpy_helper.from_array(np.array(1 / 127.5, np.float32), "scale")]
        nodes += [helper.make_node("Sub", ["input.1", "mean"], ["centred"]),
                  helper.make_node("Mul", ["centred", "scale"], ["scaled"])]
        first = "scaled"
    nodes += [helper.make_node("GlobalAveragePool", [first], ["pooled"]),
              helper.make_node("Flatten", ["pooled"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["683"])]
    graph = helper.make_graph(nodes, "arcface", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT,
                                                                                [1, 3, 112, 112])],
                              [helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 512])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_arcface_input_normalisation_is_read_from_the_model(tmp_path):
    from facecast.engine.face.arcface import ARCFACE_TEMPLATE, ArcFace

    rgb = np.random.default_rng(1).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    lm = _landmarks_with_points(ARCFACE_TEMPLATE * 2 + 50, rgb.shape[:2])
    outside = ArcFace(_arcface_onnx(tmp_path / "plain.onnx", normalises=False))
    inside = ArcFace(_arcface_onnx(tmp_path / "inside.onnx", normalises=True))
    assert (outside.input_scaling, inside.input_scaling) == ("arcface", "raw")
    assert np.allclose(outside.embed(rgb, lm), inside.embed(rgb, lm), atol=1e-5)  # one embedding, either way
    forced = ArcFace(tmp_path / "inside.onnx", input_scaling="arcface")
    assert not np.allclose(forced.embed(rgb, lm), inside.embed(rgb, lm), atol=1e-3)
    with pytest.raises(ValueError, match="input_scaling"):
        ArcFace(tmp_path / "plain.onnx", input_scaling="bgr")


# --------------------------------------------------------------------------- #
# 10. onnxruntime-cuda waits for torch's stream
# --------------------------------------------------------------------------- #


def test_the_cuda_runner_waits_for_torchs_stream_before_onnxruntime_runs(banked, monkeypatch):
    """onnxruntime's CUDA provider runs on its own stream: the bound runner must let torch's current
    stream finish writing the inputs first. (A recording stand-in for the session and the stream: the
    order of calls is what is checked; no GPU here.)"""
    from facecast.engine.accel import onnxruntime_backend as backend
    from facecast.engine.render.diffusion.step import DecoderStep, StepProfile

    events = []

    class Stream:
        def synchronize(self):
            events.append("torch stream synchronised")

    class Binding:
        def bind_input(self, *args):
            events.append("bind input")

        def bind_output(self, *args):
            events.append("bind output")

    class Session:
        def get_outputs(self):
            return [SimpleNamespace(name="pixels", type="tensor(uint8)")]

        def io_binding(self):
            return Binding()

        def run_with_iobinding(self, binding):
            events.append("onnxruntime runs")

    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: Stream())
    run = backend._bound_runner(Session(), DecoderStep(banked.vae, StepProfile(latent_hw=LATENT)))
    run(torch.zeros(1, 4, *LATENT))
    assert events == ["bind input", "bind output", "torch stream synchronised", "onnxruntime runs"]


def test_a_missing_models_folder_is_still_one_clear_line(tmp_path):
    with pytest.raises(RendererUnavailable, match="no models folder here"):
        load_models(tmp_path / "nothing")
