"""``facecast``: the one command-line entry point.

Each subcommand is a thin layer over the library: it parses options, builds the pieces, and turns
errors into one clear message and an exit code. Nothing in the library imports this package.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from facecast.engine.cli.accelerate import add_accelerate, add_doctor
from facecast.engine.cli.calibrate import add_calibrate
from facecast.engine.cli.eval import add_eval
from facecast.engine.cli.keys import add_keys
from facecast.engine.cli.live import add_demo, add_receive, add_run
from facecast.engine.cli.models import add_distill, add_enroll, add_models
from facecast.engine.cli.options import EXIT_USAGE, UserError
from facecast.engine.cli.portrait import add_portrait
from facecast.engine.cli.render import add_render
from facecast.engine.cli.studio import add_studio
from facecast.engine.diagnostics import TRACE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facecast",
        description="Real-time facial animation: face blendshapes in, a rendered face and its "
                    "parameters out over ZeroMQ to Unity, Unreal or your own client.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v debug, -vv per-frame trace)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_run, add_studio, add_receive, add_demo, add_keys, add_render, add_portrait, add_calibrate, add_eval,
                add_models, add_enroll, add_distill, add_accelerate, add_doctor):
        add(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.INFO, 1: logging.DEBUG}.get(args.verbose, TRACE)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


