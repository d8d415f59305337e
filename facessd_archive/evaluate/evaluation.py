"""One evaluation: a detector on a benchmark -> COCO metrics (and WIDER's own, on WIDER val), PR
curves and speed, as one record.

``EvaluationReport`` is what every output form (terminal table, ``--json``, ``--report DIR``,
the stage manifest's evaluation entries) is made from; ``EvaluationResult`` pairs it with the
per-image detections it was computed from (for the report's example images and
``--save-predictions``).
"""

from __future__ import annotations

import datetime as _dt
import platform
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from facessd_archive import __version__
from facessd_archive.data.sample import Sample
from facessd_archive.evaluate.coco_metrics import ImageDetections, compute_coco_metrics
from facessd_archive.evaluate.runner import BatchDetector, run_detector
from facessd_archive.metric_names import METRIC_NAMES

if TYPE_CHECKING:
    from facessd_archive.evaluate.wider_protocol import WiderGroundTruth


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
    metrics: dict[str, float]  # the twelve COCO METRIC_NAMES, then WIDER_METRIC_NAMES under --protocol wider
    speed: dict[str, float]  # empty when the detections were read from files
    pr_recall: list[float] = field(repr=False, default_factory=list)
    pr_precision: list[float] = field(repr=False, default_factory=list)
    date: str = ""
    tool_version: str = __version__
    hardware: str = ""
    skipped: list[str] = field(default_factory=list)
    # WIDER protocol PR curves by setting: {"easy": {"recall": [...], "precision": [...]}, ...}
    wider_pr: dict[str, dict[str, list[float]]] = field(repr=False, default_factory=dict)

    @property
    def map50(self) -> float:
        return self.metrics["DetectionBoxes_Precision/mAP@.50IOU"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvaluationResult:
    """A report and the detections it scored: ``detections[j]`` are on the benchmark's j-th sample
    (pixels xmin, ymin, xmax, ymax)."""

    report: EvaluationReport
    detections: list[ImageDetections]


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), which figures should be read beside."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.system()


def hardware_description() -> str:
    import os

    return f"{platform.machine()} CPU, {os.cpu_count()} cores ({cpu_name()})"


def score_detections(samples: Sequence[Sample], detections: Sequence[ImageDetections],
                     sizes: Sequence[tuple[int, int]], benchmark: BenchmarkInfo, detector: str, runtime: str,
                     speed: dict[str, float] | None = None, skipped: Sequence[str] = (),
                     wider: "WiderGroundTruth | None" = None) -> EvaluationReport:
    """The report for ``detections`` on ``samples`` (``sizes``: (height, width) of each image): COCO
    metrics, and with ``wider`` (the official val ground truth) WIDER's AP per setting too."""
    coco = compute_coco_metrics(samples, detections, sizes)
    metrics = {k: float(coco.metrics[k]) for k in METRIC_NAMES}
    wider_pr: dict[str, dict[str, list[float]]] = {}
    if wider is not None:
        from facessd_archive.evaluate.wider_protocol import evaluate_wider

        result = evaluate_wider(wider, {s.image_id: d for s, d in zip(samples, detections)})
        metrics.update(result.metrics)
        for setting, curve in result.curves.items():
            recall, precision = curve.defined_points()
            wider_pr[setting] = {"recall": [float(x) for x in recall], "precision": [float(x) for x in precision]}
    return EvaluationReport(
        detector=detector,
        runtime=runtime,
        benchmark=benchmark,
        metrics=metrics,
        speed=dict(speed or {}),
        pr_recall=[float(x) for x in coco.recall_thresholds],
        pr_precision=[float(x) for x in np.asarray(coco.precision_at_50)],
        date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        hardware=hardware_description(),
        skipped=list(skipped),
        wider_pr=wider_pr,
    )


def evaluate_detector(detector: BatchDetector, samples: Sequence[Sample], benchmark: BenchmarkInfo,
                      runtime: str = "tf", batch_size: int = 8,
                      progress: Callable[[int], None] | None = None, skipped: Sequence[str] = (),
                      wider: "WiderGroundTruth | None" = None) -> EvaluationResult:
    """Run ``detector`` over ``samples`` and score it (``skipped``: the benchmark's skipped items, for
    the record; ``wider``: score WIDER's protocol as well)."""
    run = run_detector(detector, samples, batch_size=batch_size, progress=progress)
    report = score_detections(samples, run.detections, run.sizes, benchmark, detector.name, runtime,
                              speed=run.speed(), skipped=skipped, wider=wider)
    return EvaluationResult(report, list(run.detections))
