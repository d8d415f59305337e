"""``facessd detect``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from facessd_archive.cli import main
from facessd_archive.cli.evaluate_commands import TWO_SCALE_HELP, resize_options
from facessd_archive.progress import is_terminal, progressbar


# Pictures larger than this are scaled down for stages that run pictures at their own size: a
# 4032x3666 photo at its own size took 6.2 GB and 12 s on 2 cores, and one pass found its face in parts
# (docs/performance.md, "Inference at the image's own shape").
PHOTO_MAX_SIDE = 2048


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--stage", default=None, metavar="STAGE",
              help="Archived stage id, model folder or checkpoint, or a peer (yunet, blazeface, "
                   "blazeface-short, mtcnn, haar). Default: the archive's default stage.")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=0.3, show_default=True,
              help="Keep faces scoring at least this.")
@click.option("--runtime", type=click.Choice(["tf", "tflite", "tflite-int8"]), default="tf", show_default=True,
              help="Run the SSD graph with TensorFlow, with TFLite (XNNPACK, float32) or with TFLite on the "
                   "int8 model (calibrated on training images, cached).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write each picture with its faces drawn here (same relative path and format), "
                   "plus detections.jsonl.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per picture instead of a table.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@resize_options
@click.option("--two-scale/--single-scale", "two_scale", default=None,
              help=TWO_SCALE_HELP + " [default: two scales where that applies]")
@click.option("--archive", "archive_root", type=click.Path(path_type=Path), default=None,
              help="Archive root (default: $FACESSD_ARCHIVE, else the checkout the current folder is in, "
                   "else the per-user archive).")
def detect(paths, stage, threshold, runtime, out_dir, as_json, batch_size, max_side, original_size, two_scale,
           archive_root) -> None:
    """Find faces in pictures: image files, and folders (searched recursively for JPEG, PNG, BMP, WebP).

    Pictures of any size are read upright (EXIF orientation applied); boxes are given in their
    pixels. A file that cannot be read is named on one line on stderr and skipped. Stages that run
    pictures at their own size take those over 2048 pixels at a 2048 longer side (--original-size
    lifts that), and look twice: as they are and at the stage's training size, for large faces.

    \b
    Examples:
      1. facessd detect photo.jpg                      # table: picture, faces, top score
      2. facessd detect photos/ --json > faces.jsonl    # one JSON line per picture
      3. facessd detect photos/ --out annotated/        # drawn copies + annotated/detections.jsonl
      4. facessd detect photos/ --stage keypoints/v1/facemask_384x384_dm050_8K --threshold 0.3
    """
    from tabulate import tabulate

    from facessd_archive.detect.api import DETECTIONS_FILE, open_detector, run_detect
    from facessd_archive.detect.inputs import find_images

    inputs = find_images(paths, exclude=out_dir)
    from facessd_archive.evaluate.api import PEER_NAMES

    options = {"two_scale": two_scale} if stage in PEER_NAMES else {
        "max_side": max_side, "original_size": original_size, "two_scale": two_scale, "photo_max_side": PHOTO_MAX_SIDE}
    resolved = open_detector(stage, runtime=runtime, archive_root=archive_root, **options)
    rows = []
    # The bar shares the terminal with nothing else: not when JSON lines stream to the same terminal.
    show_bar = is_terminal(sys.stderr) and not (as_json and is_terminal(sys.stdout))

    def on_result(result):
        if as_json:
            click.echo(result.json_line())
        else:
            top = f"{result.scores[0]:.3f}" if result.num_faces else "-"
            rows.append((str(result.image), result.num_faces, top))

    def on_skip(reason):
        click.echo(("\r\x1b[K" if show_bar else "") + f"skipped {reason}", err=True)  # clear the bar's line first

    with progressbar(len(inputs), label="detect", show=show_bar) as bar:
        summary = run_detect(resolved.detector, inputs, threshold=threshold, batch_size=batch_size,
                             out_dir=out_dir, on_result=on_result, on_skip=on_skip, progress=bar.update)
    if not as_json:
        click.echo(tabulate(rows, headers=["picture", "faces", "top score"],
                            colalign=("left", "right", "right"), disable_numparse=True))
    skipped = f", {len(summary.skipped)} skipped" if summary.skipped else ""
    click.echo(f"{summary.images} picture(s), {summary.faces} face(s){skipped} in {summary.seconds:.1f} s: "
               f"{summary.images_per_second:.1f} images/s ({resolved.detector.name}, {resolved.runtime})", err=True)
    if out_dir is not None:
        click.echo(f"drawn pictures and {DETECTIONS_FILE} written to {out_dir}", err=True)
