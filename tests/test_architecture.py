"""The import graph has one direction of travel (issue: "a house with one direction of travel").

Every ``facecast`` module's imports of other ``facecast`` modules, at any depth of the file (imports
inside functions count), are read from the source with :mod:`ast`. Each module belongs to one
package group, and the groups are stacked in :data:`LAYERS`, bottom first: a module may import its
own group and any group of a lower layer, never a group of its own layer or above. So there is no
cycle between groups, ``accel`` never imports ``render``, and nothing imports ``cli``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"engine": "facecast.engine", "bridge": "facecast.bridge", "calibration": "facecast.calibration"}

#: Bottom to top. A group may import only groups of lower layers (and itself).
LAYERS = (
    ("core",),                                     # types and the small shared helpers
    ("face",),                                     # face vision the stages share
    ("sources", "retarget", "bridge", "accel", "outputs"),  # the stages beside the renderer, side by side
    ("lipsync",),                                  # sources/lipsync: an audio source smoothed with retarget's
                                                   # One Euro filter, the tracker's own smoothing family
    ("render",),
    ("session",),                                  # builds the retarget stage and the renderer together
    ("loop", "offline"),                           # what runs the stages, live and offline
    ("eval",),                                     # facecast eval: measures renderers
    ("calibration",),                              # tools that produce profiles, mappings and gains
    ("studio",),                                   # the web app around the live loop (it runs calibrations)
    ("cli",),                                      # the command line, on top
)
CORE = {"types", "paths", "diagnostics", "progress", "media", "mailbox"}


def group(module: str) -> str:
    parts = module.split(".")[1:]
    if parts[0] == "engine":
        if len(parts) == 1 or parts[1] in CORE:
            return "core"
        if parts[1:3] == ["sources", "lipsync"]:
            return "lipsync"
        return parts[1]
    if parts[0] == "calibration" and len(parts) > 1 and parts[1] == "eval":
        return "eval"
    return parts[0]


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO / folder).with_suffix("")
            out[".".join([package, *(p for p in rel.parts if p != "__init__")])] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The facecast modules ``name`` imports, resolved to modules that exist."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("facecast.") and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


LAYER_OF = {g: i for i, layer in enumerate(LAYERS) for g in layer}


def test_every_module_has_a_layer():
    unknown = {group(m) for m in modules()} - set(LAYER_OF)
    assert not unknown, f"groups without a layer in LAYERS: {sorted(unknown)}"


def violations(g: dict[str, set[str]]) -> list[str]:
    """Each import of a group of the same or a higher layer, as a line."""
    wrong = []
    for name, targets in g.items():
        a = group(name)
        for target in sorted(targets):
            b = group(target)
            if b != a and LAYER_OF[b] >= LAYER_OF[a]:
                wrong.append(f"{name} ({a}, layer {LAYER_OF[a]}) imports {target} ({b}, layer {LAYER_OF[b]})")
    return wrong


def test_imports_go_one_way_only():
    wrong = violations(graph())
    assert not wrong, "imports against the direction of travel:\n" + "\n".join(wrong)


def test_nothing_below_the_command_line_imports_it():
    users = [n for n, ts in graph().items() if group(n) != "cli" and any(group(t) == "cli" for t in ts)]
    assert not users


def test_acceleration_imports_no_renderer():
    assert not [n for n, ts in graph().items() if group(n) == "accel" and any(group(t) == "render" for t in ts)]


@pytest.mark.parametrize("where, planted", [
    ("facecast.engine.retarget.steps", "from facecast.engine.render.base import Renderer"),  # sideways-up
    ("facecast.engine.accel.base", "from facecast.engine.render.diffusion import step"),    # accel -> render
    ("facecast.engine.loop", "import facecast.engine.cli.options"),                         # into the CLI
    ("facecast.engine.sources.demo", "from facecast.engine.retarget import Retargeter"),     # same layer
])
def test_the_check_catches_a_planted_import(where, planted, tmp_path):
    """The same check on a copy of one module with one bad import planted inside a function."""
    known = modules()
    copy = tmp_path / "planted.py"
    copy.write_text(known[where].read_text() + f"\n\ndef _planted():\n    {planted}\n")
    g = graph()
    g[where] = imports(where, copy, known)
    found = violations(g)
    assert found and all(v.startswith(where + " ") for v in found)
