"""From a stage id (or the archive's default stage) to a local folder ``load_detector`` can read."""

from __future__ import annotations

from pathlib import Path

from facessd_archive.archive.hub import HubSettings
from facessd_archive.archive.pull import pull_stage
from facessd_archive.archive.store import Archive
from facessd_archive.errors import ArchiveError


def stage_weights_folder(stage_id: str | None = None, *, archive: Archive | None = None,
                         endpoint: str | None = None, offline: bool | None = None) -> Path:
    """The local folder holding the checked weights of ``stage_id`` (default: the archive's default stage).

    The folder holds ``model_config.json`` and the ``weights.*`` compact checkpoint: the stage
    folder itself when the weights are there, else the Hugging Face cache folder they were pulled
    to (pulled now if needed, at the manifest's revision; offline from the cache). Every file is
    checked against the manifest first (IntegrityError on a mismatch). ArchiveError when the
    stage has no weights available (the original experiments).
    """
    archive = archive or Archive.open()
    stage = archive.default_stage() if stage_id is None else archive.get(stage_id)
    w = stage.manifest.weights
    if not w.available:
        raise ArchiveError(f"{stage.stage_id}: no weights available here ({w.note or 'none recorded'})")
    result = pull_stage(archive, stage.stage_id, HubSettings.resolve(endpoint=endpoint, offline=offline))
    assert result.folder is not None
    return result.folder
