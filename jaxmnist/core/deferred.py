"""Per-sample SGD with the first layer's updates deferred over blocks of steps.

Plain SGD's update of the first weight matrix at a batch-1 step is rank
one, ``ΔW1 = x uᵀ`` with ``u = −η δ`` (``δ`` the loss gradient with respect
to the first pre-activation). Over a block of ``b`` steps the weights the
step ``t`` sees are ``W1_0 + Σ_{s<t} x_s u_sᵀ``, so its pre-activation is

    z_t = x_t W1_0 + Σ_{s<t} (x_t · x_s) u_s + b1

exactly: the block's ``X W1_0`` is one ``[b, 784] @ [784, 128]`` matmul, its
Gram matrix ``X Xᵀ`` another, each step adds the small correction, and the
block ends with the one update ``W1 += Xᵀ U``. The dense step instead reads
and rewrites the whole ``[784, 128]`` matrix (every member's) at every
step. The rest of the network (biases and later layers) is updated at every
step as the dense step does. The two are equal in exact arithmetic (float64:
to 1e-15); in float32 they round differently, so per-sample SGD's numbers
are those of the dense computation to float rounding, not bitwise.

Used where measured faster (:func:`applies`): per-sample (batch 1) plain SGD
of the MLP without batch norm, dropout or weight decay. The optimizer's
update is taken from ``tx`` itself, applied to ``δ`` in place of the first
layer's weight gradient: plain SGD scales every gradient leaf by the step's
learning rate, whatever its shape.
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
from jaxmnist.core.step import Carry, _keep_where, per_step_grad_norms
from jaxmnist.data.dataset import Dataset

__all__ = ["BLOCK", "applies", "deferred_steps"]

#: Steps per block. Measured on 2026-11-25 (a standalone prototype of the
#: two computations, 4 members, batch 1, MNIST, 2-core AMD EPYC): 20.3,
#: 17.7, 16.4 and 20.2 µs a step for blocks of 16, 32, 64 and 128, against
#: 67-70 µs for the dense step; with batches of 8 the blocks were 1.5x
#: faster, with 32 equal, with 128 slower.
BLOCK = 64

#: The optimizers whose update is ``−η g``, leaf by leaf.
PLAIN_SGD = ("sgd", "minibatch_sgd")


def applies(config: TrainConfig) -> bool:
    """Whether ``config``'s epochs take the deferred path: per-sample
    plain SGD of an MLP, no batch norm, dropout or weight decay."""
    return (per_step_grad_norms(config) and config.optimizer in PLAIN_SGD
            and not config.weight_decay)


def deferred_steps(config: TrainConfig, tx: optax.GradientTransformation,
                   hparams: HParams, data: Dataset, carry: Carry,
                   batches: jax.Array, dense_step: Callable):
    """``(carry, (losses, accuracies, grad norms))`` of an epoch's
    ``batches`` (``[steps, 1]`` indices): blocks of :data:`BLOCK` steps, the
    remaining ``steps % BLOCK`` by ``dense_step`` (the guarded dense step).
    Every step is guarded: a member whose loss is not finite keeps its
    params and optimizer state from then on, as with the dense step."""
    steps = batches.shape[0]
    blocks = steps // BLOCK
    rest = jnp.arange(blocks * BLOCK, steps, dtype=jnp.int32)
    if not blocks:
        return lax.scan(dense_step, carry, (batches, rest))
    carry, outs = lax.scan(
        _make_block(config, tx, hparams, data), carry,
        batches[:blocks * BLOCK].reshape(blocks, BLOCK, batches.shape[1]))
    outs = jax.tree.map(lambda x: x.reshape(blocks * BLOCK, *x.shape[2:]),
                        outs)
    if steps % BLOCK:
        carry, tail = lax.scan(dense_step, carry, (batches[rest], rest))
        outs = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), outs, tail)
    # materialised: the losses' mean then reduces one array whether or
    # not the probes also read it (measured: without, the epoch's mean
    # training loss moved in its last bit when probes were on)
    return carry, lax.optimization_barrier(outs)


class _InBlock(NamedTuple):
    """A block's carry from step to step (W1 stays the block's first)."""
    b1: jax.Array
    rest: list  # the later layers' params
    opt_state: optax.OptState
    diverged: jax.Array
    w1_updates: jax.Array  # [BLOCK, hidden]: step s's update is x_s ⊗ row s
    updated: jax.Array  # [BLOCK] bool: step s updated the params


def _make_block(config: TrainConfig, tx: optax.GradientTransformation,
                hparams: HParams, data: Dataset):
    """``block(carry, indices [BLOCK, 1]) -> (carry, per-step outputs)``."""
    act, choices = hparams.activation, config.activation_choices

    def tail_loss(z1, rest, y):
        h1 = apply_activation(act, z1, choices)
        out, zs, _ = model.apply(rest, act, h1, choices)
        return model.loss_from_logits(out, y), (out, [h1] + [
            apply_activation(act, z, choices) for z in zs])

    def block(carry: Carry, idx):
        xs = model.to_float(data.train_images[idx.reshape(-1)])  # [b, 784]
        ys = data.train_labels[idx]  # [b, 1]
        gram = xs @ xs.T
        w1 = carry.params[0]["w"]
        pre = xs @ w1  # with the block's first W1

        def step(c: _InBlock, t):
            # the steps before t that updated (where, not a product: an
            # image with a NaN must not reach the other steps)
            past = jnp.where(c.updated, gram[t], 0.0)
            z1 = pre[t][None] + past[None] @ c.w1_updates + c.b1
            (loss, (out, inputs)), (gz, grest) = jax.value_and_grad(
                tail_loss, argnums=(0, 1), has_aux=True)(z1, c.rest, ys[t])
            grads = [{"w": gz, "b": gz.sum(0)}, *grest]
            updates, opt_state = tx.update(grads, c.opt_state,
                                           [{"w": w1, "b": c.b1}, *c.rest])
            first, *later = cast(list, updates)
            ok = jnp.isfinite(loss) & ~c.diverged
            b1, rest, opt_state = _keep_where(
                ok, (c.b1 + first["b"], optax.apply_updates(c.rest, later),
                     opt_state), (c.b1, c.rest, c.opt_state))
            new = _InBlock(
                b1, rest, opt_state, c.diverged | ~jnp.isfinite(loss),
                c.w1_updates.at[t].set(jnp.where(ok, first["w"][0], 0.0)),
                c.updated.at[t].set(ok))
            norms = (dynamics.per_sample_grad_norms(
                grads, [xs[t][None]] + inputs) if config.dynamics
                else jnp.zeros([]))
            return new, (loss, model.accuracy_from_logits(out, ys[t]), norms)

        c, outs = lax.scan(step, _InBlock(
            carry.params[0]["b"], carry.params[1:], carry.opt_state,
            carry.diverged, jnp.zeros((BLOCK, w1.shape[1]), w1.dtype),
            jnp.zeros(BLOCK, bool)), jnp.arange(BLOCK))
        xs_updated = jnp.where(c.updated[:, None], xs, 0.0)
        params = [{"w": w1 + xs_updated.T @ c.w1_updates, "b": c.b1},
                  *c.rest]
        return Carry(params, c.opt_state, carry.stats, c.diverged), outs

    return block
