"""The repository's own archive (its root): the original experiments, recorded as the issue describes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from facessd_archive.archive import Archive, stage_weights_folder
from facessd_archive.archive.lineage import lineage
from facessd_archive.archive.manifest import MAP_METRIC
from facessd_archive.archive.originals import original_manifests, record_original_experiments
from facessd_archive.archive.verify import verify_archive
from facessd_archive.errors import ArchiveError
from facessd_archive.model.config import ModelConfig

REPO = Archive(Path(__file__).resolve().parents[1])  # the repository root is an archive
ORIGINALS = {"keypoints/v1/v1_150x150_300K", "SSD/v1/TPU", "keypoints/v1/v1_150x150_3M",
             "keypoints/v1/v1_150x150_1M_bigger", "keypoints/v1/v1_150x150_GPU_900K",
             "keypoints/v1/v1_150_To_360_1_6M"}
pytestmark = pytest.mark.skipif(not (REPO.root / "archive.json").is_file(), reason="needs the repository's archive")


def test_repository_archive_verifies():
    reports = verify_archive(REPO)
    assert [r for r in reports if not r.ok] == []
    assert ORIGINALS <= set(REPO.stage_ids())


def test_committed_originals_match_their_definition():
    for expected in original_manifests():
        assert REPO.get(expected.stage_id).manifest == expected  # regenerate with record_original_experiments


def test_originals_say_what_is_known_and_what_is_not():
    m = {s: REPO.get(s).manifest for s in ORIGINALS}
    first = m["keypoints/v1/v1_150x150_300K"]
    assert (first.training.hardware, first.training.steps, first.training.batch_size) == ("GPU", 300_000, None)
    [ev] = first.evaluations
    assert ev.source == "reported" and ev.metrics == {
        MAP_METRIC: 0.066, "DetectionBoxes_Precision/mAP@.50IOU": 0.20, "DetectionBoxes_Precision/mAP@.75IOU": 0.026}
    tpu = m["SSD/v1/TPU"].training
    assert (tpu.hardware, tpu.batch_size, tpu.steps) == ("TPU", 128, 500_000)
    assert m["keypoints/v1/v1_150x150_3M"].training.steps == 3_000_000
    assert "multiplied by 10" in m["keypoints/v1/v1_150x150_1M_bigger"].training.schedule
    big = m["keypoints/v1/v1_150_To_360_1_6M"]
    assert big.model_config == ModelConfig(input_size=360) and big.training.steps == 1_600_000
    assert big.evaluations[0].metrics[MAP_METRIC] == 0.19
    assert [link.status for link in lineage(REPO, big.stage_id)] == ["start", "ok"]
    for manifest in m.values():
        assert not manifest.weights.available and "not available here" in manifest.weights.note
        assert any("anchor" in note and "unknown" in note for note in manifest.notes)
        assert all(e.source == "reported" for e in manifest.evaluations)
        if manifest.stage_id != big.stage_id:
            assert manifest.model_config == ModelConfig(input_size=150)
    with pytest.raises(ArchiveError, match="no weights available here"):
        stage_weights_folder("SSD/v1/TPU", archive=REPO)


def test_recording_is_idempotent(tmp_path):
    archive = Archive(tmp_path / "a")
    first = record_original_experiments(archive)
    again = record_original_experiments(archive)
    assert [s.manifest for s in first] == [s.manifest for s in again]
    assert all(r.ok for r in verify_archive(archive))
