"""Convolution + batch norm + ReLU6 blocks shared by the MobileNet feature extractors.

Layer names are the TF1 checkpoint scopes with ``/`` replaced by ``_`` (``Conv2d_0``,
``expanded_conv_3_expand``...), each followed by ``<name>_BatchNorm``; the OD API importer
maps checkpoints onto the graph by these names. ``explicit_padding`` is the OD API's
``use_explicit_padding``: pad (k - 1) / 2 on every side, then a VALID convolution, instead of
TF's SAME (which pads stride-2 layers only at the bottom and right); same output shapes.
"""

from __future__ import annotations

import keras

from facessd_archive.model.config import ModelConfig
from facessd_archive.model.layers import FusedBatchNorm


def _init():
    return keras.initializers.TruncatedNormal(stddev=0.03)


def _pad(x, kernel: int, explicit_padding: bool, name: str):
    if explicit_padding and kernel > 1:
        return keras.layers.ZeroPadding2D((kernel - 1) // 2, name=f"{name}_pad")(x), "valid"
    return x, "same"


def batch_norm(x, name: str, config: ModelConfig):
    return FusedBatchNorm(config.batch_norm_momentum, config.batch_norm_epsilon, name=f"{name}_BatchNorm")(x)


def conv_bn(x, filters: int, kernel: int, stride: int, name: str, config: ModelConfig, l2: float,
            relu6: bool = True, explicit_padding: bool = False):
    """Conv2D (no bias) -> BN [-> ReLU6]."""
    x, padding = _pad(x, kernel, explicit_padding, name)
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=name,
                            kernel_initializer=_init(), kernel_regularizer=keras.regularizers.L2(l2) if l2 else None)(x)
    x = batch_norm(x, name, config)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if relu6 else x


def depthwise_bn_relu6(x, stride: int, name: str, config: ModelConfig, l2: float, explicit_padding: bool = False):
    """3x3 DepthwiseConv2D (no bias) -> BN -> ReLU6."""
    x, padding = _pad(x, 3, explicit_padding, name)
    x = keras.layers.DepthwiseConv2D(3, strides=stride, padding=padding, use_bias=False, name=name,
                                     depthwise_initializer=_init(),
                                     depthwise_regularizer=keras.regularizers.L2(l2) if l2 else None)(x)
    x = batch_norm(x, name, config)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x)


def extra_feature_blocks(x, config: ModelConfig, l2: float, prefix: str, explicit_padding: bool = False) -> list:
    """The SSD extra layers after the last tap (OD API names ``<prefix>_1_Conv2d_<j>_1x1_<d/2>`` and
    ``<prefix>_2_Conv2d_<j>_3x3_s2_<d>``), each halving the map."""
    maps = []
    for j, depth in enumerate(config.feature_maps.extra_depths, start=2):
        half = config.depth(depth // 2)
        full = config.depth(depth)
        x = conv_bn(x, half, 1, 1, f"{prefix}_1_Conv2d_{j}_1x1_{half}", config, l2)
        x = conv_bn(x, full, 3, 2, f"{prefix}_2_Conv2d_{j}_3x3_s2_{full}", config, l2,
                    explicit_padding=explicit_padding)
        maps.append(x)
    return maps
