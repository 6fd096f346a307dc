"""What a group is: its cells, its members, its spec; its checkpoint.

A :class:`GroupSpec` names a group's members (cells x seeds, seed-major);
what training them gives is a :class:`~jaxmnist.results.members.GroupResult`
(its :class:`~jaxmnist.results.members.Member` key and
:func:`~jaxmnist.results.members.setup_name` live in ``results/`` too, and
are re-exported here), and :func:`to_arrays` / :func:`from_arrays` turn it
into a finished group's checkpoint and back.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from jaxmnist.core.config import HParams, TrainConfig, make_hparams
from jaxmnist.core.dynamics import Dynamics
from jaxmnist.core.train import Metrics
from jaxmnist.results.members import GroupResult, Member, setup_name

__all__ = ["Cell", "GroupResult", "GroupSpec", "Member", "from_arrays",
           "hidden_label", "options_label", "setup_name", "to_arrays"]


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


def to_arrays(group: GroupResult) -> tuple[dict, dict]:
    """A finished group as (arrays, JSON metadata) for its checkpoint."""
    leaves = {f"param{i}": x for i, x in enumerate(jax.tree.leaves(
        (group.params, group.stats)))}
    arrays = {**{f"history_{f}": getattr(group.history, f)
                 for f in Metrics._fields}, **leaves,
              **{f"dynamics_{f}": getattr(group.dynamics, f)
                 for f in Dynamics._fields if group.dynamics is not None},
              "epoch_seconds": np.asarray(group.epoch_seconds)}
    meta = {"members": [list(m) for m in group.members],
            "seconds": group.seconds, "compile_seconds": group.compile_seconds,
            "steps_per_epoch": group.steps_per_epoch}
    return arrays, meta


def from_arrays(arrays: dict, meta: dict, state_like) -> GroupResult:
    like = (state_like.params, state_like.stats)
    leaves = [arrays[f"param{i}"] for i in range(len(jax.tree.leaves(like)))]
    params, stats = jax.tree.unflatten(jax.tree.structure(like), leaves)
    return GroupResult(
        [Member(*m) for m in meta["members"]],
        Metrics(*(arrays[f"history_{f}"] for f in Metrics._fields)),
        params, meta["seconds"], meta["compile_seconds"],
        [float(t) for t in arrays["epoch_seconds"]], meta["steps_per_epoch"],
        _dynamics(arrays), stats)


def _dynamics(arrays) -> Dynamics | None:
    """A checkpoint's probes (None without); a field the checkpoint
    predates (``inactive_fraction``) reads as NaN, not applicable."""
    if "dynamics_sharpness" not in arrays:
        return None
    blank = np.full_like(arrays["dynamics_dead_fraction"], np.nan)
    return Dynamics(*(arrays[f"dynamics_{f}"] if f"dynamics_{f}" in arrays
                      else blank for f in Dynamics._fields))
