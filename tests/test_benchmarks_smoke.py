"""Keeps benchmarks/train_throughput.py from rotting: its whole comparison, 2 steps at a tiny size.

Speed is not checked here (a long training run shares the cores); only that every contestant
builds, trains on the same targets and reports finite losses and comparable parameter counts.
"""

from __future__ import annotations

import math

import pytest
from benchmark_helpers import loaded_benchmark


@pytest.fixture(scope="module")
def train_throughput():
    yield from loaded_benchmark("train_throughput.py", "train_throughput")


@pytest.mark.slow
def test_train_throughput_runs_at_a_tiny_size(train_throughput):
    result = train_throughput.benchmark(input_size=64, depth_multiplier=0.25, batch_size=2, steps=2, rounds=1,
                                        warmup=1, num_batches=1, pipeline_batches=0, data_root=None)
    models = result["models"]
    assert set(models) == {"ours", "baseline"}
    assert result["data"].startswith("random")
    for m in models.values():
        assert m["losses_finite"]
        assert len(m["round_images_per_second"]) == 1 and m["median_images_per_second"] > 0
    # The same kind of model: at 64x64 both give 4, 2, 1, 1, 1, 1 maps; min_depth 16 adds a few channels to ours.
    assert models["ours"]["feature_maps"] == models["baseline"]["feature_maps"]
    assert abs(result["param_difference"]) < 0.02
    assert math.isclose(models["baseline"]["ratio_to_baseline"], 1.0)
    assert "ours" in train_throughput.format_report(result)


def test_cli_rejects_zero_steps(train_throughput):
    with pytest.raises(SystemExit):
        train_throughput.parse_args(["--steps", "0"])


def test_breakdown_networks_match_in_size_and_differ_only_in_batch_norm(train_throughput):
    config = train_throughput.make_config(64, 0.5)
    nets = {(kind, bn): build(config, bn)
            for kind, build in (("ours", train_throughput.build_ours_network),
                                ("baseline", train_throughput.build_baseline_network))
            for bn in ("fused", "keras")}
    counts = {k: train_throughput.param_counts(n)["total"] for k, n in nets.items()}
    assert counts[("ours", "fused")] == counts[("ours", "keras")] == counts[("baseline", "keras")] \
        == counts[("baseline", "fused")]  # depth multiplier 0.5: min_depth 16 changes nothing
    gmacs = {k: train_throughput.conv_gmacs(n) for k, n in nets.items()}
    assert len({round(v, 9) for v in gmacs.values()}) == 1  # 64 is a multiple of 32: same geometry

    def bn_layers(net):
        return [type(layer).__name__ for layer in train_throughput._layers(net) if "Norm" in type(layer).__name__]

    assert set(bn_layers(nets[("ours", "keras")])) == {"BatchNormalization"}
    assert set(bn_layers(nets[("baseline", "fused")])) == {"_FusedBatchNormMask"}
    assert len(bn_layers(nets[("ours", "fused")])) == len(bn_layers(nets[("baseline", "keras")]))
