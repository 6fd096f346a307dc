"""What every command-line entry point shares: one-line errors, exit 2."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from jaxmnist.errors import DataError, UsageError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit 2."""

    def error(self, message: str):
        raise UsageError(message)


def run_main(prog: str, run: Callable[[list[str] | None], int],
             argv: list[str] | None) -> int:
    """``run(argv)``, turning a UsageError or DataError into one line on
    stderr (``prog: error: ...``) and exit status 2."""
    try:
        return run(argv)
    except (UsageError, DataError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
