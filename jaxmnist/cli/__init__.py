"""The command-line entry points: one thin ``main`` per command.

Each parses its arguments, calls the library, prints. Errors a user can fix
(``ValueError``, :class:`~jaxmnist.errors.DataError`, an ``OSError`` on a
file they named) become one line on stderr, ``prog: error: ...``, and exit
status 2; ``--debug`` or ``JAXMNIST_DEBUG=1`` shows the full traceback
instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable

from jaxmnist.errors import DataError, UsageError

DEBUG_ENV = "JAXMNIST_DEBUG"


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default, except the uninformative ones: None, False,
    an empty list, and the default of a flag that takes no value (its
    presence is the whole story: ``--no-progress``'s True means shown)."""

    def _get_help_string(self, action):
        if (any(action.default is v for v in (None, False, argparse.SUPPRESS))
                or action.default in ([], ()) or action.nargs == 0):
            return action.help
        return super()._get_help_string(action)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit 2; every
    command takes ``--debug``; defaults are shown in ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true",
                          help=f"show the full traceback of an error (also "
                               f"{DEBUG_ENV}=1)")

    def error(self, message: str):
        raise UsageError(message)


def debugging(argv: list[str] | None) -> bool:
    args = sys.argv[1:] if argv is None else argv
    return "--debug" in args or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def run_main(prog: str, run: Callable[[list[str] | None], int],
             argv: list[str] | None) -> int:
    """``run(argv)``, turning a user's error into one line on stderr and
    exit status 2 (the traceback with ``--debug``)."""
    try:
        return run(argv)
    except (ValueError, DataError, OSError) as e:
        if debugging(argv):
            traceback.print_exception(e)
        else:
            print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        return 2


def one_line(error: BaseException) -> str:
    """The error's message on one line (an OSError names its file)."""
    if isinstance(error, OSError) and error.filename:
        text = f"{error.filename}: {error.strerror or type(error).__name__}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())
