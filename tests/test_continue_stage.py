"""Continuing an archived stage at a new input size: train --from -> export-run -> seal names the parent.

Real TensorFlow on a tiny model and the VOC fixture; a real archive in tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from facessd_archive.archive import Archive, Training
from facessd_archive.cli import main
from facessd_archive.model.checkpoint import export_compact, load_detector
from facessd_archive.model.config import face_config
from facessd_archive.model.detector import SSDDetector

VOC = Path(__file__).parent / "fixtures" / "benchmarks" / "voc"
PARENT = "keypoints/v1/tiny_64"


def _invoke(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_a_stage_continued_at_a_new_size_records_its_parent(tmp_path):
    source = tmp_path / "source"
    export_compact(SSDDetector(face_config(input_size=64, depth_multiplier=0.25)), source)
    archive = Archive(tmp_path / "archive")
    parent = archive.seal(PARENT, source, face_config(input_size=64, depth_multiplier=0.25),
                          Training(input_size=64, steps=1))

    run = tmp_path / "run"
    # A learning rate of 1e-9: after two Adam steps the convolutions still hold the parent's weights.
    _invoke("train", "--from", PARENT, "--archive", tmp_path / "archive", "--data", VOC, "--out", run,
            "--input-size", 96, "--depth-multiplier", 0.25, "--batch-size", 2, "--steps", 2,
            "--learning-rate", 1e-9, "--warmup-steps", 0)
    recorded = json.loads((run / "parent_stage.json").read_text())
    assert recorded == {"stage_id": PARENT, "content_hash": parent.manifest.content_hash}

    trained = load_detector(run)
    assert trained.config.input_size == 96
    start = load_detector(source)
    kernel = "Conv2d_1_pointwise/kernel"
    (a,) = [v.numpy() for v in trained.network.weights if v.path == kernel]
    (b,) = [v.numpy() for v in start.network.weights if v.path == kernel]
    np.testing.assert_allclose(a, b, atol=1e-6)

    exported = tmp_path / "exported"
    _invoke("export-run", run, exported)
    assert {"weights.index", "model_config.json", "parent_stage.json", "train_settings.json"} <= {
        p.name for p in exported.iterdir()}
    _invoke("seal", "keypoints/v1/tiny_64_to_96", exported, "--archive", tmp_path / "archive")
    child = Archive(tmp_path / "archive").get("keypoints/v1/tiny_64_to_96")
    assert child.manifest.parent.stage_id == PARENT
    assert child.manifest.parent.content_hash == parent.manifest.content_hash
    lineage = _invoke("lineage", "keypoints/v1/tiny_64_to_96", "--archive", tmp_path / "archive").output
    lines = [line for line in lineage.splitlines() if line.strip()]
    assert "tiny_64_to_96" in lines[0] and PARENT in lines[-1]  # the chain, child first, back to the root
