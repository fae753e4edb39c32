"""Acceleration: ONNX export parity, the engine cache's keys and staleness, backends behind
one call, stream batching, and skipping renders when the parameters hold still."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from conftest import (CHANGED_ATOL, ListPublisher, RateSource, assert_pixels_close,  # noqa: E402
                      assert_same_computation, max_abs_diff)
from tiny_arc2face import SCHEDULER_CONFIG, write_tiny_arc2face  # noqa: E402

from facecast.engine.accel import BACKENDS, BackendUnavailable, get_backend  # noqa: E402
from facecast.engine.accel.cache import EngineCache  # noqa: E402
from facecast.engine.render.diffusion.step import (  # noqa: E402
    EMPTY_SLOT_LOG_WEIGHT, BankFeed, DecoderStep, StepProfile, UNetStep)
from facecast.engine.render.diffusion.attention import AttentionBank, install_bank  # noqa: E402
from facecast.engine.render.diffusion.loading import load_models  # noqa: E402
from facecast.engine.render.diffusion.sampler import StreamSampler  # noqa: E402
from facecast.engine.render.diffusion.schedule import stream_schedule  # noqa: E402
from facecast.engine.render.diffusion.stream_batch import StreamBatchSampler  # noqa: E402

LATENT = (16, 16)


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    return write_tiny_arc2face(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def models(models_root):
    m = load_models(models_root)
    m.bank = install_bank(m.unet, AttentionBank(weights={"anchor": 0.5, "previous": 0.5}))
    return m


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return EngineCache(tmp_path_factory.mktemp("engines"))


def banked_step(models, **profile):
    return UNetStep(models.unet, models.bank, StepProfile(latent_hw=LATENT, batch=(1, 2, 4),
                                                          bank_sources=("anchor", "previous"), capture=True,
                                                          **profile))


def filled_inputs(step, batch):
    inputs = list(step.example_inputs(batch))
    inputs[4] = torch.tensor([[math.log(0.5), 0.0]] * batch)  # both slots attended, with different weights
    return inputs


def stream_three_frames(accelerated, bank, *, seed: int) -> torch.Tensor:
    """Three frames of the streaming sampler as the renderer runs it (each frame banked as
    ``previous``, the first kept as ``anchor``), from a clean bank; (3, 4, h, w) latents."""
    schedule = stream_schedule(SCHEDULER_CONFIG, 2)
    prompt = torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(seed))
    bank.clear()
    sampler = StreamSampler(accelerated, schedule, prompt_embeds=prompt, latent_shape=(4, *LATENT), bank=bank)
    frames = [sampler(torch.full((1, 55), 0.1 * (i + seed)), keep_frame=True) for i in range(3)]
    assert sorted(bank.states) == ["anchor", "previous"]
    bank.clear()
    return torch.cat(frames)


def test_onnx_export_matches_torch_with_adapter_and_bank_inputs_at_any_batch(models, cache):
    import onnx

    step = banked_step(models)
    ort = get_backend("onnxruntime").build(step, cache=cache)
    graph = onnx.load(str(ort.folder / "model.onnx"), load_external_data=False).graph
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert inputs["expression"] == ["batch", 1, 55] and inputs["sample"] == ["batch", 4, *LATENT]
    assert inputs["bank_log_weight"] == ["batch", 2]  # per batch row: the unconditional half attends to no bank
    n_layers = len(step.layers)
    assert sum(name.startswith("bank_anchor_") for name in inputs) == n_layers == 4  # down 1, mid 1, up 2
    assert len(graph.output) == 1 + n_layers  # eps and the captured attn1 inputs
    # every banked self-attention is onnxruntime's fused (flash, on the CPU) operator
    assert sum(node.op_type == "MultiHeadAttention" and node.domain == "com.microsoft" for node in graph.node) \
        == n_layers
    for batch in (1, 3):  # traced at 2: the batch is dynamic
        x = filled_inputs(step, batch)
        with torch.inference_mode():
            want = step(*x)
        got = ort(*x)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_same_computation(g, w)
    decoder = DecoderStep(models.vae, StepProfile(latent_hw=LATENT), layout="bgra")
    x = decoder.example_inputs(2)
    with torch.inference_mode():
        want = decoder(*x)[0]
    got = get_backend("onnxruntime").build(decoder, cache=cache)(*x)[0]
    assert got.shape == (2, 32, 32, 4) and got.dtype == torch.uint8 and (got[..., 3] == 255).all()
    assert_pixels_close(got, want)
    with torch.inference_mode():  # the layout is the published picture's: BGRA is RGB reversed, plus alpha
        rgb = DecoderStep(models.vae, StepProfile(latent_hw=LATENT))(*x)[0]
    assert_pixels_close(rgb, want[..., :3].flip(-1))  # computed apart: one rounding step at most


def test_an_empty_bank_slot_counts_for_nothing(models):
    """A slot with the empty log-weight gives what a step without that slot gives (to the
    attention kernel's rounding: its blocks differ with the key count)."""
    two = banked_step(models)
    one = UNetStep(models.unet, models.bank, StepProfile(latent_hw=LATENT, bank_sources=("previous",)))
    x = filled_inputs(two, 1)
    x[4] = torch.tensor([[EMPTY_SLOT_LOG_WEIGHT, 0.0]])
    n = len(two.layers)
    with torch.inference_mode():
        a = two(*x)[0]
        b = one(*x[:4], torch.tensor([[0.0]]), *x[5 + n:])[0]
        c = one(*x[:4], torch.tensor([[0.0]]), *x[5:5 + n])[0]  # attending to the other slot's states instead
    assert_same_computation(a, b)
    assert (a - c).abs().max() > CHANGED_ATOL


def test_engine_cache_reuses_and_rebuilds_stale_entries(models, tmp_path, caplog):
    cache = EngineCache(tmp_path)
    step = banked_step(models)
    ort = get_backend("onnxruntime")
    first = ort.build(step, cache=cache)
    onnx_file = first.folder / "model.onnx"
    built_ns = onnx_file.stat().st_mtime_ns
    assert ort.build(step, cache=cache).folder == first.folder and onnx_file.stat().st_mtime_ns == built_ns
    # another shape is another entry
    other = UNetStep(models.unet, models.bank, StepProfile(latent_hw=(8, 8)))
    assert ort.build(other, cache=cache).folder != first.folder
    # an entry whose meta.json names another torch version (copied from elsewhere) is rebuilt
    meta = json.loads((first.folder / "meta.json").read_text())
    meta["key"]["torch"] = "0.0.1"
    (first.folder / "meta.json").write_text(json.dumps(meta))
    with caplog.at_level("WARNING"):
        ort.build(step, cache=cache)
    assert "built for another torch" in caplog.text
    assert onnx_file.stat().st_mtime_ns != built_ns
    # an artefact changed after the build is never used
    caplog.clear()
    with open(first.folder / "model.onnx.data", "ab") as f:
        f.write(b"\0")
    with caplog.at_level("WARNING"):
        again = ort.build(step, cache=cache)
    assert "model.onnx.data changed since it was built" in caplog.text
    x = filled_inputs(step, 1)
    with torch.inference_mode():
        assert_same_computation(again(*x)[0], step(*x)[0])
    # a build that fails leaves no entry behind
    with pytest.raises(RuntimeError, match="boom"):
        cache.build({"k": 1}, lambda folder: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cache.lookup({"k": 1}) is None and not list(tmp_path.glob(".building-*"))


def test_the_model_hash_changes_with_fused_weights(models_root):
    m = load_models(models_root)
    step = UNetStep(m.unet, None, StepProfile(latent_hw=LATENT))
    before = step.digest()
    assert step.digest() == before
    with torch.no_grad():
        m.unet.conv_in.weight[0, 0, 0, 0] += 1e-3  # what fusing a LoRA does to a layer
    assert step.digest() != before


def test_swapping_the_backend_changes_no_sampler_code(models, cache):
    """Three frames of the streaming sampler with the anchor and previous banks, on torch
    and on onnxruntime: the same latents."""
    step = banked_step(models)
    runs = {name: stream_three_frames(get_backend(name).build(step, cache=cache), models.bank, seed=0)
            for name in ("torch", "onnxruntime")}
    assert max_abs_diff(runs["torch"][0], runs["torch"][2]) > CHANGED_ATOL  # the frames do move
    assert_same_computation(runs["onnxruntime"], runs["torch"])


def test_bank_feed_passes_tensors_without_copies(models):
    step = banked_step(models)
    feed = BankFeed(step.layers, ("anchor", "previous"), device="cpu", dtype=torch.float32)
    bank = AttentionBank(weights={"anchor": 0.5, "previous": 0.0})
    states = {layer.name: torch.randn(2, layer.tokens, layer.channels) for layer in step.layers}  # two steps
    bank.set("anchor", states)
    bank.set("previous", states)
    log_weight, *inputs = feed.inputs(bank, step=1, batch=2, uncond_rows=1)
    # weight 0: empty; the unconditional row attends to nothing banked
    assert np.allclose(log_weight.numpy(), [[EMPTY_SLOT_LOG_WEIGHT] * 2, [math.log(0.5), EMPTY_SLOT_LOG_WEIGHT]])
    n = len(step.layers)
    for i, layer in enumerate(step.layers):  # step 1's row, a view of the banked tensor
        assert inputs[i].data_ptr() == states[layer.name][1].data_ptr() and inputs[i].shape[0] == 1
    assert all(not t.any() for t in inputs[n:])


def test_stream_batching_gives_each_frame_its_own_trajectory_in_one_call_per_frame(models, cache):
    """With S steps, the frame leaving the pipeline is the one that entered S-1 frames
    before, denoised exactly as the step-by-step sampler does; one UNet call of batch S per frame."""
    steps = 3
    step = UNetStep(models.unet, None, StepProfile(latent_hw=LATENT, batch=(1, steps, steps)))
    eager = get_backend("torch").build(step)
    schedule = stream_schedule(models.scheduler_config, steps)
    prompt = torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(1))
    kwargs = dict(prompt_embeds=prompt, latent_shape=(4, *LATENT), seed=5)
    batched = StreamBatchSampler(eager, schedule, **kwargs)
    plain = StreamSampler(eager, schedule, **kwargs)
    calls = []
    hook = models.unet.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))
    try:
        expressions = [torch.full((1, 55), v) for v in (0.0, 0.3, -0.4, 0.8, 0.2)]
        out = [batched(e) for e in expressions]
    finally:
        hook.remove()
    assert calls == [steps] * len(expressions)
    for n in range(steps - 1, len(expressions)):
        assert_same_computation(out[n], plain(expressions[n - (steps - 1)]))  # batch S vs batch 1
    with pytest.raises(ValueError, match="batch 3"):
        StreamBatchSampler(get_backend("torch").build(UNetStep(models.unet, None, StepProfile(latent_hw=LATENT,
                                                                                              batch=(1, 1, 2)))),
                           schedule, **kwargs)


