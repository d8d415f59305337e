"""One entry point for every face benchmark: ``load_benchmark(path)`` -> ``Benchmark``.

The format is told from the path (``fmt`` overrides): a folder with
``annotations/`` is ``voc``; one with ``wider_face_split/`` or a
``wider_face_*_bbx_gt.txt`` is ``wider``; one with ``FDDB-folds/`` is ``fddb``; a
``.json`` file is ``coco``; an ``.xml`` file is ``dlib``; a ``.csv`` file is
``openimages``; a ``wider_face_*_bbx_gt.txt`` is ``wider`` and a
``FDDB-fold-XX-ellipseList.txt`` is ``fddb``.

Bad input never yields a silent wrong number. By default the first bad item
raises a one-line ``DataError`` (or its ``AnnotationError``/``ImageError``
subclass) naming the file. With ``skip_bad=True`` the whole image holding the
bad item is dropped -- a bad box drops its image, because dropping only the box
would leave a face unannotated and turn a correct detection of it into a false
positive -- and the error's message is appended to ``Benchmark.skipped``. Split
names absent from the benchmark are skipped the same way, one message each.
Malformed annotation files (unparseable XML/JSON/CSV, a truncated WIDER entry)
and an empty result always raise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from facessd_archive.data.readers.coco_json import read_coco_json
from facessd_archive.data.readers.dlib_xml import read_dlib_xml
from facessd_archive.data.readers.fddb import FOLD_PATTERN, read_fddb
from facessd_archive.data.readers.openimages import HUMAN_FACE, read_openimages_csv
from facessd_archive.data.sample import Sample, report_bad
from facessd_archive.data.readers.voc import read_split, read_split_lines, read_voc_folder
from facessd_archive.data.readers.wider import (find_wider_gt, ignore_note, new_stats, read_wider, read_wider_listed,
                                                wider_split_name)
from facessd_archive.errors import DataError, ImageError

FORMATS: tuple[str, ...] = ("voc", "wider", "fddb", "coco", "dlib", "openimages")
HASH_VERSION = "facessd-benchmark-v1"  # bump when the serialisation below changes


@dataclass(frozen=True)
class Benchmark:
    """A loaded benchmark: its samples, where they came from, and a hash of what they say."""

    name: str  # folder or file stem, plus "/<split stem>" when a split restricted it
    format: str  # one of FORMATS
    root: Path  # the path given to load_benchmark
    samples: list[Sample]
    content_hash: str  # sha256 hex of benchmark_hash(samples)
    skipped: list[str] = field(default_factory=list)  # one message per skipped bad item (skip_bad=True)
    notes: list[str] = field(default_factory=list)  # what the reader changed, e.g. boxes that became ignore regions

    @property
    def num_faces(self) -> int:
        return sum(s.num_faces for s in self.samples)


def detect_format(path: Path) -> str:
    """The format name for ``path``, or a ``DataError`` naming it when the path says nothing clear."""
    path = Path(path)
    if path.is_dir():
        if any((path / d).is_dir() for d in ("annotations", "Annotations")):
            return "voc"
        if find_wider_gt(path) is not None:
            return "wider"
        if (path / "FDDB-folds").is_dir():
            return "fddb"
        raise DataError(f"{path}: cannot tell the benchmark format (no annotations/, wider_face_split/ or "
                        f"FDDB-folds/ inside); pass the annotation file or --format one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(f"{path}: benchmark not found")
    suffix = path.suffix.lower()
    if suffix in (".json", ".xml", ".csv"):
        return {".json": "coco", ".xml": "dlib", ".csv": "openimages"}[suffix]
    if suffix == ".txt" and wider_split_name(path) is not None:
        return "wider"
    if suffix == ".txt" and FOLD_PATTERN.search(path.name):
        return "fddb"
    raise DataError(f"{path}: cannot tell the benchmark format from the file name; "
                    f"pass --format one of {', '.join(FORMATS)}")


def benchmark_hash(samples: list[Sample]) -> str:
    """sha256 over image ids, boxes (to 0.01 px) and ignore flags, sorted by image id.

    Paths, sizes and attributes are left out, so the same annotations hash the same
    on any machine and in any folder; the text is plain ASCII lines
    ``image_id<TAB>x0,y0,x1,y1,ignore;...`` after a version line.
    """
    digest = hashlib.sha256(f"{HASH_VERSION}\n".encode())
    for sample in sorted(samples, key=lambda s: s.image_id):
        boxes = ";".join(",".join(f"{float(v) + 0.0:.2f}" for v in box) + f",{int(flag)}"
                         for box, flag in zip(sample.boxes.tolist(), sample.ignore.tolist()))
        digest.update(f"{sample.image_id}\t{boxes}\n".encode())
    return digest.hexdigest()


def _resolve_split(path: Path, split: Path) -> Path:
    """A relative split not found as given is looked up in the benchmark's folder (``--split val.txt``)."""
    base = path if path.is_dir() else path.parent
    if not split.is_absolute() and not split.exists() and (base / split).exists():
        return base / split
    return split


