"""Import a script under ``benchmarks/`` as a module, for the tests that keep those scripts from rotting.

The scripts are not a package (they are run as ``python benchmarks/NAME.py``), so they are loaded from
their file. The module is registered in ``sys.modules`` while in use because dataclasses look their
module up there, and removed afterwards so two tests never share a half-configured script.
"""
from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def loaded_benchmark(file_name: str, module_name: str) -> Iterator[ModuleType]:
    """Yield ``benchmarks/<file_name>`` imported as ``module_name``; use with ``yield from`` in a fixture."""
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / file_name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(module_name, None)
