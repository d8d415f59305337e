"""Training throughput: this project's SSD-MobileNetV1 train step against a plain-Keras baseline.

One process builds every model, feeds each the same pre-built batches of real targets, and times
them in many short rounds in a shuffled order, so machine drift and bursts of foreign load (another
job, thermal limits) hit all of them alike; the figures that count are the ratios. See
docs/performance.md ("Training throughput") and benchmarks/README.md.

Contestants (one training step each: forward, ssd_loss, backward, optimizer update):

``ours``
    ``SSDDetector(config)`` + ``facessd_archive.train.trainer.make_train_step``.
``baseline``
    What a typical Keras user writes: ``keras.applications.MobileNet(alpha=depth multiplier,
    weights=None, include_top=False)`` tapped at ``conv_pw_11_relu`` / ``conv_pw_13_relu``, the same
    four extra blocks and conv box-predictor heads from stock ``Conv2D`` / ``BatchNormalization`` /
    ``ReLU`` layers, trained by a plain ``tf.function`` around a ``tf.GradientTape`` (``compile`` +
    ``train_on_batch`` cannot take a loss that needs both outputs and the anchors at once without
    overriding ``train_step``, which is this same code). Same ``ssd_loss``, ``LossConfig``, L2 weight
    decay, optimizer, input size and batch.
``ours_keras_bn`` / ``baseline_fused_bn`` (``--breakdown``)
    Each network with the other's batch-norm layer, to split the speed-up into its causes.
``ours_pipeline`` (unless ``--pipeline-batches 0``)
    ``ours`` fed by the real ``training_dataset`` (tf.data, random crop + flip, targets) instead
    of pre-built batches: the cost a real run pays.

The pre-built batches are the first ``--num-batches * --batch-size`` images of facemask's
``train.txt`` (``../shared/data/facemask``), resized without augmentation, with targets from
``make_train_example``; random images and boxes when the set is absent. Keras' MobileNet pads
stride-2 layers with ``ZeroPadding2D((0, 1))`` + VALID instead of SAME, so on inputs that are not
multiples of 32 its feature maps are a little smaller (150x150: 9x9 and 4x4 at strides 16 and 32,
against the OD API's 10x10 and 5x5). Each model gets anchors from its own feature maps and targets
assigned to them from the same images and boxes; the baseline therefore does *less* work (19 % fewer
convolution multiply-adds at 150x150; none fewer at multiples of 32). The report prints each model's
convolution work (``GMAC``) so the ratio can be read per image and per multiply-add.

Run from the project root (defaults: 150x150, depth multiplier 1.0, batch 16, 15 rounds x 2 steps)::

    .venv/bin/python benchmarks/train_throughput.py --input-size 150 --depth-multiplier 1.0 \\
        --batch-size 16 --breakdown --json train_throughput.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from facessd_archive.train.inputs import decoded_examples, make_train_example, training_dataset  # noqa: E402
from facessd_archive.data.sample import Sample  # noqa: E402
from facessd_archive.model import blocks  # noqa: E402
from facessd_archive.model.anchors import anchors_for  # noqa: E402
from facessd_archive.model.config import (FeatureMapConfig, LossConfig, ModelConfig, face_config,  # noqa: E402
                                          num_anchors_per_location)
from facessd_archive.model.detector import SSDDetector  # noqa: E402
from facessd_archive.model.layers import FusedBatchNorm  # noqa: E402
from facessd_archive.model.losses import ssd_loss  # noqa: E402
from facessd_archive.model.ssd import build_ssd_network, class_bias_initializer, feature_map_grids  # noqa: E402
from facessd_archive.train.settings import TrainSettings  # noqa: E402
from facessd_archive.train.trainer import make_optimizer, make_train_step  # noqa: E402

FACEMASK_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "facemask"
LOSSES = ("face", "od")
Batch = dict  # str -> tf.Tensor, the keys make_train_example returns


# --- configuration ---------------------------------------------------------------------------------

def make_config(input_size: int, depth_multiplier: float, loss: str = "face") -> ModelConfig:
    """``face``: the project's face config (focal loss, no miner). ``od``: the same model with the OD API's
    default loss (weighted sigmoid + hard example miner, 3 negatives per positive)."""
    config = face_config(input_size, depth_multiplier)
    if loss == "od":
        return dataclasses.replace(config, loss=LossConfig())
    if loss != "face":
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    return config


# --- the networks ----------------------------------------------------------------------------------

class _FusedBatchNormMask(FusedBatchNorm):
    """FusedBatchNorm that accepts (and ignores, as BatchNormalization does for images) the ``mask``
    argument keras' functional graph passes to a layer standing where a BatchNormalization stood."""

    def call(self, x, training=None, mask=None):
        return super().call(x, training=training)


