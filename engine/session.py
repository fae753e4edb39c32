"""One session builder for ``run``, ``render`` and ``eval`` alike: the retarget stage (its profile and
ARKit -> FLAME map) and the renderer, made from one picklable :class:`SessionSpec`.

The retarget stage owns the FLAME map: the renderer receives :class:`~facecast.engine.types.FlameParams`
and never loads a map. A renderer that needs FLAME parameters is refused, before it loads anything,
when the session has no map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from facecast.engine.render import Renderer, RenderOptions, create_renderer
from facecast.engine.retarget import Retargeter
from facecast.engine.retarget.flame import LinearFlameMap, MappingError
from facecast.engine.retarget.profile import load_profile
from facecast.engine.retarget.steps import profile_steps


class SessionError(ValueError):
    """The profile or the FLAME map named in a :class:`SessionSpec` cannot be used; the message says why."""


@dataclass(frozen=True)
class SessionSpec:
    """What a session retargets and renders with. Picklable: a Ray worker builds its own session from it.

    Attributes:
        renderer: a name of :data:`~facecast.engine.render.RENDERER_NAMES`.
        options: the renderer's options.
        flame_map: an ARKit -> FLAME mapping file (``facecast calibrate fit-mapping``); None: no FLAME.
        profile: a calibration profile name or path (``facecast calibrate``); None: no profile.
        neutral_ease_s: seconds to ease to neutral when the face is lost; None: the profile's value.
    """

    renderer: str = "auto"
    options: RenderOptions = RenderOptions()
    flame_map: Optional[str] = None
    profile: Optional[str] = None
    neutral_ease_s: Optional[float] = None

    def load_flame_map(self) -> Optional[LinearFlameMap]:
        """The session's FLAME map, or None without one. Raises :class:`SessionError`."""
        if self.flame_map is None:
            return None
        try:
            return LinearFlameMap.load(self.flame_map)
        except MappingError as exc:
            raise SessionError(str(exc)) from None

    def retargeter(self, flame_map: Optional[LinearFlameMap] = None) -> Retargeter:
        """The retarget stage: the profile's steps, then ``flame_map``. Raises :class:`SessionError`."""
        profile = None
        if self.profile is not None:
            try:
                profile = load_profile(self.profile)
            except (FileNotFoundError, ValueError) as exc:
                raise SessionError(str(exc)) from None
        return Retargeter(steps=profile_steps(profile, neutral_ease_s=self.neutral_ease_s), flame_map=flame_map)

    def open(self) -> "Session":
        """Load the map and profile, then create and prepare the renderer.

        Raises:
            SessionError: the profile or map cannot be used.
            RendererUnavailable: the renderer cannot run here (the message says why).
            ValueError: an output option no renderer can meet.
        """
        flame_map = self.load_flame_map()
        retargeter = self.retargeter(flame_map)
        renderer = create_renderer(self.renderer, self.options, flame_available=flame_map is not None)
        return Session(renderer=renderer, retargeter=retargeter, flame_map=flame_map)


@dataclass
class Session:
    """A prepared renderer (None for ``none``) and the retarget stage that feeds it."""

    renderer: Optional[Renderer]
    retargeter: Retargeter
    flame_map: Optional[LinearFlameMap] = None

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
