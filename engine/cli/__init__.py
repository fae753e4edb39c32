"""The ``facecast`` command line: the top of the house. It imports the library; nothing in the
library imports it. ``main.py`` builds the parser, ``options.py`` holds what several commands share,
and each other module is one command group."""

from facecast.engine.cli.main import build_parser, main


__all__ = ["build_parser", "main"]
