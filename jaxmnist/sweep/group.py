"""One vmapped group: every member of one optimizer, trained at once.

A group is a :class:`GroupSpec` (a static :class:`TrainConfig` and its
members: cells of activation x learning rate, times seeds). It trains with
the same ``init`` and ``epoch`` functions that ``make_train`` scans over,
vmapped over seeds (outer) and cells (inner), compiled once; Python drives
the epochs so the host is touched once per epoch (progress, checkpoints).
A group whose compiled program is over the memory budget trains in chunks
of members, one after another, with that one program
(:func:`.placed.plan_chunks`).
:func:`to_arrays` / :func:`from_arrays` turn a finished group's
:class:`~jaxmnist.results.members.GroupResult` into its checkpoint and back.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from jaxmnist.core.dynamics import Dynamics
from jaxmnist.core.train import (
    Metrics,
    evaluates_elsewhere,
    evaluation_point,
    steps_per_epoch,
)
from jaxmnist.data.dataset import Dataset
from jaxmnist.errors import Interrupted, StopRequest
from jaxmnist.results.members import GroupResult, Member
from jaxmnist.sweep import checkpoint, placed
from jaxmnist.sweep.cluster import cluster
from jaxmnist.sweep.config import GroupSpec
from jaxmnist.sweep.placed import (
    PlacedGroup,
    compiled_like,
    epoch_like,
    place,
    place_chunk,
    plan_chunks,
)
from jaxmnist.sweep.progress import GroupBar, RunBar


def _saved_epochs(path: Path | None) -> int:
    """The latest epoch checkpointed under ``path`` (-1: none), read from
    the directory names, so every process can compare before restoring
    (a restore meets the other processes at orbax's barriers)."""
    epochs = None if path is None else path / "epochs"
    if epochs is None or not epochs.is_dir():
        return -1
    return max((int(d.name) for d in epochs.iterdir() if d.name.isdigit()),
               default=-1)


def _start(g: PlacedGroup, checkpoint_dir: Path | None, name: str,
           note: Callable[[str], None]):
    """(first epoch, device state, history, epoch times): from the last
    readable checkpoint when every process has that one, else freshly
    initialised (stale checkpoints removed). Each unreadable checkpoint
    is one ``note`` naming it and saying what the group does instead."""
    saved = cluster.gathered(_saved_epochs(checkpoint_dir))
    damaged: list[str] = []
    resumed = (checkpoint.restore_epoch(checkpoint_dir, g.state_like,
                                         epoch_like(g), damaged.append)
               if checkpoint_dir is not None and len(set(saved)) == 1
               and saved[0] >= 0 else None)
    if len(set(cluster.gathered(resumed[0] if resumed else -1))) > 1:
        resumed = None  # a process fell back to another epoch: start over
    for i, line in enumerate(damaged):
        note(f"warning: {line}; " + (
            "trying the epoch before" if i + 1 < len(damaged) else
            f"{name} falls back to epoch {resumed[0]}" if resumed else
            f"no readable epoch left: training {name} from the start"))
    if resumed is None:
        if checkpoint_dir is not None and saved != [-1] * len(saved):
            shutil.rmtree(checkpoint_dir / "epochs", ignore_errors=True)
        return 0, g.initial_state(), [], []
    first, host_state, history, epoch_times = resumed
    state = jax.device_put(host_state, jax.tree.map(lambda x: x.sharding,
                                                    g.state_like))
    return first, state, history, epoch_times


def _collect(g: PlacedGroup, state, history: list,
             epoch_times: list[float]) -> GroupResult:
    """The finished members as a GroupResult (seconds left 0)."""
    members, n_cells = g.spec.members, len(g.spec.cells)
    n_seeds = len(g.spec.seeds)

    def members_first(x, a):  # [seed, (784,) cell, ...] -> [member, ...]
        x = np.moveaxis(x, a, 1)[:n_seeds, :n_cells]
        return x.reshape(len(members), *x.shape[2:])

    host = cluster.to_host((_evaluation_point(g, state), state.stats))
    params = jax.tree.map(members_first, host[0], g.axes.params)
    stats = jax.tree.map(members_first, host[1], g.axes.stats)
    stacked = jax.tree.map(lambda x: np.moveaxis(x, 0, 1),  # [member, epoch]
                           checkpoint.stack(history))
    return GroupResult(members, stacked.metrics, params, 0.0, 0.0,
                       epoch_times,
                       steps_per_epoch(g.spec.config, g.data.num_train),
                       stacked.dynamics, stats)


def _evaluation_point(g: PlacedGroup, state):
    """Every member's params to save (:func:`evaluation_point`: Schedule-
    Free's average), computed where the state is, member by member."""
    if not evaluates_elsewhere(g.spec.config.optimizer):
        return state.params
    one = functools.partial(evaluation_point, g.spec.config)
    # g.axes count the seed axis in front; per_cell's leaves have none
    inner = jax.tree.map(lambda a: a - 1, (g.axes.opt_state, g.axes.params))
    per_cell = jax.vmap(one, in_axes=inner, out_axes=inner[1])
    return jax.jit(jax.vmap(per_cell))(state.opt_state, state.params)


def _train_one(g: PlacedGroup, run_bar: RunBar, checkpoint_dir: Path | None,
               name: str, stop: StopRequest | None) -> GroupResult:
    """One compiled program's members, epochs ``0..epochs-1`` (resumed from
    ``checkpoint_dir``); ``seconds`` and ``compile_seconds`` left 0."""
    epochs = g.spec.config.epochs
    first, state, history, epoch_times = _start(g, checkpoint_dir, name,
                                                run_bar.note)
    if stop is not None:  # asked while compiling
        stop.check(f"group {name} stopped after epoch {first} of {epochs}")
    bar = run_bar.group(name, len(g.spec.members), epochs, first,
                        [h.metrics for h in history])
    try:
        state = _run_epochs(g, first, state, history, epoch_times, bar,
                            checkpoint_dir, stop)
    except KeyboardInterrupt:
        saved = checkpoint.latest_epoch(checkpoint_dir) \
            if checkpoint_dir is not None else 0
        raise Interrupted(f"group {name} stopped after epoch {saved} "
                          f"of {epochs}", "SIGINT" if stop is None
                          else stop.signal_name or "SIGINT") from None
    finally:
        bar.close()
    return _collect(g, state, history, epoch_times)


def _run_epochs(g: PlacedGroup, first: int, state, history: list,
                epoch_times: list[float], bar: GroupBar,
                checkpoint_dir: Path | None, stop: StopRequest | None):
    """Epochs ``first..epochs-1`` of ``g``, each but the last checkpointed
    (written while the next one trains), stopping after one if asked."""
    epochs, seeds = g.spec.config.epochs, len(g.spec.seeds)
    cells, members = len(g.spec.cells), len(g.spec.members)
    saved = None  # (epochs finished, host state) not yet written
    for e in range(first, epochs):
        t = time.perf_counter()
        state, out = g.epoch(state, g.hparams, g.data, g.epoch_keys(e),
                             g.probes(e))
        if saved is not None and checkpoint_dir is not None:
            checkpoint.save_epoch(checkpoint_dir, *saved, history,
                                   epoch_times)
        out = cluster.to_host(out)  # the host sync
        epoch_times.append(time.perf_counter() - t)
        history.append(jax.tree.map(  # [padded seed, padded cell, ...]
            lambda x: x[:seeds, :cells].reshape(members, *x.shape[2:]), out))
        bar.epoch_done(history[-1].metrics)
        saved = ((e + 1, cluster.to_host(state))
                 if checkpoint_dir is not None and e + 1 < epochs else None)
        if stop is not None and stop.requested and e + 1 < epochs:
            if saved is not None and checkpoint_dir is not None:
                checkpoint.save_epoch(checkpoint_dir, *saved, history,
                                       epoch_times)
            stop.check(f"group {g.spec.name} stopped after epoch {e + 1} "
                       f"of {epochs}")
    return state


def _train_chunks(g: PlacedGroup, layout: placed.Layout, run_bar: RunBar,
                  checkpoint_dir: Path | None, stop: StopRequest | None
                  ) -> GroupResult:
    """The group's members chunk by chunk with ``g``'s compiled programs;
    each chunk checkpoints (and is skipped when finished) in its own dir."""
    spec = g.spec
    parts = placed.split(len(spec.seeds), len(spec.cells), layout)
    results = []
    for i, chunk in enumerate(parts):
        gc = compiled_like(place_chunk(g, layout, i), g)
        path = placed.chunk_dir(checkpoint_dir, i)
        done = (checkpoint.load_result(path, _damaged_result(
            run_bar, f"{spec.name} {i + 1}/{len(parts)}"))
            if path is not None else None)
        done = done if cluster.everyone(done is not None) else None
        if done is not None:
            run_bar.done_before(len(gc.spec.members) * spec.config.epochs)
            result = from_arrays(*done, gc.state_like)
        else:
            result = _train_one(gc, run_bar, path,
                                f"{spec.name} {i + 1}/{len(parts)}", stop)
            if path is not None:
                checkpoint.save_result(path, *to_arrays(result))
        results.append((chunk.members(len(spec.cells)), result))
    history, params, stats, dynamics = placed.scatter(
        [(idx, (r.history, r.params, r.stats, r.dynamics))
         for idx, r in results], len(spec.members))
    times = np.sum([r.epoch_seconds for _, r in results], axis=0)
    return GroupResult(spec.members, history, params, 0.0, 0.0,
                       [float(t) for t in times], results[0][1].steps_per_epoch,
                       dynamics, stats)


def _damaged_result(run_bar: RunBar, name: str) -> Callable[[str], None]:
    """What says that group ``name``'s saved result cannot be read."""
    return lambda line: run_bar.note(
        f"warning: {line}; the finished group {name} resumes from its last "
        f"readable epoch checkpoint (from the start if none)")


def _resumed_layout(g: PlacedGroup, path: Path | None
                    ) -> placed.Layout | None:
    """The layout of the group's checkpoints, if it has some: recorded when
    chunked, the whole group when it checkpointed unchunked."""
    if path is None or not (path / "epochs").is_dir():
        return placed.recorded(path)
    return placed.whole(len(g.spec.seeds), len(g.spec.cells),
                        cluster.mesh().size)


def plan_group(spec: GroupSpec, data: Dataset,
               checkpoint_dir: Path | None = None,
               max_memory: int | None = None,
               members_per_program: int | None = None
               ) -> tuple[PlacedGroup, placed.Layout, float]:
    """What :func:`train_group` trains: (``spec`` placed and compiled for
    its chunk layout (a resumed group's: its checkpoints'), the layout,
    compile seconds); see :func:`.placed.plan_chunks`."""
    g = place(spec, data)
    return plan_chunks(g, max_memory, members_per_program,
                       _resumed_layout(g, checkpoint_dir))


def train_group(spec: GroupSpec, data: Dataset,
                progress: bool | RunBar = True,
                checkpoint_dir: Path | None = None,
                stop: StopRequest | None = None,
                max_memory: int | None = None,
                members_per_program: int | None = None) -> GroupResult:
    """Train every member of ``spec`` in one vmapped, compiled program.

    Runs exactly what ``make_train(spec.config)`` scans over (``init``, then
    ``epoch`` with :func:`~jaxmnist.core.train.epoch_key`), driven from
    Python once per epoch. With ``checkpoint_dir`` the group is checkpointed
    after every epoch and resumed from there (or returned as saved, if it
    finished) when called again. ``progress`` is a bool or the run's bar. A
    group whose compiled program needs more than ``max_memory`` bytes per
    device (default: see :func:`.cluster.default_budget`), or more than
    ``members_per_program`` members, runs in chunks of members, one after
    another, with one compiled program (:func:`.placed.plan_chunks`).

    Raises:
      ValueError: the batch size is larger than the training split, or
        even the smallest chunk is over ``max_memory``.
      Interrupted: ``stop`` was requested (after the epoch in progress) or
        Ctrl-C (at once); the last finished epoch is checkpointed.
      OSError: a checkpoint could not be written (the previous one is kept).
    """
    steps_per_epoch(spec.config, data.num_train)  # fail early
    members, epochs = len(spec.members), spec.config.epochs
    run_bar = progress if isinstance(progress, RunBar) else RunBar(
        members * epochs, enabled=progress)
    try:
        if checkpoint_dir is not None:
            done = checkpoint.load_result(
                checkpoint_dir, _damaged_result(run_bar, spec.name))
            if cluster.everyone(done is not None):
                run_bar.done_before(members * epochs)
                like = place(spec, data).state_like
                return from_arrays(*done, like)  # type: ignore
        start = time.perf_counter()
        run_bar.status(f"compiling {spec.name}...")
        g, layout, compile_s = plan_group(spec, data, checkpoint_dir,
                                          max_memory, members_per_program)
        n = placed.count(len(spec.seeds), len(spec.cells), layout)
        if n == 1:
            group = _train_one(g, run_bar, checkpoint_dir, spec.name, stop)
        else:
            run_bar.note(f"{spec.name}: {members} members over the memory "
                         f"budget: {n} chunks of {layout.members}, one after "
                         f"another")
            placed.record(checkpoint_dir, layout)
            group = _train_chunks(g, layout, run_bar, checkpoint_dir, stop)
    finally:
        if run_bar is not progress:
            run_bar.close()
    group = group._replace(seconds=time.perf_counter() - start,
                           compile_seconds=compile_s)
    if checkpoint_dir is not None:
        checkpoint.save_result(checkpoint_dir, *to_arrays(group))
    return group


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
