"""dlib imglab XML: ``<dataset><images><image file='a.jpg'><box top left width height/>...``.

``file`` is relative to the XML file's folder. dlib rectangles are inclusive
(``right = left + width - 1``); as pixel-edge coordinates the box covers
``[left, left + width) x [top, top + height)``, so it becomes
``[left, top, left + width, top + height]``. A box with ``ignore='1'`` or an
``<ignore/>`` child (both occur in the wild) is an ignore region. ``<label>``
texts are kept per box in ``Sample.attributes['label']``; landmarks (``<part>``)
are not read. The XML states no image sizes, so each image's header is read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

from facessd_archive.data.images import image_size
from facessd_archive.data.readers.common import append_checked
from facessd_archive.data.sample import Keep, OnBad, Sample, parse_xml
from facessd_archive.errors import AnnotationError, DataError


def _box(node: ET.Element, source: str, index: int) -> list[float]:
    values = []
    for name in ("left", "top", "width", "height"):
        text = node.get(name)
        try:
            values.append(float(text))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise AnnotationError(f"{source}: box {index} {name}= is not a number: {text!r}") from None
    left, top, width, height = values
    return [left, top, left + width, top + height]


def _is_ignored(node: ET.Element) -> bool:
    return node.get("ignore", "0").strip() not in ("0", "", "false") or node.find("ignore") is not None


def _sample(nodes: list, image_path: Path, image_id: str, source: str) -> Sample:
    """One image's boxes (``ignore='1'`` boxes become ignore regions)."""
    boxes = [_box(node, source, k) for k, node in enumerate(nodes)]
    width, height = image_size(image_path, source)
    return Sample(image_path=image_path, boxes=boxes, ignore=[_is_ignored(n) for n in nodes],
                  image_id=image_id, width=width, height=height,
                  attributes={"label": [(n.findtext("label") or "").strip() for n in nodes]})


def read_dlib_xml(xml_path: Path, keep: Keep | None = None, on_bad: OnBad | None = None) -> list[Sample]:
    """Samples of one imglab XML file; ``image_id`` is ``file`` without extension."""
    xml_path = Path(xml_path)
    if not xml_path.is_file():
        raise DataError(f"{xml_path}: dlib XML file not found")
    root = parse_xml(xml_path)
    images = root.find("images")
    if root.tag != "dataset" or images is None:
        raise AnnotationError(f"{xml_path}: not a dlib imglab file (needs <dataset><images>)")
    samples = []
    for i, image in enumerate(images.findall("image")):
        file_name = image.get("file")
        if not file_name:
            raise AnnotationError(f"{xml_path}: <image> {i} has no file= attribute")
        image_id = str(PurePosixPath(file_name).with_suffix(""))
        if keep is not None and not keep(image_id):
            continue
        source = f"{xml_path} ({file_name})"
        image_path = xml_path.parent / file_name
        append_checked(samples, source, on_bad, lambda: _sample(image.findall("box"), image_path, image_id, source))
    return samples
