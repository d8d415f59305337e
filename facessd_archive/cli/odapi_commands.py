"""Bringing Object Detection API work in and sending stages out: ``import``, ``export``, ``export-run``."""

from __future__ import annotations

import re
from pathlib import Path

import click

from facessd_archive.cli import main
from facessd_archive.cli.archive_commands import archive_option

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``8G``, ``500M``, ``1.5GiB`` or plain bytes -> bytes (powers of 1024)."""
    m = _SIZE.match(text)
    if m is None:
        raise click.BadParameter(f"{text!r} is not a size like 8G, 500M or 1048576")
    return int(float(m[1]) * 1024 ** "bkmgt".index((m[2] or "b").lower()))


@main.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--stage", "stage_id", required=True, metavar="STAGE",
              help="Stage id to seal, e.g. keypoints/v1/my_run. An original stage recorded without weights "
                   "(keypoints/v1/v1_150x150_300K ...) is filled as its new version NAME-v2.")
@click.option("--step", type=int, default=None,
              help="Import model.ckpt-STEP [default: the one the 'checkpoint' file names, else the newest].")
@click.option("--use-moving-averages", is_flag=True,
              help="Take each variable's ExponentialMovingAverage value, as the OD API's exporter does.")
@click.option("--password", default=None, help="Password of an encrypted archive.")
@click.option("--max-extract-size", default="8G", show_default=True,
              help="Refuse an archive whose files to extract hold more than this (8G, 500M, bytes).")
@click.option("--new-version", is_flag=True, help="If STAGE is sealed with weights already, seal STAGE-v2.")
@click.option("--description", default=None, help="One line for the model card.")
@click.option("--default", "make_default", is_flag=True, help="Make it the archive's default stage.")
@archive_option
def import_command(path: Path, stage_id: str, step: int | None, use_moving_averages: bool, password: str | None,
                   max_extract_size: str, new_version: bool, description: str | None, make_default: bool,
                   archive_dir: Path | None) -> None:
    """Seal an Object Detection API run (folder or archive) as a stage.

    \b
    PATH: an OD API output folder (pipeline.config + model.ckpt-N.*), or an archive of one:
    NAME.7z.001 (multi-volume 7z), NAME.zip.001 (byte-split zip), NAME.z01 / NAME.zip (spanned
    zip), NAME.zip, NAME.7z, NAME.tar[.gz].
      facessd import v1_150x150_300K.7z.001 --stage keypoints/v1/v1_150x150_300K
      facessd import runs/odapi_train --stage keypoints/v1/my_run --step 200000
    """
    from facessd_archive.archive import open_archive
    from facessd_archive.odapi.importer import import_odapi

    result = import_odapi(open_archive(archive_dir), path, stage_id, step=step,
                          use_moving_averages=use_moving_averages, password=password,
                          max_extract_bytes=parse_size(max_extract_size), new_version=new_version,
                          description=description, set_default=make_default)
    m = result.stage.manifest
    step_text = result.report.global_step if result.report.global_step is not None else "unknown"
    click.echo(f"imported {result.source.prefix.name} (global step {step_text}, {result.report.mapped} variables, "
               f"{result.report.skipped} optimizer/step variables skipped) from {path}")
    filled = f", filling the record {result.filled_record}" if result.filled_record else ""
    click.echo(f"sealed {result.stage.stage_id}{filled} ({len(m.files)} files, content {m.content_hash[:12]})")


@main.command()
@click.argument("stage")
@click.option("--format", "fmt", type=click.Choice(["saved_model", "tflite"]), required=True,
              help="saved_model: the OD API's serving_default outputs, any image size; tflite: the four "
                   "TFLite_Detection_PostProcess outputs, one fixed square input.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write saved_model/ (+ label_map.pbtxt) or model.tflite (+ labels.txt) into, "
                   "with export.json (input size, resize rule).")
@click.option("--max-side", type=click.IntRange(min=33), default=None,
              help="Stages that keep the aspect ratio: scale the longer side to at most N and zero-pad to "
                   "one N x N square (N rounded up to a multiple of 32) [default: the stage's max_dimension, "
                   "else 640]. Not for stages that squash to a square.")
@click.option("--max-detections", type=click.IntRange(min=1), default=None,
              help="Return at most N detections (NMS keeps the N best) [default: the stage's own, 750 for the "
                   "WIDER presets]. The TFLite post-processing op pays for each box it keeps: 100 is what "
                   "COCO mAP reads and what most apps want.")
@click.option("--float16", is_flag=True, help="tflite: store the weights as float16 (half the size).")
@click.option("--int8", is_flag=True,
              help="tflite: int8 weights and activations, calibrated on 300 training images (facemask "
                   "train.txt when ../shared is present, else the synthetic sample benchmark); the "
                   "post-processing op stays float.")
@archive_option
def export(stage: str, fmt: str, out_dir: Path, max_side: int | None, max_detections: int | None, float16: bool,
           int8: bool, archive_dir: Path | None) -> None:
    """Export STAGE (a stage id or a model folder) as a SavedModel or a TFLite model.

    \b
      facessd export keypoints/v1/facemask_384x384_dm050_8K --format saved_model --out exported/
      facessd export keypoints/v1/facemask_384x384_dm050_8K --format tflite --float16 --out exported/
      facessd export keypoints/v1/facemask_384x384_dm050_8K --format tflite --int8 --out exported/
      facessd export keypoints/v1/wider_384_To_640_dm050_6K3 --format tflite --max-side 640 --out exported/
      facessd export keypoints/v1/wider_facemask_320_mnv2_2K --format tflite --int8 --max-detections 100 --out exported/
    """
    from facessd_archive.odapi.export import (export_policy, export_saved_model, export_tflite, float16_weights,
                                              int8_option, load_for_export)

    if (float16 or int8) and fmt != "tflite":
        raise click.UsageError(f"--{'float16' if float16 else 'int8'} applies to --format tflite")
    if float16 and int8:
        raise click.UsageError("give --float16 or --int8, not both")
    detector, label = load_for_export(stage, archive_dir)
    policy = export_policy(detector.config, max_side)  # refuses --max-side on a squashed-square stage
    if fmt == "saved_model":
        path = export_saved_model(detector, out_dir, max_side=max_side, name=label, max_detections=max_detections)
    else:
        options = [float16_weights] if float16 else []
        if int8:
            options = [int8_option(detector, max_side)]
        path = export_tflite(detector, out_dir, options=options, max_side=max_side, name=label,
                             max_detections=max_detections)
    click.echo(f"exported {label} -> {path} (input: {policy.describe()})")


@main.command("export-run")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--dtype", type=click.Choice(["float16", "float32"]), default="float16", show_default=True)
def export_run_command(run_dir: Path, out_dir: Path, dtype: str) -> None:
    """Write RUN_DIR's latest checkpoint as a compact weights folder (what `facessd seal` takes)."""
    from facessd_archive.train.lineage import export_run

    files = export_run(run_dir, out_dir, dtype=dtype)
    click.echo(f"exported {run_dir} -> {out_dir} ({', '.join(sorted(files))})")
