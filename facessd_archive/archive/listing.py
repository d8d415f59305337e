"""Rows for ``facessd list`` and lines for ``facessd lineage`` (plain strings; the CLI prints them)."""

from __future__ import annotations

from facessd_archive.archive.lineage import lineage
from facessd_archive.archive.manifest import MAP_METRIC, Manifest
from facessd_archive.archive.store import ArchiveReader

LIST_HEADERS = ("stage", "parent", "input", "steps", "mAP", "benchmark", "weights")


def _steps(m: Manifest) -> str:
    return f"{m.training.steps:,}" if m.training.steps else "?"


def _map(m: Manifest) -> tuple[str, str]:
    ev = m.reference_evaluation()
    if ev is None or ev.metrics.get(MAP_METRIC) is None:
        return "-", m.reference_benchmark or "-"
    value = f"{ev.metrics[MAP_METRIC]:.3f}"
    return (value + " (reported)" if ev.source == "reported" else value), ev.benchmark.id


def stage_rows(archive: ArchiveReader) -> list[tuple[str, ...]]:
    """One row per stage, in LIST_HEADERS order."""
    rows = []
    for stage in archive.stages():
        m = stage.manifest
        mean_ap, benchmark = _map(m)
        rows.append((stage.stage_id, m.parent.stage_id if m.parent else "-", str(m.model_config.input_size),
                     _steps(m), mean_ap, benchmark, m.weights.describe()))
    return rows


def lineage_lines(archive: ArchiveReader, stage_id: str) -> list[str]:
    """The stage, then each parent on its own line, with how the link holds up."""
    lines = []
    for depth, link in enumerate(lineage(archive, stage_id)):
        prefix = "" if depth == 0 else "  " * (depth - 1) + "<- "
        if link.stage is None:
            pinned = f"content {link.pinned_hash[:12]}" if link.pinned_hash else "content unknown"
            lines.append(f"{prefix}{link.stage_id}  (not in this archive; {pinned})")
            continue
        m = link.stage.manifest
        status = {"start": "", "ok": "  [content hash matches]", "unpinned": "  [parent hash not recorded]",
                  "hash mismatch": f"  [CONTENT HASH MISMATCH: child pinned {(link.pinned_hash or '')[:12]}]"}
        lines.append(f"{prefix}{link.stage_id}  {m.model_config.input_size}x{m.model_config.input_size}  "
                     f"{_steps(m)} steps  content {m.content_hash[:12]}{status.get(link.status, '')}")
    return lines
