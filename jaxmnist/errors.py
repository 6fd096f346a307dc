"""The errors a user can fix, and the checks that raise them.

Library code raises ``ValueError`` for a bad value (an unknown name, an
out-of-range number, a file that is not what it should be) and
:class:`DataError` when a dataset cannot be found, downloaded or verified;
every message is one line naming the bad value and the valid choices. Only
the command-line entry points (:mod:`jaxmnist.cli`) turn them into one line
on stderr and exit status 2. A signal stops a sweep through a
:class:`StopRequest` the CLI hands in; the sweep raises :class:`Interrupted`
at its next safe point.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable


class UsageError(ValueError):
    """A bad command line (an unknown flag, a malformed value): CLI only."""


class DataError(RuntimeError):
    """The dataset could not be found, downloaded or verified."""


class Interrupted(Exception):
    """A sweep stopped by a signal; ``where`` says what is saved (every
    finished epoch and group is)."""

    def __init__(self, where: str, signal_name: str = "SIGINT"):
        super().__init__(where)
        self.where, self.signal_name = where, signal_name


class StopRequest:
    """Asks a running sweep to stop at its next safe point: the end of an
    epoch (once it is checkpointed) or of a group, or before the figures.

    The command line's signal handlers set it; library code only reads it,
    through :meth:`check`.
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def request(self, signal_name: str) -> None:
        self.signal_name = signal_name

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def check(self, where: str) -> None:
        """Interrupted(``where``) when a stop was requested."""
        if self.signal_name is not None:
            raise Interrupted(where, self.signal_name)


def closest(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' hint, or '' when nothing is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def unknown_name_message(kind: str, name: object, choices) -> str:
    """One line naming a bad value, the valid choices and the closest one."""
    hint = closest(name, choices) if isinstance(name, str) else ""
    return f"unknown {kind} {name!r}{hint}; choose from: {', '.join(choices)}"


def check_choice(kind: str, name: object, choices) -> None:
    """ValueError unless ``name`` is one of ``choices``."""
    if name not in choices:
        raise ValueError(unknown_name_message(kind, name, choices))


def check_positive_int(name: str, value: object) -> None:
    """ValueError unless ``value`` is an int >= 1 (bools are not ints here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_positive_float(name: str, value: float) -> None:
    """ValueError unless ``value`` is finite and > 0."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
