"""One vmapped group: every member of one optimizer, trained at once.

A group is a :class:`GroupSpec` (a static :class:`TrainConfig` and its
members: cells of activation x learning rate, times seeds). It trains with
the same ``init`` and ``epoch`` functions that ``make_train`` scans over,
vmapped over seeds (outer) and cells (inner), compiled once; Python drives
the epochs so the host is touched once per epoch (progress, checkpoints).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxmnist.core.config import (
    HParams,
    TrainConfig,
    make_hparams,
    stack_hparams,
)
from jaxmnist.core.dynamics import Dynamics, combine
from jaxmnist.core.train import (
    Metrics,
    epoch_key,
    make_epoch,
    make_init,
    member_key,
    steps_per_epoch,
)
from jaxmnist.data.dataset import Dataset
from jaxmnist.errors import Interrupted, StopRequest
from jaxmnist.sweep import checkpoints, sharding
from jaxmnist.sweep.pipeline import epoch_view, join, run_epochs, split
from jaxmnist.sweep.probes import ProbePrograms, by_cell, probe_program
from jaxmnist.sweep.progress import RunBar

AXIS_NAMES = ("seeds", "cells")  # the group's vmap axes, outer first


class Member(NamedTuple):
    """Who a member is; the key columns of every result table (the classic
    four first, then the structure and the other hyperparameters)."""
    optimizer: str
    activation: str
    learning_rate: float
    seed: int
    model: str = "mlp"
    hidden: str = "128x64"  # the MLP's hidden widths; "lenet5" for the CNN
    batch_norm: bool = False
    dropout: float = 0.0
    weight_decay: float = 0.0
    optimizer_options: str = ""  # "b2=0.99;eps=1e-06": those the sweep set


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


class GroupResult(NamedTuple):
    members: list[Member]
    history: Metrics  # numpy, each field [members, epochs]
    params: list  # host params pytree with a leading member axis
    seconds: float  # wall time of the whole group (compile included)
    compile_seconds: float  # tracing + compiling the epoch program
    epoch_seconds: list[float]  # wall time of each epoch (compile excluded)
    steps_per_epoch: int
    dynamics: Dynamics | None = None  # numpy, each field [members, epochs, ...]
    stats: list | None = None  # batch-norm running statistics, [member, ...]


def member_axes(state, tcfg: TrainConfig):
    """Where each state leaf keeps its member (cell) axis.

    First-layer weight leaves (params and their optimizer moments,
    ``[sizes[0], sizes[1]]``) keep it in the middle: ``[784, M, 128]``, so
    the shared batch's matmul ``x @ W1`` for all members is one wide matmul
    ``[B, 784] @ [784, M*128]`` with no per-step transpose of W1 (measured:
    +14% model-epochs/s for 24 Adam members). Every other leaf keeps it
    first.
    """
    w1 = tuple(tcfg.sizes[:2])
    return jax.tree.map(lambda x: 1 if tuple(np.shape(x)) == w1 else 0, state)


def group_programs(tcfg: TrainConfig, data: Dataset, mesh):
    """The group's ``init`` and ``epoch`` (jitted), its probe-batch
    program (None without dynamics; see :func:`probe_program`) and where
    the state keeps the member axes: vmapped over seeds (outer: key
    batched) and over cells (inner: hparams batched, key shared, so one
    seed's members share each batch gather and first-layer matmul), with
    the cell axis split over the mesh's devices. The axes are named
    (``AXIS_NAMES``) so that each step's divergence guard can ask whether
    every member is fine and skip its selects when so.
    """
    init1 = make_init(tcfg, batch_probes=False)
    epoch1 = make_epoch(tcfg, AXIS_NAMES, batch_probes=False)
    hp1 = make_hparams("relu", 1e-3, optimizer={  # shapes only
        k: 0.5 for k in tcfg.vmapped_options})
    probe = jax.eval_shape(init1, jax.random.key(0), hp1, data)
    axes = member_axes(probe, tcfg)
    outer = jax.tree.map(lambda a: a + 1, axes)  # after the seed axis
    state_sharding = jax.tree.map(
        lambda leaf, a: sharding.along(mesh, np.ndim(leaf) + 2, a), probe,
        outer)
    out1 = jax.eval_shape(make_epoch(tcfg, batch_probes=False), probe, hp1,
                          data, jax.random.key(0))[1]  # unnamed
    init = jax.vmap(jax.vmap(init1, in_axes=(None, 0, None), out_axes=axes),
                    in_axes=(0, None, None))
    view = epoch_view(axes)  # the probe carry is the probe program's
    epoch = jax.vmap(jax.vmap(epoch1, in_axes=(view, 0, None, None),
                              out_axes=(view, 0), axis_name=AXIS_NAMES[1]),
                     in_axes=(0, None, None, 0), axis_name=AXIS_NAMES[0])
    return (jax.jit(init, out_shardings=state_sharding),
            jax.jit(epoch, donate_argnums=(0,),
                    out_shardings=(epoch_view(state_sharding),
                                   by_cell(mesh, out1))),
            probe_program(tcfg, data, probe, axes, state_sharding, mesh)
            if tcfg.dynamics else None,
            outer)


class _Group(NamedTuple):
    """A group placed on the devices, ready to run."""
    spec: GroupSpec
    hparams: Any  # HParams, [padded cells], split over the mesh
    keys: jax.Array  # [seeds]: each seed's key
    data: Dataset  # replicated on every device
    init: Any  # jitted
    epoch: Any  # jitted (compiled by _compile)
    probe: Any  # jitted (compiled by _compile), None without dynamics
    axes: Any  # where each state leaf keeps its cell axis
    state_like: Any  # ShapeDtypeStructs of the state

    def epoch_keys(self, epoch: int) -> jax.Array:
        return jax.vmap(epoch_key, in_axes=(0, None))(self.keys, epoch)

    def run_epoch(self, state, epoch: int):
        """(state, EpochResult) of epoch number ``epoch`` on the devices:
        the epoch's program, then the probe batch's (dispatched together,
        no host sync between them; a sweep overlaps the probes with the
        next epoch, see :mod:`jaxmnist.sweep.pipeline`)."""
        if self.probe is None:
            return self.epoch(state, self.hparams, self.data,
                              self.epoch_keys(epoch))
        view, carry = split(state)
        view, out = self.epoch(view, self.hparams, self.data,
                               self.epoch_keys(epoch))
        carry, batch = self.probe(
            view.params, view.stats,
            carry._replace(preconditioner=view.probe.preconditioner),
            self.hparams.activation, self.data)
        return join(view, carry._replace(preconditioner=None)), \
            out._replace(dynamics=combine(out.dynamics, batch))


def _place(spec: GroupSpec, data: Dataset) -> _Group:
    mesh = sharding.member_mesh()
    padded = sharding.padded_count(len(spec.cells), mesh)
    hp = stack_hparams([c.hparams(spec.config.vmapped_options)
                        for c in spec.cells])
    hp = jax.device_put(sharding.pad_members(hp, padded),
                        sharding.along(mesh, 1, 0))
    keys = jax.vmap(member_key, in_axes=(None, 0))(
        spec.root_seed, np.asarray(spec.seeds))
    data = jax.device_put(data, sharding.replicated(mesh))
    init, epoch, probe, axes = group_programs(spec.config, data, mesh)
    state_like = jax.eval_shape(init, _init_keys(keys), hp, data)
    return _Group(spec, hp, keys, data, init, epoch, probe, axes, state_like)


def _epoch_like(g: _Group):
    """One epoch's EpochResult as ``[members, ...]`` shapes, read from the
    compiled programs' outputs (no tracing)."""
    out = g.epoch.out_info[1]
    if g.probe is not None:
        out = out._replace(dynamics=combine(out.dynamics, g.probe.out_info[1]))
    members = len(g.spec.members)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
        (members, *x.shape[2:]), x.dtype), out)


