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


# --- --protocol wider, --save-predictions, --predictions, compare -------------------------------
# A tiny WIDER val benchmark in the official layout: (event, name, (width, height), faces x y w h,
# invalid flags, {setting: 1-based face indices}) for the gt text file and the .mat files alike.
WIDER_IMAGES = [
    ("0--Parade", "0_Parade_a_1", (120, 90), [[10, 10, 30, 30], [60, 20, 20, 24], [90, 60, 8, 8]], [0, 0, 1],
     {"easy": [1], "medium": [1, 2], "hard": [1, 2]}),
    ("0--Parade", "0_Parade_a_2", (100, 80), [[20, 20, 40, 40]], [0], {"easy": [1], "medium": [1], "hard": [1]}),
    ("12--Group", "12_Group_b_3", (128, 96), [[5, 5, 50, 50], [70, 40, 30, 30]], [0, 0],
     {"easy": [1], "medium": [1, 2], "hard": [1, 2]}),
]


@pytest.fixture()
def wider_root(tmp_path) -> Path:
    from conftest import write_jpeg
    from wider_helpers import write_mats

    import numpy as np

    root = tmp_path / "wider"
    rng = np.random.default_rng(0)
    gt = []
    for event, name, (w, h), boxes, invalid, _ in WIDER_IMAGES:
        write_jpeg(root / "WIDER_val" / "images" / event / f"{name}.jpg", rng.integers(0, 255, (h, w, 3)))
        gt += [f"{event}/{name}.jpg", str(len(boxes))]
        gt += [" ".join(str(v) for v in box) + f" 0 0 0 {flag} 0 0" for box, flag in zip(boxes, invalid)]
    (root / "wider_face_split").mkdir(parents=True)
    (root / "wider_face_split" / "wider_face_val_bbx_gt.txt").write_text("\n".join(gt) + "\n")
    write_mats(root / "eval_tools" / "ground_truth", [(e, n, b, s) for e, n, _, b, _, s in WIDER_IMAGES])
    return root


def _perfect_predictions(folder: Path) -> Path:
    import numpy as np

    from facessd_archive.evaluate.coco_metrics import ImageDetections
    from facessd_archive.evaluate.prediction_files import write_predictions

    ids, dets = [], []
    for event, name, _, boxes, _, _ in WIDER_IMAGES:
        b = np.array(boxes, np.float32)
        ids.append(f"{event}/{name}")
        dets.append(ImageDetections(np.c_[b[:, :2], b[:, :2] + b[:, 2:]], np.linspace(0.9, 0.6, len(b))))
    write_predictions(folder, ids, dets)
    return folder


def test_protocol_wider_scores_a_predictions_folder(wider_root, tmp_path):
    from facessd_archive.metric_names import WIDER_METRIC_NAMES

    predictions = _perfect_predictions(tmp_path / "pred")
    result = _run("evaluate", "--predictions", str(predictions), "--benchmark", str(wider_root),
                  "--protocol", "wider", "--json")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert list(report["metrics"]) == list(METRIC_NAMES) + list(WIDER_METRIC_NAMES)
    assert [report["metrics"][n] for n in WIDER_METRIC_NAMES] == pytest.approx([1.0, 1.0, 1.0])
    assert set(report["wider_pr"]) == {"easy", "medium", "hard"} and report["speed"] == {}
    assert report["runtime"] == "predictions"
    table = _run("evaluate", "--predictions", str(predictions), "--benchmark", str(wider_root), "--protocol", "wider")
    assert "| WIDER/AP_easy " in table.stdout and "| Speed/model images/s " in table.stdout and "n/a" in table.stdout
    coco_only = _run("evaluate", "--predictions", str(predictions), "--benchmark", str(wider_root), "--json")
    assert list(json.loads(coco_only.stdout)[0]["metrics"]) == list(METRIC_NAMES)


def test_protocol_wider_with_a_stage_records_reports_and_saves_predictions(archive_root, wider_root, tmp_path):
    from facessd_archive.metric_names import WIDER_METRIC_NAMES

    saved, report_dir = tmp_path / "saved", tmp_path / "report"
    result = _run("evaluate", STAGE, "--benchmark", str(wider_root), "--protocol", "wider", "--archive",
                  str(archive_root), "--record", "--report", str(report_dir), "--save-predictions", str(saved), "--json")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert all(-1.0 <= report["metrics"][n] <= 1.0 for n in WIDER_METRIC_NAMES)
    assert "predictions for 3 image(s) written" in result.stderr
    manifest = json.loads((archive_root / STAGE / "stage.json").read_text())
    (entry,) = [e for e in manifest["evaluations"] if e["source"] == "measured"]
    assert entry["metrics"] == pytest.approx({k: v for k, v in report["metrics"].items()})
    assert (report_dir / "wider_pr_curves.png").is_file() and "WIDER/AP_hard" in (report_dir / "summary.md").read_text()
    files = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*.txt"))
    assert files == ["0--Parade/0_Parade_a_1.txt", "0--Parade/0_Parade_a_2.txt", "12--Group/12_Group_b_3.txt"]
    # The saved predictions score exactly as the run did.
    again = _run("evaluate", "--predictions", str(saved), "--benchmark", str(wider_root), "--protocol", "wider",
                 "--json")
    assert json.loads(again.stdout)[0]["metrics"] == pytest.approx(report["metrics"])


