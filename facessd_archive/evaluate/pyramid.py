"""Two-scale inference: faces larger than the model ever saw in training, found at a smaller scale.

Why: a stage that runs each photo at its own size (the WIDER presets) was trained on crops of its
``input_size`` (320 for the default), so its anchors and training stop at faces of a few hundred
pixels. On a photo where a face is larger (a portrait, a selfie, any 12-megapixel phone photo) the
network finds parts of it (eyes and mouth boxes scoring 0.7) and not the face. A second pass with
the photo scaled so its longer side is the training input size shows such faces at the size the
network learned; on a 1024x768 photo it costs 14 % of the speed (docs/performance.md).

How the two passes are merged (as S3FD's and PyramidBox's multi-scale testing do): each keeps the
face sizes it sees well. The fine pass (the stage's own policy) keeps boxes whose longer side in
its input is at most ``split`` of the training input size; the coarse pass keeps the larger ones;
then one NMS over the union (the stage's IoU) removes the pairs that straddle the split, and the
best ``max_detections`` stay. A photo whose fine input is no larger than the training input gets
one pass: a coarse pass would see the same scale.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from facessd_archive.evaluate.resizing import ResizePolicy

DEFAULT_SPLIT = 0.5  # chosen on the training holdouts: docs/benchmarks.md, "Two-scale inference"


@dataclass(frozen=True)
class TwoScale:
    coarse_side: int  # the coarse pass's longer side: the stage's training input size
    split: float = DEFAULT_SPLIT  # fine keeps boxes up to split * coarse_side (fine input pixels)
    iou_threshold: float = 0.4
    max_detections: int = 100

    def coarse_policy(self, fine: ResizePolicy) -> ResizePolicy:
        return dataclasses.replace(fine, kind="keep_aspect", max_side=self.coarse_side, pad_to_square=False)

    def needs_coarse(self, fine: ResizePolicy, height: int, width: int) -> bool:
        rh, rw, _, _ = fine.input_shape(height, width)
        return max(rh, rw) > self.coarse_side

    def split_pixels(self, fine: ResizePolicy, height: int, width: int) -> float:
        """The longer box side, in the photo's pixels, above which a face is taken from the coarse pass."""
        rh, rw, _, _ = fine.input_shape(height, width)
        return self.split * self.coarse_side * max(height, width) / max(rh, rw)

    def describe(self) -> str:
        return f"two scales (+ longer side {self.coarse_side} for faces over {self.split:g} of it)"


def merge(fine_boxes: np.ndarray, fine_scores: np.ndarray, coarse_boxes: np.ndarray, coarse_scores: np.ndarray,
          split_pixels: float, iou_threshold: float, max_detections: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel boxes ``[N, 4]`` (xmin, ymin, xmax, ymax) of both passes -> the merged boxes and scores,
    best first: each pass keeps its side of ``split_pixels``, then one NMS over the union."""
    def longer_side(boxes: np.ndarray) -> np.ndarray:
        return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])

    keep_fine = longer_side(fine_boxes) <= split_pixels
    keep_coarse = longer_side(coarse_boxes) > split_pixels
    boxes = np.concatenate([fine_boxes[keep_fine], coarse_boxes[keep_coarse]]).astype(np.float32)
    scores = np.concatenate([fine_scores[keep_fine], coarse_scores[keep_coarse]]).astype(np.float32)
    if len(scores) == 0:
        return boxes.reshape(0, 4), scores
    yxyx = boxes[:, [1, 0, 3, 2]]
    chosen = tf.image.non_max_suppression(yxyx, scores, max_detections, iou_threshold=iou_threshold).numpy()
    return boxes[chosen], scores[chosen]  # NMS returns them by descending score
