"""``facessd export``: the SavedModel and TFLite files, reloaded and run on real photos, give the stage's detections.

A tiny sealed stage (64x64, depth 0.25, random weights with spread scores); the reference is the
stage loaded as ``facessd detect`` loads it, on the photo resized as ``detect`` resizes it.

A tiny keep-aspect stage (the ``wider`` preset at 64, depth 0.25, ``max_dimension`` 96) exports at
one padded square; its reference is the TF runtime on the same padded square
(``resizing.fixed_square`` policy, anchors of that grid), boxes compared in original pixels.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from facessd_archive.archive import Archive, Training
from facessd_archive.cli import main
from facessd_archive.errors import ConfigError
from facessd_archive.model.checkpoint import export_compact, load_detector
from facessd_archive.evaluate.resizing import ResizePolicy, prepare
from facessd_archive.evaluate.runner import SSDBatchDetector
from facessd_archive.evaluate.tf_runtime import TFRuntime
from facessd_archive.model.config import face_config, wider_face_config
from facessd_archive.model.detector import SSDDetector
from facessd_archive.odapi.export import (export_policy, export_saved_model, export_tflite, int8_option,
                                          label_map_text, padded_input_shape, tflite_export_info)
from odapi_helpers import randomise
from test_odapi_import import FACEMASK_ROOT, FIXTURE_IMAGES

SIZE = 64
STAGE = "keypoints/v1/tiny_export"
BOX_TOL, SCORE_TOL = 1e-3, 1e-4


def photos(count: int = 3) -> list[np.ndarray]:
    """Real photos at their own sizes, uint8: facemask's when present, else the VOC fixture's."""
    from PIL import Image

    folder = FACEMASK_ROOT / "images" if (FACEMASK_ROOT / "images").is_dir() else FIXTURE_IMAGES
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))[:count]
    return [np.asarray(Image.open(p).convert("RGB"), np.uint8) for p in paths]


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    detector = SSDDetector(face_config(input_size=SIZE, depth_multiplier=0.25))
    randomise(detector, seed=11)
    export_compact(detector, root / "weights")  # float16, as stages ship
    archive = Archive(root / "archive")
    archive.seal(STAGE, root / "weights", detector.config, Training(input_size=SIZE, steps=1))
    return root, load_detector(archive.get(STAGE).folder)


@pytest.fixture(scope="module")
def reference(stage):
    """The stage's own detections per photo: boxes [D, 4] normalised yxyx, scores [D]."""
    detector = stage[1]
    out = []
    for image in photos():
        det = detector.detect(tf.image.resize(tf.cast(image[None], tf.float32), [SIZE, SIZE]))
        n = int(det.num_detections[0])
        out.append((det.boxes.numpy()[0, :n], det.scores.numpy()[0, :n], det.classes.numpy()[0, :n]))
    assert min(len(r[1]) for r in out) > 5 and max(np.ptp(r[1][:10]) for r in out) > 0.05  # not trivial
    return out


def _export(stage, *args) -> Path:
    root = stage[0]
    out = root / "out" / "_".join(args)
    result = CliRunner().invoke(main, ["export", STAGE, "--out", str(out), "--archive", str(root / "archive"),
                                       *args])
    assert result.exit_code == 0, result.output
    return out


def _agree(boxes, scores, ref_boxes, ref_scores, score_tol=SCORE_TOL) -> float:
    """Max box difference after matching each box to the nearest of the other set (near-tied scores may swap)."""
    assert len(scores) == len(ref_scores)
    np.testing.assert_allclose(scores, ref_scores, atol=score_tol)
    diff = np.abs(boxes[:, None, :] - ref_boxes[None, :, :]).max(-1)
    worst = max(diff.min(1).max(), diff.min(0).max())
    assert worst < BOX_TOL
    return float(worst)


def test_saved_model_serving_default_gives_the_stages_detections(stage, reference):
    out = _export(stage, "--format", "saved_model")
    assert (out / "label_map.pbtxt").read_text() == label_map_text(("face",))
    model = tf.saved_model.load(str(out / "saved_model"))
    serve = model.signatures["serving_default"]
    (spec,) = serve.structured_input_signature[1].values()
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [1, None, None, 3]
    assert set(serve.structured_outputs) == {"detection_boxes", "detection_scores", "detection_classes",
                                             "num_detections"}
    for image, (ref_boxes, ref_scores, ref_classes) in zip(photos(), reference):
        got = {k: v.numpy() for k, v in serve(input_tensor=tf.constant(image[None])).items()}
        n = int(got["num_detections"][0])
        assert got["detection_classes"].dtype == np.float32
        np.testing.assert_array_equal(got["detection_classes"][0, :n], ref_classes + 1)  # label-map ids
        _agree(got["detection_boxes"][0, :n], got["detection_scores"][0, :n], ref_boxes, ref_scores)


