"""Multiple-grid anchors: counts, per-layer scales/ratios, ordering, and agreement with the real network."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facessd_archive.model.anchors import anchors_for, generate_anchors, layer_specs
from facessd_archive.model.config import AnchorConfig, ModelConfig, feature_map_sizes, face_config


def _center_size(box):
    ymin, xmin, ymax, xmax = (float(v) for v in box)
    return (ymin + ymax) / 2, (xmin + xmax) / 2, ymax - ymin, xmax - xmin


def _assert_anchor(box, cy, cx, scale, ar):
    got = _center_size(box)
    want = (cy, cx, scale / math.sqrt(ar), scale * math.sqrt(ar))
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_1917_anchors_at_300():
    a = anchors_for(ModelConfig())
    assert a.shape == (1917, 4)
    assert a.dtype == np.float32
    # 19*19*3 + 10*10*6 + 5*5*6 + 3*3*6 + 2*2*6 + 1*1*6
    assert 1083 + 600 + 150 + 54 + 24 + 6 == 1917


def test_grids_and_counts_at_150_and_33():
    assert feature_map_sizes(150) == [10, 5, 3, 2, 1, 1]
    assert anchors_for(ModelConfig(input_size=150)).shape == (10 * 10 * 3 + 25 * 6 + 9 * 6 + 4 * 6 + 6 + 6, 4)
    assert feature_map_sizes(33) == [3, 2, 1, 1, 1, 1]
    assert anchors_for(ModelConfig(input_size=33)).shape == (27 + 24 + 6 * 4, 4)
    assert feature_map_sizes(301) == [19, 10, 5, 3, 2, 1]
    assert feature_map_sizes(512) == [32, 16, 8, 4, 2, 1]


def test_layer_specs_scales_and_aspect_ratios():
    specs = layer_specs(AnchorConfig(), [19, 10, 5, 3, 2, 1])
    assert [s.grid for s in specs] == [19, 10, 5, 3, 2, 1]
    np.testing.assert_allclose(specs[0].scales_and_ratios, [(0.1, 1.0), (0.2, 2.0), (0.2, 0.5)])
    for i in range(1, 6):
        s_i = 0.2 + 0.75 * i / 5
        s_next = 0.2 + 0.75 * (i + 1) / 5 if i < 5 else 1.0
        want = [(s_i, 1.0), (s_i, 2.0), (s_i, 0.5), (s_i, 3.0), (s_i, 1 / 3), (math.sqrt(s_i * s_next), 1.0)]
        np.testing.assert_allclose(specs[i].scales_and_ratios, want, rtol=1e-12, err_msg=f"layer {i}")


def test_layer_specs_follow_the_config():
    anchors = AnchorConfig(min_scale=0.05, max_scale=0.8, aspect_ratios=(1.0, 2.0), lowest_layer_scale=0.03)
    specs = layer_specs(anchors, [4, 2, 1, 1, 1, 1])
    np.testing.assert_allclose(specs[0].scales_and_ratios, [(0.03, 1.0), (0.05, 2.0), (0.05, 0.5)])
    np.testing.assert_allclose(specs[1].scales_and_ratios, [(0.2, 1.0), (0.2, 2.0), (math.sqrt(0.2 * 0.35), 1.0)])
    full = layer_specs(AnchorConfig(reduce_boxes_in_lowest_layer=False), [1] * 6)
    assert len(full[0].scales_and_ratios) == 6
    np.testing.assert_allclose(full[0].scales_and_ratios[0], (0.2, 1.0))


def test_ordering_kind_fastest_then_x_then_y_then_layer():
    a = anchors_for(ModelConfig())
    g = 19
    # layer 0, cell (y0, x0): kinds (0.1, 1), (0.2, 2), (0.2, 0.5)
    _assert_anchor(a[0], 0.5 / g, 0.5 / g, 0.1, 1.0)
    _assert_anchor(a[1], 0.5 / g, 0.5 / g, 0.2, 2.0)
    _assert_anchor(a[2], 0.5 / g, 0.5 / g, 0.2, 0.5)
    # next x
    _assert_anchor(a[3], 0.5 / g, 1.5 / g, 0.1, 1.0)
    # second row (y=1, x=0) starts after 19 cells of 3 kinds
    _assert_anchor(a[57], 1.5 / g, 0.5 / g, 0.1, 1.0)
    # y=2, x=5, kind 2
    _assert_anchor(a[2 * 57 + 5 * 3 + 2], 2.5 / g, 5.5 / g, 0.2, 0.5)
    # last anchor of layer 0
    _assert_anchor(a[1082], 18.5 / g, 18.5 / g, 0.2, 0.5)
    # layer 1 (grid 10, scale 0.35) starts at 1083
    _assert_anchor(a[1083], 0.05, 0.05, 0.35, 1.0)
    _assert_anchor(a[1083 + 3], 0.05, 0.05, 0.35, 3.0)
    _assert_anchor(a[1083 + 5], 0.05, 0.05, math.sqrt(0.35 * 0.5), 1.0)
    _assert_anchor(a[1083 + 6], 0.05, 0.15, 0.35, 1.0)
    _assert_anchor(a[1083 + 60], 0.15, 0.05, 0.35, 1.0)
    # layer 2 (grid 5, scale 0.5) starts at 1683
    _assert_anchor(a[1683 + 6 * 5 * 2 + 6 * 3 + 1], 0.5, 0.7, 0.5, 2.0)
    # layer 5: one cell, scale 0.95, interpolated with 1.0
    _assert_anchor(a[1911], 0.5, 0.5, 0.95, 1.0)
    _assert_anchor(a[1914], 0.5, 0.5, 0.95, 3.0)
    _assert_anchor(a[1916], 0.5, 0.5, math.sqrt(0.95), 1.0)


def test_height_and_width_from_scale_and_ratio():
    # h = s / sqrt(ar), w = s * sqrt(ar): ar 2 is wider than tall.
    a = generate_anchors(AnchorConfig(), [1] * 6)
    cy, cx, h, w = _center_size(a[1])  # layer 0 (0.2, ar 2)
    assert w > h
    assert h == pytest.approx(0.2 / math.sqrt(2), abs=1e-7)
    assert w == pytest.approx(0.2 * math.sqrt(2), abs=1e-7)
    assert h * w == pytest.approx(0.04, abs=1e-7)


def test_anchors_are_not_clipped():
    a = anchors_for(ModelConfig())
    # layer 5's ar-3 anchor: w = 0.95 * sqrt(3) ~ 1.645 sticks out on both sides.
    assert a[1914, 1] < 0 and a[1914, 3] > 1
    assert a[:, :2].min() < 0 and a[:, 2:].max() > 1


def test_face_config_anchor_count_at_300():
    a = anchors_for(face_config(300))
    assert a.shape == (19 * 19 * 3 + (100 + 25 + 9 + 4 + 1) * 4, 4)


def test_explicit_grids_override_input_size():
    a = anchors_for(ModelConfig(), grids=[2, 1, 1, 1, 1, 1])
    assert a.shape == (12 + 30, 4)
    _assert_anchor(a[3], 0.25, 0.75, 0.1, 1.0)


@pytest.mark.parametrize("size", [33, 150, 300, 301, 512])
def test_feature_map_sizes_match_the_built_network(size):
    from facessd_archive.model.ssd import build_ssd_network, feature_map_grids

    config = ModelConfig(input_size=size, depth_multiplier=0.25)
    network = build_ssd_network(config)
    assert feature_map_grids(network) == feature_map_sizes(size)
    assert network.outputs[0].shape[1] == anchors_for(config).shape[0]
