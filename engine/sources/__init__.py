"""Face sources: where face samples come from.

A source spec on the command line picks one:

| spec | source |
|---|---|
| ``demo`` | :class:`~facecast.engine.sources.demo.DemoSource`, a built-in looping script |
| ``csv:PATH`` | :class:`~facecast.engine.sources.livelink_csv.LiveLinkCsvSource`, Live Link Face CSV playback |
"""

from __future__ import annotations

from typing import Optional

from facecast.engine.sources.base import Emit, Source, SourceError


def open_source(spec: str, *, loop: bool = False, timecode_fps: Optional[float] = None) -> Source:
    """Create (not yet open) the source named by ``spec``.

    Raises:
        SourceError: the spec names no known source; the message lists the known ones.
    """
    kind, _, arg = spec.partition(":")
    if kind == "demo" and not arg:
        from facecast.engine.sources.demo import DemoSource
        return DemoSource()
    if kind == "csv" and arg:
        from facecast.engine.sources.livelink_csv import LiveLinkCsvSource
        return LiveLinkCsvSource(arg, loop=loop, timecode_fps=timecode_fps)
    raise SourceError(f"unknown source {spec!r}; known sources: demo, csv:PATH "
                      "(a Live Link Face CSV recording)")


__all__ = ["Emit", "Source", "SourceError", "open_source"]
