"""A stage out, in the forms the Object Detection API's users load: a SavedModel and a TFLite model.

**SavedModel** (``DIR/saved_model/``): signature ``serving_default`` takes ``input_tensor``, uint8
``[1, H, W, 3]`` of any size, and returns what an exported OD API model returns:
``detection_boxes`` [1, N, 4] normalised ``[ymin, xmin, ymax, xmax]`` of the input image,
``detection_scores`` [1, N], ``detection_classes`` [1, N] float32 1-based label ids (label map
ids, background being 0), ``num_detections`` [1] float32; rows past ``num_detections`` are zero.
Inside: the same bilinear resize to the stage's square, network, sigmoid, background column
dropped, decode and NMS as ``facessd detect`` (``model/postprocess.py``), so the boxes are the
stage's own.

**TFLite** (``DIR/model.tflite``): input ``normalized_input_image_tensor`` float32
``[1, S, S, 3]`` holding ``(2 / 255) * pixel - 1`` (the image squashed to the stage's square by
the app), and the four outputs of the OD API's ``TFLite_Detection_PostProcess`` op, in its order:
boxes [1, N, 4] (``ymin, xmin, ymax, xmax``, normalised, not clipped to [0, 1], as the op gives
them), classes [1, N] (0-based), scores [1, N], count [1]. The op gets sigmoid scores with the
background column first and anchors as (ycenter, xcenter, h, w), as the OD API's export feeds it.
``float16=True`` stores the weights as float16 (half the bytes, computed in float32). Converter
options are functions taking the converter, so more (``--int8``) plug in without changing this.

Models that keep the aspect ratio (``keep_aspect_ratio`` resizer) run at each image's own padded
shape, with anchors per shape; neither export form carries that yet, and both refuse them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from facessd_archive.errors import ConfigError
from facessd_archive.fileio import atomic_write_bytes
from facessd_archive.model.detector import SSDDetector
from facessd_archive.model.postprocess import postprocess

SAVED_MODEL_DIR = "saved_model"
TFLITE_FILE = "model.tflite"
LABEL_MAP_FILE = "label_map.pbtxt"
LABELS_FILE = "labels.txt"
POSTPROCESS_OP = "TFLite_Detection_PostProcess"

ConverterOption = Callable[[tf.lite.TFLiteConverter], None]


def float16_weights(converter: tf.lite.TFLiteConverter) -> None:
    """Weights stored as float16 (the TFLite converter's float16 post-training quantization)."""
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _check_exportable(detector: SSDDetector) -> None:
    if detector.config.resizer.kind != "fixed_shape":
        raise ConfigError(f"export: the model keeps the aspect ratio (resizer {detector.config.resizer.kind!r}); "
                          f"only fixed_shape (square) models export to SavedModel and TFLite for now")
    if detector.dynamic:
        raise ConfigError("export: build the detector for its square input (not input_shape=(None, None))")


class _Serving(tf.Module):
    """The SavedModel's one signature: uint8 pixels of any size -> the OD API's detection outputs."""

    def __init__(self, detector: SSDDetector):
        super().__init__()
        self.network = detector.network
        self.anchors = tf.constant(detector.anchors_np)
        self.config = detector.config
        size = detector.config.input_size

        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")])
        def serve(input_tensor):
            images = tf.image.resize(tf.cast(input_tensor, tf.float32), [size, size])  # bilinear, as detect
            raw = self.network(images, training=False)
            det = postprocess(raw["box_encodings"], raw["class_logits"], self.anchors, self.config)
            return {"detection_boxes": det.boxes, "detection_scores": det.scores,
                    "detection_classes": tf.cast(det.classes + 1, tf.float32),  # label-map ids, 1-based
                    "num_detections": tf.cast(det.num_detections, tf.float32)}

        self.serve = serve


def label_map_text(class_names: Sequence[str]) -> str:
    """The OD API's label map (``item { id: 1 name: 'face' }``), ids 1-based."""
    return "".join(f"item {{\n  id: {i}\n  name: '{name}'\n}}\n" for i, name in enumerate(class_names, start=1))


def export_saved_model(detector: SSDDetector, out_dir: str | Path) -> Path:
    """Write ``out_dir/saved_model`` (replaced whole, never half-written) and ``out_dir/label_map.pbtxt``."""
    _check_exportable(detector)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / SAVED_MODEL_DIR
    tmp = Path(tempfile.mkdtemp(prefix=f".{SAVED_MODEL_DIR}.", dir=out_dir))
    try:
        module = _Serving(detector)
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_bytes(out_dir / LABEL_MAP_FILE, label_map_text(detector.config.class_names).encode())
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


def tflite_model(detector: SSDDetector, options: Sequence[ConverterOption] = ()) -> bytes:
    """The TFLite flatbuffer with ``TFLite_Detection_PostProcess`` (see the module docstring)."""
    _check_exportable(detector)
    with tempfile.TemporaryDirectory(prefix="facessd-tflite-") as tmp:
        module = _Lite(detector)
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.allow_custom_ops = True
        for option in options:
            option(converter)
        return _outputs_in_op_order(converter.convert())


def _outputs_in_op_order(data: bytes) -> bytes:
    """Make the model's outputs the op's four, in the op's order (boxes, classes, scores, count).

    The converter lists a signature's outputs in an order of its own; apps written for the OD
    API's TFLite models read outputs by position, so the order is set here (TF's own flatbuffer tools).
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    codes = [c.customCode.decode() if c.customCode else "" for c in model.operatorCodes]
    graph = model.subgraphs[0]
    ops = [op for op in graph.operators if codes[op.opcodeIndex] == POSTPROCESS_OP]
    if len(ops) != 1:
        raise ConfigError(f"export: the TFLite converter did not produce one {POSTPROCESS_OP} op "
                          f"(found {len(ops)}); this TensorFlow version may not support it")
    graph.outputs = np.asarray(ops[0].outputs, dtype=np.int32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def export_tflite(detector: SSDDetector, out_dir: str | Path, options: Sequence[ConverterOption] = ()) -> Path:
    """Write ``out_dir/model.tflite`` (atomically) and ``out_dir/labels.txt`` (one class name a line)."""
    data = tflite_model(detector, options)
    out_dir = Path(out_dir)
    path = out_dir / TFLITE_FILE
    atomic_write_bytes(path, data)
    atomic_write_bytes(out_dir / LABELS_FILE, "".join(f"{n}\n" for n in detector.config.class_names).encode())
    return path


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
