"""stage.json: round trip, content hash, validation errors (class + phrase), safe names."""

from __future__ import annotations

import dataclasses
import json

import pytest
from archive_helpers import BENCH, CONFIG, TRAINING, measured

from facessd_archive.archive import (DatasetRef, Evaluation, FileEntry, HubLocation, Manifest, ParentRef, Training,
                                     Weights)
from facessd_archive.archive.paths import check_file_name, check_stage_id
from facessd_archive.errors import ManifestError, UnsafePathError
from facessd_archive.metric_names import METRIC_NAMES
from facessd_archive.train.settings import TrainSettings

SHA = "0123456789abcdef" * 4


def _manifest(**kwargs) -> Manifest:
    files = (FileEntry("weights.index", 5, SHA), FileEntry("plots/pr.csv", 3, "f" * 64))
    defaults = dict(parent=ParentRef("keypoints/v1/base", "e" * 64), evaluations=(measured(),),
                    reference_benchmark="facemask", description="tiny", notes=("a note",))
    return Manifest.create("keypoints/v2/tiny", CONFIG, TRAINING, files,
                           Weights(("weights.index",), in_folder=True), **{**defaults, **kwargs})


def test_round_trip_is_exact():
    m = _manifest()
    again = Manifest.from_json(m.to_json())
    assert again == m
    assert again.to_json() == m.to_json()
    assert again.model_config == CONFIG and again.files[0].path == "plots/pr.csv"  # files sorted by path


def test_content_hash_covers_what_the_stage_is_and_only_that():
    m = _manifest()
    assert m.computed_content_hash() == m.content_hash
    # not covered: where it is, what was measured later, its id, its prose
    hub = Weights(("weights.index",), in_folder=False, hub=HubLocation("org/a", "a" * 40, "keypoints/v2/tiny"))
    for other in (m.with_evaluation(measured(0.1)), m.with_weights(hub),
                  dataclasses.replace(m, stage_id="keypoints/v2/tiny-v2", description="other", notes=())):
        assert other.computed_content_hash() == m.content_hash
    # covered: files, model config, training, parent
    changed = [
        dataclasses.replace(m, files=m.files[:1] + (FileEntry("weights.index", 5, "1" * 64),)),
        dataclasses.replace(m, model_config=dataclasses.replace(CONFIG, input_size=128)),
        dataclasses.replace(m, training=dataclasses.replace(TRAINING, steps=11)),
        dataclasses.replace(m, parent=ParentRef("keypoints/v1/base", "d" * 64)),
    ]
    assert all(c.computed_content_hash() != m.content_hash for c in changed)


@pytest.mark.parametrize("edit, error, phrase", [
    (lambda d: d["files"][0].update(sha256="abc"), ManifestError, "files[0].sha256 must be 64 lowercase hex digits"),
    (lambda d: d["files"][1].update(size=-1), ManifestError, "files[1].size must be >= 0"),
    (lambda d: d["files"][0].update(path="../../etc/passwd"), UnsafePathError, "escape the archive root"),
    (lambda d: d["files"][0].update(path="/etc/passwd"), UnsafePathError, "is absolute"),
    (lambda d: d.update(stage_id="../outside"), UnsafePathError, "escape the archive root"),
    (lambda d: d.update(stage_id="flat"), UnsafePathError, "at least 2 parts"),
    (lambda d: d.update(extra=1), ManifestError, "unknown field(s) ['extra']"),
    (lambda d: d.pop("training"), ManifestError, "training is missing"),
    (lambda d: d["training"].update(steps="300K"), ManifestError, "training.steps must be an integer"),
    (lambda d: d["model_config"].update(input_size=8), ManifestError, "input_size must be >= 33"),
    (lambda d: d["weights"].update(files=["nope.bin"]), ManifestError, "weights.files names ['nope.bin']"),
    (lambda d: d["weights"].update(hub={"repo_id": "no-slash", "revision": "main", "path": ""}), ManifestError,
     "weights.hub.repo_id must look like ORG/NAME"),
    (lambda d: d["evaluations"][0]["metrics"].pop(METRIC_NAMES[5]), ManifestError,
     "must hold all twelve COCO numbers"),
    (lambda d: d["evaluations"][0]["metrics"].update({"mAP": 0.5}), ManifestError, "unknown name(s) ['mAP']"),
    (lambda d: d["evaluations"][0].update(source="guessed"), ManifestError, "one of 'measured', 'reported'"),
    (lambda d: d["evaluations"][0].update(date="yesterday"), ManifestError, "must be an ISO 8601 date"),
    (lambda d: d.update(schema_version=2), ManifestError, "newer than this facessd understands"),
    (lambda d: d["parent"].update(stage_id="keypoints/v2/tiny"), ManifestError, "parent cannot be the stage itself"),
])
def test_validation_errors_name_the_file_and_field(edit, error, phrase):
    data = json.loads(_manifest().to_json())
    edit(data)
    with pytest.raises(error) as info:
        Manifest.from_dict(data, "keypoints/v2/tiny/stage.json")
    assert str(info.value).startswith("keypoints/v2/tiny/stage.json: ")
    assert phrase in str(info.value)


