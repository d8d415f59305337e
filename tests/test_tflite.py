"""TFLiteRuntime: same detections as the TF runtime, an on-disk cache keyed by config + weights.

One small detector (96x96, depth 0.25) with He-normal random kernels and sharpened class
logits, so scores spread from ~0 to ~1 and boxes move with the image: agreement on the
default random init would be trivial (every score 0.01, every box its anchor).
"""

from __future__ import annotations

import numpy as np
import pytest

from facessd_archive.data.sample import Sample
from facessd_archive.errors import ConfigError
from facessd_archive.evaluate import tflite_runtime
from facessd_archive.evaluate.coco_metrics import ImageDetections, compute_coco_metrics
from facessd_archive.evaluate.runtimes import make_runtime
from facessd_archive.evaluate.tf_runtime import TFRuntime
from facessd_archive.evaluate.tflite_runtime import TFLiteRuntime, model_key
from facessd_archive.model.config import face_config
from facessd_archive.model.detector import SSDDetector

SIZE = 96


def _randomise(detector: SSDDetector, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for v in detector.network.weights:
        if v.path.endswith("kernel"):
            shape = tuple(v.shape)
            fan_in = int(np.prod(shape[:2])) if "depthwise" in v.path else int(np.prod(shape[:-1]))
            v.assign(rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32))
    for layer in detector.network.layers:
        if layer.name.endswith("ClassPredictor"):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 8.0, np.zeros_like(bias)])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """``<root>/tflite``, the layout ``$FACESSD_CACHE=<root>`` gives."""
    return tmp_path_factory.mktemp("facessd-cache") / "tflite"


@pytest.fixture(scope="module")
def detector():
    d = SSDDetector(face_config(input_size=SIZE, depth_multiplier=0.25))
    _randomise(d)
    return d


