"""A stage out, in the forms the Object Detection API's users load: a SavedModel and a TFLite model.

**SavedModel** (``DIR/saved_model/``): signature ``serving_default`` takes ``input_tensor``, uint8
``[1, H, W, 3]`` of any size, and returns what an exported OD API model returns:
``detection_boxes`` [1, N, 4] normalised ``[ymin, xmin, ymax, xmax]`` of the input image,
``detection_scores`` [1, N], ``detection_classes`` [1, N] float32 1-based label ids (label map
ids, background being 0), ``num_detections`` [1] float32; rows past ``num_detections`` are zero.
Inside: the same bilinear resize to the stage's square (keep-aspect stages: below), network,
sigmoid, background column dropped, decode and NMS as ``facessd detect`` (``model/postprocess.py``), so the boxes are the
stage's own.

**TFLite** (``DIR/model.tflite``): input ``normalized_input_image_tensor`` float32
``[1, S, S, 3]`` holding ``(2 / 255) * pixel - 1`` (the image squashed to the stage's square by
the app; keep-aspect stages: below), and the four outputs of the OD API's ``TFLite_Detection_PostProcess`` op, in its order:
boxes [1, N, 4] (``ymin, xmin, ymax, xmax``, normalised, not clipped to [0, 1], as the op gives
them), classes [1, N] (0-based), scores [1, N], count [1]. The op gets sigmoid scores with the
background column first and anchors as (ycenter, xcenter, h, w), as the OD API's export feeds it.
``float16=True`` stores the weights as float16 (half the bytes, computed in float32). Converter
options are functions taking the converter, so more (``--int8``) plug in without changing this.

**How many detections** (N above): the stage's ``postprocess.max_detections`` unless
``max_detections`` caps it (``--max-detections``). The WIDER presets keep 750 for crowds, and
``TFLite_Detection_PostProcess`` pays for every box it keeps (the default stage's int8 export: 14.0
ms a photo at 750, 8.5 at 100; docs/commands-odapi.md); the OD API's mobile exports keep 100 or 10.
NMS keeps boxes best first, so a cap keeps the same best boxes.

**Stages that keep the aspect ratio** (``keep_aspect_ratio`` resizer, the ``wider`` presets) export
as the OD API's ``keep_aspect_ratio_resizer`` with ``pad_to_max_dimension``: one fixed square.
``max_side`` N (default: the stage's ``max_dimension``, else ``DEFAULT_MAX_SIDE``) gives the policy
``export_policy``: the image scaled so its longer side is at most N (smaller images are not
enlarged), zero-padded (pixel 0) at the bottom and right to S x S (S = N rounded up to a multiple
of 32), the network run with the anchors of that one S x S grid. This is ``evaluate/resizing.py``'s
``fixed_square`` policy, what the TFLite runtimes run at evaluation. The SavedModel does the resize
and padding itself and divides the padding out, so its boxes are normalised to the image it was
given, as an exported OD API model's. The TFLite model takes the padded S x S square (the app
resizes and pads, as for the OD API's TFLite SSD exports), so its boxes are normalised to that
square: ``y_pixels = y * S * h / rh``, ``x_pixels = x * S * w / rw`` for an ``h x w`` image resized to
``rh x rw`` (``S / scale``). ``export.json`` beside each export (and, for TFLite, a ``facessd_export``
metadata entry in the flatbuffer) records S, N and the rule.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.resizing import ResizePolicy, fixed_square, resize_policy
from facessd_archive.fileio import atomic_write_bytes
from facessd_archive.model.detector import SSDDetector
from facessd_archive.model.postprocess import postprocess

SAVED_MODEL_DIR = "saved_model"
TFLITE_FILE = "model.tflite"
LABEL_MAP_FILE = "label_map.pbtxt"
LABELS_FILE = "labels.txt"
INFO_FILE = "export.json"
INFO_METADATA = "facessd_export"  # the TFLite flatbuffer's metadata entry holding export.json
POSTPROCESS_OP = "TFLite_Detection_PostProcess"
DEFAULT_MAX_SIDE = 640  # keep-aspect stages whose resizer sets no max_dimension

ConverterOption = Callable[[tf.lite.TFLiteConverter], None]


def float16_weights(converter: tf.lite.TFLiteConverter) -> None:
    """Weights stored as float16 (the TFLite converter's float16 post-training quantization)."""
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def export_policy(config, max_side: int | None = None) -> ResizePolicy:
    """How an exported model's input is made: a ``fixed_shape`` stage's squashed square (``max_side``
    refused), or, for a ``keep_aspect_ratio`` stage, the longer side scaled to at most ``max_side``
    (default: the resizer's ``max_dimension``, else ``DEFAULT_MAX_SIDE``) and zero-padded to one
    square (``resizing.fixed_square``)."""
    if config.resizer.kind != "keep_aspect_ratio":
        if max_side is not None:
            s = config.input_size
            raise ConfigError(f"export: --max-side applies to stages that keep the aspect ratio; this stage "
                              f"squashes every image to {s}x{s} (resizer {config.resizer.kind!r})")
        return ResizePolicy("square", config.input_size)
    side = max_side if max_side is not None else (config.resizer.max_dimension or DEFAULT_MAX_SIDE)
    return fixed_square(resize_policy(config, max_side=side), "export")


def with_max_detections(detector: SSDDetector, max_detections: int | None) -> SSDDetector:
    """``detector`` with NMS keeping at most ``max_detections`` boxes (None: the stage's own); the
    same network, only the post-processing setting differs."""
    if max_detections is None or max_detections == detector.config.postprocess.max_detections:
        return detector
    if max_detections < 1:
        raise ConfigError(f"export: --max-detections must be >= 1, got {max_detections}")
    return SSDDetector(detector.config.with_max_detections(max_detections), network=detector.network)


def _square_detector(detector: SSDDetector, policy: ResizePolicy) -> SSDDetector:
    """``detector`` itself for a squashed square; for a padded square, the same weights built at
    ``square_side`` x ``square_side`` (the network is fully convolutional), anchors of that grid."""
    if policy.kind == "square":
        if detector.dynamic:
            raise ConfigError("export: build the detector for its square input (not input_shape=(None, None))")
        return detector
    side = policy.square_side
    shape = tuple(detector.network.inputs[0].shape[1:3])
    if shape == (side, side) and detector.config.input_size == side:
        return detector
    square = SSDDetector(dataclasses.replace(detector.config, input_size=side))
    source, target = detector.network.weights, square.network.weights
    if [tuple(v.shape) for v in source] != [tuple(v.shape) for v in target]:
        raise ConfigError(f"export: the network built at {side}x{side} does not have the stage's weights")
    for src, dst in zip(source, target):
        dst.assign(src)
    return square


def export_info(policy: ResizePolicy, fmt: str, name: str | None = None, max_detections: int | None = None) -> dict:
    """What ``export.json`` records: the input, the resize rule, what the boxes are normalised to and
    how many detections the model returns at most."""
    info: dict = {"format": fmt}
    if name is not None:
        info["stage"] = name
    if max_detections is not None:
        info["max_detections"] = int(max_detections)
    if policy.kind == "square":
        s = policy.size
        info.update(resize=f"squashed to {s}x{s} (bilinear)", input_side=s,
                    boxes="normalised [ymin, xmin, ymax, xmax] of the image (the squashed square maps onto it)")
        return info
    s, n = policy.square_side, policy.max_side
    info.update(resize=f"{policy.describe()}: scale = min(1, {n} / max(h, w)), rh = round(h * scale), "
                       f"rw = round(w * scale), bilinear, then zero pixels (value 0) at the bottom and right",
                max_side=n, input_side=s)
    if fmt == "saved_model":
        info["boxes"] = ("normalised [ymin, xmin, ymax, xmax] of the image given (resize and padding are "
                         "inside the signature, the padding divided out)")
    else:
        info["boxes"] = (f"normalised [ymin, xmin, ymax, xmax] of the padded {s}x{s} input: in the image's "
                         f"pixels y * {s} * h / rh, x * {s} * w / rw (= {s} / scale), then clip to the image")
    return info


def _write_info(out_dir: Path, info: dict) -> None:
    atomic_write_bytes(out_dir / INFO_FILE, (json.dumps(info, indent=2) + "\n").encode())


def padded_input_shape(height: tf.Tensor, width: tf.Tensor, policy: ResizePolicy) -> tuple[tf.Tensor, tf.Tensor]:
    """``ResizePolicy.input_shape``'s resized (height, width) in graph ops, for a padded-square policy:
    the same float64 scale and round-half-to-even as Python's ``round``, so the sizes are identical."""
    h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    longer = tf.maximum(h, w)
    scale = tf.where(longer > policy.max_side, tf.constant(float(policy.max_side), tf.float64) / longer,
                     tf.constant(1.0, tf.float64))
    rh = tf.maximum(tf.cast(tf.round(h * scale), tf.int32), 1)
    rw = tf.maximum(tf.cast(tf.round(w * scale), tf.int32), 1)
    return rh, rw


class _Serving(tf.Module):
    """The SavedModel's one signature: uint8 pixels of any size -> the OD API's detection outputs."""

    def __init__(self, detector: SSDDetector, policy: ResizePolicy):
        super().__init__()
        self.network = detector.network
        self.anchors = tf.constant(detector.anchors_np)
        self.config = detector.config
        size = detector.config.input_size

        def outputs(images, to_image):
            raw = self.network(images, training=False)
            det = postprocess(raw["box_encodings"], raw["class_logits"], self.anchors, self.config)
            return {"detection_boxes": to_image(det.boxes), "detection_scores": det.scores,
                    "detection_classes": tf.cast(det.classes + 1, tf.float32),  # label-map ids, 1-based
                    "num_detections": tf.cast(det.num_detections, tf.float32)}

        if policy.kind == "square":
            @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")])
            def serve(input_tensor):
                images = tf.image.resize(tf.cast(input_tensor, tf.float32), [size, size])  # bilinear, as detect
                return outputs(images, lambda boxes: boxes)
        else:
            @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")])
            def serve(input_tensor):
                # resizing.prepare in graph ops: scale to fit, bilinear (skipped at the same size), pad
                pixels = tf.cast(input_tensor, tf.float32)
                h, w = tf.shape(input_tensor)[1], tf.shape(input_tensor)[2]
                rh, rw = padded_input_shape(h, w, policy)
                resized = tf.cond(tf.logical_and(tf.equal(rh, h), tf.equal(rw, w)), lambda: pixels,
                                  lambda: tf.image.resize(pixels, tf.stack([rh, rw])))
                images = tf.image.pad_to_bounding_box(resized, 0, 0, size, size)
                # normalised to the padded square -> to the image (resizing.to_pixels, over h and w)
                factor = tf.cast(tf.stack([size / rh, size / rw, size / rh, size / rw]), tf.float32)
                return outputs(images, lambda boxes: tf.clip_by_value(boxes * factor, 0.0, 1.0))

        self.serve = serve


def label_map_text(class_names: Sequence[str]) -> str:
    """The OD API's label map (``item { id: 1 name: 'face' }``), ids 1-based."""
    return "".join(f"item {{\n  id: {i}\n  name: '{name}'\n}}\n" for i, name in enumerate(class_names, start=1))


def export_saved_model(detector: SSDDetector, out_dir: str | Path, max_side: int | None = None,
                       name: str | None = None, max_detections: int | None = None) -> Path:
    """Write ``out_dir/saved_model`` (replaced whole, never half-written), ``out_dir/label_map.pbtxt``
    and ``out_dir/export.json``; ``max_side`` for keep-aspect stages only (``export_policy``);
    ``max_detections`` caps NMS below the stage's own (``with_max_detections``)."""
    detector = with_max_detections(detector, max_detections)
    policy = export_policy(detector.config, max_side)
    detector = _square_detector(detector, policy)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / SAVED_MODEL_DIR
    tmp = Path(tempfile.mkdtemp(prefix=f".{SAVED_MODEL_DIR}.", dir=out_dir))
    try:
        module = _Serving(detector, policy)
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide the model from other users
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_bytes(out_dir / LABEL_MAP_FILE, label_map_text(detector.config.class_names).encode())
    _write_info(out_dir, export_info(policy, "saved_model", name, detector.config.postprocess.max_detections))
    return target


def _implements(detector: SSDDetector) -> str:
    """The ``experimental_implements`` signature the TFLite converter turns into the custom op."""
    c = detector.config
    pp, (y, x, h, w) = c.postprocess, c.box_coder.as_tuple()
    attrs = {"max_detections": ("i", pp.max_detections), "max_classes_per_detection": ("i", 1),
             "detections_per_class": ("i", pp.max_detections),
             # one class: fast NMS is the same NMS; several: per-class NMS, as facessd's own
             "use_regular_nms": ("b", "true" if c.num_classes > 1 else "false"),
             "nms_score_threshold": ("f", pp.score_threshold), "nms_iou_threshold": ("f", pp.iou_threshold),
             "y_scale": ("f", y), "x_scale": ("f", x), "h_scale": ("f", h), "w_scale": ("f", w),
             "num_classes": ("i", c.num_classes)}
    parts = [f'name: "{POSTPROCESS_OP}"']
    for key, (kind, value) in attrs.items():
        text = f"{value:.9g}" if kind == "f" else str(value)
        parts.append(f'attr {{ key: "{key}" value {{ {kind}: {text} }} }}')
    return " ".join(parts)


class _Lite(tf.Module):
    """Frozen network + the post-processing op's stand-in, saved and converted as the OD API does."""

    def __init__(self, detector: SSDDetector):
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        super().__init__()
        network, size = detector.network, detector.config.input_size

        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
        def raw_outputs(pixels):
            raw = network(pixels, training=False)
            return raw["box_encodings"], tf.sigmoid(raw["class_logits"])  # background first: the op skips it

        # Constants, not variables: batch norm folds into the convolutions and nothing is left to
        # read at run time (the converter otherwise keeps resource variables the interpreter lacks).
        frozen = convert_variables_to_constants_v2(raw_outputs.get_concrete_function())
        a = detector.anchors_np.astype(np.float32)  # yxyx -> (ycenter, xcenter, h, w), the op's anchor form
        anchors = tf.constant(np.stack([(a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2, a[:, 2] - a[:, 0],
                                        a[:, 3] - a[:, 1]], axis=1))

        @tf.function(experimental_implements=_implements(detector))
        def detection_postprocess(box_encodings, class_predictions, anchors):
            # Replaced by the TFLite op at conversion; the body only gives the outputs their types.
            return (tf.zeros([1, 1, 4], tf.float32, name="detection_boxes"),
                    tf.zeros([1, 1], tf.float32, name="detection_classes"),
                    tf.zeros([1, 1], tf.float32, name="detection_scores"),
                    tf.zeros([1], tf.float32, name="num_detections"))

        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32,
                                                    name="normalized_input_image_tensor")])
        def serve(normalized_input_image_tensor):
            pixels = (normalized_input_image_tensor + 1.0) * 127.5  # the network applies (2/255)x - 1 itself
            box_encodings, scores = frozen(pixels)
            return detection_postprocess(box_encodings, scores, anchors)

        self.serve = serve


