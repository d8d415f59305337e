"""Keeps benchmarks/int8_op_kinds.py from rotting: its layer walk on the default stage's network,
its one-layer float and int8 models, and a two-layer run of the whole script at a small square.

Speed is not checked (a test cannot time reliably on a shared host); only that the layers are found
as the network has them and that each one-layer model runs in both precisions with the right types.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from benchmark_helpers import loaded_benchmark


@pytest.fixture(scope="module")
def op_kinds():
    yield from loaded_benchmark("int8_op_kinds.py", "int8_op_kinds")


@pytest.fixture(scope="module")
def default_network():
    import keras

    from facessd_archive.archive import open_archive, stage_weights_folder
    from facessd_archive.model.checkpoint import load_detector

    archive = open_archive()
    folder = stage_weights_folder(archive.default_stage().stage_id, archive=archive)
    network = load_detector(folder, input_size=128).network
    keras_counts = {kind: sum(isinstance(layer, kind) for layer in network.layers)
                    for kind in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Add)}
    return network, keras_counts


def test_layer_walk_finds_every_convolution_and_add(op_kinds, default_network):
    import keras

    network, keras_counts = default_network
    shapes = op_kinds.layer_shapes(network)
    by_kind = {kind: [s for s in shapes if s.kind == kind] for kind in op_kinds.KINDS}
    depthwise = by_kind["depthwise 3x3, stride 1"] + by_kind["depthwise 3x3, stride 2 (+ its pad)"]
    assert len(depthwise) == keras_counts[keras.layers.DepthwiseConv2D]
    assert len(by_kind["residual add"]) == keras_counts[keras.layers.Add]
    convolutions = [s for s in shapes if s.kind.endswith("convolution") or s.kind.startswith("first")]
    assert len(convolutions) == keras_counts[keras.layers.Conv2D]
    (stem,) = by_kind["first convolution (3 channels)"]
    assert (stem.height, stem.channels_in, stem.stride, stem.pad) == (128, 3, 2, 1)  # explicit padding, stride 2
    # MobileNetV2 downsamples 4 times in its blocks (to strides 4, 8, 16, 32), each a padded stride-2 depthwise.
    assert len(by_kind["depthwise 3x3, stride 2 (+ its pad)"]) == 4
    assert all(s.pad == 1 for s in by_kind["depthwise 3x3, stride 2 (+ its pad)"])  # symmetric, explicit
    assert all(s.pad in (1, -1) for s in depthwise)  # explicit, or "same" inside the op: never unpadded
    assert all(s.channels_in == s.channels_out for s in depthwise)


def test_one_layer_models_run_in_float_and_int8(op_kinds):
    from facessd_archive.evaluate.quantize import tensor_types

    rng = np.random.default_rng(0)
    for shape in (op_kinds.LayerShape("depthwise 3x3, stride 2 (+ its pad)", 16, 16, 8, 8, 3, 2, 1),
                  op_kinds.LayerShape("residual add", 8, 8, 4, 4, 0, 1, 0)):
        as_float, as_int8 = op_kinds.one_layer_models(shape, rng)
        assert "int8" not in tensor_types(as_float)
        assert tensor_types(as_int8).get("int8", 0) >= 2
        expected_hw = 8 if shape.stride == 2 else shape.height
        for model, dtype in ((as_float, np.float32), (as_int8, np.int8)):
            interpreter = op_kinds.ready_interpreter(model, 1)
            assert {d["dtype"] for d in interpreter.get_input_details()} == {dtype}
            interpreter.invoke()
            out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
            assert out.dtype == dtype and out.shape == (1, expected_hw, expected_hw, shape.channels_out)


@pytest.mark.slow
def test_script_times_the_first_layers_and_writes_json(op_kinds, tmp_path):
    out = tmp_path / "kinds.json"
    result = op_kinds.main(["--size", "128", "--limit", "2", "--rounds", "1", "--calls", "1", "--no-network",
                            "--threads", "1", "--out", str(out)])
    assert result["layers_timed"] == 2 and result["layer_shapes"] > 2
    assert [r["kind"] for r in result["per_layer"]] == ["first convolution (3 channels)", "depthwise 3x3, stride 1"]
    for row in result["per_layer"]:
        assert row["float_ms"] > 0 and row["int8_ms"] > 0 and row["count"] >= 1
    assert json.loads(out.read_text())["kinds"].keys() == result["kinds"].keys()


@pytest.mark.slow
def test_preset_network_is_timed_whole_in_float_and_int8(op_kinds):
    result = op_kinds.main(["--preset", "wider", "--depth-multiplier", "0.25", "--size", "64", "--limit", "1",
                            "--rounds", "1", "--calls", "1", "--threads", "1"])
    assert result["network"].startswith("--preset wider (random weights, ssd_mobilenet_v1, depth 0.25")
    assert result["network_ms"]["float"] > 0 and result["network_ms"]["int8"] > 0
    assert 0 < result["int8_model_bytes"]


def test_stage_and_preset_are_one_or_the_other(op_kinds):
    with pytest.raises(SystemExit):
        op_kinds.parse_args(["--stage", "keypoints/v1/wider_facemask_320_mnv2_2K", "--preset", "wider"])
