"""Two-scale inference (``evaluate/pyramid.py``): faces larger than the training crops found at a second scale.

The merge rule on hand-made boxes; the real default stage on a synthetic scene scaled up 8x (built in)
and on the WIDER val photo with the largest face of the subset (``../shared``); the command-line switches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facessd_archive.cli import main
from facessd_archive.data.images import load_rgb
from facessd_archive.data.synthetic.scene import generate_scene
from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.api import load_benchmark_spec, resolve_detector
from facessd_archive.evaluate.pyramid import TwoScale, merge
from facessd_archive.evaluate.resizing import ResizePolicy

WIDER_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wider"
LARGEST_FACE = "WIDER_val/images/13--Interview/13_Interview_Interview_On_Location_13_728.jpg"  # 701 px wide
SQUARE_STAGE = "keypoints/v1/facemask_384x384_dm050_8K"


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_each_pass_keeps_its_face_sizes_and_one_nms_removes_the_straddling_pair():
    fine = np.array([[0, 0, 50, 40],  # small: kept from the fine pass
                     [100, 100, 400, 400],  # 300 px: a part of a large face, dropped (over the split)
                     [500, 500, 590, 590]], np.float32)  # 90 px: kept, and it overlaps the coarse 110 px box
    fine_scores = np.array([0.9, 0.8, 0.6], np.float32)
    coarse = np.array([[0, 0, 50, 40],  # small: dropped from the coarse pass
                       [80, 80, 700, 700],  # the large face: kept
                       [495, 495, 605, 605]], np.float32)  # 110 px: kept; IoU with the fine 90 px box 0.67
    coarse_scores = np.array([0.5, 0.7, 0.65], np.float32)
    boxes, scores = merge(fine, fine_scores, coarse, coarse_scores, split_pixels=100, iou_threshold=0.4,
                          max_detections=10)
    np.testing.assert_array_equal(scores, np.array([0.9, 0.7, 0.65], np.float32))  # best first
    np.testing.assert_array_equal(boxes, np.array([[0, 0, 50, 40], [80, 80, 700, 700], [495, 495, 605, 605]]))
    boxes, scores = merge(fine, fine_scores, coarse, coarse_scores, 100, 0.4, max_detections=2)
    assert scores.tolist() == pytest.approx([0.9, 0.7])
    empty = np.zeros((0, 4), np.float32)
    boxes, scores = merge(empty, np.zeros(0, np.float32), empty, np.zeros(0, np.float32), 100, 0.4, 10)
    assert boxes.shape == (0, 4) and scores.shape == (0,)


def test_the_split_is_measured_in_the_photos_pixels_and_small_photos_get_one_pass():
    spec = TwoScale(coarse_side=320, split=0.5)
    original = ResizePolicy("keep_aspect", 320, None)
    capped = ResizePolicy("keep_aspect", 320, 2048)
    assert spec.split_pixels(original, 768, 1024) == pytest.approx(160)  # 160 px of the fine input, which is the photo
    assert spec.split_pixels(capped, 3024, 4032) == pytest.approx(160 * 4032 / 2048)  # fine input is half size
    assert spec.needs_coarse(original, 768, 1024) and spec.needs_coarse(capped, 3024, 4032)
    assert not spec.needs_coarse(original, 240, 320)  # already at the training size: a second pass would repeat it
    assert spec.coarse_policy(capped) == ResizePolicy("keep_aspect", 320, 320)


def _found(detector, picture: np.ndarray, truth: np.ndarray, threshold: float = 0.3) -> int:
    detections = detector.detect_batch([picture])[0][0]
    kept = detections.boxes[detections.scores >= threshold]
    return sum(any(_iou(t, b) >= 0.5 for b in kept) for t in truth)


def test_the_default_stage_finds_every_face_of_a_scene_scaled_up_8x_with_two_scales():
    """Faces of 250-400 px (the stage trained on 320 px crops): one pass at the photo's size misses some."""
    image, boxes, _ = generate_scene(0, 2)
    big = np.asarray(image.resize((image.width * 8, image.height * 8), Image.BICUBIC))
    truth = np.asarray(boxes) * 8
    one = _found(resolve_detector(None).detector, big, truth)
    two_detector = resolve_detector(None, two_scale=True).detector
    two = _found(two_detector, big, truth)
    assert two == len(truth) == 5 and two >= one, (one, two)
    small = np.asarray(image)
    assert _found(two_detector, small, np.asarray(boxes)) == 5  # 320 px: one pass, as before


@pytest.mark.skipif(not WIDER_ROOT.is_dir(), reason="needs ../shared/data/wider (the WIDER FACE subset)")
def test_a_701_px_face_is_one_box_with_two_scales_and_parts_of_it_with_one(tmp_path):
    split = tmp_path / "one.txt"
    split.write_text(LARGEST_FACE + "\n")
    (sample,) = load_benchmark_spec(WIDER_ROOT, split=split).samples
    (truth,) = sample.boxes
    assert truth[2] - truth[0] > 700
    picture = load_rgb(WIDER_ROOT / LARGEST_FACE)
    one = resolve_detector(None).detector.detect_batch([picture])[0][0]
    two = resolve_detector(None, two_scale=True).detector.detect_batch([picture])[0][0]
    best_one = max(_iou(truth, b) for b in one.boxes[one.scores >= 0.3])
    kept = two.boxes[two.scores >= 0.3]
    assert best_one < 0.5  # parts of the face (eyes, mouth), none of them the face
    assert len(kept) == 1 and _iou(truth, kept[0]) >= 0.7


def test_two_scale_is_refused_in_one_line_where_it_does_not_apply():
    with pytest.raises(ConfigError, match="two-scale inference is for stages that keep the aspect ratio"):
        resolve_detector(SQUARE_STAGE, two_scale=True)
    with pytest.raises(ConfigError, match="two-scale inference runs on --runtime tf without --strategy"):
        resolve_detector(None, runtime="tflite", max_side=320, two_scale=True)
    with pytest.raises(ConfigError, match="--two-scale applies to SSD stages, not the peer 'haar'"):
        resolve_detector("haar", two_scale=True)
    assert resolve_detector(SQUARE_STAGE, two_scale=None).detector.two_scale is None  # auto: off where it cannot be


def test_evaluate_says_two_scales_in_its_runtime_and_detect_defaults_to_them(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", "--two-scale", "--json"])
    assert result.exit_code == 0, result.output
    assert '"runtime": "tf, original size, two scales (+ longer side 320 for faces over 0.5 of it)"' in result.output
    image, _, _ = generate_scene(0, 2)
    image.resize((2560, 1440)).save(tmp_path / "big.jpg")
    detected = runner.invoke(main, ["detect", str(tmp_path / "big.jpg")])
    assert detected.exit_code == 0, detected.output
    assert "tf, longer side at most 2048, two scales" in detected.output
    single = runner.invoke(main, ["detect", str(tmp_path / "big.jpg"), "--single-scale", "--original-size"])
    assert single.exit_code == 0 and "(keypoints/v1/wider_facemask_320_mnv2_2K, tf, original size)" in single.output
