"""``facessd train``."""

from __future__ import annotations

from pathlib import Path

import click

from facessd_archive.cli import main


@main.command()
@click.option("--data", "data_roots", type=click.Path(path_type=Path), multiple=True,
              help="Training data: a VOC folder or any benchmark format `evaluate` reads; repeat to train on "
                   "several (their images are pooled). Default: the built-in synthetic sample benchmark (to try "
                   "the loop anywhere, not to train a useful detector).")
@click.option("--format", "data_format", default=None, help="Data format when detection is ambiguous.")
@click.option("--split", "splits", type=click.Path(path_type=Path), multiple=True,
              help="Split file of image names; relative paths are looked up in --data first. One for every "
                   "--data (in order), or one looked up in each.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Run folder (resumed if it already holds checkpoints of the same model).")
@click.option("--preset", type=click.Choice(["facemask", "wider", "wider-v2"]), default="facemask",
              show_default=True,
              help="Model for a fresh run: 'facemask' (the zoo SSD with face anchors, square input), 'wider' "
                   "(MobileNetV1, stride-8 FPN, pixel anchors, any input shape: faces in the wild) or 'wider-v2' "
                   "(the same on MobileNetV2, started from ImageNet weights). --from/--init-from "
                   "inherit the parent's model instead; only what you change (input size, depth multiplier) changes.")
@click.option("--pretrained/--no-pretrained", default=None,
              help="Start a fresh run's MobileNetV2 from the ImageNet weights shipped in the package "
                   "[default: on for --preset wider-v2].")
@click.option("--input-size", type=int, default=None, help="Training input side [default: 300, wider 512, "
              "or the parent's].")
@click.option("--depth-multiplier", type=float, default=None, help="[default: 1.0, wider 0.5]")
@click.option("--crop", type=click.Choice(["ssd", "square"]), default=None,
              help="Training crop: the OD API's ssd_random_crop, or WIDER-style random squares of 0.3-1.0 of the "
                   "shorter side [default: ssd; square for --preset wider].")
@click.option("--min-face-size", type=float, default=None,
              help="Faces smaller than this many pixels at the training input become ignore regions "
                   "[default: 0; 6 for --preset wider].")
@click.option("--photometric/--no-photometric", default=None,
              help="Brightness/contrast/saturation jitter [default: off; on for --preset wider].")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--steps", type=int, default=2000, show_default=True)
@click.option("--learning-rate", type=float, default=2e-3, show_default=True,
              help="Peak rate of the cosine schedule.")
@click.option("--warmup-steps", type=int, default=100, show_default=True)
@click.option("--optimizer", type=click.Choice(["adam", "momentum"]), default="adam", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=int, default=200, show_default=True)
@click.option("--init-from", type=click.Path(path_type=Path), default=None,
              help="Start the weights from this model folder (fine-tune, any input size; restored by variable "
                   "name and shape; the global step starts at 0).")
@click.option("--from", "from_stage", default=None, metavar="STAGE",
              help="Continue an archived stage (pulled if needed): its model config, its weights by variable name "
                   "and shape, its cumulative global step; recorded as the parent.")
@click.option("--allow-partial", is_flag=True,
              help="With --from/--init-from: when some variables have no source of the same name and shape "
                   "(another depth multiplier), restore those that match and re-initialise the rest "
                   "(both lists in warm_start.json) instead of refusing.")
@click.option("--eval-benchmark", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Evaluate while training on this benchmark (any format `evaluate` reads): COCO figures to "
                   "TensorBoard (RUN/eval) and eval_history.jsonl; the best mAP@.50IOU checkpoint kept in RUN/best.")