def test_compare_evaluates_each_detector_with_the_protocol(model_dir, wider_root, tmp_path):
    result = _run("compare", str(model_dir), str(model_dir), "--benchmark", str(wider_root), "--protocol", "wider",
                  "--json", "--report", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)
    assert len(reports) == 2 and reports[0]["metrics"] == pytest.approx(reports[1]["metrics"])
    assert "WIDER/AP_medium" in reports[0]["metrics"] and (tmp_path / "r" / "wider_pr_curves.png").is_file()


def test_protocol_wider_errors_are_one_line(model_dir, wider_root, tmp_path):
    def one_error(*args: str) -> str:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 2, result.output
        (line,) = [line for line in result.output.splitlines() if line.startswith(("error:", "Error:"))]
        return line

    assert "--protocol wider needs WIDER FACE val" in one_error(
        "evaluate", str(model_dir), "--benchmark", str(VOC), "--protocol", "wider")
    assert "is the synthetic sample benchmark" in one_error("evaluate", str(model_dir), "--protocol", "wider")
    import shutil

    shutil.rmtree(wider_root / "eval_tools")
    assert "WIDER evaluation file(s) not found: wider_face_val.mat" in one_error(
        "evaluate", str(model_dir), "--benchmark", str(wider_root), "--protocol", "wider")
    assert "--wider-eval-dir applies to --protocol wider" in one_error(
        "evaluate", str(model_dir), "--benchmark", str(wider_root), "--wider-eval-dir", str(tmp_path))
    assert "not both" in one_error("evaluate", str(model_dir), "--predictions", str(tmp_path))
    assert "predictions folder not found" in one_error(
        "evaluate", "--predictions", str(tmp_path / "nope"), "--benchmark", str(VOC))


def test_save_predictions_for_a_voc_benchmark_read_back_as_the_run_scored(model_dir, tmp_path):
    saved = tmp_path / "saved"
    first = _run("evaluate", str(model_dir), "--benchmark", str(VOC), "--save-predictions", str(saved), "--json")
    assert first.exit_code == 0, first.output
    names = sorted(p.stem for p in (VOC / "annotations").glob("*.xml"))
    assert sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*.txt")) == [f"images/{n}.txt" for n in names]
    again = _run("evaluate", "--predictions", str(saved), "--benchmark", str(VOC), "--json")
    assert json.loads(again.stdout)[0]["metrics"] == pytest.approx(json.loads(first.stdout)[0]["metrics"])


def test_a_stage_id_is_a_stage_even_where_it_is_also_a_path(monkeypatch):
    """Inside a checkout every stage id is also a relative folder (the root is the archive): the
    stage must win, so --record and the recorded-figure check still work from the repository root."""
    from facessd_archive.archive import open_archive
    from facessd_archive.evaluate.api import resolve_detector

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    stage_id = open_archive(root).default_stage_id()
    assert Path(stage_id).is_dir()
    resolved = resolve_detector(stage_id, archive_root=root)
    assert resolved.stage_id == stage_id and resolved.recorded


def test_recorded_figures_are_compared_only_with_a_run_of_the_same_runtime():
    from facessd_archive.archive.records import DatasetRef, Evaluation
    from facessd_archive.evaluate.api import ResolvedDetector, _recorded_by_benchmark, recorded_verdict
    from facessd_archive.evaluate.evaluation import BenchmarkInfo, EvaluationReport

    metrics = {n: 0.5 for n in METRIC_NAMES}
    info = BenchmarkInfo("wider/val", "wider:wider/val", "a" * 64, 97, 1212, "val.txt")
    recorded = Evaluation.measured(DatasetRef("wider:wider/val", split="val.txt", sha256="a" * 64), metrics,
                                   note="97 images, 1212 faces; runtime tf, original size")
    detector = ResolvedDetector(detector=None, runtime="tf", stage_id="keypoints/v1/x",
                                recorded=_recorded_by_benchmark([recorded]))
    same = EvaluationReport("x", "tf, original size", info, dict(metrics), {})
    assert recorded_verdict(detector, same).startswith("matches")
    other = EvaluationReport("x", "tf, longer side at most 640", info, {n: 0.1 for n in METRIC_NAMES}, {})
    assert "were measured with runtime tf, original size" in recorded_verdict(detector, other)
