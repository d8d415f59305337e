"""tf.data training/inference pipelines on tiny synthetic VOC folders."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from facessd_archive.train.inputs import (
    decoded_examples,
    normalised_yxyx,
    training_dataset,
)
from facessd_archive.data.sample import Sample
from facessd_archive.data.readers.voc import read_voc_folder
from facessd_archive.errors import DataError, ImageError
from facessd_archive.model import box_coder
from facessd_archive.model.anchors import anchors_for
from facessd_archive.model.config import ModelConfig

CONFIG = ModelConfig(input_size=64)
ANCHORS = anchors_for(CONFIG)
A = ANCHORS.shape[0]


def _img(h, w, seed):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3)).astype(np.uint8)


@pytest.fixture
def samples(make_voc):
    root = make_voc({
        "a": (_img(48, 64, 0), [(4, 6, 36, 40)]),
        "b": (_img(64, 40, 1), [(2, 2, 20, 22), (20, 30, 38, 60)]),
        "c": (_img(50, 50, 2), [(10, 10, 40, 45)], [True]),
        "d": (_img(40, 60, 3), []),
    })
    return read_voc_folder(root)


def _take(ds, n):
    return [{k: v.numpy() for k, v in batch.items()} for batch in itertools.islice(ds, n)]


def test_normalised_yxyx(tmp_path):
    s = Sample(image_path=tmp_path / "x.jpg", boxes=[[10, 20, 30, 60]], ignore=[False], image_id="x")
    np.testing.assert_allclose(normalised_yxyx(s, width=100, height=80), [[0.25, 0.1, 0.75, 0.3]])
    empty = Sample(image_path=tmp_path / "y.jpg", boxes=np.zeros((0, 4)), ignore=[], image_id="y")
    assert normalised_yxyx(empty, 10, 10).shape == (0, 4)


def test_training_dataset_shapes(samples):
    ds = training_dataset(samples, CONFIG, ANCHORS, batch_size=2, seed=0)
    (batch,) = _take(ds, 1)
    assert batch["images"].shape == (2, 64, 64, 3) and batch["images"].dtype == np.float32
    assert 0.0 <= batch["images"].min() and batch["images"].max() <= 255.0
    assert batch["box_codes"].shape == (2, A, 4)
    assert batch["labels"].shape == (2, A) and batch["labels"].dtype == np.int32
    assert batch["classification_weights"].shape == (2, A)
    assert batch["localization_weights"].shape == (2, A)
    assert set(np.unique(batch["labels"])) <= {0, 1}


def test_training_dataset_is_deterministic_for_a_seed(samples):
    first = _take(training_dataset(samples, CONFIG, ANCHORS, batch_size=2, seed=3), 4)
    again = _take(training_dataset(samples, CONFIG, ANCHORS, batch_size=2, seed=3), 4)
    for x, y in zip(first, again):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)
    other = _take(training_dataset(samples, CONFIG, ANCHORS, batch_size=2, seed=4), 4)
    assert any(not np.array_equal(x["images"], y["images"]) for x, y in zip(first, other))


@pytest.mark.parametrize("image_id, size", [("a", (48, 64)), ("b", (64, 40))])
def test_positives_decode_back_to_the_gt_without_augmentation(samples, image_id, size):
    (s,) = [x for x in samples if x.image_id == image_id]
    h, w = size
    gt = normalised_yxyx(s, w, h)
    (batch,) = _take(training_dataset([s], CONFIG, ANCHORS, batch_size=1, augment=False), 1)
    pos = batch["localization_weights"][0] > 0
    assert (batch["labels"][0][pos] == 1).all() and (batch["labels"][0][~pos] == 0).all()
    decoded = box_coder.decode(tf.constant(batch["box_codes"][0][pos]), tf.constant(ANCHORS[pos]),
                               CONFIG.box_coder.as_tuple()).numpy()
    # every positive decodes onto one gt box, and every gt box has at least one positive (force match)
    distance = np.abs(decoded[:, None, :] - gt[None, :, :]).max(axis=-1)  # [P, G]
    assert (distance.min(axis=1) < 1e-4).all()
    assert (distance.min(axis=0) < 1e-4).all()


def test_ignored_face_gets_zero_classification_weight(make_voc):
    root = make_voc({"c": (_img(50, 50, 2), [(10, 10, 40, 45)], [True])})
    ds = training_dataset(read_voc_folder(root), CONFIG, ANCHORS, batch_size=1, augment=False)
    (batch,) = _take(ds, 1)
    assert batch["localization_weights"].sum() == 0
    assert batch["labels"].sum() == 0
    assert batch["classification_weights"].min() == 0.0  # the anchors on the ignored face


def test_augmented_positives_stay_inside_the_image(samples):
    for batch in _take(training_dataset(samples, CONFIG, ANCHORS, batch_size=4, seed=1), 3):
        for i in range(4):
            pos = batch["localization_weights"][i] > 0
            decoded = box_coder.decode(tf.constant(batch["box_codes"][i][pos]), tf.constant(ANCHORS[pos]),
                                       CONFIG.box_coder.as_tuple()).numpy()
            assert decoded.size == 0 or (decoded.min() >= -1e-4 and decoded.max() <= 1 + 1e-4)


def test_empty_sample_list_is_refused():
    with pytest.raises(DataError, match="no samples to read"):
        training_dataset([], CONFIG, ANCHORS, batch_size=1)


def test_decoded_examples_check_the_annotation_against_the_image(make_voc):
    root = make_voc({"a": (_img(48, 64, 0), [(4, 6, 36, 40)])})
    (s,) = read_voc_folder(root)
    image, boxes, ignore = next(decoded_examples([s]))
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    np.testing.assert_allclose(boxes, [[6 / 48, 4 / 64, 40 / 48, 36 / 64]], rtol=1e-6)
    wrong = Sample(image_path=s.image_path, boxes=s.boxes, ignore=s.ignore, image_id="a", width=100, height=48)
    with pytest.raises(DataError, match="annotation says 100x48 but the image is 64x48"):
        next(decoded_examples([wrong]))


def test_a_missing_image_surfaces_as_image_error_from_the_training_dataset(tmp_path):
    """Errors name the file as ``FacessdError``s (the CLI's one line), raised before any
    tf.data graph runs (inside ``Dataset.from_generator`` they would come back as a traceback)."""
    missing = tmp_path / "gone.jpg"
    s = Sample(image_path=missing, boxes=[[1, 1, 5, 5]], ignore=[False], image_id="gone")
    with pytest.raises(ImageError, match="image file not found") as info:
        training_dataset([s], CONFIG, ANCHORS, batch_size=1, augment=False)
    assert str(missing) in str(info.value)


