"""Pascal VOC reading and image decoding: good folders, facemask's quirk, and errors that name the file."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import voc_xml, write_jpeg, write_png
from facessd_archive.data.images import load_rgb
from facessd_archive.data.sample import Sample
from facessd_archive.data.readers.voc import read_split, read_voc_annotation, read_voc_folder
from facessd_archive.errors import AnnotationError, DataError, ImageError


def _image(h=40, w=50, value=128):
    return np.full((h, w, 3), value, np.uint8)


def test_reads_a_tiny_voc_folder(make_voc):
    root = make_voc({
        "b": (_image(40, 50), [(1, 2, 11, 22), (20, 5, 49, 39)], [False, True]),
        "a": (_image(30, 20), [(0, 0, 20, 30)]),
    })
    samples = read_voc_folder(root)
    assert [s.image_id for s in samples] == ["a", "b"]  # sorted by file name
    a, b = samples
    assert isinstance(a, Sample)
    assert a.image_path == root / "images" / "a.jpg"
    assert (a.width, a.height) == (20, 30)
    np.testing.assert_array_equal(a.boxes, [[0, 0, 20, 30]])
    np.testing.assert_array_equal(b.boxes, [[1, 2, 11, 22], [20, 5, 49, 39]])
    assert b.boxes.dtype == np.float32
    assert b.ignore.tolist() == [False, True]  # difficult -> ignore region
    assert b.num_faces == 1


def test_voc_with_no_objects_and_float_coordinates(tmp_path):
    (tmp_path / "x.xml").write_text(voc_xml("x.jpg", 10, 10, []))
    s = read_voc_annotation(tmp_path / "x.xml", tmp_path)
    assert s.boxes.shape == (0, 4) and s.ignore.shape == (0,)
    (tmp_path / "y.xml").write_text(voc_xml("y.jpg", 10, 10, [(" 1.5 ", "2", "9.25", "10")]))
    np.testing.assert_array_equal(read_voc_annotation(tmp_path / "y.xml", tmp_path).boxes, [[1.5, 2, 9.25, 10]])


def test_stray_text_inside_bndbox_is_tolerated(tmp_path):
    # facemask's maksssksksss0.xml: a stray text line inside the object, next to the coordinates.
    text = ("<annotation><filename>s.jpg</filename><size><width>512</width><height>366</height></size>"
            "<object><name>without_mask</name><difficult>0</difficult><bndbox>"
            "<xmin>79</xmin><ymin>105</ymin><xmax>109</xmax><ymax>142</ymax>"
            "file:/Users/someone/archive/annotations/maksssksksss17.xml\n"
            "</bndbox>file:/Users/someone/archive/annotations/maksssksksss17.xml\n</object></annotation>")
    (tmp_path / "s.xml").write_text(text)
    s = read_voc_annotation(tmp_path / "s.xml", tmp_path)
    np.testing.assert_array_equal(s.boxes, [[79, 105, 109, 142]])


def test_real_facemask_stray_text_file(facemask_root):
    s = read_voc_annotation(facemask_root / "annotations" / "maksssksksss0.xml", facemask_root / "images")
    np.testing.assert_array_equal(s.boxes, [[79, 105, 109, 142], [185, 100, 226, 144], [325, 90, 360, 141]])
    assert s.image_path.is_file()
    assert load_rgb(s.image_path).shape == (366, 512, 3)


def _write_xml(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, phrase", [
    ("<annotation><size><width>10</width>", "malformed XML"),
    (voc_xml("a.jpg", 10, 10, [(1, 1, 5, 5)]).replace("<xmin>1</xmin>", ""), "object 0 <bndbox> has no <xmin>"),
    (voc_xml("a.jpg", 10, 10, [(1, 1, 5, 5)]).replace("<ymax>5</ymax>", "<ymax></ymax>"), "has no <ymax>"),
    (voc_xml("a.jpg", 10, 10, [(1, 1, "x5", 5)]), "<xmax> is not a number: 'x5'"),
    (voc_xml("a.jpg", 10, 10, [(1, 1, 25, 5)]), "lies outside the 10x10 image"),
    (voc_xml("a.jpg", 10, 10, [(1, -3, 5, 5)]), "lies outside the 10x10 image"),
    (voc_xml("a.jpg", 10, 10, [(5, 1, 5, 5)]), "box 0 has non-positive size"),
    (voc_xml("a.jpg", 10, 10, [(1, 1, 5, 5), (6, 5, 2, 9)]), "box 1 has non-positive size"),
    ("<annotation><object><bndbox/></object></annotation>", "no <size> element"),
    (voc_xml("a.jpg", 0, 10, []), "<size> is 0x10"),
    ("<annotation><size><width>10</width><height>10</height></size><object><name>x</name></object>"
     "</annotation>", "object 0 has no <bndbox>"),
])
def test_bad_annotations_raise_annotation_error_naming_the_file(tmp_path, text, phrase):
    path = _write_xml(tmp_path, "bad.xml", text)
    with pytest.raises(AnnotationError) as info:
        read_voc_annotation(path, tmp_path)
    assert phrase in str(info.value)
    assert str(path) in str(info.value)
    assert isinstance(info.value, DataError) and isinstance(info.value, ValueError)


def test_one_pixel_tolerance_for_vocs_inclusive_max(tmp_path):
    path = _write_xml(tmp_path, "ok.xml", voc_xml("a.jpg", 10, 10, [(0, 0, 11, 11)]))
    np.testing.assert_array_equal(read_voc_annotation(path, tmp_path).boxes, [[0, 0, 11, 11]])


def test_bad_annotation_in_a_folder_names_that_file(make_voc):
    root = make_voc({"good": (_image(), [(1, 1, 5, 5)])})
    (root / "annotations" / "zbad.xml").write_text("<annotation>")
    with pytest.raises(AnnotationError, match="zbad.xml: malformed XML"):
        read_voc_folder(root)


def test_load_rgb_decodes_jpeg_png_grey_and_alpha(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[:, :4] = (255, 0, 0)
    out = load_rgb(write_png(tmp_path / "a.png", rgb))
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)
    grey = load_rgb(write_png(tmp_path / "g.png", np.full((5, 7), 77, np.uint8)))
    assert grey.shape == (5, 7, 3) and (grey == 77).all()
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent: flattened on white
    assert (load_rgb(write_png(tmp_path / "t.png", rgba)) == 255).all()
    assert load_rgb(write_jpeg(tmp_path / "j.jpg", np.full((9, 11, 3), 200, np.uint8))).shape == (9, 11, 3)


def test_missing_image_raises_image_error_naming_the_file(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageError, match="image file not found") as info:
        load_rgb(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_jpeg_raises_image_error_naming_the_file(tmp_path, keep):
    rng = np.random.default_rng(0)
    path = write_jpeg(tmp_path / "cut.jpg", rng.integers(0, 255, (64, 64, 3)))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageError, match="cannot decode image") as info:
        load_rgb(path)
    assert str(path) in str(info.value)


def test_not_an_image_raises_image_error(tmp_path):
    path = tmp_path / "text.jpg"
    path.write_text("hello")
    with pytest.raises(ImageError, match="text.jpg: cannot decode image"):
        load_rgb(path)


def test_split_file_restricts_and_strips_extensions(make_voc):
    root = make_voc({n: (_image(), [(1, 1, 5, 5)]) for n in ("a", "b", "c")})
    split = root / "train.txt"
    split.write_text("# comment\nc.jpg\n\n  a  \n")
    assert read_split(split) == ["c", "a"]
    assert [s.image_id for s in read_voc_folder(root, split)] == ["c", "a"]


def test_split_naming_an_absent_image_raises_data_error_naming_the_split(make_voc):
    root = make_voc({"a": (_image(), [(1, 1, 5, 5)])})
    split = root / "train.txt"
    split.write_text("a\nghost\n")
    with pytest.raises(DataError, match="have no annotation") as info:
        read_voc_folder(root, split)
    assert str(split) in str(info.value)
    assert "'ghost'" in str(info.value)


def test_split_file_errors(make_voc, tmp_path):
    root = make_voc({"a": (_image(), [(1, 1, 5, 5)])})
    with pytest.raises(DataError, match="split file not found"):
        read_voc_folder(root, tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(DataError, match="empty.txt: split file lists no images"):
        read_split(empty)


def test_not_a_voc_folder(tmp_path):
    with pytest.raises(DataError, match="not a VOC folder"):
        read_voc_folder(tmp_path)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="no annotations found"):
        read_voc_folder(tmp_path)


def test_capitalised_voc_layout(tmp_path):
    (tmp_path / "Annotations").mkdir()
    write_jpeg(tmp_path / "JPEGImages" / "p.jpg", _image())
    (tmp_path / "Annotations" / "p.xml").write_text(voc_xml("p.jpg", 50, 40, [(1, 1, 5, 5)]))
    (s,) = read_voc_folder(tmp_path)
    assert s.image_path == tmp_path / "JPEGImages" / "p.jpg"


def test_image_found_by_stem_when_filename_is_stale(tmp_path):
    (tmp_path / "annotations").mkdir()
    write_png(tmp_path / "images" / "q.png", _image())
    (tmp_path / "annotations" / "q.xml").write_text(voc_xml("old_name.jpg", 50, 40, [(1, 1, 5, 5)]))
    (s,) = read_voc_folder(tmp_path)
    assert s.image_path == tmp_path / "images" / "q.png"


def test_sample_rejects_mismatched_ignore_flags(tmp_path):
    with pytest.raises(AnnotationError, match="2 boxes but 1 ignore flags"):
        Sample(image_path=tmp_path / "a.jpg", boxes=[[0, 0, 1, 1], [1, 1, 2, 2]], ignore=[False], image_id="a")


def test_split_naming_an_annotated_image_whose_file_is_missing(make_voc):
    """Reading succeeds (images are decoded later); decoding then names the missing image."""
    root = make_voc({"a": (_image(), [(1, 1, 5, 5)])})
    (root / "images" / "a.jpg").unlink()
    split = root / "train.txt"
    split.write_text("a\n")
    (s,) = read_voc_folder(root, split)
    with pytest.raises(ImageError, match="image file not found") as info:
        load_rgb(s.image_path)
    assert str(root / "images" / "a.jpg") in str(info.value)
