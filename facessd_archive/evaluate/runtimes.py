"""Choosing a runtime by name: the one module that knows every implementation of ``Runtime``."""

from __future__ import annotations

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.runtime import Runtime
from facessd_archive.evaluate.tf_runtime import TFRuntime
from facessd_archive.evaluate.tflite_runtime import TFLiteRuntime
from facessd_archive.model.detector import SSDDetector

RUNTIME_NAMES = ("tf", "tflite")


def make_runtime(detector: SSDDetector, name: str = "tf") -> Runtime:
    """``'tf'`` -> ``TFRuntime``, ``'tflite'`` -> ``TFLiteRuntime`` (XNNPACK, converted model cached on disk)."""
    if name == "tf":
        return TFRuntime(detector)
    if name == "tflite":
        return TFLiteRuntime(detector)
    raise ConfigError(f"unknown runtime {name!r}: choose one of {', '.join(RUNTIME_NAMES)}")
