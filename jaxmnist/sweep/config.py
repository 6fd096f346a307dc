"""The sweep's configuration: defaults < TOML file < command line.

:class:`SweepConfig` is the single source of truth. Each field declares, in
its :func:`option` metadata, its help text, where it lives in a TOML file,
how a value is parsed and checked, and whether it changes the numbers; the
TOML reader and writer, the command-line flags, the validation and the "same
sweep?" check on resume are all derived from those declarations. Adding an
option is adding one field.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jaxmnist.core.activations import ACTIVATIONS
from jaxmnist.core.config import TrainConfig
from jaxmnist.data.sources import DATASETS
from jaxmnist.errors import (
    check_choice,
    check_positive_float,
    check_positive_int,
    closest,
    unknown_name_message,
)
from jaxmnist.optim.registry import IMPLEMENTATIONS, OPTIMIZERS, get_spec
from jaxmnist.optim.schedules import SCHEDULES
from jaxmnist.sweep.group import GroupSpec

CLASSIC_ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
CLASSIC_OPTIMIZERS = ("sgd", "minibatch_sgd", "momentum", "adam", "adagrad",
                      "adadelta")
LearningRates = tuple[tuple[str, tuple[float, ...]], ...]


class Option(typing.NamedTuple):
    """What a :class:`SweepConfig` field declares besides its type and default.

    ``toml`` is its key (``"table.key"`` inside a table); ``numeric`` says
    whether a different value changes any number the sweep computes (a run
    dir refuses to resume under a different numeric value); ``parse`` turns a
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


_ACTS = names_of("activation", ACTIVATIONS)
_OPTS = names_of("optimizer", OPTIMIZERS)


# --------------------------------------------------------------------------
# The config
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A whole sweep: the grid, the data and where results go.

    Constructing one validates every field (ValueError, one line).
    """
    activations: tuple[str, ...] = option(
        CLASSIC_ACTIVATIONS, "activations to compare (comma list of "
        f"{', '.join(ACTIVATIONS)})", parse=_ACTS[0], check=_ACTS[1],
        metavar="A,B")
    optimizers: tuple[str, ...] = option(
        CLASSIC_OPTIMIZERS, f"optimizers (comma list of "
        f"{', '.join(OPTIMIZERS)})", parse=_OPTS[0], check=_OPTS[1],
        metavar="A,B")
    epochs: int = option(10, "passes over the training split",
                         check=positive_int)
    seeds: int = option(1, "seeds per cell", check=positive_int)
    seed: int = option(0, "root seed: seed s of every cell uses "
                       "fold_in(key(root), s)", check=non_negative_int)
    learning_rates: LearningRates = option(
        (), "learning rates per optimizer, OPT=RATE[,OPT=RATE...]; repeat "
        "OPT for several (TOML: a [learning_rates] table); others use their "
        "default", parse=parse_learning_rates, check=check_learning_rates,
        metavar="OPT=RATE")
    batch_size: int | None = option(
        None, "mini-batch size of every mini-batch optimizer (default 128; "
        "per-sample sgd always uses 1)", check=positive_int)
    dataset: str = option("mnist", f"one of {', '.join(DATASETS)}",
                          check=choice_of("dataset", DATASETS))
    manual_dir: str | None = option(
        None, "folder with the four official IDX gz files, or a parent of "
        "mnist/ and fashion_mnist/ (default $JAXMNIST_MANUAL_DIR; else "
        "download)", numeric=False, metavar="DIR")
    data_dir: str | None = option(
        None, "where downloads and the array cache go (default "
        "$TFDS_DATA_DIR or ~/tensorflow_datasets)", numeric=False,
        metavar="DIR")
    train_subset: int | None = option(
        None, "train on the first N training images (quick runs)",
        check=positive_int, metavar="N")
    val_size: int = option(5000, "training images held out for validation",
                           check=non_negative_int, metavar="N")
    implementation: str = option(
        "ours", "ours (our optimizers) or optax (optax's built-ins)",
        check=choice_of("implementation", IMPLEMENTATIONS))
    schedule: str = option("constant", f"learning-rate schedule, one of "
                           f"{', '.join(SCHEDULES)}",
                           check=choice_of("schedule", SCHEDULES))
    tune_lr: bool = option(
        False, "train a log-spaced grid of learning rates per optimizer and "
        "report the best on validation", toml="tuning.enabled")
    tune_points: int = option(5, "learning rates per optimizer when tuning",
                              toml="tuning.points", check=check_tune_points,
                              metavar="N")
    tune_factor: float = option(3.0, "ratio between neighbouring tuned rates",
                                toml="tuning.factor", check=check_tune_factor,
                                metavar="X")
    target: float = option(0.97, "validation accuracy for time-to-target",
                           check=check_target)
    out: str | None = option(None, "output dir (default runs/<name or time>)",
                             numeric=False, metavar="DIR")
    name: str | None = option(None, "run name, used for the default --out",
                              numeric=False)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            opt: Option = f.metadata["option"]
            value = getattr(self, f.name)
            check_type(f.name, value)
            if field_type(f.name) is float and value is not None:
                object.__setattr__(self, f.name, float(value))
            if opt.check is not None:
                opt.check(f.name, value)

    def lrs_for(self, optimizer: str) -> tuple[float, ...]:
        """The learning rates the group of ``optimizer`` trains.

        Explicit ``learning_rates`` win. Otherwise the registry default, or,
        with ``tune_lr``, ``tune_points`` log-spaced rates around it, a factor
        ``tune_factor`` apart (5 points, factor 3: default x 1/9 .. 9).
        """
        explicit = dict(self.learning_rates).get(optimizer)
        if explicit:
            return explicit
        default = get_spec(optimizer).learning_rate
        if not self.tune_lr:
            return (default,)
        mid = (self.tune_points - 1) / 2
        return tuple(float(f"{default * self.tune_factor ** (k - mid):.6g}")
                     for k in range(self.tune_points))

    def batch_size_for(self, optimizer: str) -> int:
        return get_spec(optimizer).batch_size_for(self.batch_size)

    def train_config(self, optimizer: str) -> TrainConfig:
        """The static config ``optimizer``'s group compiles."""
        return TrainConfig(optimizer=optimizer, epochs=self.epochs,
                           batch_size=self.batch_size_for(optimizer),
                           implementation=self.implementation,
                           schedule=self.schedule,
                           activations=self.activations)

    def groups(self) -> list[GroupSpec]:
        """One vmapped group per optimizer, members seed-major."""
        return [GroupSpec(opt, self.train_config(opt),
                          tuple((a, lr) for a in self.activations
                                for lr in self.lrs_for(opt)),
                          tuple(range(self.seeds)), self.seed)
                for opt in self.optimizers]


