"""COCO numbers from the readers' output on cases small enough to work out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facessd_archive.data.readers.formats import load_benchmark
from facessd_archive.evaluate.coco_metrics import ImageDetections, compute_coco_metrics

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
MAP, MAP50, MAP75 = ("DetectionBoxes_Precision/mAP", "DetectionBoxes_Precision/mAP@.50IOU",
                     "DetectionBoxes_Precision/mAP@.75IOU")


def evaluate(benchmark, boxes_per_image, scores_per_image):
    detections = [ImageDetections(np.asarray(b, dtype=np.float32).reshape(-1, 4), np.asarray(s, dtype=np.float32))
                  for b, s in zip(boxes_per_image, scores_per_image)]
    sizes = [(s.height, s.width) for s in benchmark.samples]
    return compute_coco_metrics(benchmark.samples, detections, sizes).metrics


def perfect(benchmark):
    boxes = [s.boxes[~s.ignore] for s in benchmark.samples]
    return boxes, [np.full(len(b), 0.9) for b in boxes]


@pytest.mark.parametrize("relative", ["voc", "wider", "fddb", "coco/instances.json", "dlib/faces.xml",
                                      "openimages/validation-annotations-bbox.csv"])
def test_perfect_detections_give_map_one(relative):
    b = load_benchmark(FIXTURES / relative)
    metrics = evaluate(b, *perfect(b))
    assert metrics[MAP] == pytest.approx(1.0) and metrics[MAP50] == pytest.approx(1.0)


def test_box_at_iou_06_counts_at_50_not_75():
    # Faces: p1 [4, 6, 24, 16] and p2 [30, 20, 46, 36] (16x16); p2's crowd region gets no detection.
    # p2's detection moves 4 px right: intersection 12x16, union 20x16, IoU = 12/20 = 0.6.
    # IoU .50: both detections hit -> AP 1.0.
    # IoU .75: p1's hit (score .9) comes first, p2's (score .8) is a false positive: precision 1 up to
    #          recall 0.5 and nothing beyond, so of COCO's 101 recall points 0.00..0.50 (51) score 1 -> 51/101.
    b = load_benchmark(FIXTURES / "coco" / "instances.json")
    assert [s.image_id for s in b.samples] == ["p1", "p2", "p3"]
    boxes = [[[4, 6, 24, 16]], [[34, 20, 50, 36]], []]
    metrics = evaluate(b, boxes, [[0.9], [0.8], []])
    assert metrics[MAP50] == pytest.approx(1.0)
    assert metrics[MAP75] == pytest.approx(51 / 101)


def test_wider_invalid_face_is_neither_hit_nor_miss():
    b = load_benchmark(FIXTURES / "wider")
    boxes, scores = perfect(b)  # the invalid face [40, 10, 52, 24] of the first image is not detected
    assert evaluate(b, boxes, scores)[MAP] == pytest.approx(1.0)  # missing the ignore region: no miss
    on_invalid = [np.vstack([boxes[0], [[40, 10, 52, 24]]]), boxes[1], boxes[2]]
    top_scored = [[0.9, 0.99], scores[1], scores[2]]  # ranked above every true face
    assert evaluate(b, on_invalid, top_scored)[MAP] == pytest.approx(1.0)  # detecting it: no false positive
    # The same detection beside the face, on background, is a false positive ranked first:
    # precision 0.5 at the first hit, 2/3 at the second -> interpolated 2/3 for every recall -> AP 2/3.
    on_background = [np.vstack([boxes[0], [[40, 30, 52, 44]]]), boxes[1], boxes[2]]
    assert evaluate(b, on_background, top_scored)[MAP] == pytest.approx(2 / 3)


def test_facemask_counts(facemask_root):  # skips with the reason when ../shared/data/facemask is absent
    expected = {None: (705, 3210), "train.txt": (539, 2506), "val.txt": (166, 704)}
    hashes = set()
    for split, (images, faces) in expected.items():
        b = load_benchmark(facemask_root, split=split)
        assert (len(b.samples), sum(len(s.boxes) for s in b.samples)) == (images, faces)
        assert b.format == "voc" and b.skipped == []
        hashes.add(b.content_hash)
    assert len(hashes) == 3
