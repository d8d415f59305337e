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
                     help="Archive root (default: $FACESSD_ARCHIVE, else the repository's archive/).")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of a table.")(f)
    f = click.option("--report", "report_dir", type=click.Path(path_type=Path), default=None,
                     help="Write metrics.json, summary.md, pr_curve.png and example images here.")(f)
    return f


def _load_benchmark(benchmark, fmt, split, skip_bad):
    from facessd_archive.evaluate.api import load_benchmark_spec

    if split is not None and benchmark is not None and not split.is_absolute() and not split.exists():
        candidate = benchmark / split if benchmark.is_dir() else benchmark.parent / split
        split = candidate if candidate.exists() else split
    loaded = load_benchmark_spec(benchmark, fmt=fmt, split=split, skip_bad=skip_bad)
    if loaded.skipped:
        click.echo(f"warning: skipped {len(loaded.skipped)} bad item(s), first: {loaded.skipped[0]}", err=True)
    return loaded


def _run(resolved, loaded, batch_size, keep):
    from facessd_archive.evaluate.api import evaluate as run_evaluation

    with progressbar(len(loaded.samples), label=f"{resolved.detector.name}") as bar:
        return run_evaluation(resolved, loaded, batch_size=batch_size, progress=bar.update, keep_detections=keep)


def _emit(reports, loaded, detections, as_json, report_dir):
    from facessd_archive.evaluate.table import format_reports

    if report_dir is not None:
        from facessd_archive.evaluate.report_files import write_report_dir

        write_report_dir(report_dir, reports, loaded.samples, detections)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        click.echo(format_reports(reports))
    if report_dir is not None:
        click.echo(f"report written to {report_dir}", err=True)


@main.command()
@click.argument("detector", required=False)
@_benchmark_options
@click.option("--runtime", type=click.Choice(["tf", "tflite"]), default="tf", show_default=True,
              help="Run the SSD graph with TensorFlow or with TFLite (XNNPACK).")
@click.option("--detector", "detector_option", default=None, metavar="DETECTOR",
              help="Same as the DETECTOR argument (stage, model folder, or mtcnn / haar).")
@click.option("--record", is_flag=True,
              help="Append the figures to the stage's manifest as a measured evaluation (stages only).")
def evaluate(detector, benchmark, fmt, split, skip_bad, batch_size, archive_root, as_json, report_dir,
             runtime, detector_option, record) -> None:
    """COCO mAP and speed of DETECTOR on a face benchmark.

    DETECTOR is an archived stage id (e.g. keypoints/v1/NAME), a model folder or checkpoint,
    or a peer (mtcnn, haar). With no arguments: the archive's default stage on the built-in
    synthetic sample benchmark, checked against the figures recorded for it.
    """
    from facessd_archive.evaluate.api import record_evaluation, recorded_verdict, resolve_detector

    if detector is not None and detector_option is not None and detector != detector_option:
        raise click.UsageError("give the detector once: as DETECTOR or as --detector")
    detector = detector or detector_option
    loaded = _load_benchmark(benchmark, fmt, split, skip_bad)
    resolved = resolve_detector(detector, runtime=runtime, archive_root=archive_root)
    if record and resolved.stage_id is None:
        raise click.UsageError("--record needs DETECTOR to be an archived stage")
    detections: list = []
    report = _run(resolved, loaded, batch_size, detections)
    _emit([report], loaded, [detections], as_json, report_dir)
    verdict = recorded_verdict(resolved, report)
    if verdict is not None:
        click.echo(verdict, err=as_json)  # keep stdout pure JSON under --json
    if record:
        record_evaluation(report, resolved.stage_id, resolved.input_size, archive_root)
        click.echo(f"recorded in {resolved.stage_id}/stage.json", err=True)


@main.command()
@click.argument("detectors", nargs=-1, required=True)
@_benchmark_options
@click.option("--runtime", type=click.Choice(["tf", "tflite"]), default="tf", show_default=True,
              help="Runtime for the SSD detectors (peers run natively).")
def compare(detectors, benchmark, fmt, split, skip_bad, batch_size, archive_root, as_json, report_dir,
            runtime) -> None:
    """Evaluate several DETECTORS on one benchmark and print one table."""
    from facessd_archive.evaluate.api import PEER_NAMES, resolve_detector

    loaded = _load_benchmark(benchmark, fmt, split, skip_bad)
    reports, all_detections = [], []
    for spec in detectors:
        resolved = resolve_detector(spec, runtime=runtime if spec not in PEER_NAMES else "tf",
                                    archive_root=archive_root)
        detections: list = []
        reports.append(_run(resolved, loaded, batch_size, detections))
        all_detections.append(detections)
    _emit(reports, loaded, all_detections, as_json, report_dir)
