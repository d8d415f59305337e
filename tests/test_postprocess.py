"""Decode + NMS on a hand-made case: zero codes decode to the anchors themselves."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from facessd_archive.model.config import ModelConfig, PostprocessConfig
from facessd_archive.model.postprocess import postprocess

# A1 overlaps A0 with IoU 0.905; A2 is far away; A3 sticks out of the image (clipped on output).
ANCHORS = np.array([[0.10, 0.10, 0.50, 0.50],
                    [0.12, 0.10, 0.52, 0.50],
                    [0.70, 0.70, 0.90, 0.90],
                    [-0.10, 0.60, 0.30, 1.20]], np.float32)
# [background, face] logits. The background column is deliberately wild: it must be ignored.
LOGITS = np.array([[[-9.0, 2.0],    # sigmoid 0.881, suppressed by A1
                    [9.0, 3.0],     # sigmoid 0.953
                    [-9.0, 0.0],    # sigmoid 0.5
                    [100.0, -1.0]]], np.float32)  # sigmoid 0.269


def _run(config, logits=LOGITS, anchors=ANCHORS):
    enc = tf.zeros([1, anchors.shape[0], 4])
    return postprocess(enc, tf.constant(logits), tf.constant(anchors), config)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_hand_case_nms_order_clip_and_background():
    d = _run(ModelConfig())
    n = int(d.num_detections[0])
    assert n == 3
    assert d.boxes.shape == (1, 100, 4) and d.scores.shape == (1, 100) and d.classes.shape == (1, 100)
    np.testing.assert_allclose(d.scores.numpy()[0, :n], _sigmoid(np.array([3.0, 0.0, -1.0])), rtol=1e-6)
    np.testing.assert_allclose(d.boxes.numpy()[0, :n], [[0.12, 0.10, 0.52, 0.50],
                                                        [0.70, 0.70, 0.90, 0.90],
                                                        [0.00, 0.60, 0.30, 1.00]], atol=1e-6)
    assert d.classes.numpy()[0, :n].tolist() == [0, 0, 0]
    assert d.classes.dtype == tf.int32
    scores = d.scores.numpy()[0, :n]
    assert np.all(np.diff(scores) <= 0)
    np.testing.assert_array_equal(d.scores.numpy()[0, n:], 0.0)


def test_iou_threshold_from_the_config():
    loose = dataclasses.replace(ModelConfig(), postprocess=PostprocessConfig(iou_threshold=0.95))
    d = _run(loose)
    assert int(d.num_detections[0]) == 4  # IoU 0.905 < 0.95: both overlapping boxes kept


def test_max_detections_and_score_threshold():
    d = _run(dataclasses.replace(ModelConfig(), postprocess=PostprocessConfig(max_detections=2)))
    assert d.boxes.shape == (1, 2, 4)
    assert int(d.num_detections[0]) == 2
    np.testing.assert_allclose(d.scores.numpy()[0], _sigmoid(np.array([3.0, 0.0])), rtol=1e-6)
    d = _run(dataclasses.replace(ModelConfig(), postprocess=PostprocessConfig(score_threshold=0.3)))
    assert int(d.num_detections[0]) == 2


def test_decoding_uses_the_codes():
    # shift A2 by ty = 10 * 0.1 / 0.2 = 5 (half its height) with a non-zero code
    enc = np.zeros([1, 4, 4], np.float32)
    enc[0, 2, 0] = 5.0
    d = postprocess(tf.constant(enc), tf.constant(LOGITS), tf.constant(ANCHORS), ModelConfig())
    np.testing.assert_allclose(d.boxes.numpy()[0, 1], [0.8, 0.7, 1.0, 0.9], atol=1e-6)


def test_batches_are_independent_and_classes_are_per_class_nms():
    config = ModelConfig(num_classes=2, class_names=("face", "mask"))
    logits = np.array([[[0.0, 2.0, -9.0], [0.0, -9.0, 3.0], [0.0, -9.0, -9.0], [0.0, -9.0, -9.0]],
                       [[0.0, -9.0, -9.0], [0.0, -9.0, -9.0], [0.0, 1.0, -9.0], [0.0, -9.0, -9.0]]], np.float32)
    enc = tf.zeros([2, 4, 4])
    d = postprocess(enc, tf.constant(logits), tf.constant(ANCHORS), config)
    # image 0: A0 (class 0) and A1 (class 1) overlap but are different classes: both kept above 0.5.
    n0 = int((d.scores.numpy()[0] > 0.5).sum())
    assert n0 == 2
    assert d.classes.numpy()[0, :2].tolist() == [1, 0]
    assert int((d.scores.numpy()[1] > 0.5).sum()) == 1
    np.testing.assert_allclose(d.boxes.numpy()[1, 0], ANCHORS[2], atol=1e-6)
