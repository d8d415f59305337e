"""The int8 TFLite runtime: an int8 graph (all int8 with ``float_stem=False``; by default all but the
stem, the input normalisation and first convolution), detections that agree with the float model, a
disk cache keyed by model + options + calibration, the NMS cap, and a one-line refusal where TFLite
is missing.

The model is the archive's default stage (real trained weights, whatever stage that is) rebuilt
at a 256-pixel fixed square: agreement between int8 and float means something only where the
weights were trained. Calibration uses 24 training images (facemask ``train.txt`` when
``../shared`` is present, else the synthetic sample benchmark); agreement is checked on held-out
photos (facemask ``val.txt``, else other synthetic scenes).

Stated tolerance: every float detection scoring at least 0.5 has an int8 detection of IoU >= 0.8
whose score is within 0.1, on every image (measured on the WIDER-trained default at 256: IoU
>= 0.94, scores within 0.035).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate import quantize
from facessd_archive.evaluate.quantize import (CalibrationSet, Int8Options, calibration_set, int8_cache_path,
                                               int8_model_bytes, tensor_types)
from facessd_archive.evaluate.resizing import ResizePolicy, prepare
from facessd_archive.evaluate.runtimes import make_runtime
from facessd_archive.evaluate.tflite_runtime import TFLiteRuntime, make_interpreter

SIDE = 256
CALIBRATION = 24
SCORE_FLOOR, MIN_IOU, SCORE_TOL = 0.5, 0.8, 0.1


@pytest.fixture(scope="module")
def stage_folder(tmp_path_factory) -> Path:
    from facessd_archive.archive import open_archive, stage_weights_folder

    archive = open_archive(Path(__file__).resolve().parents[1])
    return stage_weights_folder(archive.default_stage().stage_id, archive=archive)


@pytest.fixture(scope="module")
def policy() -> ResizePolicy:
    return ResizePolicy("keep_aspect", SIDE, SIDE, 32, pad_to_square=True)


@pytest.fixture(scope="module")
def detector(stage_folder):
    from facessd_archive.model.checkpoint import load_detector

    return load_detector(stage_folder, input_size=SIDE)


@pytest.fixture(scope="module")
def calibration(policy, tmp_path_factory) -> CalibrationSet:
    if quantize.default_facemask_root() is None:
        import facessd_archive.data.synthetic.benchmark as synthetic

        cache = tmp_path_factory.mktemp("synthetic")
        original = synthetic.sample_benchmark
        samples = original(cache_dir=cache)
        synthetic.sample_benchmark = lambda *a, **k: samples  # the set made once, in this test's folder
        try:
            return calibration_set(policy, CALIBRATION)
        finally:
            synthetic.sample_benchmark = original
    return calibration_set(policy, CALIBRATION)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("facessd-cache") / "tflite"


@pytest.fixture(scope="module")
def int8_model(detector, calibration, cache_dir) -> bytes:
    return int8_model_bytes(detector, options=Int8Options(calibration_images=CALIBRATION), cache_dir=cache_dir,
                            calibration=calibration)


@pytest.fixture(scope="module")
def held_out(policy, tmp_path_factory) -> np.ndarray:
    """Six photos the calibration did not see, prepared as at inference: [6, S, S, 3]."""
    from facessd_archive.data.images import load_rgb

    root = quantize.default_facemask_root()
    if root is not None:
        names = [line.strip() for line in (root / "val.txt").read_text().splitlines() if line.strip()][:6]
        paths = [root / "images" / f"{n}.jpg" for n in names]
    else:
        from facessd_archive.data.synthetic.benchmark import sample_benchmark

        paths = [s.image_path for s in sample_benchmark(cache_dir=tmp_path_factory.mktemp("s2"))[-6:]]
    return np.stack([prepare(load_rgb(p), policy) for p in paths])


@pytest.fixture(scope="module")
def tiny():
    """A tiny random-weight detector and a 4-image random calibration set: for graph structure only."""
    from facessd_archive.model.config import face_config
    from facessd_archive.model.detector import SSDDetector

    detector = SSDDetector(face_config(input_size=96, depth_multiplier=0.25))
    rng = np.random.default_rng(0)
    batches = [rng.uniform(0, 255, (1, 96, 96, 3)).astype(np.float32) for _ in range(4)]
    return detector, CalibrationSet("random 4", 4, lambda: iter(batches)), batches


def test_the_int8_graph_is_all_int8(tiny):
    """``float_stem=False``: float only at the edges: one QUANTIZE after the float input, one
    DEQUANTIZE per float output; every other op reads and writes int8 (int32 only for biases and
    shape arithmetic)."""
    detector, calibration, _ = tiny
    model = quantize.convert_to_int8(detector, calibration, Int8Options(4, float_stem=False))
    interpreter, _ = make_interpreter(model, 1)
    dtypes = {t["index"]: np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    float_tensors = {i for i, d in dtypes.items() if d == "float32"}
    assert len(float_tensors) == 3  # images in, box encodings and logits out
    compute_ops = 0
    for op in interpreter._get_ops_details():
        ins = [dtypes[i] for i in op["inputs"] if i >= 0]
        outs = [dtypes[i] for i in op["outputs"] if i >= 0]
        if op["op_name"] == "QUANTIZE":
            assert ins == ["float32"] and outs == ["int8"]
        elif op["op_name"] == "DEQUANTIZE":
            assert ins == ["int8"] and outs == ["float32"]
        elif op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            compute_ops += 1
            assert ins[:2] == ["int8", "int8"] and ins[2:] in ([], ["int32"]) and outs == ["int8"], op
        else:
            assert "float32" not in ins + outs, op
    assert compute_ops >= 20
    types = tensor_types(model)
    assert types["int8"] > types.get("int32", 0) and types["float32"] == 3


def test_the_default_int8_graph_keeps_only_the_stem_float(tiny):
    """Default ``float_stem``: the normalisation and the first convolution run in float (XNNPACK's
    direct kernel for 3-channel input), then one QUANTIZE; every later op is int8 up to the outputs."""
    detector, calibration, batches = tiny
    model = quantize.convert_to_int8(detector, calibration, Int8Options(4))
    interpreter, _ = make_interpreter(model, 1)
    dtypes = {t["index"]: np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    first_quantize = next(k for k, op in enumerate(ops) if op["op_name"] == "QUANTIZE")
    stem, rest = ops[:first_quantize], ops[first_quantize + 1:]
    assert [op["op_name"] for op in stem].count("CONV_2D") == 1 and stem[-1]["op_name"] == "CONV_2D"
    assert all(dtypes[i] == "float32" for op in stem for i in op["outputs"])
    assert dtypes[ops[first_quantize]["inputs"][0]] == "float32" and dtypes[ops[first_quantize]["outputs"][0]] == "int8"
    convs = 0
    for op in rest:
        ins = [dtypes[i] for i in op["inputs"] if i >= 0]
        outs = [dtypes[i] for i in op["outputs"] if i >= 0]
        if op["op_name"] == "DEQUANTIZE":
            assert ins == ["int8"] and outs == ["float32"]
        else:
            assert "float32" not in ins + outs, op
            convs += op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")
    assert convs >= 20
    outputs = TFLiteRuntime(detector, model=model)(batches[0])
    assert outputs.boxes.shape[0] == 1 and np.isfinite(outputs.scores).all()


def test_int8_detections_agree_with_float(detector, int8_model, held_out, cache_dir):
    float_rt = TFLiteRuntime(detector, cache_dir=cache_dir)
    int8_rt = TFLiteRuntime(detector, model=int8_model, name="tflite-int8")
    assert int8_rt.model_size_bytes < float_rt.model_size_bytes / 2.5  # int8 weights: about 1/4
    a, b = float_rt(held_out), int8_rt(held_out)
    checked = 0
    for i in range(len(held_out)):
        na, nb = int(a.num_detections[i]), int(b.num_detections[i])
        strong = a.scores[i, :na] >= SCORE_FLOOR
        if not strong.any():
            continue
        boxes_a, scores_a = a.boxes[i, :na][strong], a.scores[i, :na][strong]
        iou = _iou_yxyx(boxes_a, b.boxes[i, :nb])
        best = iou.argmax(1)
        assert np.all(iou.max(1) >= MIN_IOU), (i, iou.max(1))
        assert np.all(np.abs(scores_a - b.scores[i, :nb][best]) <= SCORE_TOL), (i, scores_a, b.scores[i, best])
        checked += len(scores_a)
    assert checked >= 3  # the images hold faces the model finds


def _iou_yxyx(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    y0 = np.maximum(a[:, None, 0], b[None, :, 0])
    x0 = np.maximum(a[:, None, 1], b[None, :, 1])
    y1 = np.minimum(a[:, None, 2], b[None, :, 2])
    x1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-12)


def test_the_int8_model_is_cached_and_reused(detector, calibration, cache_dir, int8_model, monkeypatch):
    options = Int8Options(calibration_images=CALIBRATION)
    path = int8_cache_path(detector, calibration, options, cache_dir)
    assert path.is_file() and path.read_bytes() == int8_model

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again although the cache holds the model")

    monkeypatch.setattr(quantize, "convert_to_int8", no_conversion)
    assert int8_model_bytes(detector, options=options, cache_dir=cache_dir, calibration=calibration) == int8_model
    # Another calibration set or other options: another key, never the cached file.
    fewer = CalibrationSet(calibration.identity.replace(f"first {CALIBRATION}", "first 8"), 8, calibration.batches)
    assert int8_cache_path(detector, fewer, options, cache_dir) != path
    assert int8_cache_path(detector, calibration, Int8Options(CALIBRATION, float_heads=True), cache_dir) != path
    assert int8_cache_path(detector, calibration, Int8Options(CALIBRATION, float_stem=False), cache_dir) != path
    # A damaged cache file is converted again, not loaded.
    path.write_bytes(b"not a model")
    monkeypatch.undo()
    assert int8_model_bytes(detector, options=options, cache_dir=cache_dir, calibration=calibration)[4:8] == b"TFL3"


def test_calibration_needs_one_input_shape():
    with pytest.raises(ConfigError, match="int8 calibration needs one input shape"):
        calibration_set(ResizePolicy("keep_aspect", 640, None))
    with pytest.raises(ConfigError, match="calibration_images must be >= 1"):
        Int8Options(calibration_images=0)


def _without_tflite(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # `import` of these now raises ImportError
    monkeypatch.setitem(sys.modules, "tensorflow.lite.python.interpreter", None)


def test_tflite_int8_is_refused_in_one_line_without_tflite(monkeypatch, detector):
    _without_tflite(monkeypatch)
    with pytest.raises(ConfigError) as info:
        make_runtime(detector, "tflite-int8")
    message = str(info.value)
    assert "\n" not in message and "need a TFLite interpreter" in message and "--runtime tf" in message


def test_cli_refuses_tflite_int8_without_tflite(monkeypatch, stage_folder):
    from click.testing import CliRunner

    from facessd_archive.cli import main

    _without_tflite(monkeypatch)
    result = CliRunner().invoke(main, ["evaluate", str(stage_folder), "--runtime", "tflite-int8", "--max-side", "256"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "TFLite interpreter" in lines[0], result.output


def test_float_heads_keeps_only_the_box_predictors_float(tiny):
    """The fix for accuracy lost in the heads: their convolutions (and what follows them) run in
    float through selective quantization; the backbone stays int8 (stem too, with ``float_stem=False``)."""
    tiny, calibration, batches = tiny
    model = quantize.convert_to_int8(tiny, calibration, Int8Options(4, float_heads=True, float_stem=False))
    interpreter, _ = make_interpreter(model, 1)
    dtypes = {t["index"]: np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    convs = [(dtypes[op["inputs"][0]]) for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"]
    heads = 2 * 6  # a box and a class predictor per feature map
    assert convs.count("float32") == heads and convs.count("int8") == len(convs) - heads > 10
    outputs = TFLiteRuntime(tiny, model=model)(batches[0])
    assert outputs.boxes.shape[0] == 1 and np.isfinite(outputs.scores).all()


def test_a_smaller_nms_cap_keeps_the_same_best_detections(detector, held_out, cache_dir):
    """NMS keeps boxes in descending score order, so a cap of 100 gives the first 100 of the
    stage's own cap (750 on the WIDER presets): what COCO's mAP and AR@100 read."""
    own = TFLiteRuntime(detector, cache_dir=cache_dir)
    capped = TFLiteRuntime(detector, cache_dir=cache_dir, max_detections=100)
    assert own.max_detections == detector.config.postprocess.max_detections and capped.max_detections == 100
    a, b = own(held_out), capped(held_out)
    assert b.boxes.shape[1] == 100
    for i in range(len(held_out)):
        n = int(b.num_detections[i])
        assert n == min(int(a.num_detections[i]), 100)
        np.testing.assert_array_equal(b.scores[i, :n], a.scores[i, :n])
        np.testing.assert_array_equal(b.boxes[i, :n], a.boxes[i, :n])
    capped.max_detections = own.max_detections  # settable: back to the model's own post-processing
    assert np.array_equal(capped(held_out).scores, a.scores)
    with pytest.raises(ConfigError, match="max_detections must be >= 1"):
        capped.max_detections = 0
    with pytest.raises(ConfigError, match="applies to the TFLite runtimes"):
        make_runtime(detector, "tf", max_detections=100)
