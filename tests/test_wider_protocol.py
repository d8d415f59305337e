"""WIDER FACE's own protocol (``evaluate/wider_protocol.py``) on hand-computable cases, the official
.mat files' loader, and the real val files when ``../shared/data/wider`` is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facessd_archive.errors import DataError
from facessd_archive.evaluate.coco_metrics import ImageDetections
from facessd_archive.evaluate.wider_protocol import (
    THRESHOLD_COUNT,
    evaluate_wider,
    ground_truth_from_mat,
    image_pr_counts,
    load_wider_ground_truth,
    match_image,
    voc_ap,
    wider_overlaps,
)
from facessd_archive.metric_names import WIDER_METRIC_NAMES
from wider_helpers import mat_dicts, write_mats

WIDER_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wider"

# One crowd image: E counts in every setting, M from Medium on, H only in Hard, X (an invalid
# face) in none. Boxes x, y, w, h, far apart.
E, M, H, X = [10, 10, 40, 40], [100, 10, 30, 30], [200, 10, 8, 8], [300, 10, 20, 20]
CROWD = ("0--Parade", "0_Parade_crowd_1", [E, M, H, X], {"easy": [1], "medium": [1, 2], "hard": [1, 2, 3]})
# A second image with two Easy faces A and B.
A, B = [10, 10, 50, 50], [100, 100, 50, 50]
PAIR = ("1--Handshaking", "1_Handshaking_pair_2", [A, B], {"easy": [1, 2], "medium": [1, 2], "hard": [1, 2]})
BACKGROUND = [300, 300, 40, 40]


def truth_of(*images):
    face, settings = mat_dicts(images)
    return ground_truth_from_mat(face, settings)


def dets(*pairs) -> ImageDetections:
    """Detections from (x, y, w, h) boxes and scores, as pixels xmin, ymin, xmax, ymax."""
    boxes = np.array([[x, y, x + w, y + h] for (x, y, w, h), _ in pairs], np.float32).reshape(-1, 4)
    return ImageDetections(boxes, np.array([s for _, s in pairs], np.float32))


CROWD_ID, PAIR_ID = "0--Parade/0_Parade_crowd_1", "1--Handshaking/1_Handshaking_pair_2"


# --- pieces ----------------------------------------------------------------------------------------
def test_overlaps_use_the_toolbox_inclusive_pixel_convention():
    # [0, 0, 9, 9] spans x 0..9: 10 px wide; [5, 0, 9, 9] overlaps it on x 5..9: 5 x 10 px.
    iou = wider_overlaps(np.array([[0, 0, 9, 9]]), np.array([[5, 0, 9, 9], [0, 0, 9, 9], [20, 20, 5, 5]]))
    assert iou == pytest.approx(np.array([[50 / 150, 1.0, 0.0]]))


def test_threshold_counts_and_voc_ap_by_hand():
    # Normalised scores 1, 0.5, 0 (found faces after each: 1, 1, 2; all three are proposals).
    thresholds = 1.0 - np.arange(1, THRESHOLD_COUNT + 1) / THRESHOLD_COUNT
    counts = image_pr_counts(np.array([1.0, 0.5, 0.0]), np.array([1, 1, 2]), np.array([True, True, True]),
                             thresholds)
    assert counts[0].tolist() == [1, 1]  # threshold 0.999: the first detection only
    assert counts[499].tolist() == [2, 1]  # threshold 0.5: the second joins
    assert counts[998].tolist() == [2, 1] and counts[999].tolist() == [3, 2]  # 0.001, then 0.0: all
    # Points (recall, precision) (0.5, 1), (0.5, 0.5), (1, 2/3): 0.5 * 1 + 0.5 * 2/3.
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(0.5 + 1 / 3)
    assert voc_ap(np.array([0.0, 0.5]), np.array([np.nan, 1.0])) == pytest.approx(0.5)  # nothing proposed yet


def test_a_face_is_found_once_and_faces_outside_the_setting_are_no_proposals():
    # Detections in score order, each with its best face and IoU; the setting counts faces 0 and 1.
    found, proposal = match_image(best_face=np.array([0, 0, 2, 1, 1]), best_iou=np.array([0.9, 0.8, 0.7, 0.3, 0.6]),
                                  counts=np.array([True, True, False]))
    assert found.tolist() == [1, 1, 1, 1, 2]  # the duplicate of face 0 and the IoU-0.3 one find nothing
    assert proposal.tolist() == [True, True, False, True, True]  # only the hit on face 2 (outside) is none


# --- the protocol on hand-made sets -------------------------------------------------------------
def test_a_perfect_detector_scores_one_on_every_setting():
    truth = truth_of(CROWD, PAIR)
    result = evaluate_wider(truth, {CROWD_ID: dets((E, 0.9), (M, 0.8), (H, 0.7), (X, 0.6)),
                                    PAIR_ID: dets((A, 0.95), (B, 0.5))})
    assert result.metrics == {name: pytest.approx(1.0) for name in WIDER_METRIC_NAMES}
    assert {s: c.num_faces for s, c in result.curves.items()} == {"easy": 3, "medium": 4, "hard": 5}
    assert result.num_images == 2


def test_finding_only_the_easy_faces_scores_one_on_easy_and_less_on_medium_and_hard():
    result = evaluate_wider(truth_of(CROWD), {CROWD_ID: dets((E, 0.9))})
    # Every detection is a hit: precision 1 up to the recall reached, 1 of 1, 1 of 2, 1 of 3 faces.
    assert result.ap == pytest.approx({"easy": 1.0, "medium": 1 / 2, "hard": 1 / 3})


def test_a_detection_on_a_face_outside_the_setting_costs_nothing():
    # H is outside Easy and Medium, X (invalid) outside every setting; both rank above E.
    result = evaluate_wider(truth_of(CROWD), {CROWD_ID: dets((X, 0.99), (H, 0.95), (E, 0.9))})
    assert result.ap == pytest.approx({"easy": 1.0, "medium": 1 / 2, "hard": 2 / 3})
    # The same detections that miss the face (IoU < 0.5) are false positives.
    shifted = [X[0] + 15, X[1], X[2], X[3]]
    result = evaluate_wider(truth_of(CROWD), {CROWD_ID: dets((shifted, 0.99), (E, 0.9))})
    assert result.ap["easy"] == pytest.approx(0.5)  # recall 1 at precision 1/2


def test_a_false_positive_on_background_lowers_ap_by_the_hand_computed_amount():
    truth = truth_of(PAIR)
    clean = evaluate_wider(truth, {PAIR_ID: dets((A, 1.0), (B, 0.0))})
    assert clean.ap["easy"] == pytest.approx(1.0)
    # A (score 1), background (0.5), B (0): at thresholds > 0.5 recall 1/2 precision 1; down to 0.001
    # recall 1/2 precision 1/2; at 0 recall 1 precision 2/3. AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    noisy = evaluate_wider(truth, {PAIR_ID: dets((A, 1.0), (BACKGROUND, 0.5), (B, 0.0))})
    assert noisy.ap["easy"] == pytest.approx(5 / 6)
    assert clean.ap["easy"] - noisy.ap["easy"] == pytest.approx(1 / 6)
    # A second detection of A instead of the background: a face counts once, so the same 5/6.
    duplicate = evaluate_wider(truth, {PAIR_ID: dets((A, 1.0), ([11, 11, 50, 50], 0.5), (B, 0.0))})
    assert duplicate.ap["easy"] == pytest.approx(5 / 6)


def test_scores_are_normalised_over_the_whole_set():
    truth = truth_of(CROWD, PAIR)
    raw = {CROWD_ID: [(E, 3.0), (BACKGROUND, 0.5), (M, 0.2)], PAIR_ID: [(A, 4.0), (B, 2.0)]}
    base = evaluate_wider(truth, {k: dets(*v) for k, v in raw.items()})
    shifted = evaluate_wider(truth, {k: dets(*[(b, 10 * s - 7) for b, s in v]) for k, v in raw.items()})
    assert shifted.ap == pytest.approx(base.ap)
    # All scores equal: every detection ranks the same (one point on the curve).
    same = evaluate_wider(truth, {PAIR_ID: dets((A, 0.7), (BACKGROUND, 0.7))})
    assert same.ap["easy"] == pytest.approx(0.5 * 0.5)


def test_only_the_images_with_detections_are_evaluated():
    truth = truth_of(CROWD, PAIR)
    result = evaluate_wider(truth, {PAIR_ID: dets((A, 0.9), (B, 0.8))})
    assert result.num_images == 1 and result.curves["easy"].num_faces == 2
    assert result.ap["easy"] == pytest.approx(1.0)
    # An evaluated image without detections still counts its faces; a setting without faces is n/a.
    result = evaluate_wider(truth, {PAIR_ID: dets((A, 0.9), (B, 0.8)), CROWD_ID: dets()})
    assert result.ap["easy"] == pytest.approx(2 / 3)  # 2 of the 3 Easy faces, every detection a hit
    no_easy = ("2--Demonstration", "2_Demonstration_3", [H], {"hard": [1]})
    assert evaluate_wider(truth_of(no_easy), {"2--Demonstration/2_Demonstration_3": dets((H, 1.0))}).ap == \
        pytest.approx({"easy": -1.0, "medium": -1.0, "hard": 1.0})


def test_an_image_outside_the_ground_truth_is_an_error():
    with pytest.raises(DataError, match="1 image\\(s\\) are not WIDER FACE val images.*'9--Nope/x'"):
        evaluate_wider(truth_of(PAIR), {"9--Nope/x": dets((A, 1.0))})


def _reference_ap(truth, detections):
    """The toolbox's loops written out one detection and one threshold at a time (a second opinion)."""
    ids = list(detections)
    scores = np.concatenate([np.asarray(detections[i].scores, float) for i in ids])
    low, high = scores.min(), scores.max()
    aps = {}
    for s in ("easy", "medium", "hard"):
        pr, faces = np.zeros((THRESHOLD_COUNT, 2)), 0
        for i in ids:
            gt = truth.images[i].boxes
            keep = truth.images[i].counts[s]
            faces += keep.sum()
            det = detections[i]
            if not len(gt) or not len(det.scores):
                continue
            norm = (np.asarray(det.scores, float) - low) / (high - low)
            order = np.argsort(-norm, kind="stable")
            boxes = np.asarray(det.boxes, float)[order]
            norm = norm[order]
            xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
            recall_list, proposal, found = np.zeros(len(gt)), np.ones(len(norm)), np.zeros(len(norm))
            for h in range(len(norm)):
                iou = wider_overlaps(xywh[h:h + 1], gt)[0]
                k = iou.argmax()
                if iou[k] >= 0.5:
                    if not keep[k]:
                        recall_list[k], proposal[h] = -1, -1
                    elif recall_list[k] == 0:
                        recall_list[k] = 1
                found[h] = (recall_list == 1).sum()
            for t in range(THRESHOLD_COUNT):
                above = np.flatnonzero(norm >= 1 - (t + 1) / THRESHOLD_COUNT)
                if above.size:
                    pr[t] += [(proposal[:above[-1] + 1] == 1).sum(), found[above[-1]]]
        with np.errstate(invalid="ignore", divide="ignore"):
            aps[s] = voc_ap(pr[:, 1] / faces, pr[:, 1] / pr[:, 0])
    return aps


