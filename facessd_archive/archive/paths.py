"""Safe names inside the archive: stage ids, file names, and the folders they map to.

Every stage id and file name comes from somewhere that could be hostile (a ``stage.json``
someone edited, a Hub repo's file listing), so each one is checked here before it touches
the disk: a relative POSIX path, no ``..``, no empty or hidden parts, no backslash, no
drive letter, and on disk no symlink anywhere between the archive root and the file.

- stage id: 2+ parts under ``keypoints/`` or ``SSD/``, e.g. ``keypoints/v1/v1_150x150_300K`` or ``SSD/v1/TPU``;
- file name: 1+ parts relative to its stage folder, e.g. ``weights.index`` or ``plots/pr.png``.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Iterable

from facessd_archive.errors import ArchiveError, UnsafePathError

# One path component: starts with a letter or digit (so never '.', '..' or hidden), then a
# conservative set of characters every filesystem and the Hub accept.
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")
MAX_PART_LENGTH = 128

# The top-level folders that hold stages, as in the original faceSSD repository and a Hub archive
# repo. Discovery walks only these, so a checkout's .venv/, runs/ or package are never searched.
STAGE_NAMESPACES = ("keypoints", "SSD")

STAGE_MANIFEST = "stage.json"
STAGE_CARD = "README.md"
RESERVED_FILES = (STAGE_MANIFEST, STAGE_CARD)


def _parts(path: str, what: str, min_parts: int) -> list[str]:
    if not isinstance(path, str) or not path:
        raise UnsafePathError(f"{what} must be a non-empty string, got {path!r}")
    if "\\" in path or "\x00" in path:
        raise UnsafePathError(f"{what} {path!r}: backslashes and NUL are not allowed")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise UnsafePathError(f"{what} {path!r} is absolute; it would escape the archive root")
    parts = path.split("/")
    if ".." in parts:
        raise UnsafePathError(f"{what} {path!r} contains '..'; it would escape the archive root")
    for part in parts:
        if not _PART.fullmatch(part) or len(part) > MAX_PART_LENGTH:
            raise UnsafePathError(f"{what} {path!r}: part {part!r} must match {_PART.pattern} "
                                  f"(at most {MAX_PART_LENGTH} characters)")
    if len(parts) < min_parts:
        raise UnsafePathError(f"{what} {path!r} needs at least {min_parts} parts (e.g. keypoints/v1/NAME)")
    return parts


def check_stage_id(stage_id: str) -> str:
    """Return ``stage_id`` if it is a safe relative path of 2+ parts under a stage namespace
    (``keypoints/...`` or ``SSD/...``), else raise UnsafePathError."""
    parts = _parts(stage_id, "stage id", 2)
    if parts[0] not in STAGE_NAMESPACES:
        raise UnsafePathError(f"stage id {stage_id!r} must start with one of {', '.join(STAGE_NAMESPACES)} "
                              f"(e.g. keypoints/v1/NAME)")
    return stage_id


def check_file_name(name: str) -> str:
    """Return ``name`` if it is a safe path inside a stage folder (not one of the reserved names)."""
    _parts(name, "file name", 1)
    if name in RESERVED_FILES:
        raise UnsafePathError(f"file name {name!r} is reserved for the archive's own files")
    return name


def check_repo_path(path: str) -> str:
    """A folder inside a Hub repo: '' (the repo root) or a safe relative path."""
    if path != "":
        _parts(path, "repo path", 1)
    return path


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative`` after checking that no existing component below ``root`` is a symlink.

    ``relative`` must already be a checked name (``check_stage_id`` / ``check_file_name``); this
    adds the on-disk half of the rule, so a symlink planted in the archive cannot redirect a read
    or a write outside it.
    """
    root = Path(root)
    current = root
    for part in relative.split("/"):
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break
        if stat.S_ISLNK(mode):
            raise UnsafePathError(f"{current} is a symlink; the archive does not follow links")
    return root.joinpath(*relative.split("/"))


def is_regular_file(path: Path) -> bool:
    """True for a regular file that is not a symlink."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def list_source_files(source: Path) -> dict[str, Path]:
    """Relative name -> path of every file to seal from ``source`` (sorted; symlinks refused)."""
    if not source.is_dir():
        raise ArchiveError(f"{source}: not a folder of stage files")
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        for d in list(dirnames):
            if (Path(dirpath) / d).is_symlink():
                raise UnsafePathError(f"{Path(dirpath) / d} is a symlink; seal real files only")
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(source).as_posix()
            if name.startswith(".") or rel in RESERVED_FILES:
                continue
            if not is_regular_file(path):
                raise UnsafePathError(f"{path} is a symlink or special file; seal real files only")
            found[check_file_name(rel)] = path
    return found


def list_stage_entries(folder: Path) -> Iterable[str]:
    """Relative names of every entry under a stage folder other than its manifest and card."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            rel = (Path(dirpath) / name).relative_to(folder).as_posix()
            if rel not in RESERVED_FILES:
                yield rel
