"""Integer (int8) post-training quantization of the SSD network, cached on disk like the float model.

What people deploy on CPUs and phones is int8 (the OD API's own face model was
``facessd_mobilenet_v2_quantized``). ``convert_to_int8`` gives the network of ``frozen_network``
(pixels -> box encodings, class logits) with int8 weights (per output channel, TFLite's default)
and int8 activations whose ranges come from a calibration set of real images prepared exactly as
at inference (same ``ResizePolicy``). Float stays at the edges: the float32 ``images`` input (and,
by default, the stem below, then one quantize op) and a dequantize before each float32 output, so
the runtime feeds pixels and gets the same outputs as the float model; decode and NMS run
afterwards in float, as for every runtime.

``Int8Options.float_stem`` (default) keeps the stem in float: the input normalisation and the
first convolution (3 input channels, stride 2), with one quantize op after it. XNNPACK runs that
convolution with a direct float kernel made for 3-channel images, while int8 runs it as a generic
integer GEMM over 27-deep rows, and the int8 normalisation costs two requantizing passes over the
whole input: on the default stage at 416 (2-core AMD EPYC, AVX-512 VNNI) the float stem made the
network 8-10 % faster (6.7 vs 7.3 ms a photo); that layer is about 3 % of its multiply-adds.
``float_stem=False`` gives the all-int8 graph (float only at the edges) that integer-only
accelerators need.

``Int8Options.float_heads`` keeps the box-predictor heads (the last convolutions and what follows
them) in float: the fix to reach for when int8 loses accuracy in the heads (see docs/runtimes.md
for what was measured). Both use the TFLite quantization debugger's selective quantization
(``denylisted_nodes``).

Calibration (``calibration_set``): the first ``count`` images of facemask ``train.txt`` when
``../shared/data/facemask`` is present, else the built-in synthetic sample benchmark. The cache
key (``int8_key``) covers the float model's key, the converter options, the calibration set's
identity (benchmark, content hash, count) and the resize policy, so nothing stale is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

from facessd_archive.errors import ConfigError, DataError
from facessd_archive.evaluate.resizing import ResizePolicy, prepare
from facessd_archive.evaluate.tflite_runtime import (cache_root, frozen_network, model_key, read_cached_model,
                                                     write_cached_model)
from facessd_archive.model.detector import SSDDetector

QUANTIZER_VERSION = "facessd-int8-v2"  # bump when the int8 graph changes (options, edges, node choice)
DEFAULT_CALIBRATION_IMAGES = 300
HEAD_NODE_MARKERS = ("BoxPredictor", "BoxEncodingPredictor", "ClassPredictor")


@dataclass(frozen=True)
class Int8Options:
    """How the int8 model is made. ``per_channel``: one weight scale per output channel (TFLite's
    default; per-tensor loses depthwise layers); ``float_heads``: keep the box-predictor heads float;
    ``float_stem``: keep the input normalisation and the first convolution float (faster on XNNPACK;
    ``False`` for an all-int8 graph)."""

    calibration_images: int = DEFAULT_CALIBRATION_IMAGES
    per_channel: bool = True
    float_heads: bool = False
    float_stem: bool = True

    def __post_init__(self):
        if self.calibration_images < 1:
            raise ConfigError(f"Int8Options: calibration_images must be >= 1, got {self.calibration_images}")


@dataclass(frozen=True)
class CalibrationSet:
    """Representative inputs: ``identity`` names them for the cache key; ``batches()`` yields each
    image as the network's input ``[1, S, S, 3]`` float32 (a fresh iterator per call)."""

    identity: str
    count: int
    batches: Callable[[], Iterator[np.ndarray]]


def default_facemask_root() -> Path | None:
    """``../shared/data/facemask`` beside the checkout (or the current folder) when it holds ``train.txt``."""
    checkout = Path(__file__).resolve().parents[2]
    for base in (checkout, Path.cwd()):
        root = base.parent / "shared" / "data" / "facemask"
        if (root / "train.txt").is_file() and (root / "annotations").is_dir():
            return root
    return None


