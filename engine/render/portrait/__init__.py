"""``portrait``: the embedded CPU renderer. One photo, animated in real time.

Data flow per session (:meth:`PortraitRenderer.prepare`): photo -> landmarks
(:mod:`.rig`, tracked once and cached) -> face-centred crop -> warp mesh
(:mod:`.mesh`) -> displacement fields (:mod:`.fields`) -> :class:`~.deform.Deformer`.

Per frame (:meth:`PortraitRenderer.render`): weights + head -> mesh pose
(:mod:`.deform`, with the fold guard) -> compiled warp (:mod:`.raster`).
"""

from facecast.engine.render.portrait.renderer import PortraitRenderer

__all__ = ["PortraitRenderer"]
