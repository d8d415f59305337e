"""The in-the-wild detector: pixel anchors per stride, a stride-8 FPN level, any input shape, ignore regions."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.resizing import ResizePolicy, prepare, resize_policy, to_pixels
from facessd_archive.model.anchors import anchors_for, generate_anchors
from facessd_archive.model.config import (AnchorConfig, FeatureMapConfig, ModelConfig, feature_map_shapes,
                                          wider_face_config)
from facessd_archive.model.detector import SSDDetector
from facessd_archive.model.ssd import feature_map_grids
from facessd_archive.model.targets import assign_targets
from facessd_archive.train.settings import TrainSettings
from facessd_archive.train.trainer import make_optimizer, make_train_step

TINY = wider_face_config(input_size=64, depth_multiplier=0.25)


def test_multiscale_anchors_by_hand():
    """One level (stride 8) on a 16x24 input, anchor_scale 1.5, one scale, ar 1: 12-pixel squares
    centred at 4 and 12 px down, 4, 12 and 20 px across."""
    cfg = AnchorConfig(kind="multiscale", num_layers=1, min_level=3, max_level=3, anchor_scale=1.5,
                       scales_per_octave=1, aspect_ratios=(1.0,))
    a = generate_anchors(cfg, [(2, 3)], image_shape=(16, 24))
    pixels = a * np.array([16, 24, 16, 24], np.float32)
    expected = [[cy - 6, cx - 6, cy + 6, cx + 6] for cy in (4, 12) for cx in (4, 12, 20)]
    np.testing.assert_allclose(pixels, expected, atol=1e-4)


def test_multiscale_anchor_sizes_per_level_and_octave():
    a = anchors_for(wider_face_config(512), image_shape=(512, 512)) * 512
    sizes = sorted({round(float(s), 2) for s in (a[:, 2] - a[:, 0])})
    # 1.5 * 2**l * {1, sqrt 2} for l = 3..7
    assert sizes == pytest.approx(sorted(1.5 * 2 ** l * f for l in range(3, 8) for f in (1, 2 ** 0.5)), abs=0.01)


def test_wider_config_counts_and_round_trips():
    c = wider_face_config(512)
    assert feature_map_shapes(512, 512, c.feature_maps) == [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    assert anchors_for(c).shape == (2 * (64 * 64 + 32 * 32 + 16 * 16 + 8 * 8 + 4 * 4), 4)
    assert ModelConfig.from_json(c.to_json()) == c
    assert c.postprocess.max_detections >= 300  # crowds


def test_inconsistent_layouts_are_refused():
    with pytest.raises(ConfigError, match="must equal the number of feature maps"):
        dataclasses.replace(wider_face_config(), feature_maps=FeatureMapConfig(taps=(11, 13), extra_depths=(256,)))
    with pytest.raises(ConfigError, match="needs the first feature map at stride 8"):
        dataclasses.replace(wider_face_config(), feature_maps=FeatureMapConfig(taps=(11, 13), extra_depths=(256,) * 3))


@pytest.mark.parametrize("shape", [(64, 64), (480, 640), (96, 160)])
def test_anchors_follow_the_built_network_at_any_shape(shape):
    detector = SSDDetector(TINY, input_shape=shape)
    grids = feature_map_grids(detector.network, square=False)
    assert grids == feature_map_shapes(*shape, TINY.feature_maps)
    assert detector.network.outputs[0].shape[1] == detector.num_anchors == anchors_for(TINY, image_shape=shape).shape[0]


def test_non_square_input_trains_a_step_and_detects_at_its_own_shape():
    """640x480 builds with anchors for its real feature maps, trains one step, and a network built
    for any shape (same weights) gives the same detections at 640x480."""
    keras.utils.set_random_seed(0)
    h, w = 480, 640
    detector = SSDDetector(TINY, input_shape=(h, w))
    image = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    gt = tf.constant([[0.2, 0.3, 0.3, 0.38], [0.5, 0.5, 0.9, 0.8]], tf.float32)
    t = assign_targets(detector.anchors, gt, tf.constant([1, 1]), tf.constant([False, False]), TINY)
    assert int(tf.reduce_sum(t.localization_weights)) >= 2
    batch = {"images": tf.constant(image), "box_codes": t.box_codes[None], "labels": t.labels[None],
             "classification_weights": t.classification_weights[None],
             "localization_weights": t.localization_weights[None]}
    step = make_train_step(detector, make_optimizer(TrainSettings(steps=10, warmup_steps=0)))
    out = step(batch)
    assert np.isfinite(float(out["Loss/total_loss"]))
    anywhere = SSDDetector(TINY, input_shape=(None, None))
    for dst, src in zip(anywhere.network.weights, detector.network.weights):
        dst.assign(src)
    a = detector.detect(image)
    b = anywhere.detect(image, tf.constant(anywhere.anchors_for_shape(h, w)))
    np.testing.assert_allclose(a.scores.numpy(), b.scores.numpy(), atol=1e-5)
    np.testing.assert_allclose(a.boxes.numpy(), b.boxes.numpy(), atol=1e-5)


def test_ignored_face_gives_neither_positive_nor_negative_anchors():
    """A hand-made image: one face and one ignored face. Anchors matched to the ignored face carry
    no classification or localisation loss; those of the real face are positives."""
    config = wider_face_config(64)
    anchors = tf.constant(anchors_for(config))
    face = [8 / 64, 8 / 64, 20 / 64, 20 / 64]  # 12 px: an anchor of level 3
    ignored = [40 / 64, 40 / 64, 52 / 64, 52 / 64]
    t = assign_targets(anchors, tf.constant([face, ignored]), tf.constant([1, 1]), tf.constant([False, True]), config)
    matches = t.matches.numpy()
    on_ignored = matches == 1
    assert on_ignored.sum() >= 1
    assert (t.classification_weights.numpy()[on_ignored] == 0).all()
    assert (t.localization_weights.numpy()[on_ignored] == 0).all()
    on_face = matches == 0
    assert on_face.sum() >= 1 and (t.labels.numpy()[on_face] == 1).all()
    assert (t.localization_weights.numpy()[on_face] == 1).all()
    negatives = matches < 0
    assert (t.classification_weights.numpy()[negatives] == 1).all() and (t.labels.numpy()[negatives] == 0).all()


def test_resize_policies_map_boxes_back_to_original_pixels():
    config = wider_face_config(512)
    original = resize_policy(config)
    assert original.input_shape(683, 1024) == (683, 1024, 704, 1024)
    capped = resize_policy(config, max_side=640)
    assert capped.input_shape(683, 1024) == (427, 640, 448, 640)
    square = resize_policy(dataclasses.replace(ModelConfig(), input_size=300))
    assert square == ResizePolicy("square", 300)
    image = np.zeros((683, 1024, 3), np.uint8)
    assert prepare(image, capped).shape == (448, 640, 3)
    # A box covering the resized image's top-left quarter, in normalised padded coordinates.
    box = np.array([[0, 0, 427 / 448 / 2, 0.5]], np.float32)
    np.testing.assert_allclose(to_pixels(box, (683, 1024), capped), [[0, 0, 512, 341.5]], atol=0.01)
    with pytest.raises(ConfigError, match="not both"):
        resize_policy(config, max_side=640, original_size=True)


def test_the_wider_config_round_trips_through_a_sealed_stage_json(tmp_path):
    from archive_helpers import TRAINING, stage_files

    from facessd_archive.archive import Archive
    from facessd_archive.archive.manifest import Manifest

    config = wider_face_config(640)
    src = tmp_path / "src"
    stage_files(src)
    archive = Archive(tmp_path / "archive")
    stage = archive.seal("keypoints/v1/wider_tiny", src, config, TRAINING)
    assert stage.manifest.model_config == config
    again = Manifest.load(stage.folder / "stage.json")
    assert again.model_config == config and again.content_hash == stage.manifest.content_hash
    assert archive.get("keypoints/v1/wider_tiny").manifest.model_config.anchors.kind == "multiscale"


def test_fpn_upsampling_is_keras_nearest_and_one_xnnpack_graph_in_tflite():
    """NearestUpsample2x gives UpSampling2D(nearest)'s values exactly, and the converted network has
    no TILE (not an XNNPACK op: it split the delegated graph) but DEPTH_TO_SPACE (an XNNPACK op)."""
    from facessd_archive.evaluate.tflite_runtime import convert_to_tflite
    from facessd_archive.model.layers import NearestUpsample2x

    x = tf.random.stateless_normal([2, 5, 7, 3], seed=[1, 2])
    expected = keras.layers.UpSampling2D(2, interpolation="nearest")(x)
    np.testing.assert_array_equal(NearestUpsample2x()(x).numpy(), expected.numpy())
    assert NearestUpsample2x().compute_output_shape((None, None, 7, 3)) == (None, None, 14, 3)
    detector = SSDDetector(TINY)
    ops = [op["op_name"] for op in tf.lite.Interpreter(model_content=convert_to_tflite(detector))._get_ops_details()]
    maps = detector.config.feature_maps
    assert maps.fpn_depth > 0 and len(maps.taps) >= 2  # the wider preset has an FPN to upsample in
    assert "TILE" not in ops and ops.count("DEPTH_TO_SPACE") == len(maps.taps) - 1
