"""Progressive schedules: several stages trained back to back, each continued from the one before.

``facessd train --schedule 160:4000,320:3000,512:1000 --stage-prefix keypoints/v1/NAME --out RUNS``
trains 4,000 steps at 160x160, continues those weights (by name, global step carried on) for
3,000 steps at 320 and 1,000 at 512 (the original experiments' 150 -> 360 -> 512). Each stage is
exported, evaluated on the evaluation benchmark (its sealed float16 weights, the figures recorded
in its manifest) and sealed as its own stage, whose parent is the stage before, pinned by hash.

Stage ids follow the original repository's names, the step count being the cumulative total:
``NAME_160_4K``, ``NAME_160_To_320_7K``, ``NAME_320_To_512_8K``.

``RUNS/schedule.json`` records the plan and the stages sealed so far. Running the same command
again after a kill skips the sealed stages and resumes the stage that was training from its last
checkpoint (``RUNS/<n>-<size>/``); a different plan in the same folder is refused.

Under a ``tf.distribute`` strategy every stage trains on its replicas (``trainer.train``). With
several workers only the chief exports, evaluates, seals and writes ``schedule.json``; the others
train each stage with it and, before the next, wait until the chief has sealed the one it starts
from (the archive and ``RUNS`` must be on a file system every worker reads).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from facessd_archive.data.sample import Sample
from facessd_archive.errors import ConfigError, StageExistsError
from facessd_archive.fileio import atomic_write_json
from facessd_archive.train.lineage import StartingPoint, export_run, start_from_stage
from facessd_archive.train.periodic_eval import EvalSpec, TrainingEvaluator
from facessd_archive.train.plan import RunOptions, model_config_for, train_settings_for
from facessd_archive.train.strategies import is_chief
from facessd_archive.train.trainer import train

SCHEDULE_FILE = "schedule.json"
EXPORT_DIR = "export"


@dataclass(frozen=True)
class ScheduleStage:
    input_size: int
    steps: int


def parse_schedule(text: str) -> tuple[ScheduleStage, ...]:
    """``"160:4000,320:3000"`` -> stages (input size, own steps); one-line ConfigError otherwise."""
    stages = []
    for part in text.split(","):
        size, sep, steps = part.strip().partition(":")
        if not sep or not size.strip().isdigit() or not steps.strip().isdigit():
            raise ConfigError(f"--schedule: {part.strip()!r} is not SIZE:STEPS (e.g. 160:4000,320:3000)")
        stage = ScheduleStage(int(size), int(steps))
        if stage.input_size < 33 or stage.steps <= 0:
            raise ConfigError(f"--schedule: {part.strip()!r} needs a size >= 33 and steps > 0")
        stages.append(stage)
    return tuple(stages)


def steps_label(total: int) -> str:
    """The original experiments' step labels: 4000 -> ``4K``, 9500 -> ``9K5``, 1600000 -> ``1_6M``."""
    if total >= 1_000_000 and total % 100_000 == 0:
        whole, tenth = divmod(total // 100_000, 10)
        return f"{whole}_{tenth}M" if tenth else f"{whole}M"
    if total >= 1000 and total % 100 == 0:
        whole, tenth = divmod(total // 100, 10)
        return f"{whole}K{tenth}" if tenth else f"{whole}K"
    return str(total)


def schedule_stage_ids(prefix: str, stages: Sequence[ScheduleStage], start_step: int = 0,
                       start_size: int | None = None) -> list[str]:
    """``PREFIX_160_4K``, ``PREFIX_160_To_320_7K``, ... (cumulative steps; ``start_*`` from a --from parent)."""
    ids, total, previous = [], start_step, start_size
    for stage in stages:
        total += stage.steps
        sizes = f"{previous}_To_{stage.input_size}" if previous is not None else f"{stage.input_size}"
        ids.append(f"{prefix}_{sizes}_{steps_label(total)}")
        previous = stage.input_size
    return ids


@dataclass(frozen=True)
class ScheduleRun:
    """What one ``run_schedule`` call did: every stage id of the plan, and those it sealed now."""

    stage_ids: list[str]
    sealed_now: list[str]


def run_schedule(archive, stages: Sequence[ScheduleStage], prefix: str, options: RunOptions,
                 samples: Sequence[Sample], out_dir: Path, *, dataset=None, from_stage: str | None = None,
                 evaluation: EvalSpec | None = None, allow_partial: bool = False, hardware: str | None = None,
                 progress: bool = True, strategy=None, wait_seconds: float = 24 * 3600) -> ScheduleRun:
    """Train, export, evaluate and seal each stage of ``stages`` in turn (see the module docstring).

    ``strategy`` (``strategies.make_strategy``) trains every stage on its replicas; a worker that is
    not the chief waits at most ``wait_seconds`` for the chief to seal a stage."""
    from facessd_archive.archive.records import DatasetRef, Evaluation, Training

    out_dir = Path(out_dir)
    chief = strategy is None or is_chief(strategy)
    first: StartingPoint | None = start_from_stage(archive, from_stage) if from_stage else None
    parent_size = archive.get(from_stage).manifest.model_config.input_size if from_stage else None
    ids = schedule_stage_ids(prefix, stages, first.start_step if first else 0, parent_size)
    state = _load_state(out_dir, stages, prefix, from_stage, write=chief)
    for stage_id in ids:  # before any training: a clash found after hours of it is no help
        if archive.exists(stage_id) and stage_id not in state["sealed"]:
            raise StageExistsError(f"{stage_id} is sealed already (not by this schedule in {out_dir}); "
                                   f"choose another --stage-prefix")
    sealed_now = []
    for i, (stage, stage_id) in enumerate(zip(stages, ids)):
        # Another worker reads the chief's schedule.json late or not at all: the archive decides.
        if (stage_id in state["sealed"] or not chief) and archive.exists(stage_id):
            _say(progress, f"{stage_id}: sealed already, continuing from it")
            continue
        if i > 0 and not chief:
            _wait_for_stage(archive, ids[i - 1], wait_seconds)
        start = first if i == 0 else start_from_stage(archive, ids[i - 1])
        stage_options = dataclasses.replace(options, input_size=stage.input_size, steps=stage.steps,
                                            depth_multiplier=options.depth_multiplier if i == 0 else None)
        config = model_config_for(stage_options, start.weights if start else None)
        settings = train_settings_for(stage_options, config, start.start_step if start else 0,
                                      warm_started=start is not None)
        run_dir = out_dir / f"{i + 1}-{stage.input_size}"
        _say(progress, f"stage {i + 1}/{len(stages)}: {stage_id} ({stage.steps} steps at {stage.input_size}, "
                       f"global steps {settings.start_step}..{settings.steps}) -> {run_dir}")
        train(config, settings, samples, run_dir, init_from=start.weights if start else None, progress=progress,
              allow_partial=allow_partial, parent=start.parent if start else None, evaluation=evaluation,
              strategy=strategy)
        if not chief:
            continue  # the chief exports, evaluates and seals
        export = run_dir / EXPORT_DIR
        if export.exists():
            shutil.rmtree(export)  # a half export from a killed attempt
        export_run(run_dir, export)
        evaluations, reference = [], None
        if evaluation is not None:
            from facessd_archive.model.checkpoint import load_detector

            evaluator = TrainingEvaluator(config, evaluation, None, write=False)
            report = evaluator.evaluate(load_detector(export).network, settings.steps)
            info = report.benchmark
            benchmark = DatasetRef(info.benchmark_id, split=info.split, sha256=info.content_hash)
            evaluations = [Evaluation.measured(benchmark, report.metrics, input_size=stage.input_size,
                                               note=f"at the end of the schedule's stage: {info.num_images} images, "
                                                    f"{info.num_faces} faces; runtime {evaluator.runtime_label}")]
            reference = info.benchmark_id
        training = Training.from_train_settings(settings, stage.input_size, hardware, dataset)
        parent = start.parent["stage_id"] if start and start.parent else None
        archive.seal(stage_id, export, config, training, parent=parent, evaluations=evaluations,
                     reference_benchmark=reference,
                     description=f"stage {i + 1} of {len(stages)} of a progressive schedule "
                                 f"({','.join(f'{s.input_size}:{s.steps}' for s in stages)})")
        state["sealed"].append(stage_id)
        atomic_write_json(out_dir / SCHEDULE_FILE, state)
        sealed_now.append(stage_id)
        _say(progress, f"sealed {stage_id}")
    return ScheduleRun(ids, sealed_now)


def _wait_for_stage(archive, stage_id: str, seconds: float) -> None:
    """A worker that is not the chief: wait until the chief has sealed ``stage_id``."""
    deadline = time.monotonic() + seconds
    while not archive.exists(stage_id):
        if time.monotonic() > deadline:
            raise ConfigError(f"waited {seconds:.0f} s for the chief to seal {stage_id}; is the archive on a "
                              f"file system every worker reads?")
        time.sleep(1.0)


def _load_state(out_dir: Path, stages: Sequence[ScheduleStage], prefix: str, from_stage: str | None,
                write: bool = True) -> dict:
    """``schedule.json``: the plan and what is sealed; a different plan in the same folder is refused.
    ``write=False`` (a worker that is not the chief) only reads it."""
    plan = {"stages": [[s.input_size, s.steps] for s in stages], "prefix": prefix, "from": from_stage}
    path = out_dir / SCHEDULE_FILE
    if path.is_file():
        state = json.loads(path.read_text())
        if state.get("plan") != plan:
            raise ConfigError(f"{path}: holds another schedule ({state.get('plan')}); choose a new --out")
        return state
    state = {"plan": plan, "sealed": []}
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, state)
    return state


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr)
