"""MobileNetV1 feature extractor with the SSD extra blocks (OD API ``ssd_mobilenet_v1``).

Layer names follow the TF1 checkpoint scopes (``Conv2d_11_pointwise``,
``Conv2d_13_pointwise_2_Conv2d_2_3x3_s2_512``...) with ``/`` replaced by ``_``, so
``interop/`` can map Object Detection API checkpoints onto this graph by name.
"""

from __future__ import annotations

import keras

from facessd_archive.model.config import MOBILENET_V1_BLOCKS, ModelConfig
from facessd_archive.model.fpn import top_down_fpn
from facessd_archive.model.layers import FusedBatchNorm


def _conv_bn_relu6(x, filters: int, kernel: int, stride: int, name: str, config: ModelConfig, l2: float):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name,
                            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.03),
                            kernel_regularizer=keras.regularizers.L2(l2) if l2 else None)(x)
    x = FusedBatchNorm(config.batch_norm_momentum, config.batch_norm_epsilon, name=f"{name}_BatchNorm")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x)


def _depthwise_bn_relu6(x, stride: int, name: str, config: ModelConfig, l2: float):
    x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=name,
                                     depthwise_initializer=keras.initializers.TruncatedNormal(stddev=0.03),
                                     depthwise_regularizer=keras.regularizers.L2(l2) if l2 else None)(x)
    x = FusedBatchNorm(config.batch_norm_momentum, config.batch_norm_epsilon, name=f"{name}_BatchNorm")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x)


def build_feature_maps(images, config: ModelConfig) -> list:
    """The SSD feature maps (``config.feature_maps``) for preprocessed ``images`` ([B, H, W, 3] in [-1, 1])."""
    # slim's l2_regularizer(w) adds w * sum(x^2) / 2; Keras' L2(l) adds l * sum(x^2).
    l2 = config.loss.l2_weight / 2.0
    layout = config.feature_maps
    x = _conv_bn_relu6(images, config.depth(32), 3, 2, "Conv2d_0", config, l2)
    taps = []
    for i, (depth, stride) in enumerate(MOBILENET_V1_BLOCKS[:max(layout.taps)], start=1):
        x = _depthwise_bn_relu6(x, stride, f"Conv2d_{i}_depthwise", config, l2)
        x = _conv_bn_relu6(x, config.depth(depth), 1, 1, f"Conv2d_{i}_pointwise", config, l2)
        if i in layout.taps:
            taps.append(x)
    if layout.fpn_depth:
        taps = top_down_fpn(taps, config.depth(layout.fpn_depth), config, l2)
        x = taps[-1]
    for j, depth in enumerate(layout.extra_depths, start=2):
        half = config.depth(depth // 2)
        full = config.depth(depth)
        x = _conv_bn_relu6(x, half, 1, 1, f"Conv2d_13_pointwise_1_Conv2d_{j}_1x1_{half}", config, l2)
        x = _conv_bn_relu6(x, full, 3, 2, f"Conv2d_13_pointwise_2_Conv2d_{j}_3x3_s2_{full}", config, l2)
        taps.append(x)
    return taps
