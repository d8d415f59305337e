"""WIDER FACE's own evaluation protocol (``eval_tools/wider_eval.m``), on any subset of the val images.

The official files: ``wider_face_val.mat`` holds, per event, the event name (``event_list``), the
image names without extension (``file_list``) and the face boxes ``[x, y, w, h]`` in pixels
(``face_bbx_list``); ``wider_{easy,medium,hard}_val.mat`` add ``gt_list``: per image, the 1-based
indices of the faces that count in that setting. Every other face is outside the setting.

The protocol, as ``wider_eval.m`` (and its Python port, WiderFace-Evaluation's ``evaluation.py``)
computes it:

1. Scores are min-max normalised over every detection of the evaluated set:
   ``(s - min) / (max - min)`` (all equal: every score becomes 1).
2. Per image, detections are sorted by score (descending, stable) and taken in that order; each
   is matched to the face of highest IoU (the first on ties). When that IoU is >= 0.5 and the
   face is outside the setting, the detection is no proposal at all (neither a hit nor a false
   positive); when the face counts and is not yet found, it is found; otherwise (IoU < 0.5, or a
   face already found) the detection is a false positive. IoU uses the toolbox's inclusive pixel
   convention: a box ``[x, y, w, h]`` spans ``x .. x + w``, so its area is ``(w + 1) * (h + 1)``.
3. At each of 1,000 thresholds ``1 - t / 1000`` (t = 1..1000) each image contributes the number of
   proposals with normalised score >= the threshold and the number of faces they found.
   Images without detections (or without faces) contribute nothing but their faces.
4. Summed over images: precision = found / proposals, recall = found / faces of the setting in
   the evaluated images. AP is the area under the interpolated curve (``voc_ap``: precision made
   non-increasing from the right, summed over the recall steps).

Only images that have an entry in the detections are evaluated, so a subset of val (the images
at hand) is scored as the official tool would score those images alone. A setting with no face
in the evaluated images has AP -1 (``n/a``, the COCO tables' convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from facessd_archive.errors import DataError
from facessd_archive.evaluate.coco_metrics import ImageDetections
from facessd_archive.metric_names import WIDER_METRIC_NAMES, WIDER_SETTINGS

FACE_MAT = "wider_face_val.mat"
SETTING_MATS: dict[str, str] = {s: f"wider_{s}_val.mat" for s in WIDER_SETTINGS}
IOU_THRESHOLD = 0.5
THRESHOLD_COUNT = 1000


@dataclass(frozen=True)
class WiderImageTruth:
    """One val image: its faces ``boxes`` [G, 4] ``x, y, w, h`` pixels, and per setting a [G] bool
    mask of the faces that count there."""

    image_id: str  # EVENT/NAME, the benchmark readers' image_id
    boxes: np.ndarray
    counts: dict[str, np.ndarray]


@dataclass(frozen=True)
class WiderGroundTruth:
    """The official val ground truth, by image id (``0--Parade/0_Parade_marchingband_1_465``)."""

    images: dict[str, WiderImageTruth]
    source: str = ""

    @property
    def num_images(self) -> int:
        return len(self.images)

    def missing(self, image_ids) -> list[str]:
        """The ids in ``image_ids`` that are not val images."""
        return [i for i in image_ids if i not in self.images]


@dataclass(frozen=True)
class WiderCurve:
    """One setting's precision-recall curve at the 1,000 thresholds ([T] each; precision is NaN where
    no detection reaches the threshold)."""

    setting: str
    ap: float
    num_faces: int
    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray

    def defined_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(recall, precision) where precision is defined: the points a plot shows."""
        keep = ~np.isnan(self.precision)
        return self.recall[keep], self.precision[keep]


@dataclass(frozen=True)
class WiderResult:
    curves: dict[str, WiderCurve]  # by setting: easy, medium, hard
    num_images: int

    @property
    def ap(self) -> dict[str, float]:
        return {s: c.ap for s, c in self.curves.items()}

    @property
    def metrics(self) -> dict[str, float]:
        """AP per setting under ``WIDER_METRIC_NAMES`` (``WIDER/AP_easy`` ...)."""
        return {name: self.curves[s].ap for name, s in zip(WIDER_METRIC_NAMES, WIDER_SETTINGS)}


