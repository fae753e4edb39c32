"""Writes the Unity .meta files of this package (Unity ignores assets without one in an immutable,
git-installed package). GUIDs are derived from the path, so re-running changes nothing.

    python "unity_plugin/Tools~/make_meta.py"          # write missing .meta files
    python "unity_plugin/Tools~/make_meta.py" --check  # exit 1 if any is missing or stale
"""

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORTERS = {".cs": "MonoImporter", ".asmdef": "AssemblyDefinitionImporter", ".md": "TextScriptImporter",
             ".json": "TextScriptImporter"}
MONO_EXTRA = ("  serializedVersion: 2\n  defaultReferences: []\n  executionOrder: 0\n"
              "  icon: {instanceID: 0}\n")


def wanted() -> list[Path]:
    """Every file and folder Unity imports: not hidden, not ending in '~', not .meta, not this tool."""
    out = []
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if any(p.startswith(".") or p.endswith("~") for p in rel.parts) or path.suffix == ".meta":
            continue
        if path == Path(__file__).resolve():
            continue
        out.append(path)
    return out


def meta_text(path: Path) -> str:
    guid = hashlib.md5(("facecast-unity/" + path.relative_to(ROOT).as_posix()).encode()).hexdigest()
    if path.is_dir():
        importer, extra, folder = "DefaultImporter", "", "folderAsset: yes\n"
    else:
        importer = IMPORTERS.get(path.suffix, "DefaultImporter")
        if path.name == "package.json":
            importer = "PackageManifestImporter"
        extra, folder = (MONO_EXTRA if importer == "MonoImporter" else ""), ""
    return (f"fileFormatVersion: 2\nguid: {guid}\n{folder}{importer}:\n  externalObjects: {{}}\n{extra}"
            "  userData: \n  assetBundleName: \n  assetBundleVariant: \n")


def main() -> int:
    check = "--check" in sys.argv
    bad = []
    for path in wanted():
        meta = path.with_name(path.name + ".meta")
        text = meta_text(path)
        if meta.exists() and meta.read_text() == text:
            continue
        if check:
            bad.append(str(meta.relative_to(ROOT)))
        else:
            meta.write_text(text)
    if bad:
        print("missing or stale .meta files (run: python 'unity_plugin/Tools~/make_meta.py'):\n  " + "\n  ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
