"""The pyproject lists every subpackage (the folders map into the facecast namespace)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for top, pkg in ((d, f"facecast.{d}") for d in ("engine", "bridge", "calibration")):
        assert cfg["package-dir"][pkg] == top
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([pkg, *rel.parts]))
    assert found == listed, f"pyproject packages differ: missing {found - listed}, extra {listed - found}"


def test_layout():
    for item in ("pyproject.toml", "README.md", "Makefile", "engine", "bridge", "calibration",
                 "unity_plugin", "unreal_plugin", "tests", "bench", ".ci/run", "bridge/PROTOCOL.md"):
        assert (ROOT / item).exists(), item
