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


def random_square_crop(image: tf.Tensor, boxes: tf.Tensor, ignore: tf.Tensor, seed: tf.Tensor,
                       scale_range: tuple[float, float] = (0.3, 1.0)):
    """The crop face detectors trained on WIDER FACE use (S3FD, RetinaFace, YuNet): a square of
    ``scale_range`` times the shorter side at a random place; a face is kept when its centre lies
    in the crop (then clipped to it). Resizing the square to the training size rescales faces by
    up to 1 / 0.3, so small faces land in the middle of the anchor sizes. Returns (image, boxes, ignore).
    """
    seeds = tf.random.experimental.stateless_split(seed, 3)
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    short = tf.cast(tf.minimum(h, w), tf.float32)
    frac = tf.random.stateless_uniform([], seeds[0], scale_range[0], scale_range[1])
    side = tf.maximum(tf.cast(frac * short, tf.int32), 1)
    y0 = tf.random.stateless_uniform([], seeds[1], 0, h - side + 1, dtype=tf.int32)
    x0 = tf.random.stateless_uniform([], seeds[2], 0, w - side + 1, dtype=tf.int32)
    cropped = tf.slice(image, tf.stack([y0, x0, 0]), tf.stack([side, side, -1]))
    hf, wf, sf = tf.cast(h, tf.float32), tf.cast(w, tf.float32), tf.cast(side, tf.float32)
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    py0 = (ymin * hf - tf.cast(y0, tf.float32)) / sf
    px0 = (xmin * wf - tf.cast(x0, tf.float32)) / sf
    py1 = (ymax * hf - tf.cast(y0, tf.float32)) / sf
    px1 = (xmax * wf - tf.cast(x0, tf.float32)) / sf
    cy, cx = (py0 + py1) / 2, (px0 + px1) / 2
    keep = (cy >= 0.0) & (cy < 1.0) & (cx >= 0.0) & (cx < 1.0)
    moved = tf.clip_by_value(tf.stack([py0, px0, py1, px1], axis=-1), 0.0, 1.0)
    return cropped, tf.boolean_mask(moved, keep), tf.boolean_mask(ignore, keep)


def photometric_distortion(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Brightness (+-32 of 255), contrast and saturation (0.5-1.5): the OD API's
    ``random_adjust_*`` steps, stateless. ``image`` float 0-255 RGB; the result is clipped to it."""
    s = tf.random.experimental.stateless_split(seed, 3)
    image = tf.image.stateless_random_brightness(image, 32.0, s[0])
    image = tf.image.stateless_random_contrast(image, 0.5, 1.5, s[1])
    image = tf.image.stateless_random_saturation(image, 0.5, 1.5, s[2])
    return tf.clip_by_value(image, 0.0, 255.0)
