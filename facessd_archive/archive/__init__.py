"""The archive: versioned, verifiable stages (``keypoints/v1/<name>/``, ``SSD/v1/<name>/``), pulled
from and pushed to the Hugging Face Hub. Format: docs/archive-format.md.

Modules, bottom to top: ``paths``, ``hashing``, ``records``/``manifest``, ``index``, ``card`` ->
``store`` (``ArchiveReader``: discovery, reading) -> ``sealing`` (``Archive``: seal, install,
updates) -> ``location`` (which archive a command uses; the seeded per-user archive) -> ``hub``
-> ``pull``/``push`` -> ``weights`` (a stage id to a checked local folder, pulling if needed).

Typical calls::

    from facessd_archive.archive import Training, DatasetRef, Evaluation, open_archive, stage_weights_folder

    archive = open_archive()                       # --archive / $FACESSD_ARCHIVE / checkout / per-user
    stage = archive.seal("keypoints/v2/face384_dm050", "exported/", config, training,
                         evaluations=[Evaluation.measured(bench, metrics)], set_default=True)
    folder = stage_weights_folder()                # the default stage's weights, pulled if needed
"""

from facessd_archive.archive.location import open_archive, resolve_archive_root, user_archive_dir
from facessd_archive.archive.manifest import (DatasetRef, Evaluation, FileEntry, HubLocation, Manifest, ParentRef,
                                              ToolRef, Training, Weights)
from facessd_archive.archive.sealing import Archive
from facessd_archive.archive.store import ArchiveReader, Stage
from facessd_archive.archive.weights import stage_weights_folder

__all__ = [
    "Archive", "ArchiveReader", "DatasetRef", "Evaluation", "FileEntry", "HubLocation", "Manifest", "ParentRef",
    "Stage", "ToolRef", "Training", "Weights", "open_archive", "resolve_archive_root", "stage_weights_folder",
    "user_archive_dir",
]
