"""Continuing an archived stage: weights by name and shape, the parent's cumulative global step, lineage.

Real TensorFlow on a tiny model and the VOC fixture; a real archive in tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facessd_archive.archive import Archive, Training
from facessd_archive.archive.listing import cumulative_steps, own_steps, stage_rows
from facessd_archive.cli import main
from facessd_archive.errors import CheckpointError
from facessd_archive.model.checkpoint import export_compact, load_detector
from facessd_archive.model.config import face_config
from facessd_archive.model.detector import SSDDetector
from facessd_archive.train.settings import TrainSettings
from facessd_archive.train.warm_start import warm_start

VOC = Path(__file__).parent / "fixtures" / "benchmarks" / "voc"
PARENT = "keypoints/v1/tiny_64"
CONFIG = face_config(input_size=64, depth_multiplier=0.25)


def _invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def archive_with_parent(tmp_path):
    """A sealed 64x64 stage trained 5 steps (its settings record start_step 0: a total of 5)."""
    source = tmp_path / "source"
    export_compact(SSDDetector(CONFIG), source)
    archive = Archive(tmp_path / "archive")
    settings = TrainSettings(steps=5, batch_size=2, warmup_steps=0)
    archive.seal(PARENT, source, CONFIG, Training.from_train_settings(settings, 64, "CPU (test)", None))
    return archive


def test_every_variable_restores_by_value_at_a_new_size(archive_with_parent):
    folder = archive_with_parent.folder(PARENT)
    network = SSDDetector(face_config(input_size=96, depth_multiplier=0.25)).network
    plan = warm_start(network, folder)
    assert plan.complete and not plan.unused and len(plan.restored) == len(network.weights)
    stored = {v.path: v.numpy() for v in load_detector(folder).network.weights}
    for v in network.weights:  # every variable, batch-norm statistics included
        np.testing.assert_array_equal(v.numpy(), stored[v.path], err_msg=v.path)


@pytest.mark.slow
def test_a_stage_continued_at_a_new_size_counts_on_and_records_its_parent(archive_with_parent, tmp_path):
    archive = archive_with_parent
    parent = archive.get(PARENT)
    run = tmp_path / "run"
    # A learning rate of 1e-9: after two Adam steps the convolutions still hold the parent's weights.
    out = _invoke("train", "--from", PARENT, "--archive", archive.root, "--data", VOC, "--out", run,
                  "--input-size", 96, "--batch-size", 2, "--steps", 2, "--learning-rate", 1e-9,
                  "--warmup-steps", 0).output
    assert "done: 7 steps (2 in this run)" in out
    recorded = json.loads((run / "parent_stage.json").read_text())
    assert recorded == {"stage_id": PARENT, "content_hash": parent.manifest.content_hash, "start_step": 5}
    settings = TrainSettings.from_dict(json.loads((run / "train_settings.json").read_text()))
    assert (settings.start_step, settings.steps, settings.run_steps) == (5, 7, 2)
    assert (run / "checkpoints" / "ckpt-7.index").is_file()
    assert json.loads((run / "warm_start.json").read_text())["reinitialised"] == []

    trained = load_detector(run)
    assert trained.config == face_config(input_size=96, depth_multiplier=0.25)  # inherited, only the size changed
    kernel = "Conv2d_1_pointwise/kernel"
    (a,) = [v.numpy() for v in trained.network.weights if v.path == kernel]
    (b,) = [v.numpy() for v in load_detector(archive.folder(PARENT)).network.weights if v.path == kernel]
    np.testing.assert_allclose(a, b, atol=1e-6)

    exported = tmp_path / "exported"
    _invoke("export-run", run, exported)
    assert {"weights.index", "model_config.json", "parent_stage.json", "train_settings.json",
            "warm_start.json"} <= {p.name for p in exported.iterdir()}
    _invoke("seal", "keypoints/v1/tiny_64_to_96", exported, "--archive", archive.root)
    child = Archive(archive.root).get("keypoints/v1/tiny_64_to_96")
    assert child.manifest.parent.stage_id == PARENT
    assert child.manifest.parent.content_hash == parent.manifest.content_hash
    assert child.manifest.training.steps == 7  # the total its weights have seen
    assert (cumulative_steps(archive, child.manifest), own_steps(archive, child.manifest)) == (7, 2)
    row = next(r for r in stage_rows(Archive(archive.root)) if r[0] == "keypoints/v1/tiny_64_to_96")
    assert row[3] == "7 (+2)"
    lineage = _invoke("lineage", "keypoints/v1/tiny_64_to_96", "--archive", archive.root).output
    lines = [line for line in lineage.splitlines() if line.strip()]
    assert "tiny_64_to_96" in lines[0] and "7 (+2) steps" in lines[0] and PARENT in lines[-1]


@pytest.mark.slow
def test_a_changed_depth_multiplier_is_refused_with_names_unless_allow_partial(archive_with_parent, tmp_path):
    archive = archive_with_parent
    run = tmp_path / "run"
    args = ["train", "--from", PARENT, "--archive", archive.root, "--data", VOC, "--out", run, "--input-size", 64,
            "--depth-multiplier", 0.5, "--batch-size", 2, "--steps", 1]
    refused = _invoke(*args, code=2).output.strip().splitlines()[-1]
    assert refused.startswith("error: ")
    assert "variables have no source of the same name and shape" in refused
    assert "177 of 199 variables" in refused
    assert "BoxPredictor_0_BoxEncodingPredictor/kernel (source [1, 1, 128, 12], model [1, 1, 256, 12])" in refused
    assert ", Conv2d_1_pointwise/kernel, " in refused  # past the first few, by name only
    assert "Conv2d_13_pointwise_1_Conv2d_2_1x1_128/kernel (not in the source)" in refused
    assert "--allow-partial" in refused
    assert not (run / "checkpoints").exists() and not (run / "parent_stage.json").exists()

    _invoke(*args, "--allow-partial")
    record = json.loads((run / "warm_start.json").read_text())
    assert "Conv2d_0/kernel" in record["restored"] and "Conv2d_1_pointwise/kernel" in record["reinitialised"]
    assert record["mismatched"]["Conv2d_1_pointwise/kernel"] == {"source": [1, 1, 16, 16], "model": [1, 1, 16, 32]}
    assert len(record["restored"]) + len(record["reinitialised"]) == len(load_detector(run).network.weights)


def test_a_model_with_nothing_in_common_is_refused_even_when_partial(tmp_path):
    from facessd_archive.model.config import wider_face_v2_config

    export_compact(SSDDetector(CONFIG), tmp_path / "v1")
    network = SSDDetector(wider_face_v2_config(input_size=64)).network
    with pytest.raises(CheckpointError, match="no variable of the source matches the model by name and shape"):
        warm_start(network, tmp_path / "v1", allow_partial=True)
