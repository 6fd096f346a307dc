"""The sweep's configuration: defaults < TOML file < command line.

Every TOML key mirrors a command-line option (``train_subset`` for
``--train-subset``); an unknown key or a wrong type is an error, reported in
one line before anything trains.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from jaxmnist.activations import ACTIVATIONS, closest, unknown_name_message
from jaxmnist.cli import OneLineParser
from jaxmnist.data import DATASETS
from jaxmnist.errors import UsageError
from jaxmnist.optim.registry import IMPLEMENTATIONS, OPTIMIZERS, get_spec
from jaxmnist.optim.schedules import SCHEDULES

CLASSIC_ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
CLASSIC_OPTIMIZERS = ("sgd", "minibatch_sgd", "momentum", "adam", "adagrad",
                      "adadelta")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A whole sweep: the grid, the data and where results go.

    ``learning_rates`` maps an optimizer to one or more learning rates (each
    a member of that optimizer's group); optimizers not named use their
    registry default. ``batch_size`` applies to every mini-batch optimizer;
    ``sgd`` is per-sample by definition and always uses 1.
    """
    activations: tuple[str, ...] = CLASSIC_ACTIVATIONS
    optimizers: tuple[str, ...] = CLASSIC_OPTIMIZERS
    epochs: int = 10
    seeds: int = 1
    seed: int = 0
    learning_rates: tuple[tuple[str, tuple[float, ...]], ...] = ()
    batch_size: int | None = None
    dataset: str = "mnist"
    manual_dir: str | None = None
    data_dir: str | None = None
    train_subset: int | None = None
    val_size: int = 5000
    implementation: str = "ours"
    schedule: str = "constant"
    tune_lr: bool = False
    tune_points: int = 5
    tune_factor: float = 3.0
    target: float = 0.97
    out: str | None = None
    name: str | None = None

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
        if optimizer == "sgd" or self.batch_size is None:
            return get_spec(optimizer).batch_size
        return self.batch_size


FIELDS = {f.name: f for f in dataclasses.fields(SweepConfig)}
_INT_FIELDS = ("epochs", "seeds", "seed", "batch_size", "train_subset",
               "val_size", "tune_points")
_FLOAT_FIELDS = ("tune_factor", "target")
#: the keys of a TOML ``[tuning]`` table and the fields they set
TUNING_KEYS = {"enabled": "tune_lr", "points": "tune_points",
               "factor": "tune_factor"}
_STR_FIELDS = ("dataset", "manual_dir", "data_dir", "implementation",
               "schedule", "out", "name")


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) for v in value):
        raise UsageError(f"{key} must be a list of names, got {value!r}")
    return tuple(value)


def _parse_lrs(value: Any) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """``{"adam": 1e-3, "sgd": [0.01, 0.03]}`` or ``"adam=1e-3,sgd=0.01"``."""
    if isinstance(value, str):
        table: dict[str, list] = {}
        for item in filter(None, (v.strip() for v in value.split(","))):
            opt, sep, lr = item.partition("=")
            if not sep:
                raise UsageError(f"learning_rates item {item!r} must look like"
                                 f" OPTIMIZER=RATE, e.g. adam=0.001")
            try:
                table.setdefault(opt.strip(), []).append(float(lr))
            except ValueError:
                raise UsageError(f"learning rate {lr!r} for {opt} is not a "
                                 f"number") from None
        value = table
    if not isinstance(value, dict):
        raise UsageError(f"learning_rates must be a table of OPTIMIZER = "
                         f"rate(s), got {value!r}")
    out = []
    for opt, lrs in value.items():
        lrs = lrs if isinstance(lrs, list) else [lrs]
        for lr in lrs:
            if isinstance(lr, bool) or not isinstance(lr, (int, float)):
                raise UsageError(f"learning rate {lr!r} for {opt} is not a "
                                 f"number")
        out.append((opt, tuple(float(lr) for lr in lrs)))
    return tuple(out)


def coerce(key: str, value: Any) -> Any:
    """Check one option's type and normalise it; UsageError when wrong."""
    if key not in FIELDS:
        raise UsageError(f"unknown config key {key!r}{closest(key, list(FIELDS))};"
                         f" valid keys: {', '.join(FIELDS)}")
    if key in ("activations", "optimizers"):
        return _names(value, key)
    if key == "learning_rates":
        return _parse_lrs(value)
    if key == "tune_lr":
        if not isinstance(value, bool):
            raise UsageError(f"{key} must be true or false, got {value!r}")
        return value
    if key in _FLOAT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{key} must be a number, got {value!r}")
        return float(value)
    if key in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{key} must be an integer, got {value!r}")
        return value
    if key in _STR_FIELDS:
        if not isinstance(value, str):
            raise UsageError(f"{key} must be a string, got {value!r}")
        return value
    raise AssertionError(key)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The options in a sweep TOML file, type-checked."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"config file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"config file {str(p)!r} cannot be read "
                         f"({type(e).__name__})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {str(p)!r} is not valid TOML: {e}") \
            from None
    tuning = raw.pop("tuning", {})
    if not isinstance(tuning, dict):
        raise UsageError(f"[tuning] must be a table, got {tuning!r}")
    values = {k: coerce(k, v) for k, v in raw.items()}
    for k, v in tuning.items():
        if k not in TUNING_KEYS:
            raise UsageError(f"unknown [tuning] key {k!r}{closest(k, list(TUNING_KEYS))}"
                             f"; valid keys: {', '.join(TUNING_KEYS)}")
        values[TUNING_KEYS[k]] = coerce(TUNING_KEYS[k], v)
    return values