def tflite_model(detector: SSDDetector, options: Sequence[ConverterOption] = (), max_side: int | None = None,
                 info: dict | None = None) -> bytes:
    """The TFLite flatbuffer with ``TFLite_Detection_PostProcess`` (see the module docstring); ``info``
    (``export_info``) is stored as the ``facessd_export`` metadata entry."""
    policy = export_policy(detector.config, max_side)
    detector = _square_detector(detector, policy)
    with tempfile.TemporaryDirectory(prefix="facessd-tflite-") as tmp:
        module = _Lite(detector)
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.allow_custom_ops = True
        for option in options:
            option(converter)
        return _outputs_in_op_order(converter.convert(), info)


def _outputs_in_op_order(data: bytes, info: dict | None = None) -> bytes:
    """Make the model's outputs the op's four, in the op's order (boxes, classes, scores, count),
    and add ``info`` as a metadata entry (``INFO_METADATA``, JSON) when given.

    The converter lists a signature's outputs in an order of its own; apps written for the OD
    API's TFLite models read outputs by position, so the order is set here (TF's own flatbuffer tools).
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    codes = [c.customCode.decode() if c.customCode else "" for c in model.operatorCodes]
    graph = model.subgraphs[0]
    ops = [op for op in graph.operators if codes[op.opcodeIndex] == POSTPROCESS_OP]
    if len(ops) != 1:
        raise ConfigError(f"export: the TFLite converter did not produce one {POSTPROCESS_OP} op "
                          f"(found {len(ops)}); this TensorFlow version may not support it")
    graph.outputs = np.asarray(ops[0].outputs, dtype=np.int32)
    if info is not None:
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(json.dumps(info, sort_keys=True).encode(), dtype=np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = INFO_METADATA, len(model.buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def tflite_export_info(data: bytes) -> dict | None:
    """The ``facessd_export`` metadata entry of an exported TFLite model, or None."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    for entry in model.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == INFO_METADATA:
            return json.loads(bytes(model.buffers[entry.buffer].data))
    return None


