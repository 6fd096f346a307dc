"""One group: every member of one optimizer and structure, trained at once.

A :class:`GroupSpec`'s members (cells x seeds) train with the ``init`` and
``epoch`` that ``make_train`` scans over, vmapped over seeds and cells and
compiled once (:mod:`.placed`); Python drives the epochs, touching the host
once per epoch (progress, checkpoints). A group over its memory budget
trains as chunks of members, one after another, with that one program.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from jaxmnist.core.train import (
    evaluates_elsewhere,
    evaluation_point,
    steps_per_epoch,
)
from jaxmnist.data.dataset import Dataset
from jaxmnist.errors import Interrupted, StopRequest
from jaxmnist.results.members import GroupResult
from jaxmnist.sweep import checkpoint, placed
from jaxmnist.sweep.cluster import cluster
from jaxmnist.sweep.config import GroupSpec
from jaxmnist.sweep.placed import PlacedGroup, epoch_like
from jaxmnist.sweep.progress import GroupBar, RunBar


def _start(g: PlacedGroup, path: Path | None, name: str,
           note: Callable[[str], None]):
    """(first epoch, device state, history, epoch times): from the last
    readable checkpoint when every process has that one, else fresh (stale
    checkpoints removed); each unreadable checkpoint is one ``note``."""
    saved = cluster.gathered(checkpoint.latest_epoch(path))
    damaged: list[str] = []
    resumed = (checkpoint.restore_epoch(path, g.state_like, epoch_like(g),
                                        damaged.append)
               if path is not None and len(set(saved)) == 1 and saved[0]
               else None)
    if len(set(cluster.gathered(resumed[0] if resumed else -1))) > 1:
        resumed = None  # a process fell back to another epoch: start over
    for i, line in enumerate(damaged):
        note(f"warning: {line}; " + (
            "trying the epoch before" if i + 1 < len(damaged) else
            f"{name} falls back to epoch {resumed[0]}" if resumed else
            f"no readable epoch left: training {name} from the start"))
    if resumed is None:
        if path is not None and any(saved):
            shutil.rmtree(path / "epochs", ignore_errors=True)
        return 0, g.initial_state(), [], []
    first, host_state, history, epoch_times = resumed
    state = jax.device_put(host_state, jax.tree.map(lambda x: x.sharding,
                                                    g.state_like))
    return first, state, history, epoch_times


def _collect(g: PlacedGroup, state, history: list,
             epoch_times: list[float]) -> GroupResult:
    """The finished members as a GroupResult (seconds left 0)."""
    members, n_cells = g.spec.members, len(g.spec.cells)

    def members_first(x, a):  # [seed, (784,) cell, ...] -> [member, ...]
        x = np.moveaxis(x, a, 1)[:len(g.spec.seeds), :n_cells]
        return x.reshape(len(members), *x.shape[2:])

    params, stats = cluster.to_host((_evaluation_point(g, state),
                                     state.stats))
    stacked = jax.tree.map(lambda x: np.moveaxis(x, 0, 1),  # [member, epoch]
                           checkpoint.stack(history))
    return GroupResult(
        members, stacked.metrics,
        jax.tree.map(members_first, params, g.axes.params), 0.0, 0.0,
        epoch_times, steps_per_epoch(g.spec.config, g.data.num_train),
        stacked.dynamics, jax.tree.map(members_first, stats, g.axes.stats))


def _evaluation_point(g: PlacedGroup, state):
    """Every member's params to save (:func:`evaluation_point`: Schedule-
    Free's average), computed where the state is."""
    if not evaluates_elsewhere(g.spec.config.optimizer):
        return state.params
    one = functools.partial(evaluation_point, g.spec.config)
    # g.axes count the seed axis in front; per_cell's leaves have none
    inner = jax.tree.map(lambda a: a - 1, (g.axes.opt_state, g.axes.params))
    per_cell = jax.vmap(one, in_axes=inner, out_axes=inner[1])
    return jax.jit(jax.vmap(per_cell))(state.opt_state, state.params)


def _train_one(g: PlacedGroup, run_bar: RunBar, path: Path | None,
               name: str, stop: StopRequest | None) -> GroupResult:
    """One program's members, resumed from ``path`` (seconds left 0)."""
    epochs = g.spec.config.epochs
    first, state, history, epoch_times = _start(g, path, name, run_bar.note)
    if stop is not None:  # asked while compiling
        stop.check(f"group {name} stopped after epoch {first} of {epochs}")
    bar = run_bar.group(name, len(g.spec.members), epochs, first,
                        [h.metrics for h in history])
    try:
        state = _run_epochs(g, first, state, history, epoch_times, bar,
                            path, stop)
    except KeyboardInterrupt:
        raise Interrupted(f"group {name} stopped after epoch "
                          f"{checkpoint.latest_epoch(path)} of {epochs}",
                          (stop and stop.signal_name) or "SIGINT") from None
    finally:
        bar.close()
    return _collect(g, state, history, epoch_times)


