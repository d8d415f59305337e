"""Which files ``facessd detect`` reads, and where each one's drawn copy goes under ``--out``.

A file named on the command line is read whatever its extension; a folder is walked
recursively for JPEG, PNG, BMP and WebP files (extension, any case), in sorted order. A
picture's copy keeps its path relative to the folder it was found in (a named file: its
name), so two inputs that would land on the same output path are refused up front.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from facessd_archive.errors import DataError, ImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class ImageInput:
    path: Path  # where the picture is read from
    relative: Path  # where its drawn copy goes, relative to --out


def find_images(paths: Iterable[str | Path], exclude: str | Path | None = None) -> list[ImageInput]:
    """Every picture under ``paths``, each once. Folder walks leave out what lies under ``exclude``
    (the ``--out`` folder, which may sit inside an input folder on a second run).

    Raises ``ImageError`` for a path that does not exist, ``DataError`` when two pictures would be
    written to the same output path or when there is no picture at all.
    """
    paths = [Path(p) for p in paths]
    skip_under = Path(exclude).resolve() if exclude is not None else None
    found: list[ImageInput] = []
    seen: set[Path] = set()
    for root in paths:
        if root.is_file():
            candidates = [ImageInput(root, Path(root.name))]
        elif root.is_dir():
            candidates = [ImageInput(f, f.relative_to(root)) for f in sorted(root.rglob("*"))
                          if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file()
                          and not (skip_under is not None and f.resolve().is_relative_to(skip_under))]
        else:
            raise ImageError(f"{root}: no such file or folder")
        for item in candidates:
            resolved = item.path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            found.append(item)
    if not found:
        raise DataError(f"no pictures ({', '.join(IMAGE_EXTENSIONS)}) found in {', '.join(map(str, paths))}")
    _check_outputs_distinct(found)
    return found


def _check_outputs_distinct(items: list[ImageInput]) -> None:
    first: dict[Path, Path] = {}
    for item in items:
        other = first.setdefault(item.relative, item.path)
        if other != item.path:
            raise DataError(f"{other} and {item.path} would both be written as {item.relative} under --out: "
                            "run them separately, or pass the folder that holds both")
