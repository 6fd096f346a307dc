"""``make_train(config)``: a pure ``train(key, hparams, data)`` of scans.

The run is one scan over epochs of :func:`make_epoch`'s ``epoch`` function,
which is itself a scan over shuffled mini-batches followed by a full
evaluation on the validation and test splits. The sweep drives the same
``init`` and ``epoch`` functions from Python, one call per epoch, to show
progress: one code path, two drivers.

``train`` composes with ``jax.jit`` and ``jax.vmap``: vmap over keys (seeds),
over stacked :class:`~jaxmnist.core.config.HParams` (activations, learning
rates), or both; the data is shared (``in_axes=None``) and stays uint8 on
the device.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxmnist.core import deferred, dynamics, model
from jaxmnist.core.checks import checked_inputs, valid_member
from jaxmnist.core.config import HParams, TrainConfig
from jaxmnist.core.step import (
    Carry,
    keep_where,
    make_optimizer_for,
    make_step,
    member_options,
    step_layout,
    steps_per_epoch,
)
from jaxmnist.data.dataset import Dataset
from jaxmnist.optim.registry import (
    evaluation_params,
    get_spec,
    make_optimizer,
)
from jaxmnist.types import Array

__all__ = ["EpochResult", "Metrics", "TrainResult", "TrainState",
           "epoch_key", "evaluate_split", "evaluates_elsewhere",
           "evaluation_point", "make_epoch", "make_init", "make_train",
           "member_key", "probes_epoch", "steps_per_epoch"]


class Metrics(NamedTuple):
    """Per-epoch metrics; each field is ``[epochs]`` (``[members, epochs]``
    when vmapped). Train figures are running means over the epoch's batches;
    val and test are full evaluations at the end of the epoch. ``diverged``
    is True from the epoch in which the training loss first became NaN or
    infinite, or from the first epoch for a member whose traced
    hyperparameters are out of range (see ``make_train``); the member's
    parameters then stay those it had at that epoch's start."""
    train_loss: Array
    train_accuracy: Array
    val_loss: Array
    val_accuracy: Array
    test_loss: Array
    test_accuracy: Array
    diverged: Array


class TrainState(NamedTuple):
    params: model.Params
    opt_state: optax.OptState
    diverged: jax.Array  # bool: a non-finite loss was seen; params frozen
    probe: dynamics.ProbeState | None = None  # with config.dynamics
    stats: list | None = None  # batch-norm running statistics


class EpochResult(NamedTuple):
    """What one epoch reports: its metrics, and its learning-dynamics probes
    when ``config.dynamics`` (None otherwise)."""
    metrics: Metrics
    dynamics: dynamics.Dynamics | None = None


class TrainResult(NamedTuple):
    params: model.Params  # the evaluation point: see evaluation_point
    metrics: Metrics
    dynamics: dynamics.Dynamics | None = None  # [epochs, ...] when probed
    stats: list | None = None  # batch-norm running statistics


def evaluate_split(config: TrainConfig, params: model.Params, stats,
                   activation, images: Array, labels: Array
                   ) -> tuple[jax.Array, jax.Array]:
    """(mean loss, accuracy) of the model on a whole split (evaluation
    mode: no dropout, batch norm from the running statistics)."""
    out, _, _ = config.net.apply(params, activation, images,
                                 config.activation_choices, stats=stats)
    return model.loss_from_logits(out, labels), \
        model.accuracy_from_logits(out, labels)


def evaluation_point(config: TrainConfig, opt_state, params
                     ) -> model.Params:
    """The params to validate, test and save: the optimizer's evaluation
    point (Schedule-Free's average ``x``; the training params themselves
    for every other optimizer). Training, and the dynamics probes, read
    the training params (Schedule-Free's ``y``, where its gradients are
    taken)."""
    return evaluation_params(config.optimizer, opt_state, params)


@functools.cache
def evaluates_elsewhere(optimizer: str) -> bool:
    """Whether ``optimizer``'s evaluation point is not its training params
    (Schedule-Free's), found by tracing one init: a report can say which
    point its probes read, and a sweep skips the evaluation point's program
    where it is the params."""
    moved = []

    def trace(params):
        tx = make_optimizer(optimizer, get_spec(optimizer).learning_rate)
        moved.append(evaluation_params(optimizer, tx.init(params), params)
                     is not params)
        return jnp.zeros([])

    with jax.numpy_dtype_promotion("standard"):
        jax.eval_shape(trace, {"w": jnp.zeros((2, 2), jnp.float32)})
    return moved[0]


