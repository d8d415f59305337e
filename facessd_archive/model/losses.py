"""SSD losses. Each loss returns per-anchor, unreduced values; ``ssd_loss`` reduces them in one place.

Shapes: B batch, A anchors, K = num_classes + 1 logits (background at 0).
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from facessd_archive.model import box_coder
from facessd_archive.model.config import HardMinerConfig, LossConfig


def sigmoid_classification_loss(logits: tf.Tensor, one_hot: tf.Tensor) -> tf.Tensor:
    """Weighted-sigmoid cross entropy summed over the K logits: ``[B, A, K] -> [B, A]``."""
    return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=one_hot, logits=logits), axis=-1)


def focal_classification_loss(logits: tf.Tensor, one_hot: tf.Tensor, alpha: float, gamma: float) -> tf.Tensor:
    """Sigmoid focal loss (Lin et al. 2017, OD API form) summed over the K logits: ``[B, A]``."""
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=one_hot, logits=logits)
    p = tf.sigmoid(logits)
    p_t = one_hot * p + (1.0 - one_hot) * (1.0 - p)
    modulating = tf.pow(1.0 - p_t, gamma)
    alpha_t = one_hot * alpha + (1.0 - one_hot) * (1.0 - alpha)
    return tf.reduce_sum(alpha_t * modulating * ce, axis=-1)


def smooth_l1_loss(predicted: tf.Tensor, target: tf.Tensor, delta: float = 1.0) -> tf.Tensor:
    """Huber loss with ``delta`` summed over the 4 box codes: ``[B, A, 4] -> [B, A]``."""
    diff = tf.abs(predicted - target)
    per_code = tf.where(diff < delta, 0.5 * tf.square(diff), delta * (diff - 0.5 * delta))
    return tf.reduce_sum(per_code, axis=-1)


def hard_example_mask(cls_losses: tf.Tensor, decoded_boxes: tf.Tensor, positives: tf.Tensor,
                      miner: HardMinerConfig) -> tf.Tensor:
    """OD API hard example miner, batched: ``[B, A]`` float mask of anchors that count.

    Per image: NMS over predicted boxes scored by their classification loss keeps up to
    ``num_hard_examples``; of those, every positive stays and the highest-loss negatives
    up to ``max(min_negatives_per_image, max_negatives_per_positive * num_positives)``.
    """
    b = tf.shape(cls_losses)[0]
    a = tf.shape(cls_losses)[1]
    k = tf.minimum(miner.num_hard_examples, a)
    selected, num_valid = tf.image.non_max_suppression_padded(
        tf.stop_gradient(decoded_boxes), tf.stop_gradient(cls_losses), k, iou_threshold=miner.iou_threshold,
        pad_to_max_output_size=True)
    valid = tf.range(tf.shape(selected)[1])[None, :] < num_valid[:, None]
    is_pos = tf.logical_and(tf.gather(positives, selected, batch_dims=1), valid)
    is_neg = tf.logical_and(tf.logical_not(is_pos), valid)
    num_pos = tf.reduce_sum(tf.cast(is_pos, tf.float32), axis=1, keepdims=True)
    max_neg = tf.maximum(float(miner.min_negatives_per_image),
                         tf.floor(miner.max_negatives_per_positive * num_pos))
    neg_rank = tf.cumsum(tf.cast(is_neg, tf.float32), axis=1)
    keep = tf.logical_or(is_pos, tf.logical_and(is_neg, neg_rank <= max_neg))
    flat = selected + tf.range(b)[:, None] * a
    mask = tf.math.unsorted_segment_max(tf.cast(keep, tf.float32), flat, b * a)
    return tf.maximum(tf.reshape(mask, [b, a]), 0.0)  # unselected segments come back as -inf-ish min


class LossTerms(NamedTuple):
    classification: tf.Tensor  # scalar
    localization: tf.Tensor  # scalar
    num_matches: tf.Tensor  # scalar, the normaliser


def ssd_loss(box_encodings: tf.Tensor, class_logits: tf.Tensor, targets: dict[str, tf.Tensor], anchors: tf.Tensor,
             config: LossConfig, coder_scales: tuple[float, float, float, float]) -> LossTerms:
    """Classification and localisation losses for a batch, normalised by the number of matches.

    ``targets``: ``box_codes`` [B, A, 4], ``labels`` [B, A] int, ``classification_weights`` and
    ``localization_weights`` [B, A] (see ``targets.assign_targets``).
    """
    box_encodings = tf.cast(box_encodings, tf.float32)
    class_logits = tf.cast(class_logits, tf.float32)
    num_logits = tf.shape(class_logits)[-1]
    one_hot = tf.one_hot(targets["labels"], num_logits, dtype=tf.float32)
    if config.classification == "focal":
        cls = focal_classification_loss(class_logits, one_hot, config.focal_alpha, config.focal_gamma)
    else:
        cls = sigmoid_classification_loss(class_logits, one_hot)
    cls = cls * targets["classification_weights"]
    loc = smooth_l1_loss(box_encodings, targets["box_codes"], config.smooth_l1_delta)
    loc = loc * targets["localization_weights"]
    positives = targets["localization_weights"] > 0
    if config.hard_example_miner is not None:
        decoded = box_coder.decode(box_encodings, anchors[None], coder_scales)
        mask = hard_example_mask(cls, decoded, positives, config.hard_example_miner)
        cls = cls * mask
        loc = loc * mask
    num_matches = tf.reduce_sum(tf.cast(positives, tf.float32))
    normaliser = tf.maximum(num_matches, 1.0) if config.normalize_by_num_matches else 1.0
    return LossTerms(
        classification=config.classification_weight * tf.reduce_sum(cls) / normaliser,
        localization=config.localization_weight * tf.reduce_sum(loc) / normaliser,
        num_matches=num_matches,
    )
