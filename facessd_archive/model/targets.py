"""Matching ground truth to anchors and building per-anchor training targets.

The argmax matcher (OD API ``matchers/argmax_matcher.py``) gives each anchor a match code:
a ground-truth index >= 0, ``NEGATIVE`` (-1) or ``IGNORED`` (-2). Every ground-truth
box is then force-matched to its best anchor, so no face goes untrained.
Runs per image inside ``tf.data`` (plain ``tf`` ops; G may be 0).
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from facessd_archive.model import box_coder
from facessd_archive.model.config import ModelConfig

NEGATIVE = -1
IGNORED = -2


def iou(boxes_a: tf.Tensor, boxes_b: tf.Tensor) -> tf.Tensor:
    """Pairwise IoU of yxyx boxes ``[N, 4]`` x ``[M, 4]`` -> ``[N, M]`` (0 where the union is empty)."""
    ay0, ax0, ay1, ax1 = tf.split(boxes_a, 4, axis=-1)
    by0, bx0, by1, bx1 = [tf.transpose(t) for t in tf.split(boxes_b, 4, axis=-1)]
    ih = tf.maximum(0.0, tf.minimum(ay1, by1) - tf.maximum(ay0, by0))
    iw = tf.maximum(0.0, tf.minimum(ax1, bx1) - tf.maximum(ax0, bx0))
    inter = ih * iw
    union = (ay1 - ay0) * (ax1 - ax0) + (by1 - by0) * (bx1 - bx0) - inter
    return tf.math.divide_no_nan(inter, union)


def argmax_match(similarity: tf.Tensor, matched_threshold: float, unmatched_threshold: float,
                 force_match_for_each_row: bool = True) -> tf.Tensor:
    """Match codes ``[A]`` int32 for a ``[G, A]`` similarity matrix (rows: ground truth)."""
    num_anchors = tf.shape(similarity)[1]

    def no_ground_truth() -> tf.Tensor:
        return tf.fill([num_anchors], NEGATIVE)

    def with_ground_truth() -> tf.Tensor:
        matches = tf.argmax(similarity, axis=0, output_type=tf.int32)
        best = tf.reduce_max(similarity, axis=0)
        matches = tf.where(best < matched_threshold, IGNORED, matches)
        matches = tf.where(best < unmatched_threshold, NEGATIVE, matches)
        if force_match_for_each_row:
            # Each row claims its best column; where two rows claim one column the first row wins
            # (the OD API's argmax over a one-hot indicator matrix picks the first row too).
            num_rows = tf.shape(similarity)[0]
            best_col = tf.argmax(similarity, axis=1, output_type=tf.int32)  # [G]
            rows = tf.range(num_rows, dtype=tf.int32)
            claimed = tf.math.unsorted_segment_min(rows, best_col, num_anchors)  # [A]; int32 max where unclaimed
            matches = tf.where(claimed < num_rows, claimed, matches)
        return matches

    return tf.cond(tf.shape(similarity)[0] > 0, with_ground_truth, no_ground_truth)


class AnchorTargets(NamedTuple):
    """Per-anchor training targets for one image (A anchors)."""

    box_codes: tf.Tensor  # [A, 4] float32, zeros where unmatched
    labels: tf.Tensor  # [A] int32, 0 = background, 1..C = class
    classification_weights: tf.Tensor  # [A] float32, 0 for ignored anchors
    localization_weights: tf.Tensor  # [A] float32, 1 for positives
    matches: tf.Tensor  # [A] int32 match codes


def assign_targets(anchors: tf.Tensor, gt_boxes: tf.Tensor, gt_labels: tf.Tensor, gt_ignore: tf.Tensor,
                   config: ModelConfig) -> AnchorTargets:
    """Targets for one image. ``gt_boxes`` [G, 4] yxyx normalised, ``gt_labels`` [G] in 1..C,
    ``gt_ignore`` [G] bool: anchors matched to an ignored box (e.g. WIDER 'invalid') carry no loss."""
    m = config.matcher
    matches = argmax_match(iou(gt_boxes, anchors), m.matched_threshold, m.unmatched_threshold,
                           m.force_match_for_each_row)
    positive = matches >= 0
    safe = tf.maximum(matches, 0)
    has_gt = tf.shape(gt_boxes)[0] > 0
    matched_boxes = tf.cond(has_gt, lambda: tf.gather(gt_boxes, safe), lambda: tf.zeros_like(anchors))
    matched_labels = tf.cond(has_gt, lambda: tf.gather(gt_labels, safe), lambda: tf.zeros_like(safe))
    matched_ignore = tf.cond(has_gt, lambda: tf.gather(gt_ignore, safe),
                             lambda: tf.zeros_like(safe, dtype=tf.bool))
    codes = box_coder.encode(matched_boxes, anchors, config.box_coder.as_tuple())
    codes = tf.where(positive[:, None], codes, 0.0)
    labels = tf.where(positive, tf.cast(matched_labels, tf.int32), 0)
    ignored = tf.logical_or(tf.equal(matches, IGNORED), tf.logical_and(positive, matched_ignore))
    cls_w = tf.where(ignored, 0.0, 1.0)
    loc_w = tf.where(tf.logical_and(positive, tf.logical_not(ignored)), 1.0, 0.0)
    return AnchorTargets(codes, tf.where(ignored, 0, labels), cls_w, loc_w, matches)
