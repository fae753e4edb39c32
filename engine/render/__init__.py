"""Renderers, one subfolder each, behind :class:`~facecast.engine.render.base.Renderer`.

| name | what it draws | needs |
|---|---|---|
| ``none`` | nothing: the parameter feed alone (format ``none``) | - |
| ``portrait`` | one photo animated by the 52 weights and the head pose, on a CPU | a portrait photo (default: scikit-image's astronaut) |
| ``testpattern`` | orientation markers and the 52 weights as bars, for wiring up clients | - |

``auto`` picks the best renderer that can run on this machine.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

from facecast.engine.render.base import RenderOptions, Renderer, RendererUnavailable
from facecast.engine.types import PixelFormat

log = logging.getLogger(__name__)


def _testpattern(options: RenderOptions) -> Renderer:
    from facecast.engine.render.testpattern import TestPatternRenderer
    return TestPatternRenderer(width=options.width, height=options.height, pixel_format=options.pixel_format)


def _portrait(options: RenderOptions) -> Renderer:
    from facecast.engine.render.portrait import PortraitRenderer
    from facecast.engine.render.portrait.rig import ASTRONAUT
    return PortraitRenderer(portrait=options.portrait or ASTRONAUT, gains=options.portrait_gains,
                            width=options.width, height=options.height, pixel_format=options.pixel_format)


#: name -> factory(options): each renderer takes from :class:`RenderOptions` what applies to it.
#: ``none`` is handled by :func:`create_renderer`.
_FACTORIES: dict[str, Callable[[RenderOptions], Renderer]] = {
    "portrait": _portrait,
    "testpattern": _testpattern,
}
#: Order in which ``auto`` tries renderers: best first.
_AUTO_ORDER = ("portrait", "testpattern")

RENDERER_NAMES = ("auto", "none", *_FACTORIES)


def create_renderer(name: str, *, width: int = 512, height: int = 512,
                    pixel_format: PixelFormat = PixelFormat.RGBA8, portrait: Optional[str] = None,
                    portrait_gains: Optional[str] = None) -> Optional[Renderer]:
    """Create and ``prepare()`` the renderer ``name``; None for ``none``.

    The keyword options are those of :class:`RenderOptions`.

    ``auto`` tries each renderer in quality order and takes the first that
    prepares, logging why the better ones could not run.

    Raises:
        RendererUnavailable: the named renderer cannot run here, or the name is unknown.
        ValueError: an output option no renderer can meet (size, format).
    """
    if name == "none":
        return None
    options = RenderOptions(width=width, height=height, pixel_format=PixelFormat(pixel_format),
                            portrait=portrait, portrait_gains=portrait_gains)
    names = _AUTO_ORDER if name == "auto" else (name,)
    if name != "auto" and name not in _FACTORIES:
        raise RendererUnavailable(f"unknown renderer {name!r}; choose one of {', '.join(RENDERER_NAMES)}")
    reasons = []
    for n in names:
        try:
            renderer = _FACTORIES[n](options)
            renderer.prepare()
            if name == "auto":
                log.info("renderer auto -> %s", n)
            return renderer
        except RendererUnavailable as exc:
            if name != "auto":
                raise
            reasons.append(f"{n}: {exc}")
            log.info("renderer %s unavailable: %s", n, exc)
    raise RendererUnavailable("no renderer can run here: " + "; ".join(reasons))


__all__ = ["Renderer", "RendererUnavailable", "RenderOptions", "create_renderer", "RENDERER_NAMES"]
