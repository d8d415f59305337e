"""A real (tiny) training run: the loss falls, checkpoints resume, configs are guarded.

It trains on the built-in synthetic sample benchmark, so a fresh clone without ``../shared``
tests training too; ``test_a_few_steps_on_real_facemask_photos`` adds the real photos when present.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from facessd_archive.data.readers.voc import read_voc_folder
from facessd_archive.data.synthetic.benchmark import sample_benchmark
from facessd_archive.errors import CheckpointError
from facessd_archive.model.checkpoint import find_checkpoint, load_detector
from facessd_archive.model.config import face_config
from facessd_archive.train.settings import TrainSettings
from facessd_archive.run_folder import TRAIN_SETTINGS_FILE
from facessd_archive.train.trainer import train

CONFIG = face_config(input_size=96, depth_multiplier=0.25)
SETTINGS = TrainSettings(steps=30, batch_size=4, optimizer="adam", learning_rate=1e-2, warmup_steps=0,
                         augment=False, summary_every=1, checkpoint_every=15, seed=0)


@pytest.fixture(scope="module")
def eight_samples(tmp_path_factory):
    """Eight scenes of the built-in synthetic benchmark (generated, no data needed)."""
    samples = sample_benchmark(seed=0, num_images=8, cache_dir=tmp_path_factory.mktemp("synthetic"))
    assert len(samples) == 8 and all(s.num_faces > 0 for s in samples)
    return samples


@pytest.fixture(scope="module")
def first_run(eight_samples, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    return train(CONFIG, SETTINGS, eight_samples, run_dir, progress=False)


@pytest.mark.slow
def test_loss_falls_and_checkpoint_is_written(first_run):
    r = first_run
    assert r.steps_done == 30
    assert [h["step"] for h in r.history] == list(range(1, 31))
    total = [h["Loss/total_loss"] for h in r.history]
    assert all(np.isfinite(total))
    first, last5 = total[0], float(np.mean(total[-5:]))
    assert last5 < 0.6 * first, f"loss did not fall enough: first {first:.3f}, last-5 mean {last5:.3f}"
    for h in r.history:
        assert h["Loss/total_loss"] == pytest.approx(
            h["Loss/classification_loss"] + h["Loss/localization_loss"] + h["Loss/regularization_loss"], rel=1e-5)
        assert h["num_matches"] > 0
    run_dir = r.run_dir
    assert (run_dir / "model_config.json").is_file()
    assert json.loads((run_dir / TRAIN_SETTINGS_FILE).read_text())["steps"] == 30
    folder, prefix, kind = find_checkpoint(run_dir)
    assert kind == "training" and prefix.endswith("ckpt-30")
    assert len((run_dir / "history.jsonl").read_text().splitlines()) == 30
    assert any((run_dir / "train").iterdir())  # TensorBoard summaries


@pytest.mark.slow
def test_trained_run_folder_loads_as_a_detector(first_run):
    detector = load_detector(first_run.run_dir)
    assert detector.config == CONFIG
    images = np.zeros((1, 96, 96, 3), np.float32)
    detections = detector.detect(images)
    assert detections.boxes.shape == (1, CONFIG.postprocess.max_detections, 4)


@pytest.mark.slow
def test_second_call_resumes_from_the_checkpoint(first_run, eight_samples):
    more = dataclasses.replace(SETTINGS, steps=33)
    r = train(CONFIG, more, eight_samples, first_run.run_dir, progress=False)
    assert r.steps_done == 33
    assert [h["step"] for h in r.history] == list(range(31, 34))
    # the resumed model continues from the trained weights, not from scratch
    assert r.history[0]["Loss/total_loss"] < 0.6 * first_run.history[0]["Loss/total_loss"]
    assert find_checkpoint(first_run.run_dir)[1].endswith("ckpt-33")
    # a finished run is not trained again
    again = train(CONFIG, more, eight_samples, first_run.run_dir, progress=False)
    assert again.steps_done == 33 and again.history == []


@pytest.mark.slow
def test_run_folder_of_another_config_is_refused(first_run, eight_samples):
    other = dataclasses.replace(CONFIG, depth_multiplier=0.5)
    with pytest.raises(CheckpointError, match="holds a run with another model config") as info:
        train(other, SETTINGS, eight_samples, first_run.run_dir, progress=False)
    assert str(first_run.run_dir) in str(info.value)


@pytest.mark.slow
def test_a_few_steps_on_real_facemask_photos(facemask_root, tmp_path):
    """The same loop on real photos (skips without ../shared/data/facemask)."""
    samples = read_voc_folder(facemask_root, facemask_root / "train.txt")[:8]
    settings = dataclasses.replace(SETTINGS, steps=10, checkpoint_every=10)
    r = train(CONFIG, settings, samples, tmp_path / "run", progress=False)
    total = [h["Loss/total_loss"] for h in r.history]
    assert r.steps_done == 10 and all(np.isfinite(total)) and total[-1] < total[0]
