"""The SSD graph under TFLite (XNNPACK, 2 threads): the same detections as ``TFRuntime``, faster on CPU.

Only the network (pixels -> box encodings and class logits) is converted; decoding and NMS
run afterwards through the very ``postprocess()`` the TF path uses, so the two runtimes can
differ only by the float rounding of the convolutions (XNNPACK vs oneDNN), about 1e-5.
TFLite's own ``TFLite_Detection_PostProcess`` op is not used: it keeps its own top-k and
class rules, and would have to be proven equal first.

Conversion freezes the Keras variables into constants (so batch norm folds into the
convolutions) with a dynamic batch dimension, and takes a few seconds at 300x300 depth 1.0.
The flatbuffer is cached on disk under ``$FACESSD_CACHE/tflite/`` (default
``~/.cache/facessd/tflite/``), keyed by a hash of the model config, every weight, the
TensorFlow version and ``CONVERTER_VERSION``; files are written atomically, and a cache
that cannot be written or read only costs a reconversion.

The interpreter comes from ``ai_edge_litert`` when that package is installed (where TFLite
lives from TF 2.20 on), else from ``tf.lite.Interpreter`` (deprecated but present in TF 2.21).
Both apply XNNPACK by default; ``xnnpack`` says whether it did.

``max_detections`` caps what NMS keeps per image below the model's own setting (the WIDER presets
keep up to 750 for crowds). Greedy NMS compares each candidate with every box kept so far, so with
the default stage's score floor of 0.01 it keeps about 730 boxes a photo, nearly all below 0.05, and
costs 2.5-4 ms a photo: a third of the int8 network's time. COCO's mAP and AR@100 read only each
image's 100 best detections, and NMS keeps boxes in descending score order, so a cap of 100 gives
the same top 100 (docs/runtimes.md, "Post-processing cost").
"""

from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.runtime import RawDetections
from facessd_archive.fileio import atomic_write_bytes
from facessd_archive.model.detector import SSDDetector
from facessd_archive.model.postprocess import postprocess
from facessd_archive.tf_logs import tflite_info_dropped

CONVERTER_VERSION = "facessd-tflite-v2"  # bump when the converted graph changes (signature, ops, options)
BATCH_MODES = ("parallel", "loop", "resize")


