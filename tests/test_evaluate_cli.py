"""``facessd evaluate`` end to end: a real (tiny, random) model exported, sealed, evaluated, recorded,
and checked against its recorded figures; the CLI's one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from facessd_archive.archive import Archive, Training
from facessd_archive.cli import main
from facessd_archive.metric_names import METRIC_NAMES
from facessd_archive.model.checkpoint import export_compact
from facessd_archive.model.config import face_config
from facessd_archive.model.detector import SSDDetector

VOC = Path(__file__).parent / "fixtures" / "benchmarks" / "voc"
STAGE = "keypoints/v1/tiny"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    export_compact(SSDDetector(face_config(input_size=64, depth_multiplier=0.25)), folder)
    return folder


@pytest.fixture()
def archive_root(tmp_path, model_dir) -> Path:
    root = tmp_path / "archive"
    archive = Archive(root)
    config = face_config(input_size=64, depth_multiplier=0.25)
    archive.seal(STAGE, model_dir, config, Training(input_size=64, steps=1), set_default=True)
    return root


def _run(*args: str) -> "click.testing.Result":  # noqa: F821
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_json_output_has_the_twelve_metrics_and_speed(model_dir):
    result = _run("evaluate", str(model_dir), "--benchmark", str(VOC), "--json")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert list(report["metrics"]) == list(METRIC_NAMES)
    assert report["benchmark"]["benchmark_id"] == "voc:voc"
    assert report["speed"]["images"] == report["benchmark"]["num_images"] > 0
    assert report["speed"]["model_images_per_second"] > 0


def test_record_then_the_same_run_matches_the_recorded_figures(archive_root):
    first = _run("evaluate", STAGE, "--benchmark", str(VOC), "--archive", str(archive_root), "--record")
    assert first.exit_code == 0, first.output
    assert "no figures recorded" in first.output
    manifest = json.loads((archive_root / STAGE / "stage.json").read_text())
    (entry,) = [e for e in manifest["evaluations"] if e["source"] == "measured"]
    assert entry["benchmark"]["id"] == "voc:voc" and len(entry["metrics"]) == 12
    second = _run("evaluate", "--detector", STAGE, "--benchmark", str(VOC), "--archive", str(archive_root))
    assert "matches the figures recorded for keypoints/v1/tiny" in second.output


def test_a_changed_benchmark_is_not_compared(archive_root, tmp_path):
    _run("evaluate", STAGE, "--benchmark", str(VOC), "--archive", str(archive_root), "--record")
    import shutil

    copy = tmp_path / "voc"
    shutil.copytree(VOC, copy)
    xml = next((copy / "annotations").glob("*.xml"))
    text = xml.read_text()
    xmax = re.search(r"<xmax>\s*(\d+)", text)
    text = text[:xmax.start(1)] + str(int(xmax.group(1)) - 1) + text[xmax.end(1):]
    xml.write_text(text)  # one box 1 px narrower: another benchmark
    result = _run("evaluate", STAGE, "--benchmark", str(copy), "--archive", str(archive_root))
    assert "content hash differs" in result.output


def test_errors_are_one_line(model_dir, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(model_dir), "--benchmark", str(tmp_path / "nope")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "nope" in lines[0]
    result = CliRunner().invoke(main, ["evaluate", str(model_dir), "--benchmark", str(VOC), "--record"])
    assert result.exit_code == 2 and "--record needs DETECTOR to be an archived stage" in result.output


def test_an_undecodable_image_stops_the_run_or_is_skipped_and_counted(model_dir, tmp_path):
    import shutil

    copy = tmp_path / "voc"
    shutil.copytree(VOC, copy)
    image = sorted((copy / "images").iterdir())[0]
    image.write_bytes(image.read_bytes()[:100])  # truncated
    result = CliRunner().invoke(main, ["evaluate", str(model_dir), "--benchmark", str(copy), "--json"])
    assert result.exit_code == 2
    assert f"error: {image}: cannot decode image" in result.output

    result = CliRunner().invoke(main, ["evaluate", str(model_dir), "--benchmark", str(copy), "--json",
                                       "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "warning: skipped 1 bad item(s)" in result.stderr
    (report,) = json.loads(result.stdout)
    total = len(list((VOC / "annotations").glob("*.xml")))
    assert report["benchmark"]["num_images"] == total - 1 == report["speed"]["images"]
    assert len(report["skipped"]) == 1 and str(image) in report["skipped"][0]