@pytest.mark.parametrize("flags", [(), ("--float16",)])
def test_tflite_detection_postprocess_gives_the_stages_detections(stage, reference, flags):
    out = _export(stage, "--format", "tflite", *flags)
    assert (out / "labels.txt").read_text() == "face\n"
    interpreter = tf.lite.Interpreter(model_path=str(out / "model.tflite"))
    interpreter.allocate_tensors()
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    assert ops.count("TFLite_Detection_PostProcess") == 1
    (inp,) = interpreter.get_input_details()
    assert inp["dtype"] == np.float32 and list(inp["shape"]) == [1, SIZE, SIZE, 3]
    outputs = interpreter.get_output_details()
    assert [list(o["shape"]) for o in outputs] == [[1, 100, 4], [1, 100], [1, 100], [1]]  # boxes, classes, scores, n
    for image, (ref_boxes, ref_scores, ref_classes) in zip(photos(), reference):
        resized = tf.image.resize(tf.cast(image[None], tf.float32), [SIZE, SIZE]).numpy()
        interpreter.set_tensor(inp["index"], (resized * (2.0 / 255.0) - 1.0).astype(np.float32))
        interpreter.invoke()
        boxes, classes, scores, count = (interpreter.get_tensor(o["index"]) for o in outputs)
        n = int(count[0])
        np.testing.assert_array_equal(classes[0, :n], ref_classes)  # 0-based, as the op gives them
        # The op does not clip boxes to the image (facessd's NMS does): clip to compare.
        # float16 rounds the convolutions after batch norm is folded in: scores move by a few 1e-4.
        _agree(np.clip(boxes[0, :n], 0.0, 1.0), scores[0, :n], ref_boxes, ref_scores,
               score_tol=2e-3 if flags else SCORE_TOL)


def test_max_detections_caps_both_formats_to_the_stages_best_boxes(stage, reference):
    """``--max-detections 5``: five outputs, the stage's five best (NMS keeps boxes best first), recorded."""
    cap = 5
    lite_dir = _export(stage, "--format", "tflite", "--max-detections", str(cap))
    assert json.loads((lite_dir / "export.json").read_text())["max_detections"] == cap
    interpreter = tf.lite.Interpreter(model_path=str(lite_dir / "model.tflite"))
    interpreter.allocate_tensors()
    (inp,), outputs = interpreter.get_input_details(), interpreter.get_output_details()
    assert [list(o["shape"]) for o in outputs] == [[1, cap, 4], [1, cap], [1, cap], [1]]
    saved_dir = _export(stage, "--format", "saved_model", "--max-detections", str(cap))
    assert json.loads((saved_dir / "export.json").read_text())["max_detections"] == cap
    serve = tf.saved_model.load(str(saved_dir / "saved_model")).signatures["serving_default"]
    for image, (ref_boxes, ref_scores, _) in zip(photos(), reference):
        resized = tf.image.resize(tf.cast(image[None], tf.float32), [SIZE, SIZE]).numpy()
        interpreter.set_tensor(inp["index"], (resized * (2.0 / 255.0) - 1.0).astype(np.float32))
        interpreter.invoke()
        boxes, _, scores, count = (interpreter.get_tensor(o["index"]) for o in outputs)
        assert int(count[0]) == cap
        _agree(np.clip(boxes[0], 0.0, 1.0), scores[0], ref_boxes[:cap], ref_scores[:cap])
        got = {k: v.numpy() for k, v in serve(input_tensor=tf.constant(image[None])).items()}
        assert got["detection_boxes"].shape == (1, cap, 4) and int(got["num_detections"][0]) == cap
        _agree(got["detection_boxes"][0], got["detection_scores"][0], ref_boxes[:cap], ref_scores[:cap])
    full = json.loads((_export(stage, "--format", "tflite") / "export.json").read_text())
    assert full["max_detections"] == stage[1].config.postprocess.max_detections  # the stage's own by default


def test_what_cannot_be_exported_is_refused(stage):
    root = stage[0]
    result = CliRunner().invoke(main, ["export", STAGE, "--format", "saved_model", "--float16", "--out",
                                       str(root / "x"), "--archive", str(root / "archive")])
    assert result.exit_code == 2 and "--float16 applies to --format tflite" in result.output
    result = CliRunner().invoke(main, ["export", "keypoints/v1/nope", "--format", "tflite", "--out",
                                       str(root / "x"), "--archive", str(root / "archive")])
    assert result.exit_code == 2 and "keypoints/v1/nope" in result.output
    # --max-side is for stages that keep the aspect ratio: one line, nothing written
    result = CliRunner().invoke(main, ["export", STAGE, "--format", "tflite", "--max-side", "96", "--out",
                                       str(root / "never"), "--archive", str(root / "archive")])
    assert result.exit_code == 2 and not (root / "never").exists()
    assert "--max-side applies to stages that keep the aspect ratio" in result.output
    assert len(result.output.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="--max-side applies"):
        export_saved_model(stage[1], root / "never", max_side=96)
    assert not (root / "never").exists()


