"""A group's epochs, pipelined: epoch ``e``'s checkpoint is written, and
its probe batch's program runs, while epoch ``e + 1`` trains.

The epoch program only sets the optimizer's preconditioner in the probe
state; the Lanczos vectors and the histograms belong to the probe program.
So the epoch program sees the state without them (:func:`epoch_view`), the
sweep keeps them apart (the probe carry), and epoch ``e + 1`` depends on
epoch ``e`` alone: the probes of epoch ``e``, on copies of the params it
reads (epoch ``e + 1`` donates the originals), run beside it. The host
still syncs once per epoch; epoch ``e``'s checkpoint, the same full state
as without the pipeline, is written once its probes are in, while epoch
``e + 1`` trains. The numbers are those of the unpipelined loop: the same
programs on the same inputs, in another order. The probe program compiles
on a thread of its own while a group's first epoch trains, and a fresh
group's probes of its initial params run with that epoch's.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxmnist.core.dynamics import ProbeState, combine
from jaxmnist.errors import StopRequest
from jaxmnist.sweep import checkpoints, sharding
from jaxmnist.sweep.progress import GroupBar

__all__ = ["epoch_view", "join", "run_epochs", "split"]


def epoch_view(tree):
    """``tree`` (a TrainState, or its axes or shardings) as the epoch
    program sees it: of the probe state, the preconditioner only."""
    if tree.probe is None:
        return tree
    return tree._replace(probe=ProbeState(None, None, None,
                                          tree.probe.preconditioner))


def split(state):
    """(the epoch program's view, the probe carry) of a full state."""
    return epoch_view(state), state.probe._replace(preconditioner=None)


def join(view, carry):
    """The full state of an epoch's view and its probe carry."""
    return view._replace(probe=carry._replace(
        preconditioner=view.probe.preconditioner))


def run_epochs(g, first: int, state, history: list, epoch_times: list,
               bar: GroupBar, checkpoint_dir: Path | None,
               stop: StopRequest | None = None):
    """Epochs ``first..epochs-1`` of the placed group ``g``: checkpoints
    after each but the last, written while the next one trains, and stops
    there if asked to (after writing it). With probes, each epoch's
    probe-batch program runs beside the next epoch.

    ``state`` at ``first`` 0 is fresh, its probes at initialisation not
    yet run (``initial_state(probed=False)``): they run with epoch 0's, once
    it has trained, beside epoch 1; the probe program compiles on a thread
    of its own while epoch ``first`` trains.

    Each epoch runs ``g.epoch`` (no guarded loop), and again with
    ``g.guarded`` (compiled then; its compile seconds are not the epoch's)
    when that one met a non-finite loss; from then on, and after a resume
    with a member diverged, every epoch runs guarded.
    """
    epochs = g.spec.config.epochs
    view, carry = split(state) if g.probe is not None else (state, None)
    guarded = bool(np.any(sharding.to_host(view.diverged)))
    initial = None
    if g.probe is not None:  # compiled while the first epoch trains
        g.probe.compile_beside()
        initial = _copies(view) if first == 0 else None
    pending = None
    for e in range(first, epochs):
        t, compile_s = time.perf_counter(), g.guarded.seconds
        keys = g.epoch_keys(e)
        view, out = (g.guarded if guarded else g.epoch)(view, g.hparams,
                                                        g.data, keys)
        if pending is not None:  # the previous epoch's record, meanwhile
            _finish(g, *pending, history, epoch_times, bar, checkpoint_dir)
        if not guarded and np.any(sharding.to_host(out.retried)):
            guarded = True  # a loss was not finite: this epoch, guarded
            view, out = g.guarded(view, g.hparams, g.data, keys)
        out = sharding.to_host(out._replace(retried=None))  # the host sync
        epoch_times.append(time.perf_counter() - t
                           - (g.guarded.seconds - compile_s))
        if initial is not None:  # the initial params' probes, first
            carry, initial = _probe(g, initial, carry)[0], None
        carry, batch = (None, None) if carry is None else _probe(
            g, _copies(view), carry)
        saved = sharding.to_host(view) if (checkpoint_dir is not None
                                           and e + 1 < epochs) else None
        pending = (e, out, saved, carry, batch)
        if stop is not None and stop.requested and e + 1 < epochs:
            _finish(g, *pending, history, epoch_times, bar, checkpoint_dir)
            stop.check(f"group {g.spec.name} stopped after epoch {e + 1} "
                       f"of {epochs}")
    if pending is not None:
        _finish(g, *pending, history, epoch_times, bar, checkpoint_dir)
    return view if carry is None else join(view, carry)


def _copies(view):
    """Copies of what the probes read of an epoch's view (params, stats,
    preconditioner), made before the next epoch donates the originals:
    the probe program then owns them."""
    copies = jax.tree.map(jnp.copy, (view.params, view.stats,
                                     view.probe.preconditioner))
    return jax.block_until_ready(copies)


def _probe(g, copies, carry):
    """(next probe carry, BatchProbes) of the params, stats and
    preconditioner ``copies`` (:func:`_copies`), dispatched."""
    carry, batch = g.probe(copies[0], copies[1],
                           carry._replace(preconditioner=copies[2]),
                           g.hparams.activation, g.data)
    return carry._replace(preconditioner=None), batch


def _finish(g, e: int, out, saved, carry, batch, history: list,
            epoch_times: list, bar: GroupBar,
            checkpoint_dir: Path | None) -> None:
    """Epoch ``e``'s record once its probes are in: its history entry,
    its checkpoint (``saved``: its host state or view, None for none), the
    bar."""
    n_cells, members = len(g.spec.cells), len(g.spec.members)
    n_seeds = len(g.spec.seeds)
    if batch is not None:  # the carry fetched only for a checkpoint
        if saved is None:
            batch = sharding.to_host(batch)
        else:
            carry, batch = sharding.to_host((carry, batch))
            saved = join(saved, carry)
        out = out._replace(dynamics=combine(out.dynamics, batch))
    history.append(jax.tree.map(  # [padded seed, padded cell, ...]
        lambda x: x[:n_seeds, :n_cells].reshape(members, *x.shape[2:]), out))
    if saved is not None and checkpoint_dir is not None:
        checkpoints.save_epoch(checkpoint_dir, e + 1, saved, history,
                               epoch_times)
    bar.epoch_done(history[-1].metrics)
