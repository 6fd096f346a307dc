"""The run's results as typed records, and the one place they meet files.

Every output table has one record type; its fields, in order, are the CSV
columns, and their annotations say how a cell is written and read back
(``None`` is an empty cell, ``bool`` is ``True``/``False``). A sweep builds
the records in memory and hands them to the writers and the figures;
``python -m jaxmnist.plot`` reads the same records back through
:func:`read_records` (``sweep.config.read_run`` gives it the
run's config).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from jaxmnist import files
from jaxmnist.plugins import PluginError
from jaxmnist.results.members import (
    CellHead,
    KeyTail,
    Member,
    MemberHead,
    Record,
    member_of,
    setup_name,
)

#: What a run dir holds from this module.
RESULT_FILES = ("results.csv", "cells.csv", "history.csv", "results.json",
                "dynamics.csv", "dynamics.npz")


class RunConfig(Protocol):
    """What the readers of a run's records use of its config: its sweep's
    ``SweepConfig``, built by ``sweep/`` (``results/`` and ``report/`` do
    not import it), where the data came from included."""

    @property
    def name(self) -> str | None: ...
    @property
    def dataset(self) -> str: ...
    @property
    def train_subset(self) -> int | None: ...
    @property
    def val_size(self) -> int: ...
    @property
    def optimizers(self) -> tuple[str, ...]: ...
    @property
    def activations(self) -> tuple[str, ...]: ...
    @property
    def learning_rates(self) -> Any: ...
    @property
    def model(self) -> tuple[str, ...]: ...
    @property
    def hidden(self) -> tuple[tuple[int, ...], ...]: ...
    @property
    def batch_norm(self) -> tuple[bool, ...]: ...
    @property
    def dropout(self) -> tuple[float, ...]: ...
    @property
    def weight_decay(self) -> tuple[float, ...]: ...
    @property
    def implementation(self) -> str: ...
    @property
    def schedule(self) -> str: ...
    @property
    def epochs(self) -> int: ...
    @property
    def seeds(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def target(self) -> float: ...
    @property
    def manual_dir(self) -> str | None: ...
    @property
    def data_dir(self) -> str | None: ...

    def groups(self) -> Sequence[Any]:
        """The run's groups (each with a ``name`` and a ``config``)."""
        ...


def setup_label(row) -> str:
    """The name of the row's group (see :func:`.members.setup_name`)."""
    return setup_name(row.optimizer, row.model, row.hidden, row.batch_norm)


@dataclass(frozen=True, order=True)
class _MemberValues(Record):
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    train_loss: float
    val_loss: float
    test_loss: float
    epochs_to_best_val: int
    diverged_epoch: int | None
    target_epoch: int | None
    target_steps: int | None
    target_seconds: float | None
    seconds: float


@dataclass(frozen=True, order=True)
class MemberResult(KeyTail, _MemberValues, MemberHead):
    """results.csv: one trained member's final-epoch figures.

    ``seconds`` is the wall time of the member's whole vmapped group
    (compilation included). ``epochs_to_best_val`` is the 1-based epoch of
    the best validation accuracy (0 when it was never finite);
    ``diverged_epoch`` the 1-based epoch in which the training loss first
    became non-finite; ``target_*`` when validation accuracy first reached
    the sweep's target (see :func:`.rows.time_to_target`).
    """

    @property
    def diverged(self) -> bool:
        return self.diverged_epoch is not None

    @property
    def name(self) -> str:
        """``setup/activation/seed`` (``adam/relu/0``, ``adam-bn/relu/0``),
        as ``--member`` takes it."""
        return f"{self.setup}/{self.activation}/{self.seed}"

    @property
    def setup(self) -> str:
        """The optimizer and its structure: the group's name."""
        return setup_label(self)

    @property
    def member(self) -> Member:
        return member_of(self)


@dataclass(frozen=True, order=True)
class _HistoryValues(Record):
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    test_loss: float
    test_accuracy: float
    diverged: bool


@dataclass(frozen=True, order=True)
class HistoryRow(KeyTail, _HistoryValues, MemberHead):
    """history.csv: one member's metrics after one epoch."""


@dataclass(frozen=True, order=True)
class _CellValues(Record):
    chosen: bool
    seeds: int
    diverged: int
    val_mean: float
    val_std: float
    val_ci95: float
    test_mean: float
    test_std: float
    test_ci95: float
    reached_target: int
    target_epoch_mean: float | None
    target_seconds_mean: float | None


@dataclass(frozen=True, order=True)
class CellResult(KeyTail, _CellValues, CellHead):
    """cells.csv: one (optimizer, activation, learning rate) over its seeds.

    Diverged seeds are left out of every statistic; ``*_ci95`` is the
    half-width of the 95% Student-t interval (NaN for one seed); ``chosen``
    marks the learning rate with the best mean validation accuracy of its
    (optimizer, activation).
    """

    @property
    def setup(self) -> str:
        """The optimizer and its structure: the group's name."""
        return setup_label(self)

    @property
    def finite(self) -> int:
        """Seeds that did not diverge (those the statistics cover)."""
        return self.seeds - self.diverged


@dataclass(frozen=True, order=True)
class _DynamicsValues(Record):
    epoch: int
    layer: int | None
    quantity: str
    value: float