def test_square_export_records_its_input(stage):
    out = _export(stage, "--format", "saved_model")
    info = json.loads((out / "export.json").read_text())
    assert info["input_side"] == SIZE and info["resize"].startswith(f"squashed to {SIZE}x{SIZE}")
    assert "max_side" not in info and info["stage"] == STAGE


# ---- stages that keep the aspect ratio: one padded square ---------------------------------------------

WIDE_STAGE = "keypoints/v1/tiny_wide_export"
WIDE_MAX = 96  # the stage's resizer max_dimension: the default max side


def wide_photos() -> list[np.ndarray]:
    """Non-square real photos: the fixtures' 100x50 and 64x48, and one facemask photo when present."""
    from PIL import Image

    bench = Path(__file__).parent / "fixtures" / "benchmarks"
    paths = [bench / "openimages" / "validation" / "000a1249af2bc5f0.jpg",
             bench / "wider" / "WIDER_val" / "images" / "0--Parade" / "0_Parade_marchingband_1_5.jpg"]
    if (FACEMASK_ROOT / "images").is_dir():
        paths += sorted(p for p in (FACEMASK_ROOT / "images").iterdir() if p.suffix.lower() in (".jpg", ".png"))[:1]
    images = [np.asarray(Image.open(p).convert("RGB"), np.uint8) for p in paths]
    assert all(im.shape[0] != im.shape[1] for im in images)
    return images


@pytest.fixture(scope="module")
def wide_stage(tmp_path_factory):
    root = tmp_path_factory.mktemp("export_wide")
    config = wider_face_config(input_size=SIZE, depth_multiplier=0.25)
    config = dataclasses.replace(config, resizer=dataclasses.replace(config.resizer, max_dimension=WIDE_MAX))
    detector = SSDDetector(config)
    randomise(detector, seed=5)
    for layer in detector.network.layers:  # the FPN saturates randomise's class logits: spread scores 0.15-0.75
        if layer.name.endswith("ClassPredictor"):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 0.15, bias])
    export_compact(detector, root / "weights")
    archive = Archive(root / "archive")
    archive.seal(WIDE_STAGE, root / "weights", config, Training(input_size=SIZE, steps=1))
    folder = archive.get(WIDE_STAGE).folder
    # the reference: the TF runtime (any-shape network) on the same padded square
    runtime = TFRuntime(load_detector(folder, input_shape=(None, None)))
    return root, load_detector(folder), runtime


def _wide_reference(wide_stage, max_side: int) -> tuple[ResizePolicy, list]:
    policy = export_policy(wide_stage[1].config, max_side)
    detector = SSDBatchDetector(wide_stage[2], "tf", policy=policy)
    refs = [detector.detect_batch([image])[0][0] for image in wide_photos()]
    assert min(len(r.scores) for r in refs) > 5 and max(np.ptp(r.scores[:10]) for r in refs) > 0.01  # not trivial (0.044 on the fixture photos alone)
    return policy, refs


def _wide_export(wide_stage, *args) -> Path:
    root = wide_stage[0]
    out = root / "out" / "_".join(args)
    result = CliRunner().invoke(main, ["export", WIDE_STAGE, "--out", str(out), "--archive", str(root / "archive"),
                                       *args])
    assert result.exit_code == 0, result.output
    return out


def test_keep_aspect_policy_and_graph_sizes():
    wide = wider_face_config(input_size=SIZE, depth_multiplier=0.25)
    assert wide.resizer.max_dimension == 0
    policy = export_policy(wide)  # no max_dimension: 640
    assert (policy.kind, policy.max_side, policy.square_side, policy.pad_to_square) == ("keep_aspect", 640, 640, True)
    assert export_policy(wide, 100).square_side == 128  # rounded up to a multiple of 32
    limited = dataclasses.replace(wide, resizer=dataclasses.replace(wide.resizer, max_dimension=200))
    assert export_policy(limited).max_side == 200 and export_policy(limited, 96).max_side == 96
    with pytest.raises(ConfigError, match=">= 33"):
        export_policy(wide, 20)
    square = face_config(input_size=SIZE)
    assert export_policy(square) == ResizePolicy("square", SIZE)
    with pytest.raises(ConfigError, match="--max-side applies to stages that keep the aspect ratio"):
        export_policy(square, 96)
    # the graph's resized sizes are resizing.ResizePolicy.input_shape's, rounding halves included
    for max_side in (96, 640):
        p = export_policy(wide, max_side)
        for h, w in [(50, 100), (48, 64), (1, 2000), (2000, 3), (95, 97), (1080, 1920), (401, 640), (641, 399),
                     (333, 1000), (250, 1000), (97, 96), (64, 64), (3000, 1001), (150, 120)]:
            rh, rw = padded_input_shape(tf.constant(h), tf.constant(w), p)
            assert (int(rh), int(rw)) == p.input_shape(h, w)[:2], (h, w, max_side)


