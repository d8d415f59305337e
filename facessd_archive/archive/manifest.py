"""The stage manifest ``stage.json``: frozen dataclasses, validated on load (see docs/archive-format.md).

A manifest records what a stage *is* (its files with size and sha256, the full ModelConfig,
the training settings, the parent it was continued from) and what is known *about* it (the
evaluations, where the weights can be fetched). The first group is covered by
``content_hash``; the second may grow after sealing (an evaluation measured later, the Hub
revision a push produced) without changing the hash. See ``content_payload``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facessd_archive import __version__
from facessd_archive.archive import schema
from facessd_archive.archive.hashing import sha256_json
from facessd_archive.archive.paths import check_file_name, check_repo_path, check_stage_id
from facessd_archive.archive.records import (MAP_METRIC, TOOL_NAME, DatasetRef, Evaluation, ToolRef, Training,
                                             is_hex64, is_iso_date)
from facessd_archive.archive.schema import need
from facessd_archive.errors import ManifestError
from facessd_archive.model.config import ModelConfig

__all__ = ["SCHEMA_VERSION", "MAP_METRIC", "TOOL_NAME", "DatasetRef", "Evaluation", "FileEntry", "HubLocation",
           "Manifest", "ParentRef", "ToolRef", "Training", "Weights", "content_hash", "content_payload"]

SCHEMA_VERSION = 1
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


@dataclass(frozen=True)
class FileEntry:
    """One file of the stage, relative to the stage folder (or to its Hub path)."""

    path: str
    size: int
    sha256: str

    def __post_init__(self) -> None:
        check_file_name(self.path)
        need(self.size >= 0, "size", f"must be >= 0, got {self.size}")
        need(is_hex64(self.sha256), "sha256", f"must be 64 lowercase hex digits, got {self.sha256!r}")


@dataclass(frozen=True)
class ParentRef:
    """The stage this one was continued from, pinned by its content hash."""

    stage_id: str
    content_hash: str | None = None  # None only for parents recorded from the original experiments' notes

    def __post_init__(self) -> None:
        check_stage_id(self.stage_id)
        need(self.content_hash is None or is_hex64(self.content_hash), "content_hash",
             f"must be 64 lowercase hex digits, got {self.content_hash!r}")


@dataclass(frozen=True)
class HubLocation:
    """Where the stage's files live on a Hub: ``repo_id`` at ``revision``, under folder ``path``."""

    repo_id: str
    revision: str
    path: str

    def __post_init__(self) -> None:
        need(bool(_REPO_ID.fullmatch(self.repo_id)), "repo_id", f"must look like ORG/NAME, got {self.repo_id!r}")
        need(bool(_REVISION.fullmatch(self.revision)) and ".." not in self.revision, "revision",
             f"must be a branch, tag or commit sha, got {self.revision!r}")
        check_repo_path(self.path)

    def file_path(self, name: str) -> str:
        return f"{self.path}/{name}" if self.path else name

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision[:12]}:{self.path}"


@dataclass(frozen=True)
class Weights:
    """Which files are the weights and where the stage's files are.

    ``in_folder``: every file of ``Manifest.files`` is in the stage folder. Otherwise the folder
    holds only ``stage.json`` and ``README.md``, and the files are at ``hub`` (pulled into the
    Hugging Face cache), or nowhere reachable (``note`` says why: the original experiments).
    """

    files: tuple[str, ...]
    in_folder: bool
    hub: HubLocation | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))
        for name in self.files:
            check_file_name(name)

    @property
    def available(self) -> bool:
        return bool(self.files) and (self.in_folder or self.hub is not None)

    def describe(self) -> str:
        if not self.files:
            return "none"
        if self.in_folder:
            return "folder" + (f" + hub {self.hub}" if self.hub else "")
        if self.hub is not None:
            return f"hub {self.hub}"
        return "none"