def calibration_set(policy: ResizePolicy, count: int = DEFAULT_CALIBRATION_IMAGES,
                    root: Path | None = None) -> CalibrationSet:
    """The first ``count`` training images (``root``'s ``train.txt``, default ``default_facemask_root()``,
    else the synthetic sample benchmark), prepared by ``policy``. Inputs must have one shape: a
    squashed square or a keep-aspect policy padded to a square."""
    from facessd_archive.data.images import load_rgb

    if policy.kind != "square" and not policy.pad_to_square:
        raise ConfigError(f"int8 calibration needs one input shape; {policy.describe()} varies per image")
    if count < 1:
        raise ConfigError(f"calibration needs at least 1 image, got {count}")
    root = root if root is not None else default_facemask_root()
    if root is not None:
        from facessd_archive.data.readers.formats import load_benchmark

        bench = load_benchmark(Path(root), split="train.txt")
        samples = list(bench.samples)[:count]
        identity = f"{bench.format}:{bench.name} sha256:{bench.content_hash} first {len(samples)}"
    else:
        from facessd_archive.data.synthetic.benchmark import SAMPLE_BENCHMARK_ID, sample_benchmark, \
            sample_benchmark_hash

        samples = sample_benchmark()[:count]
        identity = f"{SAMPLE_BENCHMARK_ID} sha256:{sample_benchmark_hash(samples)} first {len(samples)}"
    if not samples:
        raise DataError("the calibration set has no images")
    paths = [s.image_path for s in samples]

    def batches() -> Iterator[np.ndarray]:
        for path in paths:
            yield prepare(load_rgb(path), policy)[None]

    return CalibrationSet(f"{identity}; {policy.describe()}", len(paths), batches)


def _converter(detector: SSDDetector, calibration: CalibrationSet, options: Int8Options):
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen_network(detector)])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([batch] for batch in calibration.batches())
    if options.float_heads or options.float_stem:  # selective quantization: float kernels for the nodes left out
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not options.per_channel:
        converter._experimental_disable_per_channel = True  # the converter's only switch for it
    return converter


def convert_to_int8(detector: SSDDetector, calibration: CalibrationSet, options: Int8Options = Int8Options()) -> bytes:
    """The int8 TFLite flatbuffer of ``detector``'s network (float32 ``images`` in, float32 outputs out)."""
    converter = _converter(detector, calibration, options)
    if not (options.float_heads or options.float_stem):
        return converter.convert()
    ops, names = _all_int8_ops(detector, calibration)
    denylist = (_stem_nodes(ops, names) if options.float_stem else []) + \
        (_head_nodes(ops, names) if options.float_heads else [])
    debug_options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denylist)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=_converter(detector, calibration, options),
        debug_dataset=lambda: ([batch] for batch in _first(calibration, 1)),
        debug_options=debug_options)
    with warnings.catch_warnings():  # a float stem leaves the input unquantized, as intended
        warnings.filterwarnings("ignore", message=r"Statistics for quantized inputs were expected")
        return debugger.get_nondebug_quantized_model()


def _first(calibration: CalibrationSet, n: int) -> list[np.ndarray]:
    out = []
    for batch in calibration.batches():
        out.append(batch)
        if len(out) == n:
            break
    return out


def _all_int8_ops(detector: SSDDetector, calibration: CalibrationSet) -> tuple[list[dict], dict[int, str]]:
    """The ops of the all-int8 graph (calibrated on 4 images: only its node names are read) and its
    tensor names by index."""
    from facessd_archive.evaluate.tflite_runtime import make_interpreter

    model = _converter(detector, _small(calibration), Int8Options(float_heads=False, float_stem=False)).convert()
    interpreter, _ = make_interpreter(model, 1)
    return interpreter._get_ops_details(), {t["index"]: t["name"] for t in interpreter.get_tensor_details()}


def stem_nodes(detector: SSDDetector, calibration: CalibrationSet) -> list[str]:
    """Names of the tensors from the input up to the first convolution's output in the int8 graph
    (normalisation, padding, first convolution), for the debugger's ``denylisted_nodes``."""
    return _stem_nodes(*_all_int8_ops(detector, calibration))


def head_nodes(detector: SSDDetector, calibration: CalibrationSet) -> list[str]:
    """Names of the tensors the box-predictor heads produce in the int8 graph, and of every tensor
    after them (reshapes, concatenations, the outputs), for the debugger's ``denylisted_nodes``."""
    return _head_nodes(*_all_int8_ops(detector, calibration))


