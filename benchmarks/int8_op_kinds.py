"""Where int8 pays and where it does not: each layer of a stage's network alone, float vs int8 TFLite.

Why it exists: the int8 network of the default stage runs about 2x the float one under XNNPACK
on the 2-core AVX-512 VNNI host, not the 3-4x its 1x1 convolutions get, and issue 11 asks for
2x end to end. This script says which kinds of layer hold the ratio down. It walks the stage's
Keras network at the TFLite runtimes' square, rebuilds every convolution, depthwise convolution
and residual add as a one-layer model of the same shape (stride, padding, fused ReLU6; random
weights: the speed does not depend on their values), converts each to float32 and to int8 (int8
in and out, so no quantize op at the edges), and times them in one process, float and int8
interleaved. Layers of one shape are timed once and counted as often as they occur. The sum per
kind estimates each kind's share of the whole network, which is timed too (``--no-network``
skips it), with the runtimes' own float and int8 models.

    .venv/bin/python benchmarks/int8_op_kinds.py                 # the default stage at 416, 2 threads
    .venv/bin/python benchmarks/int8_op_kinds.py --threads 1 --out op_kinds.json
    .venv/bin/python benchmarks/int8_op_kinds.py --preset wider --depth-multiplier 0.75   # a backbone not trained yet

``--preset`` times a training preset's network with random weights instead of a stage (its int8
model calibrated on 16 images): what a backbone would give under int8 before any time goes into
training it. Speed does not depend on the weights' values; accuracy is not measured.

Results: docs/runtimes.md, "Where the int8 time goes".
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("first convolution (3 channels)", "1x1 convolution", "3x3 convolution", "depthwise 3x3, stride 1",
         "depthwise 3x3, stride 2 (+ its pad)", "residual add")


@dataclass(frozen=True)
class LayerShape:
    """One layer as it runs in the TFLite graph: what decides its speed."""

    kind: str
    height: int  # input height and width (before the layer's own explicit padding)
    width: int
    channels_in: int
    channels_out: int
    kernel: int
    stride: int
    pad: int  # explicit symmetric zero padding in front of it (a ZeroPadding2D layer)

    def label(self) -> str:
        if self.kind == "residual add":
            return f"{self.height}x{self.width}x{self.channels_in}"
        return (f"{self.height}x{self.width}x{self.channels_in} -> {self.channels_out}, "
                f"{self.kernel}x{self.kernel}/{self.stride}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    subject = p.add_mutually_exclusive_group()
    subject.add_argument("--stage", default=None, help="archived stage id (default: the archive's default stage)")
    subject.add_argument("--preset", choices=("facemask", "wider", "wider-v2"), default=None,
                         help="instead of a stage: this training preset's network with random weights")
    p.add_argument("--depth-multiplier", type=float, default=None, help="with --preset: the backbone's width")
    p.add_argument("--size", type=int, default=416, help="the square the TFLite runtimes run (--max-side 416)")
    p.add_argument("--threads", type=int, default=2, help="XNNPACK threads")
    p.add_argument("--rounds", type=int, default=9, help="interleaved rounds; figures are medians")
    p.add_argument("--calls", type=int, default=10, help="invocations per layer per round")
    p.add_argument("--limit", type=int, default=None, help="time only the first N distinct layer shapes (smoke runs)")
    p.add_argument("--no-network", action="store_true", help="skip timing the whole float and int8 networks")
    p.add_argument("--out", type=Path, help="write the result as JSON here")
    return p.parse_args(argv)


def layer_shapes(network) -> list[LayerShape]:
    """Every convolution, depthwise convolution and residual add of a Keras network, as ``LayerShape``."""
    import keras

    shapes, pad_of = [], {}
    for layer in network.layers:
        if isinstance(layer, keras.layers.ZeroPadding2D):
            pad_of[id(layer.output)] = (layer.padding[0][0], tuple(layer.input.shape[1:]))
            continue
        if isinstance(layer, keras.layers.Add):
            _, h, w, c = layer.output.shape
            shapes.append(LayerShape("residual add", h, w, c, c, 0, 1, 0))
            continue
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):  # not subclasses in Keras 3
            continue
        pad, in_shape = pad_of.get(id(layer.input), (0, tuple(layer.input.shape[1:])))
        h, w, c_in = in_shape
        k, s = layer.kernel_size[0], layer.strides[0]
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kind = "depthwise 3x3, stride 1" if s == 1 else "depthwise 3x3, stride 2 (+ its pad)"
            c_out = c_in
        else:
            kind = ("first convolution (3 channels)" if c_in == 3 else "1x1 convolution" if k == 1
                    else "3x3 convolution")
            c_out = layer.filters
        if layer.padding == "same" and k > 1:
            pad = -1  # TF "same" padding inside the op
        shapes.append(LayerShape(kind, h, w, c_in, c_out, k, s, pad))
    return shapes


def one_layer_models(shape: LayerShape, rng: np.random.Generator) -> tuple[bytes, bytes]:
    """(float32, int8) TFLite flatbuffers of ``shape`` alone; the int8 one has int8 input and output."""
    import keras
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec([1, shape.height, shape.width, shape.channels_in], tf.float32)
    if shape.kind == "residual add":  # two inputs calibrated to different ranges: the int8 add rescales both
        add = tf.function(lambda a, b: a + b, input_signature=[spec, spec]).get_concrete_function()
        return float_and_int8(add, lambda: [rng.uniform(-4.0, 4.0, spec.shape).astype(np.float32),
                                            rng.uniform(-1.0, 1.0, spec.shape).astype(np.float32)])
    x = inputs = keras.Input((shape.height, shape.width, shape.channels_in), batch_size=1)
    padding = "same" if shape.pad == -1 else "valid"
    if shape.pad > 0:
        x = keras.layers.ZeroPadding2D(shape.pad)(x)
    if shape.kind.startswith("depthwise"):
        x = keras.layers.DepthwiseConv2D(shape.kernel, shape.stride, padding=padding)(x)
    else:
        x = keras.layers.Conv2D(shape.channels_out, shape.kernel, shape.stride, padding=padding)(x)
    model = keras.Model(inputs, keras.layers.ReLU(6.0)(x))
    frozen = convert_variables_to_constants_v2(tf.function(lambda t: model(t), input_signature=[spec])
                                               .get_concrete_function())
    return float_and_int8(frozen, lambda: [rng.uniform(0.0, 6.0, spec.shape).astype(np.float32)])


def float_and_int8(function, calibration_inputs) -> tuple[bytes, bytes]:
    """``function`` (a frozen concrete function) as a float32 flatbuffer and as an all-int8 one with
    int8 input and output, calibrated on 4 draws of ``calibration_inputs()``."""
    import tensorflow as tf

    as_float = tf.lite.TFLiteConverter.from_concrete_functions([function]).convert()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (calibration_inputs() for _ in range(4))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return as_float, converter.convert()


def ready_interpreter(model: bytes, threads: int, image: np.ndarray | None = None):
    """An allocated interpreter with its input set: ``image`` for a one-input model, else zeros."""
    from facessd_archive.evaluate.tflite_runtime import make_interpreter
    from facessd_archive.tf_logs import tflite_info_dropped

    interpreter, _ = make_interpreter(model, threads)
    with tflite_info_dropped():
        interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        value = image if image is not None else np.zeros(detail["shape"], detail["dtype"])
        interpreter.set_tensor(detail["index"], value)
    return interpreter


def timed_ms(call, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - t0) / calls * 1e3


def interleaved_medians(calls: dict, rounds: int, per_round: int) -> dict[str, float]:
    """Median ms per call of each entry, the entries taking turns every round."""
    for call in calls.values():
        call()  # warm-up: XNNPACK packs the weights on the first invoke
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for key, call in calls.items():
            times[key].append(timed_ms(call, per_round))
    return {k: statistics.median(v) for k, v in times.items()}


def stage_networks(stage_folder: Path, size: int) -> tuple[dict[str, bytes], np.ndarray]:
    """The runtimes' own float and int8 models of a stage (int8 from the cache, calibrated as
    ``evaluate`` does) and one real input prepared as they prepare it."""
    from facessd_archive.evaluate import quantize
    from facessd_archive.evaluate.runner import load_ssd_batch_detector

    detectors = {kind: load_ssd_batch_detector(stage_folder, rt, rt, max_side=size)[0]
                 for kind, rt in (("float", "tflite"), ("int8", "tflite-int8"))}
    image = next(quantize.calibration_set(detectors["float"].policy, 1).batches())
    return {kind: d.runtime._model for kind, d in detectors.items()}, image


def preset_networks(detector, size: int) -> tuple[dict[str, bytes], np.ndarray]:
    """Float and int8 models of a random-weight network (int8 calibrated on 16 real or synthetic images)."""
    from facessd_archive.evaluate import quantize
    from facessd_archive.evaluate.resizing import ResizePolicy
    from facessd_archive.evaluate.tflite_runtime import convert_to_tflite

    calibration = quantize.calibration_set(ResizePolicy("square", size), 16)
    return ({"float": convert_to_tflite(detector), "int8": quantize.convert_to_int8(detector, calibration)},
            next(calibration.batches()))


def network_ms(models: dict[str, bytes], image: np.ndarray, threads: int, rounds: int,
               calls: int) -> dict[str, float]:
    """Median ms of one whole-network invoke of ``image`` [1, S, S, 3] per model, the models taking turns."""
    interpreters = {kind: ready_interpreter(model, threads, image) for kind, model in models.items()}
    return interleaved_medians({kind: it.invoke for kind, it in interpreters.items()}, rounds, calls)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from facessd_archive.archive import open_archive, stage_weights_folder
    from facessd_archive.evaluate.evaluation import cpu_name, hardware_description
    from facessd_archive.model.checkpoint import load_detector

    load_start = os.getloadavg()
    if args.preset is not None:
        from facessd_archive.model.detector import SSDDetector
        from facessd_archive.train.plan import RunOptions, model_config_for

        config = model_config_for(RunOptions(preset=args.preset, input_size=args.size,
                                             depth_multiplier=args.depth_multiplier), None)
        detector = SSDDetector(config)
        subject = (f"--preset {args.preset} (random weights, {config.feature_extractor}, "
                   f"depth {config.depth_multiplier:g})")
    else:
        archive = open_archive(ROOT)
        stage = archive.default_stage() if args.stage is None else archive.get(args.stage)
        folder = stage_weights_folder(stage.stage_id, archive=archive)
        detector = load_detector(folder, input_size=args.size)
        subject = stage.stage_id
    all_shapes = layer_shapes(detector.network)
    counts = Counter(all_shapes)
    distinct = list(counts)[:args.limit] if args.limit else list(counts)
    rng = np.random.default_rng(0)
    per_layer = []
    for n, shape in enumerate(distinct, 1):
        as_float, as_int8 = one_layer_models(shape, rng)
        its = {"float": ready_interpreter(as_float, args.threads), "int8": ready_interpreter(as_int8, args.threads)}
        ms = interleaved_medians({k: it.invoke for k, it in its.items()}, args.rounds, args.calls)
        per_layer.append({**asdict(shape), "count": counts[shape], "float_ms": ms["float"], "int8_ms": ms["int8"]})
        print(f"[{n}/{len(distinct)}] {shape.kind}: {shape.label()} x{counts[shape]}: float {ms['float']:.3f} ms, "
              f"int8 {ms['int8']:.3f} ms", file=sys.stderr, flush=True)
    kinds = {}
    for kind in KINDS:
        rows = [r for r in per_layer if r["kind"] == kind]
        if rows:
            f = sum(r["float_ms"] * r["count"] for r in rows)
            q = sum(r["int8_ms"] * r["count"] for r in rows)
            kinds[kind] = {"layers": sum(r["count"] for r in rows), "float_ms": f, "int8_ms": q,
                           "int8_speedup": f / q}
    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "network": subject,
        "size": args.size, "threads": args.threads, "rounds": args.rounds, "cpu": cpu_name(),
        "hardware": hardware_description(), "load_average_start": load_start, "per_layer": per_layer,
        "kinds": kinds, "layers_timed": len(per_layer), "layer_shapes": len(counts),
    }
    if not args.no_network:
        models, image = (preset_networks(detector, args.size) if args.preset is not None
                         else stage_networks(folder, args.size))
        result["network_ms"] = network_ms(models, image, args.threads, args.rounds, args.calls)
        result["int8_model_bytes"] = len(models["int8"])
    result["load_average_end"] = os.getloadavg()
    print_table(result)
    if args.out:
        from facessd_archive.fileio import atomic_write_json

        atomic_write_json(args.out, result)
    return result


def print_table(r: dict) -> None:
    from tabulate import tabulate

    total_f = sum(k["float_ms"] for k in r["kinds"].values())
    total_q = sum(k["int8_ms"] for k in r["kinds"].values())
    rows = [[kind, k["layers"], f"{k['float_ms']:.2f}", f"{k['int8_ms']:.2f}", f"{k['int8_speedup']:.2f}x",
             f"{k['int8_ms'] / total_q:.0%}"] for kind, k in r["kinds"].items()]
    rows.append(["sum of the layers alone", sum(k["layers"] for k in r["kinds"].values()), f"{total_f:.2f}",
                 f"{total_q:.2f}", f"{total_f / total_q:.2f}x", "100%"])
    if "network_ms" in r:
        n = r["network_ms"]
        rows.append(["whole network (float and int8 models)", "", f"{n['float']:.2f}", f"{n['int8']:.2f}",
                     f"{n['float'] / n['int8']:.2f}x", ""])
    print(f"\n{r['network']} at {r['size']}x{r['size']}, {r['threads']} XNNPACK threads; {r['hardware']}; load "
          f"{r['load_average_start'][0]:.1f} -> {r['load_average_end'][0]:.1f}; {r['rounds']} rounds, median; "
          f"{r['layers_timed']} of {r['layer_shapes']} layer shapes timed")
    print(tabulate(rows, headers=["layer kind", "layers", "float ms", "int8 ms", "int8 speed-up", "share of int8"],
                   tablefmt="github"))


if __name__ == "__main__":
    main()