@pytest.mark.parametrize("max_side", [None, 48])
def test_keep_aspect_saved_model_gives_the_tf_runtimes_detections_in_original_pixels(wide_stage, max_side):
    args = ("--format", "saved_model") + (("--max-side", str(max_side)) if max_side else ())
    out = _wide_export(wide_stage, *args)
    policy, refs = _wide_reference(wide_stage, max_side or WIDE_MAX)
    info = json.loads((out / "export.json").read_text())
    assert info["max_side"] == policy.max_side and info["input_side"] == policy.square_side
    serve = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    (spec,) = serve.structured_input_signature[1].values()
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [1, None, None, 3]
    for image, ref in zip(wide_photos(), refs):
        got = {k: v.numpy() for k, v in serve(input_tensor=tf.constant(image[None])).items()}
        n = int(got["num_detections"][0])
        boxes = got["detection_boxes"][0, :n]
        assert boxes.min() >= 0.0 and boxes.max() <= 1.0  # normalised to the image, not to the padded square
        h, w = image.shape[:2]
        pixels = (boxes * [h, w, h, w])[:, [1, 0, 3, 2]]  # -> [xmin, ymin, xmax, ymax], as the runtime gives
        np.testing.assert_array_equal(got["detection_classes"][0, :n], 1.0)
        _agree(pixels, got["detection_scores"][0, :n], ref.boxes, ref.scores)  # 1e-3 pixels


def _run_tflite(path: Path, image: np.ndarray, policy: ResizePolicy) -> tuple[np.ndarray, np.ndarray]:
    """What an app does: resize and pad (resizing.prepare), normalise, run, map boxes back by S / scale."""
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    s = policy.square_side
    assert list(inp["shape"]) == [1, s, s, 3]
    interpreter.set_tensor(inp["index"], (prepare(image, policy)[None] * (2.0 / 255.0) - 1.0).astype(np.float32))
    interpreter.invoke()
    boxes, classes, scores, count = (interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details())
    n = int(count[0])
    h, w = image.shape[:2]
    rh, rw, _, _ = policy.input_shape(h, w)
    sy, sx = s * h / rh, s * w / rw  # normalised to the padded square -> the image's pixels
    pixels = np.clip(boxes[0, :n] * [sy, sx, sy, sx], 0.0, [h, w, h, w])[:, [1, 0, 3, 2]]
    return pixels, scores[0, :n]


def test_keep_aspect_tflite_takes_the_padded_square_and_gives_the_tf_runtimes_detections(wide_stage):
    out = _wide_export(wide_stage, "--format", "tflite")  # default: the stage's max_dimension
    policy, refs = _wide_reference(wide_stage, WIDE_MAX)
    info = json.loads((out / "export.json").read_text())
    assert tflite_export_info((out / "model.tflite").read_bytes()) == info
    assert info["max_side"] == WIDE_MAX and info["input_side"] == policy.square_side and info["stage"] == WIDE_STAGE
    assert "padded" in info["boxes"] and info["format"] == "tflite"
    for image, ref in zip(wide_photos(), refs):
        pixels, scores = _run_tflite(out / "model.tflite", image, policy)
        _agree(pixels, scores, ref.boxes, ref.scores)  # 1e-3 pixels


def test_keep_aspect_int8_calibrates_on_the_padded_square(wide_stage, tmp_path):
    detector = wide_stage[1]
    path = export_tflite(detector, tmp_path, options=[int8_option(detector, 64, count=4)], max_side=64)
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 64, 64, 3]
    dtypes = {t["index"]: np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    convs = [op for op in interpreter._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert len(convs) > 20 and all(dtypes[op["inputs"][0]] == "int8" for op in convs)
    pixels, scores = _run_tflite(path, wide_photos()[0], export_policy(detector.config, 64))
    assert len(scores) > 0 and np.all(np.isfinite(pixels))