def test_not_json_says_where(tmp_path):
    path = tmp_path / "stage.json"
    path.write_text('{"schema_version": 1,\n  oops}')
    with pytest.raises(ManifestError, match=r"stage.json: not valid JSON .* line 2"):
        Manifest.load(path)


def test_reported_evaluations_may_be_partial_but_measured_may_not():
    reported = Evaluation(DatasetRef("openimages-human-face"), "reported", {METRIC_NAMES[0]: 0.066})
    assert reported.metrics[METRIC_NAMES[0]] == 0.066
    with pytest.raises(ManifestError, match="benchmark.sha256 is required"):
        Evaluation.measured(DatasetRef("facemask"), {n: 0.1 for n in METRIC_NAMES})
    with pytest.raises(ManifestError, match=r"in \[-1, 1\]"):
        Evaluation.measured(BENCH, {n: 1.5 for n in METRIC_NAMES})
    ev = Evaluation.measured(BENCH, {n: -1.0 for n in METRIC_NAMES})  # -1: pycocotools had no ground truth
    assert ev.tool.name == "facessd-archive" and ev.date.endswith("Z")
    assert (ev.benchmark_id, ev.benchmark_hash) == ("facemask", BENCH.sha256)  # what evaluate/ reads


def test_reference_evaluation_prefers_measured_on_the_reference_benchmark():
    reported = Evaluation(BENCH, "reported", {METRIC_NAMES[0]: 0.9})
    other = measured(0.7)
    other = dataclasses.replace(other, benchmark=DatasetRef("wider", sha256="c" * 64))
    m = _manifest(evaluations=(reported, measured(0.3), other), reference_benchmark="facemask")
    assert m.reference_evaluation().metrics[METRIC_NAMES[0]] == 0.3
    assert _manifest(evaluations=(reported,)).reference_evaluation() is reported
    assert _manifest(evaluations=()).reference_evaluation() is None


def test_training_from_this_projects_settings():
    settings = TrainSettings(steps=8000, batch_size=16, warmup_steps=300)
    t = Training.from_train_settings(settings, 384, "CPU (2 cores)", DatasetRef("facemask", split="train.txt"),
                                     steps=7000)
    assert (t.input_size, t.steps, t.batch_size, t.optimizer) == (384, 7000, 16, "adam")
    assert t.settings == settings.to_dict() and "300 warmup steps" in t.schedule


@pytest.mark.parametrize("bad", ["../x/y", "/abs/x", "a", "a/../b", "a/.hidden", "a\\b", "C:/x/y", "a//b",
                                 "a/b/", "a/ b", "a/b\x00"])
def test_unsafe_stage_ids_are_refused(bad):
    with pytest.raises(UnsafePathError):
        check_stage_id(bad)


def test_safe_names():
    for good in ("keypoints/v1/v1_150x150_300K", "SSD/v1/TPU", "keypoints/v1/v1_150_To_360_1_6M-v2"):
        assert check_stage_id(good) == good
    assert check_file_name("plots/pr.png") == "plots/pr.png"
    with pytest.raises(UnsafePathError, match="reserved"):
        check_file_name("stage.json")


def test_tree_hash_changes_with_any_file(tmp_path):
    from facessd_archive.archive.hashing import sha256_tree

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"a")
    (tmp_path / "split.txt").write_text("a\n")
    (tmp_path / ".hidden").write_text("ignored")
    first = sha256_tree(tmp_path)
    assert first == sha256_tree(tmp_path, ["split.txt", "images/a.jpg"])
    (tmp_path / "images" / "a.jpg").write_bytes(b"b")
    assert sha256_tree(tmp_path) != first
    (tmp_path / "images" / "a.jpg").write_bytes(b"a")
    (tmp_path / "images" / "a.jpg").rename(tmp_path / "images" / "c.jpg")
    assert sha256_tree(tmp_path) != first
