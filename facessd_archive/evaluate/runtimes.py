"""Choosing a runtime by name: the one module that knows every implementation of ``Runtime``."""

from __future__ import annotations

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.resizing import ResizePolicy
from facessd_archive.evaluate.runtime import Runtime
from facessd_archive.evaluate.tf_runtime import TFRuntime
from facessd_archive.evaluate.tflite_runtime import TFLiteRuntime, _interpreter_class
from facessd_archive.model.detector import SSDDetector

RUNTIME_NAMES = ("tf", "tflite", "tflite-int8")


def make_runtime(detector: SSDDetector, name: str = "tf", policy: ResizePolicy | None = None,
                 max_detections: int | None = None) -> Runtime:
    """``'tf'`` -> ``TFRuntime``; ``'tflite'`` -> ``TFLiteRuntime`` (XNNPACK, float model cached on disk);
    ``'tflite-int8'`` -> the same runtime on the int8 model (``quantize.py``: int8 but for a float stem),
    calibrated on images prepared by ``policy`` (default: the squashed square of the model's input size).

    ``max_detections``: the TFLite runtimes keep at most this many detections per image (default: the
    model's own ``postprocess.max_detections``); ``tf`` always runs the model's own post-processing."""
    if name == "tf":
        if max_detections is not None:
            raise ConfigError("max_detections applies to the TFLite runtimes; --runtime tf runs the model's own NMS")
        return TFRuntime(detector)
    if name == "tflite":
        return TFLiteRuntime(detector, max_detections=max_detections)
    if name == "tflite-int8":
        from facessd_archive.evaluate.quantize import Int8Options, env_calibration_images, int8_model_bytes

        _interpreter_class()  # no TFLite: refuse in one line before calibrating anything
        options = Int8Options(calibration_images=env_calibration_images())
        return TFLiteRuntime(detector, model=int8_model_bytes(detector, policy, options), name=name,
                             max_detections=max_detections)
    raise ConfigError(f"unknown runtime {name!r}: choose one of {', '.join(RUNTIME_NAMES)}")
