"""``facessd export STAGE --format tflite --int8``: the OD API-style TFLite model, int8 before its
post-processing op, calibrated on training images; refused where it does not apply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facessd_archive.cli import main

SQUARE_STAGE = "keypoints/v1/facemask_384x384_dm050_8K"  # a fixed_shape stage: what export takes today
ROOT = Path(__file__).resolve().parents[1]


def test_export_int8_gives_an_int8_graph_before_the_postprocess_op(tmp_path, monkeypatch):
    from facessd_archive.evaluate import quantize

    option = quantize.export_int8_option
    monkeypatch.setattr(quantize, "export_int8_option", lambda detector: option(detector, count=8))
    result = CliRunner().invoke(main, ["export", SQUARE_STAGE, "--format", "tflite", "--int8", "--out",
                                       str(tmp_path / "out"), "--archive", str(ROOT)])
    assert result.exit_code == 0, result.output
    data = (tmp_path / "out" / "model.tflite").read_bytes()
    from facessd_archive.evaluate.tflite_runtime import make_interpreter

    interpreter, _ = make_interpreter(data, 1)
    dtypes = {t["index"]: np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    convs = [op for op in interpreter._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert len(convs) > 20 and all(dtypes[op["inputs"][0]] == "int8" and dtypes[op["outputs"][0]] == "int8"
                                   for op in convs)
    float_export = CliRunner().invoke(main, ["export", SQUARE_STAGE, "--format", "tflite", "--out",
                                             str(tmp_path / "f"), "--archive", str(ROOT)])
    assert float_export.exit_code == 0, float_export.output
    assert len(data) < (tmp_path / "f" / "model.tflite").stat().st_size / 2.5


@pytest.mark.parametrize("args, message", [
    (["--format", "saved_model", "--int8"], "--int8 applies to --format tflite"),
    (["--format", "tflite", "--int8", "--float16"], "give --float16 or --int8, not both"),
])
def test_export_int8_refuses_what_does_not_apply(tmp_path, args, message):
    result = CliRunner().invoke(main, ["export", SQUARE_STAGE, *args, "--out", str(tmp_path / "o"),
                                       "--archive", str(ROOT)])
    assert result.exit_code != 0 and message in result.output
