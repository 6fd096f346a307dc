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

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxmnist.core import dynamics, model
from jaxmnist.core.config import HParams, TrainConfig
from jaxmnist.data.dataset import Dataset, check_dataset
from jaxmnist.optim.registry import make_optimizer
from jaxmnist.optim.schedules import scaled_schedule, schedule_multiplier
from jaxmnist.types import Array


class Metrics(NamedTuple):
    """Per-epoch metrics; each field is ``[epochs]`` (``[members, epochs]``
    when vmapped). Train figures are running means over the epoch's batches;
    val and test are full evaluations at the end of the epoch. ``diverged``
    is True from the epoch in which the training loss first became NaN or
    infinite; from that step on the member's parameters are frozen."""
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


class EpochResult(NamedTuple):
    """What one epoch reports: its metrics, and its learning-dynamics probes
    when ``config.dynamics`` (None otherwise)."""
    metrics: Metrics
    dynamics: dynamics.Dynamics | None = None


class TrainResult(NamedTuple):
    params: model.Params
    metrics: Metrics
    dynamics: dynamics.Dynamics | None = None  # [epochs, ...] when probed


def steps_per_epoch(config: TrainConfig, num_train: int) -> int:
    """Full batches per epoch (the last partial batch is dropped)."""
    if config.batch_size > num_train:
        raise ValueError(f"batch_size {config.batch_size} is larger than the "
                         f"{num_train} training images")
    return num_train // config.batch_size


def make_optimizer_for(config: TrainConfig, learning_rate,
                       num_train: int) -> optax.GradientTransformation:
    """The configured optimizer with this member's (traced) learning rate."""
    steps = steps_per_epoch(config, num_train)
    if config.schedule != "constant":
        multiplier = schedule_multiplier(
            config.schedule, total_steps=steps * config.epochs,
            steps_per_epoch=steps,
            warmup_steps=round(config.warmup_epochs * steps),
            decay_rate=config.decay_rate)
        learning_rate = scaled_schedule(learning_rate, multiplier)
    return make_optimizer(config.optimizer, learning_rate,
                          config.implementation,
                          **dict(config.optimizer_options))


def evaluate_split(params: model.Params, activation, images: Array,
                   labels: Array, choices: tuple[int, ...] | None = None
                   ) -> tuple[jax.Array, jax.Array]:
    """(mean loss, accuracy) of the model on a whole split."""
    out = model.logits(params, activation, images, choices)
    return model.loss_from_logits(out, labels), \
        model.accuracy_from_logits(out, labels)


def make_init(config: TrainConfig
              ) -> Callable[[jax.Array, HParams, Dataset], TrainState]:
    """``init(key, hparams, data) -> TrainState`` for ``config``."""

    def init(key: jax.Array, hparams: HParams, data: Dataset) -> TrainState:
        check_dataset(data, config.sizes[0])
        params = model.init_mlp(key, config.sizes, hparams.activation)
        tx = make_optimizer_for(config, hparams.learning_rate,
                                data.train_images.shape[0])
        probe = None
        if config.dynamics:  # keys of their own: the params are unchanged
            probe = dynamics.ProbeState(
                dynamics.random_direction(jax.random.fold_in(key, 1), params),
                dynamics.random_direction(jax.random.fold_in(key, 2), params))
        return TrainState(params, tx.init(params), jnp.zeros([], bool), probe)

    return init


def _keep_where(ok: jax.Array, new, old):
    return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


def make_epoch(config: TrainConfig
               ) -> Callable[[TrainState, HParams, Dataset, jax.Array],
                             tuple[TrainState, EpochResult]]:
    """``epoch(state, hparams, data, key) -> (state, result)``: one pass.

    ``key`` orders this epoch's data (``jax.random.permutation``). When it is
    shared by vmapped members (not batched), JAX gathers each batch once for
    all of them and fuses their first-layer matmuls into one wide matmul.
    Each step gathers a batch of uint8 images and converts it to float
    inside the step. A step whose loss is not finite marks the member
    diverged and leaves its parameters and optimizer state as they were, so
    the rest of a vmapped group trains on unaffected. After the batches, the
    model is evaluated on the validation and test splits, and with
    ``config.dynamics`` probed (:mod:`jaxmnist.core.dynamics`): the probes
    only read the training computation, so its numbers are the same with
    them on or off.
    """
    choices = config.activation_choices

    def epoch(state: TrainState, hparams: HParams, data: Dataset,
              key: jax.Array) -> tuple[TrainState, EpochResult]:
        check_dataset(data, config.sizes[0])
        n = data.train_images.shape[0]
        tx = make_optimizer_for(config, hparams.learning_rate, n)
        batches = _batches(config, key, n)
        step = _make_step(tx, hparams.activation, data, choices,
                          config.dynamics)
        (params, opt_state, diverged), (losses, accs, grad_norms) = lax.scan(
            step, (state.params, state.opt_state, state.diverged), batches)
        act = hparams.activation
        metrics = Metrics(losses.mean(), accs.mean(),
                          *evaluate_split(params, act, data.val_images,
                                          data.val_labels, choices),
                          *evaluate_split(params, act, data.test_images,
                                          data.test_labels, choices),
                          diverged)
        new = TrainState(params, opt_state, diverged, state.probe)
        if not config.dynamics:
            return new, EpochResult(metrics)
        probes, probe = _probe(config, state, new, act, data, losses,
                               grad_norms)
        return new._replace(probe=probe), EpochResult(metrics, probes)

    return epoch


