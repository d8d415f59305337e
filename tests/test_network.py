"""The SSD network: output shapes, TF1 scope names, the fused batch norm, preprocessing."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from facessd_archive.model.config import ModelConfig, face_config
from facessd_archive.model.detector import SSDDetector
from facessd_archive.model.layers import FusedBatchNorm
from facessd_archive.model.ssd import build_ssd_network, feature_map_grids, preprocess


@pytest.fixture(scope="module")
def full_depth_network():
    """depth multiplier 1.0, built once: only its names and shapes are read (never run)."""
    return build_ssd_network(ModelConfig(input_size=300))


@pytest.mark.parametrize("size, anchors", [(300, 1917), (150, 540)])
def test_output_shapes(size, anchors):
    network = build_ssd_network(ModelConfig(input_size=size, depth_multiplier=0.25))
    out = network(np.zeros((2, size, size, 3), np.float32), training=False)
    assert set(out) == {"box_encodings", "class_logits"}
    assert out["box_encodings"].shape == (2, anchors, 4)
    assert out["class_logits"].shape == (2, anchors, 2)


def test_kernel_size_3_and_more_classes():
    config = ModelConfig(input_size=64, depth_multiplier=0.25, box_predictor_kernel_size=3, num_classes=2,
                         class_names=("face", "mask"))
    network = build_ssd_network(config)
    assert network.get_layer("BoxPredictor_0_BoxEncodingPredictor").kernel.shape[:2] == (3, 3)
    out = network(np.zeros((1, 64, 64, 3), np.uint8))
    a = SSDDetector(config, network).num_anchors
    assert out["box_encodings"].shape == (1, a, 4)
    assert out["class_logits"].shape == (1, a, 3)


def test_layer_names_follow_tf1_scopes(full_depth_network):
    n = full_depth_network
    names = {layer.name for layer in n.layers}
    for i in range(1, 14):
        assert f"Conv2d_{i}_depthwise" in names and f"Conv2d_{i}_pointwise" in names
        assert f"Conv2d_{i}_pointwise_BatchNorm" in names
    for name in ["Conv2d_0", "Conv2d_0_BatchNorm", "Conv2d_11_pointwise", "Conv2d_13_pointwise",
                 "Conv2d_13_pointwise_1_Conv2d_2_1x1_256", "Conv2d_13_pointwise_2_Conv2d_2_3x3_s2_512",
                 "Conv2d_13_pointwise_1_Conv2d_3_1x1_128", "Conv2d_13_pointwise_2_Conv2d_3_3x3_s2_256",
                 "Conv2d_13_pointwise_1_Conv2d_4_1x1_128", "Conv2d_13_pointwise_2_Conv2d_4_3x3_s2_256",
                 "Conv2d_13_pointwise_1_Conv2d_5_1x1_64", "Conv2d_13_pointwise_2_Conv2d_5_3x3_s2_128",
                 "BoxPredictor_0_ClassPredictor", "BoxPredictor_0_BoxEncodingPredictor",
                 "BoxPredictor_5_ClassPredictor", "BoxPredictor_5_BoxEncodingPredictor"]:
        assert name in names, name
    assert "BoxPredictor_6_ClassPredictor" not in names
    bn = n.get_layer("Conv2d_11_pointwise_BatchNorm")
    assert sorted(w.path.split("/")[-1] for w in bn.weights) == ["beta", "gamma", "moving_mean",
                                                                 "moving_variance"]


def test_depths_and_predictor_channels(full_depth_network):
    n = full_depth_network
    assert n.get_layer("Conv2d_0").kernel.shape == (3, 3, 3, 32)
    assert n.get_layer("Conv2d_11_pointwise").kernel.shape == (1, 1, 512, 512)
    assert n.get_layer("Conv2d_13_pointwise").kernel.shape == (1, 1, 1024, 1024)
    assert n.get_layer("Conv2d_13_pointwise_2_Conv2d_5_3x3_s2_128").kernel.shape == (3, 3, 64, 128)
    assert n.get_layer("BoxPredictor_0_BoxEncodingPredictor").kernel.shape == (1, 1, 512, 3 * 4)
    assert n.get_layer("BoxPredictor_0_ClassPredictor").kernel.shape == (1, 1, 512, 3 * 2)
    assert n.get_layer("BoxPredictor_1_ClassPredictor").kernel.shape == (1, 1, 1024, 6 * 2)
    assert feature_map_grids(n) == [19, 10, 5, 3, 2, 1]
    assert n.outputs[0].shape[1] == 1917


def test_depth_multiplier_names_and_min_depth():
    n = build_ssd_network(ModelConfig(input_size=64, depth_multiplier=0.25))
    assert n.get_layer("Conv2d_0").kernel.shape[-1] == 16  # 32 * 0.25 = 8, raised to min_depth 16
    assert n.get_layer("Conv2d_11_pointwise").kernel.shape[-1] == 128
    # The extra layers' names carry the multiplied depth, as the OD API's depth_fn names them.
    assert n.get_layer("Conv2d_13_pointwise_2_Conv2d_2_3x3_s2_128").kernel.shape[-1] == 128
    assert n.get_layer("Conv2d_13_pointwise_1_Conv2d_5_1x1_16").kernel.shape[-1] == 16


def test_preprocess_maps_0_255_to_minus1_1():
    out = keras.ops.convert_to_numpy(preprocess(np.array([0.0, 127.5, 255.0], np.float32)))
    np.testing.assert_allclose(out, [-1.0, 0.0, 1.0], atol=1e-6)
    out = keras.ops.convert_to_numpy(preprocess(np.array([0, 255], np.uint8)))
    np.testing.assert_allclose(out, [-1.0, 1.0], atol=1e-6)


def test_class_prior_bias():
    n = build_ssd_network(face_config(input_size=64, depth_multiplier=0.25))
    bias = n.get_layer("BoxPredictor_1_ClassPredictor").bias.numpy()
    assert bias.shape == (4 * 2,)
    logit = -math.log(0.99 / 0.01)
    np.testing.assert_allclose(bias, np.tile([-logit, logit], 4), rtol=1e-6)
    assert 1 / (1 + math.exp(-bias[1])) == pytest.approx(0.01)
    plain = build_ssd_network(ModelConfig(input_size=64, depth_multiplier=0.25))
    np.testing.assert_array_equal(plain.get_layer("BoxPredictor_1_ClassPredictor").bias.numpy(), 0.0)


def test_predictor_output_order_is_kind_fastest():
    """Channel c of BoxPredictor_0 is (kind c // 4, code c % 4): reshaped, anchor i has kind i % 3."""
    config = ModelConfig(input_size=64, depth_multiplier=0.25)
    n = build_ssd_network(config)
    layer = n.get_layer("BoxPredictor_0_BoxEncodingPredictor")
    layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
    layer.bias.assign(np.repeat(np.arange(3, dtype=np.float32), 4) * 10 + np.tile(np.arange(4.0), 3))
    enc = n(np.zeros((1, 64, 64, 3), np.float32))["box_encodings"].numpy()[0]
    g = feature_map_grids(n)[0]
    first = enc[: g * g * 3]
    kinds = np.arange(g * g * 3) % 3
    np.testing.assert_allclose(first, kinds[:, None] * 10 + np.arange(4.0)[None, :])


# --- FusedBatchNorm -------------------------------------------------------------------------------

def _pair(momentum, epsilon, x, seed=0):
    rng = np.random.default_rng(seed)
    c = x.shape[-1]
    gamma, beta = rng.uniform(0.5, 2.0, c), rng.normal(size=c)
    mean, var = rng.normal(size=c), rng.uniform(0.5, 2.0, c)
    fused = FusedBatchNorm(momentum, epsilon)
    ref = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon)
    fused.build(x.shape)
    ref.build(x.shape)
    for layer in (fused, ref):
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(var)
    return fused, ref, mean, var