# --- the official .mat files ---------------------------------------------------------------------
def load_wider_ground_truth(folder: str | Path) -> WiderGroundTruth:
    """Read ``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat`` from ``folder``
    (``eval_tools/ground_truth`` of the official evaluation code)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    folder = Path(folder)
    names = [FACE_MAT, *SETTING_MATS.values()]
    absent = [n for n in names if not (folder / n).is_file()]
    if absent:
        raise DataError(f"{folder}: WIDER evaluation file(s) not found: {', '.join(absent)} "
                        f"(the eval_tools/ground_truth folder of WIDER FACE's evaluation code)")
    mats = {}
    for name in names:
        try:
            mats[name] = loadmat(folder / name)
        except (MatReadError, ValueError, TypeError, OSError, NotImplementedError) as e:
            raise DataError(f"{folder / name}: cannot read as a MATLAB file ({e})") from None
    return ground_truth_from_mat(mats[FACE_MAT], {s: mats[n] for s, n in SETTING_MATS.items()}, source=str(folder))


def ground_truth_from_mat(face_mat: Mapping[str, Any], setting_mats: Mapping[str, Mapping[str, Any]],
                          source: str = "") -> WiderGroundTruth:
    """The ground truth from ``scipy.io.loadmat`` dictionaries (cell arrays as [N, 1] object arrays):
    ``face_mat`` with ``event_list``, ``file_list``, ``face_bbx_list``; ``setting_mats[s]`` with ``gt_list``."""
    where = source or FACE_MAT
    try:
        events = [_text(e) for e in _cells(face_mat["event_list"])]
        files = [[_text(f) for f in _cells(c)] for c in _cells(face_mat["file_list"])]
        boxes = [[np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in _cells(c)]
                 for c in _cells(face_mat["face_bbx_list"])]
        settings = {s: [[np.asarray(k).reshape(-1).astype(np.int64) for k in _cells(c)]
                        for c in _cells(m["gt_list"])] for s, m in setting_mats.items()}
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise DataError(f"{where}: not WIDER FACE's evaluation files ({type(e).__name__}: {e})") from None
    images: dict[str, WiderImageTruth] = {}
    for e, event in enumerate(events):
        if len(files[e]) != len(boxes[e]) or any(len(settings[s][e]) != len(files[e]) for s in settings):
            raise DataError(f"{where}: event {event}: the .mat files list different numbers of images")
        for j, name in enumerate(files[e]):
            g = len(boxes[e][j])
            counts = {}
            for s in settings:
                index = settings[s][e][j]
                if index.size and (index.min() < 1 or index.max() > g):
                    raise DataError(f"{where}: {event}/{name}: {s} face index out of 1..{g}: {index.tolist()}")
                mask = np.zeros(g, dtype=bool)
                mask[index - 1] = True
                counts[s] = mask
            images[f"{event}/{name}"] = WiderImageTruth(f"{event}/{name}", boxes[e][j], counts)
    return WiderGroundTruth(images, source=source)


def _cells(value: Any) -> list[Any]:
    return list(np.asarray(value, dtype=object).reshape(-1))


def _text(cell: Any) -> str:
    return str(np.asarray(cell).reshape(-1)[0])


# --- the protocol --------------------------------------------------------------------------------
def wider_overlaps(boxes: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """IoU [D, G] of ``boxes`` [D, 4] and ``faces`` [G, 4], both ``x, y, w, h``, in the toolbox's
    inclusive pixel convention (``boxoverlap.m``: widths ``x2 - x1 + 1``; no overlap is 0)."""
    a = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(faces, dtype=np.float64).reshape(-1, 4)
    ax1, ay1, ax2, ay2 = a[:, 0:1], a[:, 1:2], a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2, bx2) - np.maximum(ax1, bx1) + 1
    ih = np.minimum(ay2, by2) - np.maximum(ay1, by1) + 1
    inter = iw * ih
    union = (ax2 - ax1 + 1) * (ay2 - ay1 + 1) + (bx2 - bx1 + 1) * (by2 - by1 + 1) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((iw > 0) & (ih > 0), iou, 0.0)


def match_image(best_face: np.ndarray, best_iou: np.ndarray, counts: np.ndarray,
                iou_threshold: float = IOU_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """``image_evaluation`` of one image and setting, for detections in score order.

    ``best_face`` / ``best_iou`` [D]: each detection's face of highest IoU and that IoU; ``counts``
    [G]: the faces of the setting. Returns ``found`` [D] (faces of the setting found by detections
    0..h) and ``proposal`` [D] (False for a detection on a face outside the setting).
    """
    hit = best_iou >= iou_threshold
    in_setting = counts[best_face] if len(counts) else np.zeros(len(best_face), dtype=bool)
    proposal = ~(hit & ~in_setting)
    new_face = np.zeros(len(best_face), dtype=bool)
    finds = np.flatnonzero(hit & in_setting)
    if finds.size:
        _, first = np.unique(best_face[finds], return_index=True)  # a face is found once, by its first detection
        new_face[finds[first]] = True
    return np.cumsum(new_face), proposal


def image_pr_counts(scores: np.ndarray, found: np.ndarray, proposal: np.ndarray,
                    thresholds: np.ndarray) -> np.ndarray:
    """``image_pr_info``: [T, 2] (proposals, faces found) at each threshold, for detections sorted by
    normalised score (descending): those with score >= the threshold are a prefix of that order."""
    n = np.searchsorted(-scores, -thresholds, side="right")  # how many scores are >= each threshold
    proposals = np.concatenate([[0], np.cumsum(proposal)])
    finds = np.concatenate([[0], found])
    return np.stack([proposals[n], finds[n]], axis=-1).astype(np.float64)


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the interpolated precision-recall curve (``VOCap`` of the toolbox; NaN precision,
    where nothing was proposed, is skipped as MATLAB's ``max`` skips it)."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.fmax.accumulate(mpre[::-1])[::-1]  # precision envelope: max over this and later points
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def normalise_scores(scores: list[np.ndarray]) -> list[np.ndarray]:
    """Min-max normalisation over all the images' scores together (float64)."""
    values = [np.asarray(s, dtype=np.float64).reshape(-1) for s in scores]
    nonempty = [v for v in values if v.size]
    if not nonempty:
        return values
    low = min(float(v.min()) for v in nonempty)
    high = max(float(v.max()) for v in nonempty)
    if high == low:  # the toolbox would divide by zero; every detection ranks the same
        return [np.ones_like(v) for v in values]
    return [(v - low) / (high - low) for v in values]


