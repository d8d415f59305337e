"""``facessd evaluate`` and ``facessd compare``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from facessd_archive.cli import main
from facessd_archive.progress import progressbar


def _benchmark_options(f):
    f = click.option("--benchmark", type=click.Path(path_type=Path), default=None,
                     help="Benchmark path (VOC folder, WIDER, FDDB, COCO JSON, dlib XML, Open Images CSV). "
                          "Default: the built-in synthetic sample benchmark.")(f)
    f = click.option("--format", "fmt", default=None, help="Benchmark format when detection is ambiguous.")(f)
    f = click.option("--split", type=click.Path(path_type=Path), default=None,
                     help="Split file of image names; relative paths are looked up in --benchmark first.")(f)
    f = click.option("--skip-bad", is_flag=True, help="Skip and count bad images/boxes instead of stopping.")(f)
    f = click.option("--batch-size", type=int, default=8, show_default=True)(f)
    f = click.option("--archive", "archive_root", type=click.Path(path_type=Path), default=None,
                     help="Archive root (default: $FACESSD_ARCHIVE, else the checkout the current folder is in, "
                          "else the per-user archive).")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of a table.")(f)
    f = click.option("--report", "report_dir", type=click.Path(path_type=Path), default=None,
                     help="Write metrics.json, summary.md, pr_curve.png (and wider_pr_curves.png under --protocol "
                          "wider) and example images here.")(f)
    return f


def _load_benchmark(benchmark, fmt, split, skip_bad):
    from facessd_archive.evaluate.api import load_benchmark_spec

    if split is not None and benchmark is not None and not split.is_absolute() and not split.exists():
        candidate = benchmark / split if benchmark.is_dir() else benchmark.parent / split
        split = candidate if candidate.exists() else split
    loaded = load_benchmark_spec(benchmark, fmt=fmt, split=split, skip_bad=skip_bad)
    if loaded.skipped:
        click.echo(f"warning: skipped {len(loaded.skipped)} bad item(s), first: {loaded.skipped[0]}", err=True)
    for note in loaded.notes:
        click.echo(f"note: {note}", err=True)
    return loaded


def resize_options(f):
    """--max-side / --original-size: keep the aspect ratio instead of the model's own resizer."""
    f = click.option("--max-side", type=click.IntRange(min=33), default=None,
                     help="Keep the aspect ratio and scale the longer side to at most this many pixels "
                          "(padded to a multiple of 32); default: the model's own resizer.")(f)
    f = click.option("--original-size", is_flag=True,
                     help="Run at each image's own size (aspect kept, padded to a multiple of 32): how WIDER "
                          "FACE figures are reported. Models trained with keep_aspect_ratio do this by default.")(f)
    return f


TWO_SCALE_HELP = ("A second, cheap pass with each picture scaled to the stage's training input size, for faces "
                  "larger than its training crops (portraits, phone photos); each pass keeps the face sizes it "
                  "sees well (docs/commands.md). Stages that keep the aspect ratio, --runtime tf.")


def _two_scale_option(f):
    return click.option("--two-scale", is_flag=True, help=TWO_SCALE_HELP + " [default: off, one pass]")(f)


def _protocol_options(f):
    f = click.option("--protocol", type=click.Choice(["coco", "wider"]), default="coco", show_default=True,
                     help="coco: the twelve COCO figures (pycocotools). wider: also WIDER FACE's own AP on "
                          "Easy / Medium / Hard (official val .mat files; the benchmark must be WIDER val).")(f)
    f = click.option("--wider-eval-dir", type=click.Path(path_type=Path), default=None,
                     help="Folder of wider_face_val.mat and wider_{easy,medium,hard}_val.mat "
                          "(default: <benchmark>/eval_tools/ground_truth).")(f)
    return f


def _wider_truth(loaded, protocol, wider_eval_dir):
    """The WIDER ground truth for ``--protocol wider`` (checked before any detector runs), else None."""
    if protocol != "wider":
        if wider_eval_dir is not None:
            raise click.UsageError("--wider-eval-dir applies to --protocol wider")
        return None
    from facessd_archive.evaluate.api import load_wider_protocol

    return load_wider_protocol(loaded, wider_eval_dir)


def _run(resolved, loaded, batch_size, wider):
    from facessd_archive.evaluate.api import evaluate as run_evaluation

    with progressbar(len(loaded.samples), label=f"{resolved.detector.name}") as bar:
        return run_evaluation(resolved, loaded, batch_size=batch_size, progress=bar.update, wider=wider)


def _emit(results, loaded, as_json, report_dir):
    from facessd_archive.evaluate.table import format_reports

    reports = [r.report for r in results]
    if report_dir is not None:
        from facessd_archive.evaluate.report_files import write_report_dir

        write_report_dir(report_dir, reports, loaded.samples, [r.detections for r in results])
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        click.echo(format_reports(reports))
    if report_dir is not None:
        click.echo(f"report written to {report_dir}", err=True)


@main.command()
@click.argument("detector", required=False)
@_benchmark_options
@_protocol_options
@click.option("--runtime", type=click.Choice(["tf", "tflite", "tflite-int8"]), default="tf", show_default=True,
              help="Run the SSD graph with TensorFlow, with TFLite (XNNPACK, float32) or with TFLite on the "
                   "int8 model (calibrated on training images, cached).")
@resize_options
@_two_scale_option
@click.option("--detector", "detector_option", default=None, metavar="DETECTOR",
              help="Same as the DETECTOR argument (stage, model folder, or a peer: yunet, blazeface, "
                   "blazeface-short, mtcnn, haar).")
