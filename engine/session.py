"""One session builder for ``run``, ``render`` and ``eval`` alike: the retarget stage (its profile and
ARKit -> FLAME map) and the renderer, made from one picklable :class:`SessionSpec`.

The retarget stage owns the FLAME: the renderer receives :class:`~facecast.engine.types.FlameParams`
and never loads a map. They come from an ARKit -> FLAME map (``--flame-map``), or from the source
itself (``--flame smirk:PATH``: SMIRK on the camera's frames, the map skipped). A renderer that needs
FLAME parameters is refused, before it loads anything, when the session has neither. A map used with
another tracker's blendshapes, or another calibration profile, than it was fitted on is warned about.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from facecast.engine.render import Renderer, RenderOptions, create_renderer
from facecast.engine.retarget import FlameMap, Retargeter
from facecast.engine.retarget.flame import LinearFlameMap, MappingError, SourceFlame
from facecast.engine.retarget.profile import Profile, load_profile
from facecast.engine.retarget.steps import profile_steps

log = logging.getLogger(__name__)


class SessionError(ValueError):
    """The profile or the FLAME map named in a :class:`SessionSpec` cannot be used; the message says why."""


@dataclass(frozen=True)
class SessionSpec:
    """What a session retargets and renders with. Picklable: a Ray worker builds its own session from it.

    Attributes:
        renderer: a name of :data:`~facecast.engine.render.RENDERER_NAMES`.
        options: the renderer's options.
        flame_map: an ARKit -> FLAME mapping file (``facecast calibrate fit-mapping``); None: no map.
        flame_from_source: the source estimates FLAME itself (``--flame smirk:PATH``): the retarget stage
            passes the samples' own FLAME on, no map.
        profile: a calibration profile name or path (``facecast calibrate``); None: no profile.
        neutral_ease_s: seconds to ease to neutral when the face is lost; None: the profile's value.
        tracker: whose blendshapes the source gives (:func:`facecast.engine.sources.family.tracker_of`),
            to check the map against; None: not checked.
    """

    renderer: str = "auto"
    options: RenderOptions = RenderOptions()
    flame_map: Optional[str] = None
    flame_from_source: bool = False
    profile: Optional[str] = None
    neutral_ease_s: Optional[float] = None
    tracker: Optional[str] = None

    def load_flame_map(self) -> Optional[LinearFlameMap]:
        """The session's FLAME map, or None without one. Raises :class:`SessionError`."""
        if self.flame_map is None:
            return None
        if self.flame_from_source:
            raise SessionError("--flame-map and --flame smirk: both give FLAME parameters; choose one")
        try:
            return LinearFlameMap.load(self.flame_map)
        except MappingError as exc:
            raise SessionError(str(exc)) from None

    def load_profile(self) -> Optional[Profile]:
        """The session's calibration profile, or None. Raises :class:`SessionError`."""
        if self.profile is None:
            return None
        try:
            return load_profile(self.profile)
        except (FileNotFoundError, ValueError) as exc:
            raise SessionError(str(exc)) from None

    def retargeter(self, flame_map: Optional[FlameMap] = None, profile: Optional[Profile] = None) -> Retargeter:
        """The retarget stage: the profile's steps, then ``flame_map``. Raises :class:`SessionError`."""
        profile = profile if profile is not None else self.load_profile()
        return Retargeter(steps=profile_steps(profile, neutral_ease_s=self.neutral_ease_s), flame_map=flame_map)

    def open(self) -> "Session":
        """Load the map and profile, then create and prepare the renderer.

        Raises:
            SessionError: the profile or map cannot be used.
            RendererUnavailable: the renderer cannot run here (the message says why).
            ValueError: an output option no renderer can meet.
        """
        flame_map = self.load_flame_map()
        profile = self.load_profile()
        if flame_map is not None:
            profile_name = profile.name if profile is not None else (Path(self.profile).stem if self.profile else None)
            for why in flame_map.mismatches(tracker=self.tracker, profile=profile_name):
                log.warning("the FLAME map %s may not fit: %s; refit it for this setup ('facecast calibrate "
                            "make-pairs' then 'fit-mapping')", self.flame_map, why)
        flame: Optional[FlameMap] = SourceFlame() if self.flame_from_source else flame_map
        retargeter = self.retargeter(flame, profile)
        renderer = create_renderer(self.renderer, self.options, flame_available=flame is not None)
        return Session(renderer=renderer, retargeter=retargeter, flame_map=flame)


@dataclass
class Session:
    """A prepared renderer (None for ``none``) and the retarget stage that feeds it.

    Attributes:
        flame_map: where the retarget stage's FLAME comes from: the ARKit -> FLAME map, the source's
            own estimate (:class:`~facecast.engine.retarget.flame.SourceFlame`), or None.
    """

    renderer: Optional[Renderer]
    retargeter: Retargeter
    flame_map: Optional[FlameMap] = None

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
