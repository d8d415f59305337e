"""What a training run carries into the archive: its parent stage and its compact export.

``facessd train --from STAGE`` writes ``parent_stage.json`` into the run folder;
``facessd export`` copies it (with ``train_settings.json``) next to the compact weights,
and ``facessd seal`` reads it, so the new stage's manifest names the parent it was
continued from without anyone retyping it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from facessd_archive.errors import CheckpointError
from facessd_archive.fileio import atomic_write_json
from facessd_archive.model.checkpoint import export_compact, load_detector
from facessd_archive.run_folder import PARENT_FILE, TRAIN_SETTINGS_FILE



def record_parent(run_dir: Path, stage) -> None:
    """Record the archived stage a run starts from (id and content hash)."""
    atomic_write_json(Path(run_dir) / PARENT_FILE,
                      {"stage_id": stage.stage_id, "content_hash": stage.manifest.content_hash})


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
    """Compact-export the run's latest checkpoint, with its settings and parent record."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    detector = load_detector(run_dir)
    export_compact(detector, out_dir, dtype=dtype)
    for name in (TRAIN_SETTINGS_FILE, PARENT_FILE):
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, out_dir / name)
    return sorted(p.name for p in out_dir.iterdir())
