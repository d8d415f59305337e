"""FDDB: ``FDDB-folds/FDDB-fold-XX-ellipseList.txt`` + ``originalPics/<name>.jpg``.

Each fold lists, per image, a name line (``2002/08/11/big/img_591``), a count line,
then one line per face: ``major_axis_radius minor_axis_radius angle center_x center_y 1``
(pixels; ``angle`` in radians between the major axis and the x axis).

Ellipse -> box: the axis-aligned bounding box of the rotated ellipse. With
semi-axes ``a`` (major), ``b`` (minor), angle ``t`` and centre ``(cx, cy)``, the
ellipse's points are ``(cx + a cos s cos t - b sin s sin t, cy + a cos s sin t + b sin s cos t)``;
maximising over ``s`` gives the half-extents

    half_w = sqrt(a^2 cos^2 t + b^2 sin^2 t)
    half_h = sqrt(a^2 sin^2 t + b^2 cos^2 t)

and the box ``[cx - half_w, cy - half_h, cx + half_w, cy + half_h]``, clipped to
``[0, width] x [0, height]`` of the image (FDDB ellipses often reach past the
border, so clipping is the format's normal case, not an error). The extents do
not depend on the sign of ``t``, so the y-down image axis needs no care. A box
with no area left after clipping (an ellipse wholly outside the image) is bad.
The ellipses themselves are kept in ``Sample.attributes['ellipses']`` (and the
fold number in ``'fold'``), for FDDB's own ellipse-based protocol.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from facessd_archive.data.images import image_size
from facessd_archive.data.readers.common import Block, append_checked, parse_count_blocks
from facessd_archive.data.sample import Keep, OnBad, Sample
from facessd_archive.errors import DataError

FOLD_PATTERN = re.compile(r"FDDB-fold-(\d+)-ellipseList\.txt$")


def ellipse_to_box(a: float, b: float, angle: float, cx: float, cy: float) -> list[float]:
    """Axis-aligned bounding box ``[xmin, ymin, xmax, ymax]`` of a rotated ellipse (unclipped)."""
    c, s = math.cos(angle), math.sin(angle)
    half_w = math.sqrt((a * c) ** 2 + (b * s) ** 2)
    half_h = math.sqrt((a * s) ** 2 + (b * c) ** 2)
    return [cx - half_w, cy - half_h, cx + half_w, cy + half_h]


def fold_files(path: Path) -> list[Path]:
    """The ellipse lists of an FDDB root (``FDDB-folds/``), or ``[path]`` for one ellipse list."""
    if path.is_file():
        return [path]
    folds = path / "FDDB-folds"
    return sorted(folds.glob("FDDB-fold-*-ellipseList.txt")) if folds.is_dir() else []


def _ellipse_row(fields: list[str]) -> list[float] | None:
    try:
        values = [float(f) for f in fields[:5]]
    except ValueError:
        return None
    return values if len(values) == 5 else None


def _parse(fold_file: Path) -> list[Block]:
    """(line number of the count, image name, ellipses ``[a, b, angle, cx, cy]``) for every entry."""
    return parse_count_blocks(fold_file, _ellipse_row,
                              "'major_axis_radius minor_axis_radius angle center_x center_y 1'")


def _sample(image_path: Path, name: str, ellipses: list[list[float]], fold: int | None, source: str) -> Sample:
    """One image's faces: each ellipse's bounding box, clipped to the picture."""
    width, height = image_size(image_path, source)
    boxes = []
    for a, b, angle, cx, cy in ellipses:
        x0, y0, x1, y1 = ellipse_to_box(a, b, angle, cx, cy)
        boxes.append([min(max(x0, 0.0), width), min(max(y0, 0.0), height),
                      min(max(x1, 0.0), width), min(max(y1, 0.0), height)])
    return Sample(image_path=image_path, boxes=boxes, ignore=[False] * len(boxes), image_id=name,
                  width=width, height=height, attributes={"ellipses": ellipses, "fold": fold})


def read_fddb(path: Path, images_dir: Path | None = None, keep: Keep | None = None,
              on_bad: OnBad | None = None) -> list[Sample]:
    """Samples of an FDDB root (all ten folds) or of one ellipse list; ``image_id`` is the listed name."""
    path = Path(path)
    files = fold_files(path)
    if not files:
        raise DataError(f"{path}: no FDDB-folds/FDDB-fold-XX-ellipseList.txt files")
    root = path if path.is_dir() else path.parent.parent
    images_dir = Path(images_dir) if images_dir is not None else root / "originalPics"
    if not images_dir.is_dir():
        raise DataError(f"{path}: no originalPics/ folder at {images_dir}")
    samples = []
    for fold_file in files:
        fold = FOLD_PATTERN.search(fold_file.name)
        for line_no, name, ellipses in _parse(fold_file):
            if keep is not None and not keep(name):
                continue
            source = f"{fold_file}:{line_no} ({name})"
            fold_number = int(fold.group(1)) if fold else None
            append_checked(samples, source, on_bad,
                           lambda: _sample(images_dir / f"{name}.jpg", name, ellipses, fold_number, source))
    return samples