@pytest.fixture(scope="module")
def lite(detector, cache_dir):
    return TFLiteRuntime(detector, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 255, (3, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def tf_out(detector, images):
    return TFRuntime(detector)(images)


def _assert_same_detections(a, b, box_tol=1e-3, score_tol=1e-4):
    np.testing.assert_array_equal(a.num_detections, b.num_detections)
    for i, n in enumerate(a.num_detections):
        n = int(n)
        np.testing.assert_allclose(a.scores[i, :n], b.scores[i, :n], atol=score_tol)  # both sorted descending
        # Near-tied scores may swap ranks: match each box to the nearest of the other runtime's.
        diff = np.abs(a.boxes[i, :n, None, :] - b.boxes[i, None, :n, :]).max(-1)
        assert diff.min(1).max() < box_tol and diff.min(0).max() < box_tol


def test_the_test_model_is_not_trivial(tf_out):
    scores = tf_out.scores[:, :int(tf_out.num_detections.min())]
    assert scores.max() > 0.9 and scores.min() < 0.5  # a spread, not the 0.01 prior everywhere
    assert np.ptp(tf_out.boxes[0, :10], axis=0).max() > 0.05


def test_tflite_gives_the_tf_detections(lite, tf_out, images):
    assert lite.name == "tflite" and lite.input_size == SIZE
    _assert_same_detections(tf_out, lite(images))


def test_every_batch_mode_and_batch_size_agree(detector, cache_dir, lite, images, tf_out):
    assert lite.batch_mode == "parallel"  # the default: the batch split over one-thread interpreters
    for mode in ("resize", "loop"):
        _assert_same_detections(tf_out, TFLiteRuntime(detector, batch_mode=mode, cache_dir=cache_dir)(images))
    one = lite(images[1:2])  # one image (the multi-threaded interpreter): the same as its row in the batch
    np.testing.assert_allclose(one.boxes[0], lite(images).boxes[1], atol=1e-6)


def test_raw_outputs_match_the_keras_network(detector, lite, images):
    boxes, logits = lite.raw_outputs(images)
    raw = detector.predict_raw(images)
    np.testing.assert_allclose(boxes, raw["box_encodings"].numpy(), atol=1e-4)
    np.testing.assert_allclose(logits, raw["class_logits"].numpy(), atol=1e-4)


def test_same_map_as_tf(lite, tf_out, images):
    """Ground truth = the TF detections above 0.6; both runtimes must score the same to 3 decimals."""
    samples, sizes, tf_dets, lite_dets = [], [], [], []
    lite_out = lite(images)
    for i in range(len(images)):
        n = int(tf_out.num_detections[i])
        def px(out):
            b = out.boxes[i, :n] * SIZE
            return ImageDetections(b[:, [1, 0, 3, 2]].astype(np.float32), out.scores[i, :n])
        truth = px(tf_out).boxes[tf_out.scores[i, :n] > 0.6][:5]
        samples.append(Sample(image_path=f"img{i}.jpg", boxes=truth, ignore=np.zeros(len(truth), bool),
                              image_id=str(i)))
        sizes.append((SIZE, SIZE))
        tf_dets.append(px(tf_out))
        lite_dets.append(px(lite_out))
    m_tf = compute_coco_metrics(samples, tf_dets, sizes).metrics
    m_lite = compute_coco_metrics(samples, lite_dets, sizes).metrics
    assert m_tf["DetectionBoxes_Precision/mAP@.50IOU"] > 0.5
    for name in m_tf:
        assert round(m_tf[name], 3) == round(m_lite[name], 3), name


def test_xnnpack_is_applied(lite):
    assert lite.xnnpack
    assert lite.backend in ("ai_edge_litert", "tf.lite")


def test_cache_is_reused_without_converting(detector, cache_dir, lite, monkeypatch):
    files = list(cache_dir.glob("*.tflite"))
    assert [f.name for f in files] == [f"{model_key(detector)}.tflite"]
    assert not list(cache_dir.glob("*.incomplete"))

    def no_conversion(_detector):
        raise AssertionError("converted although the cache holds the model")

    monkeypatch.setattr(tflite_runtime, "convert_to_tflite", no_conversion)
    assert TFLiteRuntime(detector, cache_dir=cache_dir).model_size_bytes == files[0].stat().st_size


def test_cache_root_follows_facessd_cache_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("FACESSD_CACHE", str(tmp_path / "c"))
    assert tflite_runtime.cache_root() == tmp_path / "c"
    monkeypatch.delenv("FACESSD_CACHE")
    assert tflite_runtime.cache_root().parts[-2:] == (".cache", "facessd")


def test_a_corrupt_cache_file_is_converted_again(detector, cache_dir, lite, monkeypatch, tmp_path):
    good = (cache_dir / f"{model_key(detector)}.tflite").read_bytes()
    calls = []
    monkeypatch.setattr(tflite_runtime, "convert_to_tflite", lambda d: calls.append(1) or good)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    (bad_dir / f"{model_key(detector)}.tflite").write_bytes(b"\0" * 64)
    runtime = TFLiteRuntime(detector, cache_dir=bad_dir)
    assert calls == [1] and runtime.model_size_bytes == len(good)
    assert (bad_dir / f"{model_key(detector)}.tflite").read_bytes() == good


def test_an_unwritable_cache_warns_and_still_runs(detector, cache_dir, lite, monkeypatch, tmp_path, images):
    good = (cache_dir / f"{model_key(detector)}.tflite").read_bytes()
    monkeypatch.setattr(tflite_runtime, "convert_to_tflite", lambda d: good)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.warns(UserWarning, match="cannot cache the TFLite model"):
        runtime = TFLiteRuntime(detector, cache_dir=blocker / "tflite")
    assert int(runtime(images[:1]).num_detections[0]) > 0


def test_the_key_changes_with_weights_and_config(detector):
    key = model_key(detector)
    v = detector.network.weights[0]
    old = v.numpy()
    v.assign(old + 1e-3)
    try:
        assert model_key(detector) != key
    finally:
        v.assign(old)
    assert model_key(detector) == key
    other = SSDDetector(face_config(input_size=SIZE, depth_multiplier=0.25))
    other.network.set_weights(detector.network.get_weights())
    assert model_key(other) == key  # same config, same weights
    import dataclasses
    other.config = dataclasses.replace(other.config, postprocess=dataclasses.replace(
        other.config.postprocess, iou_threshold=0.6))
    assert model_key(other) != key


def test_bad_settings_and_inputs_are_refused(detector, lite):
    with pytest.raises(ConfigError, match="batch_mode must be one of"):
        TFLiteRuntime(detector, batch_mode="threads")
    with pytest.raises(ConfigError, match="num_threads must be >= 1"):
        TFLiteRuntime(detector, num_threads=0)
    with pytest.raises(ValueError, match=r"expected images \[B >= 1, 96, 96, 3\]"):
        lite(np.zeros((1, 64, 64, 3), np.float32))


def test_make_runtime_builds_it_from_the_facessd_cache(detector, cache_dir, lite, monkeypatch):
    monkeypatch.setenv("FACESSD_CACHE", str(cache_dir.parent))
    monkeypatch.setattr(tflite_runtime, "convert_to_tflite", lambda d: pytest.fail("cache miss"))
    assert isinstance(make_runtime(detector, "tflite"), TFLiteRuntime)


def test_tf_lite_interpreter_is_the_fallback(detector, cache_dir, lite, images, monkeypatch):
    """Without ai_edge_litert (not a dependency) TF's own, deprecated interpreter runs the same model."""
    import sys

    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    fallback = TFLiteRuntime(detector, cache_dir=cache_dir)
    assert fallback.backend == "tf.lite" and fallback.xnnpack
    a, b = lite(images), fallback(images)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-6)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)


def test_make_runtime_names_the_choices(detector):
    assert isinstance(make_runtime(detector, "tf"), TFRuntime)
    with pytest.raises(ConfigError, match="unknown runtime 'onnx': choose one of tf, tflite"):
        make_runtime(detector, "onnx")


def _evaluate_imports(module: str) -> set[str]:
    """The ``facessd_archive.evaluate`` modules ``module`` imports anywhere in its source (lazy imports too)."""
    import ast
    from pathlib import Path

    import facessd_archive.evaluate as package

    tree = ast.parse((Path(package.__file__).parent / f"{module}.py").read_text())
    names = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    names |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return {n.rsplit(".", 1)[1] for n in names if n.startswith("facessd_archive.evaluate.")}


def test_runtime_modules_import_downward_only():
    """``runtime`` (the interface) imports no runtime; each runtime imports only it; ``runtimes`` picks."""
    runtime_modules = {"runtime", "tf_runtime", "tflite_runtime", "runtimes"}
    assert _evaluate_imports("runtime") & runtime_modules == set()
    assert _evaluate_imports("tf_runtime") & runtime_modules == {"runtime"}
    assert _evaluate_imports("tflite_runtime") & runtime_modules == {"runtime"}
    assert _evaluate_imports("runtimes") & runtime_modules == {"runtime", "tf_runtime", "tflite_runtime"}
