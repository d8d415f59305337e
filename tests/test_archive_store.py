"""The archive on disk: seal, immutability, atomic writes, verify, lineage, default stage, safe paths."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import pytest
from archive_helpers import CONFIG, DATA_FILE, TRAINING, measured, seal_tiny, stage_files

from facessd_archive.archive import Archive, ParentRef, open_archive, stage_weights_folder
from facessd_archive.archive import sealing as sealing_module
from facessd_archive.archive.card import render_card
from facessd_archive.archive.lineage import lineage
from facessd_archive.archive.verify import verify_archive, verify_stage
from facessd_archive.errors import (ArchiveError, ManifestError, StageExistsError, StageNotFoundError,
                                    UnsafePathError)
from facessd_archive.model.config import ModelConfig

STAGE = "keypoints/v2/tiny"


@pytest.fixture
def archive(tmp_path):
    return Archive(tmp_path / "archive")


def test_seal_copies_hashes_and_describes(archive, tmp_path):
    src = tmp_path / "src"
    content = stage_files(src)
    stage = archive.seal(STAGE, src, CONFIG, TRAINING, evaluations=[measured()], reference_benchmark="facemask")
    m = stage.manifest
    assert stage.folder == archive.root / "keypoints" / "v2" / "tiny"
    expected = {**content, "model_config.json": (CONFIG.to_json() + "\n").encode()}  # written: weights need it
    assert {f.path: (f.size, f.sha256) for f in m.files} == {
        name: (len(data), hashlib.sha256(data).hexdigest()) for name, data in expected.items()}
    assert m.weights.files == ("model_config.json", DATA_FILE, "weights.index") and m.weights.in_folder
    assert ModelConfig.from_json((stage.folder / "model_config.json").read_text()) == CONFIG
    assert (stage.folder / "README.md").read_text() == render_card(m)
    assert m.parent is None and m.sealed_by.name == "facessd-archive"
    assert archive.stage_ids() == [STAGE]
    assert verify_stage(archive, STAGE).ok


def test_a_sealed_stage_is_immutable_and_new_version_makes_siblings(archive, tmp_path):
    first = seal_tiny(archive, STAGE, tmp_path)
    before = (first.folder / "stage.json").read_bytes()
    with pytest.raises(StageExistsError, match="is sealed and cannot be overwritten; use --new-version"):
        seal_tiny(archive, STAGE, tmp_path, seed=1)
    assert (first.folder / "stage.json").read_bytes() == before
    second = seal_tiny(archive, STAGE, tmp_path, seed=1, new_version=True)
    third = seal_tiny(archive, STAGE, tmp_path, seed=2, new_version=True)
    assert (second.stage_id, third.stage_id) == (f"{STAGE}-v2", f"{STAGE}-v3")
    assert second.manifest.content_hash != first.manifest.content_hash
    assert archive.stage_ids() == [STAGE, f"{STAGE}-v2", f"{STAGE}-v3"]


def test_an_interrupted_seal_leaves_no_half_stage(archive, tmp_path, monkeypatch):
    src = tmp_path / "src"
    stage_files(src)
    real_copy = sealing_module._copy_file
    calls = []

    def copy_then_fail(src_path, dest):
        calls.append(dest)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real_copy(src_path, dest)

    monkeypatch.setattr(sealing_module, "_copy_file", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        archive.seal(STAGE, src, CONFIG, TRAINING)
    assert len(calls) == 2
    parent = archive.root / "keypoints" / "v2"
    assert list(parent.iterdir()) == []  # neither the stage nor its hidden temp folder
    assert archive.stage_ids() == [] and not archive.exists(STAGE)


def test_seal_refuses_symlinks_and_a_mismatched_config(archive, tmp_path):
    src = tmp_path / "src"
    stage_files(src)
    os.symlink("/etc/hostname", src / "linked")
    with pytest.raises(UnsafePathError, match="symlink"):
        archive.seal(STAGE, src, CONFIG, TRAINING)
    (src / "linked").unlink()
    (src / "model_config.json").write_text(ModelConfig(input_size=300).to_json())
    with pytest.raises(ArchiveError, match="differs from the model_config given"):
        archive.seal(STAGE, src, CONFIG, TRAINING)
    assert not archive.exists(STAGE)


def test_record_evaluation_keeps_the_content_and_updates_the_card(archive, tmp_path):
    stage = seal_tiny(archive, STAGE, tmp_path)
    hashes = {f.path: f.sha256 for f in stage.manifest.files}
    updated = archive.record_evaluation(STAGE, measured(0.5))
    assert updated.manifest.content_hash == stage.manifest.content_hash
    assert {f.path: f.sha256 for f in updated.manifest.files} == hashes
    assert archive.get(STAGE).manifest.evaluations == (measured(0.5),)
    assert "| 0.500 |" in (stage.folder / "README.md").read_text()
    assert verify_stage(archive, STAGE).ok
    tampered = dataclasses.replace(stage.manifest, training=dataclasses.replace(TRAINING, steps=99))
    with pytest.raises(StageExistsError, match="only evaluations and the weights' location may change"):
        archive.rewrite_manifest(STAGE, tampered)


@pytest.mark.parametrize("damage, phrase", [
    (lambda f: (f / DATA_FILE).write_bytes((f / DATA_FILE).read_bytes()[:-1] + b"X"), f"{DATA_FILE}: sha256 mismatch"),
    (lambda f: (f / "weights.index").unlink(), "weights.index: missing"),
    (lambda f: (f / "plots" / "pr.csv").write_bytes(b"longer than before"), "plots/pr.csv: size 18 bytes"),
    (lambda f: (f / "extra.bin").write_bytes(b"x"), "extra.bin: not in the manifest"),
    (lambda f: ((f / "weights.index").unlink(), os.symlink("/etc/hostname", f / "weights.index")),
     "weights.index: not a regular file"),
    (lambda f: (f / "README.md").write_text("edited"), "README.md: differs from the card"),
    (lambda f: (f / "stage.json").write_text((f / "stage.json").read_text().replace('"steps": 10', '"steps": 11')),
     "content_hash does not match"),
])
def test_verify_names_the_damaged_file(archive, tmp_path, damage, phrase):
    stage = seal_tiny(archive, STAGE, tmp_path)
    damage(stage.folder)
    [report] = verify_archive(archive, STAGE)
    assert not report.ok
    assert any(phrase in p and p.startswith(STAGE) for p in report.problems), report.problems


def test_lineage_pins_parents_by_content_hash(archive, tmp_path):
    a = seal_tiny(archive, "keypoints/v2/a", tmp_path)
    b = seal_tiny(archive, "keypoints/v2/b", tmp_path, seed=1, parent="keypoints/v2/a")
    c = seal_tiny(archive, "keypoints/v2/c", tmp_path, seed=2, parent="keypoints/v2/b")
    assert b.manifest.parent == ParentRef("keypoints/v2/a", a.manifest.content_hash)
    chain = lineage(archive, c.stage_id)
    assert [(link.stage_id, link.status) for link in chain] == [
        ("keypoints/v2/c", "start"), ("keypoints/v2/b", "ok"), ("keypoints/v2/a", "ok")]
    orphan = seal_tiny(archive, "keypoints/v2/d", tmp_path, seed=3, parent=ParentRef("keypoints/v1/gone", "9" * 64))
    assert [link.status for link in lineage(archive, orphan.stage_id)] == ["start", "missing"]
    with pytest.raises(StageNotFoundError, match="keypoints/v2/zz"):
        seal_tiny(archive, "keypoints/v2/e", tmp_path, parent="keypoints/v2/zz")


def test_lineage_and_verify_catch_a_parent_that_changed(archive, tmp_path):
    seal_tiny(archive, "keypoints/v2/a", tmp_path)
    seal_tiny(archive, "keypoints/v2/b", tmp_path, seed=1, parent="keypoints/v2/a")
    path = archive.folder("keypoints/v2/a") / "stage.json"
    data = json.loads(path.read_text())
    data["content_hash"] = "0" * 64  # someone re-sealed the parent in place
    path.write_text(json.dumps(data))
    assert [link.status for link in lineage(archive, "keypoints/v2/b")] == ["start", "hash mismatch"]
    problems = verify_stage(archive, "keypoints/v2/b").problems
    assert any("parent keypoints/v2/a has content hash 000000000000" in p for p in problems)


def test_lineage_loop_is_an_error(archive, tmp_path):
    seal_tiny(archive, "keypoints/v2/a", tmp_path, parent=ParentRef("keypoints/v2/b", None))
    seal_tiny(archive, "keypoints/v2/b", tmp_path, seed=1, parent="keypoints/v2/a")
    with pytest.raises(ArchiveError, match="loops: keypoints/v2/b -> keypoints/v2/a -> keypoints/v2/b"):
        lineage(archive, "keypoints/v2/b")


def test_default_stage_and_its_weights_folder(archive, tmp_path):
    with pytest.raises(ArchiveError, match="no default stage"):
        archive.default_stage()
    seal_tiny(archive, "keypoints/v2/a", tmp_path)
    b = seal_tiny(archive, "keypoints/v2/b", tmp_path, seed=1, set_default=True)
    assert json.loads((archive.root / "archive.json").read_text()) == {
        "default_stage": "keypoints/v2/b", "schema_version": 1}
    assert archive.default_stage().stage_id == "keypoints/v2/b"
    assert stage_weights_folder(archive=archive) == b.folder
    assert stage_weights_folder("keypoints/v2/b", archive=archive) == b.folder
    assert open_archive(archive.root).default_stage().manifest == b.manifest
    with pytest.raises(StageNotFoundError):
        archive.set_default("keypoints/v2/nope")
    (b.folder / DATA_FILE).write_bytes(b"broken")
    with pytest.raises(ArchiveError, match=f"keypoints/v2/b/{DATA_FILE}: size"):
        stage_weights_folder(archive=archive)


def test_discovery_skips_hidden_and_linked_folders(archive, tmp_path):
    seal_tiny(archive, STAGE, tmp_path)
    (archive.root / "keypoints" / "v2" / ".tiny.sealing-abc").mkdir()
    (archive.root / "keypoints" / "v2" / ".tiny.sealing-abc" / "stage.json").write_text("{}")
    outside = Archive(tmp_path / "outside")
    seal_tiny(outside, "keypoints/v9/elsewhere", tmp_path)
    os.symlink(outside.root / "keypoints" / "v9", archive.root / "keypoints" / "v9")
    assert archive.stage_ids() == [STAGE]
    with pytest.raises(UnsafePathError, match="is a symlink"):
        archive.get("keypoints/v9/elsewhere")


def test_a_moved_stage_is_reported(archive, tmp_path):
    stage = seal_tiny(archive, STAGE, tmp_path)
    stage.folder.rename(archive.root / "keypoints" / "v2" / "moved")
    with pytest.raises(ManifestError, match="says stage_id 'keypoints/v2/tiny' but lives at 'keypoints/v2/moved'"):
        archive.get("keypoints/v2/moved")