def make_init(config: TrainConfig
              ) -> Callable[[jax.Array, HParams, Dataset], TrainState]:
    """``init(key, hparams, data) -> TrainState`` for ``config``; with
    ``config.dynamics`` the probes' Lanczos starts are the initial params
    (a random direction already: fresh normal draws would cost seconds of
    compilation a group)."""

    def init(key: jax.Array, hparams: HParams, data: Dataset) -> TrainState:
        data = checked_inputs(config, hparams, data)
        params, stats = config.net.init(key, hparams.activation)
        tx = make_optimizer_for(config, hparams, data.train_images.shape[0])
        opt_state = tx.init(params)
        probe = None
        if config.dynamics:
            adaptive = dynamics.preconditioner(
                opt_state, member_options(config, hparams)) is not None
            flat = ravel_pytree(params)[0]
            probe = dynamics.ProbeState(flat, flat if adaptive else None)
        return TrainState(params, opt_state, ~valid_member(hparams, config),
                          probe, stats)

    return init


def probes_epoch(config: TrainConfig, epoch: int | jax.Array
                 ) -> bool | jax.Array:
    """Whether epoch number ``epoch`` (0-based) runs the probe batch's
    probes: the first (its histograms at the start are the initial
    params'), every ``config.probe_every``-th and the last."""
    if config.probe_every == 1:
        return True
    if isinstance(epoch, int):
        return (epoch == 0 or (epoch + 1) % config.probe_every == 0
                or epoch + 1 == config.epochs)
    number = jnp.asarray(epoch) + 1
    return ((number == 1) | (number % config.probe_every == 0)
            | (number == config.epochs))


def make_epoch(config: TrainConfig
               ) -> Callable[..., tuple[TrainState, EpochResult]]:
    """``epoch(state, hparams, data, key, probe=True) -> (state, result)``:
    one pass.

    ``key`` orders this epoch's data (``jax.random.permutation``) and, with
    dropout, gives step ``s`` its masks from ``fold_in(fold_in(key, 1), s)``.
    When it is shared by vmapped members (not batched), JAX gathers each
    batch once for all of them and fuses their first-layer matmuls into one
    wide matmul. Each step gathers a batch of uint8 images and converts it
    to float inside the step (:mod:`jaxmnist.core.step`).

    The divergence guard is one select per member: a member whose loss was
    not finite at some step keeps the state it started the epoch with and
    is marked diverged (and so from then on). After the batches, the model
    is evaluated on the validation and test splits, and with
    ``config.dynamics`` probed (:mod:`jaxmnist.core.dynamics`): the
    training's probes every epoch, the probe batch's where ``probe`` (a
    bool, or a traced one: see :func:`probes_epoch`), NaN otherwise. The
    probes only read the training: its numbers are those without them.
    """

    def epoch(state: TrainState, hparams: HParams, data: Dataset,
              key: jax.Array, probe: bool | jax.Array = True
              ) -> tuple[TrainState, EpochResult]:
        data = checked_inputs(config, hparams, data)
        n = data.train_images.shape[0]
        tx = make_optimizer_for(config, hparams, n)
        dropout_key = jax.random.fold_in(key, 1) if config.dropout else None
        batches = _batches(config, key, n)
        start = Carry(state.params, state.opt_state, state.stats)
        step = make_step(config, tx, hparams, data, dropout_key)
        if config.deferred_first_layer:
            carry, (losses, accs, norms) = deferred.deferred_steps(
                config, tx, hparams, data, start, batches, step)
        else:
            carry, (losses, accs, norms) = lax.scan(step, step_layout(
                config, start), (batches, jnp.arange(batches.shape[0],
                                                     dtype=jnp.int32)))
            carry = step_layout(config, carry)
        diverged = state.diverged | ~jnp.all(jnp.isfinite(losses))
        carry = keep_where(~diverged, carry, start)
        act = hparams.activation
        point = evaluation_point(config, carry.opt_state, carry.params)
        metrics = Metrics(losses.mean(), accs.mean(),
                          *evaluate_split(config, point, carry.stats,
                                          act, data.val_images,
                                          data.val_labels),
                          *evaluate_split(config, point, carry.stats,
                                          act, data.test_images,
                                          data.test_labels),
                          diverged)
        new = TrainState(carry.params, carry.opt_state, diverged,
                         state.probe, carry.stats)
        if not config.dynamics:
            return new, EpochResult(metrics)
        assert state.probe is not None
        training = dynamics.training_probes(state.params, new.params, losses,
                                            norms)
        probe_state, batch = _probe_batch(
            config, hparams, data, (state.params, state.stats),
            (new.params, new.stats), state.probe, new.opt_state, probe)
        return new._replace(probe=probe_state), EpochResult(
            metrics, dynamics.combine(training, batch))

    return epoch