def _run_epochs(g: PlacedGroup, first: int, state, history: list,
                epoch_times: list[float], bar: GroupBar,
                path: Path | None, stop: StopRequest | None):
    """Epochs ``first..epochs-1``, each but the last checkpointed (written
    while the next one trains), stopping after one if asked."""
    epochs, seeds = g.spec.config.epochs, len(g.spec.seeds)
    cells, members = len(g.spec.cells), len(g.spec.members)
    saved = None  # (epochs finished, host state) not yet written
    for e in range(first, epochs):
        t = time.perf_counter()
        state, out = g.epoch(state, g.hparams, g.data, g.epoch_keys(e),
                             g.probes(e))
        if saved is not None and path is not None:
            checkpoint.save_epoch(path, *saved, history, epoch_times)
        out = cluster.to_host(out)  # the host sync
        epoch_times.append(time.perf_counter() - t)
        history.append(jax.tree.map(  # [padded seed, padded cell, ...]
            lambda x: x[:seeds, :cells].reshape(members, *x.shape[2:]), out))
        bar.epoch_done(history[-1].metrics)
        saved = ((e + 1, cluster.to_host(state))
                 if path is not None and e + 1 < epochs else None)
        if stop is not None and stop.requested and e + 1 < epochs:
            if saved is not None and path is not None:
                checkpoint.save_epoch(path, *saved, history, epoch_times)
            stop.check(f"group {g.spec.name} stopped after epoch {e + 1} "
                       f"of {epochs}")
    return state


def _finished(path: Path | None, run_bar: RunBar, name: str,
              spec: GroupSpec) -> GroupResult | None:
    """The group (or chunk) saved finished under ``path``, when every
    process has it (its work counted done)."""
    done = None if path is None else checkpoint.load_result(
        path, lambda line: run_bar.note(
            f"warning: {line}; the finished group {name} resumes from its "
            f"last readable epoch checkpoint (from the start if none)"))
    if not cluster.everyone(done is not None):
        return None
    run_bar.done_before(len(spec.members) * spec.config.epochs)
    return done


def train_group(spec: GroupSpec, data: Dataset,
                progress: bool | RunBar = True,
                checkpoint_dir: Path | None = None,
                stop: StopRequest | None = None,
                max_memory: int | None = None,
                members_per_program: int | None = None) -> GroupResult:
    """Train every member of ``spec`` in one vmapped, compiled program.

    With ``checkpoint_dir`` the group checkpoints every epoch and resumes
    from there (or is returned as saved, if it finished). A group whose
    program needs more than ``max_memory`` bytes per device, or more than
    ``members_per_program`` members, runs in chunks of members, one after
    another (:func:`.placed.placed_chunks`). ``progress``: a bool or the
    run's bar.

    Raises:
      ValueError: the batch is larger than the training split, or even the
        smallest chunk is over ``max_memory``.
      Interrupted: ``stop`` was requested (after the epoch in progress) or
        Ctrl-C (at once); the last finished epoch is checkpointed.
      OSError: a checkpoint could not be written (the previous one is kept).
    """
    steps_per_epoch(spec.config, data.num_train)  # fail early
    run_bar = progress if isinstance(progress, RunBar) else RunBar(
        len(spec.members) * spec.config.epochs, enabled=progress)
    try:
        group = _finished(checkpoint_dir, run_bar, spec.name, spec)
        if group is None:
            group = _train(spec, data, run_bar, checkpoint_dir, stop,
                           max_memory, members_per_program)
    finally:
        if run_bar is not progress:
            run_bar.close()
    return group


def _train(spec: GroupSpec, data: Dataset, run_bar: RunBar,
           path: Path | None, stop: StopRequest | None,
           max_memory: int | None, members_per_program: int | None
           ) -> GroupResult:
    """Plan, compile and train ``spec``, chunk by chunk (each chunk
    checkpointed in, and skipped when finished, its own dir)."""
    start = time.perf_counter()
    run_bar.status(f"compiling {spec.name}...")
    chunks, layout, compile_s = placed.placed_chunks(  # resumed: its layout
        spec, data, max_memory, members_per_program, placed.recorded(path))
    placed.record(path, layout)
    n = len(chunks)
    if n > 1:
        run_bar.note(f"{spec.name}: {len(spec.members)} members over the "
                     f"memory budget: {n} chunks of {layout.members}, one "
                     f"after another")
    parts = []
    for i, c in enumerate(chunks):
        where, name, result = path, spec.name, None
        if n > 1:
            where, name = placed.chunk_dir(path, i), f"{spec.name} {i + 1}/{n}"
            result = _finished(where, run_bar, name, c.spec)
        if result is None:
            result = _train_one(c, run_bar, where, name, stop)
            if n > 1 and where is not None:
                checkpoint.save_result(where, result)
        parts.append(result)
    group = placed.joined(spec.members, parts)._replace(
        seconds=time.perf_counter() - start, compile_seconds=compile_s)
    if path is not None:
        checkpoint.save_result(path, group)
    return group
