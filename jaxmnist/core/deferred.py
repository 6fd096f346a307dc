"""Small-batch SGD with the first layer's updates deferred over blocks of steps.

Plain SGD's update of the first weight matrix at a step of ``B`` examples
has rank ``B``: ``ΔW1 = X_tᵀ U_t`` with ``U_t = −η Δ_t`` (``Δ_t`` the loss
gradient with respect to the first pre-activations, ``[B, 128]``). Over a
block of steps the weights step ``t`` sees are ``W1_0 + Σ_{s<t} X_sᵀ U_s``,
so its pre-activations are

    Z_t = X_t W1_0 + Σ_{s<t} (X_t X_sᵀ) U_s + b1

exactly: the block's ``X W1_0`` is one ``[rows, 784] @ [784, 128]`` matmul,
its Gram matrix ``X Xᵀ`` another, each step adds the small correction, and
the block ends with the one update ``W1 += Xᵀ U``. The dense step instead
reads and rewrites the whole ``[784, 128]`` matrix (every member's) at
every step. The rest of the network (biases and later layers) is updated
at every step as the dense step does. The two are equal in exact
arithmetic (float64: to 1e-15); in float32 they round differently, so the
numbers are those of the dense computation to float rounding, not bitwise.

Used where measured faster (:func:`applies`): plain SGD of the MLP with
batches of at most :data:`MAX_BATCH`, without batch norm, dropout or weight
decay. The optimizer's update is taken from ``tx`` itself, applied to
``Δ_t`` in place of the first layer's weight gradient: plain SGD scales
every gradient leaf by the step's learning rate, whatever its shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, cast

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxmnist.core import dynamics, model
from jaxmnist.core.activations import apply_activation
from jaxmnist.core.config import HParams, TrainConfig
from jaxmnist.core.step import Carry, keep_where
from jaxmnist.data.dataset import Dataset

__all__ = ["MAX_BATCH", "ROWS", "applies", "block_steps", "deferred_steps"]

#: Examples per block: ``ROWS // batch`` steps (at least 1). Blocks of 64
#: examples were the fastest of the sizes measured (docs/performance.md).
ROWS = 64

#: The largest batch the deferred path takes: above it the dense step was
#: as fast (docs/performance.md, "Small-batch SGD").
MAX_BATCH = 16

#: The optimizers whose update is ``−η g``, leaf by leaf.
PLAIN_SGD = ("sgd", "minibatch_sgd")


def applies(config: TrainConfig) -> bool:
    """Whether ``config``'s epochs take the deferred path: plain SGD of an
    MLP with batches of at most :data:`MAX_BATCH`, no batch norm, dropout
    or weight decay."""
    return (config.model == "mlp" and config.optimizer in PLAIN_SGD
            and config.batch_size <= MAX_BATCH and not config.batch_norm
            and not config.dropout and not config.weight_decay)


def block_steps(config: TrainConfig) -> int:
    """Steps per block at ``config``'s batch size."""
    return max(1, ROWS // config.batch_size)


def deferred_steps(config: TrainConfig, tx: optax.GradientTransformation,
                   hparams: HParams, data: Dataset, carry: Carry,
                   batches: jax.Array, dense_step: Callable,
                   grad_norms: Callable | None = None):
    """``(carry, (losses, accuracies, grad norms))`` of an epoch's
    ``batches`` (``[steps, batch]`` indices): blocks of
    :func:`block_steps` steps, the remaining steps by ``dense_step`` (the
    guarded dense step), with their gradient norms by ``grad_norms`` (see
    ``make_grad_norms``) when it is given (batches above 1, with probes).
    Every step is guarded: a member whose loss is not finite keeps its
    params and optimizer state from then on, as with the dense step."""
    steps, per_block = batches.shape[0], block_steps(config)
    blocks = steps // per_block
    rest = jnp.arange(blocks * per_block, steps, dtype=jnp.int32)
    tail_step = dense_step if grad_norms is None else _with_norms(
        dense_step, grad_norms)
    if not blocks:
        return lax.scan(tail_step, carry, (batches, rest))
    carry, outs = lax.scan(
        _make_block(config, tx, hparams, data, per_block), carry,
        batches[:blocks * per_block].reshape(blocks, per_block,
                                             batches.shape[1]))
    outs = jax.tree.map(lambda x: x.reshape(blocks * per_block,
                                            *x.shape[2:]), outs)
    if steps % per_block:
        carry, tail = lax.scan(tail_step, carry, (batches[rest], rest))
        outs = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), outs, tail)
    # materialised: the losses' mean then reduces one array whether or
    # not the probes also read it (measured: without, the epoch's mean
    # training loss moved in its last bit when probes were on)
    return carry, lax.optimization_barrier(outs)


