"""Small stages for the archive tests: a few bytes standing in for a compact checkpoint (no TensorFlow)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from facessd_archive.archive import Archive, DatasetRef, Evaluation, Stage, Training
from facessd_archive.metric_names import METRIC_NAMES
from facessd_archive.model.config import face_config

DATA_FILE = "weights.data-00000-of-00001"
CONFIG = face_config(input_size=96, depth_multiplier=0.25)
TRAINING = Training(input_size=96, steps=10, batch_size=2, optimizer="adam", learning_rate=1e-3,
                    schedule="cosine", hardware="CPU (test)", dataset=DatasetRef("facemask", split="train.txt"))
BENCH = DatasetRef("facemask", split="val.txt", sha256="ab" * 32)


def stage_files(folder: Path, seed: int = 0) -> dict[str, bytes]:
    """Write fake checkpoint files (binary data, an index, a plot) into ``folder``; return name -> bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    data = hashlib.sha256(f"seed{seed}".encode()).digest() * 200 + bytes(range(256))  # 6.6 kB, binary
    files = {DATA_FILE: data, "weights.index": b"index-" + str(seed).encode(), "plots/pr.csv": b"r,p\n0,1\n"}
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return files


def seal_tiny(archive: Archive, stage_id: str, tmp: Path, seed: int = 0, **kwargs) -> Stage:
    src = tmp / f"src-{stage_id.replace('/', '_')}-{seed}"
    stage_files(src, seed)
    return archive.seal(stage_id, src, CONFIG, TRAINING, **kwargs)


def measured(map_value: float = 0.42) -> Evaluation:
    metrics = {name: map_value for name in METRIC_NAMES}
    return Evaluation.measured(BENCH, metrics, input_size=96, date="2026-11-27T12:00:00Z")