@dataclass(frozen=True, order=True)
class DynamicsRow(KeyTail, _DynamicsValues, MemberHead):
    """dynamics.csv: one probe of one member after one epoch, long format.

    ``layer`` numbers the weight layers (grad_norm, update_ratio,
    weight_norm) or the hidden layers (dead_fraction, saturated_fraction,
    inactive_fraction, mean_gate) from 1, input side first; it is empty for
    the whole-model quantities (sharpness, preconditioned_sharpness).
    ``saturated_fraction`` (a flat tail: sigmoid, tanh) has no rows for the
    ReLU-like activations, ``inactive_fraction`` (the off side, z <= 0)
    none for the saturating ones, ``preconditioned_sharpness`` none for an
    optimizer without a diagonal preconditioner, and the probe batch's
    quantities none for the epochs between probes (``probe_every``)."""


class RunRecords(NamedTuple):
    """Everything a finished run's figures and summary are drawn from."""
    config: RunConfig
    members: list[MemberResult]
    cells: list[CellResult]
    history: list[HistoryRow]
    meta: dict[str, Any]  # device, data load and group timings
    dynamics: list[DynamicsRow] = []
    # dynamics.npz: "members" (each a JSON list of the Member fields),
    # "hist_edges" and rows.DYNAMICS_ARRAYS, each [members, epochs, ...];
    # None without probes
    dynamics_arrays: dict[str, np.ndarray] | None = None


# --------------------------------------------------------------------------
# Records <-> CSV and JSON
# --------------------------------------------------------------------------

def _cell(value) -> Any:
    return "" if value is None else value


def _parse(kind, text: str):
    """A CSV cell back to the type its annotation names."""
    optional = typing.get_origin(kind) in (typing.Union, type(int | None)) \
        and type(None) in typing.get_args(kind)
    if optional:
        if text == "":
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if kind is bool:
        if text not in ("True", "False"):
            raise ValueError(f"expected True or False, got {text!r}")
        return text == "True"
    return kind(text)


def write_csv(path: Path, records: Sequence[Any], kind: type) -> None:
    """``records`` of type ``kind`` as a CSV file, written atomically."""
    files.write_csv(path, kind._fields,
                    ({k: _cell(v) for k, v in r._asdict().items()}
                     for r in records))


def _required(kind: type) -> set[str]:
    """The fields of a record type (a dataclass or a NamedTuple) that have
    no default: the columns a file must hold."""
    if dataclasses.is_dataclass(kind):
        return {f.name for f in dataclasses.fields(kind)
                if f.default is dataclasses.MISSING}
    return set(kind._fields) - set(kind._field_defaults)


def read_csv(path: Path, kind: type) -> list:
    """The records of type ``kind`` in the CSV file ``path``.

    Raises:
      ValueError: a column is missing or a cell does not parse.
    """
    hints = typing.get_type_hints(kind)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        present = set(reader.fieldnames or ())
        missing = _required(kind) - present
        if missing:
            raise ValueError(f"{str(path)!r} lacks the column(s) "
                             f"{', '.join(sorted(missing))}")
        return [kind(**{k: _parse(hints[k], row[k]) for k in kind._fields
                        if k in present}) for row in reader]


def write_results(out: Path, run: RunRecords) -> None:
    """results.csv, cells.csv, history.csv, results.json and, with probes,
    dynamics.csv and dynamics.npz; each written atomically."""
    write_csv(out / "results.csv", run.members, MemberResult)
    write_csv(out / "cells.csv", run.cells, CellResult)
    write_csv(out / "history.csv", run.history, HistoryRow)
    files.write_json(out / "results.json", {
        **run.meta, "results": [m._asdict() for m in run.members]})
    if run.dynamics_arrays is not None:
        write_csv(out / "dynamics.csv", run.dynamics, DynamicsRow)
        buf = io.BytesIO()
        arrays: dict[str, Any] = dict(run.dynamics_arrays)
        np.savez_compressed(buf, **arrays)
        files.write_bytes(out / "dynamics.npz", buf.getvalue())


def read_records(run_dir: str | Path,
                 read_config: Callable[[Path], RunConfig]) -> RunRecords:
    """The records of a finished run directory; ``read_config`` reads its
    ``config.toml`` (``sweep/``'s reader: ``sweep.config.read_run``
    passes it).

    Raises:
      ValueError: (one line) it is not a finished run dir, or a file in it
        is damaged.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise ValueError(f"run dir {str(run)!r} does not exist" if not
                         run.exists() else f"{str(run)!r} is a file, not a "
                         f"run dir")
    need = ("config.toml", "results.csv", "cells.csv", "history.csv")
    missing = [n for n in need if not (run / n).is_file()]
    if missing:
        raise ValueError(f"{str(run)!r} is not a finished run dir (missing "
                         f"{', '.join(missing)})")
    try:
        meta = (json.loads((run / "results.json").read_text())
                if (run / "results.json").is_file() else {})
        meta.pop("results", None)
        dyn, arrays = [], None
        if (run / "dynamics.npz").is_file():
            dyn = read_csv(run / "dynamics.csv", DynamicsRow)
            with np.load(run / "dynamics.npz") as f:
                arrays = {k: f[k] for k in f.files}
        return RunRecords(read_config(run / "config.toml"),
                          read_csv(run / "results.csv", MemberResult),
                          read_csv(run / "cells.csv", CellResult),
                          read_csv(run / "history.csv", HistoryRow), meta,
                          dyn, arrays)
    except PluginError:  # the run's own plugin module, not a damaged file
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"run dir {str(run)!r} has a damaged file "
                         f"({type(e).__name__}: {e})") from e
