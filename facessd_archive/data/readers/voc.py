"""Pascal VOC folders: ``annotations/NAME.xml`` + ``images/NAME.jpg`` (+ optional split file).

Every object is a face (facemask's labels with_mask / without_mask /
mask_weared_incorrect all are); ``difficult`` objects become ignore regions, as
in the VOC protocol. Stray text inside elements (``maksssksksss0.xml``) is
tolerated, as ElementTree and the OD API's reader do.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from facessd_archive.data.sample import OnBad, Sample, parse_xml, report_bad, validate_boxes
from facessd_archive.errors import AnnotationError, DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")

def _number(node: ET.Element, tag: str, source: Path, where: str) -> float:
    child = node.find(tag)
    if child is None or child.text is None:
        raise AnnotationError(f"{source}: {where} has no <{tag}>")
    try:
        return float(child.text.strip())
    except ValueError:
        raise AnnotationError(f"{source}: {where} <{tag}> is not a number: {child.text.strip()!r}") from None


def read_voc_annotation(xml_path: Path, images_dir: Path) -> Sample:
    """One VOC XML file -> ``Sample`` (boxes in pixels), with errors naming the file."""
    root = parse_xml(xml_path)
    size = root.find("size")
    if size is None:
        raise AnnotationError(f"{xml_path}: no <size> element")
    width = int(_number(size, "width", xml_path, "<size>"))
    height = int(_number(size, "height", xml_path, "<size>"))
    if width <= 0 or height <= 0:
        raise AnnotationError(f"{xml_path}: <size> is {width}x{height}")
    boxes, ignore = [], []
    for i, obj in enumerate(root.findall("object")):
        box = obj.find("bndbox")
        if box is None:
            raise AnnotationError(f"{xml_path}: object {i} has no <bndbox>")
        where = f"object {i} <bndbox>"
        boxes.append([_number(box, t, xml_path, where) for t in ("xmin", "ymin", "xmax", "ymax")])
        difficult = obj.find("difficult")
        ignore.append(difficult is not None and (difficult.text or "0").strip() == "1")
    filename = (root.findtext("filename") or "").strip() or xml_path.stem + ".jpg"
    image_path = images_dir / Path(filename).name
    if not image_path.exists():
        for ext in IMAGE_EXTENSIONS:
            if (images_dir / (xml_path.stem + ext)).exists():
                image_path = images_dir / (xml_path.stem + ext)
                break
    sample = Sample(image_path=image_path, boxes=boxes, ignore=ignore, image_id=xml_path.stem,
                    width=width, height=height)
    validate_boxes(sample, width, height, xml_path)
    return sample


def read_split_lines(split_file: Path) -> list[str]:
    """The entries of a split file as written (blank lines and ``#`` comments skipped)."""
    if not split_file.is_file():
        raise DataError(f"{split_file}: split file not found")
    lines = [line.strip() for line in split_file.read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise DataError(f"{split_file}: split file lists no images")
    return lines


def read_split(split_file: Path) -> list[str]:
    """Names listed one per line (blank lines and ``#`` comments skipped; extensions dropped)."""
    return [Path(line).stem if Path(line).suffix.lower() in IMAGE_EXTENSIONS + (".xml",) else line
            for line in read_split_lines(split_file)]


def read_voc_folder(root: Path, split_file: Path | None = None, on_bad: OnBad | None = None) -> list[Sample]:
    """All samples of a VOC folder (``annotations/`` or ``Annotations/``), optionally restricted to a split.

    With ``on_bad``, a split name without annotation and an annotation that fails to
    read or validate are reported to it and skipped instead of raising.
    """
    root = Path(root)
    ann_dir = next((root / d for d in ("annotations", "Annotations") if (root / d).is_dir()), None)
    img_dir = next((root / d for d in ("images", "JPEGImages") if (root / d).is_dir()), None)
    if ann_dir is None or img_dir is None:
        raise DataError(f"{root}: not a VOC folder (needs annotations/ and images/)")
    if split_file is not None:
        names = read_split(Path(split_file))
        missing = [n for n in names if not (ann_dir / f"{n}.xml").is_file()]
        if missing and on_bad is None:
            raise DataError(f"{split_file}: {len(missing)} listed image(s) have no annotation in {ann_dir}, "
                            f"e.g. {missing[0]!r}")
        for name in missing:
            report_bad(DataError(f"{split_file}: listed image {name!r} has no annotation in {ann_dir}"), on_bad)
        absent = set(missing)
        xml_paths = [ann_dir / f"{n}.xml" for n in names if n not in absent]
    else:
        xml_paths = sorted(ann_dir.glob("*.xml"))
    if not xml_paths and on_bad is None:
        raise DataError(f"{root}: no annotations found")
    samples = []
    for p in xml_paths:
        try:
            samples.append(read_voc_annotation(p, img_dir))
        except DataError as e:
            report_bad(e, on_bad)
    return samples
