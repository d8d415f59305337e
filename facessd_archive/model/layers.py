"""Keras layers the stock library lacks or implements slowly for this model.

``FusedBatchNorm`` exists for speed: Keras 3's BatchNormalization computes moments
and normalises with separate ops, while TensorFlow's FusedBatchNormV3 kernel
(oneDNN on x86) does it in one pass forwards and backwards. On this 2-core CPU
that is a large share of a MobileNet training step (see docs/performance.md).
Variable names match the OD API (gamma, beta, moving_mean, moving_variance).
"""

from __future__ import annotations

import keras
import tensorflow as tf


class FusedBatchNorm(keras.layers.Layer):
    """Batch normalisation over the last axis of NHWC tensors with TensorFlow's fused kernel."""

    def __init__(self, momentum: float = 0.9997, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        c = int(input_shape[-1])
        # autocast=False: under a mixed-precision policy the statistics stay float32 (as in Keras' own BN).
        self.gamma = self.add_weight(name="gamma", shape=(c,), initializer="ones", autocast=False)
        self.beta = self.add_weight(name="beta", shape=(c,), initializer="zeros", autocast=False)
        self.moving_mean = self.add_weight(name="moving_mean", shape=(c,), initializer="zeros", trainable=False,
                                           autocast=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=(c,), initializer="ones",
                                               trainable=False, autocast=False)

    def call(self, x, training=None):
        gamma = tf.cast(self.gamma, tf.float32)
        beta = tf.cast(self.beta, tf.float32)
        dtype = x.dtype
        x32 = tf.cast(x, tf.float32)
        if training:
            y, mean, var = tf.compat.v1.nn.fused_batch_norm(x32, gamma, beta, epsilon=self.epsilon,
                                                            is_training=True)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(x32, gamma, beta, mean=tf.cast(self.moving_mean, tf.float32),
                                                       variance=tf.cast(self.moving_variance, tf.float32),
                                                       epsilon=self.epsilon, is_training=False)
        return tf.cast(y, dtype)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


class NearestUpsample2x(keras.layers.Layer):
    """Nearest-neighbour upsampling by 2 as four copies of the channels and ``depth_to_space``.

    The same values as ``keras.layers.UpSampling2D(2, interpolation="nearest")``, which Keras builds
    from ``repeat`` (EXPAND_DIMS, TILE and a RESHAPE with a computed shape in a TFLite graph): TILE is
    not an XNNPACK op, so each upsampling split the delegated graph and ran in TFLite's own kernels.
    CONCATENATION and DEPTH_TO_SPACE are XNNPACK ops in float and int8, so no upsampling splits the
    delegated graph (docs/runtimes.md, "Where the int8 time goes"). depth_to_space reads channel block ``(2i + j)`` for output pixel
    ``(2y + i, 2x + j)``; with four equal blocks each output pixel is its source pixel.
    """

    def call(self, x):
        return tf.nn.depth_to_space(tf.concat([x, x, x, x], axis=-1), 2)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return b, None if h is None else 2 * h, None if w is None else 2 * w, c
