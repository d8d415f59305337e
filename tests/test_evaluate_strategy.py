"""``facessd evaluate --strategy``: the SSD graph under tf.distribute with static shapes (one padded square,
a fixed global batch, fixed-size NMS), for real on CPU.

MirroredStrategy over two logical CPU devices runs in a subprocess (logical devices must be set before
TensorFlow starts). A trained stage of the archive (facemask_384x384_dm050_8K, a squashed 384 square;
wider_384_dm050_4K, keep-aspect, run at --max-side 256 padded to 256x256) on seven synthetic scenes,
global batch 4: the last batch is short and padded, the warm-up call is one image padded to four.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from distributed_helpers import assert_all_succeeded, run_two_workers

from facessd_archive.cli import main
from facessd_archive.evaluate.strategy_runtime import static_postprocess
from facessd_archive.model.config import face_config
from facessd_archive.model.postprocess import postprocess

ROOT = Path(__file__).resolve().parents[1]
SQUARE_STAGE = ROOT / "keypoints" / "v1" / "facemask_384x384_dm050_8K"
KEEP_ASPECT_STAGE = ROOT / "keypoints" / "v1" / "wider_384_dm050_4K"
VOC = Path(__file__).parent / "fixtures" / "benchmarks" / "voc"

SCRIPT = r'''
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pathlib import Path
from facessd_archive.data.synthetic.benchmark import sample_benchmark
from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.api import LoadedBenchmark, evaluate, resolve_detector
from facessd_archive.evaluate.evaluation import BenchmarkInfo
out, square, keep_aspect = sys.argv[1:4]
samples = sample_benchmark(seed=0, num_images=7, cache_dir=Path(out) / "synthetic")
loaded = LoadedBenchmark(BenchmarkInfo(name="sample", benchmark_id="sample", content_hash="-", num_images=len(samples),
                                       num_faces=sum(s.num_faces for s in samples)), samples, [])
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
strategies = {"plain": None, "default": tf.distribute.get_strategy(), "mirrored": mirrored}
report = {"replicas": mirrored.num_replicas_in_sync}
for model, max_side in ((square, None), (keep_aspect, 256)):
    for name, strategy in strategies.items():
        resolved = resolve_detector(model, max_side=max_side, strategy=strategy, batch_size=4,
                                    strategy_name=name if strategy is not None else None)
        result = evaluate(resolved, loaded, batch_size=4)
        report[f"{Path(model).name}/{name}"] = {
            "runtime": result.report.runtime, "metrics": result.report.metrics,
            "detections": [[d.boxes.tolist(), d.scores.tolist()] for d in result.detections]}
try:
    resolve_detector(square, strategy=mirrored, batch_size=3, strategy_name="mirrored")
except ConfigError as e:
    report["odd_batch"] = str(e)
print(json.dumps(report))
'''


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("strategy_eval")
    process = subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(SQUARE_STAGE), str(KEEP_ASPECT_STAGE)],
                             capture_output=True, text=True, timeout=900,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_mirrored_over_two_cpu_devices_gives_the_default_runs_coco_figures(runs):
    assert runs["replicas"] == 2
    name = SQUARE_STAGE.name
    plain, default, mirrored = (runs[f"{name}/{k}"] for k in ("plain", "default", "mirrored"))
    assert plain["metrics"]["DetectionBoxes_Precision/mAP@.50IOU"] > 0.5  # a real detector, not all zeros
    assert mirrored["runtime"] == "tf, --strategy mirrored (2 replicas)"
    assert default["runtime"] == "tf, --strategy default (1 replica)"
    # The static graph (padded batch, fixed-size NMS) finds the same boxes as the plain one, and
    # splitting the batch over two replicas changes nothing: the twelve figures are equal, exactly.
    assert mirrored["metrics"] == default["metrics"] == plain["metrics"]
    assert mirrored["detections"] == default["detections"]
    for a, b in zip(plain["detections"], mirrored["detections"]):
        np.testing.assert_allclose(np.asarray(a[1]), np.asarray(b[1]), atol=1e-6)


@pytest.mark.slow
def test_a_keep_aspect_stage_runs_padded_to_one_square_under_mirrored(runs):
    name = KEEP_ASPECT_STAGE.name
    default, mirrored = runs[f"{name}/default"], runs[f"{name}/mirrored"]
    assert mirrored["runtime"] == "tf, --strategy mirrored (2 replicas), longer side at most 256, padded to 256x256"
    assert mirrored["metrics"] == default["metrics"]
    assert mirrored["detections"] == default["detections"]
    assert default["metrics"]["DetectionBoxes_Precision/mAP@.50IOU"] > 0.1


@pytest.mark.slow
def test_the_global_batch_must_divide_over_the_replicas(runs):
    assert "--batch-size 3 is the global batch: it must divide evenly over 2 replicas" in runs["odd_batch"]


def test_static_postprocess_keeps_what_combined_nms_keeps():
    """Random boxes and logits for two classes: the fixed-size NMS picks the same detections."""
    config = dataclasses.replace(face_config(input_size=64), num_classes=2, class_names=("face", "mask"))
    rng = np.random.default_rng(0)
    anchors = np.sort(rng.uniform(0, 1, (300, 2, 2)), axis=1).transpose(0, 2, 1).reshape(300, 4)[:, [0, 2, 1, 3]]
    encodings = rng.normal(0, 1, (3, 300, 4)).astype(np.float32)
    logits = rng.normal(-2, 2, (3, 300, 3)).astype(np.float32)
    a = postprocess(encodings, logits, anchors.astype(np.float32), config)
    b = static_postprocess(encodings, logits, anchors.astype(np.float32), config)
    np.testing.assert_array_equal(a.num_detections.numpy(), b.num_detections.numpy())
    for i, n in enumerate(a.num_detections.numpy()):
        np.testing.assert_allclose(a.scores[i, :n], b.scores[i, :n], rtol=1e-6)
        np.testing.assert_allclose(a.boxes[i, :n], b.boxes[i, :n], atol=1e-6)
        np.testing.assert_array_equal(a.classes[i, :n], b.classes[i, :n])
        assert not np.any(b.scores[i, n:].numpy()) and not np.any(b.boxes[i, n:].numpy())


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.slow
def test_strategy_default_on_the_cli_gives_the_plain_figures():
    """A trained stage (an untrained one scores every anchor alike, and NMS among ties is arbitrary) on the
    built-in synthetic sample benchmark (48 scenes; the VOC fixture has no face this stage finds)."""
    args = ("evaluate", str(SQUARE_STAGE), "--json", "--batch-size", "8")
    plain, static = _run(*args), _run(*args, "--strategy", "default")
    assert plain.exit_code == 0 and static.exit_code == 0, static.output
    (p,), (s,) = json.loads(plain.stdout), json.loads(static.stdout)
    assert s["runtime"] == "tf, --strategy default (1 replica)"
    assert s["metrics"] == p["metrics"]
    assert p["metrics"]["DetectionBoxes_Precision/mAP@.50IOU"] > 0.5


def test_strategy_errors_are_one_line(tmp_path):
    result = _run("evaluate", str(SQUARE_STAGE), "--benchmark", str(VOC), "--tpu", "x")
    assert result.exit_code == 2 and "--tpu needs --strategy tpu" in result.output
    result = _run("evaluate", str(KEEP_ASPECT_STAGE), "--benchmark", str(VOC), "--strategy", "default")
    assert result.exit_code == 2
    assert "error: --strategy default runs one fixed input shape (as a TPU needs) and cannot run each image at " \
           "its original size: give --max-side N" in result.output
    assert "Traceback" not in result.output
    result = _run("evaluate", str(SQUARE_STAGE), "--benchmark", str(VOC), "--strategy", "default", "--runtime",
                  "tflite")
    assert result.exit_code == 2 and "--strategy default runs the TensorFlow graph: use it with --runtime tf" \
        in result.output
    result = _run("evaluate", "haar", "--benchmark", str(VOC), "--strategy", "default")
    assert result.exit_code == 2 and "--strategy applies to SSD models, not the peer 'haar'" in result.output


@pytest.mark.slow
def test_two_multiworker_processes_on_loopback_give_the_plain_figures(tmp_path):
    """``facessd evaluate --strategy multiworker`` in two processes (one CPU replica each, a global batch of 4
    on the 48 synthetic scenes): both print the plain runtime's figures; only the chief writes files."""
    results = run_two_workers(lambda index: [
        sys.executable, "-c", "from facessd_archive.cli import main; main()", "evaluate", str(SQUARE_STAGE),
        "--strategy", "multiworker", "--batch-size", "4", "--json", "--save-predictions",
        str(tmp_path / f"predictions{index}")])
    assert_all_succeeded(results)
    (chief,), (other,) = (json.loads(r.stdout) for r in results)
    plain = _run("evaluate", str(SQUARE_STAGE), "--json", "--batch-size", "4")
    assert plain.exit_code == 0, plain.output
    (p,) = json.loads(plain.stdout)
    assert chief["runtime"] == other["runtime"] == "tf, --strategy multiworker (2 replicas)"
    assert chief["metrics"] == other["metrics"] == p["metrics"]
    assert (tmp_path / "predictions0").is_dir() and not (tmp_path / "predictions1").exists()