def cache_root() -> Path:
    """``$FACESSD_CACHE`` or ``~/.cache/facessd`` (read at call time, not import time)."""
    env = os.environ.get("FACESSD_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "facessd"


def model_key(detector: SSDDetector) -> str:
    """sha256 over the converter version, TF version, config JSON and every weight (name, shape, bytes)."""
    digest = hashlib.sha256()
    digest.update(f"{CONVERTER_VERSION}\n{tf.__version__}\n{detector.config.to_json()}\n".encode())
    for v in detector.network.weights:
        value = np.ascontiguousarray(np.asarray(v.numpy()))
        digest.update(f"{v.path}:{value.dtype}:{value.shape}\n".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def frozen_network(detector: SSDDetector):
    """The network as one concrete function with its variables frozen to constants (batch norm
    folds into the convolutions): input ``images`` [-1, S, S, 3] pixels 0-255, outputs box
    encodings [-1, A, 4] then class logits [-1, A, K + 1]. What both converters start from."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    s = detector.config.input_size
    network = detector.network

    @tf.function(input_signature=[tf.TensorSpec([None, s, s, 3], tf.float32, name="images")])
    def raw_outputs(images):
        out = network(images, training=False)
        return out["box_encodings"], out["class_logits"]

    return convert_variables_to_constants_v2(raw_outputs.get_concrete_function())


def convert_to_tflite(detector: SSDDetector) -> bytes:
    """The network (``frozen_network``) as a float32 TFLite flatbuffer."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen_network(detector)])
    return converter.convert()


def read_cached_model(path: Path) -> bytes | None:
    """The bytes of a cached flatbuffer, or None when it is absent, unreadable or not a TFLite model."""
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data[4:8] == b"TFL3" else None  # the flatbuffer file identifier


def write_cached_model(path: Path, data: bytes) -> None:
    """Write atomically; a cache that cannot be written is warned about, not fatal."""
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        warnings.warn(f"cannot cache the TFLite model at {path} ({e}); it will be converted again next time",
                      stacklevel=3)


def tflite_model_bytes(detector: SSDDetector, cache_dir: str | Path | None = None) -> bytes:
    """The converted model from the disk cache, converting (and caching) on a miss.

    ``cache_dir`` overrides ``cache_root() / 'tflite'``; an unwritable cache is warned about, not fatal.
    """
    folder = Path(cache_dir) if cache_dir is not None else cache_root() / "tflite"
    path = folder / f"{model_key(detector)}.tflite"
    data = read_cached_model(path)
    if data is None:
        data = convert_to_tflite(detector)
        write_cached_model(path, data)
    return data


def _interpreter_class() -> tuple[Any, Any, str]:
    """(Interpreter class, OpResolverType, backend name): ai_edge_litert first, then tf.lite.

    Neither there (a TensorFlow build without TFLite): ``ConfigError`` in one line."""
    try:
        from ai_edge_litert import interpreter as litert

        return litert.Interpreter, litert.OpResolverType, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tensorflow.lite.python.interpreter import Interpreter, OpResolverType
    except ImportError as e:
        raise ConfigError(f"the TFLite runtimes need a TFLite interpreter, and none is installed ({e}): "
                          f"pip install ai-edge-litert, or use --runtime tf") from e
    return Interpreter, OpResolverType, "tf.lite"


def make_interpreter(model: bytes, num_threads: int = 2) -> tuple[Any, str]:
    """An interpreter for ``model`` with the default delegates (XNNPACK on CPU) and ``num_threads``."""
    interpreter_cls, resolver, backend = _interpreter_class()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated.*")
        interpreter = interpreter_cls(model_content=model, num_threads=num_threads,
                                      experimental_op_resolver_type=resolver.AUTO)
    return interpreter, backend


class TFLiteRuntime:
    """The SSD network under TFLite + the shared decode/NMS: a ``Runtime`` (see ``runtime.py``).

    ``batch_mode``: ``'parallel'`` (default) splits a batch over ``num_threads`` single-threaded
    interpreters run side by side (images are independent, so this scales better than XNNPACK's
    intra-op threads on small convolutions: 188 vs 163 img/s at 300x300 on 2 cores), while a
    batch of one still gets one interpreter with all threads, for latency; ``'loop'`` runs a batch
    one image at a time through that multi-threaded interpreter; ``'resize'`` resizes the
    interpreter's input to the batch. benchmarks/eval_throughput.py measures all three.

    ``max_detections`` (also settable later): NMS keeps at most this many boxes per image, default
    the model's own; a smaller cap keeps the same best boxes and makes NMS cheaper (module docstring).
    """

    name = "tflite"

    def __init__(self, detector: SSDDetector, num_threads: int = 2, batch_mode: str = "parallel",
                 cache_dir: str | Path | None = None, model: bytes | None = None, name: str = "tflite",
                 max_detections: int | None = None):
        if batch_mode not in BATCH_MODES:
            raise ConfigError(f"TFLiteRuntime: batch_mode must be one of {BATCH_MODES}, got {batch_mode!r}")
        if num_threads < 1:
            raise ConfigError(f"TFLiteRuntime: num_threads must be >= 1, got {num_threads}")
        _interpreter_class()  # no TFLite: refuse before converting anything
        self.name = name
        self.detector = detector
        self.config = detector.config
        self.input_size = detector.config.input_size
        self.batch_mode = batch_mode
        self.num_threads = num_threads
        if model is not None:  # a model converted elsewhere (the int8 one, quantize.py): run it as given
            self._interpreter, self.backend = make_interpreter(model, num_threads)
        else:
            model = tflite_model_bytes(detector, cache_dir)
            try:
                self._interpreter, self.backend = make_interpreter(model, num_threads)
            except (ValueError, RuntimeError):  # a cached file that is not a valid model: convert afresh
                model = convert_to_tflite(detector)
                self._interpreter, self.backend = make_interpreter(model, num_threads)
        self.model_size_bytes = len(model)
        self._model = model
        self._workers: list[Any] = []  # single-threaded interpreters for 'parallel', made on first use
        self._pool: ThreadPoolExecutor | None = None
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._boxes_out, self._logits_out = self._output_indices()
        self._batch = 0
        with tflite_info_dropped():  # the XNNPACK delegate announces itself on the first allocation
            self._resize(1)
        self.max_detections = (max_detections if max_detections is not None
                               else detector.config.postprocess.max_detections)

    @property
    def max_detections(self) -> int:
        """At most this many detections per image leave NMS (default: the model's ``postprocess.max_detections``)."""
        return self._max_detections

    @max_detections.setter
    def max_detections(self, value: int) -> None:
        if value < 1:
            raise ConfigError(f"TFLiteRuntime: max_detections must be >= 1, got {value}")
        self._max_detections = int(value)
        detector = self.detector
        anchors = detector.anchors
        config = detector.config.with_max_detections(int(value))
        k = config.num_classes + 1
        a = detector.num_anchors

        @tf.function(input_signature=[tf.TensorSpec([None, a, 4], tf.float32),
                                      tf.TensorSpec([None, a, k], tf.float32)])
        def _decode_nms(box_encodings, class_logits):
            d = postprocess(box_encodings, class_logits, anchors, config)
            return d.boxes, d.scores, d.num_detections

        # The traced graph itself: calling it skips tf.function's per-call dispatch (about 0.3 ms of
        # the 1 ms decode + NMS takes a photo at a cap of 100), with the same ops and outputs.
        self._decode_nms = _decode_nms.get_concrete_function()

    def _output_indices(self) -> tuple[int, int]:
        """The frozen function's outputs are ``Identity`` (boxes) and ``Identity_1`` (logits)."""
        by_name = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        if set(by_name) != {"Identity", "Identity_1"}:
            raise ConfigError(f"TFLiteRuntime: unexpected outputs {sorted(by_name)} in the converted model")
        return by_name["Identity"], by_name["Identity_1"]

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            s = self.input_size
            self._interpreter.resize_tensor_input(self._input, [batch, s, s, 3])
            self._interpreter.allocate_tensors()
            self._batch = batch

    @property
    def xnnpack(self) -> bool:
        """True when the XNNPACK delegate took over the graph (a ``DELEGATE`` node in the plan)."""
        try:
            return any(d["op_name"] == "DELEGATE" for d in self._interpreter._get_ops_details())
        except (AttributeError, KeyError, ValueError):
            return False

    def raw_outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Box encodings [B, A, 4] and class logits [B, A, K + 1] for resized images [B, S, S, 3]."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        s = self.input_size
        if images.ndim != 4 or images.shape[1:] != (s, s, 3) or len(images) == 0:
            raise ValueError(f"TFLiteRuntime: expected images [B >= 1, {s}, {s}, 3], got {list(images.shape)}")
        it = self._interpreter
        if self.batch_mode == "parallel" and len(images) > 1 and self.num_threads > 1:
            return self._parallel_outputs(images)
        if self.batch_mode == "resize":
            self._resize(len(images))
            it.set_tensor(self._input, images)
            it.invoke()
            return it.get_tensor(self._boxes_out), it.get_tensor(self._logits_out)
        self._resize(1)
        boxes, logits = [], []
        for i in range(len(images)):
            it.set_tensor(self._input, images[i:i + 1])
            it.invoke()
            boxes.append(it.get_tensor(self._boxes_out))  # get_tensor copies
            logits.append(it.get_tensor(self._logits_out))
        return np.concatenate(boxes), np.concatenate(logits)

    def _parallel_outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self._workers:
            self._workers = [make_interpreter(self._model, 1)[0] for _ in range(self.num_threads)]
            with tflite_info_dropped():
                for worker in self._workers:
                    worker.allocate_tensors()
            self._pool = ThreadPoolExecutor(self.num_threads, thread_name_prefix="tflite")
        n = len(self._workers)

        def run_share(k: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
            worker, out = self._workers[k], []
            for i in range(k, len(images), n):  # invoke() releases the GIL: workers run in parallel
                worker.set_tensor(self._input, images[i:i + 1])
                worker.invoke()
                out.append((i, worker.get_tensor(self._boxes_out), worker.get_tensor(self._logits_out)))
            return out

        results = sorted((r for share in self._pool.map(run_share, range(n)) for r in share), key=lambda r: r[0])
        return np.concatenate([r[1] for r in results]), np.concatenate([r[2] for r in results])

    def __call__(self, images: np.ndarray) -> RawDetections:
        box_encodings, class_logits = self.raw_outputs(images)
        boxes, scores, num = self._decode_nms(tf.constant(box_encodings), tf.constant(class_logits))
        return RawDetections(boxes.numpy(), scores.numpy(), num.numpy())
