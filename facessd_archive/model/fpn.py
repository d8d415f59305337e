"""The OD API's top-down feature pyramid (``fpn_generators.build_fpn_feature_maps``), in Keras.

From the coarsest tapped map down: a 1x1 projection to ``depth`` channels, nearest-neighbour
upsampling by 2 (``NearestUpsample2x``, which keeps the TFLite graph whole for XNNPACK), the sum
with the next finer map's 1x1 projection, then a 3x3 smoothing convolution (depthwise-separable,
BN, ReLU6, as the mobile FPN configs use). Finer maps then see the context of coarser ones, which
is what the stride-8 level needs to tell a 12-pixel face from texture. Map sides must divide evenly (the resizer pads inputs to a multiple of the
coarsest tap's stride).
"""

from __future__ import annotations

import keras

from facessd_archive.model.config import ModelConfig
from facessd_archive.model.layers import FusedBatchNorm, NearestUpsample2x


def _separable_bn_relu6(x, depth: int, name: str, config: ModelConfig, l2: float):
    reg = keras.regularizers.L2(l2) if l2 else None
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_depthwise",
                                     depthwise_initializer=keras.initializers.TruncatedNormal(stddev=0.03),
                                     depthwise_regularizer=reg)(x)
    x = keras.layers.Conv2D(depth, 1, use_bias=False, name=name,
                            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.03),
                            kernel_regularizer=reg)(x)
    x = FusedBatchNorm(config.batch_norm_momentum, config.batch_norm_epsilon, name=f"{name}_BatchNorm")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x)


def top_down_fpn(taps: list, depth: int, config: ModelConfig, l2: float) -> list:
    """FPN outputs for the tapped maps (finest first), each with ``depth`` channels."""
    reg = keras.regularizers.L2(l2) if l2 else None

    def project(x, i):
        return keras.layers.Conv2D(depth, 1, name=f"FeatureMaps_top_down_projection_{i}",
                                   kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.03),
                                   kernel_regularizer=reg)(x)

    n = len(taps)
    top = project(taps[-1], n)
    outputs = [_separable_bn_relu6(top, depth, f"FeatureMaps_top_down_smoothing_{n}", config, l2)]
    for i in range(n - 2, -1, -1):
        up = NearestUpsample2x(name=f"FeatureMaps_top_down_upsample_{i + 1}")(top)
        top = keras.layers.Add(name=f"FeatureMaps_top_down_add_{i + 1}")([up, project(taps[i], i + 1)])
        outputs.insert(0, _separable_bn_relu6(top, depth, f"FeatureMaps_top_down_smoothing_{i + 1}", config, l2))
    return outputs
