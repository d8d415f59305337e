"""TensorFlow's start-up chatter, kept off the terminal unless asked for (``facessd --verbose``).

Three sources reach stderr when TensorFlow loads, and each needs its own handle:

1. C++ logs after absl is initialised (cuInit failures, op warnings): ``TF_CPP_MIN_LOG_LEVEL``,
   read by the C++ runtime, so it must be set before ``tensorflow`` is first imported. Level 3
   keeps only fatal messages; an error a user can act on also reaches Python as an exception.
   A value the user set is left alone.
2. C++ logs written *before* ``absl::InitializeLog()`` (``WARNING: All log messages before
   absl::InitializeLog() ...``, oneDNN, ``cudart_stub``, ``cpu_feature_guard``): printed while
   the shared libraries load, whatever ``TF_CPP_MIN_LOG_LEVEL`` says. They can only be caught at
   the file-descriptor level: while ``tensorflow`` executes its first import, fd 2 points at a
   temporary file (``os.dup2``); afterwards the log-format lines are dropped and anything else is
   written back to stderr. If the import fails, everything is written back.
3. Python: the ``tensorflow`` and ``absl`` loggers (deprecation notices, retracing warnings)
   are raised to ERROR, and ``warnings`` raised inside TensorFlow, Keras, absl or LiteRT are ignored.

``quiet_tensorflow()`` does all three without importing TensorFlow: (2) is an import hook
that wraps only the first ``import tensorflow``, wherever it happens, so commands that never
need TensorFlow (``facessd list``) do not pay for loading it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
import warnings
from contextlib import contextmanager
from typing import Iterator

VERBOSE_ENV = "FACESSD_VERBOSE"
CPP_LOG_LEVEL = "3"  # TF_CPP_MIN_LOG_LEVEL: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR
_PYTHON_MODULES = r"(tensorflow|keras|tf_keras|absl|ai_edge_litert|google\.protobuf)(\.|$)"
_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"  # absl's preamble
    r"|[IWEF]\d{4} [\d:.]+\s+\d+ [^\]\s]+:\d+\] "  # absl / glog records (odd clock before init)
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] [^\]\s]+:\d+\] "  # older TF records
    r"|To enable the following instructions: )")  # cpu_feature_guard's second line
_TFLITE_INFO_LINE = re.compile(r"^INFO: ")


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ and Python start-up output for this process (see the module docstring).

    Idempotent; call it before ``tensorflow`` is imported for (1) and (2) to take effect.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", CPP_LOG_LEVEL)
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=_PYTHON_MODULES)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFirstImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFirstImport())


def drop_log_lines(text: str, pattern: re.Pattern[str] = _LOG_LINE) -> str:
    """``text`` without the lines ``pattern`` matches (default: C++ log records in absl / glog
    format and their known continuations)."""
    return "".join(line for line in text.splitlines(keepends=True) if not pattern.match(line))


@contextmanager
def tflite_info_dropped() -> Iterator[None]:
    """TFLite's own logger (``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``, printed once,
    when an interpreter first allocates) ignores ``TF_CPP_MIN_LOG_LEVEL``: where that level mutes
    INFO (1 or more, as ``quiet_tensorflow`` sets), its ``INFO:`` lines printed inside the block are dropped."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip() in ("1", "2", "3"):
        with stderr_log_lines_dropped(_TFLITE_INFO_LINE):
            yield
    else:
        yield


@contextmanager
def stderr_log_lines_dropped(pattern: re.Pattern[str] = _LOG_LINE) -> Iterator[None]:
    """Route fd 2 to a temporary file inside the block; then write back the lines ``pattern`` does
    not match (everything, if the block raised). A no-op where fd 2 cannot be duplicated."""
    _flush_stderr()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = text if failed else drop_log_lines(text, pattern)
            if kept:
                sys.stderr.write(kept)
                _flush_stderr()


def _flush_stderr() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for ``tensorflow`` it asks the other finders, then wraps the loader so
    that executing the package runs inside ``stderr_log_lines_dropped``. Removes itself on first use."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self._inner  # what the package sees of itself
        with stderr_log_lines_dropped():
            self._inner.exec_module(module)

    def __getattr__(self, name):
        return getattr(self._inner, name)
