"""``facessd detect``: pictures found in folders, read upright, searched, drawn and listed.

The end-to-end tests run the archive's default stage once (module fixture) on a folder holding
a synthetic scene stored rotated with an EXIF Orientation tag, a PNG with an alpha channel, a
truncated JPEG and a text file; the library tests use a hand-made detector whose answers are
known, so thresholding, clipping, ordering and skipping are checked without a model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facessd_archive.cli import main
from facessd_archive.data.images import load_rgb
from facessd_archive.data.synthetic.scene import generate_scene
from facessd_archive.detect.api import DETECTIONS_FILE, run_detect
from facessd_archive.detect.drawing import draw_detections, encode, output_format
from facessd_archive.detect.inputs import ImageInput, find_images
from facessd_archive.errors import ConfigError, DataError, ImageError
from facessd_archive.evaluate.coco_metrics import ImageDetections
from facessd_archive.model.checkpoint import export_compact
from facessd_archive.model.config import face_config
from facessd_archive.model.detector import SSDDetector

ORIENTATION = 0x0112  # EXIF tag; 6 = "rotate 90 degrees clockwise to display"


def _write_rotated_jpeg(path: Path, upright: Image.Image) -> None:
    """Store ``upright`` turned 90 degrees counter-clockwise, tagged so that viewers turn it back."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    upright.transpose(Image.Transpose.ROTATE_90).save(path, format="JPEG", quality=95, exif=exif)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def scene():
    """Synthetic scene 2 of seed 0: 320x180, five faces (the default stage finds most at the default threshold 0.3)."""
    image, boxes, _ = generate_scene(0, 2)
    assert image.size == (320, 180)
    return image, boxes


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, scene) -> Path:
    root = tmp_path_factory.mktemp("pictures")
    _write_rotated_jpeg(root / "rotated.JPG", scene[0])  # upper-case extension: still a picture
    rgba = np.asarray(generate_scene(0, 3)[0].convert("RGBA")).copy()
    rgba[:, :60, 3] = 0  # a transparent band on the left
    (root / "sub").mkdir()
    Image.fromarray(rgba).save(root / "sub" / "alpha.png")
    good = root / "sub" / "whole.jpg"
    scene[0].save(good, format="JPEG", quality=90)
    (root / "broken.jpg").write_bytes(good.read_bytes()[:1500])  # truncated mid-scan
    good.unlink()
    (root / "notes.txt").write_text("not a picture")
    return root


@pytest.fixture(scope="module")
def detected(pictures, tmp_path_factory):
    """One run of the default stage: ``facessd detect PICTURES --json --out OUT``."""
    out = tmp_path_factory.mktemp("detected") / "out"
    result = CliRunner().invoke(main, ["detect", str(pictures), "--json", "--out", str(out)], catch_exceptions=False)
    return result, out


def test_the_run_goes_on_past_a_truncated_file_named_on_one_line(detected):
    result, _ = detected
    assert result.exit_code == 0, result.output
    named = [line for line in result.stderr.splitlines() if "broken.jpg" in line]
    assert len(named) == 1 and named[0].startswith("skipped ") and "truncated" in named[0]
    assert "images/s" in result.stderr.splitlines()[-2]  # throughput, then where the files went


def test_json_lines_parse_and_list_each_readable_picture_once(detected, pictures):
    result, _ = detected
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(d["image"]).relative_to(pictures).as_posix() for d in lines] == ["rotated.JPG", "sub/alpha.png"]
    for d in lines:
        assert set(d) == {"image", "width", "height", "detections"}
        scores = [face["score"] for face in d["detections"]]
        assert scores == sorted(scores, reverse=True) and all(s >= 0.3 for s in scores)  # the default --threshold


def test_exif_rotated_jpeg_is_reported_upright_with_its_faces_found(detected, scene):
    result, _ = detected
    rotated = json.loads(result.stdout.splitlines()[0])
    assert (rotated["width"], rotated["height"]) == (320, 180)  # stored 180x320
    boxes = [face["box"] for face in rotated["detections"]]
    assert boxes and all(0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 180 for x0, y0, x1, y1 in boxes)
    truth = scene[1]
    found = [t for t in truth if max(_iou(t, b) for b in boxes) >= 0.5]
    assert len(found) >= 3, (boxes, truth)  # in stored orientation the faces would be elsewhere


