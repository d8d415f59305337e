"""Per-anchor losses on hand cases, the hard example miner, and normalisation by matches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from facessd_archive.model.config import HardMinerConfig, LossConfig
from facessd_archive.model.losses import (
    focal_classification_loss,
    hard_example_mask,
    sigmoid_classification_loss,
    smooth_l1_loss,
    ssd_loss,
)

SCALES = (10.0, 10.0, 5.0, 5.0)


def _softplus(x):
    return math.log1p(math.exp(x))


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_sigmoid_classification_hand_case():
    logits = tf.constant([[[0.0, 2.0], [1.0, -3.0]]])
    one_hot = tf.constant([[[1.0, 0.0], [0.0, 1.0]]])
    got = sigmoid_classification_loss(logits, one_hot).numpy()
    # CE(x, 1) = softplus(-x), CE(x, 0) = softplus(x), summed over the K logits
    want = [[math.log(2) + _softplus(2.0), _softplus(1.0) + _softplus(3.0)]]
    assert got.shape == (1, 2)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_focal_hand_case():
    logits = tf.constant([[[0.0, 1.0]]])
    one_hot = tf.constant([[[0.0, 1.0]]])
    got = focal_classification_loss(logits, one_hot, alpha=0.75, gamma=2.0).numpy()
    p1 = _sigmoid(1.0)
    # background logit 0, target 0: (1-alpha) * p^2 * CE = 0.25 * 0.25 * log 2
    # face logit 1, target 1: alpha * (1-p)^2 * -log p
    want = 0.25 * 0.25 * math.log(2) + 0.75 * (1 - p1) ** 2 * -math.log(p1)
    np.testing.assert_allclose(got, [[want]], rtol=1e-6)


def test_focal_with_gamma_0_is_alpha_weighted_cross_entropy():
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(2, 5, 3)).astype(np.float32))
    one_hot = tf.one_hot(rng.integers(0, 3, size=(2, 5)), 3)
    focal = focal_classification_loss(logits, one_hot, alpha=0.5, gamma=0.0).numpy()
    np.testing.assert_allclose(focal, 0.5 * sigmoid_classification_loss(logits, one_hot).numpy(), rtol=1e-5)


def test_focal_down_weights_easy_examples():
    one_hot = tf.constant([[[0.0, 1.0], [0.0, 1.0]]])
    logits = tf.constant([[[-5.0, 5.0], [5.0, -5.0]]])  # easy, hard
    focal = focal_classification_loss(logits, one_hot, 0.75, 2.0).numpy()[0]
    ce = sigmoid_classification_loss(logits, one_hot).numpy()[0]
    assert focal[0] / ce[0] < 1e-4 < focal[1] / ce[1]


def test_smooth_l1_both_branches():
    pred = tf.constant([[[0.5, 0.0, 2.0, -3.0]]])
    target = tf.zeros([1, 1, 4])
    # |d| < 1: 0.5 d^2; else |d| - 0.5
    np.testing.assert_allclose(smooth_l1_loss(pred, target).numpy(), [[0.125 + 0.0 + 1.5 + 2.5]], rtol=1e-6)
    # delta 2: 0.5 * 1.5^2 and 2 * (3 - 1)
    pred = tf.constant([[[1.5, 3.0, 0.0, 0.0]]])
    np.testing.assert_allclose(smooth_l1_loss(pred, target, delta=2.0).numpy(), [[1.125 + 4.0]], rtol=1e-6)
    # continuity at |d| == delta
    np.testing.assert_allclose(smooth_l1_loss(tf.constant([[[1.0, 0, 0, 0]]]), target).numpy(), [[0.5]])


def _spread_boxes(n, batch=1):
    """n small boxes side by side (no overlap), so the miner's NMS keeps them all."""
    boxes = np.array([[0.0, i / n, 0.5 / n, i / n + 0.5 / n] for i in range(n)], np.float32)
    return np.broadcast_to(boxes, (batch, n, 4)).copy()


LOSSES = np.array([[0.5, 0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.05, 0.6, 0.4]], np.float32)


