"""Who a member is and what a trained group gives, as plain data.

:class:`Member` is the member key: the one declaration of the columns that
say which member a row of every result table belongs to. It is made of two
parts, :class:`MemberHead` (the classic four; :class:`CellHead` without the
seed) and :class:`KeyTail` (structure and hyperparameters), and every record
type of :mod:`.records` is composed of them around its own values, so its
columns keep their order. A :class:`GroupResult` holds what training a
group gave, as arrays with a leading member axis; ``sweep/`` builds it and
the records are made from it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Self

if TYPE_CHECKING:
    from jaxmnist.core.dynamics import Dynamics
    from jaxmnist.core.train import Metrics

#: The directory of a run dir that holds its saved models.
MODELS_DIR = "models"


class _Columns:
    """A record type's field names, in column order (``Type._fields``)."""

    def __get__(self, record: object, kind: type) -> tuple[str, ...]:
        return _columns(kind)


def _columns(kind: type) -> tuple[str, ...]:
    return _COLUMNS.get(kind) or _COLUMNS.setdefault(
        kind, tuple(f.name for f in dataclasses.fields(kind)))


_COLUMNS: dict[type, tuple[str, ...]] = {}


class Record:
    """What every record type shares: the interface of a NamedTuple
    (``_fields``, ``_asdict``, ``_replace``, iteration in column order) on a
    frozen dataclass, so record types can be composed of parts."""

    _fields = _Columns()
    if TYPE_CHECKING:  # every subclass is a dataclass
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def _asdict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self._fields}

    def _replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    def __iter__(self) -> Iterator[Any]:
        return (getattr(self, f) for f in self._fields)


@dataclass(frozen=True, order=True)
class CellHead(Record):
    """The key's leading columns that name a cell."""
    optimizer: str
    activation: str
    learning_rate: float


@dataclass(frozen=True, order=True)
class MemberHead(CellHead):
    """The key's leading columns that name a member: the classic four."""
    seed: int


@dataclass(frozen=True, order=True)
class KeyTail(Record):
    """The key's closing columns: the structure and the other
    hyperparameters (defaults: the classic grid's, so older files that lack
    these columns read as it)."""
    model: str = "mlp"
    hidden: str = "128x64"  # the MLP's hidden widths; "lenet5" for the CNN
    batch_norm: bool = False
    dropout: float = 0.0
    weight_decay: float = 0.0
    optimizer_options: str = ""  # "b2=0.99;eps=1e-06": those the sweep set


@dataclass(frozen=True, order=True)
class Member(KeyTail, MemberHead):
    """Who a member is: the key columns of every result table, the classic
    four first (:class:`MemberHead`), then the structure and the other
    hyperparameters (:class:`KeyTail`).

    A record type is composed as ``Row(KeyTail, RowValues, MemberHead)``
    (or ``CellHead`` for a cell): dataclass fields follow the bases in
    reverse order, so its columns are the head, its values, the tail."""


def member_of(row: Any) -> Member:
    """The member a row (any record with the key's fields) belongs to."""
    return Member(*(getattr(row, f) for f in Member._fields))


def setup_name(optimizer: str, model: str, hidden: str,
               batch_norm: bool) -> str:
    """A group's name: the optimizer plus ``-cnn``, ``-h<widths>`` (a hidden
    shape other than the classic ``128x64``) and ``-bn``, so the classic
    grid's groups keep their optimizers' names."""
    name = optimizer
    if model != "mlp":
        name += f"-{model}"
    elif hidden != "128x64":
        name += f"-h{hidden}"
    return name + ("-bn" if batch_norm else "")


def member_path(run_dir: str | Path, member: Any) -> Path:
    """``<run>/models/<group>/<activation>/lr<lr>[-do<p>][-wd<l>]
    [-<options>]-seed<seed>`` for a member (a ``Member`` or a result row):
    the classic grid's paths are ``models/<optimizer>/<act>/lr<lr>-seed<s>``.
    """
    m = member
    parts = [f"lr{m.learning_rate:g}"]
    if m.dropout:
        parts.append(f"do{m.dropout:g}")
    if m.weight_decay:
        parts.append(f"wd{m.weight_decay:g}")
    if m.optimizer_options:
        parts.append(m.optimizer_options.replace(";", "-"))
    name = re.sub(r"[^0-9a-zA-Z.+=-]", "_", "-".join(parts))
    group = setup_name(m.optimizer, m.model, m.hidden, m.batch_norm)
    return Path(run_dir) / MODELS_DIR / group / m.activation / \
        f"{name}-seed{m.seed}"


class GroupResult(NamedTuple):
    """What training one group gave, each array with a leading member
    axis in the order of ``members``."""
    members: list[Member]
    history: Metrics  # numpy, each field [members, epochs]
    params: list  # host params pytree with a leading member axis
    seconds: float  # wall time of the group (its compile, or the wait for
    # it when it compiled while the group before trained)
    compile_seconds: float  # tracing + compiling its programs
    epoch_seconds: list[float]  # wall time of each epoch (compile excluded)
    steps_per_epoch: int
    dynamics: Dynamics | None = None  # numpy, each field [members, epochs, ...]
    stats: list | None = None  # batch-norm running statistics, [member, ...]
