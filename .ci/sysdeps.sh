#!/usr/bin/env bash
# System packages the test suite needs (Debian): the C# compiler and runtime for the Unity
# package's core (mono-mcs), g++ for the Unreal plugin's core, and MinGW-w64 to check that the
# core's Winsock branch compiles for Windows, and NUnit 2.6 (console runner and framework) for the
# Unity package's NUnit tests (tests/test_unity_nunit.py), and Chromium, which the studio's tests drive
# headless through Playwright (tests/test_studio.py; Playwright's own browser download is not used), and
# espeak-ng, the speech synthesiser whose speech the lip-sync tests analyse (tests/test_lipsync.py), and
# PortAudio (libportaudio2), which the microphone input loads through sounddevice.
# Installs only what is missing.
set -euo pipefail
need=()
command -v mcs >/dev/null 2>&1 || need+=(mono-mcs)
command -v mono >/dev/null 2>&1 || need+=(mono-runtime)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v x86_64-w64-mingw32-g++-posix >/dev/null 2>&1 || need+=(g++-mingw-w64-x86-64-posix)
command -v nunit-console >/dev/null 2>&1 || need+=(nunit-console)
ls /usr/lib/cli/nunit.framework-2.6*/nunit.framework.dll >/dev/null 2>&1 || need+=(libnunit-cil-dev)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
ldconfig -p 2>/dev/null | grep -q libportaudio.so.2 || need+=(libportaudio2)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