def test_matches_the_toolbox_loops_on_random_detections():
    rng = np.random.default_rng(7)
    images, detections = [], {}
    for k in range(6):
        g = int(rng.integers(1, 9))
        xy = rng.uniform(0, 300, (g, 2))
        wh = rng.uniform(6, 60, (g, 2))
        boxes = np.c_[xy, wh].round()
        easy = [i + 1 for i in range(g) if wh[i, 0] > 35]
        medium = easy + [i + 1 for i in range(g) if 20 < wh[i, 0] <= 35]
        hard = medium + [i + 1 for i in range(g) if 10 < wh[i, 0] <= 20]
        images.append((f"{k % 3}--Event", f"img_{k}", boxes.tolist(), {"easy": easy, "medium": medium, "hard": hard}))
        jitter = np.repeat(np.c_[xy, xy + wh], 2, axis=0) + rng.normal(0, 4, (2 * g, 4))
        noise = np.c_[rng.uniform(0, 300, (3, 2)), rng.uniform(0, 300, (3, 2)) + 10]
        detections[f"{k % 3}--Event/img_{k}"] = ImageDetections(np.r_[jitter, noise].astype(np.float32),
                                                                rng.uniform(0, 1, 2 * g + 3).astype(np.float32))
    truth = truth_of(*images)
    assert evaluate_wider(truth, detections).ap == pytest.approx(_reference_ap(truth, detections))


