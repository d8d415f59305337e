"""The archive on disk: find stages, read them, seal new ones, and the few updates a sealed stage allows.

Layout: ``ROOT/<stage id>/stage.json`` (+ ``README.md`` and the stage's files), e.g.
``keypoints/v1/v1_150x150_300K/stage.json``, and ``ROOT/archive.json`` naming the
default stage. A stage is written whole into a hidden temp folder beside its final place
(``.NAME.sealing-XXXX``) and renamed into place, so a crash never leaves a half stage
under a stage id; discovery skips hidden folders.

A sealed stage is immutable: sealing over it raises StageExistsError unless ``new_version``
picks the sibling id ``NAME-v2`` (``-v3``, ...). Two updates keep the content hash and
rewrite only ``stage.json`` and ``README.md`` (each atomically): appending an evaluation
measured later (``record_evaluation``) and recording where the files are on the Hub
(``set_hub_location``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import facessd_archive
from facessd_archive.archive.card import render_card
from facessd_archive.archive.hashing import copy_and_hash, sha256_file
from facessd_archive.archive.index import ARCHIVE_INDEX, ArchiveIndex, read_index, write_index
from facessd_archive.archive.manifest import (Evaluation, FileEntry, HubLocation, Manifest, ParentRef, Training,
                                              Weights)
from facessd_archive.archive.paths import (STAGE_CARD, STAGE_MANIFEST, check_stage_id, is_regular_file,
                                           STAGE_NAMESPACES, list_source_files, safe_join)
from facessd_archive.errors import (ArchiveError, IntegrityError, ManifestError, StageExistsError, StageNotFoundError,
                                    UnsafePathError)
from facessd_archive.fileio import atomic_write_text
from facessd_archive.model.config import ModelConfig

ENV_ARCHIVE = "FACESSD_ARCHIVE"
# The compact checkpoint a stage ships (model/checkpoint.py: CONFIG_FILE, COMPACT_PREFIX); named
# here rather than imported so that reading an archive never imports TensorFlow.
MODEL_CONFIG_FILE = "model_config.json"
WEIGHTS_PREFIX = "weights."


def repository_archive() -> Path:
    """The source checkout this package runs from: the repository root is the archive (may not exist)."""
    return Path(facessd_archive.__file__).resolve().parents[1]


def resolve_archive_root(root: str | Path | None = None) -> Path:
    """``root`` if given, else ``$FACESSD_ARCHIVE``, else the repository's own ``archive/`` folder."""
    if root is not None and str(root) != "":
        return Path(root)
    env = os.environ.get(ENV_ARCHIVE)
    if env:
        return Path(env)
    repo = repository_archive()
    if (repo / ARCHIVE_INDEX).is_file():
        return repo
    raise ArchiveError(f"no archive: pass --archive DIR or set {ENV_ARCHIVE} "
                       f"(no archive.json in the checkout at {repo})")


def open_archive(root: str | Path | None = None) -> "Archive":
    """``Archive.open(root)``: the archive at ``root``, ``$FACESSD_ARCHIVE`` or the repository's ``archive/``."""
    return Archive.open(root)


@dataclass(frozen=True)
class Stage:
    """One stage as read from disk."""

    stage_id: str
    folder: Path
    manifest: Manifest

    @property
    def weights_in_folder(self) -> bool:
        return self.manifest.weights.in_folder


