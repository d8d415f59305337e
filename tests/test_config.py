"""ModelConfig: defaults (the OD API ssd_mobilenet_v1 numbers), validation, serialisation."""

from __future__ import annotations

import dataclasses
import json

import pytest

from facessd_archive.errors import ConfigError
from facessd_archive.model.config import (
    AnchorConfig,
    BoxCoderConfig,
    HardMinerConfig,
    LossConfig,
    MatcherConfig,
    ModelConfig,
    PostprocessConfig,
    face_config,
    feature_map_sizes,
    num_anchors_per_location,
    wider_face_config,
)


def test_defaults_are_the_od_api_ssd_mobilenet_v1_numbers():
    c = ModelConfig()
    assert (c.input_size, c.num_classes, c.depth_multiplier, c.min_depth) == (300, 1, 1.0, 16)
    assert c.box_predictor_kernel_size == 1
    assert (c.batch_norm_momentum, c.batch_norm_epsilon) == (0.9997, 0.001)
    assert c.class_names == ("face",)
    a = c.anchors
    assert (a.num_layers, a.min_scale, a.max_scale, a.lowest_layer_scale) == (6, 0.2, 0.95, 0.1)
    assert a.aspect_ratios == (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
    assert a.reduce_boxes_in_lowest_layer and a.interpolated_scale_aspect_ratio == 1.0
    assert c.box_coder.as_tuple() == (10.0, 10.0, 5.0, 5.0)
    assert (c.matcher.matched_threshold, c.matcher.unmatched_threshold) == (0.5, 0.5)
    assert c.matcher.force_match_for_each_row
    assert c.loss.classification == "sigmoid"
    assert (c.loss.focal_alpha, c.loss.focal_gamma, c.loss.smooth_l1_delta) == (0.75, 2.0, 1.0)
    assert c.loss.hard_example_miner == HardMinerConfig(3000, 0.99, 3.0, 0)
    assert c.loss.normalize_by_num_matches
    assert (c.postprocess.score_threshold, c.postprocess.iou_threshold, c.postprocess.max_detections) == (
        1e-8, 0.6, 100)


def test_depth_applies_multiplier_with_min_depth():
    c = ModelConfig(depth_multiplier=0.25)
    assert c.depth(512) == 128
    assert c.depth(32) == 16  # 8 raised to min_depth
    assert ModelConfig().depth(1024) == 1024


def test_scales_and_grids_and_anchors_per_location():
    assert AnchorConfig().scales() == pytest.approx([0.2, 0.35, 0.5, 0.65, 0.8, 0.95])
    assert feature_map_sizes(300) == [19, 10, 5, 3, 2, 1]
    assert feature_map_sizes(150) == [10, 5, 3, 2, 1, 1]
    assert num_anchors_per_location(AnchorConfig()) == [3, 6, 6, 6, 6, 6]
    assert num_anchors_per_location(AnchorConfig(reduce_boxes_in_lowest_layer=False)) == [6] * 6
    assert num_anchors_per_location(AnchorConfig(interpolated_scale_aspect_ratio=0.0)) == [3, 5, 5, 5, 5, 5]


@pytest.mark.parametrize("kwargs, phrase", [
    ({"input_size": 32}, "input_size must be >= 33, got 32"),
    ({"box_predictor_kernel_size": 2}, "box_predictor_kernel_size must be 1 or 3, got 2"),
    ({"depth_multiplier": 0.0}, "depth_multiplier must be > 0"),
    ({"num_classes": 0, "class_names": ()}, "num_classes must be >= 1"),
    ({"num_classes": 2}, "class_names has 1 names for num_classes=2"),
    ({"batch_norm_momentum": 1.0}, "batch_norm_momentum must be in (0, 1)"),
    ({"class_prior_probability": 1.0}, "class_prior_probability must be in [0, 1)"),
])
def test_model_config_rejects_bad_values(kwargs, phrase):
    with pytest.raises(ConfigError, match="ModelConfig") as info:
        ModelConfig(**kwargs)
    assert phrase in str(info.value)
    assert isinstance(info.value, ValueError)


def test_input_size_33_is_the_smallest_accepted():
    assert ModelConfig(input_size=33).input_size == 33


@pytest.mark.parametrize("make, phrase", [
    (lambda: MatcherConfig(matched_threshold=0.4, unmatched_threshold=0.5),
     "need 0 <= unmatched_threshold <= matched_threshold <= 1, got 0.5, 0.4"),
    (lambda: MatcherConfig(matched_threshold=1.5, unmatched_threshold=0.5), "matched_threshold <= 1"),
    (lambda: MatcherConfig(matched_threshold=0.5, unmatched_threshold=-0.1), "0 <= unmatched_threshold"),
    (lambda: PostprocessConfig(iou_threshold=0.0), "iou_threshold must be in (0, 1]"),
    (lambda: PostprocessConfig(score_threshold=1.0), "score_threshold must be in [0, 1)"),
    (lambda: PostprocessConfig(max_detections=0), "max_detections must be > 0"),
    (lambda: HardMinerConfig(iou_threshold=0.0), "iou_threshold must be in (0, 1]"),
    (lambda: HardMinerConfig(max_negatives_per_positive=0), "max_negatives_per_positive must be > 0"),
    (lambda: HardMinerConfig(min_negatives_per_image=-1), "min_negatives_per_image must be >= 0"),
    (lambda: LossConfig(classification="softmax"), "classification must be 'sigmoid' or 'focal', got 'softmax'"),
    (lambda: LossConfig(focal_alpha=1.5), "focal_alpha must be in [0, 1]"),
    (lambda: LossConfig(smooth_l1_delta=0.0), "smooth_l1_delta must be > 0"),
    (lambda: BoxCoderConfig(height_scale=0.0), "height_scale must be > 0"),
    (lambda: AnchorConfig(num_layers=1), "num_layers must be >= 2"),
    (lambda: ModelConfig(anchors=AnchorConfig(num_layers=5)), "must equal the number of feature maps"),
    (lambda: AnchorConfig(kind="multiscale", num_layers=4), "must equal max_level - min_level + 1"),
    (lambda: AnchorConfig(min_scale=0.5, max_scale=0.4), "need 0 < min_scale <= max_scale <= 1.5"),
    (lambda: AnchorConfig(aspect_ratios=(1.0, -2.0)), "aspect_ratios must be positive"),
    (lambda: AnchorConfig(aspect_ratios=()), "aspect_ratios must be positive"),
])
def test_nested_configs_reject_bad_values(make, phrase):
    with pytest.raises(ConfigError) as info:
        make()
    assert phrase in str(info.value)


def test_frozen_and_replace_revalidates():
    c = ModelConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.input_size = 150  # type: ignore[misc]
    assert dataclasses.replace(c, input_size=150).input_size == 150
    with pytest.raises(ConfigError, match="input_size must be >= 33"):
        dataclasses.replace(c, input_size=10)


@pytest.mark.parametrize("config", [
    ModelConfig(),
    face_config(),
    face_config(input_size=150, depth_multiplier=0.5),
    ModelConfig(num_classes=2, class_names=("face", "mask"), box_predictor_kernel_size=3,
                anchors=AnchorConfig(aspect_ratios=[1.0, 2.0]),
                matcher=MatcherConfig(0.6, 0.4, False),
                loss=LossConfig(classification="focal",
                                hard_example_miner=HardMinerConfig(100, 0.7, 2.0, 10))),
], ids=["default", "face", "face-150-0.5", "custom"])
def test_dict_and_json_round_trip(config):
    d = config.to_dict()
    assert isinstance(d["anchors"], dict) and isinstance(d["loss"], dict)
    back = ModelConfig.from_dict(d)
    assert back == config
    text = config.to_json()
    assert json.loads(text)["input_size"] == config.input_size
    again = ModelConfig.from_json(text)
    assert again == config
    # Nested dataclasses and tuples come back as the right types, not dicts and lists.
    assert isinstance(again.anchors, AnchorConfig)
    assert isinstance(again.anchors.aspect_ratios, tuple)
    assert isinstance(again.class_names, tuple)
    assert isinstance(again.postprocess, PostprocessConfig)
    miner = again.loss.hard_example_miner
    assert miner is None or isinstance(miner, HardMinerConfig)


def test_face_config_values_and_round_trip_keeps_no_miner():
    c = face_config(input_size=150, depth_multiplier=0.5)
    assert (c.input_size, c.depth_multiplier) == (150, 0.5)
    assert (c.anchors.min_scale, c.anchors.max_scale, c.anchors.lowest_layer_scale) == (0.05, 0.8, 0.03)
    assert c.anchors.aspect_ratios == (1.0, 2.0, 0.5)
    assert c.loss.classification == "focal" and c.loss.hard_example_miner is None
    assert c.postprocess.iou_threshold == 0.5
    assert c.class_prior_probability == 0.01
    back = ModelConfig.from_json(c.to_json())
    assert back.loss.hard_example_miner is None
    assert back == c


def test_unknown_top_level_field_is_rejected():
    d = ModelConfig().to_dict()
    d["input_szie"] = 300
    with pytest.raises(ConfigError, match=r"ModelConfig: unknown field\(s\) \['input_szie'\]"):
        ModelConfig.from_dict(d)


def test_unknown_nested_field_is_rejected_with_its_path():
    d = ModelConfig().to_dict()
    d["loss"]["hard_example_miner"]["max_negatives"] = 3
    with pytest.raises(ConfigError, match=r"ModelConfig\.loss\.hard_example_miner: unknown field"):
        ModelConfig.from_dict(d)


def test_nested_value_of_wrong_kind_is_rejected():
    with pytest.raises(ConfigError, match="ModelConfig.anchors: expected an object, got list"):
        ModelConfig.from_dict({"anchors": [0.2, 0.95]})
    with pytest.raises(ConfigError, match="expected an object"):
        ModelConfig.from_json("[1, 2]")


def test_bad_value_in_dict_is_validated():
    with pytest.raises(ConfigError, match="input_size must be >= 33"):
        ModelConfig.from_dict({"input_size": 20})
    with pytest.raises(ConfigError, match="MatcherConfig"):
        ModelConfig.from_dict({"matcher": {"matched_threshold": 0.3, "unmatched_threshold": 0.4}})


def test_partial_dict_fills_defaults():
    c = ModelConfig.from_dict({"input_size": 150, "anchors": {"min_scale": 0.1}})
    assert c.input_size == 150
    assert c.anchors.min_scale == 0.1 and c.anchors.max_scale == 0.95


def test_an_older_stage_config_serialises_unchanged():
    """Settings added later (feature maps, resizer, multiscale anchors) stay out of to_dict at their
    defaults, so a sealed stage's model_config and its content hash do not change."""
    d = face_config(384, 0.5).to_dict()
    assert "feature_maps" not in d and "resizer" not in d and "kind" not in d["anchors"]
    assert ModelConfig.from_dict(d) == face_config(384, 0.5)
    from facessd_archive.model.config import wider_face_config
    w = wider_face_config(512).to_dict()
    assert w["anchors"]["kind"] == "multiscale" and w["feature_maps"]["taps"] == (5, 11, 13)
    assert ModelConfig.from_dict(json.loads(json.dumps(w))) == wider_face_config(512)


def test_with_max_detections_changes_only_the_nms_cap():
    config = wider_face_config(320)
    capped = config.with_max_detections(100)
    assert config.postprocess.max_detections == 750 and capped.postprocess.max_detections == 100
    assert dataclasses.replace(capped, postprocess=config.postprocess) == config
    assert config.with_max_detections(750) is config
