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


def test_unity_package_has_meta_files():
    """Unity ignores assets without .meta files in a git-installed (immutable) package."""
    import subprocess
    import sys
    result = subprocess.run([sys.executable, str(ROOT / "unity_plugin/Tools~/make_meta.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    guids = [p.read_text().split("guid: ")[1].split()[0] for p in (ROOT / "unity_plugin").rglob("*.meta")]
    assert len(guids) == len(set(guids)) > 20