@click.option("--record", is_flag=True,
              help="Append the figures to the stage's manifest as a measured evaluation (stages only).")
@click.option("--save-predictions", "save_dir", type=click.Path(path_type=Path), default=None,
              help="Write the detections in WIDER's submission layout: DIR/<event>/<image name>.txt "
                   "(name, count, then 'x y w h score' lines in original pixels).")
@click.option("--predictions", "predictions_dir", type=click.Path(path_type=Path), default=None,
              help="Score the detections in this WIDER-layout folder (from --save-predictions or any WIDER "
                   "tool) instead of running a detector.")
@click.option("--strategy", "strategy_name", type=click.Choice(["default", "mirrored", "multiworker", "tpu"]),
              default=None,
              help="Run the SSD graph under this tf.distribute strategy with static shapes (one padded square "
                   "input, --batch-size images per global batch, fixed-size NMS), as a TPU needs: default (one "
                   "device), mirrored (all local GPUs), multiworker (TF_CONFIG), tpu. See docs/distributed.md.")
@click.option("--tpu", "tpu_name", default=None, metavar="NAME",
              help="With --strategy tpu: the TPU's name or address (default: the local TPU of a Cloud TPU VM).")
def evaluate(detector, benchmark, fmt, split, skip_bad, batch_size, archive_root, as_json, report_dir,
             protocol, wider_eval_dir, runtime, max_side, original_size, two_scale, detector_option, record,
             save_dir, predictions_dir, strategy_name, tpu_name) -> None:
    """COCO mAP (and WIDER's AP with --protocol wider) and speed of DETECTOR on a face benchmark.

    DETECTOR is an archived stage id (e.g. keypoints/v1/NAME), a model folder or checkpoint,
    or a peer (yunet, blazeface, blazeface-short, mtcnn, haar). With no arguments: the archive's
    default stage on the built-in synthetic sample benchmark, checked against the figures recorded for it.
    """
    from facessd_archive.evaluate.api import (evaluate_predictions, record_evaluation, recorded_verdict,
                                              resolve_detector, save_predictions)

    if tpu_name is not None and strategy_name != "tpu":
        raise click.UsageError("--tpu needs --strategy tpu")
    if strategy_name is not None and predictions_dir is not None:
        raise click.UsageError("--strategy runs a detector; --predictions scores saved detections")
    distribution, chief = None, True
    if strategy_name is not None:  # first: multiworker and tpu configure TensorFlow before anything runs
        from facessd_archive.train.strategies import is_chief, make_strategy

        distribution = make_strategy(strategy_name, tpu=tpu_name)
        chief = is_chief(distribution)  # every worker gets the figures; only the chief writes files
    if detector is not None and detector_option is not None and detector != detector_option:
        raise click.UsageError("give the detector once: as DETECTOR or as --detector")
    detector = detector or detector_option
    if predictions_dir is not None and detector is not None:
        raise click.UsageError("give DETECTOR or --predictions DIR, not both")
    if record and predictions_dir is not None:
        raise click.UsageError("--record needs DETECTOR to be an archived stage")
    loaded = _load_benchmark(benchmark, fmt, split, skip_bad)
    wider = _wider_truth(loaded, protocol, wider_eval_dir)
    resolved = None
    if predictions_dir is not None:
        result = evaluate_predictions(predictions_dir, loaded, wider)
    else:
        resolved = resolve_detector(detector, runtime=runtime, archive_root=archive_root, max_side=max_side,
                                    original_size=original_size, strategy=distribution, batch_size=batch_size,
                                    strategy_name=strategy_name, two_scale=two_scale)
        if record and resolved.stage_id is None:
            raise click.UsageError("--record needs DETECTOR to be an archived stage")
        result = _run(resolved, loaded, batch_size, wider)
    if not chief:
        save_dir = report_dir = None
        record = False
    if save_dir is not None:
        written = save_predictions(save_dir, loaded, result)
        click.echo(f"predictions for {len(written)} image(s) written to {save_dir}", err=True)
    _emit([result], loaded, as_json, report_dir)
    verdict = recorded_verdict(resolved, result.report) if resolved is not None else None
    if verdict is not None:
        click.echo(verdict, err=as_json)  # keep stdout pure JSON under --json
    if record:
        record_evaluation(result.report, resolved.stage_id, resolved.input_size, archive_root)
        click.echo(f"recorded in {resolved.stage_id}/stage.json", err=True)


@main.command()
@click.argument("detectors", nargs=-1, required=True)
@_benchmark_options
@_protocol_options
@click.option("--runtime", type=click.Choice(["tf", "tflite", "tflite-int8"]), default="tf", show_default=True,
              help="Runtime for the SSD detectors: tf, tflite (float32) or tflite-int8 (peers run natively).")
@resize_options
@_two_scale_option
def compare(detectors, benchmark, fmt, split, skip_bad, batch_size, archive_root, as_json, report_dir,
            protocol, wider_eval_dir, runtime, max_side, original_size, two_scale) -> None:
    """Evaluate several DETECTORS on one benchmark and print one table."""
    from facessd_archive.evaluate.api import evaluate_many

    loaded = _load_benchmark(benchmark, fmt, split, skip_bad)
    wider = _wider_truth(loaded, protocol, wider_eval_dir)
    results = evaluate_many(detectors, loaded, runtime=runtime, batch_size=batch_size, archive_root=archive_root,
                            wider=wider, progress_bar=lambda label, length: progressbar(length, label=label),
                            max_side=max_side, original_size=original_size, two_scale=two_scale)
    _emit(results, loaded, as_json, report_dir)
