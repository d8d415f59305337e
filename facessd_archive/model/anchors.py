"""Multiple-grid anchors (the OD API's ``multiple_grid_anchor_generator``), computed once in NumPy.

Anchors are an input to everything downstream (targets, decode), never hidden state.
Boxes are normalised ``[ymin, xmin, ymax, xmax]`` to the network input, not clipped to it.
``multiple_grid`` (the zoo model) sizes anchors as fractions of the input's shorter side;
``multiscale`` (the FPN configs) in pixels per stride, so they hold at any input shape.
Order: anchor kind fastest, then x, then y, then layer: the order in which the
convolutional box predictor's reshaped outputs come out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facessd_archive.model.config import AnchorConfig, ModelConfig, feature_map_shapes


@dataclass(frozen=True)
class LayerAnchorSpec:
    """The (scale, aspect ratio) pairs placed at every cell of one feature map."""

    grid: int
    scales_and_ratios: tuple[tuple[float, float], ...]


def layer_specs(anchors: AnchorConfig, grids: list[int]) -> list[LayerAnchorSpec]:
    """Per-layer (scale, aspect ratio) lists, exactly as the OD API builds them."""
    scales = anchors.scales() + [1.0]
    specs = []
    for i, grid in enumerate(grids):
        if i == 0 and anchors.reduce_boxes_in_lowest_layer:
            pairs = [(anchors.lowest_layer_scale, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            pairs = [(scales[i], ar) for ar in anchors.aspect_ratios]
            if anchors.interpolated_scale_aspect_ratio > 0:
                pairs.append((math.sqrt(scales[i] * scales[i + 1]), anchors.interpolated_scale_aspect_ratio))
        specs.append(LayerAnchorSpec(grid=grid, scales_and_ratios=tuple(pairs)))
    return specs


Grid = tuple[int, int]  # (rows, cols) of one feature map


def _as_grids(grids) -> list[Grid]:
    return [(g, g) if isinstance(g, (int, np.integer)) else (int(g[0]), int(g[1])) for g in grids]


def _grid_boxes(cy: np.ndarray, cx: np.ndarray, heights: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """[rows * cols * kinds, 4] yxyx: kind varies fastest, then x, then y."""
    k = len(heights)
    gy, gx = len(cy), len(cx)
    cyb = np.broadcast_to(cy[:, None, None], (gy, gx, k))
    cxb = np.broadcast_to(cx[None, :, None], (gy, gx, k))
    h = np.broadcast_to(heights[None, None, :], (gy, gx, k))
    w = np.broadcast_to(widths[None, None, :], (gy, gx, k))
    return np.stack([cyb - h / 2, cxb - w / 2, cyb + h / 2, cxb + w / 2], axis=-1).reshape(-1, 4)


def multiscale_specs(anchors: AnchorConfig) -> list[list[tuple[float, float]]]:
    """Per level, the (size in pixels, aspect ratio) pairs of ``multiscale_anchor_generator``."""
    specs = []
    for level in range(anchors.min_level, anchors.max_level + 1):
        base = anchors.anchor_scale * 2 ** level
        specs.append([(base * 2 ** (k / anchors.scales_per_octave), ar)
                      for k in range(anchors.scales_per_octave) for ar in anchors.aspect_ratios])
    return specs


def generate_anchors(anchors: AnchorConfig, grids, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """All anchors for the given feature maps: float32 ``[A, 4]`` yxyx, normalised to the input.

    ``grids``: per map, its side (square) or (rows, cols). ``image_shape`` (height, width) of the
    network input: ``multiple_grid`` scales are fractions of its shorter side (as the OD API
    normalises them), ``multiscale`` sizes are pixels; it defaults to a square input.
    """
    grids = _as_grids(grids)
    out = []
    if anchors.kind == "multiscale":
        if image_shape is None:
            raise ValueError("multiscale anchors need the input's (height, width)")
        height, width = image_shape
        for level, (gy, gx), pairs in zip(range(anchors.min_level, anchors.max_level + 1), grids,
                                          multiscale_specs(anchors)):
            stride = 2 ** level
            sr = np.array(pairs, dtype=np.float64)
            cy = (np.arange(gy, dtype=np.float64) * stride + stride / 2) / height
            cx = (np.arange(gx, dtype=np.float64) * stride + stride / 2) / width
            out.append(_grid_boxes(cy, cx, sr[:, 0] / np.sqrt(sr[:, 1]) / height, sr[:, 0] * np.sqrt(sr[:, 1]) / width))
        return np.concatenate(out, axis=0).astype(np.float32)
    if image_shape is None:
        y_factor = x_factor = 1.0
    else:
        shorter = min(image_shape)
        y_factor, x_factor = shorter / image_shape[0], shorter / image_shape[1]
    for spec, (gy, gx) in zip(layer_specs(anchors, [g for g, _ in grids]), grids):
        sr = np.array(spec.scales_and_ratios, dtype=np.float64)
        cy = (np.arange(gy, dtype=np.float64) + 0.5) / gy
        cx = (np.arange(gx, dtype=np.float64) + 0.5) / gx
        out.append(_grid_boxes(cy, cx, sr[:, 0] / np.sqrt(sr[:, 1]) * y_factor, sr[:, 0] * np.sqrt(sr[:, 1]) * x_factor))
    return np.concatenate(out, axis=0).astype(np.float32)


def anchors_for(config: ModelConfig, grids=None, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Anchors for a model config at ``image_shape`` (default: the square training input); ``grids``
    default to the feature-map shapes that input gives."""
    shape = image_shape or (config.input_size, config.input_size)
    if grids is None:
        grids = feature_map_shapes(shape[0], shape[1], config.feature_maps, config.feature_extractor)
    return generate_anchors(config.anchors, grids, shape)