def test_backends_that_cannot_run_here_say_why(models):
    step = UNetStep(models.unet, None, StepProfile(latent_hw=LATENT))
    for name in ("onnxruntime-cuda", "onnxruntime-tensorrt", "tensorrt", "stable-fast"):
        reason = BACKENDS[name].unavailable()
        if torch.cuda.is_available():
            continue
        assert reason and "CUDA" in reason
        with pytest.raises(BackendUnavailable, match=f"backend '{name}' cannot run here: no CUDA"):
            BACKENDS[name].build(step)
    with pytest.raises(BackendUnavailable, match="unknown backend 'fast'; use one of torch, torch-compile"):
        get_backend("fast")
    from facecast.engine.accel import resolve_backend
    assert resolve_backend("auto", "cpu") == "onnxruntime" and resolve_backend("tensorrt", "cpu") == "tensorrt"
    if not torch.cuda.is_available():
        assert resolve_backend("auto", "cuda:0") == "torch"  # nothing compiled runs: never a backend that cannot


def test_doctor_reports_every_backend():
    out = subprocess.run([sys.executable, "-m", "facecast.engine.cli", "doctor"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    for name in BACKENDS:
        assert f" {name} " in out.stdout
    assert "yes  onnxruntime" in out.stdout and "yes  torch " in out.stdout
    if not torch.cuda.is_available():  # on a CPU, auto is the backend measured faster there
        assert "--backend auto picks: onnxruntime (on cpu)" in out.stdout
    if not torch.cuda.is_available():
        assert re.search(r"no +tensorrt +no CUDA GPU", out.stdout)
    assert re.search(r"lip-sync microphone \(--lipsync mic\): (yes, \d+ input|no)", out.stdout)  # PortAudio here


def test_skip_below_reuses_the_last_picture_while_parameters_hold_still():
    from facecast.engine.loop import Engine, LoopConfig
    from facecast.engine.render.base import Renderer
    from facecast.engine.retarget import Retargeter
    from facecast.engine.types import PixelFormat

    class Counting(Renderer):
        name = "counting"
        pixel_format = PixelFormat.RGB8
        calls = 0

        def render(self, sample, flame):
            self.calls += 1
            return np.full((2, 2, 3), self.calls, np.uint8)

    # RateSource moves weights[0] by 0.001 per sample: under a 0.0035 threshold every 4th renders
    renderer, pub = Counting(), ListPublisher()
    report = Engine(source=RateSource(500, count=40), retargeter=Retargeter(), renderer=renderer, publisher=pub,
                    config=LoopConfig(skip_below=0.0035)).run()
    assert report.frames == len(pub.frames) == report.samples_in - report.samples_dropped
    assert renderer.calls + report.frames_skipped == report.frames and report.frames_skipped > report.frames // 2
    rendered_at = None
    for f in pub.frames:
        if not f.repeated:
            rendered_at = f.sample.weights[0]
        else:  # a repeat never hides a change of the threshold or more
            assert f.sample.weights[0] - rendered_at < 0.0035 and f.pixels is not None
    every = Counting()
    report = Engine(source=RateSource(500, count=20), retargeter=Retargeter(), renderer=every,
                    publisher=ListPublisher(), config=LoopConfig()).run()
    assert report.frames_skipped == 0 and every.calls == report.frames


def test_torch_compile_streams_the_eager_frames_without_recompiling(models):
    """torch.compile (Inductor; g++ on the CPU) behind the same call: the streaming sampler's
    frames match eager, and after the build no frame recompiles (the bank's changing tensors,
    an anchor that is the previous frame, do not break the guards)."""
    from torch._dynamo.utils import counters

    if BACKENDS["torch-compile"].unavailable():
        pytest.fail(BACKENDS["torch-compile"].unavailable())
    step = UNetStep(models.unet, models.bank, StepProfile(latent_hw=LATENT, batch=(1, 1, 2), capture=True,
                                                          bank_sources=("anchor", "previous")))  # built at batch 1
    runs = {"torch": stream_three_frames(get_backend("torch").build(step), models.bank, seed=2)}
    compiled = get_backend("torch-compile").build(step)
    compiles = counters["stats"]["unique_graphs"]
    runs["torch-compile"] = stream_three_frames(compiled, models.bank, seed=2)
    assert counters["stats"]["unique_graphs"] == compiles  # compiled at build, never per frame
    assert_same_computation(runs["torch-compile"], runs["torch"])


def test_the_folded_bias_is_the_additive_bias():
    """The fused operator takes no bias: folding it into the dot product gives exactly the
    attention with the per-key logit bias."""
    import torch.nn.functional as F

    from facecast.engine.accel.fused_attention import fused_attention

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 8, generator=g) for _ in range(3))
    k, v = torch.cat([k, k * 0.5]), torch.cat([v, v])  # 20 keys: the frame's and a bank slot's
    k, v = k.view(2, 3, 20, 8), v.view(2, 3, 20, 8)
    bias = torch.cat([torch.zeros(10), torch.full((10,), math.log(0.3))])
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.view(1, 1, 1, -1))
    assert_same_computation(fused_attention(q, k, v, bias), want)
    assert_same_computation(fused_attention(q, k, v, None), F.scaled_dot_product_attention(q, k, v))
