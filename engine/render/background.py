"""What a renderer puts behind the person: ``--background keep|transparent|COLOR``.

- ``keep``: the picture as drawn (the photo's own background);
- ``transparent``: a real alpha matte of the person (frames need an alpha channel: ``rgba8`` or ``bgra8``);
- a colour, ``#rrggbb`` or one of :data:`NAMED_COLOURS` (``green`` for a chroma key): the person over it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

#: Colour names accepted besides ``#rrggbb``: chroma-key colours, and black and white.
NAMED_COLOURS = {"green": (0, 255, 0), "blue": (0, 0, 255), "magenta": (255, 0, 255), "black": (0, 0, 0),
                 "white": (255, 255, 255)}
BACKGROUND_HELP = ("keep (the photo's own), transparent (an alpha matte of the person; needs --format rgba8 or "
                   f"bgra8) or a colour: #rrggbb or {', '.join(NAMED_COLOURS)}")
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


@dataclass(frozen=True)
class Background:
    """A parsed background: ``kind`` is ``keep``, ``transparent`` or ``colour`` (then ``rgb`` is set)."""

    kind: str = "keep"
    rgb: Optional[tuple[int, int, int]] = None

    @property
    def keep(self) -> bool:
        return self.kind == "keep"

    @property
    def transparent(self) -> bool:
        return self.kind == "transparent"

    def __str__(self) -> str:
        return "#%02x%02x%02x" % self.rgb if self.kind == "colour" else self.kind


KEEP = Background()
TRANSPARENT = Background("transparent")


def parse_background(text: str) -> Background:
    """``keep``, ``transparent``, ``#rrggbb`` (or ``rrggbb``) or a name of :data:`NAMED_COLOURS`.

    Raises:
        ValueError: anything else; the message lists what is accepted.
    """
    value = (text or "").strip().lower()
    if value in ("keep", "transparent"):
        return Background(value)
    if value in NAMED_COLOURS:
        return Background("colour", NAMED_COLOURS[value])
    m = _HEX.fullmatch(value)
    if m:
        h = m.group(1)
        return Background("colour", (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)))
    raise ValueError(f"background {text!r} is not one of: {BACKGROUND_HELP}")


def check_background(background: Background, pixel_format) -> None:
    """Raise ValueError when frames of ``pixel_format`` (a :class:`~facecast.engine.types.PixelFormat`) cannot
    carry ``background``: a transparent one needs an alpha channel."""
    if background.transparent and pixel_format.channels != 4:
        raise ValueError(f"--background transparent needs frames with an alpha channel: use --format rgba8 or bgra8 "
                         f"(not {pixel_format.value}), or a colour such as --background green")
