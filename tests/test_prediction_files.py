"""Detections in WIDER's submission layout (``evaluate/prediction_files.py``): written, read back equal,
and scored the same as in memory."""

from __future__ import annotations

import numpy as np
import pytest

from facessd_archive.errors import AnnotationError, DataError
from facessd_archive.evaluate.coco_metrics import ImageDetections
from facessd_archive.evaluate.prediction_files import (
    detections_for,
    read_prediction_file,
    read_predictions,
    submission_key,
    write_predictions,
)
from facessd_archive.evaluate.wider_protocol import evaluate_wider, ground_truth_from_mat
from wider_helpers import mat_dicts

IDS = ["0--Parade/0_Parade_marchingband_1_465", "set/scene 0", "plain", "2002/08/11/big/img_591"]


def _detections(rng, n: int) -> ImageDetections:
    xy = rng.uniform(0, 900, (n, 2))
    wh = rng.uniform(3, 200, (n, 2))
    return ImageDetections(np.c_[xy, xy + wh].astype(np.float32), rng.uniform(0, 1, n).astype(np.float32))


def test_submission_keys():
    assert [submission_key(i) for i in IDS] == ["0--Parade/0_Parade_marchingband_1_465", "set/scene 0",
                                                "images/plain", "2002_08_11_big/img_591"]
    for bad in ("", "../x", "a/../b"):
        with pytest.raises(DataError, match="cannot name a prediction file"):
            submission_key(bad)


def test_written_predictions_read_back_equal(tmp_path):
    rng = np.random.default_rng(3)
    detections = [_detections(rng, n) for n in (5, 1, 0, 12)]
    paths = write_predictions(tmp_path / "pred", IDS, detections)
    assert [p.relative_to(tmp_path / "pred").as_posix() for p in paths] == [
        "0--Parade/0_Parade_marchingband_1_465.txt", "set/scene 0.txt", "images/plain.txt",
        "2002_08_11_big/img_591.txt"]
    lines = paths[0].read_text().splitlines()
    assert lines[0] == "0_Parade_marchingband_1_465" and lines[1] == "5" and len(lines) == 7
    x, y, w, h, score = (float(v) for v in lines[2].split())
    b = detections[0].boxes[0]
    assert (x, y, x + w, y + h) == pytest.approx(tuple(float(v) for v in b), abs=1e-4)
    assert np.float32(score) == detections[0].scores[0]
    assert paths[2].read_text() == "plain\n0\n"

    back = read_predictions(tmp_path / "pred")
    assert sorted(back) == sorted(submission_key(i) for i in IDS)
    for image_id, det in zip(IDS, detections):
        got = back[submission_key(image_id)]
        assert got.boxes.shape == det.boxes.shape and got.boxes.dtype == np.float32
        np.testing.assert_allclose(got.boxes, det.boxes, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(got.scores, det.scores)  # scores exactly: the threshold bins survive
    assert [len(d.scores) for d in detections_for(IDS, back)] == [5, 1, 0, 12]
    assert not list((tmp_path / "pred").rglob("*.incomplete"))


def test_read_back_predictions_score_as_in_memory(tmp_path):
    rng = np.random.default_rng(5)
    images, detections = [], {}
    for k in range(4):
        faces = rng.uniform(0, 400, (6, 2))
        images.append(("3--Riot", f"riot_{k}", np.c_[faces, np.full((6, 2), 40.0)].tolist(),
                       {"easy": [1, 2], "medium": [1, 2, 3, 4], "hard": [1, 2, 3, 4, 5]}))
        near = np.c_[faces, faces + 40] + rng.normal(0, 3, (6, 4))
        detections[f"3--Riot/riot_{k}"] = ImageDetections(near.astype(np.float32),
                                                          rng.uniform(0, 1, 6).astype(np.float32))
    face, settings = mat_dicts(images)
    truth = ground_truth_from_mat(face, settings)
    write_predictions(tmp_path, list(detections), list(detections.values()))
    assert evaluate_wider(truth, read_predictions(tmp_path)).ap == pytest.approx(evaluate_wider(truth, detections).ap)


def test_other_tools_first_lines_and_bad_files(tmp_path):
    event = tmp_path / "0--Parade"
    event.mkdir()
    (event / "a_1.txt").write_text("0--Parade/a_1.jpg\n2\n1 2 3 4 0.9\n5 6 7 8 0.5 extra\n\n")
    det = read_prediction_file(event / "a_1.txt")
    assert det.boxes.tolist() == [[1, 2, 4, 6], [5, 6, 12, 14]] and det.scores.tolist() == pytest.approx([0.9, 0.5])
    (event / "b.txt").write_text("other\n0\n")
    with pytest.raises(AnnotationError, match="first line names 'other', not this file's image 'b'"):
        read_prediction_file(event / "b.txt")
    (event / "c.txt").write_text("c\n2\n1 2 3 4 0.9\n")
    with pytest.raises(AnnotationError, match="says 2 detection\\(s\\) but has 1 line"):
        read_prediction_file(event / "c.txt")
    (event / "d.txt").write_text("d\n1\n1 2 3 x 0.9\n")
    with pytest.raises(AnnotationError, match="d.txt:3: expected 'x y w h score'"):
        read_prediction_file(event / "d.txt")
    with pytest.raises(DataError, match="predictions folder not found"):
        read_predictions(tmp_path / "nope")


def test_missing_files_and_colliding_names_are_refused(tmp_path):
    write_predictions(tmp_path, ["e/a"], [ImageDetections(np.zeros((0, 4)), np.zeros(0))])
    with pytest.raises(DataError, match="1 of the benchmark's 2 image\\(s\\) have no prediction file, e.g. e/b.txt"):
        detections_for(["e/a", "e/b"], read_predictions(tmp_path), tmp_path)
    empty = ImageDetections(np.zeros((0, 4)), np.zeros(0))
    with pytest.raises(DataError, match="would both be written to a_b/c.txt"):
        write_predictions(tmp_path / "x", ["a/b/c", "a_b/c"], [empty, empty])
