"""Build hook: the wheel carries the archive's default stage as package data, ``facessd_archive/_seed/``.

The repository root is an archive (``archive.json``, ``keypoints/``, ``SSD/``). At build time the
stage that ``archive.json`` names as default (its ``stage.json``, ``README.md`` and every file its
manifest lists) and an ``archive.json`` naming it are copied into the built package, so an
installed ``facessd`` can seed its per-user archive without a network (see
``facessd_archive/archive/location.py``). Nothing is duplicated in git; an sdist carries the same
files at the same paths so that a wheel built from it gets them too. Editable installs skip this:
they seed from the checkout itself. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
PACKAGE = "facessd_archive"
SEED_DIR = "_seed"  # facessd_archive/archive/location.py: SEED_DIR_NAME
INDEX = "archive.json"


def seed_files(root: Path) -> list[str]:
    """``archive.json`` and the default stage's files, as paths relative to ``root`` (the archive root)."""
    index_path = root / INDEX
    if not index_path.is_file():
        raise SystemExit(f"cannot build facessd-archive: no {INDEX} at {root} (the repository root is the archive)")
    stage_id = json.loads(index_path.read_text(encoding="utf-8")).get("default_stage")
    if not stage_id:
        raise SystemExit(f"cannot build facessd-archive: {index_path} names no default_stage to ship")
    manifest = json.loads((root / stage_id / "stage.json").read_text(encoding="utf-8"))
    names = ["stage.json", "README.md"] + [entry["path"] for entry in manifest["files"]]
    files = [INDEX] + [f"{stage_id}/{name}" for name in names]
    for rel in files:
        path = root / rel
        if path.is_symlink() or not path.is_file():
            raise SystemExit(f"cannot build facessd-archive: {path} (of the default stage) is missing or a link")
    return files


def _copy(files: list[str], source: Path, dest: Path) -> None:
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target)


class BuildPyWithSeed(build_py):
    """build_py, then ``<build_lib>/facessd_archive/_seed/`` (replaced whole, so no stale stage ships)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        seed = Path(self.build_lib) / PACKAGE / SEED_DIR
        shutil.rmtree(seed, ignore_errors=True)
        _copy(seed_files(ROOT), ROOT, seed)


class SdistWithSeed(sdist):
    """sdist, plus ``archive.json`` and the default stage at their archive paths."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _copy(seed_files(ROOT), ROOT, Path(base_dir))


setup(cmdclass={"build_py": BuildPyWithSeed, "sdist": SdistWithSeed})
