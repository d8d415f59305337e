"""Evaluation while training: COCO scalars in the event files under the OD API's tags (read back),
the best checkpoint beside the latest, and PNG curves sealed with the stage and linked from its card.

Real TensorFlow and pycocotools on a tiny model and the VOC fixture (three photos).
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from facessd_archive.archive import Archive
from facessd_archive.archive.sealing import seal_folder
from facessd_archive.data.readers.voc import read_voc_folder
from facessd_archive.metric_names import METRIC_NAMES
from facessd_archive.model.checkpoint import load_detector
from facessd_archive.model.config import face_config
from facessd_archive.train.lineage import export_run
from facessd_archive.train.periodic_eval import BestCheckpoint, EvalSpec, read_best, read_eval_history
from facessd_archive.train.settings import TrainSettings
from facessd_archive.train.trainer import train

VOC = Path(__file__).parent / "fixtures" / "benchmarks" / "voc"
CONFIG = face_config(input_size=64, depth_multiplier=0.25)


def scalars(folder: Path) -> dict[str, dict[int, float]]:
    """Every scalar of the event files under ``folder``: ``{tag: {step: value}}``."""
    out: dict[str, dict[int, float]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                out.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    return out


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    settings = TrainSettings(steps=4, batch_size=2, warmup_steps=0, summary_every=1, checkpoint_every=4,
                             augment=False, learning_rate=1e-3)
    result = train(CONFIG, settings, read_voc_folder(VOC), run, progress=False,
                   evaluation=EvalSpec(VOC, every=2, batch_size=4))
    return run, result


@pytest.mark.slow
def test_coco_figures_are_in_the_event_file_under_the_od_api_tags(evaluated_run):
    run, result = evaluated_run
    evaluated = scalars(run / "eval")
    assert set(METRIC_NAMES) <= set(evaluated)
    for name in METRIC_NAMES:
        assert sorted(evaluated[name]) == [2, 4], name
    history = read_eval_history(run)
    assert [row["step"] for row in history] == [2, 4]
    for row in history:  # what TensorBoard holds is what the history says
        assert evaluated["DetectionBoxes_Precision/mAP@.50IOU"][row["step"]] == pytest.approx(
            row["DetectionBoxes_Precision/mAP@.50IOU"])
    assert result.evaluation.metrics == pytest.approx({k: history[-1][k] for k in METRIC_NAMES})
    trained = scalars(run / "train")
    assert {"Loss/total_loss", "Loss/classification_loss", "learning_rate", "steps_per_sec"} <= set(trained)
    assert sorted(trained["Loss/total_loss"]) == [1, 2, 3, 4]


@pytest.mark.slow
def test_the_best_checkpoint_is_kept_beside_the_latest(evaluated_run):
    run, _ = evaluated_run
    best = read_best(run)
    history = {row["step"]: row for row in read_eval_history(run)}
    winner = max(history.values(), key=lambda r: r["DetectionBoxes_Precision/mAP@.50IOU"])
    assert best["step"] == winner["step"]  # the first of equals is kept
    assert (run / "best" / f"{best['checkpoint']}.index").is_file()
    assert (run / "checkpoints" / "ckpt-4.index").is_file()
    assert load_detector(run / "best" / best["checkpoint"]).config == CONFIG


@pytest.mark.slow
def test_a_sealed_stage_carries_its_curves_and_its_card_links_them(evaluated_run, tmp_path):
    run, _ = evaluated_run
    files = export_run(run, tmp_path / "exported")
    assert {"plots/loss.png", "plots/map.png", "history.jsonl", "eval_history.jsonl"} <= set(files)
    for name in ("loss.png", "map.png"):
        assert (tmp_path / "exported" / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stage = seal_folder(Archive(tmp_path / "archive"), "keypoints/v9/curves", tmp_path / "exported")
    card = (stage.folder / "README.md").read_text()
    assert "## Training curves" in card
    assert "![Training losses](plots/loss.png)" in card and "![mAP while training](plots/map.png)" in card
    assert (stage.folder / "plots" / "map.png").is_file()


def test_best_checkpoint_saves_only_on_improvement(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    step = tf.Variable(0, dtype=tf.int64)
    best = BestCheckpoint(tmp_path, model, step)
    metric = "DetectionBoxes_Precision/mAP@.50IOU"
    figures = {name: 0.0 for name in METRIC_NAMES}
    assert best.consider(10, {**figures, metric: 0.3})
    assert not best.consider(20, {**figures, metric: 0.2})
    assert not best.consider(30, {**figures, metric: 0.3})
    assert read_best(tmp_path)["step"] == 10
    again = BestCheckpoint(tmp_path, model, step)  # a resumed run remembers the best so far
    assert again.best == pytest.approx(0.3) and again.consider(40, {**figures, metric: 0.31})
    assert json.loads((tmp_path / "best" / "best.json").read_text())["step"] == 40
    assert sorted(p.name for p in (tmp_path / "best").glob("*.index")) == ["ckpt-40.index"]


def test_eval_spec_is_checked():
    with pytest.raises(ValueError, match="--eval-every must be > 0, got 0"):
        EvalSpec(VOC, every=0)
    assert np.isfinite(EvalSpec(VOC).every)
