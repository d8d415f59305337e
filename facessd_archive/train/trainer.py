"""The training loop: tf.data batches -> one compiled train step -> checkpoints and summaries.

A run folder holds ``model_config.json``, ``train_settings.json``, ``checkpoints/`` (model,
optimizer, step; ``tf.train.CheckpointManager``) and TensorBoard summaries under the OD API's
loss names. Running again on the same folder resumes from the last checkpoint; a folder made
for another config is refused rather than silently mixed.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from facessd_archive.train.inputs import training_dataset
from facessd_archive.data.sample import Sample
from facessd_archive.errors import CheckpointError, ConfigError
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
from facessd_archive.train.strategies import is_chief
from facessd_archive.train.sync_batch_norm import synchronize_batch_norm
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
    detector: SSDDetector | None = None  # the trained model (its variables are the strategy's)


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


def make_distributed_train_step(detector: SSDDetector, optimizer: keras.optimizers.Optimizer,
                                strategy: tf.distribute.Strategy):
    """The same step on every replica of ``strategy``, equal to one device on the global batch.

    The losses are normalised by the number of matches of the *global* batch (all-reduced), the
    regularisation counted once, and the optimizer sums the replicas' gradients: the update is the
    single-device one. Batch-norm statistics are synchronised across replicas (``synchronize_batch_norm``).
    The returned losses are already summed over replicas (the same on every worker).
    """
    network = detector.network
    replicas = float(strategy.num_replicas_in_sync)
    normalize = detector.config.loss.normalize_by_num_matches
    total_key = "Loss/total_loss"

    def step_fn(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        context = tf.distribute.get_replica_context()
        with tf.GradientTape() as tape:
            raw = network(batch["images"], training=True)
            terms = detector.loss(raw, batch)
            matches = context.all_reduce(tf.distribute.ReduceOp.SUM, terms.num_matches)
            rescale = tf.maximum(terms.num_matches, 1.0) / tf.maximum(matches, 1.0) if normalize else 1.0 / replicas
            classification = terms.classification * rescale
            localization = terms.localization * rescale
            regularization = (tf.add_n(network.losses) if network.losses else tf.constant(0.0)) / replicas
            total = classification + localization + regularization
        grads = tape.gradient(total, network.trainable_variables)
        optimizer.apply_gradients(zip(grads, network.trainable_variables))
        out = {"Loss/classification_loss": classification, "Loss/localization_loss": localization,
               "Loss/regularization_loss": regularization, total_key: total, "num_matches": terms.num_matches}
        return context.all_reduce(tf.distribute.ReduceOp.SUM, out)

    @tf.function
    def train_step(batch) -> dict[str, tf.Tensor]:
        return strategy.experimental_local_results(strategy.run(step_fn, args=(batch,)))[0]

    return train_step


def _check_run_dir(run_dir: Path, config: ModelConfig) -> None:
    if (run_dir / CONFIG_FILE).is_file():
        existing = load_config(run_dir)
        if existing != config:
            raise CheckpointError(f"{run_dir}: holds a run with another model config; choose a new output folder")


def train(config: ModelConfig, settings: TrainSettings, samples: Sequence[Sample], run_dir: Path,
          init_from: Path | None = None, progress: bool = True, allow_partial: bool = False,
          parent: dict | None = None, evaluation: EvalSpec | None = None,
          strategy: tf.distribute.Strategy | None = None) -> TrainResult:
    """Train (or resume) into ``run_dir``. ``init_from`` starts the weights from another model
    (fine-tuning, possibly at another input size), restored by variable name and shape
    (``warm_start.py``; ``allow_partial`` lets variables without a source keep their fresh values);
    else ``settings.pretrained_backbone`` starts the feature extractor of a fresh run from shipped
    ImageNet weights. Both are ignored when resuming. The global step starts at
    ``settings.start_step`` (the parent's cumulative count) and ends at ``settings.steps``.
    ``parent`` is written as ``parent_stage.json`` (``lineage.start_from_stage``). ``evaluation``
    scores the network every ``evaluation.every`` steps and at the end (``periodic_eval.py``).
    ``strategy`` (``strategies.make_strategy``) runs the step on its replicas, ``settings.batch_size``
    being the global batch; only its chief writes into ``run_dir``."""
    run_dir = Path(run_dir)
    if settings.pretrained_backbone and init_from is None:
        check_backbone_fits(settings.pretrained_backbone, config)
    _check_run_dir(run_dir, config)
    distributed = strategy is not None
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if settings.batch_size % replicas:
        raise ConfigError(f"batch size {settings.batch_size} is the global batch: it must divide evenly over "
                          f"{replicas} replicas")
    chief = is_chief(strategy)

    with strategy.scope():
        detector = SSDDetector(config)
        optimizer = make_optimizer(settings)
        step = tf.Variable(settings.start_step, dtype=tf.int64, trainable=False, name="global_step")
        # Create the optimizer's slots before restoring, so they restore in one pass and are checked too.
        optimizer.build(detector.network.trainable_variables)
    if replicas > 1:
        synchronize_batch_norm(detector.network)
    ckpt = tf.train.Checkpoint(model=detector.network, optimizer=optimizer, step=step)
    latest = tf.train.latest_checkpoint(str(run_dir / CHECKPOINTS_DIR))
    # A worker that is not the chief saves too (saving may need its part in a collective), into a
    # temporary folder deleted at the end: one checkpoint, the chief's.
    scratch = None if chief else Path(tempfile.mkdtemp(prefix="facessd-worker-ckpt-"))
    manager = tf.train.CheckpointManager(ckpt, str(run_dir / CHECKPOINTS_DIR if chief else scratch),
                                         max_to_keep=settings.keep_checkpoints)
    try:
        plan = None
        if latest is None and init_from is not None:
            # Before anything is written: a refused warm start leaves no half-made run folder behind.
            plan = warm_start(detector.network, Path(init_from), allow_partial=allow_partial)
        if chief:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, run_dir)
            atomic_write_json(run_dir / TRAIN_SETTINGS_FILE, settings.to_dict())
            if parent is not None:
                record_parent(run_dir, parent)
        if latest is not None:
            try:
                ckpt.restore(latest).assert_existing_objects_matched()
            except (tf.errors.OpError, AssertionError) as e:
                raise CheckpointError(f"{latest}: cannot resume ({str(e).splitlines()[0]})") from None
            _say(progress, f"resuming {run_dir} from step {int(step.numpy())}")
        elif plan is not None:
            if chief:
                record_warm_start(run_dir, plan)
            partial = "" if plan.complete else f"; {len(plan.reinitialised)} re-initialised (see {WARM_START_FILE})"
            _say(progress, f"initialised {len(plan.restored)} variables from {init_from} by name{partial}; "
                           f"global step starts at {settings.start_step}")
        elif settings.pretrained_backbone:
            n = load_pretrained_backbone(detector.network, settings.pretrained_backbone)
            _say(progress, f"feature extractor started from {settings.pretrained_backbone} ({n} variables)")
        return _loop(detector, optimizer, step, manager, settings, samples, run_dir, evaluation, strategy,
                     distributed, chief, progress)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _loop(detector: SSDDetector, optimizer, step: tf.Variable, manager: tf.train.CheckpointManager,
          settings: TrainSettings, samples: Sequence[Sample], run_dir: Path, evaluation: EvalSpec | None,
          strategy: tf.distribute.Strategy, distributed: bool, chief: bool, progress: bool) -> TrainResult:
    """Steps from the current global step to ``settings.steps``: summaries, checkpoints, evaluations."""
    config = detector.config
    start = int(step.numpy())
    if start >= settings.steps:
        _say(progress, f"{run_dir}: already trained {start} of {settings.steps} steps")
        return TrainResult(run_dir, start, {}, 0.0, 0.0, [], detector=detector)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return training_dataset(samples, config, detector.anchors_np,
                                context.get_per_replica_batch_size(settings.batch_size),
                                seed=settings.seed + start, augment=settings.augment, crop=settings.crop,
                                min_face_size=settings.min_face_size, photometric=settings.photometric,
                                shard=(context.num_input_pipelines, context.input_pipeline_id))

    if distributed:
        dataset = strategy.distribute_datasets_from_function(dataset_fn)
        train_step = make_distributed_train_step(detector, optimizer, strategy)
    else:
        dataset = dataset_fn(tf.distribute.InputContext())
        train_step = make_train_step(detector, optimizer)
    write = chief
    evaluator = TrainingEvaluator(config, evaluation, run_dir) if evaluation is not None and chief else None
    best = BestCheckpoint(run_dir, detector.network, step) if evaluator is not None else None
    report = None
    writer = tf.summary.create_file_writer(str(run_dir / SUMMARIES_DIR)) if write else tf.summary.create_noop_writer()
    bar = step_progbar(settings.steps, enabled=progress and chief, stateful_metrics=["loss", "img/s"],
                       unit_name="step")
    history: list[dict[str, float]] = []
    losses: dict[str, float] = {}
    t0 = time.perf_counter()
    window_t, window_steps = t0, 0
    eval_seconds = 0.0  # time spent evaluating: not training time
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
            if write:
                _append_history(run_dir, history[-1:])  # as it goes: a killed run keeps the rows it reached
            with writer.as_default(step=current):
                for k, v in losses.items():
                    tf.summary.scalar(k, v)
                tf.summary.scalar("learning_rate", float(optimizer.learning_rate))
                tf.summary.scalar("steps_per_sec", steps_per_second)
            bar.update(current, [("loss", losses["Loss/total_loss"]), ("img/s", images_per_second)])
        if current % settings.checkpoint_every == 0 or current == settings.steps:
            manager.save(checkpoint_number=current)
        if evaluator is not None and (current % evaluation.every == 0 or current == settings.steps):  # type: ignore
            eval_start = time.perf_counter()
            report = evaluator.evaluate(detector.network, current, train_seconds=eval_start - t0 - eval_seconds)
            improved = best.consider(current, report.metrics)  # type: ignore[union-attr]
            mean_ap = report.metrics["DetectionBoxes_Precision/mAP"]
            _say(progress, f"step {current}: mAP@.50IOU {report.map50:.4f}, mAP {mean_ap:.4f}"
                           + (" (best so far)" if improved else ""))
            window_t = time.perf_counter()  # evaluation time is not training speed
            eval_seconds += window_t - eval_start
    wall = time.perf_counter() - t0
    writer.flush()
    done = int(step.numpy())
    overall = (done - start) * settings.batch_size / max(wall, 1e-9)
    return TrainResult(run_dir, done, losses, wall, overall, history, report, detector=detector)


def _append_history(run_dir: Path, history: list[dict[str, float]]) -> None:
    with open(run_dir / HISTORY_FILE, "a") as f:
        for row in history:
            f.write(json.dumps(row) + "\n")


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr)
