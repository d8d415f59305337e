"""Augmentations keep every box on the same pixels (painted rectangles are the witnesses)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from facessd_archive.train.augment import (
    RANDOM_COEF,
    crop_to_window,
    flip_left_right,
    random_flip_left_right,
    ssd_random_crop,
)

H, W = 60, 80
# (y0, x0, y1, x1) pixel rectangles (end exclusive) and their colours.
RECTS = [(5, 6, 25, 30), (30, 40, 55, 75), (10, 50, 22, 70)]
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def _painted():
    image = np.zeros((H, W, 3), np.uint8)
    for (y0, x0, y1, x1), colour in zip(RECTS, COLOURS):
        image[y0:y1, x0:x1] = colour
    boxes = np.array([[y0 / H, x0 / W, y1 / H, x1 / W] for y0, x0, y1, x1 in RECTS], np.float32)
    return image, boxes


def _colour_extent(image, colour):
    """Pixel extent (y0, x0, y1, x1), end exclusive, of the pixels of exactly this colour; None if absent."""
    ys, xs = np.nonzero(np.all(image == np.array(colour, np.uint8), axis=-1))
    if len(ys) == 0:
        return None
    return ys.min(), xs.min(), ys.max() + 1, xs.max() + 1


def _box_pixels(box, h, w):
    return box[0] * h, box[1] * w, box[2] * h, box[3] * w


def test_flip_maps_a_box_to_its_mirrored_pixels():
    image, boxes = _painted()
    flipped, fboxes = flip_left_right(tf.constant(image), tf.constant(boxes))
    flipped, fboxes = flipped.numpy(), fboxes.numpy()
    for colour, box, (y0, x0, y1, x1) in zip(COLOURS, fboxes, RECTS):
        assert _colour_extent(flipped, colour) == (y0, W - x1, y1, W - x0)
        np.testing.assert_allclose(_box_pixels(box, H, W), _colour_extent(flipped, colour), atol=1e-3)
    # flipping twice is the identity
    back_image, back_boxes = flip_left_right(tf.constant(flipped), tf.constant(fboxes))
    np.testing.assert_array_equal(back_image.numpy(), image)
    np.testing.assert_allclose(back_boxes.numpy(), boxes, atol=1e-6)


def test_random_flip_moves_image_and_boxes_together():
    image, boxes = _painted()
    seen = set()
    for s in range(12):
        out_image, out_boxes = random_flip_left_right(tf.constant(image), tf.constant(boxes),
                                                      tf.constant([s, 7], tf.int64))
        out_image, out_boxes = out_image.numpy(), out_boxes.numpy()
        flipped = not np.array_equal(out_image, image)
        seen.add(flipped)
        for colour, box in zip(COLOURS, out_boxes):
            np.testing.assert_allclose(_box_pixels(box, H, W), _colour_extent(out_image, colour), atol=1e-3)
    assert seen == {True, False}


def _skips(seed):
    """Whether ssd_random_crop leaves this seed's image uncropped (its random_coef draw)."""
    seeds = tf.random.experimental.stateless_split(tf.constant(seed, tf.int64), 3)
    return bool(tf.random.stateless_uniform([], seeds[2]) < RANDOM_COEF)


def test_ssd_random_crop_keeps_boxes_on_their_pixels():
    image, boxes = _painted()
    cropped_some = 0
    for s in range(16):
        out_image, out_boxes, kept = ssd_random_crop(tf.constant(image), tf.constant(boxes),
                                                     tf.constant([s, 3], tf.int64))
        out_image, out_boxes, kept = out_image.numpy(), out_boxes.numpy(), kept.numpy()
        h, w = out_image.shape[:2]
        cropped_some += (h, w) != (H, W)
        assert kept.dtype == bool and kept.shape == (3,)
        assert out_boxes.shape == (kept.sum(), 4)
        assert out_boxes.min() >= 0.0 and out_boxes.max() <= 1.0
        for colour, box in zip(np.array(COLOURS)[kept], out_boxes):
            extent = _colour_extent(out_image, colour)
            assert extent is not None, f"seed {s}: kept box {box} has none of its colour in the crop"
            np.testing.assert_allclose(_box_pixels(box, h, w), extent, atol=1.5, err_msg=f"seed {s}")
        for colour in np.array(COLOURS)[~kept]:
            # A dropped box may still show a sliver (overlap below the threshold), never all of itself.
            extent = _colour_extent(out_image, colour)
            rect = RECTS[COLOURS.index(tuple(colour))]
            if extent is not None:
                assert (extent[2] - extent[0]) * (extent[3] - extent[1]) < (rect[2] - rect[0]) * (rect[3] - rect[1])
    assert cropped_some >= 5


