"""How a :class:`~jaxmnist.sweep.config.SweepConfig` field declares itself,
and the parsers and checks the fields use (each raises ValueError with one
line naming the bad value)."""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from typing import Any

from jaxmnist.errors import (
    check_choice,
    check_positive_float,
    check_positive_int,
    unknown_name_message,
)
from jaxmnist.optim.registry import OPTIMIZERS

LearningRates = tuple[tuple[str, tuple[float, ...]], ...]


class Option(typing.NamedTuple):
    """What a :class:`SweepConfig` field declares besides its type and default.

    ``toml`` is its key (``"table.key"`` inside a table); ``numeric`` says
    whether a different value changes what the sweep computes (its numbers,
    or what its checkpoints hold): a run dir refuses to resume under a
    different numeric value; ``parse`` turns a
    TOML or command-line value into the field's type and ``check`` validates
    it, both raising ValueError with one line.
    """
    help: str
    toml: str
    numeric: bool
    parse: Callable[[str, Any], Any] | None
    check: Callable[[str, Any], None] | None
    metavar: str | None


def option(default, help: str, *, toml: str | None = None,
           numeric: bool = True, parse=None, check=None,
           metavar: str | None = None):
    """A dataclass field carrying its :class:`Option` declaration."""
    return dataclasses.field(default=default, metadata={"option": Option(
        help, toml or "", numeric, parse, check, metavar)})


# --------------------------------------------------------------------------
# Parsers and checks the fields use (each raises ValueError with one line)
# --------------------------------------------------------------------------

def names_of(kind: str, choices: tuple[str, ...]):
    """A comma list or TOML list of names, each one of ``choices``."""
    def parse(key: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of names, got {value!r}")
        return tuple(value)

    def check(key: str, value: tuple[str, ...]) -> None:
        if not value:
            raise ValueError(f"no {kind}s given; choose from: "
                             f"{', '.join(choices)}")
        for v in value:
            check_choice(kind, v, choices)
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"{kind} {dupes[0]!r} is listed twice")
    return parse, check


def choice_of(kind: str, choices: tuple[str, ...]):
    def check(key: str, value: str) -> None:
        check_choice(kind, value, choices)
    return check


def positive_int(key: str, value: int | None) -> None:
    if value is not None:
        check_positive_int(key, value)


def non_negative_int(key: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{key} must be >= 0, got {value}")


def parse_learning_rates(key: str, value: Any) -> LearningRates:
    """``{"adam": 1e-3, "sgd": [0.01, 0.03]}`` or ``"adam=1e-3,sgd=0.01"``."""
    if isinstance(value, str):
        table: dict[str, list] = {}
        for item in filter(None, (v.strip() for v in value.split(","))):
            opt, sep, lr = item.partition("=")
            if not sep:
                raise ValueError(f"learning_rates item {item!r} must look "
                                 f"like OPTIMIZER=RATE, e.g. adam=0.001")
            try:
                table.setdefault(opt.strip(), []).append(float(lr))
            except ValueError:
                raise ValueError(f"learning rate {lr!r} for {opt} is not a "
                                 f"number") from None
        value = table
    if not isinstance(value, dict):
        raise ValueError(f"learning_rates must be a table of OPTIMIZER = "
                         f"rate(s), got {value!r}")
    out = []
    for opt, lrs in value.items():
        lrs = lrs if isinstance(lrs, list) else [lrs]
        for lr in lrs:
            if isinstance(lr, bool) or not isinstance(lr, (int, float)):
                raise ValueError(f"learning rate {lr!r} for {opt} is not a "
                                 f"number")
        out.append((opt, tuple(float(lr) for lr in lrs)))
    return tuple(out)


def check_learning_rates(key: str, value: LearningRates) -> None:
    for opt, lrs in value:
        if opt not in OPTIMIZERS:
            raise ValueError("learning_rates: " + unknown_name_message(
                "optimizer", opt, OPTIMIZERS))
        if not lrs:
            raise ValueError(f"learning_rates for {opt} is empty")
        for lr in lrs:
            check_positive_float(f"learning rate for {opt}", lr)


def check_target(key: str, value: float) -> None:
    if not (0 < value <= 1):
        raise ValueError(f"target must be an accuracy in (0, 1], got {value}")


def check_tune_points(key: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"tuning points must be a positive integer, got "
                         f"{value}")


def check_tune_factor(key: str, value: float) -> None:
    if not (math.isfinite(value) and value > 1):
        raise ValueError(f"tuning factor must be > 1, got {value}")


# --------------------------------------------------------------------------
# Types, from a field's annotation
# --------------------------------------------------------------------------

def base_type(hint) -> type:
    """int, float, bool, str or tuple: ``hint`` without ``| None``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple:
        return tuple
    return args[0] if args else hint


def check_type(name: str, hint, value: Any) -> None:
    """ValueError unless ``value`` has the type ``hint`` names."""
    kind = base_type(hint)
    if value is None and type(None) in typing.get_args(hint):
        return
    ok = {int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float))
          and not isinstance(v, bool),
          bool: lambda v: isinstance(v, bool),
          str: lambda v: isinstance(v, str),
          tuple: lambda v: isinstance(v, tuple)}[kind](value)
    if not ok:
        noun = {int: "an integer", float: "a number", str: "a string",
                bool: "true or false", tuple: "a list"}[kind]
        raise ValueError(f"{name} must be {noun}, got {value!r}")
