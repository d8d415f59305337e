"""Inference runtimes: one SSD graph, run by TensorFlow or by TFLite, behind the same call.

A runtime takes resized pixel images ``[B, S, S, 3]`` float32 (0-255) and returns
post-processed detections as NumPy: normalised yxyx boxes ``[B, D, 4]``, scores ``[B, D]``
and counts ``[B]``. Everything before (decode, resize) and after (to pixels, metrics)
is shared, so runtimes are compared on the graph alone.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np
import tensorflow as tf

from facessd_archive.model.detector import SSDDetector


class RawDetections(NamedTuple):
    boxes: np.ndarray  # [B, D, 4] normalised yxyx
    scores: np.ndarray  # [B, D]
    num_detections: np.ndarray  # [B]


class Runtime(Protocol):
    name: str
    input_size: int

    def __call__(self, images: np.ndarray) -> RawDetections: ...


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


def make_runtime(detector: SSDDetector, name: str = "tf") -> Runtime:
    if name == "tf":
        return TFRuntime(detector)
    if name == "tflite":
        from facessd_archive.evaluate.tflite_runtime import TFLiteRuntime

        return TFLiteRuntime(detector)
    raise ValueError(f"unknown runtime {name!r}: choose 'tf' or 'tflite'")
