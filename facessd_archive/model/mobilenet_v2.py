"""MobileNetV2 feature extractor with the SSD extra blocks (OD API ``ssd_mobilenet_v2``).

Taps are the OD API's ``layer_N`` (N = 1..19; torchvision's ``features[N - 1]``): layer 7 ends
at stride 8 (32 channels), layer 14 at stride 16 (96), layer 19 at stride 32 (1280), the taps
of ``ssd_mobilenet_v2_fpn``. Layer names are slim's MobilenetV2 scopes with ``/`` -> ``_``
(``Conv``, ``expanded_conv``, ``expanded_conv_N_expand|_depthwise|_project``, ``Conv_1``), each
with ``_BatchNorm``. Stride-2 convolutions pad symmetrically (the OD API's
``use_explicit_padding``), as torchvision's do, so converted ImageNet weights
(``model/pretrained.py``) compute the same features as in torchvision.
"""

from __future__ import annotations

import keras

from facessd_archive.model.blocks import conv_bn, depthwise_bn_relu6, extra_feature_blocks
from facessd_archive.model.config import MOBILENET_V2_LAYERS, ModelConfig
from facessd_archive.model.fpn import top_down_fpn


def block_scope(layer: int) -> str:
    """Slim's scope of ``layer_<layer>`` for layers 2..18 (``expanded_conv``, ``expanded_conv_1``...)."""
    return "expanded_conv" if layer == 2 else f"expanded_conv_{layer - 2}"


def _inverted_residual(x, layer: int, config: ModelConfig, l2: float):
    depth, stride, expansion = MOBILENET_V2_LAYERS[layer - 1]
    name = block_scope(layer)
    inputs = x
    channels_in = int(x.shape[-1])
    if expansion != 1:
        x = conv_bn(x, channels_in * expansion, 1, 1, f"{name}_expand", config, l2)
    x = depthwise_bn_relu6(x, stride, f"{name}_depthwise", config, l2, explicit_padding=True)
    out = config.depth_divisible(depth)
    x = conv_bn(x, out, 1, 1, f"{name}_project", config, l2, relu6=False)
    if stride == 1 and channels_in == out:
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


def build_mobilenet_v2_feature_maps(images, config: ModelConfig, l2: float) -> list:
    """The SSD feature maps (``config.feature_maps``) for preprocessed ``images``."""
    layout = config.feature_maps
    last = len(MOBILENET_V2_LAYERS)
    x = conv_bn(images, config.depth_divisible(32), 3, 2, "Conv", config, l2, explicit_padding=True)
    taps = [x] if 1 in layout.taps else []
    for layer in range(2, max(layout.taps) + 1):
        if layer == last:
            # slim keeps 1280 channels for multipliers below 1 (the classifier's input).
            depth = config.depth_divisible(1280) if config.depth_multiplier > 1 else 1280
            x = conv_bn(x, depth, 1, 1, "Conv_1", config, l2)
        else:
            x = _inverted_residual(x, layer, config, l2)
        if layer in layout.taps:
            taps.append(x)
    if layout.fpn_depth:
        taps = top_down_fpn(taps, config.depth(layout.fpn_depth), config, l2)
    return taps + extra_feature_blocks(taps[-1], config, l2, f"layer_{max(layout.taps)}", explicit_padding=True)
