"""Writing an archive: seal new stages, install existing manifests, and the few updates a sealed stage allows.

``Archive`` is ``store.ArchiveReader`` (discovery, reading, the default stage) plus the writes.
A stage is written whole into a hidden temp folder beside its final place
(``.NAME.sealing-XXXX``), fsynced and renamed into place, so a crash never leaves a half stage
under a stage id (discovery skips hidden folders).

A sealed stage is immutable: sealing over it raises StageExistsError unless ``new_version``
picks the sibling id ``NAME-v2`` (``-v3``, ...). Two updates keep the content hash and rewrite
only ``stage.json`` and ``README.md`` (each atomically): appending an evaluation measured later
(``record_evaluation``) and recording where the files are on the Hub (``set_hub_location``).

``seal_folder`` (what ``facessd seal`` does) seals a model folder as it lies on disk: a compact
checkpoint (``weights.*``) and its ``model_config.json``; a ``train_settings.json`` beside them
(as ``facessd train`` writes) fills the training record, and a ``parent_stage.json``
(``facessd train --from``) names the parent when ``--parent`` is not given.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from facessd_archive.archive.card import render_card
from facessd_archive.archive.hashing import copy_and_hash, sha256_file
from facessd_archive.archive.index import ArchiveIndex, write_index
from facessd_archive.archive.manifest import (DatasetRef, Evaluation, FileEntry, HubLocation, Manifest, ParentRef,
                                              Training, Weights)
from facessd_archive.archive.paths import STAGE_CARD, STAGE_MANIFEST, check_stage_id, list_source_files, safe_join
from facessd_archive.archive.store import ArchiveReader, Stage
from facessd_archive.errors import ArchiveError, ConfigError, IntegrityError, StageExistsError
from facessd_archive.fileio import atomic_write_text
from facessd_archive.model.config import ModelConfig
from facessd_archive.run_folder import COMPACT_WEIGHTS_PREFIX, MODEL_CONFIG_FILE, TRAIN_SETTINGS_FILE

# The compact checkpoint a stage ships and the run's settings: run_folder.py names them (no TensorFlow).
WEIGHTS_PREFIX = COMPACT_WEIGHTS_PREFIX + "."


class Archive(ArchiveReader):
    """A folder of stages that can be written: ``seal``, ``install``, and the updates a sealed stage allows.

    ``location.open_archive()`` picks the folder a command uses; ``Archive(root)`` uses ``root`` as given.
    """

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
        _check_source_config(sources, model_config)
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

    def install(self, manifest: Manifest, source_dir: str | Path | None = None, new_version: bool = False,
                verbatim: bool = False) -> Stage:
        """Write a stage from an existing manifest (a pulled remote stage, a recorded original, a seed).

        With ``source_dir`` every file of the manifest is copied from it and must match its
        recorded size and sha256 (IntegrityError otherwise); without it the stage folder holds
        only ``stage.json`` and ``README.md`` and ``manifest.weights.in_folder`` must be false.
        ``verbatim`` copies ``stage.json`` and ``README.md`` from ``source_dir`` byte for byte instead
        of writing them from ``manifest``: the copy of a stage folder (a seed) stays identical to it.
        """
        target_id = self._target_id(manifest.stage_id, new_version)
        if target_id != manifest.stage_id:
            if verbatim:
                raise StageExistsError(f"{manifest.stage_id} exists here; a verbatim copy cannot change its id")
            manifest = dataclasses.replace(manifest, stage_id=target_id)
        if source_dir is None and manifest.weights.in_folder and manifest.files:
            raise ArchiveError(f"{manifest.stage_id}: manifest says its files are in the folder, but none were given")
        if source_dir is None and verbatim:
            raise ArchiveError(f"{manifest.stage_id}: a verbatim install copies a stage folder; give source_dir")
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
            if verbatim:
                for name in (STAGE_MANIFEST, STAGE_CARD):
                    _copy_file(safe_join(Path(source_dir), name), tmp / name)
            else:
                _write_manifest_files(tmp, manifest)
        return self.get(target_id)

    def _parent_ref(self, parent: str | ParentRef | None) -> ParentRef | None:
        if parent is None or isinstance(parent, ParentRef):
            return parent
        stage = self.get(parent)
        return ParentRef(stage.stage_id, stage.manifest.content_hash)

    # --- updates a sealed stage allows (content hash unchanged) ---------------------------------
    def rewrite_manifest(self, stage_id: str, manifest: Manifest) -> Stage:
        """Replace ``stage.json`` (and regenerate ``README.md``) if the content hash is unchanged."""
        stage = self.get(stage_id)
        if manifest.stage_id != stage_id or manifest.computed_content_hash() != stage.manifest.content_hash:
            raise StageExistsError(f"{stage_id} is sealed: only evaluations and the weights' location may change")
        _write_manifest_files(stage.folder, manifest)
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

    def set_default(self, stage_id: str) -> None:
        """Make ``stage_id`` the default stage in ``archive.json``."""
        self.get(stage_id)
        write_index(self.root, ArchiveIndex(default_stage=stage_id))


def seal_folder(archive: Archive, stage_id: str, folder: Path, *, parent: str | None = None,
                hardware: str | None = None, dataset: str | None = None, split: str | None = None,
                steps: int | None = None, description: str | None = None, new_version: bool = False,
                set_default: bool = False) -> Stage:
    """Seal ``folder`` as ``stage_id``: model config from its ``model_config.json``, training from
    its ``train_settings.json`` when present (``steps`` overrides the planned steps)."""
    folder = Path(folder)
    config_path = folder / MODEL_CONFIG_FILE
    if not config_path.is_file():
        raise ArchiveError(f"{folder}: no {MODEL_CONFIG_FILE}; seal a folder written by export_compact")
    try:
        config = ModelConfig.from_json(config_path.read_text())
    except (json.JSONDecodeError, ConfigError) as e:
        raise ArchiveError(f"{config_path}: {e}") from None
    data = DatasetRef(dataset, split=split) if dataset else None
    settings_path = folder / TRAIN_SETTINGS_FILE
    if settings_path.is_file():
        from facessd_archive.train.settings import TrainSettings

        try:
            settings = TrainSettings.from_dict(json.loads(settings_path.read_text()))
        except (json.JSONDecodeError, ConfigError, TypeError) as e:
            raise ArchiveError(f"{settings_path}: {e}") from None
        training = Training.from_train_settings(settings, config.input_size, hardware, data, steps=steps)
    else:
        training = Training(input_size=config.input_size, steps=steps, hardware=hardware, dataset=data)
    if parent is None:
        from facessd_archive.train.lineage import read_parent

        recorded = read_parent(folder)
        parent = recorded["stage_id"] if recorded else None
    return archive.seal(stage_id, folder, config, training, parent=parent, description=description,
                        new_version=new_version, set_default=set_default)


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
