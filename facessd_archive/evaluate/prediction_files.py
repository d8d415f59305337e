"""Detections as files, in WIDER FACE's submission layout (what every WIDER tool reads and writes).

``DIR/<event>/<name>.txt`` per image::

    <name>                      the image name without extension
    <count>
    x y w h score               count lines: pixels of the original image, top-left corner and size

``submission_key(image_id)`` says where an image goes: a WIDER id ``EVENT/NAME`` gives
``EVENT/NAME.txt``; another benchmark's id uses its parent folder as the event (nested folders
joined with ``_``: ``2002/08/11/big/img_591`` -> ``2002_08_11_big/img_591``), and an id without a
folder goes under ``images/``. Numbers are written as the shortest text that reads back to the
same float32 (so scores, and hence the WIDER protocol's threshold bins, survive the round trip).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

import numpy as np

from facessd_archive.errors import AnnotationError, DataError
from facessd_archive.evaluate.coco_metrics import ImageDetections
from facessd_archive.fileio import atomic_write_text

SINGLE_EVENT = "images"  # the folder for image ids that have none
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def submission_key(image_id: str) -> str:
    """``EVENT/NAME``: where ``image_id``'s predictions go, relative to the folder, without ``.txt``."""
    parts = PurePosixPath(str(image_id).replace("\\", "/")).parts
    if not parts or any(p in ("", ".", "..", "/") for p in parts):
        raise DataError(f"image id {image_id!r} cannot name a prediction file")
    event = "_".join(parts[:-1]) or SINGLE_EVENT
    return f"{event}/{parts[-1]}"


def format_prediction_file(name: str, detections: ImageDetections) -> str:
    """The text of one image's prediction file (``name`` without extension)."""
    boxes = np.asarray(detections.boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(detections.scores, dtype=np.float32).reshape(-1)
    lines = [name, str(len(boxes))]
    for (x0, y0, x1, y1), score in zip(boxes, scores):
        values = (x0, y0, x1 - x0, y1 - y0, score)  # float32 arithmetic, as the boxes are
        lines.append(" ".join(_number(v) for v in values))
    return "\n".join(lines) + "\n"


def _number(value: np.float32) -> str:
    return np.format_float_positional(np.float32(value), trim="-")


def write_predictions(out_dir: str | Path, image_ids: Sequence[str],
                      detections: Sequence[ImageDetections]) -> list[Path]:
    """Write one file per image (atomically) under ``out_dir``; returns the paths written."""
    if len(image_ids) != len(detections):
        raise ValueError(f"write_predictions: {len(image_ids)} image ids, {len(detections)} detection sets")
    keys = [submission_key(i) for i in image_ids]
    seen: dict[str, str] = {}
    for image_id, key in zip(image_ids, keys):
        if key in seen:
            raise DataError(f"images {seen[key]!r} and {image_id!r} would both be written to {key}.txt")
        seen[key] = image_id
    out = Path(out_dir)
    paths = []
    for key, det in zip(keys, detections):
        path = out / f"{key}.txt"
        atomic_write_text(path, format_prediction_file(PurePosixPath(key).name, det))
        paths.append(path)
    return paths


def read_prediction_file(path: str | Path) -> ImageDetections:
    """One prediction file -> detections (pixels xmin, ymin, xmax, ymax; float32). The first line must
    name the file's image (a folder or an image extension on it is allowed, as some tools write)."""
    path = Path(path)
    try:
        lines = [line.strip() for line in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{path}: cannot read prediction file ({e})") from None
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) < 2:
        raise AnnotationError(f"{path}: a prediction file needs the image name and the count on its first lines")
    name = PurePosixPath(lines[0].replace("\\", "/")).name
    if name.lower().endswith(_IMAGE_SUFFIXES):
        name = name.rsplit(".", 1)[0]
    if name != path.stem:
        raise AnnotationError(f"{path}: first line names {lines[0]!r}, not this file's image {path.stem!r}")
    if not lines[1].isdigit():
        raise AnnotationError(f"{path}:2: expected the number of detections, got {lines[1]!r}")
    count, rows = int(lines[1]), lines[2:]
    if len(rows) != count:
        raise AnnotationError(f"{path}: says {count} detection(s) but has {len(rows)} line(s) after the count")
    values = np.zeros((count, 5), dtype=np.float64)
    for k, row in enumerate(rows):
        fields = row.split()
        try:
            values[k] = [float(f) for f in fields[:5]]
            if len(fields) < 5:
                raise ValueError
        except ValueError:
            raise AnnotationError(f"{path}:{k + 3}: expected 'x y w h score', got {row!r}") from None
    x, y, w, h, score = values.T
    boxes = np.stack([x, y, x + w, y + h], axis=-1).astype(np.float32)
    return ImageDetections(boxes.reshape(-1, 4), score.astype(np.float32))


def read_predictions(folder: str | Path) -> dict[str, ImageDetections]:
    """Every ``<event>/<name>.txt`` under ``folder``, by ``submission_key`` (``EVENT/NAME``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: predictions folder not found")
    found = {f"{p.parent.name}/{p.stem}": read_prediction_file(p) for p in sorted(folder.glob("*/*.txt"))}
    if not found:
        raise DataError(f"{folder}: no prediction files (<event>/<image name>.txt) in it")
    return found


def detections_for(image_ids: Sequence[str], predictions: Mapping[str, ImageDetections],
                   folder: str | Path = "") -> list[ImageDetections]:
    """``predictions`` (by ``submission_key``) in the order of ``image_ids``; every image needs a file."""
    keys = [submission_key(i) for i in image_ids]
    absent = [k for k in keys if k not in predictions]
    if absent:
        raise DataError(f"{folder}: {len(absent)} of the benchmark's {len(keys)} image(s) have no prediction file, "
                        f"e.g. {absent[0]}.txt")
    return [predictions[k] for k in keys]
