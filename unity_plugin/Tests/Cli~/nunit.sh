#!/usr/bin/env bash
# Compiles the package's NUnit tests (Tests/Runtime/*.cs, run in Unity by its Test Runner) with
# Mono's mcs against the UnityEngine-free core (Runtime/Internal/*.cs) and runs them with the NUnit
# 2.6 console runner (Debian: mono-mcs, nunit-console, libnunit-cil-dev; 'make sysdeps').
#   bash nunit.sh OUTDIR   ->   OUTDIR/Facecast.Tests.dll, OUTDIR/TestResult.xml (NUnit 2.6 format)
# Exit status: the runner's (0 when every test passed). tests/test_unity_nunit.py runs this.
#
# Shim: none is needed. The tests use only Facecast.Internal (no UnityEngine type) and the part of
# NUnit that 2.6 and Unity's NUnit 3 share ([Test], Assert, StringAssert, CollectionAssert). A test
# that used a UnityEngine type would fail here with mcs error CS0246: keep such logic in
# Runtime/Internal, or add the smallest stand-in under Tests/Shim~/ (compiled below when present).
# mcs also lacks some C# 7 features Unity's compiler has (local functions): the build says so.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pkg="$here/../.."
out="${1:?usage: nunit.sh OUTDIR}"
framework="${NUNIT_FRAMEWORK:-$(ls /usr/lib/cli/nunit.framework-2.6*/nunit.framework.dll 2>/dev/null | head -n 1)}"
if [ -z "$framework" ] || [ ! -f "$framework" ]; then
  echo "nunit.framework.dll (NUnit 2.6) not found; run 'make sysdeps' (Debian: libnunit-cil-dev)" >&2
  exit 2
fi
mkdir -p "$out"
shim=()
if [ -d "$pkg/Tests/Shim~" ]; then shim=("$pkg"/Tests/Shim~/*.cs); fi
mcs -langversion:7.2 -warnaserror+ -nologo -target:library -out:"$out/Facecast.Tests.dll" -r:"$framework" \
  "$pkg"/Runtime/Internal/*.cs "${shim[@]}" "$pkg"/Tests/Runtime/*.cs
cp "$framework" "$out/"
cd "$out"
nunit-console -nologo -noshadow -xml="$out/TestResult.xml" "$out/Facecast.Tests.dll"
