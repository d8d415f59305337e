"""Batch-norm statistics over the global batch when one step runs on several replicas.

Under ``MirroredStrategy`` / ``MultiWorkerMirroredStrategy`` / ``TPUStrategy`` each replica sees
``batch / replicas`` images; a batch norm that normalises by its own share trains another model
than one device on the whole batch (what the TPU configs of the OD API avoid with cross-replica
batch norm). ``synchronize_batch_norm`` makes every batch-norm layer of a network compute its
training moments across replicas: mean, then variance about it, each all-reduced (two passes,
as exact as the fused single-device kernel within float rounding). Gradients flow through the
all-reduce. Inference and single-replica training are untouched.

The network's ``FusedBatchNorm`` (``model/layers.py``) has no switch for this, so the layers'
``call`` is wrapped per instance here, for the run's lifetime only; nothing is saved differently.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from facessd_archive.model.layers import FusedBatchNorm


def _synchronized_call(layer: FusedBatchNorm):
    single = layer.call

    def call(x, training=None):
        context = tf.distribute.get_replica_context()
        if not training or context is None or context.num_replicas_in_sync == 1:
            return single(x, training=training)
        x32 = tf.cast(x, tf.float32)
        axes = list(range(len(x32.shape) - 1))
        count = tf.cast(tf.reduce_prod(tf.shape(x32)[:-1]), tf.float32)
        total, local_sum = context.all_reduce(tf.distribute.ReduceOp.SUM, [count, tf.reduce_sum(x32, axes)])
        mean = local_sum / total
        variance = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                      tf.reduce_sum(tf.square(x32 - mean), axes)) / total
        y = tf.nn.batch_normalization(x32, mean, variance, tf.cast(layer.beta, tf.float32),
                                      tf.cast(layer.gamma, tf.float32), layer.epsilon)
        m = layer.momentum
        unbiased = variance * total / tf.maximum(total - 1.0, 1.0)  # as the fused kernel's running variance
        layer.moving_mean.assign(layer.moving_mean * m + mean * (1.0 - m))
        layer.moving_variance.assign(layer.moving_variance * m + unbiased * (1.0 - m))
        return tf.cast(y, x.dtype)

    return call


def synchronize_batch_norm(network: keras.Model) -> int:
    """Make every batch-norm layer of ``network`` normalise over the global batch; returns how many."""
    count = 0
    for layer in network._flatten_layers(include_self=False):
        if isinstance(layer, FusedBatchNorm) and not getattr(layer, "_facessd_synchronized", False):
            layer.call = _synchronized_call(layer)
            layer._facessd_synchronized = True
            count += 1
        elif isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
            count += 1
    return count
