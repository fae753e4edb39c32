"""The Unity package's NUnit tests (unity_plugin/Tests/Runtime, run in Unity by its Test Runner) compiled
with Mono's mcs against the UnityEngine-free core and run by the NUnit 2.6 console runner
(unity_plugin/Tests/Cli~/nunit.sh): every test the sources declare ran, and none failed."""

import glob
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "unity_plugin/Tests/Runtime"
SCRIPT = ROOT / "unity_plugin/Tests/Cli~/nunit.sh"


def declared_tests() -> tuple[int, set[str]]:
    """How many test cases the sources declare ([Test] methods plus [TestCase] rows), and their
    methods as 'Class.Method'."""
    count, methods = 0, set()
    for path in sorted(TESTS.glob("*.cs")):
        text = path.read_text()
        classes = re.findall(r"\bclass\s+(\w+)", text)
        assert len(classes) == 1, f"{path.name}: one test class per file"
        for attrs, method in re.findall(r"((?:\[[^\]]*\]\s*)+)public\s+void\s+(\w+)", text):
            # [Test], [TestCase(...)] (one case each), also inside a list such as [Test, Ignore("...")]
            n = len(re.findall(r"(?:\[|,)\s*Test(?:Case)?\s*(?:[\](,]|$)", attrs))
            if n:
                count += n
                methods.add(f"{classes[0]}.{method}")
    return count, methods


def test_unity_nunit_tests_run_and_pass(tmp_path):
    for tool, package in (("mcs", "mono-mcs"), ("mono", "mono-runtime"), ("nunit-console", "nunit-console")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; run 'make sysdeps' (Debian: {package})")
    if not glob.glob("/usr/lib/cli/nunit.framework-2.6*/nunit.framework.dll"):
        pytest.fail("NUnit 2.6's nunit.framework.dll is not installed; run 'make sysdeps' (Debian: libnunit-cil-dev)")
    expected, methods = declared_tests()
    assert expected > 0 and methods, f"no [Test] found in {TESTS}"

    result = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    report = tmp_path / "TestResult.xml"
    assert report.exists(), f"the NUnit runner wrote no result (exit {result.returncode}):\n{output}"
    assert not re.search(r"warning CS\d+", output), output  # a compiler warning (mcs -warnaserror+ also fails on one)

    root = ET.parse(report).getroot()
    cases = root.iter("test-case")
    ran = {c.get("name"): c for c in cases if c.get("executed") == "True"}
    failed = {n: c.get("result") for n, c in ran.items() if c.get("success") != "True"}
    summary = {k: int(root.get(k)) for k in ("total", "errors", "failures", "not-run", "ignored", "skipped", "invalid")}
    assert not failed, f"NUnit tests failed: {failed}\n{output}"
    assert summary["errors"] == summary["failures"] == summary["not-run"] == summary["invalid"] == 0, (summary, output)
    assert summary["total"] == len(ran) == expected, (summary, len(ran), expected, output)
    ran_methods = {".".join(name.split("(")[0].split(".")[-2:]) for name in ran}
    assert ran_methods == methods, f"declared but not run: {methods - ran_methods}; run but not found: {ran_methods - methods}"
    assert result.returncode == 0, output
