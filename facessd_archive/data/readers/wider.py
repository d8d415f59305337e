"""WIDER FACE: ``wider_face_split/wider_face_val_bbx_gt.txt`` + ``WIDER_val/images/EVENT/NAME.jpg``.

The ground-truth file lists, per image, a name line (``0--Parade/0_Parade_marchingband_1_465.jpg``),
a count line, then one line per face: ``x y w h blur expression illumination invalid
occlusion pose`` (pixels, top-left corner and size). An image with a count of 0 is
followed by one dummy line of zeros, which is consumed. Boxes become
``[x, y, x + w, y + h]``. The official files are read as published: faces flagged
``invalid`` and the few zero-size boxes become ignore regions (neither a hit nor a miss,
neither a positive nor a negative anchor in training), counted and reported, never refused.
The gt files cover the whole official split; a split list (``train.txt``) selects the
images present, each looked up in the gt file of its own split. The six flags are
kept as per-box lists in ``Sample.attributes`` (plus ``event``, the folder name) so
easy/medium/hard-style subsets can be drawn later.

The file states no image sizes, so each image's header is read (no decoding) to
check boxes against the image. A malformed file (bad count, truncated entry) is
an error even with ``skip_bad``: past it the file cannot be re-synchronised.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from facessd_archive.data.images import image_size
from facessd_archive.data.readers.common import Block, append_checked, parse_count_blocks
from facessd_archive.data.sample import Keep, OnBad, Sample
from facessd_archive.errors import DataError

FLAGS = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")
GT_PATTERN = re.compile(r"wider_face_(\w+?)_bbx_gt\.txt$")


def wider_split_name(gt_file: Path) -> str | None:
    """``val`` for ``wider_face_val_bbx_gt.txt``; ``None`` for a file not named like WIDER's."""
    match = GT_PATTERN.search(gt_file.name)
    return match.group(1) if match else None


def find_wider_gt(root: Path) -> Path | None:
    """The ground-truth file of a WIDER root folder, preferring the val split (the benchmark one)."""
    for folder in (root / "wider_face_split", root):
        found = sorted(folder.glob("wider_face_*_bbx_gt.txt")) if folder.is_dir() else []
        if found:
            return next((p for p in found if wider_split_name(p) == "val"), found[0])
    return None


def find_wider_images(gt_file: Path) -> Path:
    """``WIDER_<split>/images`` next to the gt file or next to its folder (the official layout)."""
    split = wider_split_name(gt_file) or "val"
    for base in (gt_file.parent, gt_file.parent.parent):
        for candidate in (base / f"WIDER_{split}" / "images", base / "images"):
            if candidate.is_dir():
                return candidate
    raise DataError(f"{gt_file}: no WIDER_{split}/images folder next to it or its parent folder")


def _face_row(fields: list[str]) -> list[float] | None:
    if len(fields) < 10 or not all(re.fullmatch(r"-?\d+(\.\d*)?", f) for f in fields[:10]):
        return None
    return [float(f) for f in fields[:10]]


def _parse(gt_file: Path) -> list[Block]:
    """(line number of the count, image name, rows of 10 numbers) for every entry of the file."""
    return parse_count_blocks(gt_file, _face_row, f"10 numbers (x y w h {' '.join(FLAGS)})",
                              zero_count_dummy_line=True)


def _entry_sample(name: str, rows: list[list[float]], image_path: Path, source: str,
                  stats: dict[str, int]) -> Sample:
    """One image's faces as a Sample. Zero-size boxes (in the official files) and faces flagged
    ``invalid`` become ignore regions, counted in ``stats``; nothing is dropped."""
    width, height = image_size(image_path, source)
    boxes, ignore = [], []
    for x, y, w, h, *flags in rows:
        degenerate = w <= 0 or h <= 0
        invalid = int(flags[FLAGS.index("invalid")]) == 1
        stats["degenerate"] += int(degenerate)
        stats["invalid"] += int(invalid and not degenerate)
        boxes.append([x, y, x + max(w, 0.0), y + max(h, 0.0)])
        ignore.append(degenerate or invalid)
    flag_lists = {flag: [int(r[4 + k]) for r in rows] for k, flag in enumerate(FLAGS)}
    sample = Sample(image_path=image_path, boxes=boxes, ignore=ignore,
                    image_id=str(PurePosixPath(name).with_suffix("")), width=width, height=height,
                    attributes={"event": PurePosixPath(name).parent.name, **flag_lists})
    return sample


