"""The portrait renderer with ``--background transparent`` or a colour: :class:`PortraitRenderer` plus its
:class:`~.matte.PortraitMatte`.

The matte is built once, after the renderer's own ``prepare()``, from the same rest portrait, mesh and rest
vertices; each frame it is warped to the mesh pose the renderer drew (the pose ``render`` asked
:meth:`PortraitRenderer.pose` for, kept here, so nothing is computed twice) and composited over the frame.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from facecast.engine.face.selfie_model import MatteModelError
from facecast.engine.render.background import Background
from facecast.engine.render.base import RendererUnavailable
from facecast.engine.render.portrait.deform import Pose
from facecast.engine.render.portrait.matte import PortraitMatte
from facecast.engine.render.portrait.renderer import PortraitRenderer
from facecast.engine.types import FaceSample, FlameParams


class MattedPortraitRenderer(PortraitRenderer):
    """:class:`PortraitRenderer` (same arguments) drawing the person over ``background``. ``render`` draws the
    pose it asks :meth:`pose` for; that pose's vertices are kept here and the matte warped to them.

    Raises (at ``prepare``):
        RendererUnavailable: the segmentation model cannot be had (the message says how to get it).
    """

    def __init__(self, *, background: Background, **kwargs) -> None:
        super().__init__(**kwargs)
        if background.keep:
            raise ValueError("background 'keep' needs no matte: use PortraitRenderer")
        self.background = background
        self.matte: Optional[PortraitMatte] = None
        self._drawn: Optional[np.ndarray] = None  # the vertices of the pose the last frame was drawn with

    def prepare(self) -> None:
        super().prepare()
        if self.matte is not None:
            return
        try:
            self.matte = PortraitMatte.build(self.rig.image, rest=self.rest_vertices, triangles=self.mesh.triangles,
                                             kinds=self.mesh.kinds, background=self.background,
                                             pixel_format=self.pixel_format)
        except MatteModelError as exc:
            raise RendererUnavailable(str(exc)) from None

    def pose(self, sample: FaceSample) -> Pose:
        pose = super().pose(sample)
        self._drawn = pose.vertices
        return pose

    def render(self, sample: FaceSample, flame: Optional[FlameParams] = None) -> np.ndarray:
        out = super().render(sample, flame)
        if self.matte is not None:
            self.matte.apply(out, self._drawn)
        return out
