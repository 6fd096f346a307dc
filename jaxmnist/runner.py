"""Run a sweep: one vmapped, compiled program per optimizer group.

Each group trains all its members (activations x learning rates x seeds)
at once with the same ``init`` and ``epoch`` functions that ``make_train``
scans over; here Python drives the epochs so the host is touched once per
epoch, for the progress bar.
"""

from __future__ import annotations

import itertools
import time
from typing import NamedTuple

import jax
import numpy as np

from jaxmnist.config import HParams, TrainConfig, stack_hparams, make_hparams
from jaxmnist.dataset import Dataset
from jaxmnist.sweep_config import SweepConfig
from jaxmnist.train import (Metrics, epoch_key, make_epoch, make_init,
                            steps_per_epoch)


class Member(NamedTuple):
    optimizer: str
    activation: str
    learning_rate: float
    seed: int


class GroupResult(NamedTuple):
    members: list[Member]
    history: Metrics  # numpy, each field [members, epochs]
    params: list  # host params pytree with a leading member axis
    seconds: float  # wall time of the whole group (compile included)
    compile_seconds: float  # first epoch's extra time: tracing + compiling
    epoch_seconds: list[float]  # wall time of each epoch (compile excluded)
    steps_per_epoch: int


def member_key(root_seed: int, seed: int) -> jax.Array:
    """The key of seed number ``seed``: ``fold_in(key(root_seed), seed)``.

    It depends only on the root seed and the seed number, never on which
    other cells are in the sweep, so adding a cell changes no other cell.
    """
    return jax.random.fold_in(jax.random.key(root_seed), seed)


def train_config(cfg: SweepConfig, optimizer: str) -> TrainConfig:
    return TrainConfig(optimizer=optimizer, epochs=cfg.epochs,
                       batch_size=cfg.batch_size_for(optimizer),
                       implementation=cfg.implementation,
                       schedule=cfg.schedule)


def group_members(cfg: SweepConfig, optimizer: str) -> list[Member]:
    """Seed-major: members ``s * M + m`` for seed ``s`` and cell ``m``."""
    return [Member(optimizer, act, lr, seed) for seed, act, lr in
            itertools.product(range(cfg.seeds), cfg.activations,
                              cfg.lrs_for(optimizer))]


def group_programs(tcfg: TrainConfig):
    """The group's compiled ``init`` and ``epoch``: vmapped over seeds
    (outer: key batched) and over cells (inner: hparams batched, key shared,
    so one seed's members share each batch gather and first-layer matmul).
    """
    init = jax.vmap(jax.vmap(make_init(tcfg), in_axes=(None, 0, None)),
                    in_axes=(0, None, None))
    epoch = jax.vmap(jax.vmap(make_epoch(tcfg), in_axes=(0, 0, None, None)),
                     in_axes=(0, None, None, 0))
    return jax.jit(init), jax.jit(epoch, donate_argnums=(0,))


def train_group(cfg: SweepConfig, optimizer: str, data: Dataset,
                progress: bool = True) -> GroupResult:
    """Train every member of ``optimizer``'s group in one vmapped program.

    Runs exactly what ``make_train(config)`` scans over (``init``, then
    ``epoch`` with :func:`~jaxmnist.train.epoch_key`), driven from Python
    once per epoch for the progress bar.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    tcfg = train_config(cfg, optimizer)
    steps_per_epoch(tcfg, data.num_train)  # fail early on a too-large batch
    members = group_members(cfg, optimizer)
    cells = members[:len(members) // cfg.seeds]
    hp: HParams = stack_hparams([make_hparams(m.activation, m.learning_rate)
                                 for m in cells])
    keys = jax.vmap(member_key, in_axes=(None, 0))(
        cfg.seed, np.arange(cfg.seeds))
    init, epoch = group_programs(tcfg)

    start = time.perf_counter()
    state = init(jax.vmap(lambda k: jax.random.split(k)[0])(keys), hp, data)
    history, best = [], float("nan")
    bar = tqdm(total=cfg.epochs, desc=f"{optimizer} ({len(members)} members)",
               unit="epoch", disable=not progress, leave=True)
    epoch_times = []
    for e in range(cfg.epochs):
        t = time.perf_counter()
        ekeys = jax.vmap(epoch_key, in_axes=(0, None))(keys, e)
        state, metrics = epoch(state, hp, data, ekeys)
        metrics = jax.device_get(metrics)  # the one host sync per epoch
        epoch_times.append(time.perf_counter() - t)
        history.append(jax.tree.map(lambda x: x.reshape(len(members)), metrics))
        val = np.where(history[-1].diverged, np.nan, history[-1].val_accuracy)
        if np.isfinite(val).any():
            best = float(np.nanmax([best, np.nanmax(val)]))
        bar.set_postfix(best_val=f"{best:.4f}")
        bar.update(1)
    bar.close()
    params = jax.tree.map(
        lambda x: x.reshape(len(members), *x.shape[2:]),
        jax.device_get(state.params))
    seconds = time.perf_counter() - start
    compile_s = max(epoch_times[0] - float(np.median(epoch_times[1:]))
                    if len(epoch_times) > 1 else 0.0, 0.0)
    epoch_times[0] -= compile_s
    stacked = Metrics(*(np.stack([np.asarray(getattr(h, f)) for h in history],
                                 axis=1) for f in Metrics._fields))
    return GroupResult(members, stacked, params, seconds, compile_s,
                       epoch_times, steps_per_epoch(tcfg, data.num_train))