def validate(cfg: SweepConfig) -> SweepConfig:
    """Check every value; raise a one-line UsageError for the first bad one."""
    for kind, names, valid in (("activation", cfg.activations, ACTIVATIONS),
                               ("optimizer", cfg.optimizers, OPTIMIZERS)):
        if not names:
            raise UsageError(f"no {kind}s given; choose from: "
                             f"{', '.join(valid)}")
        for n in names:
            if n not in valid:
                raise UsageError(unknown_name_message(kind, n, valid))
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UsageError(f"{kind} {dupes[0]!r} is listed twice")
    for kind, value, valid in (("dataset", cfg.dataset, DATASETS),
                               ("implementation", cfg.implementation,
                                IMPLEMENTATIONS),
                               ("schedule", cfg.schedule, SCHEDULES)):
        if value not in valid:
            raise UsageError(unknown_name_message(kind, value, valid))
    for key in ("epochs", "seeds", "batch_size", "train_subset"):
        value = getattr(cfg, key)
        if value is not None and value < 1:
            raise UsageError(f"{key} must be a positive integer, got {value}")
    if cfg.tune_points < 1:
        raise UsageError(f"tuning points must be a positive integer, got "
                         f"{cfg.tune_points}")
    if not (math.isfinite(cfg.tune_factor) and cfg.tune_factor > 1):
        raise UsageError(f"tuning factor must be > 1, got {cfg.tune_factor}")
    if not (0 < cfg.target <= 1):
        raise UsageError(f"target must be an accuracy in (0, 1], got "
                         f"{cfg.target}")
    if cfg.seed < 0 or cfg.val_size < 0:
        raise UsageError(f"seed and val_size must be >= 0, got {cfg.seed} and "
                         f"{cfg.val_size}")
    for opt, lrs in cfg.learning_rates:
        if opt not in OPTIMIZERS:
            raise UsageError("learning_rates: " + unknown_name_message(
                "optimizer", opt, OPTIMIZERS))
        if not lrs:
            raise UsageError(f"learning_rates for {opt} is empty")
        for lr in lrs:
            if not (math.isfinite(lr) and lr > 0):
                raise UsageError(f"learning rate for {opt} must be positive "
                                 f"and finite, got {lr}")
    return cfg


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m jaxmnist.sweep",
        description="Train an activation x optimizer grid as vmapped groups.")
    p.add_argument("config", nargs="?", help="a sweep TOML file (sweeps/*.toml)")
    p.add_argument("--activations", help=f"comma list of {', '.join(ACTIVATIONS)}")
    p.add_argument("--optimizers", help=f"comma list of {', '.join(OPTIMIZERS)}")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seeds", type=int, help="seeds per cell (default 1)")
    p.add_argument("--seed", type=int, help="root seed (default 0)")
    p.add_argument("--learning-rates", dest="learning_rates",
                   help="OPT=RATE[,OPT=RATE...]; repeat OPT for several rates")
    p.add_argument("--batch-size", dest="batch_size", type=int,
                   help="mini-batch size (sgd always uses 1; default 128)")
    p.add_argument("--dataset", help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--manual-dir", dest="manual_dir",
                   help="folder with the four official IDX gz files "
                        "(default $JAXMNIST_MANUAL_DIR)")
    p.add_argument("--data-dir", dest="data_dir", help="tfds data dir")
    p.add_argument("--train-subset", dest="train_subset", type=int,
                   help="train on the first N training images")
    p.add_argument("--val-size", dest="val_size", type=int,
                   help="training images held out for validation (5000)")
    p.add_argument("--implementation", help="ours (default) or optax")
    p.add_argument("--schedule", help=f"one of {', '.join(SCHEDULES)}")
    p.add_argument("--tune-lr", dest="tune_lr", action="store_const",
                   const=True, help="train a log-spaced grid of learning "
                   "rates per optimizer and report the best on validation")
    p.add_argument("--target", type=float,
                   help="validation accuracy for time-to-target (0.97)")
    p.add_argument("--out", help="output dir (default runs/<name-or-time>)")
    p.add_argument("--name", help="run name, used for the default --out")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide the progress bars")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in an --out that holds another sweep")
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() first (multi-host)")
    p.add_argument("--coordinator", help="HOST:PORT of process 0 "
                   "(default: from the cluster environment)")
    p.add_argument("--num-processes", dest="num_processes", type=int)
    p.add_argument("--process-id", dest="process_id", type=int)
    return p


def config_from_args(argv: list[str] | None = None
                     ) -> tuple[SweepConfig, argparse.Namespace]:
    """Merge defaults, the TOML file and the command line; validate."""
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = read_toml(args.config) if args.config else {}
    for key in FIELDS:
        cli = getattr(args, key, None)
        if cli is not None:
            values[key] = coerce(key, cli)
    return validate(SweepConfig(**values)), args


def to_toml(cfg: SweepConfig) -> str:
    """The config as TOML that :func:`read_toml` reads back identically."""
    def fmt(v):
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v)

    lines, table = [], []
    tuning = {v: k for k, v in TUNING_KEYS.items()}
    for key, value in dataclasses.asdict(cfg).items():
        if key == "learning_rates":
            table = [f"{opt} = {fmt(list(lrs))}" for opt, lrs in value]
        elif value is not None and key not in tuning:
            lines.append(f"{key} = {fmt(value)}")
    if table:
        lines += ["", "[learning_rates]", *table]
    lines += ["", "[tuning]", *(f"{tuning[f]} = {fmt(getattr(cfg, f))}"
                                for f in TUNING_KEYS.values())]
    return "\n".join(lines) + "\n"
