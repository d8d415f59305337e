"""What every benchmark reader shares: checking one image's sample, and the count-block text format.

``append_checked`` is the end of every reader's per-image loop: build the sample, check its boxes
against the image size, keep it, or hand the error to ``report_bad`` (raise, or skip and count
with ``skip_bad``). ``parse_count_blocks`` reads the format WIDER FACE and FDDB share: an image
name line, a count line, then one line per face.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from facessd_archive.data.sample import OnBad, Sample, read_annotation_lines, report_bad, validate_boxes
from facessd_archive.errors import AnnotationError, DataError

Block = tuple[int, str, list[list[float]]]  # (line number of the count, image name, parsed face rows)


def append_checked(samples: list[Sample], source: str, on_bad: OnBad | None, build: Callable[[], Sample]) -> None:
    """Build one image's sample, validate its boxes against its stated size, and append it;
    a ``DataError`` (unreadable image, bad box) goes to ``report_bad`` instead, naming ``source``."""
    try:
        sample = build()
        validate_boxes(sample, sample.width, sample.height, source)
    except DataError as e:
        report_bad(e, on_bad)
        return
    samples.append(sample)


def parse_count_blocks(path: Path, parse_row: Callable[[list[str]], list[float] | None], row_hint: str,
                       zero_count_dummy_line: bool = False) -> list[Block]:
    """Every block of a name / count / rows file. ``parse_row`` turns a row's fields into numbers
    (None when malformed, which raises naming ``row_hint``). With ``zero_count_dummy_line`` a
    parseable line right after a count of 0 is consumed (WIDER writes one line of zeros there).
    A malformed file is an error even with skip_bad: past it the blocks cannot be re-synchronised.
    """
    lines = read_annotation_lines(path)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        if not name:
            i += 1
            continue
        count_text = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not count_text.isdigit():
            raise AnnotationError(f"{path}:{i + 2}: expected the face count of {name}, got {count_text!r}")
        count, start, i = int(count_text), i + 1, i + 2
        if count == 0 and zero_count_dummy_line and i < len(lines) and parse_row(lines[i].split()) is not None:
            i += 1
        rows = []
        for _ in range(count):
            fields = lines[i].split() if i < len(lines) else []
            row = parse_row(fields)
            if row is None:
                raise AnnotationError(f"{path}:{i + 1}: expected {row_hint} for a face of {name}, "
                                      f"got {' '.join(fields)!r}")
            rows.append(row)
            i += 1
        blocks.append((start, name, rows))
    return blocks
