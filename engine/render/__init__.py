"""Renderers, one subfolder each, behind :class:`~facecast.engine.render.base.Renderer`.

| name | what it draws | needs |
|---|---|---|
| ``none`` | nothing: the parameter feed alone (format ``none``) | - |
| ``diffusion`` | the enrolled person with the requested expression: Arc2Face + its expression adapter, few-step | the models (``facecast models``), an enrolled identity, an ARKit -> FLAME mapping; a CUDA GPU to stream |
| ``portrait`` | one photo animated by the 52 weights and the head pose, on a CPU | a portrait photo (default: scikit-image's astronaut) |
| ``testpattern`` | orientation markers and the 52 weights as bars, for wiring up clients | - |

``auto`` picks the best renderer that can run on this machine (``diffusion`` only
with a CUDA GPU, the models, an identity and a mapping).

``RenderOptions.background`` (``--background``): the portrait renderer carries a matte made once through its
warp (``portrait/matte.py``); the diffusion renderer segments every frame (``matted.py``); the test pattern
has no person and keeps its own background.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from facecast.engine.render.background import Background, check_background, parse_background
from facecast.engine.render.base import (
    DiffusionOptions, PortraitOptions, RenderOptions, Renderer, RendererUnavailable)
from facecast.engine.render.diffusion.config import DiffusionConfig
from facecast.engine.render.diffusion.layout import models_dir
from facecast.engine.render.diffusion.renderer import DiffusionRenderer
from facecast.engine.render.matted import MattedRenderer
from facecast.engine.render.testpattern import TestPatternRenderer
from facecast.engine.retarget.flame import HOW_TO_MAKE


log = logging.getLogger(__name__)


def _testpattern(options: RenderOptions) -> Renderer:
    if not options.background.keep:
        raise RendererUnavailable(f"the testpattern renderer draws no person, so --background {options.background} "
                                  "has nothing to cut out: use it with the portrait or diffusion renderer")
    return TestPatternRenderer(width=options.width, height=options.height, pixel_format=options.pixel_format)


def _portrait(options: RenderOptions) -> Renderer:
    from facecast.engine.render.portrait import PortraitRenderer  # numba: compiled on first use
    from facecast.engine.render.portrait.rig import ASTRONAUT  # numba: compiled on first use
    kwargs = dict(portrait=options.portrait.photo or ASTRONAUT, gains=options.portrait.gains, width=options.width,
                  height=options.height, pixel_format=options.pixel_format)
    if options.background.keep:
        return PortraitRenderer(**kwargs)
    from facecast.engine.render.portrait.background import MattedPortraitRenderer  # numba: compiled on first use
    return MattedPortraitRenderer(background=options.background, **kwargs)


def _diffusion(options: RenderOptions) -> Renderer:
    d = options.diffusion
    if not d.identity:
        raise RendererUnavailable("the diffusion renderer needs an enrolled identity: "
                                  "'facecast enroll PHOTO --name NAME', then --identity NAME")
    renderer = DiffusionRenderer(models=Path(d.models) if d.models else models_dir(), identity=d.identity,
                                 config=d.config or DiffusionConfig(), width=options.width, height=options.height,
                                 pixel_format=options.pixel_format)
    return renderer if options.background.keep else MattedRenderer(renderer, options.background)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


#: name -> factory(options): each renderer takes from :class:`RenderOptions` what applies to it.
#: ``none`` is handled by :func:`create_renderer`.
_FACTORIES: dict[str, Callable[[RenderOptions], Renderer]] = {
    "diffusion": _diffusion,
    "portrait": _portrait,
    "testpattern": _testpattern,
}
#: Order in which ``auto`` tries renderers: best first.
_AUTO_ORDER = ("diffusion", "portrait", "testpattern")

RENDERER_NAMES = ("auto", "none", *_FACTORIES)


def create_renderer(name: str, options: RenderOptions = RenderOptions(), *,
                    flame_available: bool = False) -> Optional[Renderer]:
    """Create and ``prepare()`` the renderer ``name``; None for ``none``.

    ``flame_available``: whether the retarget stage has an ARKit -> FLAME map, which a renderer that
    needs FLAME parameters (``needs_flame``) cannot run without.

    ``auto`` tries each renderer in quality order and takes the first that
    prepares, logging why the better ones could not run; a photo the user gave
    (``options.portrait.photo``) that cannot be animated is an error, not a fallback.

    Raises:
        RendererUnavailable: the named renderer cannot run here, or the name is unknown.
        ValueError: an output option no renderer can meet (size, format, a transparent background without alpha).
    """
    if name == "none":
        return None
    check_background(options.background, options.pixel_format)
    names = _AUTO_ORDER if name == "auto" else (name,)
    if name != "auto" and name not in _FACTORIES:
        raise RendererUnavailable(f"unknown renderer {name!r}; choose one of {', '.join(RENDERER_NAMES)}")
    reasons = []
    for n in names:
        if name == "auto" and n == "diffusion" and not (options.diffusion.identity and flame_available
                                                         and _cuda_available()):
            reasons.append("diffusion: needs a CUDA GPU, --identity and --flame-map (or --flame smirk:PATH)")
            continue
        try:
            renderer = _FACTORIES[n](options)
            if renderer.needs_flame and not flame_available:
                renderer.close()
                raise RendererUnavailable(f"the {n} renderer needs FLAME parameters (--flame-map, or --flame "
                                          f"smirk:PATH with a camera or video source): {HOW_TO_MAKE}")
            renderer.prepare()
            if name == "auto":
                log.info("renderer auto -> %s", n)
            return renderer
        except RendererUnavailable as exc:
            if name != "auto" or (n == "portrait" and options.portrait.photo):
                raise  # asked for by name, or the user's own photo cannot be animated: say so, no stand-in
            reasons.append(f"{n}: {exc}")
            log.info("renderer %s unavailable: %s", n, exc)
    raise RendererUnavailable("no renderer can run here: " + "; ".join(reasons))


__all__ = ["Renderer", "RendererUnavailable", "RenderOptions", "PortraitOptions", "DiffusionOptions", "Background",
           "parse_background", "create_renderer", "RENDERER_NAMES"]
