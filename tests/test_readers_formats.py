"""Each benchmark reader on its own hand-written fixture (tests/fixtures/benchmarks/<format>/).

Every fixture image is a plain 64x48 picture (Open Images: 100x50), so all expected
boxes below are worked out by hand from the annotation files.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from facessd_archive.data.readers.formats import FORMATS, HASH_VERSION, detect_format, load_benchmark
from facessd_archive.data.readers.fddb import ellipse_to_box

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"


def by_id(benchmark):
    return {s.image_id: s for s in benchmark.samples}


def test_voc_difficult_is_ignore():
    b = load_benchmark(FIXTURES / "voc")
    assert (b.format, b.name, [s.image_id for s in b.samples]) == ("voc", "voc", ["a", "b", "c"])
    a = by_id(b)["a"]
    np.testing.assert_array_equal(a.boxes, [[4, 6, 24, 30], [30, 10, 40, 20]])
    assert a.ignore.tolist() == [False, True]
    assert (a.width, a.height) == (64, 48)
    assert len(by_id(b)["c"].boxes) == 0
    assert b.num_faces == 2 and b.skipped == []


def test_wider_boxes_flags_and_dummy_line():
    b = load_benchmark(FIXTURES / "wider")
    s = by_id(b)
    assert b.format == "wider" and len(b.samples) == 3
    first = s["0--Parade/0_Parade_marchingband_1_5"]
    # x y w h -> x, y, x + w, y + h
    np.testing.assert_array_equal(first.boxes, [[10, 8, 30, 32], [40, 10, 52, 24]])
    assert first.ignore.tolist() == [False, True]  # the second face is invalid=1: an ignore region
    assert first.attributes["blur"] == [0, 2] and first.attributes["occlusion"] == [0, 1]
    assert first.attributes["invalid"] == [0, 1] and first.attributes["event"] == "0--Parade"
    # count 0 + its dummy line of zeros: an image with no faces, and the next entry still parses
    assert len(s["0--Parade/0_Parade_marchingband_1_6"].boxes) == 0
    last = s["1--Handshaking/1_Handshaking_Handshaking_1_7"]
    np.testing.assert_array_equal(last.boxes, [[5, 5, 35, 35]])
    assert last.attributes["pose"] == [1] and last.attributes["expression"] == [1]
    assert (last.width, last.height) == (64, 48)  # read from the image header


def test_fddb_ellipse_to_box_by_hand():
    # angle 0: half-extents are the radii; angle pi/2: swapped; 45 deg: sqrt((a^2 + b^2) / 2) both ways
    assert ellipse_to_box(10, 5, 0.0, 20, 20) == [10, 15, 30, 25]
    np.testing.assert_allclose(ellipse_to_box(10, 5, math.pi / 2, 40, 24), [35, 14, 45, 34])
    h = math.sqrt(62.5)
    np.testing.assert_allclose(ellipse_to_box(10, 5, math.pi / 4, 60, 10), [60 - h, 10 - h, 60 + h, 10 + h])
    np.testing.assert_allclose(ellipse_to_box(10, 5, -math.pi / 4, 60, 10), [60 - h, 10 - h, 60 + h, 10 + h])


def test_fddb_folds_and_clipping():
    b = load_benchmark(FIXTURES / "fddb")
    s = by_id(b)
    assert b.format == "fddb" and sorted(s) == ["2002/08/11/big/img_1", "2002/08/12/big/img_2"]
    np.testing.assert_allclose(s["2002/08/11/big/img_1"].boxes, [[10, 15, 30, 25], [35, 14, 45, 34]], atol=1e-4)
    h = math.sqrt(62.5)  # 45-degree ellipse at x=60 reaches x=67.9 and is clipped to the 64-pixel width
    np.testing.assert_allclose(s["2002/08/12/big/img_2"].boxes, [[60 - h, 10 - h, 64, 10 + h]], atol=1e-4)
    assert s["2002/08/12/big/img_2"].attributes["fold"] == 2
    assert s["2002/08/11/big/img_1"].attributes["ellipses"][0] == [10, 5, 0, 20, 20]
    one = load_benchmark(FIXTURES / "fddb" / "FDDB-folds" / "FDDB-fold-02-ellipseList.txt")
    assert [x.image_id for x in one.samples] == ["2002/08/12/big/img_2"]


def test_coco_category_and_crowd():
    b = load_benchmark(FIXTURES / "coco" / "instances.json")
    s = by_id(b)
    assert b.format == "coco" and sorted(s) == ["p1", "p2", "p3"]
    np.testing.assert_array_equal(s["p1"].boxes, [[4, 6, 24, 16]])  # the person box (category 1) is not a face
    np.testing.assert_array_equal(s["p2"].boxes, [[30, 20, 46, 36], [2, 30, 22, 44]])
    assert s["p2"].ignore.tolist() == [False, True]  # iscrowd=1
    assert len(s["p3"].boxes) == 0  # a negative image stays in the benchmark
    persons = load_benchmark(FIXTURES / "coco" / "instances.json", category="person")
    np.testing.assert_array_equal(by_id(persons)["p1"].boxes, [[0, 0, 60, 45]])


def test_dlib_boxes_and_both_ignore_spellings():
    b = load_benchmark(FIXTURES / "dlib" / "faces.xml")
    s = by_id(b)
    assert b.format == "dlib" and sorted(s) == ["images/d1", "images/d2"]
    np.testing.assert_array_equal(s["images/d1"].boxes, [[4, 6, 24, 30], [40, 10, 50, 20]])
    assert s["images/d1"].ignore.tolist() == [False, True]  # ignore='1'
    assert s["images/d2"].ignore.tolist() == [True, False]  # <ignore/> child
    assert s["images/d1"].attributes["label"] == ["face", ""]


def test_openimages_face_rows_to_pixels():
    b = load_benchmark(FIXTURES / "openimages" / "validation-annotations-bbox.csv")
    s = by_id(b)
    # the person-only image 0fff00ff00ff00ff is no sample
    assert b.format == "openimages" and sorted(s) == ["000a1249af2bc5f0", "0a1b2c3d4e5f6789"]
    first = s["000a1249af2bc5f0"]
    # 100x50 image: XMin 0.1 -> 10, YMin 0.2 -> 10, XMax 0.3 -> 30, YMax 0.8 -> 40; the Person row is dropped
    np.testing.assert_allclose(first.boxes, [[10, 10, 30, 40], [50, 0, 90, 30]], atol=1e-4)
    assert first.ignore.tolist() == [False, True]  # IsGroupOf=1
    assert first.attributes["IsOccluded"] == [0, 1] and (first.width, first.height) == (100, 50)
    np.testing.assert_allclose(s["0a1b2c3d4e5f6789"].boxes, [[25, 25, 50, 50]], atol=1e-4)


@pytest.mark.parametrize("relative, expected", [
    ("voc", "voc"), ("wider", "wider"), ("wider/wider_face_split/wider_face_val_bbx_gt.txt", "wider"),
    ("fddb", "fddb"), ("fddb/FDDB-folds/FDDB-fold-01-ellipseList.txt", "fddb"),
    ("coco/instances.json", "coco"), ("dlib/faces.xml", "dlib"),
    ("openimages/validation-annotations-bbox.csv", "openimages"),
])
def test_detect_format(relative, expected):
    assert detect_format(FIXTURES / relative) == expected
    assert expected in FORMATS


def test_fmt_overrides_detection(tmp_path):
    renamed = tmp_path / "gt.txt"
    shutil.copy(FIXTURES / "wider" / "wider_face_split" / "wider_face_val_bbx_gt.txt", renamed)
    shutil.copytree(FIXTURES / "wider" / "WIDER_val", tmp_path / "WIDER_val")
    b = load_benchmark(renamed, fmt="wider")
    assert b.format == "wider" and len(b.samples) == 3


def test_voc_split_relative_to_the_folder():
    b = load_benchmark(FIXTURES / "voc", split="val.txt")
    assert [s.image_id for s in b.samples] == ["a", "c"] and b.name == "voc/val"


def test_split_matches_full_ids_or_file_names(tmp_path):
    split = tmp_path / "some.txt"
    split.write_text("# two of three\n0_Parade_marchingband_1_5.jpg\n1--Handshaking/1_Handshaking_Handshaking_1_7\n")
    b = load_benchmark(FIXTURES / "wider", split=split)
    assert [s.image_id for s in b.samples] == ["0--Parade/0_Parade_marchingband_1_5",
                                               "1--Handshaking/1_Handshaking_Handshaking_1_7"]
    assert b.name == "wider/some"
    fddb_split = tmp_path / "fddb.txt"
    fddb_split.write_text("2002/08/12/big/img_2\n")
    assert [s.image_id for s in load_benchmark(FIXTURES / "fddb", split=fddb_split).samples] == [
        "2002/08/12/big/img_2"]


def test_content_hash_is_the_documented_serialisation():
    b = load_benchmark(FIXTURES / "voc")
    text = (f"{HASH_VERSION}\n"
            "a\t4.00,6.00,24.00,30.00,0;30.00,10.00,40.00,20.00,1\n"
            "b\t10.00,10.00,50.00,40.00,0\n"
            "c\t\n")
    assert b.content_hash == hashlib.sha256(text.encode()).hexdigest()


def test_content_hash_ignores_location_and_sees_changes(tmp_path):
    original = load_benchmark(FIXTURES / "voc")
    copy = tmp_path / "elsewhere"
    shutil.copytree(FIXTURES / "voc", copy)
    assert load_benchmark(copy).content_hash == original.content_hash
    xml = copy / "annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<difficult>1</difficult>", "<difficult>0</difficult>"))
    flipped = load_benchmark(copy).content_hash
    xml.write_text(xml.read_text().replace("<xmax>24</xmax>", "<xmax>25</xmax>"))
    moved = load_benchmark(copy).content_hash
    assert len({original.content_hash, flipped, moved}) == 3
