"""The ``facessd`` command line. Each command parses, calls one library function, prints.

Known errors (``FacessdError``) become one line on stderr and exit code 2, in one place (``_Group``).
Commands live in sibling modules by topic (train, evaluate, archive) and register on ``main``.
"""

from __future__ import annotations

import sys

import click

from facessd_archive import __version__
from facessd_archive.errors import FacessdError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FacessdError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="facessd")
def main() -> None:
    """Train, evaluate and archive SSD-MobileNet face detectors.

    \b
    Examples:
      1. facessd evaluate                       # default stage on the built-in sample benchmark
      2. facessd train --data ../shared/data/facemask --split train.txt --out runs/a
      3. facessd evaluate runs/a --benchmark ../shared/data/facemask --split val.txt
    """

# Register the commands (imports for their side effect on ``main``).
from facessd_archive.cli import train_commands  # noqa: E402,F401
from facessd_archive.cli import archive_commands, evaluate_commands  # noqa: E402,F401
