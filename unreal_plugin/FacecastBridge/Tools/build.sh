#!/usr/bin/env bash
# Builds the plugin's transport core (no Unreal types) and its command-line harness with g++.
#   bash build.sh OUTDIR   ->   OUTDIR/facecast_client_cli
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../Source/FacecastBridge"
out="${1:?usage: build.sh OUTDIR}"
mkdir -p "$out"
g++ -std=c++17 -O2 -Wall -Wextra -pthread -I"$src/Public" \
  "$src/Private/Transport/FacecastProtocol.cpp" "$src/Private/Transport/FacecastZmtpClient.cpp" \
  "$here/facecast_client_cli.cpp" -o "$out/facecast_client_cli"
