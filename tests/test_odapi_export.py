"""``facessd export``: the SavedModel and TFLite files, reloaded and run on real photos, give the stage's detections.

A tiny sealed stage (64x64, depth 0.25, random weights with spread scores); the reference is the
stage loaded as ``facessd detect`` loads it, on the photo resized as ``detect`` resizes it.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from facessd_archive.archive import Archive, Training
from facessd_archive.cli import main
from facessd_archive.errors import ConfigError
from facessd_archive.model.checkpoint import export_compact, load_detector
from facessd_archive.model.config import ResizerConfig, face_config
from facessd_archive.model.detector import SSDDetector
from facessd_archive.odapi.export import export_saved_model, label_map_text
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


def test_what_cannot_be_exported_is_refused(stage):
    # Only the config is looked at before refusing, so no network is built for this.
    keep_aspect = types.SimpleNamespace(config=types.SimpleNamespace(resizer=ResizerConfig(kind="keep_aspect_ratio")),
                                        dynamic=True)
    with pytest.raises(ConfigError, match="keeps the aspect ratio"):
        export_saved_model(keep_aspect, stage[0] / "never")
    assert not (stage[0] / "never").exists()
    root = stage[0]
    result = CliRunner().invoke(main, ["export", STAGE, "--format", "saved_model", "--float16", "--out",
                                       str(root / "x"), "--archive", str(root / "archive")])
    assert result.exit_code == 2 and "--float16 applies to --format tflite" in result.output
    result = CliRunner().invoke(main, ["export", "keypoints/v1/nope", "--format", "tflite", "--out",
                                       str(root / "x"), "--archive", str(root / "archive")])
    assert result.exit_code == 2 and "keypoints/v1/nope" in result.output