def _stem_nodes(ops: list[dict], tensors: dict[int, str]) -> list[str]:
    names: list[str] = []
    for op in ops:
        if op["op_name"] == "QUANTIZE" and not names:  # the float input's own quantize: the edge
            continue
        names.extend(tensors[i] for i in op["outputs"] if i >= 0 and tensors.get(i))
        if op["op_name"] == "CONV_2D":
            return names
    raise ConfigError("int8: the network has no convolution to keep in float")


def _head_nodes(ops: list[dict], tensors: dict[int, str]) -> list[str]:
    names: list[str] = []
    tainted: set[int] = set()
    for op in ops:
        outputs = [i for i in op["outputs"] if i >= 0]
        out_names = [tensors.get(i, "") for i in outputs]
        if (any(m in n for n in out_names for m in HEAD_NODE_MARKERS)
                or any(i in tainted for i in op["inputs"])):
            tainted.update(outputs)
            names.extend(n for n in out_names if n)
    return names


def _small(calibration: CalibrationSet) -> CalibrationSet:
    first = _first(calibration, 4)
    return CalibrationSet(calibration.identity + " (4)", len(first), lambda: iter(first))


def int8_key(detector: SSDDetector, calibration: CalibrationSet, options: Int8Options) -> str:
    """sha256 over the float model's key, the quantizer version, the options and the calibration identity."""
    digest = hashlib.sha256()
    digest.update(model_key(detector).encode())
    digest.update(f"\n{QUANTIZER_VERSION}\n{json.dumps(asdict(options), sort_keys=True)}\n".encode())
    digest.update(calibration.identity.encode())
    return digest.hexdigest()


def int8_cache_path(detector: SSDDetector, calibration: CalibrationSet, options: Int8Options,
                    cache_dir: str | Path | None = None) -> Path:
    folder = Path(cache_dir) if cache_dir is not None else cache_root() / "tflite"
    return folder / f"{int8_key(detector, calibration, options)}.int8.tflite"


def int8_model_bytes(detector: SSDDetector, policy: ResizePolicy | None = None,
                     options: Int8Options = Int8Options(), cache_dir: str | Path | None = None,
                     calibration: CalibrationSet | None = None) -> bytes:
    """The int8 model from the disk cache, quantizing (and caching, atomically) on a miss.

    ``calibration`` defaults to ``calibration_set(policy, options.calibration_images)``;
    ``policy`` defaults to the squashed square of the model's input size.
    """
    if calibration is None:
        policy = policy or ResizePolicy("square", detector.config.input_size)
        calibration = calibration_set(policy, options.calibration_images)
    path = int8_cache_path(detector, calibration, options, cache_dir)
    data = read_cached_model(path)
    if data is None:
        data = convert_to_int8(detector, calibration, options)
        write_cached_model(path, data)
    return data


def tensor_types(model: bytes) -> dict[str, int]:
    """How many tensors of each type the model's graph holds (``{'int8': 120, 'int32': 9, ...}``),
    constants included: what says whether a graph is all-int8."""
    from facessd_archive.evaluate.tflite_runtime import make_interpreter

    interpreter, _ = make_interpreter(model, 1)
    counts: dict[str, int] = {}
    for t in interpreter.get_tensor_details():
        name = np.dtype(t["dtype"]).name
        counts[name] = counts.get(name, 0) + 1
    return counts


def env_calibration_images() -> int:
    """``$FACESSD_INT8_CALIBRATION`` (images) or the default, read at call time."""
    value = os.environ.get("FACESSD_INT8_CALIBRATION")
    if not value:
        return DEFAULT_CALIBRATION_IMAGES
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"FACESSD_INT8_CALIBRATION must be a number of images, got {value!r}") from None


def export_int8_option(detector: SSDDetector, count: int = DEFAULT_CALIBRATION_IMAGES,
                       root: Path | None = None) -> Callable[[tf.lite.TFLiteConverter], None]:
    """A converter option for ``facessd export --format tflite --int8`` (``odapi/export.py``): int8
    weights and activations calibrated on ``count`` training images squashed to the stage's square
    and normalised as that model's input (``(2 / 255) * pixel - 1``). The exported graph ends in
    ``TFLite_Detection_PostProcess``, a float custom op, so float kernels stay allowed for it;
    everything before it is int8."""
    calibration = calibration_set(ResizePolicy("square", detector.config.input_size), count, root)

    def int8(converter: tf.lite.TFLiteConverter) -> None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([batch * (2.0 / 255.0) - 1.0] for batch in calibration.batches())
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]

    return int8
