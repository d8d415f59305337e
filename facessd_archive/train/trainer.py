"""The training loop: tf.data batches -> one compiled train step -> checkpoints and summaries.

A run folder holds ``model_config.json``, ``train_settings.json``, ``checkpoints/`` (model,
optimizer, step; ``tf.train.CheckpointManager``) and TensorBoard summaries under the OD API's
loss names. Running again on the same folder resumes from the last checkpoint; a folder made
for another config is refused rather than silently mixed.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from facessd_archive.train.inputs import training_dataset
from facessd_archive.data.sample import Sample
from facessd_archive.errors import CheckpointError
from facessd_archive.fileio import atomic_write_json
from facessd_archive.model.checkpoint import CONFIG_FILE, load_config, save_config
from facessd_archive.model.config import ModelConfig
from facessd_archive.model.detector import SSDDetector
from facessd_archive.model.pretrained import check_backbone_fits, load_pretrained_backbone
from facessd_archive.progress import step_progbar
from facessd_archive.run_folder import CHECKPOINTS_DIR, HISTORY_FILE, SUMMARIES_DIR, TRAIN_SETTINGS_FILE
from facessd_archive.train.schedules import CosineDecayWithWarmup
from facessd_archive.train.lineage import record_parent
from facessd_archive.train.periodic_eval import BestCheckpoint, EvalSpec, TrainingEvaluator
from facessd_archive.train.settings import TrainSettings
from facessd_archive.train.warm_start import WARM_START_FILE, record_warm_start, warm_start


@dataclass
class TrainResult:
    run_dir: Path
    steps_done: int
    final_losses: dict[str, float]
    wall_seconds: float
    images_per_second: float
    history: list[dict[str, float]]
    evaluation: object | None = None  # the last EvaluationReport when evaluating while training


def make_optimizer(settings: TrainSettings) -> keras.optimizers.Optimizer:
    """The optimizer under the cosine schedule. The schedule runs on the optimizer's own iterations, so it
    spans this run's steps (``run_steps``) whatever global step the run starts at."""
    schedule = CosineDecayWithWarmup(settings.learning_rate, settings.run_steps, settings.warmup_learning_rate,
                                     settings.warmup_steps)
    if settings.optimizer == "momentum":
        return keras.optimizers.SGD(schedule, momentum=settings.momentum)
    return keras.optimizers.Adam(schedule)


