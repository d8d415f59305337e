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
                   "inherit the parent's model instead; only the input size changes.")
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
              help="Start the weights from this model folder (fine-tune, any input size).")
@click.option("--from", "from_stage", default=None, metavar="STAGE",
              help="Start the weights from an archived stage (pulled if needed) and record it as the parent.")
@click.option("--archive", "archive_root", type=click.Path(path_type=Path), default=None,
              help="Archive root for --from (default: $FACESSD_ARCHIVE, else the repository's archive/).")
def train(data_roots: tuple[Path, ...], data_format: str | None, splits: tuple[Path, ...], out_dir: Path,
          preset: str, pretrained: bool | None, input_size: int | None, depth_multiplier: float | None,
          crop: str | None, min_face_size: float | None,
          photometric: bool | None, batch_size: int, steps: int, learning_rate: float, warmup_steps: int,
          optimizer: str, seed: int, checkpoint_every: int, init_from: Path | None, from_stage: str | None,
          archive_root: Path | None) -> None:
    """Train a face detector on any benchmark `evaluate` reads (from scratch, --from a stage or --init-from a folder)."""
    from facessd_archive.data.readers.formats import load_benchmark
    from facessd_archive.train.settings import TrainSettings
    from facessd_archive.train.trainer import train as run_training

    if not data_roots:
        from facessd_archive.data.synthetic.benchmark import sample_benchmark

        if splits:
            raise click.UsageError("--split needs --data")
        samples = sample_benchmark()
        source = "the built-in synthetic sample benchmark"
    else:
        if len(splits) > 1 and len(splits) != len(data_roots):
            raise click.UsageError(f"give one --split, or one per --data ({len(data_roots)}), not {len(splits)}")
        samples = []
        for i, root in enumerate(data_roots):
            split = splits[i] if len(splits) > 1 else (splits[0] if splits else None)
            benchmark = load_benchmark(root, fmt=data_format, split=_resolve_split(root, split))
            samples.extend(benchmark.samples)
            for note in benchmark.notes:
                click.echo(f"note: {root}: {note}", err=True)
        source = " + ".join(str(r) for r in data_roots)
    if from_stage is not None:
        if init_from is not None:
            raise click.UsageError("give either --from STAGE or --init-from FOLDER, not both")
        from facessd_archive.archive import open_archive, stage_weights_folder
        from facessd_archive.train.lineage import record_parent

        archive = open_archive(archive_root)
        init_from = stage_weights_folder(from_stage, archive=archive)
        record_parent(out_dir, archive.get(from_stage))
    config = _model_config(preset, input_size, depth_multiplier, init_from)
    # A model for faces in the wild (keep-aspect inference) trains with the wider augmentation.
    wider = preset in ("wider", "wider-v2") or config.resizer.kind == "keep_aspect_ratio"
    if pretrained and config.feature_extractor != "ssd_mobilenet_v2":
        raise click.UsageError("--pretrained needs a MobileNetV2 model (--preset wider-v2)")
    use_pretrained = init_from is None and (pretrained if pretrained is not None else preset == "wider-v2")
    settings = TrainSettings(steps=steps, batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate,
                             warmup_steps=min(warmup_steps, steps), seed=seed, checkpoint_every=checkpoint_every,
                             crop=crop or ("square" if wider else "ssd"),
                             min_face_size=min_face_size if min_face_size is not None else (6.0 if wider else 0.0),
                             photometric=photometric if photometric is not None else wider,
                             pretrained_backbone="imagenet_mobilenet_v2" if use_pretrained else None)
    click.echo(f"training on {len(samples)} images from {source} -> {out_dir}", err=True)
    result = run_training(config, settings, samples, out_dir, init_from=init_from)
    click.echo(f"done: {result.steps_done} steps in {result.wall_seconds:.0f} s "
               f"({result.images_per_second:.1f} img/s); checkpoints in {out_dir / 'checkpoints'}")


def _model_config(preset: str, input_size: int | None, depth_multiplier: float | None, parent: Path | None):
    """The parent's config (only the input size may change), or a fresh one from the preset."""
    import dataclasses

    from facessd_archive.model.checkpoint import load_config
    from facessd_archive.model.config import face_config, wider_face_config, wider_face_v2_config

    if parent is not None:
        config = load_config(Path(parent))
        if depth_multiplier is not None and depth_multiplier != config.depth_multiplier:
            raise click.UsageError(f"--depth-multiplier {depth_multiplier} differs from the parent's "
                                   f"{config.depth_multiplier}: its weights would not fit")
        return dataclasses.replace(config, input_size=input_size or config.input_size)
    if preset == "wider-v2":
        if depth_multiplier not in (None, 1.0):
            raise click.UsageError("--preset wider-v2 is MobileNetV2 at depth multiplier 1.0 (its ImageNet weights)")
        return wider_face_v2_config(input_size or 384)
    if preset == "wider":
        return wider_face_config(input_size or 512, depth_multiplier or 0.5)
    return face_config(input_size or 300, depth_multiplier or 1.0)


def _resolve_split(data_root: Path, split: Path | None) -> Path | None:
    """A relative split not found as given is looked up in the data folder (``--split train.txt``)."""
    if split is None:
        return None
    if not split.is_absolute() and not split.exists() and (data_root / split).exists():
        return data_root / split
    return split

