"""Terminal tables (tabulate) for one or several evaluation reports side by side."""

from __future__ import annotations

from typing import Sequence

from tabulate import tabulate

from facessd_archive.metric_names import METRIC_NAMES
from facessd_archive.evaluate.evaluation import EvaluationReport

SPEED_ROWS: tuple[tuple[str, str, str], ...] = (
    ("model_images_per_second", "Speed/model images/s", "{:.1f}"),
    ("end_to_end_images_per_second", "Speed/end-to-end images/s", "{:.1f}"),
    ("model_latency_ms_median", "Speed/model latency ms (median)", "{:.1f}"),
    ("model_latency_ms_p90", "Speed/model latency ms (p90)", "{:.1f}"),
    ("end_to_end_latency_ms_median", "Speed/end-to-end latency ms (median)", "{:.1f}"),
    ("end_to_end_latency_ms_p90", "Speed/end-to-end latency ms (p90)", "{:.1f}"),
)


def format_reports(reports: Sequence[EvaluationReport]) -> str:
    """Metrics then speed, one column per detector."""
    headers = ["metric"] + [f"{r.detector} [{r.runtime}]" for r in reports]
    rows = [[name] + [_metric(r.metrics[name]) for r in reports] for name in METRIC_NAMES]
    rows += [[label] + [fmt.format(r.speed[key]) for r in reports] for key, label, fmt in SPEED_ROWS]
    b = reports[0].benchmark
    title = (f"benchmark: {b.name} ({b.num_images} images, {b.num_faces} faces"
             + (f", split {b.split}" if b.split else "") + f"; id {b.benchmark_id}, hash {b.content_hash[:12]})")
    return title + "\n" + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _metric(value: float) -> str:
    return "n/a" if value < 0 else f"{value:.4f}"
