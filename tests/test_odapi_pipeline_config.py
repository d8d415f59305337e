"""pipeline.config (protobuf text format) -> ModelConfig and the training record; what cannot map is refused.

No TensorFlow graph here: the grammar and the mapping only.
"""

from __future__ import annotations

import pytest

from facessd_archive.errors import ConfigError
from facessd_archive.model.config import (AnchorConfig, FeatureMapConfig, HardMinerConfig, LossConfig, MatcherConfig,
                                          ModelConfig, PostprocessConfig)
from facessd_archive.odapi.pipeline_config import parse_pipeline_config, read_pipeline_config
from facessd_archive.odapi.textproto import parse_text_proto
from odapi_helpers import pipeline_text


def test_the_zoo_config_maps_onto_model_config():
    imported = parse_pipeline_config(pipeline_text(input_size=300, depth_multiplier=1.0), "zoo.config")
    assert imported.model_config == ModelConfig(
        input_size=300, num_classes=1, depth_multiplier=1.0, min_depth=16, box_predictor_kernel_size=1,
        batch_norm_momentum=0.9997, batch_norm_epsilon=0.001,
        anchors=AnchorConfig(aspect_ratios=(1.0, 2.0, 0.5, 3.0, 0.3333)),
        feature_maps=FeatureMapConfig(taps=(11, 13), extra_depths=(512, 256, 256, 128)),
        matcher=MatcherConfig(0.5, 0.5, True),
        loss=LossConfig(classification="sigmoid", hard_example_miner=HardMinerConfig(3000, 0.99, 3.0, 0),
                        l2_weight=4e-5),
        postprocess=PostprocessConfig(score_threshold=1e-8, iou_threshold=0.6, max_detections=100),
        class_names=("face",))
    t = imported.training
    assert (t.batch_size, t.num_steps, t.optimizer, t.learning_rate) == (24, 200000, "rmsprop", 0.004)
    assert t.schedule == "exponential decay by 0.95 every 800720 steps (staircase)"
    assert t.fine_tune_checkpoint == "PATH_TO_BE_CONFIGURED/model.ckpt"
    assert t.data_augmentation == ("random_horizontal_flip", "ssd_random_crop")
    assert t.train_config["optimizer"]["rms_prop_optimizer"]["momentum_optimizer_value"] == 0.9
    assert any("label map" in n for n in imported.notes)


def test_1917_anchors_at_300_as_the_zoo_model():
    from facessd_archive.model.anchors import anchors_for
    from facessd_archive.model.config import feature_map_sizes

    config = parse_pipeline_config(pipeline_text(input_size=300, depth_multiplier=1.0)).model_config
    assert feature_map_sizes(300, config.feature_maps) == [19, 10, 5, 3, 2, 1]
    assert anchors_for(config, feature_map_sizes(300, config.feature_maps)).shape == (1917, 4)


def test_depth_num_layers_and_focal_loss_carry_over():
    text = pipeline_text(input_size=96, depth_multiplier=0.25)
    text = text.replace("weighted_sigmoid {\n        }", "sigmoid_focal {\n          alpha: 0.25\n          gamma: 2.0\n        }")
    text = text.replace("      min_depth: 16\n", "      min_depth: 8\n      num_layers: 4\n")
    text = text.replace("num_layers: 6", "num_layers: 4")
    config = parse_pipeline_config(text).model_config
    assert (config.depth_multiplier, config.min_depth) == (0.25, 8)
    assert config.feature_maps.extra_depths == (512, 256)
    assert (config.loss.classification, config.loss.focal_alpha, config.loss.focal_gamma) == ("focal", 0.25, 2.0)


