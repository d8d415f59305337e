"""Evaluation while training: COCO figures every N steps, in TensorBoard, and the best checkpoint kept.

The TF2 ``model_main_tf2.py`` of the Object Detection API does not evaluate while it trains
(a second process has to watch the checkpoints); here the training loop calls
``TrainingEvaluator.evaluate`` itself every ``every`` steps and at the end. The figures go to
``RUN/eval/`` under the OD API's names (``DetectionBoxes_Precision/*``,
``DetectionBoxes_Recall/*``: TensorBoard shows them beside ``Loss/*`` of ``RUN/train/``), to
``eval_history.jsonl``, and the checkpoint with the best ``mAP@.50IOU`` so far is kept in
``RUN/best/`` (``best.json`` says its step and figures) beside the latest in ``checkpoints/``.

The evaluation is the one ``facessd evaluate`` runs (``evaluate/``: the same resize policy,
graph and pycocotools scoring) on an inference copy of the network whose variables are copied
from the training network by name before each run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from facessd_archive.errors import ConfigError
from facessd_archive.fileio import atomic_write_json
from facessd_archive.metric_names import METRIC_NAMES
from facessd_archive.model.config import ModelConfig

EVAL_SUMMARIES_DIR = "eval"
EVAL_HISTORY_FILE = "eval_history.jsonl"
BEST_DIR = "best"
BEST_FILE = "best.json"
BEST_METRIC = "DetectionBoxes_Precision/mAP@.50IOU"


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate on while training: a benchmark folder (any format ``evaluate`` reads; None =
    the built-in synthetic sample benchmark), its split, and every how many steps."""

    benchmark: Path | None
    split: Path | None = None
    every: int = 500
    batch_size: int = 8
    data_format: str | None = None

    def __post_init__(self) -> None:
        if self.every <= 0:
            raise ConfigError(f"--eval-every must be > 0, got {self.every}")
        if self.batch_size <= 0:
            raise ConfigError(f"eval batch size must be > 0, got {self.batch_size}")


class TrainingEvaluator:
    """Scores the training network on one benchmark; loads the benchmark and builds the graph once."""

    def __init__(self, config: ModelConfig, spec: EvalSpec, run_dir: Path | None, write: bool = True):
        from facessd_archive.evaluate.api import load_benchmark_spec
        from facessd_archive.evaluate.resizing import resize_policy
        from facessd_archive.evaluate.runner import SSDBatchDetector
        from facessd_archive.evaluate.runtimes import make_runtime
        from facessd_archive.model.detector import SSDDetector

        self.spec = spec
        self.benchmark = load_benchmark_spec(spec.benchmark, fmt=spec.data_format, split=spec.split)
        policy = resize_policy(config)
        shape = None if policy.kind == "square" else (None, None)
        self._detector = SSDDetector(config, input_shape=shape)
        # The runtime label ``facessd evaluate`` gives the same run, so recorded figures compare alike.
        self.runtime_label = "tf" if policy.kind == "square" else f"tf, {policy.describe()}"
        self._batch_detector = SSDBatchDetector(make_runtime(self._detector, "tf", policy=policy),
                                                name="training", policy=policy)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._write = write and self.run_dir is not None
        self._writer = (tf.summary.create_file_writer(str(self.run_dir / EVAL_SUMMARIES_DIR))
                        if self._write else None)

    def evaluate(self, network: keras.Model, step: int, train_seconds: float | None = None):
        """The ``EvaluationReport`` of ``network``'s current weights; written to TensorBoard and history.

        ``train_seconds`` (the run's training wall time so far, evaluations excluded) goes into the
        history row too: what ``benchmarks/progressive.py`` plots mAP against."""
        from facessd_archive.evaluate.evaluation import evaluate_detector

        values = {v.path: v for v in network.weights}
        for v in self._detector.network.weights:
            v.assign(values[v.path])
        result = evaluate_detector(self._batch_detector, self.benchmark.samples, self.benchmark.info,
                                   batch_size=self.spec.batch_size, skipped=self.benchmark.skipped)
        report = result.report
        if self._write:
            with self._writer.as_default(step=step):  # type: ignore[union-attr]
                for name in METRIC_NAMES:
                    tf.summary.scalar(name, report.metrics[name])
            self._writer.flush()  # type: ignore[union-attr]
            with open(self.run_dir / EVAL_HISTORY_FILE, "a") as f:  # type: ignore[operator]
                row = {"step": step, **({"train_seconds": round(train_seconds, 3)} if train_seconds is not None else {}),
                       **{k: report.metrics[k] for k in METRIC_NAMES}}
                f.write(json.dumps(row) + "\n")
        return report


class BestCheckpoint:
    """The checkpoint of the best ``mAP@.50IOU`` so far, in ``RUN/best/`` with ``best.json`` (survives resume)."""

    def __init__(self, run_dir: Path, network: keras.Model, step: tf.Variable):
        self.folder = Path(run_dir) / BEST_DIR
        self._manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=network, step=step), str(self.folder),
                                                   max_to_keep=1)
        record = read_best(run_dir)
        self.best = float(record[BEST_METRIC]) if record else None

    def consider(self, step: int, metrics: dict[str, float]) -> bool:
        """Save when ``metrics`` beat the best so far; True if they did."""
        value = float(metrics[BEST_METRIC])
        if self.best is not None and value <= self.best:
            return False
        prefix = self._manager.save(checkpoint_number=step)
        self.best = value
        atomic_write_json(self.folder / BEST_FILE, {"step": step, "checkpoint": Path(prefix).name,
                                                    **{k: metrics[k] for k in METRIC_NAMES}})
        return True


def read_best(run_dir: Path) -> dict | None:
    path = Path(run_dir) / BEST_DIR / BEST_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def read_eval_history(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / EVAL_HISTORY_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