def make_train_step(detector: SSDDetector, optimizer: keras.optimizers.Optimizer):
    """A compiled step: forward, losses (OD API names), backward, update. Returns the loss dict."""
    network = detector.network

    @tf.function(reduce_retracing=True)
    def train_step(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            raw = network(batch["images"], training=True)
            terms = detector.loss(raw, batch)
            regularization = tf.add_n(network.losses) if network.losses else tf.constant(0.0)
            total = terms.classification + terms.localization + regularization
        grads = tape.gradient(total, network.trainable_variables)
        optimizer.apply_gradients(zip(grads, network.trainable_variables))
        return {"Loss/classification_loss": terms.classification, "Loss/localization_loss": terms.localization,
                "Loss/regularization_loss": regularization, "Loss/total_loss": total,
                "num_matches": terms.num_matches}

    return train_step


def _check_run_dir(run_dir: Path, config: ModelConfig) -> None:
    if (run_dir / CONFIG_FILE).is_file():
        existing = load_config(run_dir)
        if existing != config:
            raise CheckpointError(f"{run_dir}: holds a run with another model config; choose a new output folder")


def train(config: ModelConfig, settings: TrainSettings, samples: Sequence[Sample], run_dir: Path,
          init_from: Path | None = None, progress: bool = True, allow_partial: bool = False,
          parent: dict | None = None, evaluation: EvalSpec | None = None) -> TrainResult:
    """Train (or resume) into ``run_dir``. ``init_from`` starts the weights from another model
    (fine-tuning, possibly at another input size), restored by variable name and shape
    (``warm_start.py``; ``allow_partial`` lets variables without a source keep their fresh values);
    else ``settings.pretrained_backbone`` starts the feature extractor of a fresh run from shipped
    ImageNet weights. Both are ignored when resuming. The global step starts at
    ``settings.start_step`` (the parent's cumulative count) and ends at ``settings.steps``.
    ``parent`` is written as ``parent_stage.json`` (``lineage.start_from_stage``). ``evaluation``
    scores the network every ``evaluation.every`` steps and at the end (``periodic_eval.py``)."""
    run_dir = Path(run_dir)
    if settings.pretrained_backbone and init_from is None:
        check_backbone_fits(settings.pretrained_backbone, config)
    _check_run_dir(run_dir, config)

    detector = SSDDetector(config)
    optimizer = make_optimizer(settings)
    step = tf.Variable(settings.start_step, dtype=tf.int64, trainable=False, name="global_step")
    ckpt = tf.train.Checkpoint(model=detector.network, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(ckpt, str(run_dir / CHECKPOINTS_DIR), max_to_keep=settings.keep_checkpoints)
    # Create the optimizer's slots before restoring, so they restore in one pass and are checked too.
    optimizer.build(detector.network.trainable_variables)
    resuming = manager.latest_checkpoint is not None
    plan = None
    if not resuming and init_from is not None:
        # Before anything is written: a refused warm start leaves no half-made run folder behind.
        plan = warm_start(detector.network, Path(init_from), allow_partial=allow_partial)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir)
    atomic_write_json(run_dir / TRAIN_SETTINGS_FILE, settings.to_dict())
    if parent is not None:
        record_parent(run_dir, parent)
    if resuming:
        try:
            ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError) as e:
            raise CheckpointError(f"{manager.latest_checkpoint}: cannot resume ({str(e).splitlines()[0]})") from None
        _say(progress, f"resuming {run_dir} from step {int(step.numpy())}")
    elif plan is not None:
        record_warm_start(run_dir, plan)
        partial = "" if plan.complete else f"; {len(plan.reinitialised)} re-initialised (see {WARM_START_FILE})"
        _say(progress, f"initialised {len(plan.restored)} variables from {init_from} by name{partial}; "
                       f"global step starts at {settings.start_step}")
    elif settings.pretrained_backbone:
        n = load_pretrained_backbone(detector.network, settings.pretrained_backbone)
        _say(progress, f"feature extractor started from {settings.pretrained_backbone} ({n} variables)")

    start = int(step.numpy())
    if start >= settings.steps:
        _say(progress, f"{run_dir}: already trained {start} of {settings.steps} steps")
        return TrainResult(run_dir, start, {}, 0.0, 0.0, [])

    dataset = training_dataset(samples, config, detector.anchors_np, settings.batch_size,
                               seed=settings.seed + start, augment=settings.augment, crop=settings.crop,
                               min_face_size=settings.min_face_size, photometric=settings.photometric)
    train_step = make_train_step(detector, optimizer)
    evaluator = TrainingEvaluator(config, evaluation, run_dir) if evaluation is not None else None
    best = BestCheckpoint(run_dir, detector.network, step) if evaluation is not None else None
    report = None
    writer = tf.summary.create_file_writer(str(run_dir / SUMMARIES_DIR))
    bar = step_progbar(settings.steps, enabled=progress, stateful_metrics=["loss", "img/s"], unit_name="step")
    history: list[dict[str, float]] = []
    losses: dict[str, float] = {}
    t0 = time.perf_counter()
    window_t, window_steps = t0, 0
    images_per_second = 0.0
    for batch in dataset:
        current = int(step.numpy())
        if current >= settings.steps:
            break
        out = train_step(batch)
        step.assign_add(1)
        window_steps += 1
        current += 1
        if current % settings.summary_every == 0 or current == settings.steps or current == start + 1:
            losses = {k: float(v) for k, v in out.items()}
            now = time.perf_counter()
            steps_per_second = window_steps / max(now - window_t, 1e-9)
            images_per_second = steps_per_second * settings.batch_size
            window_t, window_steps = now, 0
            history.append({"step": current, **losses, "images_per_second": images_per_second})
            _append_history(run_dir, history[-1:])  # as it goes: a killed run keeps the rows it reached
            with writer.as_default(step=current):
                for k, v in losses.items():
                    tf.summary.scalar(k, v)
                tf.summary.scalar("learning_rate", float(optimizer.learning_rate))
                tf.summary.scalar("steps_per_sec", steps_per_second)
            bar.update(current, [("loss", losses["Loss/total_loss"]), ("img/s", images_per_second)])
        if current % settings.checkpoint_every == 0 or current == settings.steps:
            manager.save(checkpoint_number=current)
        if evaluator is not None and (current % evaluation.every == 0 or current == settings.steps):
            report = evaluator.evaluate(detector.network, current)
            improved = best.consider(current, report.metrics)  # type: ignore[union-attr]
            mean_ap = report.metrics["DetectionBoxes_Precision/mAP"]
            _say(progress, f"step {current}: mAP@.50IOU {report.map50:.4f}, mAP {mean_ap:.4f}"
                           + (" (best so far)" if improved else ""))
            window_t = time.perf_counter()  # evaluation time is not training speed
    wall = time.perf_counter() - t0
    writer.flush()
    done = int(step.numpy())
    overall = (done - start) * settings.batch_size / max(wall, 1e-9)
    return TrainResult(run_dir, done, losses, wall, overall, history, report)


def _append_history(run_dir: Path, history: list[dict[str, float]]) -> None:
    with open(run_dir / HISTORY_FILE, "a") as f:
        for row in history:
            f.write(json.dumps(row) + "\n")


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr)