def test_ssd_random_crop_random_coef_path_leaves_the_image_alone():
    image, boxes = _painted()
    skip_seeds = [[s, 5] for s in range(60) if _skips([s, 5])]
    assert skip_seeds, "no seed in 0..59 draws the uncropped path (p = 0.15 each)"
    assert len(skip_seeds) < 30
    for seed in skip_seeds[:3]:
        out_image, out_boxes, kept = ssd_random_crop(tf.constant(image), tf.constant(boxes),
                                                     tf.constant(seed, tf.int64))
        np.testing.assert_array_equal(out_image.numpy(), image)
        np.testing.assert_array_equal(out_boxes.numpy(), boxes)
        assert kept.numpy().all()


def test_ssd_random_crop_is_deterministic_per_seed_and_handles_no_boxes():
    image, boxes = _painted()
    a = ssd_random_crop(tf.constant(image), tf.constant(boxes), tf.constant([4, 2], tf.int64))
    b = ssd_random_crop(tf.constant(image), tf.constant(boxes), tf.constant([4, 2], tf.int64))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    for s in range(4):
        out_image, out_boxes, kept = ssd_random_crop(tf.constant(image), tf.zeros([0, 4]),
                                                     tf.constant([s, 1], tf.int64))
        assert out_boxes.shape == (0, 4) and kept.shape == (0,)
        assert out_image.shape[-1] == 3


WINDOW_BOXES = np.array([[0.1, 0.3, 0.3, 0.5],    # inside the window: ioa 1
                         [0.3, 0.0, 0.5, 0.5],    # x 0..0.5 of which 0.2..0.5 inside: ioa 0.6
                         [0.45, 0.0, 0.55, 0.3],  # x 0.2..0.3 of 0..0.3 inside: ioa 1/3
                         [0.8, 0.8, 0.9, 0.9]],   # outside: ioa 0
                        np.float32)


@pytest.mark.parametrize("threshold, expected", [
    (0.0, [True, True, True, False]),   # a box wholly outside is dropped even at threshold 0
    (0.3, [True, True, True, False]),
    (0.5, [True, True, False, False]),
    (0.7, [True, False, False, False]),
    (1.0, [True, False, False, False]),
])
def test_crop_to_window_drops_boxes_below_the_overlap_threshold(threshold, expected):
    image = np.zeros((100, 100, 3), np.uint8)
    window = tf.constant([0.0, 0.2, 0.6, 0.7])  # y 0..60, x 20..70
    out, moved, mask = crop_to_window(tf.constant(image), tf.constant(WINDOW_BOXES), tf.ones([4], tf.bool),
                                      window, tf.constant([0, 20, 0]), tf.constant([60, 50, -1]), threshold)
    assert mask.numpy().tolist() == expected
    assert out.shape == (60, 50, 3)
    want = {0: [0.1 / 0.6, 0.1 / 0.5, 0.3 / 0.6, 0.3 / 0.5],
            1: [0.3 / 0.6, -0.2 / 0.5, 0.5 / 0.6, 0.3 / 0.5],
            2: [0.45 / 0.6, -0.2 / 0.5, 0.55 / 0.6, 0.1 / 0.5]}
    rows = [np.clip(want[i], 0.0, 1.0) for i in range(3) if expected[i]]
    np.testing.assert_allclose(moved.numpy(), np.array(rows).reshape(-1, 4), atol=1e-6)


def test_crop_to_window_respects_the_keep_mask():
    window = tf.constant([0.0, 0.0, 1.0, 1.0])
    _, moved, mask = crop_to_window(tf.zeros([10, 10, 3]), tf.constant(WINDOW_BOXES),
                                    tf.constant([False, True, True, True]), window, tf.constant([0, 0, 0]),
                                    tf.constant([10, 10, -1]), 0.0)
    assert mask.numpy().tolist() == [False, True, True, True]
    np.testing.assert_allclose(moved.numpy(), WINDOW_BOXES[1:], atol=1e-6)
