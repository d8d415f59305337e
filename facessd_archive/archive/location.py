"""Which archive a command uses, and the per-user archive seeded from the stage this package ships.

The rule, applied when a command runs (never at import), first match wins:

1. ``--archive DIR`` (``open_archive(root)``);
2. ``$FACESSD_ARCHIVE``;
3. the checkout the current folder is in: the nearest of the current folder and its parents
   that holds ``archive.json`` (the repository root is an archive);
4. the per-user archive, ``facessd-archive`` under the platform's user data folder
   (``$XDG_DATA_HOME``, else ``~/.local/share`` on Linux; ``~/Library/Application Support`` on
   macOS; ``%LOCALAPPDATA%`` on Windows). If it has no ``archive.json`` yet it is seeded: the
   default stage that ships inside the wheel (``facessd_archive/_seed/``, put there by
   ``setup.py``) is installed into it, every file checked against the stage's sha256, and
   ``archive.json`` names it the default. An editable install has no ``_seed/``; it seeds from
   its own checkout's files instead.

A folder given by 1 or 2 is used as it is (it may not exist yet: then it has no stages).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import facessd_archive
from facessd_archive.archive.index import ARCHIVE_INDEX, ArchiveIndex, read_index, write_index
from facessd_archive.archive.manifest import Manifest
from facessd_archive.archive.paths import STAGE_MANIFEST, is_regular_file, safe_join
from facessd_archive.archive.sealing import Archive
from facessd_archive.errors import ArchiveError, StageExistsError

ENV_ARCHIVE = "FACESSD_ARCHIVE"
APP_DIR_NAME = "facessd-archive"
SEED_DIR_NAME = "_seed"  # inside the installed package; setup.py's build_py writes it


def open_archive(root: str | Path | None = None) -> Archive:
    """The archive a command uses: ``root`` if given, else the rule in this module's docstring."""
    return Archive(resolve_archive_root(root))


def resolve_archive_root(root: str | Path | None = None) -> Path:
    """The folder of the archive in use (see the module docstring); seeds the per-user archive on first use."""
    if root is not None and str(root) != "":
        return Path(root)
    env = os.environ.get(ENV_ARCHIVE)
    if env:
        return Path(env).expanduser()
    checkout = enclosing_archive(Path.cwd())
    if checkout is not None:
        return checkout
    user = user_archive_dir()
    if not is_regular_file(user / ARCHIVE_INDEX):
        source = seed_source()
        if source is None:
            raise ArchiveError(f"no archive: pass --archive DIR, set {ENV_ARCHIVE}, or run inside a checkout "
                               f"(this installation ships no default stage to seed {user} with)")
        seed_archive(user, source)
    return user


def enclosing_archive(start: Path) -> Path | None:
    """The nearest of ``start`` and its parents holding ``archive.json`` (None if none does)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if is_regular_file(folder / ARCHIVE_INDEX):
            return folder
    return None


def user_archive_dir() -> Path:
    """``facessd-archive`` in the platform's per-user data folder (read from the environment now)."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else home / ".local" / "share"  # the XDG spec ignores relative
    return base / APP_DIR_NAME


def packaged_seed() -> Path | None:
    """``facessd_archive/_seed/`` (an ``archive.json`` and the default stage) if this is a built install."""
    seed = Path(facessd_archive.__file__).resolve().parent / SEED_DIR_NAME
    return seed if is_regular_file(seed / ARCHIVE_INDEX) else None


def source_checkout() -> Path | None:
    """The repository this package runs from (an editable install), if its root is an archive."""
    root = Path(facessd_archive.__file__).resolve().parents[1]
    return root if is_regular_file(root / ARCHIVE_INDEX) and (root / "pyproject.toml").is_file() else None


def seed_source() -> Path | None:
    """Where the per-user archive is seeded from: the wheel's ``_seed/``, else the source checkout."""
    return packaged_seed() or source_checkout()


def seed_archive(dest: Path, source: Path) -> str:
    """Install the default stage of the archive ``source`` into ``dest`` and name it the default there.

    The stage's files are copied and checked against its manifest (IntegrityError on a mismatch);
    a stage already at that id in ``dest`` is kept, and an existing ``archive.json`` is not
    changed. Safe against a second process seeding at the same time. Returns the stage id.
    """
    stage_id = read_index(source).default_stage
    if stage_id is None:
        raise ArchiveError(f"{source / ARCHIVE_INDEX}: no default_stage to seed {dest} with")
    folder = safe_join(source, stage_id)
    manifest = Manifest.load(folder / STAGE_MANIFEST, source=f"{folder / STAGE_MANIFEST}")
    archive = Archive(dest)
    if not archive.exists(stage_id):
        try:
            archive.install(manifest, source_dir=folder, verbatim=True)
        except StageExistsError:
            if not archive.exists(stage_id):  # not another process seeding the same stage: a real clash
                raise
    if not is_regular_file(dest / ARCHIVE_INDEX):
        write_index(dest, ArchiveIndex(default_stage=stage_id))
    return stage_id
