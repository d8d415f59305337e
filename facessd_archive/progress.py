"""Progress display that knows where it goes: a live bar on a terminal, plain lines into a file or pipe.

A redirected log (``facessd train ... > train.log 2>&1``, CI) must not fill with carriage
returns and ANSI colour codes, so every progress display in the package is made here:
``progressbar`` (click, for loops over images) and ``step_progbar`` (Keras-style, for training).
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Sequence

import click


def is_terminal(stream: IO[Any] | None) -> bool:
    """True when ``stream`` is an interactive terminal (False for files, pipes, captured streams)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def progressbar(length: int, label: str, file: IO[Any] | None = None, show: bool = True):
    """A ``click.progressbar`` on ``file`` (default stderr), drawn only when ``file`` is a terminal
    and ``show``; otherwise hidden, not even click's one-line label. Use as a context manager."""
    file = sys.stderr if file is None else file
    return click.progressbar(length=length, label=label, file=file, hidden=not (show and is_terminal(file)))


class PlainProgress:
    """``keras.utils.Progbar.update`` as plain text lines: at the first update, then at most every
    ``interval`` seconds, and at the end. Values are shown as last given (no averaging)."""

    def __init__(self, target: int, unit_name: str = "step", interval: float = 30.0, file: IO[Any] | None = None):
        self.target = target
        self.unit_name = unit_name
        self.interval = interval
        self.file = file
        self._start = time.monotonic()
        self._last: float | None = None

    def update(self, current: int, values: Sequence[tuple[str, float]] | None = None,
               finalize: bool | None = None) -> None:
        finalize = current >= self.target if finalize is None else finalize
        now = time.monotonic()
        if not finalize and self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        parts = [f"{self.unit_name} {current}/{self.target}", f"{now - self._start:.0f}s"]
        parts += [f"{name}: {value:.4g}" for name, value in values or []]
        print(" - ".join(parts), file=self.file if self.file is not None else sys.stdout, flush=True)


class NoProgress:
    """``update`` that shows nothing: progress turned off."""

    def update(self, current: int, values: Sequence[tuple[str, float]] | None = None,
               finalize: bool | None = None) -> None:
        pass


def step_progbar(target: int, enabled: bool = True, unit_name: str = "step",
                 stateful_metrics: Sequence[str] = ()) -> Any:
    """A progress display with Keras ``Progbar``'s ``update(current, values)``, on stdout where Keras
    writes: Keras' live bar on a terminal, ``PlainProgress`` lines elsewhere (Keras would write ANSI
    colour and carriage returns whatever stdout is), ``NoProgress`` when not ``enabled``."""
    if not enabled:
        return NoProgress()
    if not is_terminal(sys.stdout):
        return PlainProgress(target, unit_name=unit_name)
    import keras

    return keras.utils.Progbar(target, stateful_metrics=list(stateful_metrics), verbose=1, unit_name=unit_name)