def _init_keys(keys: jax.Array) -> jax.Array:
    return jax.vmap(lambda k: jax.random.split(k)[0])(keys)


def _compile(g: _Group, probes: ProbePrograms | None = None
             ) -> tuple[_Group, float]:
    """The group with its programs compiled (the probe batch's taken from
    ``probes`` when an earlier group compiled it), and the seconds spent."""
    t = time.perf_counter()
    epoch = g.epoch.lower(epoch_view(g.state_like), g.hparams, g.data,
                          g.epoch_keys(0)).compile()
    seconds = time.perf_counter() - t
    if g.probe is None:
        return g._replace(epoch=epoch), seconds
    probe, probe_s = (probes or ProbePrograms()).get(
        g.spec.config, g.probe, g.state_like, g.hparams.activation, g.data)
    return g._replace(epoch=epoch, probe=probe), seconds + probe_s


def _start(g: _Group, checkpoint_dir: Path | None):
    """(first epoch, device state, history, epoch times): from the last
    checkpoint when there is one, else freshly initialised."""
    resumed = (checkpoints.restore_epoch(checkpoint_dir, g.state_like,
                                         _epoch_like(g))
               if checkpoint_dir is not None else None)
    if resumed is None:
        state = g.init(_init_keys(g.keys), g.hparams, g.data)
        if g.probe is not None:  # the probe batch at initialisation
            probe = g.probe(state.params, state.stats, state.probe,
                            g.hparams.activation, g.data)[0]
            state = state._replace(probe=probe)
        return 0, state, [], []
    first, host_state, history, epoch_times = resumed
    state = jax.device_put(host_state, jax.tree.map(lambda x: x.sharding,
                                                    g.state_like))
    return first, state, history, epoch_times


