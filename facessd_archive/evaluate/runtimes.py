"""Choosing a runtime by name: the one module that knows every implementation of ``Runtime``."""

from __future__ import annotations

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.resizing import ResizePolicy
from facessd_archive.evaluate.runtime import Runtime
from facessd_archive.evaluate.tf_runtime import TFRuntime
from facessd_archive.evaluate.tflite_runtime import TFLiteRuntime, _interpreter_class
from facessd_archive.model.detector import SSDDetector

RUNTIME_NAMES = ("tf", "tflite", "tflite-int8")


def make_runtime(detector: SSDDetector, name: str = "tf", policy: ResizePolicy | None = None) -> Runtime:
    """``'tf'`` -> ``TFRuntime``; ``'tflite'`` -> ``TFLiteRuntime`` (XNNPACK, float model cached on disk);
    ``'tflite-int8'`` -> the same runtime on the int8 model (``quantize.py``), calibrated on images
    prepared by ``policy`` (default: the squashed square of the model's input size)."""
    if name == "tf":
        return TFRuntime(detector)
    if name == "tflite":
        return TFLiteRuntime(detector)
    if name == "tflite-int8":
        from facessd_archive.evaluate.quantize import Int8Options, env_calibration_images, int8_model_bytes

        _interpreter_class()  # no TFLite: refuse in one line before calibrating anything
        options = Int8Options(calibration_images=env_calibration_images())
        return TFLiteRuntime(detector, model=int8_model_bytes(detector, policy, options), name=name)
    raise ConfigError(f"unknown runtime {name!r}: choose one of {', '.join(RUNTIME_NAMES)}")
