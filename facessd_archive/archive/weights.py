"""From a stage id to a checked local folder ``load_detector`` can read: the one call above the archive.

``Archive`` (``store.py``, ``sealing.py``) knows only the local disk; ``pull.py`` knows the Hub and
its cache. ``stage_weights_folder`` sits above both, as ``hf_hub_download`` sits above the
huggingface_hub cache: it reads the stage's manifest, hashes the files where they are, and pulls
them first when they are on the Hub and not cached.
"""

from __future__ import annotations

from pathlib import Path

from facessd_archive.archive.hub import HubSettings
from facessd_archive.archive.location import open_archive
from facessd_archive.archive.pull import pull_stage
from facessd_archive.archive.store import ArchiveReader
from facessd_archive.errors import ArchiveError


def stage_weights_folder(stage_id: str | None = None, *, archive: ArchiveReader | None = None,
                         endpoint: str | None = None, offline: bool | None = None) -> Path:
    """The local folder holding the checked weights of ``stage_id`` (default: the archive's default stage).

    ``archive`` defaults to the archive in use (``open_archive()``). The folder holds
    ``model_config.json`` and the ``weights.*`` compact checkpoint: the stage folder itself when
    the weights are there, else the Hugging Face cache folder they were pulled to (pulled now if
    needed, at the manifest's revision; offline from the cache). Every file is checked against
    the manifest first (IntegrityError on a mismatch). ArchiveError when the stage has no
    weights available (the original experiments).
    """
    archive = archive if archive is not None else open_archive()
    stage = archive.default_stage() if stage_id is None else archive.get(stage_id)
    w = stage.manifest.weights
    if not w.available:
        raise ArchiveError(f"{stage.stage_id}: no weights available here ({w.note or 'none recorded'})")
    result = pull_stage(archive, stage.stage_id, HubSettings.resolve(endpoint=endpoint, offline=offline))
    assert result.folder is not None
    return result.folder
