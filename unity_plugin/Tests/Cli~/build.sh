#!/usr/bin/env bash
# Builds the package's transport core (Runtime/Internal, no UnityEngine) and its command-line
# harness with Mono's mcs.   bash build.sh OUTDIR   ->   OUTDIR/facecast_client_cli.exe, jpeg_decode_cli.exe
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUTDIR}"
mkdir -p "$out"
mcs -langversion:7.2 -optimize+ -warnaserror+ -nologo -out:"$out/facecast_client_cli.exe" \
  "$here"/../../Runtime/Internal/*.cs "$here/FacecastClientCli.cs"
mcs -langversion:7.2 -optimize+ -warnaserror+ -nologo -out:"$out/jpeg_decode_cli.exe" \
  "$here"/../../Runtime/Internal/*.cs "$here/JpegDecodeCli.cs"
