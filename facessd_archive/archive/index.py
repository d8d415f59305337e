"""``archive.json`` at the archive root: which stage is the default (what ``facessd evaluate`` uses)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from facessd_archive.archive import schema
from facessd_archive.archive.paths import check_stage_id
from facessd_archive.archive.schema import need
from facessd_archive.errors import ManifestError
from facessd_archive.fileio import atomic_write_json

ARCHIVE_INDEX = "archive.json"
INDEX_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ArchiveIndex:
    """``{"schema_version": 1, "default_stage": "keypoints/v2/..." | null}``."""

    default_stage: str | None = None
    schema_version: int = INDEX_SCHEMA_VERSION

    def __post_init__(self) -> None:
        need(self.schema_version == INDEX_SCHEMA_VERSION, "schema_version",
             f"must be {INDEX_SCHEMA_VERSION}, got {self.schema_version}")
        if self.default_stage is not None:
            check_stage_id(self.default_stage)


def read_index(root: Path) -> ArchiveIndex:
    """The archive's index (an empty one if the file does not exist); validated, errors name the file."""
    path = Path(root) / ARCHIVE_INDEX
    if not path.is_file():
        return ArchiveIndex()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: not valid JSON ({e})") from None
    return schema.load_document(ArchiveIndex, data, str(path))


def write_index(root: Path, index: ArchiveIndex) -> None:
    atomic_write_json(Path(root) / ARCHIVE_INDEX, schema.dump(index))
