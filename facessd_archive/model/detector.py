"""SSDDetector: wires one ModelConfig to its network, anchors, losses and post-processing.

It only wires; each piece lives in its own module and can be used alone.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from facessd_archive.errors import ConfigError
from facessd_archive.model.anchors import anchors_for
from facessd_archive.model.config import ModelConfig, num_anchors_per_location
from facessd_archive.model.losses import LossTerms, ssd_loss
from facessd_archive.model.postprocess import Detections, postprocess
from facessd_archive.model.ssd import build_ssd_network, feature_map_grids


class SSDDetector:
    """One detector. ``anchors`` ([A, 4] yxyx normalised) come from the built graph's real feature maps.

    ``input_shape=(None, None)`` builds the same variables for inputs of any size (inference at the
    image's own shape); ``anchors_for_shape`` then gives the anchors of each padded input shape.
    """

    def __init__(self, config: ModelConfig, network: keras.Model | None = None,
                 input_shape: tuple[int | None, int | None] | None = None):
        self.config = config
        self.network = network if network is not None else build_ssd_network(config, input_shape)
        self.dynamic = self.network.inputs[0].shape[1] is None or self.network.inputs[0].shape[2] is None
        self._anchor_cache: dict[tuple[int, int], np.ndarray] = {}
        if self.dynamic:
            shape = (config.input_size, config.input_size)
            self.anchors_np = self.anchors_for_shape(*shape)
        else:
            grids = feature_map_grids(self.network, square=False)
            shape = (int(self.network.inputs[0].shape[1]), int(self.network.inputs[0].shape[2]))
            self.anchors_np = anchors_for(config, grids, shape)
            expected = sum(gy * gx * n for (gy, gx), n in zip(grids, num_anchors_per_location(config.anchors)))
            if self.anchors_np.shape[0] != expected or self.network.outputs[0].shape[1] not in (None, expected):
                raise ConfigError(f"anchor count {self.anchors_np.shape[0]} does not match the network ({expected})")
        self.anchors = tf.constant(self.anchors_np)

    def anchors_for_shape(self, height: int, width: int) -> np.ndarray:
        """Anchors for an input of ``height`` x ``width`` pixels (cached per shape)."""
        key = (int(height), int(width))
        if key not in self._anchor_cache:
            self._anchor_cache[key] = anchors_for(self.config, image_shape=key)
        return self._anchor_cache[key]

    @property
    def num_anchors(self) -> int:
        return int(self.anchors_np.shape[0])

    def predict_raw(self, images: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """``{'box_encodings': [B, A, 4], 'class_logits': [B, A, K]}`` for pixel images [B, S, S, 3]."""
        return self.network(images, training=training)

    def loss(self, raw: dict[str, tf.Tensor], targets: dict[str, tf.Tensor]) -> LossTerms:
        return ssd_loss(raw["box_encodings"], raw["class_logits"], targets, self.anchors, self.config.loss,
                        self.config.box_coder.as_tuple())

    def detect(self, images: tf.Tensor, anchors: tf.Tensor | None = None) -> Detections:
        """Decoded, NMS-ed detections (normalised yxyx) for pixel images already resized to the input;
        ``anchors`` for that input's shape (default: the training input's)."""
        raw = self.predict_raw(images, training=False)
        return postprocess(raw["box_encodings"], raw["class_logits"],
                           self.anchors if anchors is None else anchors, self.config)
