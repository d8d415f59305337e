"""The runtime interface: what every inference runtime takes and returns (no TensorFlow here).

A runtime takes resized pixel images ``[B, S, S, 3]`` float32 (0-255) and returns
post-processed detections as NumPy: normalised yxyx boxes ``[B, D, 4]``, scores ``[B, D]``
and counts ``[B]``. Everything before (decode, resize) and after (to pixels, metrics)
is shared, so runtimes are compared on the graph alone.

The implementations sit beside this module and import only it: ``tf_runtime.TFRuntime``
and ``tflite_runtime.TFLiteRuntime``; ``runtimes.make_runtime`` picks one by name.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np


class RawDetections(NamedTuple):
    boxes: np.ndarray  # [B, D, 4] normalised yxyx, clipped to [0, 1]
    scores: np.ndarray  # [B, D], descending per image
    num_detections: np.ndarray  # [B]; rows past it are padding


class Runtime(Protocol):
    name: str
    input_size: int

    def __call__(self, images: np.ndarray) -> RawDetections: ...
