"""Training augmentations in ``tf`` ops (they run inside tf.data), boxes normalised yxyx.

``ssd_random_crop`` reproduces the OD API preprocessor's defaults: one of seven
(min_object_covered, overlap_thresh) settings 0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0
picked at random, aspect ratio 0.5-2, area 0.1-1, and with probability 0.15 the
image is left uncropped. Boxes whose overlap with the crop (intersection over the
box's own area) falls below the threshold are dropped; the rest are clipped and
re-expressed in the crop's coordinates, so every box stays on the same pixels.
"""

from __future__ import annotations

import tensorflow as tf

MIN_OBJECT_COVERED = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
OVERLAP_THRESH = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
ASPECT_RATIO_RANGE = (0.5, 2.0)
AREA_RANGE = (0.1, 1.0)
RANDOM_COEF = 0.15
MAX_ATTEMPTS = 100


def flip_left_right(image: tf.Tensor, boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mirror an image [H, W, C] and its boxes [G, 4]."""
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    return tf.image.flip_left_right(image), tf.stack([ymin, 1.0 - xmax, ymax, 1.0 - xmin], axis=-1)


def random_flip_left_right(image: tf.Tensor, boxes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    do_flip = tf.random.stateless_uniform([], seed) < 0.5
    return tf.cond(do_flip, lambda: flip_left_right(image, boxes), lambda: (image, boxes))


def crop_to_window(image: tf.Tensor, boxes: tf.Tensor, keep: tf.Tensor, window: tf.Tensor, offset: tf.Tensor,
                   size: tf.Tensor, overlap_thresh: float | tf.Tensor):
    """Crop ``image`` to pixel ``offset``/``size`` (normalised ``window`` yxyx) and move the boxes with it.

    Returns the crop, the kept boxes in crop coordinates, and the boolean mask of kept input boxes
    (so callers can filter per-box labels and flags alike).
    """
    wy0, wx0, wy1, wx1 = tf.unstack(window)
    wh = wy1 - wy0
    ww = wx1 - wx0
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    ih = tf.maximum(0.0, tf.minimum(ymax, wy1) - tf.maximum(ymin, wy0))
    iw = tf.maximum(0.0, tf.minimum(xmax, wx1) - tf.maximum(xmin, wx0))
    area = tf.maximum((ymax - ymin) * (xmax - xmin), 1e-12)
    ioa = ih * iw / area
    mask = tf.logical_and(keep, tf.logical_and(ioa > 0.0, ioa >= overlap_thresh))
    kept = tf.boolean_mask(boxes, mask)
    ky0, kx0, ky1, kx1 = tf.unstack(kept, axis=-1)
    moved = tf.stack([(ky0 - wy0) / wh, (kx0 - wx0) / ww, (ky1 - wy0) / wh, (kx1 - wx0) / ww], axis=-1)
    moved = tf.clip_by_value(moved, 0.0, 1.0)
    cropped = tf.slice(image, offset, size)
    return cropped, moved, mask


def ssd_random_crop(image: tf.Tensor, boxes: tf.Tensor, seed: tf.Tensor):
    """OD API ``ssd_random_crop`` with its default options. Returns (image, boxes, kept-mask)."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    option = tf.random.stateless_uniform([], seeds[0], maxval=len(MIN_OBJECT_COVERED), dtype=tf.int32)
    min_covered = tf.gather(tf.constant(MIN_OBJECT_COVERED), option)
    overlap = tf.gather(tf.constant(OVERLAP_THRESH), option)
    all_kept = tf.ones(tf.shape(boxes)[:1], dtype=tf.bool)

    def uncropped():
        return image, boxes, all_kept

    def cropped():
        clipped = tf.clip_by_value(boxes, 0.0, 1.0)
        offset, size, window = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image), clipped[None], seed=seeds[1], min_object_covered=min_covered,
            aspect_ratio_range=ASPECT_RATIO_RANGE, area_range=AREA_RANGE, max_attempts=MAX_ATTEMPTS,
            use_image_if_no_bounding_boxes=True)
        return crop_to_window(image, boxes, all_kept, window[0, 0], offset, size, overlap)

    skip = tf.random.stateless_uniform([], seeds[2]) < RANDOM_COEF
    return tf.cond(skip, uncropped, cropped)
