"""The README is a front door: short, and every command it shows is one that ``facecast`` accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from facecast.engine.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def shown_commands(text: str) -> list[list[str]]:
    """The command lines of the README's shell blocks, comments removed, split as a shell would."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():  # continuation lines joined
            line = line.split(" #", 1)[0].strip()
            if line:
                commands.append(shlex.split(line))
    return commands


def test_readme_is_short():
    assert README.stat().st_size < 12_000


def test_readme_states_the_import_names_on_its_first_screen():
    first_screen = "\n".join(README.read_text().splitlines()[:25])
    for name, folder in (("facecast.engine", "engine/"), ("facecast.bridge", "bridge/"),
                         ("facecast.calibration", "calibration/")):
        assert f"`{name}`" in first_screen and f"`{folder}`" in first_screen


def test_every_command_the_readme_shows_parses():
    commands = shown_commands(README.read_text())
    facecast = [c for c in commands if Path(c[0]).name == "facecast"]
    make = [c for c in commands if c[0] == "make"]
    pip = [c for c in commands if Path(c[0]).name == "pip"]
    assert len(facecast) >= 3 and len(make) >= 2 and len(facecast) + len(make) + len(pip) == len(commands)
    extras = set(re.findall(r"^([a-z-]+) = \[", (REPO / "pyproject.toml").read_text(), flags=re.M))
    for command in pip:  # pip install -e '.[EXTRA]': an extra pyproject.toml defines
        wanted = re.fullmatch(r"\.\[([a-z,-]+)\]", command[-1].strip("'\""))
        assert command[1:3] == ["install", "-e"] and wanted, command
        assert set(wanted.group(1).split(",")) <= extras, command
    parser = build_parser()
    for command in facecast:
        try:
            parser.parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"the README shows a command facecast refuses: {' '.join(command)}")
    targets = set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), flags=re.M))
    assert {c[1] for c in make} <= targets


def test_the_check_catches_a_wrong_command():
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(shown_commands("```sh\nfacecast run --sorce demo\n```")[0][1:])


@pytest.mark.parametrize("page", sorted((REPO / "docs").glob("*.md")), ids=lambda p: p.name)
def test_the_docs_facecast_commands_parse(page):
    parser = build_parser()
    text = page.read_text().replace("```bash\n", "```sh\n")
    for command in shown_commands(text):
        if Path(command[0]).name != "facecast" or "|" in command or "..." in " ".join(command):
            continue
        try:
            parser.parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"{page.name} shows a command facecast refuses: {' '.join(command)}")