X = (np.random.default_rng(1).normal(size=(2, 3, 4, 5)) * 2 + 1).astype(np.float32)


def test_fused_batch_norm_matches_keras_in_inference():
    fused, ref, _, _ = _pair(0.9, 1e-3, X)
    np.testing.assert_allclose(fused(X, training=False).numpy(), ref(X, training=False).numpy(), atol=1e-5)
    # training=None is inference too, and it leaves the moving statistics alone
    np.testing.assert_allclose(fused(X).numpy(), ref(X, training=False).numpy(), atol=1e-5)


def test_fused_batch_norm_matches_keras_in_training():
    fused, ref, _, _ = _pair(0.9, 1e-3, X)
    np.testing.assert_allclose(fused(X, training=True).numpy(), ref(X, training=True).numpy(), atol=1e-5)


def test_fused_batch_norm_updates_moving_stats_with_momentum():
    m = 0.9
    fused, ref, mean0, var0 = _pair(m, 1e-3, X)
    fused(X, training=True)
    ref(X, training=True)
    flat = X.reshape(-1, X.shape[-1]).astype(np.float64)

    np.testing.assert_allclose(fused.moving_mean.numpy(), m * mean0 + (1 - m) * flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(fused.moving_mean.numpy(), ref.moving_mean.numpy(), rtol=1e-5)
    # TF's fused kernel (what TF1 slim and the OD API checkpoints used) folds the Bessel-corrected
    # batch variance into the moving average; Keras 3's BatchNormalization uses the biased one.
    np.testing.assert_allclose(fused.moving_variance.numpy(), m * var0 + (1 - m) * flat.var(0, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(ref.moving_variance.numpy(), m * var0 + (1 - m) * flat.var(0), rtol=1e-5)


def test_fused_batch_norm_inference_does_not_update():
    fused, _, mean0, var0 = _pair(0.5, 1e-3, X)
    fused(X, training=False)
    np.testing.assert_allclose(fused.moving_mean.numpy(), mean0, rtol=1e-6)
    np.testing.assert_allclose(fused.moving_variance.numpy(), var0, rtol=1e-6)


def test_fused_batch_norm_config_round_trip():
    fused = FusedBatchNorm(0.99, 1e-3, name="bn")
    cfg = fused.get_config()
    assert (cfg["momentum"], cfg["epsilon"], cfg["name"]) == (0.99, 1e-3, "bn")
    clone = FusedBatchNorm.from_config(cfg)
    assert (clone.momentum, clone.epsilon) == (0.99, 1e-3)


def test_fused_batch_norm_mixed_precision_inference():
    fused = FusedBatchNorm(0.99, 1e-3, dtype="mixed_float16")  # float16 compute, float32 variables
    y = fused(tf.cast(X, tf.float16), training=False)
    assert y.dtype == tf.float16
    assert fused.gamma.dtype == "float32"
    ref = FusedBatchNorm(0.99, 1e-3)(X, training=False).numpy()
    np.testing.assert_allclose(y.numpy().astype(np.float32), ref, atol=1e-2)


def test_fused_batch_norm_mixed_precision_training():
    """Under a mixed policy the statistics stay float32 (autocast=False), as in Keras' own BN."""
    fused = FusedBatchNorm(0.99, 1e-3, dtype="mixed_float16")
    y = fused(tf.cast(X, tf.float16), training=True)
    assert y.dtype == tf.float16
    assert fused.moving_mean.dtype == "float32"
    ref = FusedBatchNorm(0.99, 1e-3)
    np.testing.assert_allclose(y.numpy().astype(np.float32), ref(X, training=True).numpy(), atol=1e-2)
    ref_mean = ref.moving_mean.numpy()
    np.testing.assert_allclose(fused.moving_mean.numpy(), ref_mean, atol=1e-3)


def test_network_training_flag_reaches_the_batch_norms():
    config = ModelConfig(input_size=64, depth_multiplier=0.25, batch_norm_momentum=0.5)
    n = build_ssd_network(config)
    bn = n.get_layer("Conv2d_0_BatchNorm")
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    n(x, training=False)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), 0.0)
    n(x, training=True)
    assert np.abs(bn.moving_mean.numpy()).max() > 0