def _batches(config: TrainConfig, key: jax.Array, n: int) -> jax.Array:
    """``[steps, batch]`` indices of this epoch's shuffled batches."""
    steps = steps_per_epoch(config, n)
    perm = jax.random.permutation(key, n)[:steps * config.batch_size]
    return perm.reshape(steps, config.batch_size)


def _make_step(tx, act, data: Dataset, choices, probe_gradients: bool):
    """One training step for ``lax.scan``: (params, opt_state, diverged)
    carried; (loss, accuracy, per-layer gradient norms or 0) out."""
    def loss_fn(params, x, y):
        out = model.logits(params, act, x, choices)
        return model.loss_from_logits(out, y), out

    def step(carry, idx):
        params, opt_state, diverged = carry
        x, y = data.train_images[idx], data.train_labels[idx]
        (loss, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, x, y)
        updates, new_opt_state = tx.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        ok = jnp.isfinite(loss) & ~diverged
        carry = (_keep_where(ok, new_params, params),
                 _keep_where(ok, new_opt_state, opt_state),
                 diverged | ~jnp.isfinite(loss))
        norms = (dynamics.layer_norms(model.weight_matrices(grads))
                 if probe_gradients else jnp.zeros([]))
        return carry, (loss, model.accuracy_from_logits(out, y), norms)

    return step


def _probe(config: TrainConfig, before: TrainState, after: TrainState, act,
           data: Dataset, losses: jax.Array, grad_norms: jax.Array):
    """The epoch's :class:`~jaxmnist.core.dynamics.Dynamics` and the next
    warm-start vectors."""
    x = data.val_images[:config.probe_size]
    y = data.val_labels[:config.probe_size]
    choices = config.activation_choices
    assert before.probe is not None
    hvp = dynamics.hvp_fn(after.params, act, x, y, choices)
    sharp, v = dynamics.power_iteration(hvp, before.probe.hessian_vector,
                                        config.sharpness_iterations)
    p = dynamics.preconditioner(after.opt_state,
                                dict(config.optimizer_options))
    u = before.probe.preconditioned_vector
    if p is None:
        pre_sharp = jnp.full([], jnp.nan)
    else:
        pre_sharp, u = dynamics.power_iteration(
            dynamics.preconditioned_hvp(hvp, jax.tree.map(
                lambda q: 1 / jnp.sqrt(q), p)), u, config.sharpness_iterations)
    units = dynamics.unit_stats(after.params, act, x, choices)
    window_mean, window_max = dynamics.loss_windows(
        losses, min(dynamics.LOSS_WINDOWS, losses.shape[0]))
    probes = dynamics.Dynamics(
        grad_norm=grad_norms.mean(axis=0),
        update_ratio=dynamics.update_ratios(
            model.weight_layers(before.params),
            model.weight_layers(after.params)),
        weight_norm=dynamics.layer_norms(model.weight_matrices(after.params)),
        dead_fraction=units.dead_fraction,
        saturated_fraction=units.saturated_fraction,
        mean_gate=units.mean_gate, sharpness=sharp,
        preconditioned_sharpness=pre_sharp, loss_window_mean=window_mean,
        loss_window_max=window_max,
        hist_start=dynamics.preactivation_histograms(before.params, act, x,
                                                     choices),
        hist_end=dynamics.preactivation_histograms(after.params, act, x,
                                                   choices))
    return probes, dynamics.ProbeState(v, u)


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
    the activation index and learning rate as arrays; ``data`` is a
    :class:`~jaxmnist.data.Dataset`. ``jax.jit`` it, and ``jax.vmap`` it
    over keys (seeds) and/or stacked hparams. Members vmapped over hparams
    with one key share their initial draws and data order (common random
    numbers: the comparison isolates the hyperparameters).
    """
    init, epoch = make_init(config), make_epoch(config)

    def train(key: jax.Array, hparams: HParams, data: Dataset) -> TrainResult:
        state = init(jax.random.split(key)[0], hparams, data)
        state, out = lax.scan(
            lambda s, e: epoch(s, hparams, data, epoch_key(key, e)),
            state, jnp.arange(config.epochs, dtype=jnp.int32))
        return TrainResult(state.params, out.metrics, out.dynamics)

    return train
