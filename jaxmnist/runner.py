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
from jaxmnist.train import Metrics, make_epoch, make_init, steps_per_epoch


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
    return [Member(optimizer, act, lr, seed) for act, lr, seed in
            itertools.product(cfg.activations, cfg.lrs_for(optimizer),
                              range(cfg.seeds))]


def train_group(cfg: SweepConfig, optimizer: str, data: Dataset,
                progress: bool = True) -> GroupResult:
    """Train every member of ``optimizer``'s group in one vmapped program."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    tcfg = train_config(cfg, optimizer)
    steps_per_epoch(tcfg, data.num_train)  # fail early on a too-large batch
    members = group_members(cfg, optimizer)
    hp: HParams = stack_hparams([make_hparams(m.activation, m.learning_rate)
                                 for m in members])
    keys = jax.vmap(member_key, in_axes=(None, 0))(
        cfg.seed, np.asarray([m.seed for m in members]))
    init = jax.jit(jax.vmap(make_init(tcfg), in_axes=(0, 0, None)))
    epoch = jax.jit(jax.vmap(make_epoch(tcfg), in_axes=(0, 0, None)),
                    donate_argnums=(0,))

    start = time.perf_counter()
    state = init(keys, hp, data)
    history, best = [], float("nan")
    bar = tqdm(total=cfg.epochs, desc=f"{optimizer} ({len(members)} members)",
               unit="epoch", disable=not progress, leave=True)
    epoch_times = []
    for _ in range(cfg.epochs):
        t = time.perf_counter()
        state, metrics = epoch(state, hp, data)
        metrics = jax.device_get(metrics)  # the one host sync per epoch
        epoch_times.append(time.perf_counter() - t)
        history.append(metrics)
        val = np.asarray(metrics.val_accuracy)
        if np.isfinite(val).any():
            best = float(np.nanmax([best, np.nanmax(val)]))
        bar.set_postfix(best_val=f"{best:.4f}")
        bar.update(1)
    bar.close()
    params = jax.device_get(state.params)
    seconds = time.perf_counter() - start
    compile_s = (epoch_times[0] - float(np.median(epoch_times[1:]))
                 if len(epoch_times) > 1 else 0.0)
    stacked = Metrics(*(np.stack([np.asarray(getattr(h, f)) for h in history],
                                 axis=1) for f in Metrics._fields))
    return GroupResult(members, stacked, params, seconds, max(compile_s, 0.0))