@pytest.mark.parametrize("edit, phrase", [
    (("type: 'ssd_mobilenet_v1'", "type: 'ssd_mobilenet_v2'"),
     "model.ssd.feature_extractor.type 'ssd_mobilenet_v2' is not supported"),
    (("type: 'ssd_mobilenet_v1'", "type: 'ssd_mobilenet_v1_fpn'\n      fpn { min_level: 3 max_level: 7 }"),
     "model.ssd.feature_extractor.type 'ssd_mobilenet_v1_fpn' is not supported"),
    (("fixed_shape_resizer {\n        height: 64\n        width: 64\n      }",
      "keep_aspect_ratio_resizer {\n        min_dimension: 600\n        max_dimension: 1024\n      }"),
     "image_resizer 'keep_aspect_ratio_resizer' is not supported"),
    (("num_classes: 1", "num_classes: 1\n    keypoint_heads { num_keypoints: 5 }"),
     "model.ssd.keypoint_heads is not supported"),
    (("weighted_sigmoid {\n        }", "weighted_softmax {\n        }"),
     "classification_loss 'weighted_softmax' is not supported"),
    (("weighted_sigmoid {\n        }", "sigmoid_focal {\n          gamma: 2.0\n        }"),
     "alpha is missing"),
    (("loss_type: CLASSIFICATION", "loss_type: BOTH"), "loss_type: 'BOTH' is not supported"),
    (("score_converter: SIGMOID", "score_converter: SOFTMAX"), "score_converter: 'SOFTMAX' is not supported"),
    (("num_layers_before_predictor: 0", "num_layers_before_predictor: 2"), "num_layers_before_predictor"),
    (("min_depth: 16\n", "min_depth: 16\n      use_explicit_padding: true\n"), "use_explicit_padding: true"),
    (("height: 64\n        width: 64", "height: 64\n        width: 96"), "64x96 is not square"),
    (("aspect_ratios: 1.0\n", "aspect_ratios: 1.0\n        scales: 0.1\n"), "ssd_anchor_generator.scales"),
])
def test_what_facessd_cannot_represent_is_one_error_naming_the_field(edit, phrase):
    text = pipeline_text(input_size=64)
    assert edit[0] in text
    with pytest.raises(ConfigError) as e:
        parse_pipeline_config(text.replace(edit[0], edit[1], 1), "runs/a/pipeline.config")
    message = str(e.value)
    assert phrase in message and message.startswith("runs/a/pipeline.config:")
    assert "\n" not in message


def test_error_lines_point_at_the_field():
    text = pipeline_text(input_size=64).replace("type: 'ssd_mobilenet_v1'", "type: 'ssd_mobilenet_v2'")
    line = next(i for i, l in enumerate(text.splitlines(), start=1) if "ssd_mobilenet_v2" in l)
    with pytest.raises(ConfigError, match=rf"^p.config:{line}: "):
        parse_pipeline_config(text, "p.config")


@pytest.mark.parametrize("text, phrase", [
    ("model { ssd { num_classes: 1 ", "is not closed"),
    ("model { ssd { num_classes: 'a } } }", "unterminated string"),
    ("model { ssd { num_classes 1 } }", "expected ':' or '{' after 'num_classes'"),
    ("model { ssd { num_classes: one } }", "must be an integer, got 'one'"),
    ("train_config { batch_size: 8 }", "model is missing"),
])
def test_malformed_text_is_one_line_with_file_and_line(text, phrase):
    with pytest.raises(ConfigError) as e:
        parse_pipeline_config(text, "bad.config")
    assert phrase in str(e.value) and str(e.value).startswith("bad.config:")


def test_grammar_accepts_the_forms_protobuf_writes():
    msg = parse_text_proto("""
        # comment
        a: 1, b: 'x' "y"; c { d: [1.5, 2e-3] }
        c: { d: -3 }
        e < f: true >
        g: "esc\\"aped"
    """, "t")
    assert msg.int("a", 0) == 1 and msg.str("b", "") == "xy"
    first, second = msg.messages("c")
    assert first.floats("d") == [1.5, 0.002] and second.floats("d") == [-3.0]
    assert msg.message("e").bool("f", False) is True
    assert msg.str("g", "") == 'esc"aped'
    assert msg.to_dict()["c"] == [{"d": [1.5, 0.002]}, {"d": -3}]


def test_schedules_and_optimizers_are_recorded():
    text = pipeline_text().replace("""    rms_prop_optimizer: {
      learning_rate: {
        exponential_decay_learning_rate {
          initial_learning_rate: 0.004
          decay_steps: 800720
          decay_factor: 0.95
        }
      }
      momentum_optimizer_value: 0.9
      decay: 0.9
      epsilon: 1.0
    }""", """    momentum_optimizer: {
      learning_rate: {
        cosine_decay_learning_rate {
          learning_rate_base: 0.04
          total_steps: 25000
          warmup_learning_rate: 0.013
          warmup_steps: 2000
        }
      }
      momentum_optimizer_value: 0.9
    }
    use_moving_average: true""")
    t = parse_pipeline_config(text).training
    assert (t.optimizer, t.learning_rate, t.use_moving_average) == ("momentum", 0.04, True)
    assert t.schedule == "cosine decay over 25000 steps with 2000 warmup steps from 0.013"


def test_read_names_the_file(tmp_path):
    path = tmp_path / "pipeline.config"
    path.write_bytes(b"\xff\xfe not text")
    with pytest.raises(ConfigError, match="pipeline.config: not UTF-8 text"):
        read_pipeline_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_pipeline_config(tmp_path / "missing.config")
