"""Open Images box CSV (``validation-annotations-bbox.csv``) filtered to "Human face" (``/m/0dzct``).

Columns used: ``ImageID, LabelName, XMin, XMax, YMin, YMax, IsGroupOf`` (plus
``IsOccluded, IsTruncated, IsDepiction, IsInside`` kept per box in
``Sample.attributes`` when present). Coordinates are normalised to [0, 1]; they
become pixels with the image's own size read from its header (no decoding):
``xmin = XMin * width``, ``ymin = YMin * height`` and so on. ``IsGroupOf=1`` (a
box around several faces) is an ignore region. Only images with at least one
face row are samples: the box CSV does not list images without boxes, so face-free
negatives are absent from such a benchmark.

Images ``<ImageID>.jpg`` are looked up in ``images/`` next to the CSV, then in the
folder named by the CSV's prefix (``validation/`` for ``validation-annotations-bbox.csv``),
then next to the CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path

from facessd_archive.data.images import image_size
from facessd_archive.data.readers.common import append_checked
from facessd_archive.data.sample import Keep, OnBad, Sample
from facessd_archive.errors import AnnotationError, DataError

HUMAN_FACE = "/m/0dzct"
REQUIRED = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax")
FLAGS = ("IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside")


def _flag(row: dict[str, str], name: str) -> int:
    value = (row.get(name) or "0").strip()
    return int(value) if value.lstrip("-").isdigit() else -1  # -1: unknown, as Open Images writes it


def _image_dirs(csv_path: Path) -> list[Path]:
    prefix = csv_path.stem.split("-")[0]
    candidates = [csv_path.parent / "images", csv_path.parent / prefix, csv_path.parent]
    return [d for d in candidates if d.is_dir()]


def _rows(csv_path: Path, label: str) -> dict[str, list[tuple[int, dict[str, str]]]]:
    """Face rows grouped by ImageID in file order, each with its line number."""
    grouped: dict[str, list[tuple[int, dict[str, str]]]] = {}
    try:
        with csv_path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise AnnotationError(f"{csv_path}: not an Open Images box CSV (no column {', '.join(missing)})")
            for row in reader:
                if row["LabelName"] == label:
                    grouped.setdefault(row["ImageID"], []).append((reader.line_num, row))
    except OSError as e:
        raise AnnotationError(f"{csv_path}: cannot read ({e.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise AnnotationError(f"{csv_path}: malformed CSV ({e})") from None
    return grouped


def _sample(csv_path: Path, rows: list, image_path: Path, image_id: str, source: str) -> Sample:
    """One image's boxes (normalised in the CSV; ``IsGroupOf`` boxes become ignore regions)."""
    width, height = image_size(image_path, source)
    boxes = []
    for line_no, row in rows:
        try:
            x0, x1, y0, y1 = (float(row[c]) for c in ("XMin", "XMax", "YMin", "YMax"))
        except (TypeError, ValueError):
            raise AnnotationError(f"{csv_path}:{line_no}: XMin/XMax/YMin/YMax are not numbers") from None
        boxes.append([x0 * width, y0 * height, x1 * width, y1 * height])
    flags = {name: [_flag(row, name) for _, row in rows] for name in FLAGS}
    return Sample(image_path=image_path, boxes=boxes, ignore=[v == 1 for v in flags["IsGroupOf"]],
                  image_id=image_id, width=width, height=height, attributes=flags)


def read_openimages_csv(csv_path: Path, images_dir: Path | None = None, label: str = HUMAN_FACE,
                        keep: Keep | None = None, on_bad: OnBad | None = None) -> list[Sample]:
    """Samples of one Open Images box CSV; ``image_id`` is ``ImageID``."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: Open Images CSV not found")
    grouped = _rows(csv_path, label)
    dirs = [Path(images_dir)] if images_dir is not None else _image_dirs(csv_path)
    samples = []
    for image_id, rows in grouped.items():
        if keep is not None and not keep(image_id):
            continue
        source = f"{csv_path}:{rows[0][0]} (ImageID {image_id})"
        image_path = next((d / f"{image_id}.jpg" for d in dirs if (d / f"{image_id}.jpg").is_file()),
                          dirs[0] / f"{image_id}.jpg")
        append_checked(samples, source, on_bad, lambda: _sample(csv_path, rows, image_path, image_id, source))
    return samples