def evaluate_wider(truth: WiderGroundTruth, detections: Mapping[str, ImageDetections],
                   iou_threshold: float = IOU_THRESHOLD, threshold_count: int = THRESHOLD_COUNT) -> WiderResult:
    """AP and PR curves per setting for ``detections`` (by image id; boxes pixels xmin, ymin, xmax,
    ymax as every detector here gives them). Only the images in ``detections`` are evaluated."""
    missing = truth.missing(detections)
    if missing:
        raise DataError(f"{len(missing)} image(s) are not WIDER FACE val images of {truth.source or 'the .mat files'}, "
                        f"e.g. {missing[0]!r}")
    ids = list(detections)
    raw_scores = [np.asarray(detections[i].scores).reshape(-1) for i in ids]
    scores = normalise_scores(raw_scores)
    thresholds = 1.0 - np.arange(1, threshold_count + 1) / threshold_count
    totals = {s: np.zeros((threshold_count, 2)) for s in WIDER_SETTINGS}
    faces = {s: 0 for s in WIDER_SETTINGS}
    for image_id, score in zip(ids, scores):
        image = truth.images[image_id]
        for s in WIDER_SETTINGS:
            faces[s] += int(image.counts[s].sum())
        if not len(image.boxes) or not score.size:
            continue  # as the toolbox: an image without faces or detections adds only its faces
        order = np.argsort(-score, kind="stable")
        boxes = _xywh(detections[image_id].boxes)[order]
        overlaps = wider_overlaps(boxes, image.boxes)
        best_face, best_iou = overlaps.argmax(axis=1), overlaps.max(axis=1)
        for s in WIDER_SETTINGS:
            found, proposal = match_image(best_face, best_iou, image.counts[s], iou_threshold)
            totals[s] += image_pr_counts(score[order], found, proposal, thresholds)
    curves = {}
    for s in WIDER_SETTINGS:
        proposals, found = totals[s][:, 0], totals[s][:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(proposals > 0, found / proposals, np.nan)
        recall = found / faces[s] if faces[s] else np.zeros(threshold_count)
        ap = voc_ap(recall, precision) if faces[s] else -1.0
        curves[s] = WiderCurve(s, ap, faces[s], thresholds, precision, recall)
    return WiderResult(curves, num_images=len(ids))


def _xywh(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=-1)