FIELDS: dict[str, dataclasses.Field] = {
    f.name: f for f in dataclasses.fields(SweepConfig)}


def declared(name: str) -> Option:
    return FIELDS[name].metadata["option"]


def numeric_fields() -> tuple[str, ...]:
    """The fields whose value changes the numbers."""
    return tuple(n for n in FIELDS if declared(n).numeric)


# --------------------------------------------------------------------------
# Types, derived from the annotations
# --------------------------------------------------------------------------

_HINTS = typing.get_type_hints(SweepConfig)


def field_type(name: str) -> type:
    """int, float, bool, str or tuple: the field's type without None."""
    hint = _HINTS[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple:
        return tuple
    return args[0] if args else hint


def _optional(name: str) -> bool:
    return type(None) in typing.get_args(_HINTS[name])


def check_type(name: str, value: Any) -> None:
    """ValueError unless ``value`` has field ``name``'s type."""
    kind = field_type(name)
    if value is None and _optional(name):
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


def coerce(name: str, value: Any) -> Any:
    """A TOML or command-line value of field ``name``, parsed and typed."""
    if name not in FIELDS:
        raise ValueError(f"unknown config key {name!r}"
                         f"{closest(name, list(FIELDS))}; valid keys: "
                         f"{', '.join(FIELDS)}")
    parse = declared(name).parse
    value = parse(name, value) if parse else value
    check_type(name, value)
    return float(value) if field_type(name) is float else value


# --------------------------------------------------------------------------
# TOML
# --------------------------------------------------------------------------

def read_toml(path: str | Path) -> dict[str, Any]:
    """The options in a sweep TOML file, parsed and type-checked."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"config file {str(p)!r} cannot be read "
                         f"({type(e).__name__})") from e
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {str(p)!r} is not valid TOML: "
                         f"{e}") from e
    by_key = {declared(n).toml or n: n for n in FIELDS}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in by_key:
            values[by_key[key]] = coerce(by_key[key], value)
        elif isinstance(value, dict) and any(k.startswith(f"{key}.")
                                             for k in by_key):
            values.update(_read_table(key, value, by_key))
        elif key in {k.split(".")[0] for k in by_key if "." in k}:
            raise ValueError(f"[{key}] must be a table, got {value!r}")
        else:
            values[key] = coerce(key, value)  # raises: unknown key
    return values


def _read_table(table: str, value: dict, by_key: dict[str, str]) -> dict:
    keys = [k.split(".", 1)[1] for k in by_key if k.startswith(f"{table}.")]
    out = {}
    for k, v in value.items():
        if k not in keys:
            raise ValueError(f"unknown [{table}] key {k!r}{closest(k, keys)}"
                             f"; valid keys: {', '.join(keys)}")
        out[by_key[f"{table}.{k}"]] = coerce(by_key[f"{table}.{k}"], v)
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def to_toml(cfg: SweepConfig) -> str:
    """The config as TOML that :func:`read_toml` reads back identically."""
    top, tables = [], {}
    for name in FIELDS:
        value, key = getattr(cfg, name), declared(name).toml or name
        if name == "learning_rates":  # a table of its own
            if value:
                tables["learning_rates"] = [f"{opt} = {_fmt(list(lrs))}"
                                            for opt, lrs in value]
        elif "." in key:
            table, sub = key.split(".", 1)
            tables.setdefault(table, []).append(f"{sub} = {_fmt(value)}")
        elif value is not None:
            top.append(f"{key} = {_fmt(value)}")
    for table, lines in tables.items():
        top += ["", f"[{table}]", *lines]
    return "\n".join(top) + "\n"


def differences(old: SweepConfig, new: SweepConfig) -> list[str]:
    """``"field: old -> new"`` for every numeric field that differs."""
    return [f"{n}: {getattr(old, n)!r} -> {getattr(new, n)!r}"
            for n in numeric_fields() if getattr(old, n) != getattr(new, n)]
