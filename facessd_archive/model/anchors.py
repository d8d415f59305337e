"""Multiple-grid anchors (the OD API's ``multiple_grid_anchor_generator``), computed once in NumPy.

Anchors are an input to everything downstream (targets, decode), never hidden state.
Boxes are normalised ``[ymin, xmin, ymax, xmax]``, not clipped to the image.
Order: anchor kind fastest, then x, then y, then layer: the order in which the
convolutional box predictor's reshaped outputs come out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facessd_archive.model.config import AnchorConfig, ModelConfig, feature_map_sizes


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


def generate_anchors(anchors: AnchorConfig, grids: list[int]) -> np.ndarray:
    """All anchors for square feature maps of the given sides: float32 ``[A, 4]`` yxyx, normalised."""
    out = []
    for spec in layer_specs(anchors, grids):
        g = spec.grid
        centers = (np.arange(g, dtype=np.float64) + 0.5) / g
        sr = np.array(spec.scales_and_ratios, dtype=np.float64)
        heights = sr[:, 0] / np.sqrt(sr[:, 1])
        widths = sr[:, 0] * np.sqrt(sr[:, 1])
        # Broadcast to [y, x, kind]: kind varies fastest, then x, then y.
        cy = np.broadcast_to(centers[:, None, None], (g, g, len(sr)))
        cx = np.broadcast_to(centers[None, :, None], (g, g, len(sr)))
        h = np.broadcast_to(heights[None, None, :], (g, g, len(sr)))
        w = np.broadcast_to(widths[None, None, :], (g, g, len(sr)))
        boxes = np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)
        out.append(boxes.reshape(-1, 4))
    return np.concatenate(out, axis=0).astype(np.float32)


def anchors_for(config: ModelConfig, grids: list[int] | None = None) -> np.ndarray:
    """Anchors for a model config; ``grids`` defaults to the feature-map sides its input size gives."""
    return generate_anchors(config.anchors, grids if grids is not None else feature_map_sizes(config.input_size))
