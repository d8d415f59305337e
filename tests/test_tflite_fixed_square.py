"""Keep-aspect models under TFLite: one fixed padded square per maximum side, anchors of that grid.

The TFLite runtimes run one input shape, so a keep-aspect stage (the WIDER-trained default) runs
there as the OD API's ``keep_aspect_ratio_resizer`` with ``pad_to_max_dimension``: the image scaled
to fit ``--max-side``, zero-padded to a square. Checked: the policy's geometry, the one-line
refusal of original size, the anchors of the fixed grid, and TFLite on that square giving TF's
detections for the same input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.resizing import ResizePolicy, fixed_square, prepare, to_pixels
from facessd_archive.evaluate.runner import load_ssd_batch_detector
from facessd_archive.evaluate.tf_runtime import TFRuntime
from facessd_archive.evaluate.tflite_runtime import TFLiteRuntime

SIDE = 192


@pytest.fixture(scope="module")
def stage_folder() -> Path:
    from facessd_archive.archive import open_archive, stage_weights_folder

    archive = open_archive(Path(__file__).resolve().parents[1])
    return stage_weights_folder(archive.default_stage().stage_id, archive=archive)


def test_the_padded_square_geometry():
    policy = ResizePolicy("keep_aspect", 640, 416, 32, pad_to_square=True)
    assert policy.square_side == 416
    assert policy.input_shape(300, 400) == (300, 400, 416, 416)  # never scaled up, only padded
    assert policy.input_shape(1200, 600) == (416, 208, 416, 416)
    odd = ResizePolicy("keep_aspect", 640, 400, 32, pad_to_square=True)
    assert odd.square_side == 416 and odd.input_shape(500, 1000) == (200, 400, 416, 416)
    assert odd.describe() == "longer side at most 400, padded to 416x416"
    image = np.zeros((500, 1000, 3), np.uint8)
    assert prepare(image, odd).shape == (416, 416, 3)
    # A box over the whole scaled image (normalised to the padded square) is the whole picture.
    whole = np.array([[0.0, 0.0, 200 / 416, 400 / 416]], np.float32)
    np.testing.assert_allclose(to_pixels(whole, (500, 1000), odd), [[0, 0, 1000, 500]], atol=1e-3)


def test_original_size_is_refused_in_one_line(stage_folder):
    with pytest.raises(ConfigError) as info:
        fixed_square(ResizePolicy("keep_aspect", 640, None), "tflite-int8")
    message = str(info.value)
    assert "\n" not in message and "--max-side N" in message and "--runtime tf" in message
    assert message.startswith("--runtime tflite-int8 runs one fixed input shape")
    with pytest.raises(ConfigError, match="original size"):
        load_ssd_batch_detector(stage_folder, "x", runtime="tflite", original_size=True)
    square = ResizePolicy("square", 300)
    assert fixed_square(square, "tflite") is square


def test_tflite_on_the_padded_square_gives_tf_detections(stage_folder, tmp_path):
    """The fixed-grid network's anchors are the dynamic network's for that shape, and the two
    runtimes agree on the same padded input (float rounding only)."""
    from facessd_archive.model.checkpoint import load_detector

    fixed = load_detector(stage_folder, input_size=SIDE)
    dynamic = load_detector(stage_folder, input_shape=(None, None))
    np.testing.assert_allclose(fixed.anchors_np, dynamic.anchors_for_shape(SIDE, SIDE), atol=1e-6)
    policy = ResizePolicy("keep_aspect", fixed.config.input_size, SIDE, 32, pad_to_square=True)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (150, 190, 3), dtype=np.uint8), rng.integers(0, 256, (300, 120, 3), dtype=np.uint8)]
    batch = np.stack([prepare(im, policy) for im in images])
    a = TFRuntime(dynamic)(batch)
    b = TFLiteRuntime(fixed, cache_dir=tmp_path)(batch)
    np.testing.assert_array_equal(a.num_detections, b.num_detections)
    for i, n in enumerate(a.num_detections):
        n = int(n)
        np.testing.assert_allclose(a.scores[i, :n], b.scores[i, :n], atol=1e-4)
        diff = np.abs(a.boxes[i, :n, None, :] - b.boxes[i, None, :n, :]).max(-1)
        assert diff.min(1).max() < 1e-3


def test_a_keep_aspect_stage_runs_under_tflite_at_a_max_side(stage_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("FACESSD_CACHE", str(tmp_path))
    detector, _ = load_ssd_batch_detector(stage_folder, "stage", runtime="tflite", max_side=SIDE)
    assert detector.policy.pad_to_square and detector.runtime.input_size == SIDE
    picture = np.random.default_rng(1).integers(0, 256, (240, 500, 3), dtype=np.uint8)
    dets, seconds = detector.detect_batch([picture, picture[:100, :80].copy()])
    assert seconds > 0 and len(dets) == 2
    for det, image in zip(dets, (picture, picture[:100, :80])):
        h, w = image.shape[:2]
        if len(det.scores):
            assert det.boxes[:, 2].max() <= w and det.boxes[:, 3].max() <= h and det.boxes.min() >= 0