class _SplitFilter:
    """Keeps image ids listed in a split, matching the full id or its last path part; remembers what matched."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.wanted = set(names)
        self.matched: set[str] = set()

    def __call__(self, image_id: str) -> bool:
        for key in (image_id, PurePosixPath(image_id).name):
            if key in self.wanted:
                self.matched.add(key)
                return True
        return False


def load_benchmark(path: str | Path, fmt: str | None = None, split: str | Path | None = None,
                   skip_bad: bool = False, category: str | None = None) -> Benchmark:
    """Read a face benchmark in any supported format into ``Sample``s (boxes in pixels).

    ``split``: a file of image names (``read_split``) restricting the benchmark;
    relative paths are also looked up next to the benchmark. ``category``: the
    COCO category name (default ``face``) or Open Images LabelName (default
    ``/m/0dzct``); other formats have none.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"unknown benchmark format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if category is not None and fmt not in ("coco", "openimages"):
        raise DataError(f"{path}: --category applies to coco and openimages benchmarks, not {fmt}")
    if not path.exists():
        raise DataError(f"{path}: benchmark not found")
    split_path = _resolve_split(path, Path(split)) if split is not None else None
    skipped: list[str] = []
    on_bad = (lambda e: skipped.append(str(e))) if skip_bad else None
    keep = _SplitFilter(read_split(split_path)) if split_path is not None and fmt not in ("voc", "wider") else None
    notes: list[str] = []

    if fmt == "voc":
        samples = read_voc_folder(path, split_path, on_bad)
    elif fmt == "wider":
        stats = new_stats()
        if split_path is not None and path.is_dir():
            samples, unknown = read_wider_listed(path, read_split_lines(split_path), on_bad, stats)
            if unknown and not skip_bad:
                raise DataError(f"{split_path}: {len(unknown)} listed image(s) are not in the WIDER ground truth "
                                f"under {path / 'wider_face_split'}, e.g. {unknown[0]!r}")
            skipped += [f"{split_path}: listed image {n!r} is not in the WIDER ground truth" for n in unknown]
        else:
            gt = find_wider_gt(path) if path.is_dir() else path
            if gt is None:
                raise DataError(f"{path}: no wider_face_*_bbx_gt.txt in it or in its wider_face_split/")
            keep = _SplitFilter(read_split(split_path)) if split_path is not None else None
            samples = read_wider(gt, keep=keep, on_bad=on_bad, stats=stats, present_only=keep is None)
            if keep is None:
                notes.append(f"{gt}: {len(samples)} image(s) of the ground truth are present on disk and read")
        notes.append(ignore_note(stats))
    elif fmt == "fddb":
        samples = read_fddb(path, keep=keep, on_bad=on_bad)
    elif fmt == "coco":
        samples = read_coco_json(path, category=category or "face", keep=keep, on_bad=on_bad)
    elif fmt == "dlib":
        samples = read_dlib_xml(path, keep=keep, on_bad=on_bad)
    else:
        samples = read_openimages_csv(path, label=category or HUMAN_FACE, keep=keep, on_bad=on_bad)

    if keep is not None:
        absent = [n for n in keep.names if n not in keep.matched]
        if absent and not skip_bad:
            raise DataError(f"{split_path}: {len(absent)} listed image(s) are not in the {fmt} benchmark {path}, "
                            f"e.g. {absent[0]!r}")
        skipped += [f"{split_path}: listed image {n!r} is not in the {fmt} benchmark {path}" for n in absent]
    present = []
    for sample in samples:  # cheap existence check for formats whose readers take sizes from the annotation
        if sample.image_path.is_file():
            present.append(sample)
        else:
            report_bad(ImageError(f"{sample.image_path}: image file not found"), on_bad)
    if not present:
        reason = f" ({len(skipped)} item(s) skipped as bad, first: {skipped[0]})" if skipped else ""
        where = f" with split {split_path}" if split_path is not None else ""
        raise DataError(f"{path}: the benchmark{where} has no images{reason}")
    name = path.stem if path.is_file() else path.name
    if split_path is not None:
        name = f"{name}/{split_path.stem}"
    return Benchmark(name=name, format=fmt, root=path, samples=present,
                     content_hash=benchmark_hash(present), skipped=skipped, notes=notes)
