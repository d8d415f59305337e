"""The faster_rcnn box coder: round trip, a hand-computed code, guards."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from facessd_archive.model import box_coder

SCALES = (10.0, 10.0, 5.0, 5.0)


def _random_boxes(rng, n):
    yc, xc = rng.uniform(0.0, 1.0, (2, n))
    h, w = rng.uniform(0.01, 0.9, (2, n))
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1).astype(np.float32)


def test_round_trip_random_boxes():
    rng = np.random.default_rng(0)
    boxes = _random_boxes(rng, 500)
    anchors = _random_boxes(rng, 500)
    codes = box_coder.encode(tf.constant(boxes), tf.constant(anchors), SCALES)
    assert codes.shape == (500, 4)
    back = box_coder.decode(codes, tf.constant(anchors), SCALES).numpy()
    np.testing.assert_allclose(back, boxes, atol=1e-5)


def test_round_trip_broadcasts_batch_against_anchors():
    rng = np.random.default_rng(1)
    anchors = _random_boxes(rng, 7)
    boxes = np.stack([_random_boxes(rng, 7), _random_boxes(rng, 7)])  # [2, 7, 4]
    codes = box_coder.encode(tf.constant(boxes), tf.constant(anchors)[None], SCALES)
    assert codes.shape == (2, 7, 4)
    np.testing.assert_allclose(box_coder.decode(codes, tf.constant(anchors)[None], SCALES).numpy(), boxes,
                               atol=1e-5)


def test_hand_computed_encoding():
    # anchor: centre (0.5, 0.5), h = w = 0.2; box: centre (0.55, 0.7), h 0.2, w 0.4
    anchor = tf.constant([[0.4, 0.4, 0.6, 0.6]])
    box = tf.constant([[0.45, 0.5, 0.65, 0.9]])
    codes = box_coder.encode(box, anchor, SCALES).numpy()[0]
    # [ty, tx, th, tw] = [10*0.05/0.2, 10*0.2/0.2, 5*log(1), 5*log(2)]
    np.testing.assert_allclose(codes, [2.5, 10.0, 0.0, 5 * math.log(2)], atol=1e-5)


def test_other_scales_change_the_code_linearly():
    anchor = tf.constant([[0.4, 0.4, 0.6, 0.6]])
    box = tf.constant([[0.45, 0.5, 0.65, 0.9]])
    codes = box_coder.encode(box, anchor, (1.0, 2.0, 3.0, 4.0)).numpy()[0]
    np.testing.assert_allclose(codes, [0.25, 2.0, 0.0, 4 * math.log(2)], atol=1e-5)


def test_zero_code_decodes_to_the_anchor():
    anchors = tf.constant([[0.1, 0.2, 0.3, 0.6], [-0.2, -0.3, 1.2, 1.3]])
    np.testing.assert_allclose(box_coder.decode(tf.zeros([2, 4]), anchors, SCALES).numpy(), anchors.numpy(),
                               atol=1e-7)


def test_zero_size_box_and_anchor_stay_finite():
    anchor = tf.constant([[0.4, 0.4, 0.6, 0.6], [0.5, 0.5, 0.5, 0.5]])
    box = tf.constant([[0.5, 0.5, 0.5, 0.5], [0.4, 0.4, 0.6, 0.6]])
    codes = box_coder.encode(box, anchor, SCALES).numpy()
    assert np.all(np.isfinite(codes))
    # zero-size box: th = 5 * log(EPSILON / (0.2 + EPSILON))
    np.testing.assert_allclose(codes[0, 2], 5 * math.log(1e-8 / 0.2), rtol=1e-4)
    np.testing.assert_allclose(codes[0, :2], [0.0, 0.0], atol=1e-6)


def test_exp_is_capped_so_huge_codes_stay_finite():
    anchor = tf.constant([[0.4, 0.4, 0.6, 0.6]])
    boxes = box_coder.decode(tf.constant([[0.0, 0.0, 1e4, 1e4]]), anchor, SCALES).numpy()[0]
    assert np.all(np.isfinite(boxes))
    cap = 1000.0 / 16.0
    np.testing.assert_allclose([boxes[2] - boxes[0], boxes[3] - boxes[1]], [0.2 * cap, 0.2 * cap], rtol=1e-5)
    # centre unchanged
    np.testing.assert_allclose([(boxes[0] + boxes[2]) / 2, (boxes[1] + boxes[3]) / 2], [0.5, 0.5], atol=1e-5)
    assert math.isclose(box_coder.MAX_LOG_SCALE, math.log(62.5))


def test_codes_just_below_the_cap_are_not_clipped():
    anchor = tf.constant([[0.4, 0.4, 0.6, 0.6]])
    th = 5 * 4.0  # exp(4) = 54.6 < 62.5
    boxes = box_coder.decode(tf.constant([[0.0, 0.0, th, 0.0]]), anchor, SCALES).numpy()[0]
    np.testing.assert_allclose(boxes[2] - boxes[0], 0.2 * math.exp(4.0), rtol=1e-5)
