"""COCO ``instances.json``-style files: ``images``, ``annotations`` (``bbox`` = x, y, w, h pixels), ``categories``.

Only annotations of one category count as faces: the one named ``face`` unless
another name is given (``load_benchmark(category=...)``). Every image in
``images`` is a sample, with or without faces (images without faces are the
negatives false positives are counted on). ``iscrowd: 1`` (or a non-zero
``ignore``, as some face sets write it) makes an ignore region. Sizes come from
the file's ``width``/``height`` where given, else from the image header.

Images are looked up by ``file_name`` in, in order: ``images/`` next to the JSON,
the COCO layout ``<root>/<name>/`` for ``<root>/annotations/instances_<name>.json``,
``<root>/images/``, and the JSON's own folder.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from facessd_archive.data.images import image_size
from facessd_archive.data.readers.common import append_checked
from facessd_archive.data.sample import Keep, OnBad, Sample
from facessd_archive.errors import AnnotationError, DataError


def _image_dirs(json_path: Path) -> list[Path]:
    stem = json_path.stem.removeprefix("instances_")
    candidates = [json_path.parent / "images", json_path.parent.parent / stem,
                  json_path.parent.parent / "images", json_path.parent]
    return [d for d in candidates if d.is_dir()]


def _find_image(dirs: list[Path], file_name: str) -> Path:
    for d in dirs:
        if (d / file_name).is_file():
            return d / file_name
    return dirs[0] / file_name


def _load(json_path: Path) -> dict[str, Any]:
    try:
        data = json.loads(json_path.read_text())
    except OSError as e:
        raise AnnotationError(f"{json_path}: cannot read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{json_path}: malformed JSON ({e})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
        raise AnnotationError(f"{json_path}: not a COCO instances file (needs 'images' and 'categories' lists)")
    return data


def _sample(image: dict, image_path: Path, image_id: str, anns: list[dict], source: str) -> Sample:
    """One image's faces (``iscrowd`` / ``ignore`` annotations become ignore regions)."""
    width, height = image.get("width"), image.get("height")
    if not (isinstance(width, int) and isinstance(height, int)):
        width, height = image_size(image_path, source)
    boxes = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]
    ignore = [bool(a.get("iscrowd", 0)) or bool(a.get("ignore", 0)) for a in anns]
    return Sample(image_path=image_path, boxes=boxes, ignore=ignore, image_id=image_id,
                  width=width, height=height, attributes={"coco_image_id": image["id"]})


def read_coco_json(json_path: Path, category: str = "face", images_dir: Path | None = None,
                   keep: Keep | None = None, on_bad: OnBad | None = None) -> list[Sample]:
    """Samples of one COCO JSON file; ``image_id`` is ``file_name`` without extension."""
    json_path = Path(json_path)
    if not json_path.is_file():
        raise DataError(f"{json_path}: COCO JSON file not found")
    data = _load(json_path)
    category_ids = {c.get("id") for c in data["categories"] if c.get("name") == category}
    if not category_ids:
        names = sorted(str(c.get("name")) for c in data["categories"])
        raise AnnotationError(f"{json_path}: no category named {category!r} (has {', '.join(names) or 'none'}); "
                              "choose one with --category")
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for i, ann in enumerate(data.get("annotations", [])):
        if ann.get("category_id") not in category_ids:
            continue
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise AnnotationError(f"{json_path}: annotation {i} (id {ann.get('id')}) has no [x, y, w, h] bbox: "
                                  f"{bbox!r}")
        by_image.setdefault(ann.get("image_id"), []).append(ann)
    dirs = [Path(images_dir)] if images_dir is not None else _image_dirs(json_path) or [json_path.parent]
    samples = []
    for i, image in enumerate(data["images"]):
        file_name = image.get("file_name")
        if not isinstance(file_name, str) or "id" not in image:
            raise AnnotationError(f"{json_path}: images[{i}] needs 'id' and 'file_name'")
        image_id = str(PurePosixPath(file_name).with_suffix(""))
        if keep is not None and not keep(image_id):
            continue
        anns = by_image.get(image["id"], [])
        source = f"{json_path} ({file_name})"
        image_path = _find_image(dirs, file_name)
        append_checked(samples, source, on_bad, lambda: _sample(image, image_path, image_id, anns, source))
    return samples