def ignore_note(stats: dict[str, int]) -> str:
    """The one-line report of what became ignore regions."""
    return (f"{stats['degenerate']} zero-size box(es) and {stats['invalid']} face(s) flagged invalid "
            f"became ignore regions")


def new_stats() -> dict[str, int]:
    return {"degenerate": 0, "invalid": 0}


def read_wider(gt_file: Path, images_dir: Path | None = None, keep: Keep | None = None,
               on_bad: OnBad | None = None, stats: dict[str, int] | None = None,
               present_only: bool = False) -> list[Sample]:
    """Samples of one WIDER ground-truth file; ``image_id`` is the name without extension (``EVENT/NAME``).

    ``present_only``: the official files cover the whole split, so without a split list the
    images that are not on disk are passed over (the caller reports how many), not errors.
    """
    gt_file = Path(gt_file)
    if not gt_file.is_file():
        raise DataError(f"{gt_file}: WIDER ground-truth file not found")
    images_dir = Path(images_dir) if images_dir is not None else find_wider_images(gt_file)
    stats = stats if stats is not None else new_stats()
    samples = []
    for line_no, name, rows in _parse(gt_file):
        image_id = str(PurePosixPath(name).with_suffix(""))
        if keep is not None and not keep(image_id):
            continue
        if present_only and not (images_dir / name).is_file():
            continue
        source = f"{gt_file}:{line_no} ({name})"
        append_checked(samples, source, on_bad,
                       lambda: _entry_sample(name, rows, images_dir / name, source, stats))
    return samples


def read_wider_listed(root: Path, listed: list[str], on_bad: OnBad | None = None,
                      stats: dict[str, int] | None = None) -> tuple[list[Sample], list[str]]:
    """Samples for the images a split file lists, each looked up in the official gt file of its split.

    Lines are paths relative to the WIDER root as in the official layout
    (``WIDER_train/images/0--Parade/NAME.jpg`` -> ``wider_face_train_bbx_gt.txt``, key
    ``0--Parade/NAME.jpg``); a bare ``EVENT/NAME[.jpg]`` is looked up in the val file.
    Returns (samples in list order, listed names the gt files do not have).
    """
    root = Path(root)
    stats = stats if stats is not None else new_stats()
    tables: dict[str, dict[str, tuple[int, list[list[float]]]]] = {}
    names_by_file: dict[str, dict[str, str]] = {}
    samples, unknown = [], []
    for line in listed:
        path = PurePosixPath(line)
        split = path.parts[0][len("WIDER_"):] if path.parts[0].startswith("WIDER_") else "val"
        key = "/".join(path.parts[-2:])
        if not PurePosixPath(key).suffix:
            key += ".jpg"
        if split not in tables:
            gt_file = root / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt"
            if not gt_file.is_file():
                raise DataError(f"{gt_file}: WIDER ground-truth file not found (needed for {line!r})")
            tables[split] = {name: (line_no, rows) for line_no, name, rows in _parse(gt_file)}
            by_file = {PurePosixPath(name).name: name for name in tables[split]}
            names_by_file[split] = by_file
        if len(path.parts) == 1:  # a bare file name: find its event folder
            key = names_by_file[split].get(key, key)
        entry = tables[split].get(key)
        if entry is None:
            unknown.append(line)
            continue
        line_no, rows = entry
        image_path = root / f"WIDER_{split}" / "images" / key
        source = f"{root / 'wider_face_split' / f'wider_face_{split}_bbx_gt.txt'}:{line_no} ({key})"
        append_checked(samples, source, on_bad, lambda: _entry_sample(key, rows, image_path, source, stats))
    return samples, unknown
