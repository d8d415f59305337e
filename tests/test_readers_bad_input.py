"""Bad benchmark input: one-line errors naming the file, or with skip_bad a counted skip of the whole image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from facessd_archive.data.readers.formats import load_benchmark
from facessd_archive.errors import AnnotationError, DataError, ImageError

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
WIDER_GT = Path("wider_face_split") / "wider_face_val_bbx_gt.txt"
PARADE_5 = Path("WIDER_val") / "images" / "0--Parade" / "0_Parade_marchingband_1_5.jpg"


def copy(fmt: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / fmt, tmp_path / fmt))


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_image_raises_then_skips(tmp_path):
    root = copy("wider", tmp_path)
    (root / PARADE_5).unlink()
    # The official gt file covers the whole split: without a list, the images on disk are read.
    b = load_benchmark(root)
    assert len(b.samples) == 2 and "2 image(s) of the ground truth are present" in b.notes[0]
    # A split that lists the image asks for it: then it is an error, or skipped and named.
    split = tmp_path / "val.txt"
    split.write_text(f"{PARADE_5.as_posix()}\nWIDER_val/images/0--Parade/0_Parade_marchingband_1_6.jpg\n")
    with pytest.raises(ImageError) as e:
        load_benchmark(root, split=split)
    assert "0_Parade_marchingband_1_5.jpg: image file not found" in one_line(e)
    b = load_benchmark(root, split=split, skip_bad=True)
    assert len(b.samples) == 1 and len(b.skipped) == 1
    assert "0_Parade_marchingband_1_5.jpg: image file not found" in b.skipped[0]


def test_missing_image_voc_is_checked_at_load_time(tmp_path):
    root = copy("voc", tmp_path)
    (root / "images" / "b.png").unlink()
    with pytest.raises(ImageError, match="b.png: image file not found"):
        load_benchmark(root)
    b = load_benchmark(root, skip_bad=True)
    assert [s.image_id for s in b.samples] == ["a", "c"] and len(b.skipped) == 1


def test_unreadable_image(tmp_path):
    root = copy("dlib", tmp_path)
    (root / "images" / "d2.png").write_bytes(b"not a png at all")
    with pytest.raises(ImageError) as e:
        load_benchmark(root / "faces.xml")
    assert "d2.png: cannot read image header" in one_line(e)
    b = load_benchmark(root / "faces.xml", skip_bad=True)
    assert [s.image_id for s in b.samples] == ["images/d1"] and "d2.png" in b.skipped[0]


def test_box_outside_image_names_file_and_line(tmp_path):
    root = copy("wider", tmp_path)
    gt = root / WIDER_GT
    gt.write_text(gt.read_text().replace("5 5 30 30 1 1 0 0 2 1", "50 5 30 30 1 1 0 0 2 1"))
    with pytest.raises(AnnotationError) as e:
        load_benchmark(root)
    message = one_line(e)
    assert "wider_face_val_bbx_gt.txt:8 (1--Handshaking" in message and "outside the 64x48 image" in message
    b = load_benchmark(root, skip_bad=True)  # the whole image is dropped, not just the box
    assert len(b.samples) == 2 and "outside" in b.skipped[0]


def test_non_positive_box_size(tmp_path):
    root = copy("coco", tmp_path)
    data = json.loads((root / "instances.json").read_text())
    data["annotations"][2]["bbox"] = [30, 20, 0, 16]  # p2's face, zero width
    (root / "instances.json").write_text(json.dumps(data))
    with pytest.raises(AnnotationError) as e:
        load_benchmark(root / "instances.json")
    assert "instances.json (p2.png): box 0 has non-positive size" in one_line(e)
    b = load_benchmark(root / "instances.json", skip_bad=True)
    assert [s.image_id for s in b.samples] == ["p1", "p3"] and len(b.skipped) == 1


def test_openimages_inverted_box(tmp_path):
    root = copy("openimages", tmp_path)
    csv = root / "validation-annotations-bbox.csv"
    csv.write_text(csv.read_text().replace("0.25,0.5,0.5,1.0", "0.5,0.25,0.5,1.0"))
    with pytest.raises(AnnotationError, match="non-positive size"):
        load_benchmark(csv)
    assert len(load_benchmark(csv, skip_bad=True).skipped) == 1


def test_fddb_ellipse_wholly_outside(tmp_path):
    root = copy("fddb", tmp_path)
    fold = root / "FDDB-folds" / "FDDB-fold-02-ellipseList.txt"
    fold.write_text(fold.read_text().replace("60.000000 10.000000", "90.000000 10.000000"))  # x >= 82 > 64
    with pytest.raises(AnnotationError) as e:
        load_benchmark(root)
    assert "FDDB-fold-02-ellipseList.txt:1 (2002/08/12/big/img_2)" in one_line(e)
    assert "non-positive size" in str(e.value)


def test_malformed_wider_raises_even_with_skip_bad(tmp_path):
    root = copy("wider", tmp_path)
    gt = root / WIDER_GT
    gt.write_text(gt.read_text().replace("\n2\n", "\ntwo\n", 1))
    with pytest.raises(AnnotationError, match=r"wider_face_val_bbx_gt.txt:2: expected the face count"):
        load_benchmark(root, skip_bad=True)


def test_empty_benchmark(tmp_path):
    root = copy("voc", tmp_path)
    for xml in (root / "annotations").glob("*.xml"):
        xml.unlink()
    with pytest.raises(DataError, match="no annotations found"):
        load_benchmark(root)
    with pytest.raises(DataError, match="has no images"):
        load_benchmark(root, skip_bad=True)
    coco = copy("coco", tmp_path)
    data = json.loads((coco / "instances.json").read_text())
    (coco / "instances.json").write_text(json.dumps({**data, "images": []}))
    with pytest.raises(DataError, match="instances.json: the benchmark has no images"):
        load_benchmark(coco / "instances.json")


def test_everything_skipped_is_still_an_error(tmp_path):
    root = copy("dlib", tmp_path)
    shutil.rmtree(root / "images")
    with pytest.raises(DataError, match=r"has no images \(2 item\(s\) skipped as bad"):
        load_benchmark(root / "faces.xml", skip_bad=True)


def test_split_naming_absent_images(tmp_path):
    split = tmp_path / "val.txt"
    split.write_text("a\nnope\nalso_nope\n")
    with pytest.raises(DataError) as e:
        load_benchmark(FIXTURES / "voc", split=split)
    assert f"{split}: 2 listed image(s) have no annotation" in one_line(e)
    b = load_benchmark(FIXTURES / "voc", split=split, skip_bad=True)
    assert [s.image_id for s in b.samples] == ["a"] and len(b.skipped) == 2
    with pytest.raises(DataError) as e:
        load_benchmark(FIXTURES / "wider", split=split)
    assert f"{split}: 3 listed image(s) are not in the WIDER ground truth" in one_line(e)
    with pytest.raises(DataError, match="has no images"):
        load_benchmark(FIXTURES / "wider", split=split, skip_bad=True)


def test_split_file_missing(tmp_path):
    with pytest.raises(DataError, match="split file not found"):
        load_benchmark(FIXTURES / "coco" / "instances.json", split=tmp_path / "none.txt")


def test_cannot_tell_format(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DataError, match="stuff: cannot tell the benchmark format"):
        load_benchmark(tmp_path / "stuff")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    with pytest.raises(DataError, match="notes.txt: cannot tell the benchmark format from the file name"):
        load_benchmark(notes)
    with pytest.raises(DataError, match="unknown benchmark format 'yolo'"):
        load_benchmark(notes, fmt="yolo")
    with pytest.raises(DataError, match="benchmark not found"):
        load_benchmark(tmp_path / "absent.json")


def test_unknown_coco_category_and_misplaced_category():
    with pytest.raises(AnnotationError, match="no category named 'head' \\(has face, person\\)"):
        load_benchmark(FIXTURES / "coco" / "instances.json", category="head")
    with pytest.raises(DataError, match="--category applies to coco and openimages"):
        load_benchmark(FIXTURES / "voc", category="face")
