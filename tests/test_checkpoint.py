"""Compact weights checkpoints: round trip, truncation, mismatched models, folder resolution."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facessd_archive.errors import CheckpointError
from facessd_archive.model.checkpoint import (
    CONFIG_FILE,
    export_compact,
    find_checkpoint,
    load_config,
    load_detector,
)
from facessd_archive.model.config import ModelConfig
from facessd_archive.model.detector import SSDDetector

# Fast-moving BN statistics so that one training-mode call gives moving stats that keep
# inference outputs O(1) (with the initial mean 0 / variance 1 a 0.25-wide net's outputs vanish).
CONFIG = ModelConfig(input_size=64, depth_multiplier=0.25, batch_norm_momentum=0.01)
IMAGES = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def detector():
    d = SSDDetector(CONFIG)
    d.predict_raw(IMAGES, training=True)  # moving stats <- batch stats
    rng = np.random.default_rng(1)
    for v in d.network.weights:  # make every variable distinct from its initialiser
        if v.path.endswith("beta") or v.path.endswith("bias"):
            v.assign(rng.normal(0, 0.1, v.shape).astype(np.float32))
    return d


def _outputs(detector):
    raw = detector.predict_raw(IMAGES, training=False)
    return {k: v.numpy() for k, v in raw.items()}


def test_export_writes_the_compact_files(detector, tmp_path):
    prefix = export_compact(detector, tmp_path / "m")
    assert prefix == tmp_path / "m" / "weights"
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names == [CONFIG_FILE, "weights.data-00000-of-00001", "weights.index"]
    assert load_config(tmp_path / "m") == CONFIG
    assert find_checkpoint(tmp_path / "m") == (tmp_path / "m", str(prefix), "compact")
    assert find_checkpoint(prefix) == (tmp_path / "m", str(prefix), "compact")


@pytest.mark.parametrize("dtype, atol", [("float16", 2e-2), ("float32", 1e-5)])
def test_export_and_load_round_trip(detector, tmp_path, dtype, atol):
    before = _outputs(detector)
    assert np.abs(before["class_logits"]).max() > 0.1  # outputs are not vanishingly small
    export_compact(detector, tmp_path / "m", dtype=dtype)
    loaded = load_detector(tmp_path / "m")
    assert loaded.config == CONFIG
    np.testing.assert_array_equal(loaded.anchors_np, detector.anchors_np)
    after = _outputs(loaded)
    for k in before:
        scale = np.abs(before[k]).max()
        np.testing.assert_allclose(after[k], before[k], atol=atol * max(scale, 1.0), err_msg=k)


def test_load_at_another_input_size_keeps_the_weights(detector, tmp_path):
    export_compact(detector, tmp_path / "m")
    bigger = load_detector(tmp_path / "m", input_size=96)
    assert bigger.config.input_size == 96
    assert bigger.num_anchors > detector.num_anchors
    w0 = detector.network.get_layer("Conv2d_1_pointwise").kernel.numpy()
    np.testing.assert_allclose(bigger.network.get_layer("Conv2d_1_pointwise").kernel.numpy(), w0, atol=1e-3)


def test_truncated_weights_data_raises_checkpoint_error_naming_the_file(detector, tmp_path):
    export_compact(detector, tmp_path / "m")
    data = tmp_path / "m" / "weights.data-00000-of-00001"
    content = data.read_bytes()
    data.write_bytes(content[: len(content) // 2])
    with pytest.raises(CheckpointError, match="file truncated") as info:
        load_detector(tmp_path / "m")
    assert str(tmp_path / "m" / "weights") in str(info.value)


def test_checkpoint_of_another_depth_multiplier_mentions_shape(tmp_path):
    other = SSDDetector(ModelConfig(input_size=64, depth_multiplier=0.5))
    export_compact(other, tmp_path / "m")
    # the folder claims the 0.25 model but holds 0.5 weights
    config = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
    config["depth_multiplier"] = 0.25
    (tmp_path / "m" / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="shape") as info:
        load_detector(tmp_path / "m")
    assert "depth multiplier" in str(info.value)
    assert str(tmp_path / "m" / "weights") in str(info.value)


def test_missing_or_bad_folders(tmp_path):
    with pytest.raises(CheckpointError, match="no such model folder or checkpoint"):
        load_detector(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        load_detector(tmp_path / "empty")
    with pytest.raises(CheckpointError, match=f"no {CONFIG_FILE}"):
        load_config(tmp_path / "empty")
    (tmp_path / "empty" / CONFIG_FILE).write_text('{"input_size": 3}')
    with pytest.raises(CheckpointError, match="input_size must be >= 33"):
        load_config(tmp_path / "empty")
    (tmp_path / "empty" / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match=CONFIG_FILE):
        load_config(tmp_path / "empty")


def test_garbage_index_file_is_a_checkpoint_error(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / CONFIG_FILE).write_text(CONFIG.to_json())
    (folder / "weights.index").write_bytes(b"not a checkpoint index")
    with pytest.raises(CheckpointError, match="unreadable checkpoint"):
        load_detector(folder)