@click.option("--eval-split", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Split file of the evaluation benchmark (relative paths looked up in it).")
@click.option("--eval-every", type=int, default=500, show_default=True,
              help="Evaluate every N steps (and at the end) with --eval-benchmark.")
@click.option("--schedule", default=None, metavar="SIZE:STEPS,...",
              help="Train stages back to back, e.g. 160:4000,320:3000,512:1000: each continued from the one "
                   "before, exported, evaluated on --eval-benchmark and sealed as its own stage. Rerun the same "
                   "command to resume after a kill.")
@click.option("--stage-prefix", default=None, metavar="STAGE",
              help="With --schedule: stage ids PREFIX_160_4K, PREFIX_160_To_320_7K, ... (cumulative steps).")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker", "tpu"]), default="default",
              show_default=True,
              help="tf.distribute: one device; every local GPU (mirrored); the machines TF_CONFIG names "
                   "(multiworker); a TPU (tpu). --batch-size is the global batch. See docs/distributed.md.")
@click.option("--tpu", "tpu_name", default=None, metavar="NAME",
              help="With --strategy tpu: the TPU's name or address (default: the local TPU of a Cloud TPU VM).")
@click.option("--archive", "archive_root", type=click.Path(path_type=Path), default=None,
              help="Archive root for --from (default: $FACESSD_ARCHIVE, else the repository's archive/).")
def train(data_roots: tuple[Path, ...], data_format: str | None, splits: tuple[Path, ...], out_dir: Path,
          preset: str, pretrained: bool | None, input_size: int | None, depth_multiplier: float | None,
          crop: str | None, min_face_size: float | None,
          photometric: bool | None, batch_size: int, steps: int, learning_rate: float, warmup_steps: int,
          optimizer: str, seed: int, checkpoint_every: int, init_from: Path | None, from_stage: str | None,
          allow_partial: bool, eval_benchmark: Path | None, eval_split: Path | None, eval_every: int,
          schedule: str | None, stage_prefix: str | None, strategy: str, tpu_name: str | None,
          archive_root: Path | None) -> None:
    """Train a face detector on any benchmark `evaluate` reads (from scratch, --from a stage or --init-from a folder).

    \b
    --steps counts this run's own steps; continued --from a stage, the global step (checkpoints,
    TensorBoard, the sealed stage's steps) carries on from the stage's cumulative count.
    """
    from facessd_archive.train.lineage import StartingPoint, start_from_stage
    from facessd_archive.train.plan import RunOptions, model_config_for, train_settings_for
    from facessd_archive.train.trainer import train as run_training

    from facessd_archive.train.strategies import make_strategy

    if tpu_name is not None and strategy != "tpu":
        raise click.UsageError("--tpu needs --strategy tpu")
    # First: a multi-worker or TPU strategy must configure TensorFlow before anything else runs.
    distribution = None if strategy == "default" else make_strategy(strategy, tpu=tpu_name)
    samples, source = _training_samples(data_roots, data_format, splits)
    options = RunOptions(preset=preset, input_size=input_size, depth_multiplier=depth_multiplier, crop=crop,
                         min_face_size=min_face_size, photometric=photometric, pretrained=pretrained,
                         batch_size=batch_size, steps=steps, learning_rate=learning_rate, warmup_steps=warmup_steps,
                         optimizer=optimizer, seed=seed, checkpoint_every=checkpoint_every)
    evaluation = _eval_spec(eval_benchmark, eval_split, eval_every)
    if schedule is not None or stage_prefix is not None:
        if schedule is None or stage_prefix is None:
            raise click.UsageError("--schedule and --stage-prefix go together")
        if input_size is not None or init_from is not None:
            raise click.UsageError("with --schedule the sizes are in the schedule, and --from names the start")
        _train_schedule(schedule, stage_prefix, options, samples, source, data_roots, splits, out_dir, from_stage,
                        evaluation, allow_partial, archive_root, distribution)
        return
    start: StartingPoint | None = None
    if from_stage is not None:
        if init_from is not None:
            raise click.UsageError("give either --from STAGE or --init-from FOLDER, not both")
        from facessd_archive.archive import open_archive

        start = start_from_stage(open_archive(archive_root), from_stage)
    elif init_from is not None:
        start = StartingPoint(Path(init_from))
    elif allow_partial:
        raise click.UsageError("--allow-partial needs --from STAGE or --init-from FOLDER")
    config = model_config_for(options, start.weights if start else None)
    settings = train_settings_for(options, config, start.start_step if start else 0, warm_started=start is not None)
    click.echo(f"training on {len(samples)} images from {source} -> {out_dir}", err=True)
    result = run_training(config, settings, samples, out_dir, init_from=start.weights if start else None,
                          allow_partial=allow_partial, parent=start.parent if start else None,
                          evaluation=evaluation, strategy=distribution)
    own = f" ({result.steps_done - settings.start_step} in this run)" if settings.start_step else ""
    click.echo(f"done: {result.steps_done} steps{own} in {result.wall_seconds:.0f} s "
               f"({result.images_per_second:.1f} img/s); checkpoints in {out_dir / 'checkpoints'}")


