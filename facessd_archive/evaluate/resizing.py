"""How an image becomes the network's input at inference, and how boxes come back to its pixels.

Two policies, as the OD API's ``image_resizer``: ``square`` squashes every image to the model's
``input_size`` (the zoo model, and every stage trained with ``fixed_shape``); ``keep_aspect``
scales the image so its longer side is at most ``max_side`` (``None``: the original size, what
WIDER FACE figures are reported at) and zero-pads it at the bottom and right to a multiple of the
coarsest stride the network needs. Padding is in pixel space (value 0) after resizing, so a box's
normalised coordinates are relative to the padded input; ``to_pixels`` undoes both steps.

A runtime with one fixed input shape (TFLite) runs ``keep_aspect`` as the OD API's
``keep_aspect_ratio_resizer`` with ``pad_to_max_dimension``: the image scaled so its longer side
is at most ``max_side``, then zero-padded at the bottom and right to one ``square_side`` square
(``max_side`` rounded up to the multiple), so every image has the same input and the anchors of
that one grid serve them all (``fixed_square``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from facessd_archive.errors import ConfigError
from facessd_archive.model.config import ModelConfig


@dataclass(frozen=True)
class ResizePolicy:
    kind: str  # "square" or "keep_aspect"
    size: int = 300  # square side
    max_side: int | None = None  # keep_aspect: longest side after scaling (None: original size)
    pad_to_multiple: int = 32
    pad_to_square: bool = False  # keep_aspect: pad every image to one square_side x square_side input

    @property
    def square_side(self) -> int:
        """The side of the fixed padded square (``max_side`` rounded up to ``pad_to_multiple``)."""
        if self.max_side is None:
            raise ConfigError("a fixed padded square needs a maximum side")
        return math.ceil(self.max_side / self.pad_to_multiple) * self.pad_to_multiple

    def input_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(resized height, resized width, padded height, padded width) for an image."""
        if self.kind == "square":
            return self.size, self.size, self.size, self.size
        scale = 1.0
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
        rh, rw = max(1, round(height * scale)), max(1, round(width * scale))
        if self.pad_to_square:
            return rh, rw, self.square_side, self.square_side
        m = self.pad_to_multiple
        return rh, rw, math.ceil(rh / m) * m, math.ceil(rw / m) * m

    def describe(self) -> str:
        if self.kind == "square":
            return f"squashed to {self.size}x{self.size}"
        if self.max_side is None:
            return "original size"
        if self.pad_to_square:
            side = self.square_side
            return f"longer side at most {self.max_side}, padded to {side}x{side}"
        return f"longer side at most {self.max_side}"


def fixed_square(policy: ResizePolicy, runtime: str) -> ResizePolicy:
    """``policy`` for a runtime that runs one fixed input shape: a squashed square as it is, a
    keep-aspect policy padded to its ``square_side``; original size cannot be one shape (one line)."""
    if policy.kind == "square":
        return policy
    if policy.max_side is None:
        raise ConfigError(f"--runtime {runtime} runs one fixed input shape and cannot run each image at its "
                          f"original size: give --max-side N (the image scaled to fit N, zero-padded to a "
                          f"square) or use --runtime tf")
    return dataclasses.replace(policy, pad_to_square=True)


def resize_policy(config: ModelConfig, max_side: int | None = None, original_size: bool = False) -> ResizePolicy:
    """The policy for a model: its own resizer, unless ``max_side`` / ``original_size`` override it.

    Those overrides need anchors that follow any feature-map shape; a ``fixed_shape`` model with
    ``multiple_grid`` anchors accepts them too (the OD API normalises such anchors to the shorter
    side), though it was trained on squashed squares.
    """
    if max_side is not None and original_size:
        raise ConfigError("give either --max-side or --original-size, not both")
    if max_side is not None and max_side < 33:
        raise ConfigError(f"--max-side must be >= 33, got {max_side}")
    r = config.resizer
    multiple = max(r.pad_to_multiple, 32)
    if max_side is not None or original_size:
        return ResizePolicy("keep_aspect", config.input_size, max_side, multiple)
    if r.kind == "keep_aspect_ratio":
        return ResizePolicy("keep_aspect", config.input_size, r.max_dimension or None, multiple)
    return ResizePolicy("square", config.input_size)


def prepare(image: np.ndarray, policy: ResizePolicy) -> np.ndarray:
    """``[H, W, 3]`` uint8 -> the padded float32 network input (bilinear, as in training)."""
    h, w = image.shape[:2]
    rh, rw, ph, pw = policy.input_shape(h, w)
    if (rh, rw) == (h, w):
        if (ph, pw) == (h, w):
            return image.astype(np.float32)
        resized = image  # cast while copying into the padded input: one pass, no float copy first
    else:
        resized = tf.image.resize(image, [rh, rw]).numpy()
    if (ph, pw) == (rh, rw):
        return resized
    out = np.zeros((ph, pw, 3), np.float32)
    out[:rh, :rw] = resized
    return out


def to_pixels(boxes: np.ndarray, image_hw: tuple[int, int], policy: ResizePolicy) -> np.ndarray:
    """Normalised yxyx boxes of the network input -> ``[xmin, ymin, xmax, ymax]`` in original pixels."""
    h, w = image_hw
    rh, rw, ph, pw = policy.input_shape(h, w)
    sy, sx = ph / rh * h, pw / rw * w  # normalised-to-input -> original pixels
    out = np.stack([boxes[:, 1] * sx, boxes[:, 0] * sy, boxes[:, 3] * sx, boxes[:, 2] * sy], axis=-1)
    return np.clip(out, 0.0, [w, h, w, h]).astype(np.float32)
