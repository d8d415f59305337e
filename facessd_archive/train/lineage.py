"""What a training run carries into the archive: its parent stage and its compact export.

``facessd train --from STAGE`` writes ``parent_stage.json`` into the run folder;
``facessd export-run`` copies it (with ``train_settings.json`` and, after a warm start by name,
``warm_start.json``) next to the compact weights,
and ``facessd seal`` reads it, so the new stage's manifest names the parent it was
continued from without anyone retyping it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from facessd_archive.errors import CheckpointError
from facessd_archive.fileio import atomic_write_json
from facessd_archive.model.checkpoint import export_compact, load_detector
from facessd_archive.run_folder import HISTORY_FILE, PARENT_FILE, TRAIN_SETTINGS_FILE
from facessd_archive.train.periodic_eval import EVAL_HISTORY_FILE
from facessd_archive.train.plots import write_run_plots
from facessd_archive.train.warm_start import WARM_START_FILE



@dataclass(frozen=True)
class StartingPoint:
    """Where a continued run's weights come from, the global step it starts at, and the
    ``parent_stage.json`` record to write (None when continuing a plain folder, not a stage)."""

    weights: Path
    start_step: int = 0
    parent: dict | None = None


def start_from_stage(archive, stage_id: str) -> StartingPoint:
    """Continue an archived stage (pulled if its weights are on the Hub): its weights, its cumulative
    global step (0 if not known) and its id pinned by content hash."""
    from facessd_archive.archive.listing import cumulative_steps
    from facessd_archive.archive.weights import stage_weights_folder

    stage = archive.get(stage_id)
    folder = stage_weights_folder(stage.stage_id, archive=archive)
    start = cumulative_steps(archive, stage.manifest) or 0
    return StartingPoint(Path(folder), start, {"stage_id": stage.stage_id, "content_hash": stage.manifest.content_hash,
                                               "start_step": start})


def record_parent(run_dir: Path, record: dict) -> None:
    """Write ``parent_stage.json`` (stage id, content hash, the global step the run starts at)."""
    atomic_write_json(Path(run_dir) / PARENT_FILE, record)


def read_parent(folder: Path) -> dict | None:
    path = Path(folder) / PARENT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return {"stage_id": str(data["stage_id"]), "content_hash": str(data["content_hash"])}
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: malformed ({e})") from None


def export_run(run_dir: Path, out_dir: Path, dtype: str = "float16") -> list[str]:
    """Compact-export the run's latest checkpoint, with its settings, parent and warm-start records, its
    loss (and evaluation) history and their PNG plots (``plots/``): the folder ``seal`` takes."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    detector = load_detector(run_dir)
    export_compact(detector, out_dir, dtype=dtype)
    for name in (TRAIN_SETTINGS_FILE, PARENT_FILE, WARM_START_FILE, HISTORY_FILE, EVAL_HISTORY_FILE):
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, out_dir / name)
    write_run_plots(run_dir, out_dir)
    return sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
