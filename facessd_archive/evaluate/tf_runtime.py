"""The SSD graph under TensorFlow: a ``Runtime`` (see ``runtime.py``)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from facessd_archive.evaluate.runtime import RawDetections
from facessd_archive.model.detector import SSDDetector


class TFRuntime:
    """The Keras graph + batched NMS in one ``tf.function`` (traced once).

    A detector built for any input shape (``SSDDetector(..., input_shape=(None, None))``) takes
    batches of any (padded) shape; the anchors of that shape are computed here and passed in, so
    one graph serves every shape.
    """

    name = "tf"

    def __init__(self, detector: SSDDetector):
        self.detector = detector
        self.input_size = detector.config.input_size
        if detector.dynamic:
            self._fn = tf.function(self._detect_any, input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.float32), tf.TensorSpec([None, 4], tf.float32)])
        else:
            s = self.input_size
            self._fn = tf.function(self._detect, input_signature=[tf.TensorSpec([None, s, s, 3], tf.float32)])

    def _detect(self, images):
        d = self.detector.detect(images)
        return d.boxes, d.scores, d.num_detections

    def _detect_any(self, images, anchors):
        d = self.detector.detect(images, anchors)
        return d.boxes, d.scores, d.num_detections

    def __call__(self, images: np.ndarray) -> RawDetections:
        batch = tf.convert_to_tensor(images, tf.float32)
        if self.detector.dynamic:
            anchors = self.detector.anchors_for_shape(int(images.shape[1]), int(images.shape[2]))
            boxes, scores, num = self._fn(batch, tf.constant(anchors))
        else:
            boxes, scores, num = self._fn(batch)
        return RawDetections(boxes.numpy(), scores.numpy(), num.numpy())
