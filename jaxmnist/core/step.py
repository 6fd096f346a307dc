"""One training step, for ``lax.scan``: the optimizer and the
regularisers, as static config says, and with probes the step's own
per-layer gradient norms.

The carry is (params, optimizer state, batch-norm stats). A step does not
guard against a non-finite loss: the epoch does, once, for each member
(:func:`jaxmnist.core.train.make_epoch`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple, cast

import jax
import jax.numpy as jnp
import optax

from jaxmnist.core import dynamics, layers, model
from jaxmnist.core.activations import apply_activation
from jaxmnist.core.config import HParams, TrainConfig, or_zero
from jaxmnist.data.dataset import Dataset
from jaxmnist.optim.registry import make_optimizer
from jaxmnist.optim.schedules import scaled_schedule, schedule_multiplier
from jaxmnist.optim.transforms import add_decayed_weights


class Carry(NamedTuple):
    params: model.Params
    opt_state: optax.OptState
    stats: list | None  # batch-norm running statistics


def steps_per_epoch(config: TrainConfig, num_train: int) -> int:
    """Full batches per epoch (the last partial batch is dropped)."""
    if config.batch_size > num_train:
        raise ValueError(f"batch_size {config.batch_size} is larger than the "
                         f"{num_train} training images")
    return num_train // config.batch_size


def member_options(config: TrainConfig, hparams: HParams) -> dict:
    """The optimizer's options for one member: the config's constants and
    its own vmapped ones."""
    return {**dict(config.optimizer_options),
            **{k: hparams.optimizer[k] for k in config.vmapped_options}}


def make_optimizer_for(config: TrainConfig, hparams: HParams,
                       num_train: int) -> optax.GradientTransformation:
    """The configured optimizer with this member's (traced) learning rate,
    vmapped options and, when compiled, its L2 weight decay in front."""
    steps = steps_per_epoch(config, num_train)
    learning_rate = hparams.learning_rate
    if config.schedule != "constant":
        multiplier = schedule_multiplier(
            config.schedule, total_steps=steps * config.epochs,
            steps_per_epoch=steps,
            warmup_steps=round(config.warmup_epochs * steps),
            decay_rate=config.decay_rate)
        learning_rate = scaled_schedule(learning_rate, multiplier)
    tx = make_optimizer(config.optimizer, learning_rate,
                        config.implementation,
                        **member_options(config, hparams))
    if not config.weight_decay:
        return tx
    l2 = add_decayed_weights(  # weights only: g <- g + wd * w
        jnp.asarray(or_zero(hparams.weight_decay), jnp.float32),
        mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
    return optax.chain(l2, tx)


def step_layout(config: TrainConfig, tree):
    """``tree`` (a carry: params, optimizer state...) as the steps hold it,
    and back (its own inverse): where ``config.transposed_first_layer``,
    the first layer's weights transposed wherever they appear, the
    params' ``[0]["w"]`` and every optimizer-state leaf that mirrors it
    (Adam's moments, a momentum trace); else ``tree`` itself."""
    def swap(path, leaf):
        first_w = (len(path) >= 2 and path[-1] == jax.tree_util.DictKey("w")
                   and path[-2] == jax.tree_util.SequenceKey(0))
        return jnp.swapaxes(leaf, -1, -2) if first_w and jnp.ndim(leaf) == 2 \
            else leaf
    if not config.transposed_first_layer:
        return tree
    return jax.tree_util.tree_map_with_path(swap, tree)


def keep_where(ok: jax.Array, new, old):
    """``new`` where ``ok``, else ``old``, leaf by leaf (the divergence
    guard's select)."""
    return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


def make_step(config: TrainConfig, tx: optax.GradientTransformation,
              hparams: HParams, data: Dataset, dropout_key: jax.Array | None):
    """``step(carry, (batch indices, step number)) -> (carry, (loss,
    accuracy, per-layer gradient norms ``[layers]`` or 0 without
    probes))``; the norms are those of the step's own gradients. Where
    ``config.transposed_first_layer``, the carry holds the first layer's
    weights (and their optimizer state) transposed (:func:`step_layout`,
    :func:`~jaxmnist.core.layers.matmul_transposed_first` says why)."""
    choices, act = config.activation_choices, hparams.activation
    rank_one = rank_one_norms(config)
    loss_fn = _make_loss(config, hparams)

    def step(carry: Carry, batch):
        idx, number = batch
        x, y = data.train_images[idx], data.train_labels[idx]
        key = None if dropout_key is None else jax.random.fold_in(
            dropout_key, number)
        (loss, (out, stats, zs)), grads = jax.value_and_grad(
            loss_fn, has_aux=True)(carry.params, carry.stats, x, y, key)
        updates, opt_state = tx.update(grads, carry.opt_state, carry.params)
        params = optax.apply_updates(carry.params, updates)
        new = Carry(cast(model.Params, params), opt_state, stats)
        if not config.dynamics:
            norms = jnp.zeros([])
        elif rank_one:  # layer inputs: the image, f(z)
            norms = dynamics.per_sample_grad_norms(grads, [x] + [
                apply_activation(act, z, choices) for z in zs])
        else:
            norms = dynamics.layer_norms([g["w"] for g in grads])
        return new, (loss, model.accuracy_from_logits(out, y), norms)

    return step


def rank_one_norms(config: TrainConfig) -> bool:
    """Whether a step's gradient norms come from the rank-one identity
    (one example of a plain MLP: :func:`dynamics.per_sample_grad_norms`,
    no weight gradient read) rather than from the weight gradients."""
    return (config.batch_size == 1 and config.model == "mlp"
            and not config.batch_norm and not config.dropout)


def _make_loss(config: TrainConfig, hparams: HParams):
    """``loss(params, stats, x, y, key) -> (loss, (logits, stats, zs))``
    of one training batch (dropout with ``key``)."""
    act, choices = hparams.activation, config.activation_choices
    rate = or_zero(hparams.dropout) if config.dropout else None

    apply: Callable = config.net.apply
    if config.transposed_first_layer:  # an MLP: see make_step
        apply = cast(Callable, functools.partial(
            model.apply, linear=layers.matmul_transposed_first))

    def loss_fn(params, stats, x, y, key):
        out, zs, stats = apply(params, act, x, choices, stats=stats,
                               train=True, dropout_rate=rate, key=key)
        return model.loss_from_logits(out, y), (out, stats, zs)

    return loss_fn
