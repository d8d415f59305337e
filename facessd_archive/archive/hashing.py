"""Streamed sha256 of files and of canonical JSON (the stage content hash)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

CHUNK = 1 << 20


def sha256_file(path: str | Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def copy_and_hash(source: str | Path, target: str | Path) -> tuple[int, str]:
    """Copy ``source`` to a new file ``target`` (fsynced), returning the (size, sha256) of the bytes written."""
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as fin, open(target, "xb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return size, digest.hexdigest()


def canonical_json(obj: Any) -> bytes:
    """JSON with sorted keys and no whitespace: the same object always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def sha256_tree(root: str | Path, names: Iterable[str] | None = None) -> str:
    """One sha256 for a set of files (a benchmark, a data set): over ``[[relative path, sha256], ...]``
    sorted by path, as canonical JSON. ``names`` (relative paths) defaults to every regular file
    under ``root`` (symlinks and hidden files skipped). Renaming, adding or changing a file changes it."""
    root = Path(root)
    if names is None:
        names = [p.relative_to(root).as_posix() for p in root.rglob("*")
                 if p.is_file() and not p.is_symlink()
                 and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    table = sorted([name, sha256_file(root / name)[1]] for name in names)
    return sha256_json(table)
