"""The SSD network: MobileNet features -> convolutional box predictor -> raw outputs.

``build_ssd_network`` returns a Keras model from pixels ``[B, S, S, 3]`` (0-255,
any float or uint8) to box encodings ``[B, A, 4]`` and class logits
``[B, A, num_classes + 1]`` (background at index 0). Anchors, targets, losses and
NMS live in their own modules and take these outputs as plain tensors.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from facessd_archive.model.config import ModelConfig, num_anchors_per_location
from facessd_archive.model.mobilenet_v1 import build_mobilenet_v1_feature_maps
from facessd_archive.model.mobilenet_v2 import build_mobilenet_v2_feature_maps

# torchvision's ImageNet statistics (RGB, 0-1 scale): what its pretrained MobileNetV2 was trained on.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocess(images, normalization: str = "minus_one_to_one"):
    """The OD API's MobileNet preprocessing, ``(2 / 255) * x - 1``, or ImageNet's mean and std."""
    x = keras.ops.cast(images, "float32")
    if normalization == "imagenet":
        scale = np.array([1.0 / (255.0 * s) for s in IMAGENET_STD], np.float32)
        shift = np.array([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)], np.float32)
        return x * scale + shift
    return x * (2.0 / 255.0) - 1.0


def build_feature_maps(images, config: ModelConfig) -> list:
    """The extractor's SSD feature maps for preprocessed ``images``."""
    # slim's l2_regularizer(w) adds w * sum(x^2) / 2; Keras' L2(l) adds l * sum(x^2).
    l2 = config.loss.l2_weight / 2.0
    if config.feature_extractor == "ssd_mobilenet_v2":
        return build_mobilenet_v2_feature_maps(images, config, l2)
    return build_mobilenet_v1_feature_maps(images, config, l2)


def class_bias_initializer(config: ModelConfig, num_anchors: int):
    """Zero biases, or the focal-loss prior (RetinaNet): P(face) = prior, P(background) = 1 - prior."""
    prior = config.class_prior_probability
    if prior <= 0:
        return "zeros"
    logit = -math.log((1.0 - prior) / prior)
    per_anchor = np.full(config.num_classes + 1, logit, dtype=np.float32)
    per_anchor[0] = -logit
    return keras.initializers.Constant(np.tile(per_anchor, num_anchors))


def build_ssd_network(config: ModelConfig, input_shape: tuple[int | None, int | None] | None = None) -> keras.Model:
    """The full SSD graph for ``config``: a square input of ``config.input_size`` by default, or
    ``input_shape`` (height, width), ``(None, None)`` for any size (same variables either way)."""
    h, w = input_shape if input_shape is not None else (config.input_size, config.input_size)
    images = keras.Input(shape=(h, w, 3), name="images")
    feature_maps = build_feature_maps(preprocess(images, config.input_normalization), config)
    per_location = num_anchors_per_location(config.anchors)
    k = config.box_predictor_kernel_size
    l2 = config.loss.l2_weight / 2.0
    reg = keras.regularizers.L2(l2) if l2 else None
    boxes, logits = [], []
    for i, (fmap, n) in enumerate(zip(feature_maps, per_location)):
        b = keras.layers.Conv2D(n * 4, k, padding="same", name=f"BoxPredictor_{i}_BoxEncodingPredictor",
                                kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.03),
                                kernel_regularizer=reg)(fmap)
        c = keras.layers.Conv2D(n * (config.num_classes + 1), k, padding="same",
                                name=f"BoxPredictor_{i}_ClassPredictor",
                                kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.03),
                                bias_initializer=class_bias_initializer(config, n), kernel_regularizer=reg)(fmap)
        # [B, h, w, n*4] -> [B, h*w*n, 4]: anchor kind fastest, then x, then y (matches anchors.py).
        boxes.append(keras.layers.Reshape((-1, 4), name=f"BoxPredictor_{i}_boxes")(b))
        logits.append(keras.layers.Reshape((-1, config.num_classes + 1), name=f"BoxPredictor_{i}_logits")(c))
    box_encodings = keras.layers.Concatenate(axis=1, name="box_encodings")(boxes)
    class_logits = keras.layers.Concatenate(axis=1, name="class_logits")(logits)
    return keras.Model(images, {"box_encodings": box_encodings, "class_logits": class_logits},
                       name=config.feature_extractor)


def feature_map_grids(network: keras.Model, square: bool = True) -> list:
    """The real shape of each feature map, read from the built graph's predictor outputs: its side
    (``square``) or (rows, cols). Needs a network built for a fixed input shape."""
    grids = []
    i = 0
    while True:
        try:
            layer = network.get_layer(f"BoxPredictor_{i}_BoxEncodingPredictor")
        except ValueError:
            break
        rows, cols = layer.output.shape[1], layer.output.shape[2]
        grids.append(int(rows) if square else (int(rows), int(cols)))
        i += 1
    return grids