def export_tflite(detector: SSDDetector, out_dir: str | Path, options: Sequence[ConverterOption] = (),
                  max_side: int | None = None, name: str | None = None, max_detections: int | None = None) -> Path:
    """Write ``out_dir/model.tflite`` (atomically), ``out_dir/labels.txt`` (one class name a line)
    and ``out_dir/export.json``; ``max_side`` for keep-aspect stages only (``export_policy``);
    ``max_detections`` caps the post-processing op below the stage's own (``with_max_detections``)."""
    detector = with_max_detections(detector, max_detections)
    info = export_info(export_policy(detector.config, max_side), "tflite", name,
                       detector.config.postprocess.max_detections)
    data = tflite_model(detector, options, max_side, info)
    out_dir = Path(out_dir)
    path = out_dir / TFLITE_FILE
    atomic_write_bytes(path, data)
    atomic_write_bytes(out_dir / LABELS_FILE, "".join(f"{n}\n" for n in detector.config.class_names).encode())
    _write_info(out_dir, info)
    return path


def int8_option(detector: SSDDetector, max_side: int | None = None, count: int | None = None) -> ConverterOption:
    """The ``--int8`` converter option: ``quantize.export_int8_option`` for a squashed square; for a
    keep-aspect stage the same settings calibrated on training images prepared as the exported
    model's input (scaled to fit, zero-padded to the square; ``quantize.calibration_set``)."""
    from facessd_archive.evaluate import quantize

    policy = export_policy(detector.config, max_side)
    if policy.kind == "square":
        return quantize.export_int8_option(detector) if count is None else \
            quantize.export_int8_option(detector, count=count)
    calibration = quantize.calibration_set(policy, count or quantize.DEFAULT_CALIBRATION_IMAGES)

    def int8(converter: tf.lite.TFLiteConverter) -> None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([batch * (2.0 / 255.0) - 1.0] for batch in calibration.batches())
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]

    return int8


def load_for_export(spec: str, archive_root: str | Path | None = None) -> tuple[SSDDetector, str]:
    """A stage id (pulled if its weights are on the Hub) or a model folder -> (detector, label).

    As ``evaluate`` resolves a detector: a stage id of the archive wins over a folder of the same
    name (inside a checkout every stage id is also a relative path).
    """
    from facessd_archive.archive import open_archive, stage_weights_folder
    from facessd_archive.archive.paths import check_stage_id
    from facessd_archive.errors import UnsafePathError
    from facessd_archive.model.checkpoint import load_detector

    try:
        check_stage_id(spec)
        is_id = True
    except UnsafePathError:
        is_id = False
    root = Path(archive_root) if archive_root is not None else None
    if Path(spec).exists() and not (is_id and open_archive(root).exists(spec)):
        return load_detector(Path(spec)), spec
    archive = open_archive(root)
    return load_detector(stage_weights_folder(spec, archive=archive)), spec
