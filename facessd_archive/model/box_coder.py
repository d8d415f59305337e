"""The faster_rcnn box coder: boxes <-> regression targets relative to anchors.

    ty = sy * (yc - ya) / ha      tx = sx * (xc - xa) / wa
    th = sh * log(h / ha)         tw = sw * log(w / wa)

with (sy, sx, sh, sw) = (10, 10, 5, 5) by default and code order [ty, tx, th, tw].
Matching boxes to anchors is not this module's job (see ``targets.py``).
Shapes: boxes and anchors ``[..., 4]`` yxyx normalised (broadcastable); codes ``[..., 4]``.
"""

from __future__ import annotations

import math

import tensorflow as tf

EPSILON = 1e-8  # keeps log() and divisions finite for degenerate (zero-size) boxes, as the OD API does.
# exp() of a predicted th/tw is capped so a wild early-training logit cannot overflow to inf
# (log(1000/16) ~ 4.1: no box grows beyond 1000/16 of its anchor, as in torchvision's coder).
MAX_LOG_SCALE = math.log(1000.0 / 16.0)


def _center_form(boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    h = ymax - ymin
    w = xmax - xmin
    return ymin + 0.5 * h, xmin + 0.5 * w, h, w


def encode(boxes: tf.Tensor, anchors: tf.Tensor, scales: tuple[float, float, float, float]) -> tf.Tensor:
    """Regression targets for ``boxes`` relative to ``anchors``: ``[..., 4]`` as [ty, tx, th, tw]."""
    yc, xc, h, w = _center_form(boxes)
    ya, xa, ha, wa = _center_form(anchors)
    ha += EPSILON
    wa += EPSILON
    h += EPSILON
    w += EPSILON
    sy, sx, sh, sw = scales
    return tf.stack([sy * (yc - ya) / ha, sx * (xc - xa) / wa, sh * tf.math.log(h / ha), sw * tf.math.log(w / wa)],
                    axis=-1)


def decode(codes: tf.Tensor, anchors: tf.Tensor, scales: tuple[float, float, float, float]) -> tf.Tensor:
    """Boxes (yxyx, normalised) from regression ``codes`` relative to ``anchors``; inverse of ``encode``."""
    ya, xa, ha, wa = _center_form(anchors)
    ty, tx, th, tw = tf.unstack(codes, axis=-1)
    sy, sx, sh, sw = scales
    th = tf.minimum(th / sh, MAX_LOG_SCALE)
    tw = tf.minimum(tw / sw, MAX_LOG_SCALE)
    h = tf.exp(th) * ha
    w = tf.exp(tw) * wa
    yc = ty / sy * ha + ya
    xc = tx / sx * wa + xa
    return tf.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)
