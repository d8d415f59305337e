"""FPN upsampling: Keras ``UpSampling2D`` against ``NearestUpsample2x`` (concat + depth_to_space).

Why it exists: Keras' nearest upsampling becomes a TILE in the TFLite graph, which XNNPACK does
not take, so each FPN upsampling split the delegated graph. This script measures, in one process
with the variants interleaved, what the replacement changes:

* the TFLite network of a stage (float and int8, model only, 2 threads, batch 1): op counts,
  delegate partitions, ms a photo, and that both variants give the same outputs;
* a TF training step of the same network (so training is not made slower).

    .venv/bin/python benchmarks/upsampling_xnnpack.py --rounds 15   # the default stage, 416 square

Results: docs/runtimes.md, "Where the int8 time goes".
"""
from __future__ import annotations

import argparse
import os
import collections
import statistics
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import facessd_archive.model.fpn as fpn
from facessd_archive.model.layers import NearestUpsample2x

VARIANTS = ("keras", "depth_to_space")


def use_variant(name: str) -> None:
    """Build FPNs with one upsampling layer or the other (``fpn`` looks the name up at build time)."""
    fpn.NearestUpsample2x = NearestUpsample2x if name == "depth_to_space" else (
        lambda name: keras.layers.UpSampling2D(2, interpolation="nearest", name=name))


def _median_rounds(calls: dict, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(rounds):
        for key, call in calls.items():  # interleaved: a slow moment of the host falls on every variant
            times[key].append(call())
    return times


def tflite_comparison(stage_folder: Path, size: int, calibration_images: int, rounds: int, images: int) -> None:
    from facessd_archive.evaluate import quantize
    from facessd_archive.evaluate.resizing import ResizePolicy
    from facessd_archive.evaluate.tflite_runtime import convert_to_tflite
    from facessd_archive.model.checkpoint import load_detector

    calibration = quantize.calibration_set(ResizePolicy("square", size), calibration_images)
    inputs = [b for _, b in zip(range(images), calibration.batches())]
    interpreters, outputs = {}, {}
    for variant in VARIANTS:
        use_variant(variant)
        detector = load_detector(stage_folder, input_size=size)
        for kind, model in (("float", convert_to_tflite(detector)),
                            ("int8", quantize.convert_to_int8(detector, calibration))):
            it = tf.lite.Interpreter(model_content=model, num_threads=2)
            it.allocate_tensors()
            ops = collections.Counter(op["op_name"] for op in it._get_ops_details())
            # the listing holds every op of the graph plus one DELEGATE node per XNNPACK partition
            print(f"{variant:15s} {kind:5s} XNNPACK partitions {ops.pop('DELEGATE', 0)}; ops {dict(ops)}")
            interpreters[(variant, kind)] = it

    def timed(it):
        index = it.get_input_details()[0]["index"]

        def call() -> float:
            t = time.perf_counter()
            for x in inputs:
                it.set_tensor(index, x)
                it.invoke()
            return (time.perf_counter() - t) / len(inputs) * 1e3
        return call

    for key, it in interpreters.items():  # warm up, and keep one output for the agreement check
        timed(it)()
        by_name = {d["name"]: d["index"] for d in it.get_output_details()}
        outputs[key] = it.get_tensor(by_name["Identity_1"])
    times = _median_rounds({key: timed(it) for key, it in interpreters.items()}, rounds)
    for kind in ("float", "int8"):
        a, b = (statistics.median(times[(v, kind)]) for v in VARIANTS)
        same = float(np.abs(outputs[(VARIANTS[0], kind)] - outputs[(VARIANTS[1], kind)]).max())
        print(f"TFLite {kind:5s}: keras {a:.2f} ms, depth_to_space {b:.2f} ms a photo (x{b / a:.3f}); "
              f"max output difference {same:g}")
    for variant in VARIANTS:
        f, i = (statistics.median(times[(variant, k)]) for k in ("float", "int8"))
        print(f"float / int8 with {variant}: {f / i:.2f}x")


def training_comparison(preset: str, size: int, batch: int, rounds: int) -> None:
    from facessd_archive.model.ssd import build_ssd_network
    from facessd_archive.train.plan import RunOptions, model_config_for

    config = model_config_for(RunOptions(preset=preset, input_size=size, pretrained=False), None)
    x = tf.random.uniform([batch, size, size, 3], 0, 255, seed=0)
    steps = {}
    for variant in VARIANTS:
        use_variant(variant)
        network, optimizer = build_ssd_network(config), keras.optimizers.SGD(1e-6)

        @tf.function
        def step(network=network, optimizer=optimizer):
            with tf.GradientTape() as tape:
                out = network(x, training=True)
                loss = tf.reduce_mean(out["box_encodings"] ** 2) + tf.reduce_mean(out["class_logits"] ** 2)
            grads = tape.gradient(loss, network.trainable_variables)
            optimizer.apply_gradients(zip(grads, network.trainable_variables))

        step()  # trace

        def call(step=step) -> float:
            t = time.perf_counter()
            step()
            step()
            return (time.perf_counter() - t) / 2 * 1e3
        steps[variant] = call
    times = _median_rounds(steps, rounds)
    a, b = (statistics.median(times[v]) for v in VARIANTS)
    print(f"TF training step ({preset} at {size}, batch {batch}): keras {a:.0f} ms, depth_to_space {b:.0f} ms "
          f"(x{b / a:.3f}; per round {[round(q / p, 2) for p, q in zip(times[VARIANTS[0]], times[VARIANTS[1]])]})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", default=None, help="archived stage (default: the archive's default stage)")
    p.add_argument("--size", type=int, default=416, help="TFLite square input")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--images", type=int, default=20, help="photos per timed round (facemask train.txt)")
    p.add_argument("--calibration-images", type=int, default=50, help="int8 calibration (speed does not "
                   "depend on it)")
    p.add_argument("--train-size", type=int, default=320)
    p.add_argument("--train-batch", type=int, default=8)
    p.add_argument("--skip-training", action="store_true")
    args = p.parse_args(argv)
    from facessd_archive.archive import open_archive
    from facessd_archive.evaluate.evaluation import hardware_description

    archive = open_archive(None)
    stage = archive.default_stage() if args.stage is None else archive.get(args.stage)
    print(f"{stage.stage_id}; {hardware_description()}; load {os.getloadavg()[0]:.1f}")
    tflite_comparison(stage.folder, args.size, args.calibration_images, args.rounds, args.images)
    if not args.skip_training:
        training_comparison("wider-v2", args.train_size, args.train_batch, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
