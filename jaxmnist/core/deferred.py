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

Taken where ``TrainConfig.deferred_first_layer`` says (its
``first_layer`` option): plain SGD of the MLP without batch norm, dropout
or weight decay. The optimizer's update is taken from ``tx`` itself,
applied to ``Δ_t`` in place of the first layer's weight gradient: plain
SGD scales every gradient leaf by the step's learning rate, whatever its
shape.
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
from jaxmnist.core.step import Carry
from jaxmnist.data.dataset import Dataset

__all__ = ["ROWS", "block_steps", "deferred_steps"]

#: Examples per block: ``ROWS // batch`` steps (at least 1). Blocks of 64
#: examples were the fastest of the sizes measured (docs/performance.md).
ROWS = 64


def block_steps(config: TrainConfig) -> int:
    """Steps per block at ``config``'s batch size."""
    return max(1, ROWS // config.batch_size)


def deferred_steps(config: TrainConfig, tx: optax.GradientTransformation,
                   hparams: HParams, data: Dataset, carry: Carry,
                   batches: jax.Array, dense_step: Callable):
    """``(carry, (losses, accuracies, grad norms))`` of an epoch's
    ``batches`` (``[steps, batch]`` indices): blocks of
    :func:`block_steps` steps, the remaining steps by ``dense_step``. As
    the dense steps, no step is guarded: the epoch guards."""
    steps, per_block = batches.shape[0], block_steps(config)
    blocks = steps // per_block
    rest = jnp.arange(blocks * per_block, steps, dtype=jnp.int32)
    if not blocks:
        return lax.scan(dense_step, carry, (batches, rest))
    carry, outs = lax.scan(
        _make_block(config, tx, hparams, data, per_block), carry,
        batches[:blocks * per_block].reshape(blocks, per_block,
                                             batches.shape[1]))
    outs = jax.tree.map(lambda x: x.reshape(blocks * per_block,
                                            *x.shape[2:]), outs)
    if steps % per_block:
        carry, tail = lax.scan(dense_step, carry, (batches[rest], rest))
        outs = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), outs, tail)
    return carry, outs


class _InBlock(NamedTuple):
    """A block's carry from step to step (W1 stays the block's first)."""
    b1: jax.Array
    rest: list  # the later layers' params
    opt_state: optax.OptState
    w1_updates: jax.Array  # [rows, hidden]: U_s in step s's rows


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
            # rows after t's are still zero: only earlier steps contribute
            z1 = pre[t] + gram[t] @ c.w1_updates + c.b1
            (loss, (out, inputs)), (gz, grest) = jax.value_and_grad(
                tail_loss, argnums=(0, 1), has_aux=True)(z1, c.rest, ys[t])
            grads = [{"w": gz, "b": gz.sum(0)}, *grest]
            updates, opt_state = tx.update(grads, c.opt_state,
                                           [{"w": w1, "b": c.b1}, *c.rest])
            first, *later = cast(list, updates)
            new = _InBlock(
                c.b1 + first["b"],
                cast(list, optax.apply_updates(c.rest, later)),
                opt_state, lax.dynamic_update_slice(
                    c.w1_updates, first["w"], (t * batch, 0)))
            return new, (loss, model.accuracy_from_logits(out, ys[t]),
                         step_norms(grads, inputs, xs, gram, t))

        rows = per_block * batch
        c, outs = lax.scan(step, _InBlock(
            carry.params[0]["b"], carry.params[1:], carry.opt_state,
            jnp.zeros((rows, w1.shape[1]), w1.dtype)), jnp.arange(per_block))
        params = [{"w": w1 + xs.T @ c.w1_updates, "b": c.b1}, *c.rest]
        return Carry(params, c.opt_state, carry.stats), outs

    return block
