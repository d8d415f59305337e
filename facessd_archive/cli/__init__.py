"""The ``facessd`` command line. Each command parses, calls one library function, prints.

Known errors (``FacessdError``) become one line on stderr and exit code 2, in one place (``_Group``).
TensorFlow's start-up logs are silenced here, before any command imports it, unless ``--verbose``
or ``FACESSD_VERBOSE=1`` (``tf_logs.py``). Commands live in sibling modules by topic (train,
evaluate, detect, archive) and register on ``main``.
"""

from __future__ import annotations

import sys

import click

from facessd_archive import __version__
from facessd_archive.errors import FacessdError
from facessd_archive.tf_logs import VERBOSE_ENV, quiet_tensorflow


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FacessdError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="facessd")
@click.option("--verbose", is_flag=True, envvar=VERBOSE_ENV, show_envvar=True,
              help="Let TensorFlow's C++ and Python start-up logs and warnings through.")
def main(verbose: bool) -> None:
    """Train, evaluate and archive SSD-MobileNet face detectors.

    \b
    Examples:
      1. facessd evaluate                       # default stage on the built-in sample benchmark
      2. facessd detect photos/ --out annotated/ # find faces in your own pictures
      3. facessd train --data ../shared/data/facemask --split train.txt --out runs/a
      4. facessd evaluate runs/a --benchmark ../shared/data/facemask --split val.txt
    """
    if not verbose:
        quiet_tensorflow()

# Register the commands (imports for their side effect on ``main``).
from facessd_archive.cli import train_commands  # noqa: E402,F401
from facessd_archive.cli import archive_commands, evaluate_commands  # noqa: E402,F401
from facessd_archive.cli import detect_commands  # noqa: E402,F401
from facessd_archive.cli import odapi_commands  # noqa: E402,F401
