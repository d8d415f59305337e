"""Rows for ``facessd list`` and lines for ``facessd lineage`` (plain strings; the CLI prints them).

The steps column is the cumulative count (what ``v1_150_To_360_1_6M``-style names mean), followed by
the stage's own steps when they differ: ``9,500 (+1,500)``.
"""

from __future__ import annotations

from facessd_archive.archive.lineage import lineage
from facessd_archive.archive.manifest import MAP_METRIC, Manifest
from facessd_archive.archive.store import ArchiveReader

LIST_HEADERS = ("stage", "parent", "input", "steps", "mAP", "benchmark", "weights")


def cumulative_steps(archive: ArchiveReader, manifest: Manifest) -> int | None:
    """The steps a stage's weights have seen, parents included (None: not known).

    A stage trained here since the global step carried over (its settings have ``start_step``)
    records that count as ``training.steps``; so do the original experiments (their notes give
    totals). This project's stages sealed before that began counting again at 0 when continued,
    so theirs is their own steps plus their parent's total.
    """
    seen: set[str] = set()
    total = 0
    m: Manifest | None = manifest
    while m is not None:
        steps, settings = m.training.steps, m.training.settings
        if steps is None:
            return None
        total += steps
        if not settings or "start_step" in settings or m.parent is None:
            return total
        seen.add(m.stage_id)
        parent = m.parent.stage_id
        if parent in seen or not archive.exists(parent):
            return None
        m = archive.get(parent).manifest
    return total


def own_steps(archive: ArchiveReader, manifest: Manifest) -> int | None:
    """The steps trained in this stage itself (None: not known, e.g. an original continued from a parent)."""
    t = manifest.training
    if t.steps is None:
        return None
    if "start_step" in t.settings:
        return t.steps - int(t.settings["start_step"])
    if t.settings or manifest.parent is None:
        return t.steps
    return None  # an original's notes give the total; its own share is not recorded


def _steps(m: Manifest, archive: ArchiveReader | None = None) -> str:
    """The cumulative count, with the stage's own steps after it when they differ: ``9,500 (+1,500)``."""
    if archive is None:
        return f"{m.training.steps:,}" if m.training.steps else "?"
    total, own = cumulative_steps(archive, m), own_steps(archive, m)
    text = f"{total:,}" if total else "?"
    return text + (f" (+{own:,})" if own is not None and own != total else "")


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
                     _steps(m, archive), mean_ap, benchmark, m.weights.describe()))
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
                     f"{_steps(m, archive)} steps  content {m.content_hash[:12]}{status.get(link.status, '')}")
    return lines
