"""facessd list / show / verify / lineage / default through click, on a temporary archive."""

from __future__ import annotations

import json

import pytest
from archive_helpers import DATA_FILE, measured, seal_tiny
from click.testing import CliRunner

from facessd_archive.archive import Archive
from facessd_archive.archive.originals import record_original_experiments
from facessd_archive.cli import main


@pytest.fixture
def archive(tmp_path):
    a = Archive(tmp_path / "archive")
    record_original_experiments(a)
    seal_tiny(a, "keypoints/v2/tiny", tmp_path, parent="keypoints/v1/v1_150_To_360_1_6M",
              evaluations=[measured(0.3125)])
    return a


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_list_is_a_table_with_reported_and_measured(archive):
    out = run("list", "--archive", str(archive.root))
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].split() == ["stage", "parent", "input", "steps", "mAP", "benchmark", "weights"]
    row = next(line for line in lines if line.startswith("keypoints/v1/v1_150x150_300K"))
    assert "0.066 (reported)" in row and "300,000" in row and "none" in row
    row = next(line for line in lines if line.startswith("keypoints/v2/tiny"))
    assert "0.312" in row and "(reported)" not in row and "folder" in row
    assert "keypoints/v1/v1_150_To_360_1_6M" in row


def test_environment_variable_selects_the_archive(archive, monkeypatch):
    monkeypatch.setenv("FACESSD_ARCHIVE", str(archive.root))
    assert "keypoints/v2/tiny" in run("list").output


def test_show_prints_manifest_and_card(archive):
    out = run("show", "keypoints/v2/tiny", "--archive", str(archive.root))
    assert out.exit_code == 0
    assert '"stage_id": "keypoints/v2/tiny"' in out.output and "library_name: facessd-archive" in out.output
    only = run("show", "keypoints/v2/tiny", "--json", "--archive", str(archive.root))
    assert json.loads(only.output)["stage_id"] == "keypoints/v2/tiny"


def test_verify_exit_codes_and_names(archive):
    ok = run("verify", "--archive", str(archive.root))
    assert ok.exit_code == 0 and ok.output.count("ok   ") == 7
    (archive.folder("keypoints/v2/tiny") / DATA_FILE).write_bytes(b"\0" * 10)
    bad = run("verify", "--archive", str(archive.root))
    assert bad.exit_code == 1
    assert "FAIL keypoints/v2/tiny" in bad.output and f"keypoints/v2/tiny/{DATA_FILE}: size 10 bytes" in bad.output
    one = run("verify", "SSD/v1/TPU", "--archive", str(archive.root))
    assert one.exit_code == 0 and one.output.startswith("ok   SSD/v1/TPU")


def test_lineage_walks_to_the_first_stage(archive):
    out = run("lineage", "keypoints/v2/tiny", "--archive", str(archive.root))
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert [line.split()[0] for line in lines] == ["keypoints/v2/tiny", "<-", "<-"]
    assert "keypoints/v1/v1_150_To_360_1_6M  360x360  1,600,000 steps" in lines[1]
    assert "keypoints/v1/v1_150x150_GPU_900K" in lines[2] and "[content hash matches]" in lines[2]


def test_default_command(archive):
    out = run("default", "--archive", str(archive.root))
    assert out.exit_code == 2 and "no default stage" in out.output
    out = run("default", "keypoints/v2/tiny", "--archive", str(archive.root))
    assert out.exit_code == 0 and out.output.strip() == "keypoints/v2/tiny"


@pytest.mark.parametrize("args, phrase", [
    (["show", "keypoints/v1/v1_150x150_30K"], "did you mean keypoints/v1/v1_150x150_300K"),
    (["show", "../../etc"], "escape the archive root"),
    (["pull", "keypoints/v1/v1_150x150_300K"], "no weights available here"),
    (["lineage", "SSD/v1/nope"], "not found"),
])
def test_errors_are_one_line_exit_2(archive, args, phrase):
    out = run(*args, "--archive", str(archive.root))
    assert out.exit_code == 2
    assert len(out.output.strip().splitlines()) == 1 and phrase in out.output and "Traceback" not in out.output


def test_seal_command_refuses_overwrite_unless_new_version(archive, tmp_path):
    from archive_helpers import CONFIG, stage_files

    folder = tmp_path / "export"
    stage_files(folder)
    (folder / "model_config.json").write_text(CONFIG.to_json())
    (folder / "train_settings.json").write_text(json.dumps({"steps": 50, "batch_size": 4, "warmup_steps": 5}))
    args = ["seal", "keypoints/v2/new", str(folder), "--parent", "keypoints/v2/tiny", "--hardware", "CPU",
            "--dataset", "facemask", "--split", "train.txt", "--default", "--archive", str(archive.root)]
    out = run(*args)
    assert out.exit_code == 0, out.output
    m = archive.get("keypoints/v2/new").manifest
    assert (m.training.steps, m.training.batch_size, m.training.hardware) == (50, 4, "CPU")
    assert m.parent.stage_id == "keypoints/v2/tiny" and archive.default_stage_id() == "keypoints/v2/new"
    again = run(*args)
    assert again.exit_code == 2 and "is sealed and cannot be overwritten; use --new-version" in again.output
    sibling = run(*args, "--new-version")
    assert sibling.exit_code == 0 and "sealed keypoints/v2/new-v2" in sibling.output
