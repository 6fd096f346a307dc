"""TensorBoard event files of a run, written with tensorboardX (no TensorFlow).

Each member gets one directory, ``<run>/tensorboard/<group>/<activation>/
lr<lr>[...]-seed<seed>/`` (the same names as its saved model under
``models/``), so ``tensorboard --logdir <run>/tensorboard`` (or a parent of
several runs) shows one line per member. Tags are ``accuracy/train``,
``accuracy/val``, ``loss/test``, ... (history.csv's ``<split>_<metric>``
columns), ``diverged`` (0 or 1), plus extra scalars such as the dynamics
probes (``dynamics/grad_norm/layer1``, ...); step = epoch.

Each member's directory is also one session of the HParams dashboard: its
hyperparameters (the fields of its :class:`~jaxmnist.results.members.Member`:
optimizer, activation, learning rate, seed, model, hidden, batch norm,
dropout, weight decay, optimizer options) and, as its metrics, the last
values of its :data:`METRICS` tags, the final epoch's figures. The run's
``tensorboard/`` directory itself holds the experiment: which
hyperparameters and metrics the dashboard's table and parallel-coordinates
view show.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxmnist.results.members import (
    MODELS_DIR,
    Member,
    member_of,
    member_path,
)
from jaxmnist.results.records import HistoryRow

#: What a run dir holds from this module.
TENSORBOARD_DIR = "tensorboard"
#: The HParams dashboard's metrics: each member's last value of these tags.
METRICS = ("accuracy/val", "accuracy/test", "accuracy/train", "loss/val",
           "loss/test", "loss/train", "diverged")
_KEY_FIELDS = Member._fields

ExtraScalars = Mapping[str, Sequence[tuple[int, float]]]

#: Who a member is: a MemberResult, HistoryRow or Member (anything with
#: the fields of :class:`jaxmnist.results.members.Member`).
MemberKey = Any


def member_dir(run_dir: str | Path, member: MemberKey) -> Path:
    """``<run>/tensorboard/<group>/<activation>/lr<lr>[...]-seed<seed>``."""
    model = member_path(run_dir, member)
    return Path(run_dir) / TENSORBOARD_DIR / model.relative_to(
        Path(run_dir) / MODELS_DIR)


def history_tag(column: str) -> str:
    """history.csv's ``val_accuracy`` -> ``accuracy/val``; others as named."""
    split, _, metric = column.partition("_")
    return f"{metric}/{split}" if split in ("train", "val", "test") \
        and metric else column


def history_scalars(rows: Iterable[HistoryRow]
                    ) -> dict[int, list[tuple[str, float]]]:
    """epoch -> [(tag, value)] of every per-epoch metric in ``rows``."""
    columns = [f for f in HistoryRow._fields
               if f not in (*_KEY_FIELDS, "epoch")]
    return {r.epoch: [(history_tag(c), float(getattr(r, c)))
                      for c in columns] for r in rows}


def hparams(member: MemberKey) -> dict[str, Any]:
    """The member's hyperparameters as the HParams dashboard shows them."""
    return {f: getattr(member, f) for f in _KEY_FIELDS}


