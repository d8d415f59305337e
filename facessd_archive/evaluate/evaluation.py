"""One evaluation: a detector on a benchmark -> COCO metrics, PR curve and speed, as one record.

``EvaluationReport`` is what every output form (terminal table, ``--json``, ``--report DIR``,
the stage manifest's evaluation entries) is made from.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from facessd_archive import __version__
from facessd_archive.data.sample import Sample
from facessd_archive.evaluate.coco_metrics import ImageDetections, compute_coco_metrics
from facessd_archive.metric_names import METRIC_NAMES
from facessd_archive.evaluate.runner import BatchDetector, run_detector


@dataclass(frozen=True)
class BenchmarkInfo:
    """Which benchmark a figure was measured on (id + content hash make it reproducible)."""

    name: str
    benchmark_id: str
    content_hash: str
    num_images: int
    num_faces: int
    split: str | None = None


@dataclass
class EvaluationReport:
    detector: str
    runtime: str
    benchmark: BenchmarkInfo
    metrics: dict[str, float]
    speed: dict[str, float]
    pr_recall: list[float] = field(repr=False, default_factory=list)
    pr_precision: list[float] = field(repr=False, default_factory=list)
    date: str = ""
    tool_version: str = __version__
    hardware: str = ""
    skipped: list[str] = field(default_factory=list)

    @property
    def map50(self) -> float:
        return self.metrics["DetectionBoxes_Precision/mAP@.50IOU"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hardware_description() -> str:
    import os

    return f"{platform.machine()} CPU, {os.cpu_count()} cores ({platform.processor() or platform.system()})"


def evaluate_detector(detector: BatchDetector, samples: Sequence[Sample], benchmark: BenchmarkInfo,
                      runtime: str = "tf", batch_size: int = 8,
                      progress: Callable[[int], None] | None = None,
                      keep_detections: list[ImageDetections] | None = None) -> EvaluationReport:
    """Run ``detector`` over ``samples`` and score it. ``keep_detections`` (a list) receives the raw
    per-image detections for reports that draw them."""
    run = run_detector(detector, samples, batch_size=batch_size, progress=progress)
    result = compute_coco_metrics(samples, run.detections, run.sizes)
    if keep_detections is not None:
        keep_detections.extend(run.detections)
    return EvaluationReport(
        detector=detector.name,
        runtime=runtime,
        benchmark=benchmark,
        metrics={k: float(result.metrics[k]) for k in METRIC_NAMES},
        speed=run.speed(),
        pr_recall=[float(x) for x in result.recall_thresholds],
        pr_precision=[float(x) for x in np.asarray(result.precision_at_50)],
        date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        hardware=hardware_description(),
    )