def test_hard_miner_keeps_positives_and_3_negatives_per_positive_by_loss():
    pos = np.zeros((1, 10), bool)
    pos[0, 1] = True  # a positive with a low loss is still kept
    mask = hard_example_mask(tf.constant(LOSSES), tf.constant(_spread_boxes(10)), tf.constant(pos),
                             HardMinerConfig()).numpy()
    # the three highest-loss negatives: 0.9 (2), 0.8 (4), 0.7 (6)
    assert np.flatnonzero(mask[0]).tolist() == [1, 2, 4, 6]


def test_hard_miner_ratio_and_min_negatives():
    pos = np.zeros((1, 10), bool)
    pos[0, [1, 7]] = True
    mask = hard_example_mask(tf.constant(LOSSES), tf.constant(_spread_boxes(10)), tf.constant(pos),
                             HardMinerConfig(max_negatives_per_positive=1.0)).numpy()
    assert np.flatnonzero(mask[0]).tolist() == [1, 2, 4, 7]
    none = np.zeros((1, 10), bool)
    mask = hard_example_mask(tf.constant(LOSSES), tf.constant(_spread_boxes(10)), tf.constant(none),
                             HardMinerConfig()).numpy()
    assert mask.sum() == 0  # min_negatives_per_image 0: an image without faces contributes nothing
    mask = hard_example_mask(tf.constant(LOSSES), tf.constant(_spread_boxes(10)), tf.constant(none),
                             HardMinerConfig(min_negatives_per_image=2)).numpy()
    assert np.flatnonzero(mask[0]).tolist() == [2, 4]


def test_hard_miner_is_per_image():
    losses = np.stack([LOSSES[0], LOSSES[0][::-1]])
    pos = np.zeros((2, 10), bool)
    pos[1, 0] = True
    mask = hard_example_mask(tf.constant(losses), tf.constant(_spread_boxes(10, 2)), tf.constant(pos),
                             HardMinerConfig()).numpy()
    assert mask[0].sum() == 0
    # image 1 losses reversed: 0.9 at 7, 0.8 at 5, 0.7 at 3
    assert np.flatnonzero(mask[1]).tolist() == [0, 3, 5, 7]


def test_hard_miner_nms_suppresses_duplicate_boxes():
    boxes = _spread_boxes(4)
    boxes[0, 1] = boxes[0, 0]  # anchor 1 predicts the same box as anchor 0 (IoU 1 > 0.99)
    losses = np.array([[0.9, 0.8, 0.7, 0.6]], np.float32)
    pos = np.array([[False, False, False, True]])
    mask = hard_example_mask(tf.constant(losses), tf.constant(boxes), tf.constant(pos), HardMinerConfig()).numpy()
    assert np.flatnonzero(mask[0]).tolist() == [0, 2, 3]


def _targets(labels, cls_w, loc_w, codes):
    return {"labels": tf.constant(labels, tf.int32), "classification_weights": tf.constant(cls_w, tf.float32),
            "localization_weights": tf.constant(loc_w, tf.float32), "box_codes": tf.constant(codes, tf.float32)}


