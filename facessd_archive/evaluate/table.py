"""Terminal tables (tabulate) for one or several evaluation reports side by side."""

from __future__ import annotations

from typing import Sequence

from tabulate import tabulate

from facessd_archive.evaluate.evaluation import EvaluationReport
from facessd_archive.metric_names import METRIC_NAMES, WIDER_METRIC_NAMES

SPEED_ROWS: tuple[tuple[str, str, str], ...] = (
    ("model_images_per_second", "Speed/model images/s", "{:.1f}"),
    ("end_to_end_images_per_second", "Speed/end-to-end images/s", "{:.1f}"),
    ("model_latency_ms_median", "Speed/model latency ms (median)", "{:.1f}"),
    ("model_latency_ms_p90", "Speed/model latency ms (p90)", "{:.1f}"),
    ("end_to_end_latency_ms_median", "Speed/end-to-end latency ms (median)", "{:.1f}"),
    ("end_to_end_latency_ms_p90", "Speed/end-to-end latency ms (p90)", "{:.1f}"),
)


def metric_rows(reports: Sequence[EvaluationReport]) -> list[str]:
    """The metric names to show: the twelve COCO numbers, then WIDER's three when any report has them."""
    wider = [name for name in WIDER_METRIC_NAMES if any(name in r.metrics for r in reports)]
    return list(METRIC_NAMES) + wider


def format_metric(value: float | None) -> str:
    """Four decimals; ``n/a`` for a missing figure or -1 (no ground truth for it)."""
    return "n/a" if value is None or value < 0 else f"{value:.4f}"


def format_speed(report: EvaluationReport, key: str, fmt: str) -> str:
    return fmt.format(report.speed[key]) if key in report.speed else "n/a"


def format_reports(reports: Sequence[EvaluationReport]) -> str:
    """Metrics then speed, one column per detector."""
    headers = ["metric"] + [f"{r.detector} [{r.runtime}]" for r in reports]
    rows = [[name] + [format_metric(r.metrics.get(name)) for r in reports] for name in metric_rows(reports)]
    rows += [[label] + [format_speed(r, key, fmt) for r in reports] for key, label, fmt in SPEED_ROWS]
    b = reports[0].benchmark
    title = (f"benchmark: {b.name} ({b.num_images} images, {b.num_faces} faces"
             + (f", split {b.split}" if b.split else "") + f"; id {b.benchmark_id}, hash {b.content_hash[:12]})")
    return title + "\n" + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