def write_member_events(run_dir: str | Path, member_key: MemberKey,
                        history_rows: Iterable[HistoryRow],
                        extra_scalars: ExtraScalars | None = None,
                        wall_time: float | None = None) -> Path:
    """Write one member's event file; return its path.

    Args:
      run_dir: the run directory; the file goes under :func:`member_dir`.
      member_key: who (the fields of a ``Member``); its hyperparameters
        open the file as an HParams session.
      history_rows: history.csv's rows; those of other members are skipped.
        Every metric column becomes a tag at step = epoch.
      extra_scalars: more series, ``{tag: [(step, value), ...]}`` (e.g.
        per-epoch dynamics quantities), merged into the same steps.
      wall_time: the events' time stamp (default: now).

    The member's older event files are removed first, so writing again
    (a resumed sweep, ``plot --tensorboard``) never duplicates steps.
    """
    from tensorboardX.summary import hparams as hparams_summaries  # noqa: PLC0415

    key = member_of(member_key)
    mine = [r for r in history_rows if member_of(r) == key]
    by_step: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for step, values in history_scalars(mine).items():
        by_step[step] += values
    for tag, series in (extra_scalars or {}).items():
        for step, value in series:
            by_step[int(step)].append((tag, float(value)))
    now = time.time() if wall_time is None else wall_time
    _, start, end = hparams_summaries(hparams(member_key),
                                      dict.fromkeys(METRICS, 0.0))

    def write(writer) -> None:
        writer.add_summary(start, 0, now)
        for step in sorted(by_step):
            writer.add_summary(_scalars(by_step[step]), step, now)
        writer.add_summary(end, max(by_step, default=0), now)

    return _write_events(member_dir(run_dir, member_key), write)


def _scalars(values: Sequence[tuple[str, float]]) -> Any:
    """One ``Summary`` protobuf of ``(tag, value)`` pairs, a NaN kept as
    it is (a diverged member's loss)."""
    from tensorboardX.proto import summary_pb2  # noqa: PLC0415

    proto: Any = summary_pb2  # generated at import: no names to check
    return proto.Summary(value=[proto.Summary.Value(tag=t, simple_value=v)
                                for t, v in values])


def write_experiment(run_dir: str | Path) -> Path:
    """``<run>/tensorboard/``'s event file naming the HParams experiment:
    every :func:`hparams` field and the :data:`METRICS`."""
    from tensorboardX.summary import hparams as hparams_summaries  # noqa: PLC0415

    example = Member("", "", 0.0, 0)
    experiment, _, _ = hparams_summaries(hparams(example),
                                         dict.fromkeys(METRICS, 0.0))
    return _write_events(Path(run_dir) / TENSORBOARD_DIR,
                         lambda w: w.add_summary(experiment))


def _write_events(out: Path, write) -> Path:
    """Run ``write(FileWriter)`` into a fresh event file that replaces the
    event files directly in ``out``: written in a temporary directory and
    renamed into place, so a reader never sees half a file."""
    from tensorboardX import FileWriter  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".events-", dir=out))
    try:
        writer = FileWriter(str(staging))
        try:
            write(writer)
        finally:
            writer.close()
        (written,) = staging.glob("events.out.tfevents.*")
        for old in out.glob("events.out.tfevents.*"):
            old.unlink()
        path = out / written.name
        os.replace(written, path)
        return path
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def dynamics_scalars(rows: Iterable) -> dict[Member, dict[str, list]]:
    """dynamics.csv's rows (DynamicsRow) as ``extra_scalars`` per member:
    Member -> {``dynamics/<quantity>[/layer<l>]``: [(epoch, value), ...]}."""
    out: dict[Member, dict[str, list]] = defaultdict(
        lambda: defaultdict(list))
    for r in rows:
        layer = "" if r.layer is None else f"/layer{r.layer}"
        out[member_of(r)][
            f"dynamics/{r.quantity}{layer}"].append((r.epoch, r.value))
    return {k: dict(v) for k, v in out.items()}


def write_run_events(run_dir: str | Path, history: Sequence[HistoryRow],
                     extra_scalars: Mapping[Member, ExtraScalars] | None = None
                     ) -> list[Path]:
    """:func:`write_member_events` for every member in ``history`` and the
    run's :func:`write_experiment`; ``extra_scalars`` maps a Member to its
    extra series (:func:`dynamics_scalars`)."""
    rows: dict[Member, list[HistoryRow]] = defaultdict(list)
    for r in history:
        rows[member_of(r)].append(r)
    paths = [write_member_events(run_dir, mine[0], mine,
                                 (extra_scalars or {}).get(key))
             for key, mine in rows.items()]
    if paths:
        write_experiment(run_dir)
    return paths
