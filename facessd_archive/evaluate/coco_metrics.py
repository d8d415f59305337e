"""COCO box metrics with pycocotools, reported under the Object Detection API's names.

Ground truth and detections are in pixels of the original image. Single class
``face`` (category 1). Ignore regions (``Sample.ignore``) are passed to COCOeval as
``iscrowd`` boxes: a detection on one is neither a true nor a false positive
(matched by intersection over the detection's area) and missing one is no miss.
A value of -1 means pycocotools found no ground truth for that bucket (e.g. no
large faces), exactly as the OD API reports it.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from facessd_archive.data.sample import Sample
from facessd_archive.metric_names import METRIC_NAMES

FACE_CATEGORY_ID = 1


@dataclass(frozen=True)
class ImageDetections:
    """Detections for one image: ``boxes`` [D, 4] pixels xmin, ymin, xmax, ymax; ``scores`` [D]."""

    boxes: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class CocoResult:
    metrics: dict[str, float]  # the twelve METRIC_NAMES
    recall_thresholds: np.ndarray  # [101]
    precision_at_50: np.ndarray  # [101] precision at IoU 0.5, all areas, 100 detections (-1 where undefined)


def _xywh(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=-1)


def build_coco_ground_truth(samples: Sequence[Sample], sizes: Sequence[tuple[int, int]]) -> COCO:
    """A pycocotools COCO object for ``samples``; ``sizes`` are (height, width) of the decoded images."""
    images, annotations = [], []
    ann_id = 1
    for image_id, (sample, (h, w)) in enumerate(zip(samples, sizes), start=1):
        images.append({"id": image_id, "width": int(w), "height": int(h), "file_name": str(sample.image_path)})
        for box, ignore in zip(_xywh(sample.boxes), sample.ignore):
            annotations.append({"id": ann_id, "image_id": image_id, "category_id": FACE_CATEGORY_ID,
                                "bbox": [float(v) for v in box], "area": float(box[2] * box[3]),
                                "iscrowd": int(bool(ignore)), "ignore": int(bool(ignore))})
            ann_id += 1
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations,
                    "categories": [{"id": FACE_CATEGORY_ID, "name": "face"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def compute_coco_metrics(samples: Sequence[Sample], detections: Sequence[ImageDetections],
                         sizes: Sequence[tuple[int, int]]) -> CocoResult:
    """The twelve COCO numbers and the IoU-0.5 precision-recall curve for one benchmark run."""
    if len(samples) != len(detections) or len(samples) != len(sizes):
        raise ValueError(f"{len(samples)} samples, {len(detections)} detection sets, {len(sizes)} sizes")
    gt = build_coco_ground_truth(samples, sizes)
    results = []
    for image_id, det in enumerate(detections, start=1):
        for box, score in zip(_xywh(det.boxes), np.asarray(det.scores).reshape(-1)):
            results.append({"image_id": image_id, "category_id": FACE_CATEGORY_ID,
                            "bbox": [float(v) for v in box], "score": float(score)})
    recall_thresholds = np.linspace(0.0, 1.0, 101)
    if not results:
        metrics = {name: 0.0 for name in METRIC_NAMES}
        return CocoResult(metrics, recall_thresholds, np.zeros(101))
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = [float(s) for s in evaluator.stats]
    precision = evaluator.eval["precision"]  # [T iou, R recall, K class, A area, M maxdets]
    return CocoResult(dict(zip(METRIC_NAMES, stats)), evaluator.params.recThrs.copy(),
                      precision[0, :, 0, 0, -1].copy())