def _bn_factory(kind: str) -> Callable:
    """``kind`` 'keras' or 'fused' -> ``f(momentum, epsilon, name)`` building that batch-norm layer."""
    if kind == "fused":
        return lambda momentum, epsilon, name: _FusedBatchNormMask(momentum, epsilon, name=name)
    if kind == "keras":
        return lambda momentum, epsilon, name: keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon,
                                                                               name=name)
    raise ValueError(f"batch norm must be 'keras' or 'fused', got {kind!r}")


def build_ours_network(config: ModelConfig, batch_norm: str = "fused") -> keras.Model:
    """This project's network; ``batch_norm='keras'`` swaps FusedBatchNorm for keras' BatchNormalization
    (everything else unchanged), for the breakdown."""
    if batch_norm == "fused":
        return build_ssd_network(config)
    make_bn = _bn_factory(batch_norm)
    with mock.patch.object(blocks, "FusedBatchNorm",
                           lambda momentum, epsilon, name: make_bn(momentum, epsilon, name)):
        return build_ssd_network(config)



def build_baseline_network(config: ModelConfig, batch_norm: str = "keras") -> keras.Model:
    """The plain-Keras SSD: keras.applications MobileNet + stock-layer extra blocks and heads.

    Same outputs (``box_encodings`` [B, A, 4], ``class_logits`` [B, A, K]) and the same L2 weight decay
    as ours (``l2_weight / 2`` on every kernel; Keras' MobileNet takes no regularizer, so it is set on its
    kernel variables, which Keras 3 then reports in ``model.losses``). ``batch_norm='fused'`` rebuilds
    the whole graph with FusedBatchNorm in place of every BatchNormalization, for the breakdown.
    """
    s = config.input_size
    l2 = config.loss.l2_weight / 2.0
    reg = keras.regularizers.L2(l2) if l2 else None
    make_bn = _bn_factory(batch_norm)
    backbone = keras.applications.MobileNet(input_shape=(s, s, 3), alpha=config.depth_multiplier,
                                            weights=None, include_top=False)
    if batch_norm == "fused":
        def swap_bn(layer):
            if isinstance(layer, keras.layers.BatchNormalization):
                return make_bn(layer.momentum, layer.epsilon, layer.name)
            return layer.__class__.from_config(layer.get_config())

        backbone = keras.models.clone_model(backbone, clone_function=swap_bn)
    if reg is not None:
        for layer in backbone.layers:
            for attr in ("kernel", "depthwise_kernel"):
                if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) and hasattr(layer, attr):
                    getattr(layer, attr).regularizer = reg
                    break
    features = keras.Model(backbone.input, [backbone.get_layer("conv_pw_11_relu").output,
                                            backbone.get_layer("conv_pw_13_relu").output], name="mobilenet_features")

    images = keras.Input(shape=(s, s, 3), name="images")
    x = keras.layers.Rescaling(2.0 / 255.0, offset=-1.0, name="preprocess")(images)
    c11, c13 = features(x)
    fmaps = [c11, c13]
    x = c13
    for j, depth in enumerate(FeatureMapConfig().extra_depths, start=2):  # the zoo model's four extra blocks
        for filters, kernel, stride, tag in ((config.depth(depth // 2), 1, 1, "1x1"),
                                             (config.depth(depth), 3, 2, "3x3")):
            x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                                    kernel_regularizer=reg, name=f"extra_{j}_{tag}")(x)
            x = make_bn(config.batch_norm_momentum, config.batch_norm_epsilon, f"extra_{j}_{tag}_bn")(x)
            x = keras.layers.ReLU(6.0, name=f"extra_{j}_{tag}_relu")(x)
        fmaps.append(x)
    k = config.box_predictor_kernel_size
    boxes, logits = [], []
    for i, (fmap, n) in enumerate(zip(fmaps, num_anchors_per_location(config.anchors))):
        # Named like ours so feature_map_grids() reads its real grid sizes.
        b = keras.layers.Conv2D(n * 4, k, padding="same", kernel_regularizer=reg,
                                name=f"BoxPredictor_{i}_BoxEncodingPredictor")(fmap)
        c = keras.layers.Conv2D(n * (config.num_classes + 1), k, padding="same", kernel_regularizer=reg,
                                bias_initializer=class_bias_initializer(config, n), name=f"BoxPredictor_{i}_ClassPredictor")(fmap)
        boxes.append(keras.layers.Reshape((-1, 4))(b))
        logits.append(keras.layers.Reshape((-1, config.num_classes + 1))(c))
    outputs = {"box_encodings": keras.layers.Concatenate(axis=1)(boxes),
               "class_logits": keras.layers.Concatenate(axis=1)(logits)}
    return keras.Model(images, outputs, name="keras_mobilenet_ssd")


def make_plain_train_step(network: keras.Model, anchors: np.ndarray, config: ModelConfig,
                          optimizer: keras.optimizers.Optimizer):
    """The baseline's step, as a user writes it: tf.function + GradientTape + ssd_loss + L2 + apply_gradients."""
    anchors_t = tf.constant(anchors)
    coder = config.box_coder.as_tuple()

    @tf.function
    def train_step(batch):
        with tf.GradientTape() as tape:
            out = network(batch["images"], training=True)
            terms = ssd_loss(out["box_encodings"], out["class_logits"], batch, anchors_t, config.loss, coder)
            total = terms.classification + terms.localization + tf.add_n(network.losses)
        grads = tape.gradient(total, network.trainable_variables)
        optimizer.apply_gradients(zip(grads, network.trainable_variables))
        return {"Loss/total_loss": total}

    return train_step


# --- data ------------------------------------------------------------------------------------------

@dataclass
class Examples:
    """Decoded images and normalised yxyx boxes, shared by every model's batches."""

    images: list[np.ndarray]
    boxes: list[np.ndarray]
    ignore: list[np.ndarray]
    source: str
    samples: list[Sample] = field(default_factory=list)  # the real samples (pipeline), empty when random


def facemask_samples(root: Path = FACEMASK_ROOT) -> list[Sample]:
    """facemask's train split (never val), sorted by image id; [] when the set is absent."""
    if not (root / "annotations").is_dir() or not (root / "train.txt").is_file():
        return []
    from facessd_archive.data.readers.formats import load_benchmark

    return sorted(load_benchmark(root, fmt="voc", split="train.txt").samples, key=lambda s: s.image_id)


def load_examples(count: int, samples: Sequence[Sample] = (), seed: int = 0) -> Examples:
    """The first ``count`` real samples decoded, or random images with 1-12 random boxes each."""
    if samples:
        images, boxes, ignore = [], [], []
        for image, b, ig in decoded_examples(list(samples)[:count]):
            images.append(image)
            boxes.append(b)
            ignore.append(ig)
        if len(images) == count:
            return Examples(images, boxes, ignore, f"facemask train.txt ({count} images)", list(samples))
    rng = np.random.default_rng(seed)
    images, boxes, ignore = [], [], []
    for _ in range(count):
        images.append(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
        g = int(rng.integers(1, 13))
        size = rng.uniform(0.03, 0.4, (g, 2))
        y0 = rng.uniform(0, 1 - size[:, 0])
        x0 = rng.uniform(0, 1 - size[:, 1])
        boxes.append(np.stack([y0, x0, y0 + size[:, 0], x0 + size[:, 1]], axis=-1).astype(np.float32))
        ignore.append(np.zeros(g, dtype=bool))
    return Examples(images, boxes, ignore, f"random images and boxes ({count} images)")


def make_batches(examples: Examples, anchors: np.ndarray, config: ModelConfig, batch_size: int) -> list[Batch]:
    """Resized images and per-anchor targets (``make_train_example``, no augmentation), stacked in batches."""
    anchors_t = tf.constant(anchors)
    seed = tf.constant([0, 0], tf.int64)
    per_image = [make_train_example(tf.constant(i), tf.constant(b), tf.constant(g), seed, anchors_t, config,
                                    augment=False)
                 for i, b, g in zip(examples.images, examples.boxes, examples.ignore)]
    batches = []
    for start in range(0, len(per_image) - batch_size + 1, batch_size):
        chunk = per_image[start:start + batch_size]
        batches.append({k: tf.stack([e[k] for e in chunk]) for k in chunk[0]})
    return batches


# --- timing ----------------------------------------------------------------------------------------

@dataclass
class Contestant:
    """One model under test: ``step(batch) -> {'Loss/total_loss': ...}`` and where its batches come from.

    ``batches``: pre-built batches cycled in order; or ``dataset``: a fresh iterator per round, one
    batch pulled untimed before the clock starts.
    """

    name: str
    step: Callable
    network: keras.Model
    anchors: np.ndarray
    grids: list[int]
    batches: list[Batch] | None = None
    dataset: tf.data.Dataset | None = None
    gmacs: float | None = None  # convolution multiply-accumulates of one image's forward pass, billions
    round_seconds: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    step_cpu_seconds: list[float] = field(default_factory=list)  # process CPU time (all threads) per step
    losses: list[float] = field(default_factory=list)
    _cursor: int = 0

    def batch_source(self) -> Iterator[Batch]:
        if self.dataset is not None:
            it = iter(self.dataset)
            next(it)
            return it

        def cycle():
            while True:
                yield self.batches[self._cursor % len(self.batches)]
                self._cursor += 1

        return cycle()

    def run(self, steps: int) -> float:
        """``steps`` timed steps; returns the wall seconds. Each step ends on the loss value (a sync point)."""
        source = self.batch_source()
        t0 = time.perf_counter()
        last, last_cpu = t0, time.process_time()
        for _ in range(steps):
            out = self.step(next(source))
            loss = float(out["Loss/total_loss"])
            now, cpu = time.perf_counter(), time.process_time()
            self.step_seconds.append(now - last)
            self.step_cpu_seconds.append(cpu - last_cpu)
            last, last_cpu = now, cpu
        self.losses.append(loss)
        return last - t0


def param_counts(network: keras.Model) -> dict[str, int]:
    trainable = int(sum(np.prod(v.shape) for v in network.trainable_variables))
    total = int(sum(np.prod(v.shape) for v in network.variables))
    return {"trainable": trainable, "total": total}


def _layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def conv_gmacs(network: keras.Model) -> float:
    """Multiply-accumulates of every convolution in one image's forward pass, in billions: the work that
    differs when two networks' feature maps differ (batch norm, ReLU and the loss are left out, so the
    figure does not depend on how a layer is implemented)."""
    total = 0
    for layer in _layers(network):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * c
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * int(layer.input.shape[-1]) * c_out
    return total / 1e9


def make_contestant(name: str, config: ModelConfig, network: keras.Model, examples: Examples, batch_size: int,
                    settings: TrainSettings, ours: bool) -> Contestant:
    grids = feature_map_grids(network)
    optimizer = make_optimizer(settings)
    if ours:
        detector = SSDDetector(config, network=network)
        anchors = detector.anchors_np
        step = make_train_step(detector, optimizer)
    else:
        anchors = anchors_for(config, grids)
        step = make_plain_train_step(network, anchors, config, optimizer)
    return Contestant(name, step, network, anchors, grids,
                      batches=make_batches(examples, anchors, config, batch_size),
                      gmacs=conv_gmacs(network))


def run_rounds(contestants: Sequence[Contestant], steps: int, rounds: int, warmup: int, batch_size: int,
               log: Callable[[str], None] = lambda m: None, seed: int = 0) -> None:
    """Warm each up (tracing included), then ``rounds`` rounds of ``steps`` timed steps each, in a fresh
    (seeded) random order every round, so no model always runs first, last or after the same neighbour."""
    for c in contestants:
        t0 = time.perf_counter()
        c.run(warmup)
        c.step_seconds.clear()
        c.step_cpu_seconds.clear()
        log(f"  warm-up {c.name}: {warmup} steps in {time.perf_counter() - t0:.1f} s")
    rng = np.random.default_rng(seed)
    for r in range(rounds):
        order = [contestants[i] for i in rng.permutation(len(contestants))]
        for c in order:
            seconds = c.run(steps)
            c.round_seconds.append(seconds)
            log(f"  round {r + 1}/{rounds} {c.name:18s} {steps * batch_size / seconds:7.2f} img/s")


def images_per_second(c: Contestant, steps: int, batch_size: int) -> list[float]:
    return [steps * batch_size / s for s in c.round_seconds]


def measure_pipeline(dataset: tf.data.Dataset, num_batches: int, batch_size: int,
                     untimed: int = 5) -> dict[str, float]:
    """Batches/s of the input pipeline alone (no training step) from a fresh iterator, after ``untimed``
    batches (the first one fills the shuffle buffer). Whatever tf.data had prefetched when the clock
    starts is counted as produced in the window, so time enough batches (100 take well under a second
    at 150x150) for that head start not to matter."""
    it = iter(dataset)
    t0 = time.perf_counter()
    next(it)
    first = time.perf_counter() - t0
    for _ in range(untimed - 1):
        next(it)
    t0 = time.perf_counter()
    for _ in range(num_batches):
        next(it)
    seconds = time.perf_counter() - t0
    return {"batches": num_batches, "first_batch_seconds": first, "steps_per_second": num_batches / seconds,
            "images_per_second": num_batches * batch_size / seconds}


# --- the whole comparison --------------------------------------------------------------------------

def benchmark(input_size: int = 150, depth_multiplier: float = 1.0, batch_size: int = 16, steps: int = 2,
              rounds: int = 15, warmup: int = 3, loss: str = "face", num_batches: int = 4, breakdown: bool = False,
              pipeline_batches: int = 100, data_root: Path | None = FACEMASK_ROOT,
              log: Callable[[str], None] = lambda m: None) -> dict:
    """Build every contestant, time them in alternating rounds, return the results as a JSON-able dict."""
    load_before = os.getloadavg()
    config = make_config(input_size, depth_multiplier, loss)
    settings = TrainSettings(batch_size=batch_size, steps=100_000, warmup_steps=0)
    keras.utils.set_random_seed(0)
    samples = facemask_samples(data_root) if data_root is not None else []
    examples = load_examples(num_batches * batch_size, samples)
    log(f"data: {examples.source}")

    specs = [("ours", lambda: build_ours_network(config, "fused"), True),
             ("baseline", lambda: build_baseline_network(config, "keras"), False)]
    if breakdown:
        specs += [("ours_keras_bn", lambda: build_ours_network(config, "keras"), True),
                  ("baseline_fused_bn", lambda: build_baseline_network(config, "fused"), False)]
    contestants = []
    for name, build, ours in specs:
        contestants.append(make_contestant(name, config, build(), examples, batch_size, settings, ours))
        c = contestants[-1]
        log(f"built {name}: {param_counts(c.network)['trainable']:,} trainable parameters, "
            f"feature maps {c.grids}, {len(c.anchors)} anchors, {c.gmacs:.3f} conv GMAC/image")
    pipeline_ds = None
    if pipeline_batches > 0 and examples.samples:
        ours = contestants[0]  # the same model and compiled step, fed by tf.data
        pipeline_ds = training_dataset(examples.samples, config, ours.anchors, batch_size, seed=0, augment=True)
        contestants.append(Contestant("ours_pipeline", ours.step, ours.network, ours.anchors, ours.grids,
                                      dataset=pipeline_ds, gmacs=ours.gmacs))

    log(f"timing: {warmup} warm-up steps each, then {rounds} rounds x {steps} steps, batch {batch_size}")
    run_rounds(contestants, steps, rounds, warmup, batch_size, log)

    pipeline = None
    if pipeline_ds is not None:
        pipeline = measure_pipeline(pipeline_ds, pipeline_batches, batch_size)
        log(f"input pipeline alone: {pipeline['steps_per_second']:.2f} batches/s")

    models = {}
    for c in contestants:
        ips = images_per_second(c, steps, batch_size)
        models[c.name] = {
            "params": param_counts(c.network), "feature_maps": c.grids, "anchors": len(c.anchors),
            "conv_gmacs_per_image": c.gmacs,
            "round_images_per_second": ips, "median_images_per_second": statistics.median(ips),
            "median_step_seconds": statistics.median(c.step_seconds),
            "images_per_second_from_median_step": batch_size / statistics.median(c.step_seconds),
            "median_step_cpu_seconds": statistics.median(c.step_cpu_seconds),
            "final_losses": c.losses,
            "losses_finite": all(math.isfinite(v) for v in c.losses),
        }
    base = models["baseline"]
    for name, m in models.items():
        m["ratio_to_baseline"] = m["median_images_per_second"] / base["median_images_per_second"]
        paired = [a / b for a, b in zip(m["round_images_per_second"], base["round_images_per_second"])]
        m["median_round_ratio_to_baseline"] = statistics.median(paired)
        m["median_step_ratio_to_baseline"] = (m["images_per_second_from_median_step"]
                                              / base["images_per_second_from_median_step"])
        m["cpu_ratio_to_baseline"] = base["median_step_cpu_seconds"] / m["median_step_cpu_seconds"]
        # The ratio per unit of work: how much faster each convolution multiply-add trains.
        m["per_mac_ratio_to_baseline"] = (m["ratio_to_baseline"] * m["conv_gmacs_per_image"]
                                          / base["conv_gmacs_per_image"])
    p_ours, p_base = models["ours"]["params"]["total"], base["params"]["total"]
    load_after = os.getloadavg()
    return {
        "settings": {"input_size": input_size, "depth_multiplier": depth_multiplier, "batch_size": batch_size,
                     "steps": steps, "rounds": rounds, "warmup": warmup, "loss": loss, "num_batches": num_batches,
                     "optimizer": f"{settings.optimizer} (make_optimizer, lr {settings.learning_rate})",
                     "baseline_training": "tf.function + GradientTape"},
        "data": examples.source,
        "environment": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version(),
                        "cpus": os.cpu_count(), "cpu": _cpu_model(), "machine": platform.machine(),
                        "loadavg_before": load_before, "loadavg_after": load_after},
        "param_difference": (p_ours - p_base) / p_base,
        "models": models,
        "pipeline": pipeline,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = Path("/proc/cpuinfo").read_text()
                isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
                return f"{line.split(':', 1)[1].strip()} ({isa})"
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_report(result: dict) -> str:
    s = result["settings"]
    env = result["environment"]
    lines = [f"Training throughput, {s['input_size']}x{s['input_size']}, depth multiplier {s['depth_multiplier']}, "
             f"batch {s['batch_size']}, loss {s['loss']}; {s['rounds']} rounds x {s['steps']} steps "
             f"(median over rounds)",
             f"TF {env['tensorflow']}, Keras {env['keras']}, {env['cpus']} x {env['cpu']}, load average "
             f"{env['loadavg_before'][0]:.2f} before / {env['loadavg_after'][0]:.2f} after; data: {result['data']}",
             "",
             "img/s: median of the rounds; x base: its ratio to the baseline's; paired: median of the per-round",
             "ratios; step s: median single step and x base (step) the ratio it gives (robust to bursts of load);",
             "cpu s: median process CPU seconds per step (all threads) and x base (cpu) the baseline's over it",
             "(moves far less than wall time when another process shares the cores; ours_pipeline's includes",
             "its tf.data threads). GMAC: one image's forward convolutions; x base/MAC: x base scaled by that work.",
             "",
             f"{'model':18s} {'img/s':>7s} {'x base':>6s} {'paired':>6s} {'step s':>6s} {'x base (step)':>13s} "
             f"{'cpu s':>6s} {'x base (cpu)':>12s} {'GMAC':>6s} {'x base/MAC':>10s} {'params':>10s} "
             f"{'trainable':>10s} {'anchors':>7s}  feature maps"]
    for name, m in result["models"].items():
        lines.append(f"{name:18s} {m['median_images_per_second']:7.2f} {m['ratio_to_baseline']:6.2f} "
                     f"{m['median_round_ratio_to_baseline']:6.2f} {m['median_step_seconds']:6.3f} "
                     f"{m['median_step_ratio_to_baseline']:13.2f} {m['median_step_cpu_seconds']:6.3f} "
                     f"{m['cpu_ratio_to_baseline']:12.2f} {m['conv_gmacs_per_image']:6.3f} "
                     f"{m['per_mac_ratio_to_baseline']:10.2f} "
                     f"{m['params']['total']:10,d} {m['params']['trainable']:10,d} {m['anchors']:7d}  "
                     f"{m['feature_maps']}" + ("" if m["losses_finite"] else "  NON-FINITE LOSS"))
    lines.append(f"parameters: ours vs baseline {100 * result['param_difference']:+.2f}%")
    if abs(result["param_difference"]) > 0.05:
        lines.append("WARNING: the two networks differ by more than 5% in parameters")
    p = result["pipeline"]
    if p is not None:
        train = result["models"]["ours"]["median_images_per_second"] / s["batch_size"]
        lines.append(f"input pipeline alone (tf.data, crop+flip+targets): {p['steps_per_second']:.2f} batches/s "
                     f"= {p['steps_per_second'] / train:.1f}x the steps/s of ours on pre-built batches")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input-size", type=int, default=150)
    p.add_argument("--depth-multiplier", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=2, help="timed steps per model per round")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per model first (tracing included)")
    p.add_argument("--loss", choices=LOSSES, default="face",
                   help="face: focal loss, no miner (face_config); od: OD API sigmoid + hard example miner")
    p.add_argument("--num-batches", type=int, default=4, help="distinct pre-built batches, cycled")
    p.add_argument("--breakdown", action="store_true",
                   help="also time ours with keras BatchNormalization and the baseline with FusedBatchNorm")
    p.add_argument("--pipeline-batches", type=int, default=100,
                   help="batches to time the tf.data pipeline alone; 0 skips the pipeline measurements")
    p.add_argument("--data", type=Path, default=FACEMASK_ROOT, help="facemask VOC folder (random data if absent)")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the results as JSON")
    args = p.parse_args(argv)
    for name in ("batch_size", "steps", "rounds", "num_batches"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 1:
        p.error("--warmup must be >= 1 (the first step traces the graph)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = benchmark(args.input_size, args.depth_multiplier, args.batch_size, args.steps, args.rounds, args.warmup,
                       args.loss, args.num_batches, args.breakdown, args.pipeline_batches, args.data,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_report(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