# --- the .mat files ------------------------------------------------------------------------------
def test_the_official_files_written_by_scipy_load_back(tmp_path):
    folder = write_mats(tmp_path / "ground_truth", [CROWD, PAIR])
    truth = load_wider_ground_truth(folder)
    assert sorted(truth.images) == sorted([CROWD_ID, PAIR_ID])
    crowd = truth.images[CROWD_ID]
    assert crowd.boxes.tolist() == [E, M, H, X]
    assert {s: m.tolist() for s, m in crowd.counts.items()} == {
        "easy": [True, False, False, False], "medium": [True, True, False, False], "hard": [True, True, True, False]}
    result = evaluate_wider(truth, {CROWD_ID: dets((E, 0.9))})
    assert result.ap == pytest.approx({"easy": 1.0, "medium": 1 / 2, "hard": 1 / 3})


def test_missing_or_wrong_files_are_named(tmp_path):
    folder = write_mats(tmp_path / "gt", [PAIR])
    (folder / "wider_hard_val.mat").unlink()
    with pytest.raises(DataError, match="WIDER evaluation file\\(s\\) not found: wider_hard_val.mat"):
        load_wider_ground_truth(folder)
    (folder / "wider_hard_val.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataError, match="wider_hard_val.mat: cannot read as a MATLAB file"):
        load_wider_ground_truth(folder)
    bad = ("1--Handshaking", "x", [A], {"easy": [2]})
    face, settings = mat_dicts([bad])
    with pytest.raises(DataError, match="1--Handshaking/x: easy face index out of 1..1"):
        ground_truth_from_mat(face, settings)
    with pytest.raises(DataError, match="not WIDER FACE's evaluation files"):
        ground_truth_from_mat({"event_list": face["event_list"]}, settings)


@pytest.fixture(scope="module")
def official():
    folder = WIDER_ROOT / "eval_tools" / "ground_truth"
    if not (folder / "wider_face_val.mat").is_file():
        pytest.skip(f"WIDER FACE evaluation files not found under {folder} (see ../shared/data/wider/README.md)")
    return load_wider_ground_truth(folder)


def test_the_real_official_files(official):
    assert official.num_images == 3226
    assert sum(len(im.boxes) for im in official.images.values()) == 39708
    lines = [line.strip() for line in (WIDER_ROOT / "val.txt").read_text().splitlines() if line.strip()]
    ids = [line.split("images/", 1)[1].rsplit(".", 1)[0] for line in lines]
    assert len(ids) == 97 and official.missing(ids) == []
    # Settings nest: Easy within Medium within Hard, on every image.
    for im in official.images.values():
        assert not (im.counts["easy"] & ~im.counts["medium"]).any()
        assert not (im.counts["medium"] & ~im.counts["hard"]).any()
    # The official faces as detections score 1.0 on the 97 images.
    perfect = {i: ImageDetections(np.c_[b[:, :2], b[:, :2] + b[:, 2:]].astype(np.float32),
                                  np.linspace(1.0, 0.5, len(b)).astype(np.float32))
               for i, b in ((i, official.images[i].boxes) for i in ids)}
    assert evaluate_wider(official, perfect).ap == pytest.approx({"easy": 1.0, "medium": 1.0, "hard": 1.0})
