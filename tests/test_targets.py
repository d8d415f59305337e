"""IoU, the argmax matcher and per-anchor targets on hand-made anchors."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from facessd_archive.model import box_coder
from facessd_archive.model.config import MatcherConfig, ModelConfig
from facessd_archive.model.targets import IGNORED, NEGATIVE, argmax_match, assign_targets, iou


def _xband(x0, x1):
    """A full-height box spanning [x0, x1]: IoU between such boxes is interval overlap / union."""
    return [0.0, x0, 1.0, x1]


# Anchors whose IoU with the gt box _xband(0, 0.5) is 1, 0.6, 0.45, 0.3 and 0.
ANCHORS = np.array([_xband(0.0, 0.5), _xband(0.0, 0.3), _xband(0.0, 0.225), _xband(0.0, 0.15),
                    _xband(0.6, 1.0)], np.float32)
GT = np.array([_xband(0.0, 0.5)], np.float32)

CONFIG_54 = ModelConfig(matcher=MatcherConfig(matched_threshold=0.5, unmatched_threshold=0.4))


def _targets(anchors, gt, config, labels=None, ignore=None):
    gt = np.asarray(gt, np.float32).reshape(-1, 4)
    labels = np.ones(len(gt), np.int32) if labels is None else np.asarray(labels, np.int32)
    ignore = np.zeros(len(gt), bool) if ignore is None else np.asarray(ignore, bool)
    return assign_targets(tf.constant(anchors), tf.constant(gt), tf.constant(labels), tf.constant(ignore), config)


def test_iou_hand_values():
    a = tf.constant([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    b = tf.constant([[0.0, 0.0, 0.5, 1.0], [2.0, 2.0, 3.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(iou(a, b).numpy(), [[0.5, 0.0, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)
    np.testing.assert_allclose(iou(tf.constant(GT), tf.constant(ANCHORS)).numpy(), [[1.0, 0.6, 0.45, 0.3, 0.0]],
                               atol=1e-6)


def test_thresholds_positive_ignored_negative():
    sim = tf.constant([[0.6, 0.5, 0.45, 0.4, 0.39, 0.0]])
    m = argmax_match(sim, 0.5, 0.4, force_match_for_each_row=False).numpy()
    # >= 0.5 positive, [0.4, 0.5) ignored, < 0.4 negative
    assert m.tolist() == [0, 0, IGNORED, IGNORED, NEGATIVE, NEGATIVE]
    m = argmax_match(sim, 0.5, 0.5, force_match_for_each_row=False).numpy()
    assert m.tolist() == [0, 0, NEGATIVE, NEGATIVE, NEGATIVE, NEGATIVE]


def test_each_anchor_takes_its_best_ground_truth():
    sim = tf.constant([[0.9, 0.1, 0.55],
                       [0.2, 0.7, 0.6]])
    assert argmax_match(sim, 0.5, 0.5, False).numpy().tolist() == [0, 1, 1]


def test_force_match_gives_a_low_iou_gt_its_best_anchor():
    sim = tf.constant([[0.9, 0.0, 0.0, 0.0],
                       [0.0, 0.1, 0.2, 0.05]])  # row 1's best IoU is 0.2
    assert argmax_match(sim, 0.5, 0.5, False).numpy().tolist() == [0, NEGATIVE, NEGATIVE, NEGATIVE]
    assert argmax_match(sim, 0.5, 0.5, True).numpy().tolist() == [0, NEGATIVE, 1, NEGATIVE]


def test_force_match_overrides_an_ignored_or_other_match():
    sim = tf.constant([[0.8, 0.6, 0.0],
                       [0.0, 0.3, 0.1]])  # row 1's best column is 1, which row 0 wins on IoU
    assert argmax_match(sim, 0.5, 0.5, True).numpy().tolist() == [0, 1, NEGATIVE]


def test_tie_rules_first_row_wins():
    # Per-anchor argmax tie: the lower gt index.
    assert argmax_match(tf.constant([[0.6], [0.6]]), 0.5, 0.5, False).numpy().tolist() == [0]
    # Two rows force-claiming the same column: the first row wins (OD API one-hot argmax).
    sim = tf.constant([[0.3, 0.1],
                       [0.4, 0.2]])
    assert argmax_match(sim, 0.5, 0.5, True).numpy().tolist() == [0, NEGATIVE]
    # Within a row, ties between columns go to the first column.
    sim = tf.constant([[0.2, 0.2, 0.1]])
    assert argmax_match(sim, 0.5, 0.5, True).numpy().tolist() == [0, NEGATIVE, NEGATIVE]


def test_zero_ground_truth_all_negative():
    m = argmax_match(tf.zeros([0, 5]), 0.5, 0.4, True).numpy()
    assert m.tolist() == [NEGATIVE] * 5
    t = _targets(ANCHORS, np.zeros([0, 4]), CONFIG_54)
    assert t.matches.numpy().tolist() == [NEGATIVE] * 5
    assert t.labels.numpy().tolist() == [0] * 5
    assert t.classification_weights.numpy().tolist() == [1.0] * 5
    assert t.localization_weights.numpy().tolist() == [0.0] * 5
    np.testing.assert_array_equal(t.box_codes.numpy(), np.zeros([5, 4]))


def test_assign_targets_with_05_04_thresholds():
    t = _targets(ANCHORS, GT, CONFIG_54)
    # IoUs 1, 0.6, 0.45, 0.3, 0
    assert t.matches.numpy().tolist() == [0, 0, IGNORED, NEGATIVE, NEGATIVE]
    assert t.labels.numpy().tolist() == [1, 1, 0, 0, 0]
    assert t.classification_weights.numpy().tolist() == [1.0, 1.0, 0.0, 1.0, 1.0]
    assert t.localization_weights.numpy().tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    np.testing.assert_array_equal(t.box_codes.numpy()[2:], np.zeros([3, 4]))
    assert t.box_codes.dtype == tf.float32 and t.labels.dtype == tf.int32


def test_default_thresholds_make_045_negative():
    t = _targets(ANCHORS, GT, ModelConfig())
    assert t.matches.numpy().tolist() == [0, 0, NEGATIVE, NEGATIVE, NEGATIVE]
    assert t.classification_weights.numpy().tolist() == [1.0] * 5


def test_positive_codes_decode_back_to_the_gt():
    gt = np.array([_xband(0.0, 0.5), [0.6, 0.6, 0.9, 1.0]], np.float32)
    anchors = np.concatenate([ANCHORS, [[0.55, 0.6, 0.95, 1.0]]]).astype(np.float32)
    t = _targets(anchors, gt, ModelConfig(), labels=[1, 1])
    pos = t.localization_weights.numpy() > 0
    assert pos.tolist() == [True, True, False, False, False, True]
    decoded = box_coder.decode(t.box_codes, tf.constant(anchors), ModelConfig().box_coder.as_tuple()).numpy()
    matched = gt[np.maximum(t.matches.numpy(), 0)]
    np.testing.assert_allclose(decoded[pos], matched[pos], atol=1e-5)


def test_force_match_in_targets_low_iou_box_still_trained():
    # gt spans x 0..0.03: its best anchor (x 0..0.15) has IoU 0.2 only.
    gt = [_xband(0.0, 0.03)]
    t = _targets(ANCHORS, gt, ModelConfig())
    np.testing.assert_allclose(iou(tf.constant(gt), tf.constant(ANCHORS)).numpy().max(), 0.2, atol=1e-6)
    assert t.matches.numpy().tolist() == [NEGATIVE, NEGATIVE, NEGATIVE, 0, NEGATIVE]
    assert t.localization_weights.numpy().tolist() == [0, 0, 0, 1, 0]
    assert t.labels.numpy().tolist() == [0, 0, 0, 1, 0]
    decoded = box_coder.decode(t.box_codes[3], tf.constant(ANCHORS[3]), ModelConfig().box_coder.as_tuple())
    np.testing.assert_allclose(decoded.numpy(), gt[0], atol=1e-5)


def test_no_force_match_leaves_a_low_iou_box_unmatched():
    config = ModelConfig(matcher=MatcherConfig(force_match_for_each_row=False))
    t = _targets(ANCHORS, [_xband(0.0, 0.03)], config)
    assert t.matches.numpy().tolist() == [NEGATIVE] * 5


def test_ignored_gt_gives_zero_weights_to_its_anchors_only():
    gt = np.array([_xband(0.0, 0.5), _xband(0.6, 1.0)], np.float32)
    t = _targets(ANCHORS, gt, ModelConfig(), ignore=[False, True])
    assert t.matches.numpy().tolist() == [0, 0, NEGATIVE, NEGATIVE, 1]
    assert t.classification_weights.numpy().tolist() == [1, 1, 1, 1, 0]
    assert t.localization_weights.numpy().tolist() == [1, 1, 0, 0, 0]
    assert t.labels.numpy().tolist() == [1, 1, 0, 0, 0]


def test_labels_carry_the_matched_class():
    gt = np.array([_xband(0.0, 0.5), _xband(0.6, 1.0)], np.float32)
    config = ModelConfig(num_classes=3, class_names=("a", "b", "c"))
    t = _targets(ANCHORS, gt, config, labels=[3, 2])
    assert t.labels.numpy().tolist() == [3, 3, 0, 0, 2]


def test_assign_targets_runs_in_a_graph_with_unknown_g():
    anchors = tf.constant(ANCHORS)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def run(gt):
        g = tf.shape(gt)[0]
        return assign_targets(anchors, gt, tf.ones([g], tf.int32), tf.zeros([g], tf.bool), ModelConfig()).matches

    assert run(tf.zeros([0, 4])).numpy().tolist() == [NEGATIVE] * 5
    assert run(tf.constant(GT)).numpy().tolist() == [0, 0, NEGATIVE, NEGATIVE, NEGATIVE]
