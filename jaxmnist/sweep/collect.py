"""A run's records as its groups finish: models saved, result files written.

:class:`Results` is where every trained (or, for a sharded sweep, merged)
group goes: its members' records are added to the run's, each member's
model is saved, the result tables and TensorBoard events are rewritten, and
the best member so far is kept for its predictions. A sweep adds its groups
as they train (:mod:`.run`), the merge of a sharded sweep as it reads them
back from the shards (:mod:`.merge`): the same files either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from jaxmnist import __version__
from jaxmnist.core.activations import activation_index
from jaxmnist.plugins import source_modules
from jaxmnist.report import tensorboard
from jaxmnist.results import records, stats
from jaxmnist.results.members import (
    GroupResult,
    Member,
    member_path,
    setup_name,
)
from jaxmnist.results.records import MemberResult, RunRecords
from jaxmnist.sweep import store
from jaxmnist.sweep.cluster import cluster
from jaxmnist.sweep.config import GroupSpec, SweepConfig


def model_metadata(cfg: SweepConfig, spec: GroupSpec,
                   m: MemberResult) -> dict:
    """What a saved model needs to be run and described again."""
    keys = set(Member._fields)
    return {**{k: v for k, v in m._asdict().items() if k in keys},
            "dataset": cfg.dataset, "sizes": list(spec.config.sizes),
            "activation_index": activation_index(m.activation),
            "implementation": cfg.implementation, "root_seed": cfg.seed,
            "epochs": cfg.epochs, "batch_size": spec.config.batch_size,
            "schedule": cfg.schedule, "val_size": cfg.val_size,
            "plugins": list(source_modules((m.optimizer,), (m.activation,))),
            "metrics": {k: v for k, v in m._asdict().items()
                        if k not in keys},
            "jaxmnist_version": __version__}


def member_params(group: GroupResult, i: int) -> list:
    """Member ``i``'s parameters from a group's stacked parameters, with
    its batch-norm running statistics stored in them."""
    take = lambda tree: jax.tree.map(lambda x: np.asarray(x[i]), tree)
    return store.with_running_stats(take(group.params), take(group.stats))


def save_models(cfg: SweepConfig, out: Path, spec: GroupSpec,
                group: GroupResult, members: list[MemberResult]) -> None:
    """Each process saves its share: members ``i`` with
    ``i * process_count // len(members) == process_index``."""
    n, me = cluster.size, cluster.index
    store.save_models([(member_path(out, m), member_params(group, i),
                        model_metadata(cfg, spec, m))
                       for i, m in enumerate(members)
                       if i * n // len(members) == me])


class _Best(NamedTuple):
    member: MemberResult
    params: list


def _better(best: _Best | None, group: GroupResult,
            members: list[MemberResult]) -> _Best | None:
    """The best member by validation accuracy so far (the first of equals)."""
    champion = stats.best_member(members)
    if champion is None or (best is not None and champion.val_accuracy
                            <= best.member.val_accuracy):
        return best
    return _Best(champion, member_params(group, members.index(champion)))


class Results:
    """A run's records, group by group: each group's models saved and the
    result files rewritten as it is added (a killed sweep keeps what
    finished); the best member's parameters kept for its predictions."""

    def __init__(self, cfg: SweepConfig, out: Path):
        self.cfg, self.out = cfg, out
        self.run = RunRecords(cfg, [], [], [], {})
        self.light: list[GroupResult] = []  # without their params
        self.best: _Best | None = None

    def add(self, spec: GroupSpec, group: GroupResult, meta: dict) -> None:
        """Add a finished group; ``meta``: results.json's run fields."""
        members = records.member_results(group, self.cfg.target)
        save_models(self.cfg, self.out, spec, group, members)
        self.light.append(group._replace(params=[]))
        self.run = _add_group(self.run, group, members, self.light, meta)
        if cluster.main:  # process 0 writes the results
            records.write_results(self.out, self.run)
            if self.cfg.tensorboard:
                tensorboard.write_run_events(
                    self.out, records.history_rows(group),
                    tensorboard.dynamics_scalars(
                        records.dynamics_rows(group)))
        self.best = _better(self.best, group, members)


def _add_group(run: RunRecords, group: GroupResult,
               members: list[MemberResult], light: list[GroupResult],
               meta: dict) -> RunRecords:
    all_members = run.members + members
    timing = {"group": setup_name(*(getattr(group.members[0], k) for k in (
        "optimizer", "model", "hidden", "batch_norm"))),
              "optimizer": group.members[0].optimizer,
              "members": len(group.members),
              "seconds": round(group.seconds, 3),
              "compile_seconds": round(group.compile_seconds, 3),
              "epoch_seconds": round(sum(group.epoch_seconds), 3)}
    return run._replace(
        members=all_members, cells=stats.cell_results(all_members),
        history=run.history + records.history_rows(group),
        meta={**meta, "groups": [*run.meta.get("groups", []), timing]},
        dynamics=run.dynamics + records.dynamics_rows(group),
        dynamics_arrays=records.dynamics_arrays(light))