def _with_norms(step: Callable, grad_norms: Callable) -> Callable:
    """``step`` reporting ``grad_norms`` of its batch at its start params
    (recomputed: the step's own gradient keeps its one consumer)."""
    def stepped(carry: Carry, batch):
        norms = grad_norms(carry, batch)
        carry, (loss, acc, _) = step(carry, batch)
        return carry, (loss, acc, norms)
    return stepped


class _InBlock(NamedTuple):
    """A block's carry from step to step (W1 stays the block's first)."""
    b1: jax.Array
    rest: list  # the later layers' params
    opt_state: optax.OptState
    diverged: jax.Array
    w1_updates: jax.Array  # [rows, hidden]: X_s U_s, U_s in step s's rows
    updated: jax.Array  # [rows] bool: that row's step updated the params


def _make_block(config: TrainConfig, tx: optax.GradientTransformation,
                hparams: HParams, data: Dataset, per_block: int):
    """``block(carry, indices [per_block, batch]) -> (carry, per-step
    outputs)``."""
    act, choices = hparams.activation, config.activation_choices
    batch = config.batch_size

    def tail_loss(z1, rest, y):
        h1 = apply_activation(act, z1, choices)
        out, zs, _ = model.apply(rest, act, h1, choices)
        return model.loss_from_logits(out, y), (out, [h1] + [
            apply_activation(act, z, choices) for z in zs])

    def step_norms(grads, inputs, xs, gram, t):
        """``‖∇W_l‖`` of step ``t`` (0 without probes)."""
        if not config.dynamics:
            return jnp.zeros([])
        if batch == 1:  # the rank-one identity, as the dense step
            return dynamics.per_sample_grad_norms(
                grads, [xs[t][None]] + inputs)
        # ‖X_tᵀ Δ_t‖² = Σ (X_t X_tᵀ) ∘ (Δ_t Δ_tᵀ): no [784, 128] product
        own = lax.dynamic_slice_in_dim(gram[t], t * batch, batch, axis=1)
        delta = grads[0]["w"]
        first = jnp.sqrt(jnp.sum(own * (delta @ delta.T)))
        return jnp.concatenate([first[None], dynamics.layer_norms(
            [g["w"] for g in grads[1:]])])

    def block(carry: Carry, idx):
        xs = model.to_float(data.train_images[idx.reshape(-1)])  # [rows, 784]
        ys = data.train_labels[idx]  # [per_block, batch]
        gram = (xs @ xs.T).reshape(per_block, batch, -1)
        w1 = carry.params[0]["w"]
        pre = (xs @ w1).reshape(per_block, batch, -1)  # the block's first W1

        def step(c: _InBlock, t):
            # the rows of the steps before t that updated (where, not a
            # product: an image with a NaN must not reach the other steps)
            past = jnp.where(jnp.repeat(c.updated, batch)[None], gram[t], 0.0)
            z1 = pre[t] + past @ c.w1_updates + c.b1
            (loss, (out, inputs)), (gz, grest) = jax.value_and_grad(
                tail_loss, argnums=(0, 1), has_aux=True)(z1, c.rest, ys[t])
            grads = [{"w": gz, "b": gz.sum(0)}, *grest]
            updates, opt_state = tx.update(grads, c.opt_state,
                                           [{"w": w1, "b": c.b1}, *c.rest])
            first, *later = cast(list, updates)
            ok = jnp.isfinite(loss) & ~c.diverged
            b1, rest, opt_state = keep_where(
                ok, (c.b1 + first["b"], optax.apply_updates(c.rest, later),
                     opt_state), (c.b1, c.rest, c.opt_state))
            new = _InBlock(
                b1, rest, opt_state, c.diverged | ~jnp.isfinite(loss),
                lax.dynamic_update_slice(
                    c.w1_updates, jnp.where(ok, first["w"], 0.0),
                    (t * batch, 0)),
                c.updated.at[t].set(ok))
            return new, (loss, model.accuracy_from_logits(out, ys[t]),
                         step_norms(grads, inputs, xs, gram, t))

        rows = per_block * batch
        c, outs = lax.scan(step, _InBlock(
            carry.params[0]["b"], carry.params[1:], carry.opt_state,
            carry.diverged, jnp.zeros((rows, w1.shape[1]), w1.dtype),
            jnp.zeros(per_block, bool)), jnp.arange(per_block))
        xs_updated = jnp.where(jnp.repeat(c.updated, batch)[:, None], xs, 0.0)
        params = [{"w": w1 + xs_updated.T @ c.w1_updates, "b": c.b1},
                  *c.rest]
        return Carry(params, c.opt_state, carry.stats, c.diverged), outs

    return block
