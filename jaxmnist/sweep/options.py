"""How a :class:`~jaxmnist.sweep.config.SweepConfig` field declares itself,
and the parsers and checks the fields use (each raises ValueError with one
line naming the bad value)."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Callable, Sequence
from typing import Any

from jaxmnist import plugins
from jaxmnist.errors import (
    check_choice,
    check_positive_float,
    unknown_name_message,
)
from jaxmnist.optim.registry import OPTIMIZERS, check_option, get_spec
from jaxmnist.sweep.cluster import OFF, parse

LearningRates = tuple[tuple[str, tuple[float, ...]], ...]
#: ((optimizer, ((option, (values, ...)), ...)), ...)
OptionAxes = tuple[tuple[str, tuple[tuple[str, tuple[float, ...]], ...]], ...]


class Option(typing.NamedTuple):
    """What a :class:`SweepConfig` field declares besides type and default:
    ``toml``, its key (``"table.key"`` inside a table); ``numeric``, whether
    another value changes the numbers (a run dir refuses to resume under
    it); ``parse`` (a TOML or flag value -> the field's type) and
    ``check`` (default: that it parses), each raising ValueError with one
    line."""
    help: str
    toml: str
    numeric: bool
    parse: Callable[[str, Any], Any] | None
    check: Callable[[str, Any], None] | None
    metavar: str | None
    nargs: str | None  # the flag's argparse nargs ("+", "?")
    const: str | None  # the value of a bare flag with nargs "?"
    shown: str | None  # the default as --help shows it


def option(default, help: str, *, toml: str | None = None,
           numeric: bool = True, parse=None, check=None, rule=None,
           metavar: str | None = None, nargs: str | None = None,
           const: str | None = None, shown: str | None = None):
    """A dataclass field carrying its :class:`Option` declaration;
    ``rule``: a (parse, check) pair."""
    parse, check = rule or (parse, check)
    return dataclasses.field(default=default, metadata={"option": Option(
        help, toml or "", numeric, parse, check, metavar, nargs, const,
        shown)})


# --------------------------------------------------------------------------
# Parsers and checks the fields use (each raises ValueError with one line)
# --------------------------------------------------------------------------

def _strings(key: str, value: Any, what: str) -> list[str]:
    """A comma list or a TOML list of strings."""
    items = _items(value)
    if not all(isinstance(v, str) for v in items):
        raise ValueError(f"{key} must be a list of {what}, got {value!r}")
    return items


def names_of(kind: str, choices: Sequence[str]):
    """(parse, check) of a list of names, each one of ``choices``; a
    ``module:name`` means the ``name`` a plugin module registers."""
    def parse(key: str, value: Any) -> tuple[str, ...]:
        return tuple(plugins.resolve(kind, v)
                     for v in _strings(key, value, "names"))

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


def parse_plugins(key: str, value: Any) -> tuple[str, ...]:
    return tuple(_strings(key, value, "module paths like mypkg.opt"))


def check_plugins(key: str, value: tuple[str, ...]) -> None:
    """Import every plugin module (ValueError, one line, if one fails)."""
    _distinct(key, value, "module")
    plugins.import_plugins(value)


def choice_of(kind: str, choices: tuple[str, ...]):
    def check(key: str, value: str) -> None:
        check_choice(kind, value, choices)
    return check


def at_least(low: int):
    """The check of an int option (None allowed): ``value >= low``."""
    def check(key: str, value: int | None) -> None:
        if value is not None and value < low:
            raise ValueError(f"{key} must be "
                             + ("a positive integer" if low == 1 else
                                f">= {low}") + f", got {value}")
    return check


def parse_learning_rates(key: str, value: Any) -> LearningRates:
    """``{"adam": 1e-3, "sgd": [0.01, 0.03]}`` or ``"adam=1e-3,sgd=0.01"``."""
    if isinstance(value, str):
        table: dict[str, list] = {}
        for item in filter(None, (v.strip() for v in value.split(","))):
            opt, sep, lr = item.partition("=")
            if not sep:
                raise ValueError(f"learning_rates item {item!r} must look "
                                 f"like OPTIMIZER=RATE, e.g. adam=0.001")
            table.setdefault(opt.strip(), []).append(lr)
        value = table
    if not isinstance(value, dict):
        raise ValueError(f"learning_rates must be a table of OPTIMIZER = "
                         f"rate(s), got {value!r}")
    return tuple((opt, _numbers(opt, lrs, "learning rate {v!r} for {key} "
                                          "is not a number"))
                 for opt, lrs in value.items())


def check_learning_rates(key: str, value: LearningRates) -> None:
    for opt, lrs in value:
        if opt not in OPTIMIZERS:
            raise ValueError("learning_rates: " + unknown_name_message(
                "optimizer", opt, OPTIMIZERS))
        if not lrs:
            raise ValueError(f"learning_rates for {opt} is empty")
        for lr in lrs:
            check_positive_float(f"learning rate for {opt}", lr)
        _distinct(f"learning_rates for {opt}", tuple(lrs), "value")


def check_target(key: str, value: float) -> None:
    if not (0 < value <= 1):
        raise ValueError(f"target must be an accuracy in (0, 1], got {value}")


def check_tune_factor(key: str, value: float) -> None:
    if not (math.isfinite(value) and value > 1):
        raise ValueError(f"tuning factor must be > 1, got {value}")


def _items(value: Any) -> list:
    """A comma or space separated string, a list of such, or a TOML list,
    as one flat list."""
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str)
                                                for v in value):
        return [item for v in value for item in _items(v)]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _numbers(key: str, value: Any,
             bad: str = "{key} value {v!r} is not a number"
             ) -> tuple[float, ...]:
    """A number, or a comma list or TOML list of numbers."""
    out = []
    for v in _items(value):
        try:
            if isinstance(v, bool):
                raise ValueError
            out.append(float(v))
        except (TypeError, ValueError):
            raise ValueError(bad.format(key=key, v=v)) from None
    return tuple(out)


def numbers_of(check_each: Callable[[float], None]):
    """(parse, check) of one or more numbers, each checked."""
    def check(key: str, value: tuple[float, ...]) -> None:
        if not value:
            raise ValueError(f"{key} needs at least one value")
        for v in value:
            check_each(v)
        _distinct(key, value, "value")
    return _numbers, check


def _distinct(key: str, values: tuple, what: str) -> None:
    if len(set(values)) < len(values):
        raise ValueError(f"{key} lists a {what} twice: {values}")


def parse_hidden(key: str, value: Any) -> tuple[tuple[int, ...], ...]:
    """``"128,64 256,128"``, TOML ``[128, 64]`` or ``[[128, 64], [256,
    128]]``: one or more hidden-layer shapes."""
    if isinstance(value, str):
        value = value.split()
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        value = [value]
    shapes = []
    for shape in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(shape, str):
            shape = [s for s in shape.split(",") if s.strip()]
        try:
            shapes.append(tuple(int(s) for s in shape))
        except (TypeError, ValueError):
            raise ValueError(f"hidden size {shape!r} must be widths like "
                             f"128,64") from None
    return tuple(shapes)


def check_hidden(key: str, value: tuple[tuple[int, ...], ...]) -> None:
    if not value:
        raise ValueError("hidden needs at least one shape, e.g. 128,64")
    for shape in value:
        if not shape or min(shape) < 1:
            raise ValueError(f"hidden size {shape} must be one or more "
                             f"positive widths, e.g. 128,64")
    _distinct(key, value, "shape")


def parse_switch(key: str, value: Any) -> tuple[bool, ...]:
    """``on``/``off``/``off,on`` (a bare flag: on), or TOML ``true`` /
    ``[false, true]``."""
    words = {"on": True, "true": True, "off": False, "false": False}
    out = []
    for v in _items(value):
        if isinstance(v, str) and v.lower() in words:
            out.append(words[v.lower()])
        elif isinstance(v, bool):
            out.append(v)
        else:
            raise ValueError(f"{key} must be on, off or off,on; got {v!r}")
    if not out or len(set(out)) < len(out):
        raise ValueError(f"{key} must be on, off or off,on; got {value!r}")
    return tuple(out)


def parse_option_axes(key: str, value: Any) -> OptionAxes:
    """``adam.b2=0.99,0.999 momentum.momentum=0.8,0.9`` (the flag's words),
    or TOML tables ``[optimizer_options.adam] b2 = [0.99, 0.999]``."""
    if isinstance(value, (str, list, tuple)):
        table: dict[str, dict[str, list]] = {}
        words = [value] if isinstance(value, str) else value
        for item in (w for v in words for w in str(v).split()):
            name, sep, values = item.partition("=")
            opt, dot, option_name = name.partition(".")
            if not (sep and dot and values):
                raise ValueError(f"optimizer option {item!r} must look like "
                                 f"OPTIMIZER.OPTION=V1,V2, e.g. "
                                 f"adam.b2=0.99,0.999")
            table.setdefault(opt, {})[option_name] = values.split(",")
        value = table
    if not isinstance(value, dict) or not all(isinstance(v, dict)
                                              for v in value.values()):
        raise ValueError(f"{key} must be a table of [optimizer_options."
                         f"OPTIMIZER] tables, got {value!r}")
    return tuple((opt, tuple((name, _numbers(f"{opt}.{name}", values))
                             for name, values in options.items()))
                 for opt, options in value.items())


def check_option_axes(key: str, value: OptionAxes) -> None:
    for opt, options in value:
        if opt not in OPTIMIZERS:
            raise ValueError("optimizer_options: " + unknown_name_message(
                "optimizer", opt, OPTIMIZERS))
        numeric = get_spec(opt).vmappable
        for name, values in options:
            if name not in numeric:
                raise ValueError(
                    f"optimizer_options: {opt} has no numeric option "
                    f"{name!r}; choose from: {', '.join(numeric) or '(none)'}")
            if not values or not all(math.isfinite(v) for v in values):
                raise ValueError(f"optimizer_options: {opt}.{name} needs "
                                 f"finite values, got {values}")
            for v in values:
                check_option(opt, name, v)
            _distinct(f"optimizer_options: {opt}.{name}",  # as results
                      tuple(f"{v:g}" for v in values), "value")  # name them


#: A number, then k, m, g or t (binary; decimal with "b" and no "i").
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*"
                   r"(?:([kmgt])(i?))?(b?)\s*$")


def parse_size(text: Any) -> int:
    """Bytes from ``4GiB``, ``512MB``, ``1.5G`` (binary), ``2e9`` or an int
    (ValueError, one line, naming a bad one)."""
    match = (None if isinstance(text, bool) or not isinstance(
        text, (int, float, str)) else _SIZE.match(str(text).lower()))
    if match is None:
        raise ValueError(f"{str(text)!r} is not a size; use bytes with an "
                         f"optional unit, e.g. 4GiB, 512MiB, 8GB or 2e9")
    number, prefix, binary, decimal = match.groups()
    size = float(number) * ((1000 if decimal and not binary else 1024)
                            ** ("kmgt".index(prefix) + 1) if prefix else 1)
    if not math.isfinite(size) or size < 1:
        raise ValueError(f"{str(text)!r} is not a positive size")
    return int(size)


def parse_size_option(key: str, value: Any) -> str:
    """A size (``"4GiB"``, or a TOML number of bytes) kept as text."""
    try:
        parse_size(value)
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None
    return str(value).strip()


def parse_shard(key: str, value: Any) -> str:
    """``"I/N"`` (task I of N; spaces dropped) or ``"off"``."""
    text = str(value).strip().replace(" ", "")
    if text.lower() == OFF:
        return OFF
    return str(parse(text))


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
