"""Content digests of model files, for the caches that depend on weights (an identity's prompt
embeddings, its reference bank): two folders with the same files share a cache entry, and a file
changed in place invalidates it.

Hashing a 500 MB file takes about a second, so each file's digest is remembered in
``<cache>/digests.json`` under its path, size and modification time, and hashed again only when one
of them changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from facecast.engine.accel.cache import file_sha256
from facecast.engine.paths import cache_dir

def _memo_path() -> Path:
    return cache_dir() / "digests.json"


def file_digest(path: Path) -> str:
    """SHA-256 of ``path``'s bytes (hex), memoised by path, size and modification time."""
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    memo_file = _memo_path()
    try:
        memo = json.loads(memo_file.read_text())
        memo = memo if isinstance(memo, dict) else {}
    except (OSError, ValueError):
        memo = {}
    if key in memo:
        return memo[key]
    digest = file_sha256(path)
    # drop this file's stale entries and those of files that are gone
    memo = {k: v for k, v in memo.items() if not k.startswith(f"{path}|") and Path(k.split("|")[0]).exists()}
    memo[key] = digest
    try:
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_file.with_name(f".{memo_file.name}.{os.getpid()}")
        tmp.write_text(json.dumps(memo, indent=0))
        tmp.replace(memo_file)
    except OSError:  # a read-only cache: the digest is still right, only not remembered
        pass
    return memo[key]


def files_digest(paths: Iterable[Path]) -> str:
    """One digest of several files' contents, in the given order (names do not count)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(file_digest(p).encode())
    return h.hexdigest()
