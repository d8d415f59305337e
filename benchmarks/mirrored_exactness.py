"""Is ``--strategy mirrored`` the single-device step? One device and MirroredStrategy over two logical CPU
devices against the same training done in float64, and how sharp the loss is (why they drift apart).

The setting of ``tests/test_train_distributed.py``: face_config at 64 px, depth multiplier 0.25, eight
synthetic scenes, global batch 4, momentum SGD, no augmentation, both runs from the same weights.
For each learning rate: the two float32 runs (``trainer.train``) and a float64 replay of the same steps
on the same batches (every layer float64, batch norm as the two-pass formula, the losses in float64),
compared on the trainable weights, as a fraction of the largest float64 update. Then the largest
Hessian eigenvalue at the start (power iteration on float64 Hessian-vector products): plain gradient
descent multiplies a difference along it by ``|1 - lr * lambda|`` per step.

    python benchmarks/mirrored_exactness.py --lr 1e-4 1e-6 1e-7 --steps 2

Runs in about a minute per learning rate on two cores. See docs/distributed.md.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import types
from pathlib import Path

import numpy as np
import tensorflow as tf


def _float64_replica(config, start: dict, batch_norm_cls):
    """The same network in float64, batch norm unfused (float64 has no fused kernel), losses in float64."""
    import keras

    from facessd_archive.model import losses as losses_module
    from facessd_archive.model.detector import SSDDetector

    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")

    class Float64Tf(types.ModuleType):  # ssd_loss casts to tf.float32: read float64 there
        def __getattr__(self, name):
            return tf.float64 if name == "float32" else getattr(tf, name)

    losses_module.tf = Float64Tf("tf")
    detector = SSDDetector(config)
    for v in detector.network.weights:
        v.assign(start[v.path].astype(np.float64))

    def two_pass(layer):
        def call(x, training=None):
            axes = list(range(len(x.shape) - 1))
            mean = tf.reduce_mean(x, axes)
            variance = tf.reduce_mean(tf.square(x - mean), axes)
            return tf.nn.batch_normalization(x, mean, variance, layer.beta, layer.gamma, layer.epsilon)
        return call

    for layer in detector.network._flatten_layers(include_self=False):
        if isinstance(layer, batch_norm_cls):
            layer.call = two_pass(layer)
    detector.anchors = tf.cast(detector.anchors, tf.float64)
    return detector


def _loss64(detector, batch):
    raw = detector.network(batch["images"], training=True)
    terms = detector.loss(raw, batch)
    regularization = tf.add_n([tf.cast(x, tf.float64) for x in detector.network.losses])
    return terms.classification + terms.localization + regularization


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, nargs="+", default=[1e-4, 1e-6, 1e-7])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--power-iterations", type=int, default=20)
    args = parser.parse_args()

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from facessd_archive.data.synthetic.benchmark import sample_benchmark
    from facessd_archive.model.checkpoint import export_compact, load_detector
    from facessd_archive.model.config import face_config
    from facessd_archive.model.detector import SSDDetector
    from facessd_archive.model.layers import FusedBatchNorm
    from facessd_archive.train.inputs import training_dataset
    from facessd_archive.train.settings import TrainSettings
    from facessd_archive.train.trainer import make_optimizer, train

    work = Path(tempfile.mkdtemp(prefix="mirrored-exactness-"))
    config = face_config(input_size=64, depth_multiplier=0.25)
    samples = sample_benchmark(seed=0, num_images=8, cache_dir=work / "synthetic")
    keras.utils.set_random_seed(0)
    export_compact(SSDDetector(config), work / "init", dtype="float32")
    start = {v.path: np.asarray(v.numpy()) for v in load_detector(work / "init").network.weights}
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = []
    for lr in args.lr:
        settings = TrainSettings(steps=args.steps, batch_size=4, warmup_steps=0, augment=False, summary_every=1,
                                 checkpoint_every=args.steps, learning_rate=lr, optimizer="momentum")
        runs = {}
        for name, s in (("one", None), ("mirrored", strategy)):
            result = train(config, settings, samples, work / f"{name}-{lr}", init_from=work / "init",
                           progress=False, strategy=s)
            runs[name] = {v.path: np.asarray(v.numpy(), np.float64) for v in result.detector.network.weights}
            trainable = [v.path for v in result.detector.network.trainable_weights]
            anchors = result.detector.anchors_np
        batches = list(training_dataset(samples, config, anchors, 4, seed=settings.seed, augment=False)
                       .take(args.steps))
        results.append((lr, settings, runs, trainable, batches))

    detector = _float64_replica(config, start, FusedBatchNorm)
    print(f"{'lr':>8}  {'one-f64':>9}  {'mirr-f64':>9}  {'mirr-one':>9}   (max |diff| / largest float64 update, "
          f"after {args.steps} steps)")
    for lr, settings, runs, trainable, batches in results:
        for v in detector.network.weights:
            v.assign(start[v.path].astype(np.float64))
        optimizer = make_optimizer(settings)
        for batch in batches:
            b64 = {k: (tf.cast(v, tf.float64) if v.dtype == tf.float32 else v) for k, v in batch.items()}
            with tf.GradientTape() as tape:
                total = _loss64(detector, b64)
            variables = detector.network.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        exact = {v.path: v.numpy() for v in detector.network.weights}
        update = max(np.abs(exact[k] - start[k]).max() for k in trainable)

        def gap(x, y):
            return max(np.abs(x[k] - y[k]).max() for k in trainable) / update

        print(f"{lr:8.0e}  {gap(runs['one'], exact):9.2e}  {gap(runs['mirrored'], exact):9.2e}  "
              f"{gap(runs['mirrored'], runs['one']):9.2e}")

    for v in detector.network.weights:
        v.assign(start[v.path].astype(np.float64))
    first = next(iter(results))[4][0]
    b64 = {k: (tf.cast(v, tf.float64) if v.dtype == tf.float32 else v) for k, v in first.items()}
    variables = detector.network.trainable_variables

    @tf.function
    def hessian_vector(vector):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                total = _loss64(detector, b64)
            grads = inner.gradient(total, variables)
            dot = tf.add_n([tf.reduce_sum(g * x) for g, x in zip(grads, vector)])
        return outer.gradient(dot, variables)

    rng = np.random.default_rng(0)
    vector = [rng.standard_normal(v.shape) for v in variables]
    norm = np.sqrt(sum((x ** 2).sum() for x in vector))
    for _ in range(args.power_iterations):
        product = [x.numpy() for x in hessian_vector([tf.constant(x / norm) for x in vector])]
        rayleigh = sum((p * x).sum() for p, x in zip(product, vector)) / norm
        vector, norm = product, np.sqrt(sum((x ** 2).sum() for x in product))
    print(f"largest Hessian eigenvalue at the start: about {rayleigh:.2e} (|Hv| {norm:.2e}); a difference along it "
          f"grows x{1 + abs(rayleigh) * max(args.lr):.0f} per step at lr {max(args.lr):g}, "
          f"x{1 + abs(rayleigh) * min(args.lr):.1f} at lr {min(args.lr):g}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