def _probe_batch(config: TrainConfig, hparams: HParams, data: Dataset,
                 start: tuple, end: tuple, probe: dynamics.ProbeState,
                 opt_state, when: bool | jax.Array
                 ) -> tuple[dynamics.ProbeState, dynamics.BatchProbes]:
    """(next probe state, the probe batch's probes) where ``when``, else
    (``probe``, NaN probes): a branch, not a select, when ``when`` is
    traced but not vmapped."""
    n = config.probe_size
    pre = dynamics.preconditioner(opt_state, member_options(config, hparams))

    def run():
        batch, state = dynamics.batch_probes(
            start, end, probe, pre, hparams.activation, data.val_images[:n],
            data.val_labels[:n], config.sharpness_iterations,
            config.activation_choices)
        return state, batch

    def skip():
        return probe, dynamics.unprobed(end[0], hparams.activation,
                                        data.val_images[:n],
                                        config.activation_choices, end[1])

    if isinstance(when, bool):
        return run() if when else skip()
    return lax.cond(when, run, skip)


def _batches(config: TrainConfig, key: jax.Array, n: int) -> jax.Array:
    """``[steps, batch]`` indices of this epoch's shuffled batches."""
    steps = steps_per_epoch(config, n)
    perm = jax.random.permutation(key, n)[:steps * config.batch_size]
    return perm.reshape(steps, config.batch_size)


def member_key(root_seed: int, seed: jax.typing.ArrayLike) -> jax.Array:
    """The key of seed number ``seed``: ``fold_in(key(root_seed), seed)``.

    It depends only on the root seed and the seed number, never on which
    other cells are in the sweep, so adding a cell changes no other cell.
    """
    return jax.random.fold_in(jax.random.key(root_seed), seed)


def epoch_key(key: jax.Array, epoch: jax.typing.ArrayLike) -> jax.Array:
    """The data-order key of epoch number ``epoch`` (0-based) of a run."""
    return jax.random.fold_in(jax.random.split(key)[1], epoch)


def make_train(config: TrainConfig
               ) -> Callable[[jax.Array, HParams, Dataset], TrainResult]:
    """A pure ``train(key, hparams, data) -> TrainResult`` for ``config``.

    ``key`` is a ``jax.random.key``: it seeds the initial weights and, through
    :func:`epoch_key`, the order of every epoch's batches. ``hparams`` holds
    the activation index, learning rate and the other numeric
    hyperparameters as arrays; ``data`` is a
    :class:`~jaxmnist.data.Dataset`. ``jax.jit`` it (it also runs without,
    slower, to the same result), and ``jax.vmap`` it over keys (seeds)
    and/or stacked hparams. Members vmapped over hparams with one key share
    their initial draws, data order and dropout masks (common random
    numbers: the comparison isolates the hyperparameters).

    Hyperparameters are checked where they reach ``init``
    (:mod:`jaxmnist.core.checks`): concrete values out of range raise a
    one-line ValueError naming the field; traced ones (under an outer
    ``jax.jit`` or ``jax.vmap``) start their member diverged, its params
    never moving and ``Metrics.diverged`` True from the first epoch: never
    clamped to a valid value.
    """
    init, epoch = make_init(config), make_epoch(config)

    def train(key: jax.Array, hparams: HParams, data: Dataset) -> TrainResult:
        data = checked_inputs(config, hparams, data)
        state = init(jax.random.split(key)[0], hparams, data)
        state, out = lax.scan(
            lambda s, e: epoch(s, hparams, data, epoch_key(key, e),
                               probes_epoch(config, e)),
            state, jnp.arange(config.epochs, dtype=jnp.int32))
        return TrainResult(evaluation_point(config, state.opt_state,
                                            state.params),
                           out.metrics, out.dynamics, state.stats)

    return train
