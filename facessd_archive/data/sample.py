"""The one type every benchmark reader produces.

Boxes are in pixels of the original image, ``[xmin, ymin, xmax, ymax]`` (COCO/VOC
orientation; converted to normalised yxyx only inside the tf.data pipeline).
``ignore`` marks regions that are neither hits nor misses (WIDER FACE 'invalid',
crowd regions): a detection there is not a false positive, and missing it is not a miss.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from facessd_archive.errors import AnnotationError, DataError


@dataclass(frozen=True)
class Sample:
    image_path: Path
    boxes: np.ndarray  # [G, 4] float32 pixels xmin, ymin, xmax, ymax
    ignore: np.ndarray  # [G] bool
    image_id: str
    width: int | None = None  # from the annotation when it states it; checked against the decoded image
    height: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)  # per-sample extras (e.g. WIDER blur/occlusion lists)

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        ignore = np.asarray(self.ignore, dtype=bool).reshape(-1)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "ignore", ignore)
        if len(boxes) != len(ignore):
            raise AnnotationError(f"{self.image_path}: {len(boxes)} boxes but {len(ignore)} ignore flags")

    @property
    def num_faces(self) -> int:
        return int((~self.ignore).sum())


def validate_boxes(sample: Sample, width: int, height: int, source: str | Path,
                   tolerance: float = 1.0) -> None:
    """Raise ``AnnotationError`` naming ``source`` for a box with non-positive size or outside the image.

    An ignore region may have zero size (WIDER's official files hold a few); it is still checked
    against the image.
    ``tolerance`` (pixels) accepts the off-by-one of VOC's 1-based xmax == width.
    """
    for i, (x0, y0, x1, y1) in enumerate(sample.boxes):
        if not (x1 > x0 and y1 > y0) and not (sample.ignore[i] and x1 >= x0 and y1 >= y0):
            raise AnnotationError(f"{source}: box {i} has non-positive size ({x0:g}, {y0:g}, {x1:g}, {y1:g})")
        if x0 < -tolerance or y0 < -tolerance or x1 > width + tolerance or y1 > height + tolerance:
            raise AnnotationError(f"{source}: box {i} ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the "
                                  f"{width}x{height} image")


def parse_xml(path: Path) -> "ET.Element":
    """The root of an XML annotation file, or one ``AnnotationError`` naming it (malformed, unreadable)."""
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise AnnotationError(f"{path}: malformed XML ({e})") from None
    except OSError as e:
        raise AnnotationError(f"{path}: cannot read ({e.strerror})") from None


def read_annotation_lines(path: Path) -> list[str]:
    """The lines of a text annotation file, or one ``AnnotationError`` naming it (unreadable, not text)."""
    try:
        return Path(path).read_text().splitlines()
    except OSError as e:
        raise AnnotationError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not a text file") from None


# Shared by every benchmark reader. ``OnBad`` receives the error for a bad item
# (``load_benchmark(skip_bad=True)``), which the reader then skips; ``None`` raises.
# ``Keep`` selects image ids (a split) before any image file is touched.
OnBad = Callable[[DataError], None]
Keep = Callable[[str], bool]


def report_bad(error: DataError, on_bad: OnBad | None) -> None:
    """Raise ``error``, or hand it to ``on_bad`` so the caller can skip the item and the skip is counted."""
    if on_bad is None:
        raise error
    on_bad(error)
