"""One vmapped group: every member of one optimizer, trained at once.

A group is a :class:`GroupSpec` (a static :class:`TrainConfig` and its
members: cells of activation x learning rate, times seeds). It trains with
the same ``init`` and ``epoch`` functions that ``make_train`` scans over,
vmapped over seeds (outer) and cells (inner), compiled once; Python drives
the epochs so the host is touched once per epoch (progress, checkpoints).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxmnist.core.config import (
    TrainConfig,
    make_hparams,
    stack_hparams,
)
from jaxmnist.core.train import (
    epoch_key,
    make_epoch,
    make_init,
    member_key,
    steps_per_epoch,
)
from jaxmnist.data.dataset import Dataset
from jaxmnist.errors import Interrupted
from jaxmnist.sweep import checkpoints, chunks, memory, sharding
from jaxmnist.sweep.members import (
    Cell,
    GroupResult,
    GroupSpec,
    Member,
    from_arrays,
    hidden_label,
    options_label,
    setup_name,
    to_arrays,
)
from jaxmnist.sweep.progress import GroupBar

__all__ = ["Cell", "GroupResult", "GroupSpec", "Member", "group_programs",
           "hidden_label", "member_axes", "options_label", "placed_chunks",
           "setup_name", "train_group"]


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
    """The group's compiled ``init`` and ``epoch``: vmapped over seeds
    (outer: key batched) and over cells (inner: hparams batched, key shared,
    so one seed's members share each batch gather and first-layer matmul),
    with the cell axis split over the mesh's devices.
    """
    init1, epoch1 = make_init(tcfg), make_epoch(tcfg)
    hp1 = make_hparams("relu", 1e-3, optimizer={  # shapes only
        k: 0.5 for k in tcfg.vmapped_options})
    probe = jax.eval_shape(init1, jax.random.key(0), hp1, data)
    axes = member_axes(probe, tcfg)
    outer = jax.tree.map(lambda a: a + 1, axes)  # after the seed axis
    state_sharding = jax.tree.map(
        lambda leaf, a: sharding.along(mesh, np.ndim(leaf) + 2, a), probe,
        outer)
    out1 = jax.eval_shape(epoch1, probe, hp1, data, jax.random.key(0))[1]
    out_sharding = jax.tree.map(  # [seed, cell, ...]: cells split
        lambda leaf: sharding.along(mesh, np.ndim(leaf) + 2, 1), out1)
    init = jax.vmap(jax.vmap(init1, in_axes=(None, 0, None), out_axes=axes),
                    in_axes=(0, None, None))
    epoch = jax.vmap(jax.vmap(epoch1, in_axes=(axes, 0, None, None),
                              out_axes=(axes, 0)),
                     in_axes=(0, None, None, 0))
    return (jax.jit(init, out_shardings=state_sharding),
            jax.jit(epoch, donate_argnums=(0,),
                    out_shardings=(state_sharding, out_sharding)),
            outer)


class _Group(NamedTuple):
    """A group placed on the devices, ready to run."""
    spec: GroupSpec
    hparams: Any  # HParams, [padded cells], split over the mesh
    keys: jax.Array  # [seeds]: each seed's key
    data: Dataset  # replicated on every device
    init: Any  # jitted
    epoch: Any  # jitted (compiled by _compile)
    axes: Any  # where each state leaf keeps its cell axis
    state_like: Any  # ShapeDtypeStructs of the state
    epoch_like: Any  # one epoch's EpochResult, [members, ...] on the host
    programs: Any  # (init, epoch, axes) as group_programs made them

    def epoch_keys(self, epoch: int) -> jax.Array:
        return jax.vmap(epoch_key, in_axes=(0, None))(self.keys, epoch)

    def initial_state(self):
        return self.init(_init_keys(self.keys), self.hparams, self.data)


def _place(spec: GroupSpec, data: Dataset, programs=None,
           layout: chunks.Layout | None = None) -> _Group:
    """``spec`` on the devices, padded to ``layout`` (default: every seed,
    the cells padded to a multiple of the device count), with ``programs``
    (default: compiled anew for ``spec.config``)."""
    mesh = sharding.member_mesh()
    layout = layout or chunks.whole(len(spec.seeds), len(spec.cells),
                                    mesh.size)
    hp = stack_hparams([c.hparams(spec.config.vmapped_options)
                        for c in spec.cells])
    hp = jax.device_put(sharding.pad_members(hp, layout.cells),
                        sharding.along(mesh, 1, 0))
    keys = jax.vmap(member_key, in_axes=(None, 0))(
        spec.root_seed, sharding.pad_members(np.asarray(spec.seeds),
                                             layout.seeds))
    data = jax.device_put(data, sharding.replicated(mesh))
    init, epoch, axes = programs or group_programs(spec.config, data, mesh)
    state_like = jax.eval_shape(init, _init_keys(keys), hp, data)
    out = jax.eval_shape(epoch, state_like, hp, data, jax.vmap(
        epoch_key, in_axes=(0, None))(keys, 0))[1]
    members = len(spec.members)
    epoch_like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(
        (members, *x.shape[2:]), x.dtype), out)
    return _Group(spec, hp, keys, data, init, epoch, axes, state_like,
                  epoch_like, (init, epoch, axes))


def _init_keys(keys: jax.Array) -> jax.Array:
    return jax.vmap(lambda k: jax.random.split(k)[0])(keys)


def _compile(g: _Group) -> tuple[_Group, float]:
    t = time.perf_counter()
    epoch = g.epoch.lower(g.state_like, g.hparams, g.data,
                          g.epoch_keys(0)).compile()
    return g._replace(epoch=epoch), time.perf_counter() - t


def _saved_epochs(path: Path | None) -> int:
    """The latest epoch checkpointed under ``path`` (-1: none), read from
    the directory names, so every process can compare before restoring
    (a restore meets the other processes at orbax's barriers)."""
    epochs = None if path is None else path / "epochs"
    if epochs is None or not epochs.is_dir():
        return -1
    return max((int(d.name) for d in epochs.iterdir() if d.name.isdigit()),
               default=-1)


def _start(g: _Group, checkpoint_dir: Path | None):
    """(first epoch, device state, history, epoch times): from the last
    checkpoint when every process has that one, else freshly initialised
    (stale checkpoints removed)."""
    saved = sharding.gathered(_saved_epochs(checkpoint_dir))
    resumed = (checkpoints.restore_epoch(checkpoint_dir, g.state_like,
                                         g.epoch_like)
               if checkpoint_dir is not None and len(set(saved)) == 1
               and saved[0] >= 0 else None)
    if resumed is None:
        if checkpoint_dir is not None and saved != [-1] * len(saved):
            shutil.rmtree(checkpoint_dir / "epochs", ignore_errors=True)
        return 0, g.initial_state(), [], []
    first, host_state, history, epoch_times = resumed
    state = jax.device_put(host_state, jax.tree.map(lambda x: x.sharding,
                                                    g.state_like))
    return first, state, history, epoch_times


def _run_epochs(g: _Group, first: int, state, history: list,
                epoch_times: list, bar: GroupBar,
                checkpoint_dir: Path | None):
    """Epochs ``first..epochs-1``; checkpoints after each but the last."""
    epochs, n_cells = g.spec.config.epochs, len(g.spec.cells)
    members, n_seeds = len(g.spec.members), len(g.spec.seeds)
    for e in range(first, epochs):
        t = time.perf_counter()
        state, out = g.epoch(state, g.hparams, g.data, g.epoch_keys(e))
        out = sharding.to_host(out)  # the one host sync per epoch
        epoch_times.append(time.perf_counter() - t)
        history.append(jax.tree.map(  # [seed, padded cell, ...] -> [member]
            lambda x: x[:n_seeds, :n_cells].reshape(members, *x.shape[2:]),
            out))
        if checkpoint_dir is not None and e + 1 < epochs:
            checkpoints.save_epoch(checkpoint_dir, e + 1,
                                   sharding.to_host(state), history,
                                   epoch_times)
        bar.epoch_done(history[-1].metrics)
    return state


def _collect(g: _Group, state, history: list, seconds: float,
             compile_s: float, epoch_times: list[float]) -> GroupResult:
    members, n_cells = g.spec.members, len(g.spec.cells)
    n_seeds = len(g.spec.seeds)
    def members_first(x, a):  # [seed, (784,) cell, ...] -> [member, ...]
        x = np.moveaxis(x, a, 1)[:n_seeds, :n_cells]
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


def _plan(g: _Group, layout: chunks.Layout | None, max_memory: int | None,
          ) -> tuple[_Group, chunks.Layout, float]:
    """(``g`` with its compiled epoch program, the chunk layout, compile
    seconds). ``layout`` given (a resumed group's): that one, compiled.

    Otherwise the whole group compiles first; if XLA's memory analysis says
    it needs more than the budget, a chunk size is fitted to the budget
    (linear in the members: the data fixed, the rest per member) and checked
    by compiling it, refitted from the last two measurements (3 tries).
    """
    spec, unit = g.spec, sharding.member_mesh().size
    full = chunks.whole(len(spec.seeds), len(spec.cells), unit)
    budget = sharding.agreed_min(memory.budget(max_memory))  # all processes
    if len(set(sharding.gathered(-1 if layout is None else layout.members))
           ) > 1:  # processes resuming different layouts: plan afresh
        layout = None
    if layout is not None and layout != full:
        c, seconds = _compile(_place_chunk(g, layout, 0))
        return g._replace(epoch=c.epoch), layout, seconds
    g, seconds = _compile(g)
    points = [(memory.tree_bytes(g.data), 0), (_bytes(g), full.members)]
    if layout is not None or points[-1][0] <= budget:
        return g, full, seconds
    for _ in range(3):
        (b0, m0), (b1, m1) = points[-2:]
        per = (b1 - b0) / (m1 - m0)
        layout = chunks.fitting(len(spec.seeds), len(spec.cells), unit,
                                chunks.members_within(budget, b1 - per * m1,
                                                      per, unit))
        if layout.members == m1:
            break
        c, s = _compile(_place_chunk(g, layout, 0))
        points.append((_bytes(c), layout.members))
        seconds += s
        if points[-1][0] <= budget:
            return g._replace(epoch=c.epoch), layout, seconds
    raise ValueError(
        f"{spec.name}: {points[-1][1]} members need "
        f"{memory.format_size(points[-1][0])} per device, over the budget "
        f"of {memory.format_size(budget)}; raise --max-memory")


def _place_chunk(g: _Group, layout: chunks.Layout, i: int) -> _Group:
    """Chunk ``i`` of ``g``'s group placed with ``g``'s programs."""
    spec = g.spec
    chunk = chunks.split(len(spec.seeds), len(spec.cells), layout)[i]
    sub = spec._replace(cells=tuple(spec.cells[c] for c in chunk.cells),
                        seeds=tuple(spec.seeds[s] for s in chunk.seeds))
    return _place(sub, g.data, g.programs, layout)


def _bytes(g: _Group) -> int:
    return memory.compiled_bytes(g.epoch)


def _train_one(g: _Group, progress: bool, checkpoint_dir: Path | None,
               name: str) -> GroupResult:
    """One compiled program's members, epochs ``0..epochs-1`` (resumed from
    ``checkpoint_dir``); ``seconds`` and ``compile_seconds`` left 0."""
    first, state, history, epoch_times = _start(g, checkpoint_dir)
    bar = GroupBar(name, len(g.spec.members), g.spec.config.epochs, first,
                   [h.metrics for h in history], enabled=progress)
    try:
        state = _run_epochs(g, first, state, history, epoch_times, bar,
                            checkpoint_dir)
    except KeyboardInterrupt:
        raise Interrupted(name, len(history),
                          g.spec.config.epochs) from None
    finally:
        bar.close()
    return _collect(g, state, history, 0.0, 0.0, epoch_times)


def _train_chunks(g: _Group, layout: chunks.Layout, progress: bool,
                  checkpoint_dir: Path | None) -> GroupResult:
    """The group's members chunk by chunk with ``g``'s compiled program;
    each chunk checkpoints (and is skipped when finished) in its own dir."""
    spec = g.spec
    parts = chunks.split(len(spec.seeds), len(spec.cells), layout)
    results = []
    for i, chunk in enumerate(parts):
        gc = _place_chunk(g, layout, i)._replace(epoch=g.epoch)
        path = chunks.chunk_dir(checkpoint_dir, i)
        done = checkpoints.load_result(path) if path is not None else None
        done = done if sharding.everyone(done is not None) else None
        result = (from_arrays(*done, gc.state_like) if done is not None else
                  _train_one(gc, progress, path,
                             f"{spec.name} {i + 1}/{len(parts)}"))
        if path is not None and done is None:
            checkpoints.save_result(path, *to_arrays(result))
        results.append((chunk.members(len(spec.cells)), result))
    history, params, stats, dynamics = chunks.scatter(
        [(idx, (r.history, r.params, r.stats, r.dynamics))
         for idx, r in results], len(spec.members))
    times = np.sum([r.epoch_seconds for _, r in results], axis=0)
    return GroupResult(spec.members, history, params, 0.0, 0.0,
                       [float(t) for t in times], results[0][1].steps_per_epoch,
                       dynamics, stats)


def placed_chunks(spec: GroupSpec, data: Dataset,
                  max_memory: int | None = None
                  ) -> tuple[list[_Group], chunks.Layout, float]:
    """What :func:`train_group` runs, ready: every chunk of ``spec`` placed
    with the one compiled epoch program, the layout, compile seconds."""
    g, layout, seconds = _plan(_place(spec, data), None, max_memory)
    n = chunks.count(len(spec.seeds), len(spec.cells), layout)
    if n == 1:
        return [g], layout, seconds
    return ([_place_chunk(g, layout, i)._replace(epoch=g.epoch)
             for i in range(n)], layout, seconds)


def _resumed_layout(g: _Group, path: Path | None) -> chunks.Layout | None:
    """The layout of the group's checkpoints, if it has some: recorded when
    chunked, the whole group when it checkpointed unchunked."""
    if path is None or not (path / "epochs").is_dir():
        return chunks.recorded(path)
    return chunks.whole(len(g.spec.seeds), len(g.spec.cells),
                        sharding.member_mesh().size)


def train_group(spec: GroupSpec, data: Dataset, progress: bool = True,
                checkpoint_dir: Path | None = None,
                max_memory: int | None = None) -> GroupResult:
    """Train every member of ``spec`` in one vmapped, compiled program.

    Runs exactly what ``make_train(spec.config)`` scans over (``init``, then
    ``epoch`` with :func:`~jaxmnist.core.train.epoch_key`), driven from
    Python once per epoch. With ``checkpoint_dir`` the group is checkpointed
    after every epoch and resumed from there (or returned as saved, if it
    finished) when called again. A group whose compiled program needs more
    than ``max_memory`` bytes per device (default: see
    :func:`.memory.default_budget`) runs in chunks of members, one after
    another, with one compiled program (see :mod:`.chunks`).

    Raises:
      ValueError: the batch size is larger than the training split.
      ValueError: even the smallest chunk is over ``max_memory``.
      Interrupted: Ctrl-C; the last finished epoch is checkpointed.
    """
    steps_per_epoch(spec.config, data.num_train)  # fail early
    g = _place(spec, data)
    if checkpoint_dir is not None:
        done = checkpoints.load_result(checkpoint_dir)
        if sharding.everyone(done is not None):
            return from_arrays(*done, g.state_like)  # type: ignore
    start = time.perf_counter()
    g, layout, compile_s = _plan(g, _resumed_layout(g, checkpoint_dir),
                                 max_memory)
    if chunks.count(len(spec.seeds), len(spec.cells), layout) == 1:
        group = _train_one(g, progress, checkpoint_dir, spec.name)
    else:
        n = chunks.count(len(spec.seeds), len(spec.cells), layout)
        print(f"{spec.name}: {len(spec.members)} members over the memory "
              f"budget: {n} chunks of {layout.members}, one after another",
              flush=True)
        chunks.record(checkpoint_dir, layout)
        group = _train_chunks(g, layout, progress, checkpoint_dir)
    group = group._replace(seconds=time.perf_counter() - start,
                           compile_seconds=compile_s)
    if checkpoint_dir is not None:
        checkpoints.save_result(checkpoint_dir, *to_arrays(group))
    return group
