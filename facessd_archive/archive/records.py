"""What a manifest records about how a stage was trained and how it scored.

``Training`` (None = unknown, as for the original experiments), ``DatasetRef`` (a training or
benchmark data set), ``Evaluation`` (COCO numbers under the Object Detection API's names,
``measured`` here or ``reported`` from old notes) and ``ToolRef``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from facessd_archive import __version__
from facessd_archive.archive.schema import need
from facessd_archive.metric_names import METRIC_NAMES, WIDER_METRIC_NAMES

TOOL_NAME = "facessd-archive"
MAP_METRIC = METRIC_NAMES[0]  # DetectionBoxes_Precision/mAP

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DATA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+-]*")


def is_hex64(value: str | None) -> bool:
    return value is not None and bool(_HEX64.fullmatch(value))


def is_iso_date(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class DatasetRef:
    """A training or evaluation data set: an id, the split, and a hash of its files when known."""

    id: str
    split: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        need(bool(_DATA_ID.fullmatch(self.id)), "id", f"must match {_DATA_ID.pattern}, got {self.id!r}")
        need(self.sha256 is None or is_hex64(self.sha256), "sha256",
             f"must be 64 lowercase hex digits, got {self.sha256!r}")


@dataclass(frozen=True)
class Training:
    """How the stage was trained. ``None`` means not known (the original experiments)."""

    input_size: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    schedule: str | None = None
    hardware: str | None = None
    dataset: DatasetRef | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # the full TrainSettings of this project's runs
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("input_size", "steps", "batch_size"):
            value = getattr(self, name)
            need(value is None or value > 0, name, f"must be > 0, got {value}")
        need(self.learning_rate is None or self.learning_rate > 0, "learning_rate",
             f"must be > 0, got {self.learning_rate}")
        object.__setattr__(self, "notes", tuple(self.notes))

    @classmethod
    def from_train_settings(cls, settings: Any, input_size: int, hardware: str | None, dataset: DatasetRef | None,
                            steps: int | None = None, notes: tuple[str, ...] = ()) -> "Training":
        """A Training record from this project's ``TrainSettings`` (``steps`` overrides when a run stopped early)."""
        return cls(input_size=input_size, steps=steps if steps is not None else settings.steps,
                   batch_size=settings.batch_size, optimizer=settings.optimizer,
                   learning_rate=settings.learning_rate,
                   schedule=f"cosine decay with {settings.warmup_steps} warmup steps from "
                            f"{settings.warmup_learning_rate}",
                   hardware=hardware, dataset=dataset, settings=settings.to_dict(), notes=tuple(notes))


@dataclass(frozen=True)
class ToolRef:
    name: str
    version: str | None = None


@dataclass(frozen=True)
class Evaluation:
    """COCO numbers on one benchmark, under the Object Detection API's names (and WIDER FACE's own
    AP per setting, ``WIDER/AP_easy`` ..., when the protocol was run).

    ``source`` says who produced the numbers: ``measured`` (by this tool, here: all twelve
    metrics, a benchmark hash and a date are required) or ``reported`` (copied from the
    original experiments' notes: any subset, hash and date may be unknown).
    """

    benchmark: DatasetRef
    source: Literal["measured", "reported"]
    metrics: dict[str, float]
    date: str | None = None
    tool: ToolRef | None = None
    input_size: int | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(METRIC_NAMES) - set(WIDER_METRIC_NAMES))
        need(not unknown, "metrics", f"has unknown name(s) {unknown}; expected names like {MAP_METRIC!r}")
        for name, value in self.metrics.items():
            need(isinstance(value, (int, float)) and math.isfinite(value) and -1.0 <= value <= 1.0,
                 "metrics", f"[{name!r}] must be a number in [-1, 1], got {value!r}")
        if self.source == "measured":
            missing = [m for m in METRIC_NAMES if m not in self.metrics]
            need(not missing, "metrics", f"of a measured evaluation must hold all twelve COCO numbers; "
                                         f"missing {missing}")
            need(self.benchmark.sha256 is not None, "benchmark.sha256", "is required for a measured evaluation")
            need(self.date is not None, "date", "is required for a measured evaluation")
        need(self.date is None or is_iso_date(self.date), "date", f"must be an ISO 8601 date, got {self.date!r}")
        need(self.input_size is None or self.input_size > 0, "input_size", f"must be > 0, got {self.input_size}")

    @property
    def benchmark_id(self) -> str:
        return self.benchmark.id

    @property
    def benchmark_hash(self) -> str | None:
        return self.benchmark.sha256

    @classmethod
    def measured(cls, benchmark: DatasetRef, metrics: Mapping[str, float], input_size: int | None = None,
                 note: str | None = None, date: str | None = None) -> "Evaluation":
        """An evaluation run here now, by this version of facessd-archive."""
        return cls(benchmark=benchmark, source="measured", metrics={k: float(v) for k, v in metrics.items()},
                   date=date or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   tool=ToolRef(TOOL_NAME, __version__), input_size=input_size, note=note)
