"""The sweep's configuration: defaults < TOML file < command line.

:class:`SweepConfig` is the single source of truth: each field's
:func:`option` declares its help, TOML key, parser, check and whether it
changes the numbers; the TOML reader and writer, the flags, the validation
and the resume check derive from them. :meth:`SweepConfig.groups` makes one
group per structure (optimizer, model, hidden shape, batch norm: one
compiled program each) whose members vary the numbers (activation, rate,
dropout, weight decay, optimizer options) as arrays; a group is named by its
optimizer plus ``-cnn``, ``-h<widths>``, ``-bn`` where it differs from the
classic MLP.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
import typing
from pathlib import Path
from typing import Any, NamedTuple

from jaxmnist.core.activations import ACTIVATIONS
from jaxmnist.core.config import (
    PROBE_EVERY,
    HParams,
    TrainConfig,
    check_dropout,
    check_weight_decay,
    make_hparams,
)
from jaxmnist.core.model import DEFAULT_SIZES
from jaxmnist.core.net import MODELS
from jaxmnist.data.sources import DATASETS
from jaxmnist.errors import closest
from jaxmnist.optim.registry import IMPLEMENTATIONS, OPTIMIZERS, get_spec
from jaxmnist.optim.schedules import SCHEDULES
from jaxmnist.plugins import with_sources
from jaxmnist.results.members import Member, setup_name
from jaxmnist.results.records import RunRecords, read_records
from jaxmnist.sweep import options as opts
from jaxmnist.sweep.options import LearningRates, Option, OptionAxes, option

CLASSIC_ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
CLASSIC_OPTIMIZERS = ("sgd", "minibatch_sgd", "momentum", "adam", "adagrad",
                      "adadelta")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A whole sweep: the grid, the data and where results go (validated
    on construction: ValueError, one line)."""
    # first, so its modules register their names before those are checked
    plugins: tuple[str, ...] = option(
        (), "modules to import first, which register optimizers and "
        "activations of their own (comma list of import paths; "
        "--optimizers MODULE:NAME and --activations MODULE:NAME add theirs)",
        parse=opts.parse_plugins, check=opts.check_plugins,
        metavar="MODULE,MODULE")
    activations: tuple[str, ...] = option(
        CLASSIC_ACTIVATIONS, "activations to compare (comma list of "
        f"{', '.join(ACTIVATIONS)})", metavar="A,B",
        rule=opts.names_of("activation", ACTIVATIONS))
    optimizers: tuple[str, ...] = option(
        CLASSIC_OPTIMIZERS, f"optimizers (comma list of "
        f"{', '.join(OPTIMIZERS)})", metavar="A,B",
        rule=opts.names_of("optimizer", OPTIMIZERS))
    epochs: int = option(10, "passes over the training split",
                         check=opts.at_least(1))
    seeds: int = option(1, "seeds per cell", check=opts.at_least(1))
    seed: int = option(0, "root seed: seed s of every cell uses "
                       "fold_in(key(root), s)", check=opts.at_least(0))
    learning_rates: LearningRates = option(
        (), "learning rates per optimizer, OPT=RATE[,OPT=RATE...]; repeat "
        "OPT for several (TOML: a [learning_rates] table); others use their "
        "default", parse=opts.parse_learning_rates,
        check=opts.check_learning_rates, metavar="OPT=RATE")
    batch_size: int | None = option(
        None, "mini-batch size of every mini-batch optimizer (per-sample "
        "sgd always uses 1)", check=opts.at_least(1), shown="128")
    optimizer_options: OptionAxes = option(
        (), "optimizer hyperparameters, OPT.OPTION=V1[,V2...] ...; several "
        "values train in the same compiled group, chosen per cell on "
        "validation like the rate (TOML: [optimizer_options.OPT] tables)",
        parse=opts.parse_option_axes, check=opts.check_option_axes, nargs="+",
        metavar="OPT.OPTION=V", shown="each optimizer's defaults")
    model: tuple[str, ...] = option(
        ("mlp",), f"model families, comma list of {', '.join(MODELS)} "
        f"(cnn: LeNet-5)", rule=opts.names_of("model", MODELS), metavar="M")
    hidden: tuple[tuple[int, ...], ...] = option(
        ((128, 64),), "MLP hidden widths; several shapes compare them, e.g. "
        "--hidden 128,64 256,128 (TOML: [128, 64] or [[128, 64], [256, 128]])",
        parse=opts.parse_hidden, check=opts.check_hidden, nargs="+",
        metavar="W,W", shown="128,64")
    batch_norm: tuple[bool, ...] = option(
        (False,), "batch-normalise the hidden layers: --batch-norm (on), or "
        "off,on to compare both (TOML: true or [false, true])",
        parse=opts.parse_switch, nargs="?", const="on", metavar="off,on",
        shown="off")
    dropout: tuple[float, ...] = option(
        (0.0,), "dropout rates on the hidden outputs, chosen per cell on "
        "validation (e.g. 0,0.2,0.5)", rule=opts.numbers_of(check_dropout),
        metavar="P,P", shown="0")
    weight_decay: tuple[float, ...] = option(
        (0.0,), "L2 weight decays added to the weights' gradients, chosen "
        "per cell on validation (e.g. 0,1e-4,1e-3)", metavar="L,L",
        shown="0", rule=opts.numbers_of(check_weight_decay))
    dataset: str = option("mnist", f"one of {', '.join(DATASETS)}",
                          check=opts.choice_of("dataset", DATASETS))
    manual_dir: str | None = option(
        None, "folder with the four official IDX gz files, or a parent of "
        "mnist/ and fashion_mnist/", numeric=False, metavar="DIR",
        shown="$JAXMNIST_MANUAL_DIR; else download")
    data_dir: str | None = option(
        None, "where downloads and the array cache go", numeric=False,
        metavar="DIR", shown="$TFDS_DATA_DIR or ~/tensorflow_datasets")
    train_subset: int | None = option(
        None, "train on the first N training images (quick runs)",
        check=opts.at_least(1), metavar="N", shown="all")
    val_size: int = option(5000, "training images held out for validation",
                           check=opts.at_least(0), metavar="N")
    implementation: str = option(
        "ours", "ours (our optimizers) or optax (optax's built-ins)",
        check=opts.choice_of("implementation", IMPLEMENTATIONS))
    schedule: str = option("constant", f"learning-rate schedule, one of "
                           f"{', '.join(SCHEDULES)}",
                           check=opts.choice_of("schedule", SCHEDULES))
    tune_lr: bool = option(
        False, "train a log-spaced grid of learning rates per optimizer and "
        "report the best on validation", toml="tuning.enabled")
    tune_points: int = option(
        5, "learning rates per optimizer when tuning", toml="tuning.points",
        check=opts.at_least(1), metavar="N")
    tune_factor: float = option(
        3.0, "ratio between neighbouring tuned rates", toml="tuning.factor",
        check=opts.check_tune_factor, metavar="X")
    target: float = option(0.97, "validation accuracy for time-to-target",
                           check=opts.check_target)
    dynamics: bool = option(
        True, "compute the learning-dynamics probes (gradient flow, dead "
        "and saturated units, effective steps, sharpness) inside the "
        "compiled groups; they never change the training numbers, but a "
        "run cannot resume under the other setting")
    probe_every: int = option(
        PROBE_EVERY, "with dynamics, run the probe batch's probes (sharpness, "
        "units, histograms) after the first epoch, every N epochs and after "
        "the last", metavar="N", check=opts.at_least(1))
    landscape: bool = option(
        False, "after training, evaluate loss landscapes (off by default: "
        "it costs): every member's straight path from its initial to its "
        "final params, the barriers between the seeds of each cell and "
        "between the best members of each optimizer, and 2-D slices around "
        "the best and the worst cell (landscape.csv, landscape.npz and "
        "three figures)", numeric=False)
    tensorboard: bool = option(
        False, "write TensorBoard event files per member under "
        "RUN/tensorboard/ (every per-epoch metric and probe)", numeric=False)
    keep_checkpoints: bool = option(
        False, "keep RUN/checkpoints/ once the run has finished (they are "
        "what an interrupted run resumes from; a finished run's models and "
        "results hold everything)", numeric=False)
    max_memory: str | None = option(
        None, "most memory one group's compiled program may take per device "
        "(e.g. 4GiB, 512MiB); a larger group trains in chunks of members, "
        "one after another, with the same results",
        parse=opts.parse_size_option, numeric=False, metavar="SIZE",
        shown="half the available RAM on a CPU, 80 percent of an "
        "accelerator's free memory")
    members_per_program: int | None = option(
        None, "train each group in chunks of at most N members, one after "
        "another, with one compiled program", check=opts.at_least(1),
        metavar="N", shown="as many as --max-memory allows")
    shard: str | None = option(
        None, "train shard I of N of the sweep into RUN/shards/I-of-N/ "
        "(then python -m jaxmnist.merge RUN); off: one process whatever the "
        "environment says", parse=opts.parse_shard, numeric=False,
        metavar="I/N", shown="SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT "
        "of a whole array, JOB_COMPLETION_INDEX/JAXMNIST_SHARD_COUNT, else "
        "none")
    compile_cache: str | None = option(
        None, "folder of JAX's persistent compilation cache, where a rerun or "
        "a resume finds its compiled programs; off: compile every program",
        numeric=False, metavar="DIR", shown="$JAXMNIST_COMPILE_CACHE, else "
        "$XDG_CACHE_HOME/jaxmnist/jax (~/.cache/jaxmnist/jax)")
    out: str | None = option(None, "output dir", numeric=False,
                             metavar="DIR", shown="runs/<name or time>")
    name: str | None = option(None, "run name, used for the default --out",
                              numeric=False)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            opt: Option = f.metadata["option"]
            value = getattr(self, f.name)
            opts.check_type(f.name, _HINTS[f.name], value)
            if field_type(f.name) is float and value is not None:
                object.__setattr__(self, f.name, float(value))
            if opt.check is not None:
                opt.check(f.name, value)
            elif opt.parse is not None and value is not None:
                opt.parse(f.name, value)  # valid when it parses
        object.__setattr__(self, "plugins", with_sources(
            self.plugins, self.optimizers, self.activations))

    @property
    def max_memory_bytes(self) -> int | None:
        return (None if self.max_memory is None
                else opts.parse_size(self.max_memory))

    def lrs_for(self, optimizer: str) -> tuple[float, ...]:
        """``optimizer``'s rates: explicit ones, else its default, or with
        ``tune_lr`` ``tune_points`` rates around it ``tune_factor`` apart."""
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

    def options_for(self, optimizer: str):
        """``((option, values), ...)`` the sweep gives ``optimizer``."""
        return dict(self.optimizer_options).get(optimizer, ())

    def groups(self) -> list[GroupSpec]:
        """Every group of the sweep, in order, members seed-major."""
        out = []
        for opt, model in itertools.product(self.optimizers, self.model):
            for hidden in (self.hidden if model == "mlp" else (None,)):
                for bn in self.batch_norm:
                    c = train_config(self, opt, model, hidden, bn)
                    out.append(GroupSpec(
                        setup_name(opt, model, hidden_label(c), bn), c,
                        cells(self, opt), tuple(range(self.seeds)),
                        self.seed))
        return out


