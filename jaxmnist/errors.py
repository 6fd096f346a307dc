"""Errors a user can fix, reported as one line (exit status 2 from the CLIs),
and the did-you-mean helper their messages use."""

from __future__ import annotations

import difflib
from typing import Iterable


class UsageError(ValueError):
    """A bad option, config value or input file; the message is one line."""


class DataError(RuntimeError):
    """The dataset could not be found, downloaded or verified."""


def closest(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' hint, or '' when nothing is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def unknown_name_message(kind: str, name: object, choices) -> str:
    """One line naming a bad value, the valid choices and the closest one."""
    hint = closest(name, choices) if isinstance(name, str) else ""
    return f"unknown {kind} {name!r}{hint}; choose from: {', '.join(choices)}"