def _train_schedule(schedule: str, prefix: str, options, samples, source: str, data_roots: tuple[Path, ...],
                    splits: tuple[Path, ...], out_dir: Path, from_stage: str | None, evaluation, allow_partial: bool,
                    archive_root: Path | None, strategy=None) -> None:
    from facessd_archive.archive import open_archive
    from facessd_archive.archive.records import DatasetRef
    from facessd_archive.evaluate.evaluation import hardware_description
    from facessd_archive.train.progressive import parse_schedule, run_schedule
    from facessd_archive.train.strategies import describe

    stages = parse_schedule(schedule)
    dataset_id = "+".join(r.name for r in data_roots) if data_roots else "sample"
    split = "+".join(p.name for p in splits) if splits else None
    click.echo(f"schedule {schedule} on {len(samples)} images from {source} -> {out_dir}", err=True)
    done = run_schedule(open_archive(archive_root), stages, prefix, options, samples, out_dir,
                        dataset=DatasetRef(dataset_id, split=split), from_stage=from_stage, evaluation=evaluation,
                        allow_partial=allow_partial, strategy=strategy,
                        hardware=hardware_description() + (f"; {describe(strategy)}" if strategy is not None else ""))
    for stage_id in done.stage_ids:
        click.echo(f"{stage_id}: {'sealed' if stage_id in done.sealed_now else 'sealed before'}")


def _eval_spec(benchmark: Path | None, split: Path | None, every: int):
    from facessd_archive.train.periodic_eval import EvalSpec

    if benchmark is None:
        if split is not None:
            raise click.UsageError("--eval-split needs --eval-benchmark")
        return None
    return EvalSpec(benchmark, _resolve_split(benchmark, split), every)


def _training_samples(data_roots: tuple[Path, ...], data_format: str | None, splits: tuple[Path, ...]):
    """The pooled samples of every --data (with its --split), or the synthetic sample benchmark; and a label."""
    from facessd_archive.data.readers.formats import load_benchmark

    if not data_roots:
        from facessd_archive.data.synthetic.benchmark import sample_benchmark

        if splits:
            raise click.UsageError("--split needs --data")
        return sample_benchmark(), "the built-in synthetic sample benchmark"
    if len(splits) > 1 and len(splits) != len(data_roots):
        raise click.UsageError(f"give one --split, or one per --data ({len(data_roots)}), not {len(splits)}")
    samples = []
    for i, root in enumerate(data_roots):
        split = splits[i] if len(splits) > 1 else (splits[0] if splits else None)
        benchmark = load_benchmark(root, fmt=data_format, split=_resolve_split(root, split))
        samples.extend(benchmark.samples)
        for note in benchmark.notes:
            click.echo(f"note: {root}: {note}", err=True)
    return samples, " + ".join(str(r) for r in data_roots)


def _resolve_split(data_root: Path, split: Path | None) -> Path | None:
    """A relative split not found as given is looked up in the data folder (``--split train.txt``)."""
    if split is None:
        return None
    if not split.is_absolute() and not split.exists() and (data_root / split).exists():
        return data_root / split
    return split