def test_png_with_alpha_is_read(detected):
    result, _ = detected
    alpha = json.loads(result.stdout.splitlines()[1])
    assert (alpha["width"], alpha["height"]) == (288, 216)
    assert all(0 <= x0 < x1 <= 288 and 0 <= y0 < y1 <= 216 for x0, y0, x1, y1 in
               (face["box"] for face in alpha["detections"]))


def test_out_holds_drawn_pictures_in_their_format_and_the_same_json_lines(detected):
    result, out = detected
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        [DETECTIONS_FILE, "rotated.JPG", "sub/alpha.png"]
    with Image.open(out / "rotated.JPG") as im:
        assert (im.format, im.size) == ("JPEG", (320, 180))  # drawn upright
    with Image.open(out / "sub" / "alpha.png") as im:
        assert (im.format, im.size) == ("PNG", (288, 216))
    assert (out / DETECTIONS_FILE).read_text().splitlines() == result.stdout.splitlines()


def test_table_output_from_a_model_folder(pictures, tmp_path):
    """A tiny random model (scores near 0.01, so threshold 0 keeps its boxes): the table's shape."""
    folder = tmp_path / "model"
    export_compact(SSDDetector(face_config(input_size=64, depth_multiplier=0.25)), folder)
    result = CliRunner().invoke(main, ["detect", str(pictures / "rotated.JPG"), "--stage", str(folder),
                                       "--threshold", "0"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    header, rule, row = result.stdout.splitlines()
    assert header.split() == ["picture", "faces", "top", "score"] and set(rule) <= {"-", " "}
    path, faces, top = row.split()
    assert path.endswith("rotated.JPG") and int(faces) >= 1 and 0.0 <= float(top) <= 1.0
    assert "(model, tf)" in result.stderr


def test_nothing_readable_is_an_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = CliRunner().invoke(main, ["detect", str(tmp_path)])
    assert result.exit_code == 2
    assert "none of the 1 picture(s) could be read" in result.stderr


# --- library: inputs, reading, thresholds, drawing (no model) ---


class FixedDetector:
    """Per picture of W x H: boxes (-5, 2, W/2, H/2) at 0.6, (1, 1, W+10, H+10) at 0.9, (0, 0, 4, 4) at 0.2."""

    name = "fixed"

    def __init__(self):
        self.batches: list[list[tuple[int, ...]]] = []

    def detect_batch(self, images):
        self.batches.append([im.shape for im in images])
        out = []
        for im in images:
            h, w = im.shape[:2]
            boxes = np.array([[-5, 2, w / 2, h / 2], [1, 1, w + 10, h + 10], [0, 0, 4, 4]], np.float32)
            out.append(ImageDetections(boxes, np.array([0.6, 0.9, 0.2], np.float32)))
        return out, 0.0


def _solid(path: Path, size=(40, 30), fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 90, 60)).save(path, format=fmt)
    return path


def test_run_detect_thresholds_clips_and_sorts(tmp_path):
    items = [ImageInput(_solid(tmp_path / f"{i}.png", (40, 30)), Path(f"{i}.png")) for i in range(3)]
    detector, results = FixedDetector(), []
    summary = run_detect(detector, items, threshold=0.5, batch_size=2, on_result=results.append)
    assert detector.batches == [[(30, 40, 3)] * 2, [(30, 40, 3)]]
    assert (summary.images, summary.faces, summary.skipped) == (3, 6, ())
    np.testing.assert_allclose(results[0].boxes, [[1, 1, 40, 30], [0, 2, 20, 15]])
    np.testing.assert_allclose(results[0].scores, [0.9, 0.6])
    assert results[0].to_json()["detections"][0] == {"box": [1.0, 1.0, 40.0, 30.0], "score": 0.9}


def test_run_detect_skips_unreadable_and_writes_only_the_rest(tmp_path):
    good = _solid(tmp_path / "in" / "good.bmp", fmt="BMP")
    bad = tmp_path / "in" / "bad.webp"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 garbage")
    skipped: list[str] = []
    out = tmp_path / "out"
    summary = run_detect(FixedDetector(), [ImageInput(bad, Path("bad.webp")), ImageInput(good, Path("good.bmp"))],
                         out_dir=out, on_skip=skipped.append)
    assert summary.images == 1 and len(skipped) == 1 and str(bad) in skipped[0] and "\n" not in skipped[0]
    assert sorted(p.name for p in out.iterdir()) == [DETECTIONS_FILE, "good.bmp"]
    with Image.open(out / "good.bmp") as im:
        assert im.format == "BMP"
    assert json.loads((out / DETECTIONS_FILE).read_text())["image"] == str(good)


def test_run_detect_refuses_bad_settings_and_all_unreadable(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(ConfigError, match="threshold must be in"):
        run_detect(FixedDetector(), [], threshold=1.5)
    with pytest.raises(DataError, match="none of the 1 picture"):
        run_detect(FixedDetector(), [ImageInput(bad, Path("bad.jpg"))])
    with pytest.raises(DataError, match="no pictures given"):
        run_detect(FixedDetector(), [])


def test_find_images_walks_folders_by_extension_in_order(tmp_path):
    for name in ["b/z.WebP", "b/a.jpeg", "c.BMP", "d.png"]:
        _solid(tmp_path / "pics" / name, fmt={"WebP": "WEBP", "BMP": "BMP"}.get(name.rsplit(".", 1)[1]))
    (tmp_path / "pics" / "readme.md").write_text("x")
    _solid(tmp_path / "pics" / "out" / "d.png")  # a previous run's output, inside the input folder
    loose = _solid(tmp_path / "loose.gif", fmt="GIF")  # named explicitly: read whatever its extension
    found = find_images([tmp_path / "pics", loose, tmp_path / "pics" / "d.png"], exclude=tmp_path / "pics" / "out")
    assert [i.relative.as_posix() for i in found] == ["b/a.jpeg", "b/z.WebP", "c.BMP", "d.png", "loose.gif"]
    named = find_images([tmp_path / "pics" / "out" / "d.png"], exclude=tmp_path / "pics" / "out")
    assert [i.relative.as_posix() for i in named] == ["d.png"]  # a file named explicitly is always read


def test_find_images_errors_name_the_problem(tmp_path):
    with pytest.raises(ImageError, match="nope: no such file or folder"):
        find_images([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no pictures"):
        find_images([tmp_path / "empty"])
    _solid(tmp_path / "a" / "x.png")
    _solid(tmp_path / "b" / "x.png")
    with pytest.raises(DataError, match="would both be written as x.png"):
        find_images([tmp_path / "a", tmp_path / "b"])


def test_load_rgb_applies_exif_orientation_only_when_asked(tmp_path, scene):
    path = tmp_path / "r.jpg"
    _write_rotated_jpeg(path, scene[0])
    assert load_rgb(path).shape == (320, 180, 3)  # stored, as benchmark annotations expect
    upright = load_rgb(path, exif_orientation=True)
    assert upright.shape == (180, 320, 3)
    assert np.abs(upright.astype(int) - np.asarray(scene[0], dtype=int)).mean() < 4  # JPEG noise only


def test_drawing_marks_the_box_and_keeps_size_and_format():
    image = np.full((60, 80, 3), 255, np.uint8)
    drawn = np.asarray(draw_detections(image, np.array([[10, 20, 50, 55]], np.float32), np.array([0.87])))
    assert drawn.shape == image.shape
    assert (drawn[40, 10] != 255).any() and (drawn[40, 30] == 255).all()  # left edge drawn, inside untouched
    assert output_format(Path("a.JPG")) == "JPEG" and output_format(Path("a.webp")) == "WEBP"
    assert output_format(Path("a.unknown")) is None
    assert encode(Image.fromarray(image), "PNG")[:8] == b"\x89PNG\r\n\x1a\n"
