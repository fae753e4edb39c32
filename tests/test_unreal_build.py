"""The Unreal plugin's C++ as Unreal's build sees it, without Unreal (none is installed in CI): the
receiver header as UnrealHeaderTool's generated .gen.cpp compiles it, and the transport under MSVC's
windows.h min/max macros. The shims are in unreal_plugin/FacecastBridge/Tools/ (each has a README)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "unreal_plugin/FacecastBridge"
SOURCE = PLUGIN / "Source/FacecastBridge"
UE_SHIM = PLUGIN / "Tools/ue_shim"
MSVC_SHIM = PLUGIN / "Tools/msvc_shim"
TRANSPORT = [SOURCE / "Private/Transport/FacecastProtocol.cpp", SOURCE / "Private/Transport/FacecastZmtpClient.cpp"]

# The part of UHT's FacecastReceiverComponent.gen.cpp that C++ cares about here: it includes only the
# header, then defines hot reload's vtable-helper constructor and (the class declares none) the destructor.
# Both need every member's destructor, so each member type must be complete in the header, or own its
# object in a way that does not need it (the constructor alone is enough to fail).
GEN_CPP = """\
#include "UObject/GeneratedCppIncludes.h"
#include "FacecastReceiverComponent.h"

DEFINE_VTABLE_PTR_HELPER_CTOR(UFacecastReceiverComponent);
UFacecastReceiverComponent::~UFacecastReceiverComponent() {}
"""


def compiler(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run 'make sysdeps' (Debian: {package})")
    return path


def run(argv: list) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("std", ["c++17", "c++20"])
def test_receiver_header_compiles_as_the_generated_cpp_sees_it(tmp_path, std):
    """CI compiles the receiver header as UHT's generated file sees it."""
    gxx = compiler("g++", "g++")
    gen_cpp = tmp_path / "FacecastReceiverComponent.gen.cpp"
    gen_cpp.write_text(GEN_CPP)
    result = run([gxx, f"-std={std}", "-fsyntax-only", "-Wall", "-Wextra", "-DFACECASTBRIDGE_API=",
                  f"-I{UE_SHIM}", f"-I{SOURCE / 'Public'}", gen_cpp])
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr


@pytest.mark.parametrize("nominmax, has_macros", [(False, True), (True, False)])
def test_the_msvc_shim_defines_min_max_as_windows_h_does(tmp_path, nominmax, has_macros):
    """The emulation below is live: without NOMINMAX, <winsock2.h> leaves function-like min and max."""
    mingw = compiler("x86_64-w64-mingw32-g++-posix", "g++-mingw-w64-x86-64-posix")
    probe = tmp_path / "probe.cpp"
    probe.write_text(("#define NOMINMAX\n" if nominmax else "") + "#include <algorithm>\n#include <winsock2.h>\n"
                     "#if defined(min) != defined(max) || defined(min) != HAS_MACROS\n#error min/max: wrong\n#endif\n")
    result = run([mingw, "-std=c++17", "-fsyntax-only", f"-I{MSVC_SHIM}", f"-DHAS_MACROS={int(has_macros)}", probe])
    assert result.returncode == 0, result.stderr


def test_transport_compiles_with_windows_min_max_macros(tmp_path):
    """With macros emulating windows.h's min/max (MSVC, no NOMINMAX from the library), CI compiles the transport."""
    mingw = compiler("x86_64-w64-mingw32-g++-posix", "g++-mingw-w64-x86-64-posix")
    for source in TRANSPORT:
        result = run([mingw, "-std=c++17", "-O1", "-Wall", "-Wextra", f"-I{MSVC_SHIM}", f"-I{SOURCE / 'Public'}",
                      "-c", source, "-o", tmp_path / (source.stem + ".o")])
        assert result.returncode == 0 and "warning" not in result.stderr, f"{source.name}:\n{result.stderr}"