@dataclass(frozen=True)
class Manifest:
    """``stage.json``. Build a new one with ``Manifest.create`` (it computes ``content_hash``)."""

    schema_version: int
    stage_id: str
    model_config: ModelConfig
    training: Training
    files: tuple[FileEntry, ...]
    content_hash: str
    weights: Weights
    parent: ParentRef | None = None
    evaluations: tuple[Evaluation, ...] = ()
    reference_benchmark: str | None = None
    description: str | None = None
    notes: tuple[str, ...] = ()
    created: str | None = None
    sealed_by: ToolRef | None = None

    def __post_init__(self) -> None:
        need(self.schema_version == SCHEMA_VERSION, "schema_version",
             f"must be {SCHEMA_VERSION} (this facessd reads version {SCHEMA_VERSION}), got {self.schema_version}")
        check_stage_id(self.stage_id)
        need(is_hex64(self.content_hash), "content_hash", f"must be 64 lowercase hex digits, got {self.content_hash!r}")
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "evaluations", tuple(self.evaluations))
        object.__setattr__(self, "notes", tuple(self.notes))
        names = [f.path for f in self.files]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        need(not duplicates, "files", f"lists {duplicates} more than once")
        missing = [w for w in self.weights.files if w not in names]
        need(not missing, "weights.files", f"names {missing}, which are not in files")
        need(self.created is None or is_iso_date(self.created), "created",
             f"must be an ISO 8601 date, got {self.created!r}")
        need(self.parent is None or self.parent.stage_id != self.stage_id, "parent",
             "cannot be the stage itself")

    # --- construction -----------------------------------------------------------------------
    @classmethod
    def create(cls, stage_id: str, model_config: ModelConfig, training: Training, files: tuple[FileEntry, ...],
               weights: Weights, **kwargs: Any) -> "Manifest":
        """A new manifest (schema version, content hash, seal time and tool filled in)."""
        kwargs.setdefault("created", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        kwargs.setdefault("sealed_by", ToolRef(TOOL_NAME, __version__))
        files = tuple(sorted(files, key=lambda f: f.path))
        content = content_hash(model_config, training, files, kwargs.get("parent"))
        return cls(schema_version=SCHEMA_VERSION, stage_id=stage_id, model_config=model_config, training=training,
                   files=files, content_hash=content, weights=weights, **kwargs)

    def computed_content_hash(self) -> str:
        return content_hash(self.model_config, self.training, self.files, self.parent)

    # --- queries ------------------------------------------------------------------------------
    def file(self, path: str) -> FileEntry:
        for entry in self.files:
            if entry.path == path:
                return entry
        raise KeyError(path)

    def reference_evaluation(self) -> Evaluation | None:
        """The evaluation to quote for this stage: on ``reference_benchmark`` (else the first one's
        benchmark), the latest measured one, else the latest reported one."""
        if not self.evaluations:
            return None
        benchmark = self.reference_benchmark or self.evaluations[0].benchmark.id
        candidates = [e for e in self.evaluations if e.benchmark.id == benchmark]
        measured = [e for e in candidates if e.source == "measured"]
        chosen = measured or candidates
        return chosen[-1] if chosen else None

    # --- updates allowed after sealing (content hash unchanged) --------------------------------
    def with_evaluation(self, evaluation: Evaluation) -> "Manifest":
        return dataclasses.replace(self, evaluations=self.evaluations + (evaluation,))

    def with_weights(self, weights: Weights) -> "Manifest":
        if weights.files != self.weights.files:
            raise ManifestError(f"{self.stage_id}: the weight files of a sealed stage cannot change")
        return dataclasses.replace(self, weights=weights)

    # --- JSON ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return schema.dump(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = "stage.json") -> "Manifest":
        """Validate and build; every error names ``source`` and the field (``files[0].sha256``)."""
        if not isinstance(data, dict):
            raise ManifestError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
            raise ManifestError(f"{source}: schema_version {version} is newer than this facessd "
                                f"understands ({SCHEMA_VERSION}); upgrade facessd-archive")
        return schema.load_document(cls, data, source)

    @classmethod
    def from_json(cls, text: str, source: str = "stage.json") -> "Manifest":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ManifestError(f"{source}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path, source: str | None = None) -> "Manifest":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ManifestError(f"{source or path}: no such file") from None
        except UnicodeDecodeError:
            raise ManifestError(f"{source or path}: not UTF-8 text") from None
        return cls.from_json(text, source or str(path))


def content_hash(model_config: ModelConfig, training: Training, files: tuple[FileEntry, ...],
                 parent: ParentRef | None) -> str:
    """sha256 of the canonical JSON of what a stage *is*: its files, model config, training and parent.

    Not covered: the stage id (a ``--new-version`` copy of the same content has the same hash),
    evaluations, the weights' location, descriptions and notes.
    """
    return sha256_json(content_payload(model_config, training, files, parent))


def content_payload(model_config: ModelConfig, training: Training, files: tuple[FileEntry, ...],
                    parent: ParentRef | None) -> dict[str, Any]:
    return {
        "files": [schema.dump(f) for f in sorted(files, key=lambda f: f.path)],
        "model_config": schema.dump(model_config),
        "parent": schema.dump(parent),
        "training": schema.dump(training),
    }
