"""The archive on disk, read: find stages, load them, and name the default stage.

Layout: ``ROOT/<stage id>/stage.json`` (+ ``README.md`` and the stage's files), e.g.
``keypoints/v1/v1_150x150_300K/stage.json``, and ``ROOT/archive.json`` naming the default
stage. Discovery walks only the stage namespaces (``keypoints/``, ``SSD/``) and skips hidden
and symlinked folders, so a half-written stage (``.NAME.sealing-XXXX``) is never seen.

Writing (sealing, installing, the updates a sealed stage allows) is ``sealing.Archive``, which
adds those to this reader; which folder a command uses is ``location.open_archive``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from facessd_archive.archive.index import ARCHIVE_INDEX, read_index
from facessd_archive.archive.manifest import Manifest
from facessd_archive.archive.paths import (STAGE_MANIFEST, STAGE_NAMESPACES, check_stage_id, is_regular_file,
                                           safe_join)
from facessd_archive.errors import ArchiveError, ManifestError, StageNotFoundError, UnsafePathError


@dataclass(frozen=True)
class Stage:
    """One stage as read from disk."""

    stage_id: str
    folder: Path
    manifest: Manifest

    @property
    def weights_in_folder(self) -> bool:
        return self.manifest.weights.in_folder


class ArchiveReader:
    """A folder of stages, read only. The root is used as given (it need not exist: then it has no stages)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    # --- discovery ----------------------------------------------------------------------------
    def scan(self) -> tuple[list[str], list[str]]:
        """(valid stage ids, problems) for every ``stage.json`` under the stage namespaces
        (``keypoints/``, ``SSD/``); hidden and symlinked folders are not entered, and a stage's own
        subfolders are not searched for more stages."""
        ids: list[str] = []
        problems: list[str] = []
        if not self.root.is_dir():
            return ids, problems
        for namespace in STAGE_NAMESPACES:
            top = self.root / namespace
            if top.is_symlink() or not top.is_dir():
                continue
            self._scan_namespace(top, ids, problems)
        return sorted(ids), problems

    def _scan_namespace(self, top: Path, ids: list[str], problems: list[str]) -> None:
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            if STAGE_MANIFEST not in filenames:
                continue
            rel = Path(dirpath).relative_to(self.root).as_posix()
            dirnames[:] = []
            try:
                check_stage_id(rel)
            except UnsafePathError as e:
                problems.append(f"{rel}/{STAGE_MANIFEST}: not a valid stage folder ({e})")
                continue
            if not is_regular_file(Path(dirpath) / STAGE_MANIFEST):
                problems.append(f"{rel}/{STAGE_MANIFEST}: not a regular file (symlink?)")
                continue
            ids.append(rel)

    def stage_ids(self) -> list[str]:
        return self.scan()[0]

    def stages(self) -> list[Stage]:
        return [self.get(s) for s in self.stage_ids()]

    # --- one stage ------------------------------------------------------------------------------
    def folder(self, stage_id: str) -> Path:
        return safe_join(self.root, check_stage_id(stage_id))

    def exists(self, stage_id: str) -> bool:
        return is_regular_file(self.folder(stage_id) / STAGE_MANIFEST)

    def get(self, stage_id: str) -> Stage:
        """The stage ``stage_id``, its manifest validated; StageNotFoundError suggests close ids."""
        folder = self.folder(stage_id)
        path = folder / STAGE_MANIFEST
        if not is_regular_file(path):
            near = difflib.get_close_matches(stage_id, self.stage_ids(), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(near)}?" if near else "; `facessd list` shows the stages"
            raise StageNotFoundError(f"stage {stage_id!r} not found under {self.root}{hint}")
        manifest = Manifest.load(path, source=f"{stage_id}/{STAGE_MANIFEST}")
        if manifest.stage_id != stage_id:
            raise ManifestError(f"{stage_id}/{STAGE_MANIFEST}: says stage_id {manifest.stage_id!r} but lives at "
                                f"{stage_id!r} (moved by hand? stage ids are their paths)")
        return Stage(stage_id, folder, manifest)

    # --- the default stage ----------------------------------------------------------------------
    def default_stage_id(self) -> str | None:
        """The id ``archive.json`` names as the default stage (None if none)."""
        return read_index(self.root).default_stage

    def default_stage(self) -> Stage:
        """The stage ``archive.json`` names as default (what ``facessd evaluate`` uses with no stage)."""
        stage_id = self.default_stage_id()
        if stage_id is None:
            raise ArchiveError(f"{self.root}: no default stage ({ARCHIVE_INDEX} has no default_stage); "
                               f"seal one with set_default=True or run `facessd default STAGE`")
        return self.get(stage_id)
