"""MobileNetV2 feature extractor: torchvision's ImageNet features reproduced, shapes, config, pretrained start.

The reference outputs in ``tests/fixtures/pretrained/`` were computed by torchvision's architecture
(a functional forward in ``scripts/convert_mobilenet_v2_imagenet.py``) on a seeded input; torch is
not installed here, so the test compares against those stored numbers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from facessd_archive.cli import main
from facessd_archive.data.synthetic.benchmark import sample_benchmark
from facessd_archive.errors import CheckpointError, ConfigError
from facessd_archive.model.config import (FeatureMapConfig, ModelConfig, face_config, feature_map_shapes,
                                          wider_face_v2_config)
from facessd_archive.model.pretrained import PRETRAINED_BACKBONES, check_backbone_fits, load_pretrained_backbone
from facessd_archive.model.ssd import build_ssd_network, feature_map_grids
from facessd_archive.train.settings import TrainSettings
from facessd_archive.train.trainer import train

REFERENCE = Path(__file__).parent / "fixtures" / "pretrained" / "mobilenet_v2_reference.npz"
FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
# The layer whose output is tap 7 / 14 / 19 (residual adds end layers 7 and 14).
TAP_OUTPUTS = {7: "expanded_conv_5_add", 14: "expanded_conv_12_add", 19: "Conv_1_relu6"}


def test_imagenet_weights_reproduce_torchvision_features():
    network = build_ssd_network(wider_face_v2_config(), input_shape=(None, None))
    assigned = load_pretrained_backbone(network, "imagenet_mobilenet_v2")
    assert assigned == 260  # 52 convolutions + 52 batch norms x 4 arrays
    taps = keras.Model(network.input, {k: network.get_layer(n).output for k, n in TAP_OUTPUTS.items()})
    reference = np.load(REFERENCE)
    got = taps(reference["image"][None].astype(np.float32))
    for k in TAP_OUTPUTS:
        expected = reference[f"layer_{k}"]
        out = np.asarray(got[k])[0]
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, atol=2e-4 * np.abs(expected).max())


def test_the_shipped_weights_record_their_source():
    with np.load(PRETRAINED_BACKBONES["imagenet_mobilenet_v2"][1]) as stored:
        assert str(stored["__source__"]).startswith("mobilenet_v2-b0353104.pth sha256:")
        assert sum(stored[k].size for k in stored.files if not k.startswith("__")) == 2_257_984


@pytest.mark.parametrize("shape", [(160, 224), (96, 352)])  # the resizer pads to a multiple of 32
def test_feature_maps_follow_the_built_v2_network(shape):
    config = wider_face_v2_config(input_size=96)
    network = build_ssd_network(config, input_shape=shape)
    expected = feature_map_shapes(*shape, config.feature_maps, config.feature_extractor)
    assert feature_map_grids(network, square=False) == expected
    assert expected[0] == (-(-shape[0] // 8), -(-shape[1] // 8))  # the first map is at stride 8


def test_v2_config_round_trips_and_old_configs_keep_their_json():
    config = wider_face_v2_config(320)
    assert ModelConfig.from_json(config.to_json()) == config
    data = json.loads(config.to_json())
    assert data["feature_extractor"] == "ssd_mobilenet_v2" and data["input_normalization"] == "imagenet"
    v1 = json.loads(face_config().to_json())
    assert "feature_extractor" not in v1 and "input_normalization" not in v1  # sealed stages keep their hash


def test_taps_past_the_extractor_are_refused():
    with pytest.raises(ConfigError, match="go past the 13 layers of ssd_mobilenet_v1"):
        dataclasses.replace(face_config(), feature_maps=FeatureMapConfig(taps=(11, 19)))
    with pytest.raises(ConfigError, match="feature_extractor must be one of"):
        dataclasses.replace(face_config(), feature_extractor="resnet50")


def test_a_backbone_that_does_not_fit_is_refused_in_one_line():
    with pytest.raises(CheckpointError, match="fits ssd_mobilenet_v2 at depth multiplier 1.0"):
        check_backbone_fits("imagenet_mobilenet_v2", face_config())
    with pytest.raises(CheckpointError, match="unknown pretrained backbone"):
        check_backbone_fits("imagenet_resnet", wider_face_v2_config())
    with pytest.raises(CheckpointError, match="expects input_normalization 'imagenet'"):
        check_backbone_fits("imagenet_mobilenet_v2",
                            dataclasses.replace(wider_face_v2_config(), input_normalization="minus_one_to_one"))


@pytest.mark.slow
def test_a_pretrained_run_starts_from_imagenet_and_trains(tmp_path):
    config = wider_face_v2_config(input_size=96)
    settings = TrainSettings(steps=3, batch_size=2, warmup_steps=0, summary_every=1, checkpoint_every=3,
                             crop="square", pretrained_backbone="imagenet_mobilenet_v2")
    samples = sample_benchmark(seed=0, num_images=4, cache_dir=tmp_path / "synthetic")
    # Zero learning-rate would hide an update; instead check the start: step 0 weights are ImageNet's.
    result = train(config, dataclasses.replace(settings, steps=1, learning_rate=1e-9), samples, tmp_path / "run",
                   progress=False)
    assert result.steps_done == 1
    from facessd_archive.model.checkpoint import load_detector

    detector = load_detector(tmp_path / "run")
    with np.load(PRETRAINED_BACKBONES["imagenet_mobilenet_v2"][1]) as stored:
        kernel = stored["expanded_conv_10_project/kernel"]
    trained = next(v for v in detector.network.weights if v.path == "expanded_conv_10_project/kernel")
    np.testing.assert_allclose(np.asarray(trained.numpy()), kernel, atol=1e-5)
    assert np.isfinite(result.final_losses["Loss/total_loss"])


@pytest.mark.slow
def test_train_pools_several_data_folders(tmp_path):
    result = CliRunner().invoke(main, [
        "train", "--data", str(FIXTURES / "voc"), "--data", str(FIXTURES / "coco" / "instances.json"), "--input-size", "64",
        "--depth-multiplier", "0.25", "--steps", "1", "--batch-size", "2", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "training on 6 images from" in result.output
    bad = CliRunner().invoke(main, [
        "train", "--data", str(FIXTURES / "voc"), "--data", str(FIXTURES / "coco"), "--split", "a.txt",
        "--split", "b.txt", "--split", "c.txt", "--steps", "1", "--out", str(tmp_path / "run2")])
    assert bad.exit_code != 0 and "one per --data (2), not 3" in bad.output
