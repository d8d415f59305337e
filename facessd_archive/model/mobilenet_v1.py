"""MobileNetV1 feature extractor with the SSD extra blocks (OD API ``ssd_mobilenet_v1``).

Layer names follow the TF1 checkpoint scopes (``Conv2d_11_pointwise``,
``Conv2d_13_pointwise_2_Conv2d_2_3x3_s2_512``...) with ``/`` replaced by ``_``, so
Object Detection API checkpoints map onto this graph by name.
"""

from __future__ import annotations

from facessd_archive.model.blocks import conv_bn, depthwise_bn_relu6, extra_feature_blocks
from facessd_archive.model.config import MOBILENET_V1_BLOCKS, ModelConfig
from facessd_archive.model.fpn import top_down_fpn


def build_mobilenet_v1_feature_maps(images, config: ModelConfig, l2: float) -> list:
    """The SSD feature maps (``config.feature_maps``) for preprocessed ``images``."""
    layout = config.feature_maps
    x = conv_bn(images, config.depth(32), 3, 2, "Conv2d_0", config, l2)
    taps = []
    for i, (depth, stride) in enumerate(MOBILENET_V1_BLOCKS[:max(layout.taps)], start=1):
        x = depthwise_bn_relu6(x, stride, f"Conv2d_{i}_depthwise", config, l2)
        x = conv_bn(x, config.depth(depth), 1, 1, f"Conv2d_{i}_pointwise", config, l2)
        if i in layout.taps:
            taps.append(x)
    if layout.fpn_depth:
        taps = top_down_fpn(taps, config.depth(layout.fpn_depth), config, l2)
    return taps + extra_feature_blocks(taps[-1], config, l2, "Conv2d_13_pointwise")