def _collect(g: _Group, state, history: list, seconds: float,
             compile_s: float, epoch_times: list[float]) -> GroupResult:
    members, n_cells = g.spec.members, len(g.spec.cells)
    def members_first(x, a):  # [seed, (784,) cell, ...] -> [member, ...]
        x = np.moveaxis(x, a, 1)[:, :n_cells]
        return x.reshape(len(members), *x.shape[2:])

    host = sharding.to_host((state.params, state.stats))
    params = jax.tree.map(members_first, host[0], g.axes.params)
    stats = jax.tree.map(members_first, host[1], g.axes.stats)
    stacked = jax.tree.map(lambda x: np.moveaxis(x, 0, 1),  # [member, epoch]
                           checkpoints.stack(history))
    return GroupResult(members, stacked.metrics, params, seconds, compile_s,
                       epoch_times,
                       steps_per_epoch(g.spec.config, g.data.num_train),
                       stacked.dynamics, stats)


def _to_arrays(group: GroupResult) -> tuple[dict, dict]:
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


def _from_arrays(arrays: dict, meta: dict, state_like) -> GroupResult:
    like = (state_like.params, state_like.stats)
    leaves = [arrays[f"param{i}"] for i in range(len(jax.tree.leaves(like)))]
    params, stats = jax.tree.unflatten(jax.tree.structure(like), leaves)
    return GroupResult(
        [Member(*m) for m in meta["members"]],
        Metrics(*(arrays[f"history_{f}"] for f in Metrics._fields)),
        params, meta["seconds"], meta["compile_seconds"],
        [float(t) for t in arrays["epoch_seconds"]], meta["steps_per_epoch"],
        Dynamics(*(arrays[f"dynamics_{f}"] for f in Dynamics._fields))
        if "dynamics_sharpness" in arrays else None, stats)


def train_group(spec: GroupSpec, data: Dataset,
                progress: bool | RunBar = True,
                checkpoint_dir: Path | None = None,
                stop: StopRequest | None = None,
                probes: ProbePrograms | None = None) -> GroupResult:
    """Train every member of ``spec`` in one vmapped, compiled program.

    Runs exactly what ``make_train(spec.config)`` scans over (``init``, then
    ``epoch`` with :func:`~jaxmnist.core.train.epoch_key`), driven from
    Python once per epoch. With ``checkpoint_dir`` the group is checkpointed
    after every epoch and resumed from there (or returned as saved, if it
    finished) when called again. ``progress`` is a bool or the run's bar;
    ``probes`` the run's compiled probe-batch programs, shared by groups.

    Raises:
      ValueError: the batch size is larger than the training split.
      Interrupted: ``stop`` was requested (after the epoch in progress) or
        Ctrl-C (at once); the last finished epoch is checkpointed.
      OSError: a checkpoint could not be written (the previous one is kept).
    """
    steps_per_epoch(spec.config, data.num_train)  # fail early
    g = _place(spec, data)
    members, epochs = len(spec.members), spec.config.epochs
    run_bar = progress if isinstance(progress, RunBar) else RunBar(
        members * epochs, enabled=progress)
    if checkpoint_dir is not None:
        done = checkpoints.load_result(checkpoint_dir)
        if done is not None:
            run_bar.done_before(members * epochs)
            return _from_arrays(*done, g.state_like)
    start = time.perf_counter()
    run_bar.status(f"compiling {spec.name}...")
    g, compile_s = _compile(g, probes)
    first, state, history, epoch_times = _start(g, checkpoint_dir)
    if stop is not None:  # asked while compiling
        stop.check(f"group {spec.name} stopped after epoch {first} of "
                   f"{epochs}")
    bar = run_bar.group(spec.name, members, epochs, first,
                        [h.metrics for h in history])
    try:
        state = run_epochs(g, first, state, history, epoch_times, bar,
                           checkpoint_dir, stop)
    except KeyboardInterrupt:
        saved = checkpoints.latest_epoch(checkpoint_dir) \
            if checkpoint_dir is not None else 0
        raise Interrupted(f"group {spec.name} stopped after epoch {saved} "
                          f"of {epochs}", "SIGINT" if stop is None
                          else stop.signal_name or "SIGINT") from None
    finally:
        bar.close()
        if run_bar is not progress:
            run_bar.close()
    group = _collect(g, state, history, time.perf_counter() - start,
                     compile_s, epoch_times)
    if checkpoint_dir is not None:
        checkpoints.save_result(checkpoint_dir, *_to_arrays(group))
    return group
