"""The end-to-end evaluation path: decode at reduced scale for large JPEGs, decode and resize of
the next batch in a background thread, the same detections as the plain sequential path."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facessd_archive.data.sample import Sample
from facessd_archive.errors import DataError
from facessd_archive.evaluate.decoding import decode, decode_sample
from facessd_archive.evaluate.resizing import ResizePolicy
from facessd_archive.evaluate.runner import SSDBatchDetector, run_detector
from facessd_archive.evaluate.runtime import RawDetections


def _photo(path, width: int, height: int, fmt: str = "JPEG"):
    """A smooth gradient picture (JPEG-friendly) of width x height."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], -1).astype(np.uint8)
    Image.fromarray(pixels).save(path, fmt)
    return path


def test_a_large_jpeg_is_decoded_at_reduced_scale(tmp_path):
    path = _photo(tmp_path / "big.jpg", 1600, 1200)
    full, size = decode(path)
    assert full.shape == (1200, 1600, 3) and size == (1200, 1600)
    reduced, size = decode(path, target=lambda h, w: (300, 400))
    assert size == (1200, 1600) and reduced.shape == (300, 400, 3)  # libjpeg's 1/4 scale
    some, _ = decode(path, target=lambda h, w: (500, 600))
    assert some.shape == (600, 800, 3)  # 1/2: the largest reduction that keeps at least 500 x 600
    near, _ = decode(path, target=lambda h, w: (700, 900))
    assert near.shape == (1200, 1600, 3)  # less than a halving: decoded in full
    png = _photo(tmp_path / "big.png", 1600, 1200, "PNG")
    assert decode(png, target=lambda h, w: (300, 400))[0].shape == (1200, 1600, 3)  # only JPEGs have a DCT


class _CentreBox:
    """A runtime stub that finds one face at the centre quarter of its input, scored by the input's
    mean: boxes must come back in original pixels whatever scale the picture was decoded at."""

    name = "stub"
    input_size = 100

    def __call__(self, images: np.ndarray) -> RawDetections:
        b = len(images)
        boxes = np.tile(np.array([[[0.25, 0.25, 0.75, 0.75]]], np.float32), (b, 1, 1))
        scores = (images.reshape(b, -1).mean(1) / 255.0).astype(np.float32)[:, None]
        return RawDetections(boxes, scores, np.ones(b, np.int32))


def _samples(tmp_path, sizes):
    out = []
    for i, (w, h) in enumerate(sizes):
        path = _photo(tmp_path / f"im{i}.jpg", w, h)
        out.append(Sample(path, np.array([[w * 0.25, h * 0.25, w * 0.75, h * 0.75]], np.float32), np.zeros(1, bool),
                          f"im{i}", width=w, height=h))
    return out


def test_boxes_come_back_in_original_pixels_after_a_reduced_decode(tmp_path):
    samples = _samples(tmp_path, [(1600, 1200), (400, 300), (2000, 900)])
    detector = SSDBatchDetector(_CentreBox(), "stub", ResizePolicy("square", 100))
    plain = run_detector(detector, samples, batch_size=2, pipeline=False)
    piped = run_detector(detector, samples, batch_size=2, pipeline=True)
    assert plain.sizes == piped.sizes == [(1200, 1600), (300, 400), (900, 2000)]
    for sample, a, b in zip(samples, plain.detections, piped.detections):
        np.testing.assert_allclose(a.boxes, sample.boxes, atol=1e-3)
        np.testing.assert_allclose(b.boxes, sample.boxes, atol=1e-3)
        np.testing.assert_allclose(a.scores, b.scores, atol=0.01)  # a reduced decode is a slightly smoother picture


def test_pipeline_and_plain_runs_give_the_same_detections(tmp_path):
    """Images the policy does not shrink by half are decoded in full: identical results, any batch size."""
    from facessd_archive.evaluate.tf_runtime import TFRuntime
    from facessd_archive.model.config import face_config
    from facessd_archive.model.detector import SSDDetector

    samples = _samples(tmp_path, [(120, 90), (96, 96), (150, 60), (80, 100), (130, 130)])
    detector = SSDBatchDetector(TFRuntime(SSDDetector(face_config(input_size=96, depth_multiplier=0.25))), "tiny")
    plain = run_detector(detector, samples, batch_size=2, pipeline=False)
    for batch_size in (1, 2, 8):
        piped = run_detector(detector, samples, batch_size=batch_size, pipeline=True)
        assert len(piped.detections) == 5 and piped.wall_seconds > 0
        for a, b in zip(plain.detections, piped.detections):
            np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
            np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        speed = piped.speed()
        assert speed["end_to_end_images_per_second"] > 0 and speed["model_images_per_second"] > 0


def test_the_pipeline_checks_samples_as_the_plain_path_does(tmp_path):
    sample = _samples(tmp_path, [(1600, 1200)])[0]
    wrong = Sample(sample.image_path, sample.boxes, sample.ignore, "im0", width=800, height=600)
    with pytest.raises(DataError, match="annotation says 800x600 but the image is 1600x1200"):
        decode_sample(wrong, lambda h, w: (100, 100))
    detector = SSDBatchDetector(_CentreBox(), "stub", ResizePolicy("square", 100))
    with pytest.raises(DataError, match="annotation says 800x600"):
        run_detector(detector, [sample, wrong], batch_size=1, warmup=False)