class Archive:
    """A folder of stages. ``Archive.open()`` resolves the root at call time (see ``resolve_archive_root``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @classmethod
    def open(cls, root: str | Path | None = None) -> "Archive":
        return cls(resolve_archive_root(root))

    def __repr__(self) -> str:
        return f"Archive({str(self.root)!r})"

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

    # --- writing whole stages ------------------------------------------------------------------
    def next_version_id(self, stage_id: str) -> str:
        """The first free sibling id ``NAME-v2``, ``NAME-v3``, ... of ``stage_id``."""
        n = 2
        while self.exists(f"{stage_id}-v{n}") or self.folder(f"{stage_id}-v{n}").exists():
            n += 1
        return f"{stage_id}-v{n}"

    def _target_id(self, stage_id: str, new_version: bool) -> str:
        check_stage_id(stage_id)
        if not self.exists(stage_id):
            return stage_id
        if new_version:
            return self.next_version_id(stage_id)
        raise StageExistsError(f"{stage_id} is sealed and cannot be overwritten; use --new-version "
                               f"(new_version=True) to seal a sibling stage")

    @contextmanager
    def _staging(self, stage_id: str) -> Iterator[Path]:
        """A temp folder beside the stage's final place, renamed into place if the block succeeds."""
        target = self.folder(stage_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        safe_join(self.root, stage_id)  # re-check: parents were just created, none may be a link
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.sealing-", dir=target.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; a sealed stage is as readable as any folder
        try:
            yield tmp
            _fsync_dir(tmp)
            if target.exists() and not target.is_symlink() and target.is_dir() and not any(target.iterdir()):
                target.rmdir()  # an empty folder is not a stage
            try:
                os.rename(tmp, target)
            except OSError as e:
                raise StageExistsError(f"{stage_id}: {target} already exists (another writer?); "
                                       f"nothing was written") from e
            _fsync_dir(target.parent)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def seal(self, stage_id: str, source_dir: str | Path | None, model_config: ModelConfig, training: Training, *,
             parent: str | ParentRef | None = None, evaluations: Sequence[Evaluation] = (),
             weights_files: Sequence[str] | None = None, description: str | None = None,
             notes: Sequence[str] = (), reference_benchmark: str | None = None, new_version: bool = False,
             set_default: bool = False) -> Stage:
        """Seal the files of ``source_dir`` as the new stage ``stage_id`` and return it.

        Every regular file under ``source_dir`` is copied (hidden files and a top-level
        ``stage.json``/``README.md`` are skipped; a symlink is refused) and hashed while copied.
        ``model_config.json`` is written from ``model_config`` if the folder has none, and must
        equal it if it has one. ``weights_files`` defaults to ``model_config.json`` and the
        ``weights.*`` compact checkpoint. ``parent`` is a stage id of this archive (pinned by its
        current content hash) or a ParentRef. ``source_dir=None`` seals a record without files.
        ``set_default`` also makes it the archive's default stage.
        """
        target_id = self._target_id(stage_id, new_version)
        parent_ref = self._parent_ref(parent)
        sources = list_source_files(Path(source_dir)) if source_dir is not None else {}
        self._check_source_config(sources, model_config)
        with self._staging(target_id) as tmp:
            entries = []
            for name, src in sources.items():
                dest = tmp.joinpath(*name.split("/"))
                dest.parent.mkdir(parents=True, exist_ok=True)
                entries.append(FileEntry(name, *_copy_file(src, dest)))
            if sources and any(n.startswith(WEIGHTS_PREFIX) for n in sources) and MODEL_CONFIG_FILE not in sources:
                atomic_write_text(tmp / MODEL_CONFIG_FILE, model_config.to_json() + "\n")
                entries.append(FileEntry(MODEL_CONFIG_FILE, *sha256_file(tmp / MODEL_CONFIG_FILE)))
            names = [e.path for e in entries]
            if weights_files is None:
                weights_files = [n for n in names if n == MODEL_CONFIG_FILE or n.startswith(WEIGHTS_PREFIX)]
            weights = Weights(files=tuple(sorted(weights_files)), in_folder=bool(entries))
            manifest = Manifest.create(target_id, model_config, training, tuple(entries), weights,
                                       parent=parent_ref, evaluations=tuple(evaluations),
                                       reference_benchmark=reference_benchmark, description=description,
                                       notes=tuple(notes))
            _write_manifest_files(tmp, manifest)
        if set_default:
            self.set_default(target_id)
        return self.get(target_id)

    def install(self, manifest: Manifest, source_dir: str | Path | None = None, new_version: bool = False) -> Stage:
        """Write a stage from an existing manifest (a pulled remote stage, a recorded original).

        With ``source_dir`` every file of the manifest is copied from it and must match its
        recorded size and sha256 (IntegrityError otherwise); without it the stage folder holds
        only ``stage.json`` and ``README.md`` and ``manifest.weights.in_folder`` must be false.
        """
        target_id = self._target_id(manifest.stage_id, new_version)
        if target_id != manifest.stage_id:
            manifest = dataclasses.replace(manifest, stage_id=target_id)
        if source_dir is None and manifest.weights.in_folder and manifest.files:
            raise ArchiveError(f"{manifest.stage_id}: manifest says its files are in the folder, but none were given")
        with self._staging(target_id) as tmp:
            if source_dir is not None:
                for entry in manifest.files:
                    src = safe_join(Path(source_dir), entry.path)
                    dest = tmp.joinpath(*entry.path.split("/"))
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    size, digest = _copy_file(src, dest)
                    if (size, digest) != (entry.size, entry.sha256):
                        raise IntegrityError(f"{target_id}/{entry.path}: sha256 {digest[:12]}... ({size} bytes) "
                                             f"does not match the manifest's {entry.sha256[:12]}... "
                                             f"({entry.size} bytes)")
            _write_manifest_files(tmp, manifest)
        return self.get(target_id)

    def _parent_ref(self, parent: str | ParentRef | None) -> ParentRef | None:
        if parent is None or isinstance(parent, ParentRef):
            return parent
        stage = self.get(parent)
        return ParentRef(stage.stage_id, stage.manifest.content_hash)

    @staticmethod
    def _check_source_config(sources: dict[str, Path], model_config: ModelConfig) -> None:
        path = sources.get(MODEL_CONFIG_FILE)
        if path is None:
            return
        try:
            found = ModelConfig.from_json(path.read_text())
        except (ValueError, json.JSONDecodeError) as e:
            raise ArchiveError(f"{path}: not a readable ModelConfig ({e})") from None
        if found != model_config:
            raise ArchiveError(f"{path} differs from the model_config given to seal; seal the config the "
                               f"weights were trained with")

    # --- updates a sealed stage allows (content hash unchanged) ---------------------------------
    def rewrite_manifest(self, stage_id: str, manifest: Manifest) -> Stage:
        """Replace ``stage.json`` (and regenerate ``README.md``) if the content hash is unchanged."""
        stage = self.get(stage_id)
        if manifest.stage_id != stage_id or manifest.computed_content_hash() != stage.manifest.content_hash:
            raise StageExistsError(f"{stage_id} is sealed: only evaluations and the weights' location may change")
        atomic_write_text(stage.folder / STAGE_MANIFEST, manifest.to_json())
        atomic_write_text(stage.folder / STAGE_CARD, render_card(manifest))
        return Stage(stage_id, stage.folder, manifest)

    def record_evaluation(self, stage_id: str, evaluation: Evaluation) -> Stage:
        """Append an evaluation (measured later) to a sealed stage's manifest."""
        stage = self.get(stage_id)
        return self.rewrite_manifest(stage_id, stage.manifest.with_evaluation(evaluation))

    def set_hub_location(self, stage_id: str, hub: HubLocation | None, in_folder: bool | None = None) -> Stage:
        """Record where the stage's files are on the Hub (a push's commit, a pull's source)."""
        m = self.get(stage_id).manifest
        weights = dataclasses.replace(m.weights, hub=hub,
                                      in_folder=m.weights.in_folder if in_folder is None else in_folder)
        return self.rewrite_manifest(stage_id, m.with_weights(weights))

    def refresh_card(self, stage_id: str) -> Stage:
        """Regenerate ``README.md`` from ``stage.json`` (after an interrupted update)."""
        stage = self.get(stage_id)
        atomic_write_text(stage.folder / STAGE_CARD, render_card(stage.manifest))
        return stage

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

    def set_default(self, stage_id: str) -> None:
        self.get(stage_id)
        write_index(self.root, ArchiveIndex(default_stage=stage_id))

    def weights_folder(self, stage_id: str | None = None, endpoint: str | None = None,
                       offline: bool | None = None) -> Path:
        """The local folder with the checked weights of ``stage_id`` (default stage if None), pulled
        if needed: see ``archive.weights.stage_weights_folder``."""
        from facessd_archive.archive.weights import stage_weights_folder

        return stage_weights_folder(stage_id, archive=self, endpoint=endpoint, offline=offline)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_file(src: Path, dest: Path) -> tuple[int, str]:
    """Copy one file into a staging folder, returning (size, sha256). One place to fail in tests."""
    return copy_and_hash(src, dest)


def _write_manifest_files(folder: Path, manifest: Manifest) -> None:
    atomic_write_text(folder / STAGE_MANIFEST, manifest.to_json())
    atomic_write_text(folder / STAGE_CARD, render_card(manifest))
