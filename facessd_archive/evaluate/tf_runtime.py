"""The SSD graph under TensorFlow: a ``Runtime`` (see ``runtime.py``)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from facessd_archive.evaluate.runtime import RawDetections
from facessd_archive.model.detector import SSDDetector


class TFRuntime:
    """The Keras graph + batched NMS in one ``tf.function`` (retraced only per batch size)."""

    name = "tf"

    def __init__(self, detector: SSDDetector):
        self.detector = detector
        self.input_size = detector.config.input_size
        s = self.input_size
        self._fn = tf.function(self._detect, input_signature=[tf.TensorSpec([None, s, s, 3], tf.float32)])

    def _detect(self, images):
        d = self.detector.detect(images)
        return d.boxes, d.scores, d.num_detections

    def __call__(self, images: np.ndarray) -> RawDetections:
        boxes, scores, num = self._fn(tf.convert_to_tensor(images, tf.float32))
        return RawDetections(boxes.numpy(), scores.numpy(), num.numpy())
