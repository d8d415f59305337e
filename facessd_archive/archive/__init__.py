"""The archive: versioned, verifiable stages (``keypoints/v1/<name>/``, ``SSD/v1/<name>/``), pulled
from and pushed to the Hugging Face Hub. Format: docs/archive-format.md.

Typical calls::

    from facessd_archive.archive import Archive, Training, DatasetRef, Evaluation, stage_weights_folder

    archive = Archive.open()                       # --archive / $FACESSD_ARCHIVE / the repo's archive/
    stage = archive.seal("keypoints/v2/face384_dm050", "exported/", config, training,
                         evaluations=[Evaluation.measured(bench, metrics)], set_default=True)
    folder = stage_weights_folder()                # the default stage's weights, pulled if needed
"""

from facessd_archive.archive.manifest import (DatasetRef, Evaluation, FileEntry, HubLocation, Manifest, ParentRef,
                                              ToolRef, Training, Weights)
from facessd_archive.archive.store import Archive, Stage, open_archive, resolve_archive_root
from facessd_archive.archive.weights import stage_weights_folder

__all__ = [
    "Archive", "DatasetRef", "Evaluation", "FileEntry", "HubLocation", "Manifest", "ParentRef", "Stage",
    "ToolRef", "Training", "Weights", "open_archive", "resolve_archive_root", "stage_weights_folder",
]
