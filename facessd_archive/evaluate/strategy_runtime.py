"""The SSD graph under a ``tf.distribute`` strategy, with static shapes: a ``Runtime`` (see ``runtime.py``).

What a TPU needs, and what every strategy gets here: one input shape for the whole run (a fixed
square: the model's own, or a keep-aspect policy padded to its ``square_side``), one global batch
(a short batch is padded with blank images whose results are dropped), and a fixed-size NMS
output (``static_postprocess``: ``tf.image.non_max_suppression_padded``, which XLA compiles,
instead of ``combined_non_max_suppression``, which it does not). The global batch is split
evenly over the replicas; each replica runs the network and the NMS on its share, and the results
are gathered back in input order (``strategy.gather``), on every worker.

Under ``MultiWorkerMirroredStrategy`` every worker runs the same command on the same benchmark and
feeds its own replicas' shares of each global batch; every worker ends with every detection.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.runtime import RawDetections
from facessd_archive.model import box_coder
from facessd_archive.model.detector import SSDDetector
from facessd_archive.model.postprocess import Detections


def static_postprocess(box_encodings: tf.Tensor, class_logits: tf.Tensor, anchors: tf.Tensor,
                       config) -> Detections:
    """``postprocess`` with static shapes throughout: per-class NMS by ``non_max_suppression_padded``.

    The same decisions as ``model.postprocess.postprocess`` (sigmoid, background dropped, NMS on
    the unclipped decoded boxes per class, at most ``max_detections`` per class and in all, boxes
    clipped to [0, 1] afterwards, padding rows zero), in ops with a fixed output size.
    Shapes: box_encodings [B, A, 4], class_logits [B, A, K+1], anchors [A, 4] -> ``Detections``.
    """
    pp = config.postprocess
    d = pp.max_detections
    boxes = box_coder.decode(tf.cast(box_encodings, tf.float32), anchors[None], config.box_coder.as_tuple())
    scores = tf.transpose(tf.sigmoid(tf.cast(class_logits, tf.float32))[..., 1:], [0, 2, 1])  # [B, K, A]
    num_classes = scores.shape[1]
    per_class_boxes = tf.broadcast_to(boxes[:, None], tf.concat([tf.shape(scores), [4]], 0))  # [B, K, A, 4]
    selected, num_valid = tf.image.non_max_suppression_padded(
        per_class_boxes, scores, d, iou_threshold=pp.iou_threshold, score_threshold=pp.score_threshold,
        pad_to_max_output_size=True)  # [B, K, D], [B, K]
    picked_scores = tf.gather(scores, selected, batch_dims=2)
    valid = tf.range(d)[None, None, :] < num_valid[..., None]
    picked_scores = tf.where(valid, picked_scores, -1.0)
    picked_boxes = tf.gather(per_class_boxes, selected, batch_dims=2)  # [B, K, D, 4]
    batch = tf.shape(scores)[0]
    flat_scores = tf.reshape(picked_scores, [batch, num_classes * d])
    top_scores, order = tf.math.top_k(flat_scores, k=d, sorted=True)  # every class's best, merged
    top_boxes = tf.gather(tf.reshape(picked_boxes, [batch, num_classes * d, 4]), order, batch_dims=1)
    kept = top_scores >= 0.0
    count = tf.minimum(tf.reduce_sum(num_valid, axis=1), d)
    return Detections(tf.where(kept[..., None], tf.clip_by_value(top_boxes, 0.0, 1.0), 0.0),
                      tf.where(kept, top_scores, 0.0), tf.where(kept, order // d, 0), tf.cast(count, tf.int32))


class StrategyRuntime:
    """``detector`` (built under ``strategy.scope()`` at its one square input) on every replica of ``strategy``.

    ``batch_size`` is the global batch: it must divide evenly over the replicas. Calls with fewer
    images are padded to it; calls with more run in several global batches.
    """

    def __init__(self, detector: SSDDetector, strategy: tf.distribute.Strategy, batch_size: int, label: str = ""):
        if detector.dynamic:
            raise ConfigError("a strategy runs one fixed input shape: build the detector at its square input")
        replicas = strategy.num_replicas_in_sync
        if batch_size < 1 or batch_size % replicas:
            raise ConfigError(f"--batch-size {batch_size} is the global batch: it must divide evenly over "
                              f"{replicas} replicas")
        self.detector = detector
        self.strategy = strategy
        self.batch_size = batch_size
        self.per_replica = batch_size // replicas
        self.input_size = detector.config.input_size
        self.side = int(detector.network.inputs[0].shape[1])
        self.name = label or f"tf under {type(strategy).__name__}"
        self._step = tf.function(self._distributed_step)

    def _replica_fn(self, images):
        raw = self.detector.predict_raw(images, training=False)
        d = static_postprocess(raw["box_encodings"], raw["class_logits"], self.detector.anchors, self.detector.config)
        return d.boxes, d.scores, d.num_detections

    def _distributed_step(self, images):
        per_replica = self.strategy.run(self._replica_fn, args=(images,))
        return [self.strategy.gather(t, axis=0) for t in per_replica]

    def _run_global_batch(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = images.shape[0]
        padded = np.zeros((self.batch_size, self.side, self.side, 3), np.float32)
        padded[:n] = images
        k = self.per_replica

        def share(context: tf.distribute.ValueContext) -> tf.Tensor:
            start = context.replica_id_in_sync_group * k
            return tf.constant(padded[start:start + k])

        distributed = self.strategy.experimental_distribute_values_from_function(share)
        boxes, scores, num = self._step(distributed)
        return boxes.numpy()[:n], scores.numpy()[:n], num.numpy()[:n]

    def __call__(self, images: np.ndarray) -> RawDetections:
        if tuple(images.shape[1:3]) != (self.side, self.side):
            raise ConfigError(f"this runtime runs {self.side}x{self.side} inputs, got {images.shape[1]}x"
                              f"{images.shape[2]}")
        parts = [self._run_global_batch(images[i:i + self.batch_size])
                 for i in range(0, images.shape[0], self.batch_size)]
        return RawDetections(*(np.concatenate(p) for p in zip(*parts)))
