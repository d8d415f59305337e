"""tf.data input pipelines: samples -> (augmented, resized images, per-anchor targets) batches.

Images are decoded once, up front, in Python (PIL, so a corrupt file is named in a
one-line error) and held in memory (facemask's 539 training images take ~200 MB); cropping, flipping, resizing and target assignment
run in parallel ``tf.data`` map calls with prefetch, overlapping the training step.
Randomness is stateless and keyed by (seed, element index): the same seed gives
the same batches.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import tensorflow as tf

from facessd_archive.train.augment import (photometric_distortion, random_flip_left_right, random_square_crop,
                                           ssd_random_crop)
from facessd_archive.data.images import load_sample_image
from facessd_archive.data.sample import Sample
from facessd_archive.errors import DataError
from facessd_archive.model.config import ModelConfig
from facessd_archive.model.targets import assign_targets


def normalised_yxyx(sample: Sample, width: int, height: int) -> np.ndarray:
    """Pixel xyxy boxes -> normalised yxyx float32 ``[G, 4]``."""
    b = sample.boxes
    return np.stack([b[:, 1] / height, b[:, 0] / width, b[:, 3] / height, b[:, 2] / width], axis=-1).astype(
        np.float32).reshape(-1, 4)


def decoded_examples(samples: Sequence[Sample]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (uint8 image, normalised yxyx boxes, ignore flags), checking each annotation against its image."""
    for sample in samples:
        image = load_sample_image(sample)
        h, w = image.shape[:2]
        yield image, normalised_yxyx(sample, w, h), sample.ignore


def _decoded_dataset(samples: Sequence[Sample]) -> tf.data.Dataset:
    """All samples decoded now, in Python: a bad image stops here with its one-line error
    (raised inside a tf.data generator it would surface as an InvalidArgumentError traceback)."""
    if not samples:
        raise DataError("no samples to read: the benchmark or split is empty")
    decoded = list(decoded_examples(samples))
    return tf.data.Dataset.from_generator(
        lambda: iter(decoded),
        output_signature=(tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([None, 4], tf.float32),
                          tf.TensorSpec([None], tf.bool)))


def make_train_example(image: tf.Tensor, boxes: tf.Tensor, ignore: tf.Tensor, seed: tf.Tensor,
                       anchors: tf.Tensor, config: ModelConfig, augment: bool = True, crop: str = "ssd",
                       min_face_size: float = 0.0, photometric: bool = False) -> dict[str, tf.Tensor]:
    """One augmented, resized image and its per-anchor targets.

    ``crop``: ``ssd`` (the OD API's ssd_random_crop) or ``square`` (``random_square_crop``, for
    faces in the wild). Faces smaller than ``min_face_size`` pixels (longer side, at the training
    input) become ignore regions: too small to learn, yet not background either.
    """
    if augment:
        crop_seed, flip_seed, color_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        if crop == "square":
            image, boxes, ignore = random_square_crop(image, boxes, ignore, crop_seed)
        else:
            image, boxes, kept = ssd_random_crop(image, boxes, crop_seed)
            ignore = tf.boolean_mask(ignore, kept)
        image, boxes = random_flip_left_right(image, boxes, flip_seed)
    size = config.input_size
    image = tf.image.resize(image, [size, size])
    if augment and photometric:
        image = photometric_distortion(image, color_seed)
    if min_face_size > 0:
        longer = tf.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * float(size)
        ignore = tf.logical_or(ignore, longer < min_face_size)
    labels = tf.ones(tf.shape(boxes)[:1], dtype=tf.int32)  # single class: every box is a face
    t = assign_targets(anchors, boxes, labels, ignore, config)
    return {"images": image, "box_codes": t.box_codes, "labels": t.labels,
            "classification_weights": t.classification_weights, "localization_weights": t.localization_weights}


def training_dataset(samples: Sequence[Sample], config: ModelConfig, anchors: np.ndarray, batch_size: int,
                     seed: int = 0, augment: bool = True, crop: str = "ssd", min_face_size: float = 0.0,
                     photometric: bool = False, shard: tuple[int, int] = (1, 0)) -> tf.data.Dataset:
    """Endless shuffled batches of ``make_train_example`` outputs (images [B, S, S, 3] float 0-255).

    ``shard = (n, k)``: this input pipeline keeps elements k, k+n, k+2n, ... of the one shuffled
    stream (every worker shuffles alike, by seed), each augmented by its global index: n workers
    together see what one pipeline would, in the same order.
    """
    num_shards, shard_index = shard
    ds = _decoded_dataset(samples).cache()
    ds = ds.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.enumerate()
    if num_shards > 1:
        ds = ds.filter(lambda index, _: index % num_shards == shard_index)
    anchors_t = tf.constant(anchors)

    def _map(index, example):
        image, boxes, ignore = example
        element_seed = tf.stack([tf.constant(seed, tf.int64), index])
        return make_train_example(image, boxes, ignore, element_seed, anchors_t, config, augment, crop,
                                  min_face_size, photometric)

    ds = ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
