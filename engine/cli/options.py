"""What the commands share: the help formatter, :class:`UserError`, value parsers and the option
groups that more than one command takes (one definition, one default each)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Optional

from facecast.engine.accel import BACKEND_NAMES
from facecast.engine.render import DiffusionOptions, PortraitOptions, RendererUnavailable, RenderOptions
from facecast.engine.render.background import BACKGROUND_HELP, KEEP, parse_background
from facecast.engine.render.diffusion.config import (
    MAX_FEW_STEPS, MAX_MULTISTEPS, QUALITIES, STEP_KINDS, DiffusionConfig)
from facecast.engine.session import Session, SessionError, SessionSpec
from facecast.engine.sources import SourceError, SourceOptions, open_source
from facecast.engine.retarget.profile import load_profile
from facecast.engine.sources.family import tracker_of
from facecast.engine.sources.lipsync import MIX_MODES, VowelTemplates, lipsync_source, open_audio
from facecast.engine.sources.livelink_csv import TAKE_FILES
from facecast.engine.types import PixelFormat

EXIT_USAGE = 2


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` with each option's default, once: added only where the help text does not already
    say it, and not for switches or options without a default."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        if ("default" in text.lower() or action.default in (None, False, argparse.SUPPRESS)
                or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


class UserError(Exception):
    """A problem the user can fix; printed as ``error: <message>`` without a traceback."""


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 512x512") from None
    return w, h


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def positive(kind):
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not positive")
        return value
    return parse


# --------------------------------------------------------------------------- #
# Source options (shared by run and calibrate)
# --------------------------------------------------------------------------- #


def add_source_options(p, *, default: Optional[str] = "demo") -> None:
    p.add_argument("--source", default=default, required=default is None, metavar="SPEC",
                   help="demo, csv:PATH, webcam:[INDEX], video:PATH, livelink:[HOST:]PORT, "
                        "ifacialmocap:PHONE_IP, vmc:[HOST:]PORT or vts:PHONE_IP (see docs/sources.md); "
                        "with --lipsync also none (the audio alone)")
    p.add_argument("--loop", action="store_true", help="csv, video: start again at the end of the file")
    add_csv_options(p)
    p.add_argument("--source-bind", default="127.0.0.1", metavar="HOST",
                   help="network sources: local address to listen on (0.0.0.0 for a phone on Wi-Fi)")
    p.add_argument("--subject", help="livelink: accept only this Live Link subject name")
    p.add_argument("--model", type=Path, metavar="PATH",
                   help="webcam, video: MediaPipe face_landmarker.task (default: see docs/sources.md, \"The webcam model\")")


def add_csv_options(p) -> None:
    """``--timecode-fps`` and ``--take-file``: how a ``csv:`` recording is read; one definition for
    ``run``, ``calibrate``, ``render`` and ``eval``."""
    p.add_argument("--timecode-fps", type=positive(float), metavar="N",
                   help="csv: the recording's timecode frame rate (default: 60 if a frame number reaches 30, "
                        "else 30, as Live Link Face records)")
    p.add_argument("--take-file", choices=TAKE_FILES, metavar="|".join(TAKE_FILES),
                   help="csv:FOLDER, a Live Link Face take folder: read its *_cal.csv (the app's calibrated "
                        "values; the default), *_raw.csv or *_neutral.csv (the neutral pose, for "
                        "'calibrate neutral --loop')")


def source_from_args(args):
    """The (unopened) source the options name, its mouth driven by the audio with ``--lipsync`` (where the
    command has it); raises UserError for a bad spec."""
    lipsync = getattr(args, "lipsync", None)
    if args.source == "none" and not lipsync:
        raise UserError("--source none (no tracker) needs --lipsync: the audio is then all that moves the face")
    try:
        tracker = None if args.source == "none" else open_source(args.source, SourceOptions(
            loop=args.loop, timecode_fps=args.timecode_fps, take_file=args.take_file, bind_host=args.source_bind,
            subject=args.subject, model_path=args.model, flame=getattr(args, "flame", None)))
        return lipsync_wrapper(args)(tracker) if lipsync else tracker
    except SourceError as exc:
        raise UserError(str(exc)) from None


def add_lipsync_options(p) -> None:
    """``--lipsync`` and ``--lipsync-mix``: the audio that drives the mouth (``run``, ``studio``)."""
    p.add_argument("--lipsync", metavar="SPEC",
                   help="drive the mouth from audio: mic[:DEVICE] (a microphone: its index or part of its name; "
                        "list them with 'facecast calibrate lipsync --list-devices') or wav:PATH (played in real "
                        "time). With --source none there is no tracker: the audio moves a neutral face. The "
                        "profile's voice templates are used if it has them ('facecast calibrate lipsync')")
    p.add_argument("--lipsync-mix", default="auto", choices=MIX_MODES,
                   help="auto: the audio drives the mouth while the tracker has no face or its mouth stays still "
                        "through speech, easing over 150 ms; replace: always the audio; add: the audio on top of "
                        "the tracker; off: the tracker alone")


def lipsync_wrapper(args):
    """A function that wraps a tracker source (or None) in the ``--lipsync`` audio, with the profile's voice
    templates; it raises :class:`SourceError` for a bad spec."""
    templates = lipsync_templates(getattr(args, "profile", None))

    def wrap(tracker):
        return lipsync_source(tracker, args.lipsync, mix=args.lipsync_mix, templates=templates)

    open_audio(args.lipsync)  # a bad spec is reported now, before anything opens (argparse checked the mix)
    return wrap


def lipsync_templates(profile: Optional[str]) -> Optional[VowelTemplates]:
    """The voice templates of ``profile`` (None without a profile or templates); raises UserError."""
    if profile is None:
        return None
    try:
        data = load_profile(profile).lipsync
        return None if data is None else VowelTemplates.from_dict(data)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"{exc} (profile {profile}: fit its voice again with 'facecast calibrate lipsync')") from None



def add_renderer_options(p) -> None:
    p.add_argument("--portrait", metavar="PHOTO",
                   help="portrait renderer: a photo of one face looking at the camera "
                        "(default: 'astronaut', scikit-image's public-domain NASA portrait)")
    p.add_argument("--portrait-gains", metavar="NPZ",
                   help="portrait renderer: per-shape field gains from 'facecast calibrate fit-portrait'")
    d = p.add_argument_group("diffusion renderer (Arc2Face; see 'facecast models --help')")
    d.add_argument("--identity", metavar="NAME", help="an identity enrolled with 'facecast enroll'")
    d.add_argument("--flame-map", metavar="MAP",
                   help="ARKit -> FLAME mapping from 'facecast calibrate fit-mapping' (this or --flame is required)")
    d.add_argument("--flame", metavar="smirk:PATH",
                   help="instead of --flame-map, with a webcam: or video: source: SMIRK's FLAME estimate of every "
                        "frame (PATH: SMIRK_em1.pt), which the expression adapter was trained on; the ARKit "
                        "weights are still published")
    add_diffusion_options(d)


def add_picture_options(p, *, pixel_format: bool = True) -> None:
    """``--size`` (and ``--format``): the rendered picture, one default each for
    ``run``, ``render``, ``eval`` and ``accelerate build`` (whose engines must match the run's)."""
    p.add_argument("--size", type=parse_size, default=(512, 512), metavar="WxH", help="output picture size")
    if pixel_format:
        p.add_argument("--format", default="rgba8", choices=("rgb8", "rgba8", "bgra8"),
                       help="pixel format of the pictures the renderer emits")


def _background(text: str):
    try:
        return parse_background(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_background_option(p) -> None:
    """``--background``: one definition for ``run``, ``studio`` and ``render``."""
    p.add_argument("--background", type=_background, default=KEEP, metavar="keep|transparent|COLOR",
                   help=f"what goes behind the person (portrait and diffusion renderers): {BACKGROUND_HELP}; "
                        "transparent and colours use a person matte (MediaPipe's selfie segmentation model, "
                        "fetched once into the cache)")


def add_diffusion_options(d) -> None:
    """The diffusion renderer's model and sampling options: one definition, one default each,
    for ``run``, ``render`` and ``accelerate build`` (see :class:`DiffusionConfig`)."""

    c = DiffusionConfig()
    d.add_argument("--models", metavar="DIR", help="models folder (default: $FACECAST_MODELS_DIR or the cache)")
    d.add_argument("--quality", choices=QUALITIES, default="stream",
                   help="stream: few steps per frame (the options below); reference: upstream's full recipe, "
                        "DPM-Solver++ 25 steps at guidance 3.0 on the base UNet (seconds per frame even on a GPU)")
    d.add_argument("--steps", type=int, help=f"denoising steps per frame, 1..{MAX_FEW_STEPS} with lcm or ddim, up to "
                                              f"{MAX_MULTISTEPS} with dpmsolver++ (default: {c.steps})")
    d.add_argument("--lora", metavar="FILE|auto|none",
                   help="few-step LoRA to fuse: auto (default: with the lcm rule, the models folder's LCM-LoRA "
                        "from 'facecast models fetch'), none (a UNet distilled already), or a file (TCD, Hyper-SD, "
                        "a 'facecast distill' student)")
    d.add_argument("--lora-scale", type=float, default=c.lora_scale, help="strength of the fused --lora")
    d.add_argument("--step-kind", choices=STEP_KINDS,
                   help=f"update rule (default: {c.step_kind}; dpmsolver++ is upstream's multistep solver)")
    d.add_argument("--guidance", type=float,
                   help=f"classifier-free guidance; 1 = guidance-free, half the UNet rows (default: {c.guidance:g})")
    d.add_argument("--expression-scale", type=float, default=c.expression_scale,
                   help="strength of the expression adapter (upstream's slider; 0 = no expression, 1 = as trained)")
    d.add_argument("--decoder", metavar="DIR", help="TAESD (AutoencoderTiny) folder to decode with")
    d.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    d.add_argument("--no-half", action="store_true", help="float32 weights on CUDA (default: float16)")
    d.add_argument("--seed", type=int, default=0, help="the stream's fixed noise")
    d.add_argument("--anchor-weight", type=float, default=c.anchor_weight,
                   help="attention to the stream's first frame, step by step (0 = off)")
    d.add_argument("--previous-weight", type=float, default=c.previous_weight,
                   help="attention to the previous frame, step by step (0 = off)")
    d.add_argument("--reference-weight", type=float, default=0.0,
                   help="attention to the reference photo (Arc2Face's reference adapter; 0 = off)")
    d.add_argument("--backend", default="torch", choices=("auto", *BACKEND_NAMES),
                   help="how the UNet and decoder run; compiled backends are built once and cached; auto = the "
                        "fastest that runs here ('facecast doctor' lists them and what auto picks, "
                        "'facecast accelerate build' builds ahead)")
    d.add_argument("--stream-batch", action="store_true",
                   help="run the denoising steps of consecutive frames as one batched UNet call per frame "
                        "(StreamDiffusion-style; guidance-free; a frame shows the expression of steps-1 "
                        "frames before)")


def diffusion_config(args):
    """The :class:`DiffusionConfig` of the options :func:`add_diffusion_options` added.

    Raises:
        UserError: a value out of range (the message names it).
    """
    recipe = {k: v for k, v in (("steps", args.steps), ("step_kind", args.step_kind), ("guidance", args.guidance),
                                ("lora", args.lora)) if v is not None}
    try:
        return DiffusionConfig.for_quality(
            args.quality, **recipe, lora_scale=args.lora_scale, expression_scale=args.expression_scale,
            seed=args.seed, decoder=args.decoder, device=args.device, half=not args.no_half,
            anchor_weight=args.anchor_weight, previous_weight=args.previous_weight,
            reference_weight=args.reference_weight, backend=args.backend, stream_batch=args.stream_batch)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def session_spec(args, *, renderer: str, size_wh: tuple[int, int], pixel_format: PixelFormat,
                 portrait: Optional[str] = None, seed: Optional[int] = None) -> SessionSpec:
    """The :class:`SessionSpec` of the parsed renderer options (and ``--profile``/``--neutral-ease``
    where the command has them). ``portrait`` overrides ``--portrait``; ``seed`` the diffusion seed."""
    config = diffusion_config(args)
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    width, height = size_wh
    options = RenderOptions(width=width, height=height, pixel_format=pixel_format,
                            portrait=PortraitOptions(photo=portrait or args.portrait, gains=args.portrait_gains),
                            diffusion=DiffusionOptions(models=args.models, identity=args.identity, config=config),
                            background=getattr(args, "background", KEEP))
    flame, source = getattr(args, "flame", None), getattr(args, "source", None)
    if flame is not None and source is None:
        raise UserError(f"--flame {flame} estimates FLAME from a camera's or video's frames: use it with "
                        "'facecast run --source webcam:... or video:...'; here, give --flame-map")
    return SessionSpec(renderer=renderer, options=options, flame_map=args.flame_map,
                       flame_from_source=flame is not None,
                       profile=getattr(args, "profile", None), neutral_ease_s=getattr(args, "neutral_ease", None),
                       tracker=tracker_of(source) if source else None)


def open_session(spec: SessionSpec) -> Session:
    """:meth:`SessionSpec.open`, its errors turned into :class:`UserError`."""
    try:
        return spec.open()
    except (SessionError, RendererUnavailable, ValueError) as exc:
        raise UserError(str(exc)) from None
