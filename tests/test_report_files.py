"""``write_report_dir``: metrics.json, summary.md, pr_curve.png and examples/*.png, readable and right-sized."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import write_jpeg
from facessd_archive.data.sample import Sample
from facessd_archive.evaluate.coco_metrics import ImageDetections, compute_coco_metrics
from facessd_archive.metric_names import METRIC_NAMES
from facessd_archive.evaluate.evaluation import BenchmarkInfo, EvaluationReport
from facessd_archive.evaluate.report_files import (
    DETECTION_COLOUR,
    HEADER_HEIGHT,
    IGNORE_COLOUR,
    PANEL_GAP,
    REPORT_FORMAT,
    example_indices,
    example_size,
    panel_size,
    write_report_dir,
)
from facessd_archive.evaluate.table import SPEED_ROWS

# (width, height) and faces (pixels xyxy) of three small scenes; the second has an ignored region.
SCENES = [
    ((160, 120), [(20, 20, 60, 70), (100, 30, 140, 80)], [False, False]),
    ((200, 100), [(10, 10, 50, 60), (120, 20, 190, 90)], [False, True]),
    ((90, 140), [(20, 40, 70, 100)], [False]),
]


@pytest.fixture
def benchmark(tmp_path):
    rng = np.random.default_rng(0)
    samples = []
    for i, ((w, h), boxes, ignore) in enumerate(SCENES):
        path = write_jpeg(tmp_path / "images" / f"scene {i}.jpg", rng.integers(0, 40, (h, w, 3)))
        samples.append(Sample(image_path=path, boxes=np.array(boxes, np.float32), ignore=np.array(ignore),
                              image_id=f"set/scene {i}"))
    info = BenchmarkInfo(name="scenes", benchmark_id="test:scenes", content_hash="ab" * 32, num_images=3,
                         num_faces=sum(s.num_faces for s in samples), split="val")
    return samples, info


def _report(name: str, samples, info, detections, sizes) -> EvaluationReport:
    result = compute_coco_metrics(samples, detections, sizes)
    return EvaluationReport(
        detector=name, runtime="tf", benchmark=info, metrics=result.metrics,
        speed={key: 10.0 + i for i, (key, _, _) in enumerate(SPEED_ROWS)} | {"images": 3},
        pr_recall=[float(x) for x in result.recall_thresholds], pr_precision=[float(x) for x in result.precision_at_50],
        date="2026-01-02T03:04:05+00:00", hardware="x86_64 CPU, 2 cores (test)")


@pytest.fixture
def reports(benchmark):
    samples, info = benchmark
    sizes = [(h, w) for (w, h), _, _ in SCENES]
    # "good": every face found (one slightly off) plus a low-score false positive; "weak": half the faces.
    good = [ImageDetections(np.array(s.boxes, np.float32) + 1.0,
                            np.linspace(0.95, 0.6, len(s.boxes)).astype(np.float32)) for s in samples]
    good[0] = ImageDetections(np.vstack([good[0].boxes, [[70, 90, 90, 110]]]).astype(np.float32),
                              np.array([0.95, 0.6, 0.1], np.float32))
    weak = [ImageDetections(np.array(s.boxes[:1], np.float32), np.array([0.5], np.float32)) for s in samples]
    dets = [good, weak]
    return [_report("good", samples, info, good, sizes), _report("weak", samples, info, weak, sizes)], dets


def test_all_files_are_written_and_readable(tmp_path, benchmark, reports):
    samples, info = benchmark
    reps, dets = reports
    out = write_report_dir(tmp_path / "report", reps, samples, dets, num_examples=2)
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == ["examples/000_set_scene_0.png", "examples/002_set_scene_2.png", "metrics.json",
                     "pr_curve.png", "summary.md"]

    data = json.loads((out / "metrics.json").read_text())
    assert data["format"] == REPORT_FORMAT
    assert [r["detector"] for r in data["reports"]] == ["good", "weak"]
    assert data["reports"][0]["benchmark"]["content_hash"] == "ab" * 32
    assert set(data["reports"][0]["metrics"]) == set(METRIC_NAMES)
    assert data["reports"][0]["metrics"] == pytest.approx(reps[0].metrics)

    md = (out / "summary.md").read_text()
    for name in METRIC_NAMES:
        assert f"| {name} |" in md
    for _, label, _ in SPEED_ROWS:
        assert f"| {label} |" in md
    assert "| metric | good [tf] | weak [tf] |" in md
    assert "ab" * 32 in md and "test:scenes" in md and "2026-01-02T03:04:05+00:00" in md
    assert "x86_64 CPU, 2 cores (test)" in md and "facessd-archive 0.1.0" in md
    assert f"| DetectionBoxes_Precision/mAP@.50IOU | {reps[0].map50:.4f} | {reps[1].map50:.4f} |" in md

    with Image.open(out / "pr_curve.png") as im:
        assert im.format == "PNG" and im.size == (640, 480)
    for name, k in (("000_set_scene_0", 0), ("002_set_scene_2", 2)):
        (w, h) = SCENES[k][0]
        with Image.open(out / "examples" / f"{name}.png") as im:
            assert im.format == "PNG" and im.size == example_size(h, w, num_detectors=2)


def test_example_panels_draw_scored_boxes_and_dashed_ignored_regions(tmp_path, benchmark, reports):
    samples, info = benchmark
    reps, dets = reports
    out = write_report_dir(tmp_path / "r", reps[:1], samples, dets[:1], num_examples=3, score_threshold=0.3)
    # Scene 1 (200x100) -> panels 512x256: [good] [ground truth]; scale 2.56.
    image = np.asarray(Image.open(out / "examples" / "001_set_scene_1.png").convert("RGB")).astype(int)
    ph, pw = panel_size(100, 200)
    assert image.shape == (ph + HEADER_HEIGHT, 2 * pw + PANEL_GAP, 3)
    scale = pw / 200

    def row(panel: int, y: float, x0: float, x1: float) -> np.ndarray:
        left = panel * (pw + PANEL_GAP)
        return image[HEADER_HEIGHT + round(y * scale), left + round(x0 * scale):left + round(x1 * scale)]

    def is_colour(pixels: np.ndarray, colour) -> np.ndarray:
        return np.abs(pixels - np.array(colour)).sum(-1) < 60

    # The ignored region (120, 20, 190, 90): its bottom edge in the truth panel is dashed grey.
    edge = is_colour(row(1, 90, 125, 185), IGNORE_COLOUR)
    assert 0.3 < edge.mean() < 0.8
    # A detection (score 0.95) on the first face: its bottom edge (box + 1 px) is solid green.
    assert is_colour(row(0, 61, 15, 45), DETECTION_COLOUR).mean() > 0.9

    # Scene 0's false positive (score 0.1) is under the threshold: no green along its edge.
    image0 = np.asarray(Image.open(out / "examples" / "000_set_scene_0.png").convert("RGB")).astype(int)
    s0 = panel_size(120, 160)[1] / 160
    fp_bottom = image0[HEADER_HEIGHT + round(110 * s0) - 1, round(75 * s0):round(85 * s0)]
    assert not is_colour(fp_bottom, DETECTION_COLOUR).any()


def test_pr_curve_and_summary_for_one_report(tmp_path, benchmark, reports):
    samples, _ = benchmark
    reps, dets = reports
    out = write_report_dir(tmp_path / "one", reps[1:], samples, dets[1:], num_examples=0)
    assert not (out / "examples").exists()
    assert "| metric | weak [tf] |" in (out / "summary.md").read_text()
    with Image.open(out / "pr_curve.png") as im:
        im.load()


def test_files_are_replaced_atomically(tmp_path, benchmark, reports):
    samples, _ = benchmark
    reps, dets = reports
    out = tmp_path / "again"
    write_report_dir(out, reps, samples, dets, num_examples=1)
    write_report_dir(out, reps[:1], samples, dets[:1], num_examples=1)
    assert len(json.loads((out / "metrics.json").read_text())["reports"]) == 1
    assert not list(out.rglob("*.incomplete"))


def test_mismatched_inputs_are_refused(tmp_path, benchmark, reports):
    samples, _ = benchmark
    reps, dets = reports
    with pytest.raises(ValueError, match="no reports"):
        write_report_dir(tmp_path, [], samples, [])
    with pytest.raises(ValueError, match="2 reports but 1 detection lists"):
        write_report_dir(tmp_path, reps, samples, dets[:1])
    with pytest.raises(ValueError, match="good has detections for 2 images, the benchmark has 3"):
        write_report_dir(tmp_path, reps[:1], samples, [dets[0][:2]])


def test_example_indices_spread_over_the_benchmark():
    assert example_indices(10, 4) == [0, 3, 6, 9]
    assert example_indices(3, 10) == [0, 1, 2]
    assert example_indices(5, 1) == [0]
    assert example_indices(0, 4) == []


def test_wider_protocol_rows_and_curves_when_a_report_has_them(tmp_path, benchmark, reports):
    from dataclasses import replace

    from facessd_archive.metric_names import WIDER_METRIC_NAMES

    samples, _ = benchmark
    reps, dets = reports
    assert not (write_report_dir(tmp_path / "coco", reps, samples, dets, num_examples=0)
                / "wider_pr_curves.png").exists()
    curve = {"recall": [0.2, 0.5, 0.7], "precision": [1.0, 0.9, 0.6]}
    wider = replace(reps[0], metrics={**reps[0].metrics, **dict(zip(WIDER_METRIC_NAMES, (0.9, 0.8, 0.5)))},
                    wider_pr={s: curve for s in ("easy", "medium", "hard")})
    out = write_report_dir(tmp_path / "wider", [wider, reps[1]], samples, dets, num_examples=0)
    md = (out / "summary.md").read_text()
    assert "| WIDER/AP_easy | 0.9000 | n/a |" in md and "| WIDER/AP_hard | 0.5000 | n/a |" in md
    with Image.open(out / "wider_pr_curves.png") as im:
        assert im.format == "PNG" and im.size == (1280, 440)
    assert json.loads((out / "metrics.json").read_text())["reports"][0]["wider_pr"]["easy"] == curve