FIELDS: dict[str, dataclasses.Field] = {
    f.name: f for f in dataclasses.fields(SweepConfig)}


def declared(name: str) -> Option:
    return FIELDS[name].metadata["option"]


def numeric_fields() -> tuple[str, ...]:
    """The fields whose value changes the numbers."""
    return tuple(n for n in FIELDS if declared(n).numeric)

# --------------------------------------------------------------------------
# Derived from the declarations
# --------------------------------------------------------------------------

_HINTS = typing.get_type_hints(SweepConfig)


def field_type(name: str) -> type:
    """int, float, bool, str or tuple: the field's type without None."""
    return opts.base_type(_HINTS[name])


def coerce(name: str, value: Any) -> Any:
    """A TOML or command-line value of field ``name``, parsed and typed."""
    if name not in FIELDS:
        raise ValueError(f"unknown config key {name!r}"
                         f"{closest(name, list(FIELDS))}; valid keys: "
                         f"{', '.join(FIELDS)}")
    parse = declared(name).parse
    value = parse(name, value) if parse else value
    opts.check_type(name, _HINTS[name], value)
    return float(value) if field_type(name) is float else value


def digest(cfg: SweepConfig) -> str:
    """A hash of the options that change ``cfg``'s numbers: the processes
    and the shards of one sweep have the same."""
    text = json.dumps({n: getattr(cfg, n) for n in numeric_fields()},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(old: SweepConfig, new: SweepConfig) -> list[str]:
    """``"field: old -> new"`` for every numeric field that differs."""
    return [f"{n}: {getattr(old, n)!r} -> {getattr(new, n)!r}"
            for n in numeric_fields() if getattr(old, n) != getattr(new, n)]

# --------------------------------------------------------------------------
# From a config to its groups
# --------------------------------------------------------------------------

class Cell(NamedTuple):
    """One numeric combination of a group: what its members vary."""
    activation: str
    learning_rate: float
    dropout: float = 0.0
    weight_decay: float = 0.0
    options: tuple[tuple[str, float], ...] = ()  # every option the sweep set

    def hparams(self, vmapped: tuple[str, ...]) -> HParams:
        return make_hparams(self.activation, self.learning_rate, self.dropout,
                            self.weight_decay,
                            {k: v for k, v in self.options if k in vmapped})


def options_label(options: tuple[tuple[str, float], ...]) -> str:
    """``"b2=0.99;eps=1e-06"`` (sorted by name), ``""`` for none."""
    return ";".join(f"{k}={v:g}" for k, v in sorted(options))


def hidden_label(config: TrainConfig) -> str:
    if config.model != "mlp":
        return "lenet5"
    return "x".join(str(w) for w in config.sizes[1:-1])


class GroupSpec(NamedTuple):
    """What one group trains: its ``cells``, each with every seed number in
    ``seeds``; seed ``s`` uses ``member_key(root_seed, s)``."""
    name: str  # the optimizer, plus its structure's suffixes
    config: TrainConfig
    cells: tuple[Cell, ...]
    seeds: tuple[int, ...]
    root_seed: int

    @property
    def members(self) -> list[Member]:
        """Seed-major: member ``s * len(cells) + c``."""
        c = self.config
        return [Member(c.optimizer, cell.activation, cell.learning_rate, seed,
                       c.model, hidden_label(c), c.batch_norm, cell.dropout,
                       cell.weight_decay, options_label(cell.options))
                for seed in self.seeds for cell in self.cells]


DEFAULT_HIDDEN = DEFAULT_SIZES[1:-1]


def train_config(cfg: SweepConfig, optimizer: str, model: str = "mlp",
                 hidden: tuple[int, ...] | None = DEFAULT_HIDDEN,
                 batch_norm: bool = False) -> TrainConfig:
    """The static config a group compiles: an optimizer option with one
    value is a constant, with several vmapped; dropout and weight decay
    compile only when some member uses them."""
    options = cfg.options_for(optimizer)
    return TrainConfig(
        optimizer=optimizer, epochs=cfg.epochs,
        batch_size=cfg.batch_size_for(optimizer),
        sizes=(784, *(hidden or DEFAULT_HIDDEN), 10),
        implementation=cfg.implementation, schedule=cfg.schedule,
        optimizer_options=tuple((k, v[0]) for k, v in options
                                if len(v) == 1),
        activations=cfg.activations, dynamics=cfg.dynamics,
        probe_every=cfg.probe_every, model=model,
        batch_norm=batch_norm, dropout=any(d > 0 for d in cfg.dropout),
        weight_decay=any(w > 0 for w in cfg.weight_decay),
        vmapped_options=tuple(k for k, v in options if len(v) > 1))


def cells(cfg: SweepConfig, optimizer: str) -> tuple[Cell, ...]:
    """Every numeric combination of ``optimizer``'s group."""
    options = cfg.options_for(optimizer)
    names = [k for k, _ in options]
    combos = list(itertools.product(*(v for _, v in options)))
    return tuple(Cell(act, lr, d, w, tuple(zip(names, combo)))
                 for act in cfg.activations for lr in cfg.lrs_for(optimizer)
                 for d in cfg.dropout for w in cfg.weight_decay
                 for combo in combos)


# --------------------------------------------------------------------------
# TOML files
# --------------------------------------------------------------------------

def read_toml(path: str | Path) -> dict[str, Any]:
    """A sweep TOML file's options, parsed and checked (a ValueError names
    the file)."""
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
    try:
        return _read_values(raw)
    except ValueError as e:
        raise ValueError(f"config file {str(p)!r}: {e}") from e


def read_run(run_dir: str | Path) -> RunRecords:
    """A finished run dir's records, its config a SweepConfig (ValueError,
    one line, when it is none or a file in it is damaged)."""
    return read_records(run_dir, lambda p: SweepConfig(**read_toml(p)))


def _read_values(raw: dict[str, Any]) -> dict[str, Any]:
    by_key = {declared(n).toml or n: n for n in FIELDS}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        keys = [k.split(".", 1)[1] for k in by_key if k.startswith(f"{key}.")]
        items = [(key, value)]
        if keys:  # a table of options: [tuning]
            if not isinstance(value, dict):
                raise ValueError(f"[{key}] must be a table, got {value!r}")
            bad = [k for k in value if k not in keys][:1]
            if bad:
                raise ValueError(f"unknown [{key}] key {bad[0]!r}"
                                 f"{closest(bad[0], keys)}; valid keys: "
                                 f"{', '.join(keys)}")
            items = [(f"{key}.{k}", v) for k, v in value.items()]
        for k, v in items:
            values[by_key.get(k, k)] = coerce(by_key.get(k, k), v)
    return values


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
        elif name == "optimizer_options":  # a table per optimizer
            for opt, options in value:
                tables[f"optimizer_options.{opt}"] = [
                    f"{k} = {_fmt(list(v))}" for k, v in options]
        elif "." in key:
            table, sub = key.split(".", 1)
            tables.setdefault(table, []).append(f"{sub} = {_fmt(value)}")
        elif value is not None:
            top.append(f"{key} = {_fmt(value)}")
    for table, lines in tables.items():
        top += ["", f"[{table}]", *lines]
    return "\n".join(top) + "\n"
