"""Batched decode + NMS: raw SSD outputs -> at most ``max_detections`` boxes per image."""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from facessd_archive.model import box_coder
from facessd_archive.model.config import ModelConfig


class Detections(NamedTuple):
    boxes: tf.Tensor  # [B, D, 4] yxyx normalised, clipped to [0, 1]
    scores: tf.Tensor  # [B, D] sigmoid scores, descending
    classes: tf.Tensor  # [B, D] int32, 0-based (background removed)
    num_detections: tf.Tensor  # [B] int32; rows past it are padding


def postprocess(box_encodings: tf.Tensor, class_logits: tf.Tensor, anchors: tf.Tensor,
                config: ModelConfig) -> Detections:
    """Sigmoid, drop the background column, decode against ``anchors`` [A, 4], per-class NMS."""
    pp = config.postprocess
    boxes = box_coder.decode(tf.cast(box_encodings, tf.float32), anchors[None], config.box_coder.as_tuple())
    scores = tf.sigmoid(tf.cast(class_logits, tf.float32))[..., 1:]
    nmsed_boxes, nmsed_scores, nmsed_classes, valid = tf.image.combined_non_max_suppression(
        boxes[:, :, None, :], scores, max_output_size_per_class=pp.max_detections,
        max_total_size=pp.max_detections, iou_threshold=pp.iou_threshold, score_threshold=pp.score_threshold,
        clip_boxes=True)
    return Detections(nmsed_boxes, nmsed_scores, tf.cast(nmsed_classes, tf.int32), valid)