def test_ssd_loss_normalised_by_number_of_matches():
    # 2 images x 3 anchors, 2 logits; 3 positives in the batch.
    logits = tf.constant([[[0.0, 0.0], [0.0, 2.0], [1.0, 0.0]],
                          [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    enc = tf.constant([[[0.5, 0, 0, 0], [0, 0, 0, 0], [9, 9, 9, 9]],
                       [[0, 0, 0, 2.0], [0, 0, 0, 0], [0, 0, 0, 0]]])
    targets = _targets(labels=[[1, 1, 0], [1, 0, 0]], cls_w=[[1, 1, 1], [1, 1, 0]], loc_w=[[1, 1, 0], [1, 0, 0]],
                       codes=np.zeros((2, 3, 4)))
    cls = sigmoid_classification_loss(logits, tf.one_hot(targets["labels"], 2)).numpy() * [[1, 1, 1], [1, 1, 0]]
    terms = ssd_loss(enc, logits, targets, tf.constant(_spread_boxes(3)[0]),
                     LossConfig(hard_example_miner=None), SCALES)
    assert float(terms.num_matches) == 3.0
    np.testing.assert_allclose(float(terms.classification), cls.sum() / 3, rtol=1e-6)
    # loc: 0.125 (image 0 anchor 0) + 1.5 (image 1 anchor 0); anchor with codes 9 has weight 0
    np.testing.assert_allclose(float(terms.localization), (0.125 + 1.5) / 3, rtol=1e-6)


def test_ssd_loss_weights_no_normalisation_and_zero_matches():
    logits = tf.zeros([1, 2, 2])
    enc = tf.zeros([1, 2, 4])
    targets = _targets([[0, 0]], [[1, 1]], [[0, 0]], np.zeros((1, 2, 4)))
    anchors = tf.constant(_spread_boxes(2)[0])
    terms = ssd_loss(enc, logits, targets, anchors, LossConfig(hard_example_miner=None), SCALES)
    assert float(terms.num_matches) == 0.0
    np.testing.assert_allclose(float(terms.classification), 4 * math.log(2), rtol=1e-6)  # normaliser max(0, 1)
    config = LossConfig(hard_example_miner=None, classification_weight=2.0, normalize_by_num_matches=False)
    targets = _targets([[1, 1]], [[1, 1]], [[1, 1]], np.zeros((1, 2, 4)))
    terms = ssd_loss(enc, logits, targets, anchors, config, SCALES)
    np.testing.assert_allclose(float(terms.classification), 2.0 * 4 * math.log(2), rtol=1e-6)


def test_ssd_loss_focal_option():
    logits = tf.constant([[[0.0, 1.0]]])
    targets = _targets([[1]], [[1]], [[1]], np.zeros((1, 1, 4)))
    terms = ssd_loss(tf.zeros([1, 1, 4]), logits, targets, tf.constant(_spread_boxes(1)[0]),
                     LossConfig(classification="focal", hard_example_miner=None), SCALES)
    want = focal_classification_loss(logits, tf.constant([[[0.0, 1.0]]]), 0.75, 2.0).numpy().sum()
    np.testing.assert_allclose(float(terms.classification), want, rtol=1e-6)


def test_ssd_loss_with_miner_counts_only_mined_negatives():
    n = 10
    # anchor 0 positive (label 1); negatives' background-target loss grows with their face logit.
    face_logits = np.array([3.0, -1.0, 4.0, 0.0, 3.5, -2.0, 2.0, -3.0, 1.0, 0.5], np.float32)
    logits = np.stack([np.zeros(n, np.float32), face_logits], axis=-1)[None]
    labels = np.zeros((1, n), np.int32)
    labels[0, 0] = 1
    targets = _targets(labels, np.ones((1, n)), (labels > 0).astype(np.float32), np.zeros((1, n, 4)))
    per_anchor = sigmoid_classification_loss(tf.constant(logits), tf.one_hot(labels, 2)).numpy()[0]
    terms = ssd_loss(tf.zeros([1, n, 4]), tf.constant(logits), targets, tf.constant(_spread_boxes(n)[0]),
                     LossConfig(), SCALES)
    # kept: the positive and the 3 negatives with the highest face logits (4.0, 3.5, 2.0)
    np.testing.assert_allclose(float(terms.classification), per_anchor[[0, 2, 4, 6]].sum() / 1, rtol=1e-6)
    assert float(terms.num_matches) == 1.0


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_ssd_loss_accepts_half_precision_outputs(dtype):
    logits = tf.cast(tf.zeros([1, 2, 2]), dtype)
    enc = tf.cast(tf.zeros([1, 2, 4]), dtype)
    targets = _targets([[1, 0]], [[1, 1]], [[1, 0]], np.zeros((1, 2, 4)))
    terms = ssd_loss(enc, logits, targets, tf.constant(_spread_boxes(2)[0]), LossConfig(), SCALES)
    assert terms.classification.dtype == tf.float32
    np.testing.assert_allclose(float(terms.classification), 4 * math.log(2), rtol=1e-6)
