"""The learning-rate range test (Smith 2017; fastai's ``lr_find``).

Training starts from fresh params and multiplies the learning rate by the
same factor every step, from ``start`` to ``end``; the loss first falls
faster as the rate grows, then blows up. The bias-corrected exponential
moving average of the step losses (:func:`smooth`) is read with the usual
rules (:func:`suggestions`): the rate of the steepest descent of the
smoothed loss against log rate (searched after the average's first
:data:`WARMUP` steps and before its minimum: a descent after a spike is
not the one sought), and the rate of its minimum divided by 10, both
before the loss diverged (more than :data:`DIVERGED` times its minimum so
far, where fastai stops the test).

:func:`range_test` is generic (any loss, any optax optimizer built from a
schedule); :func:`make_range_test` the model's, with the training step of
the sweep, vmappable over activations and seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxmnist.core.config import HParams, TrainConfig
from jaxmnist.core.step import Carry, keep_where, make_step, step_layout
from jaxmnist.data.dataset import Dataset
from jaxmnist.optim.registry import make_optimizer

#: The smoothing of the step losses (fastai's).
BETA = 0.98
#: The test counts as diverged once the smoothed loss exceeds this many
#: times its minimum so far.
DIVERGED = 4.0
#: Steps at the start left out of the steepest-descent rule: the moving
#: average's window, 1 / (1 - BETA), before which it holds only the first
#: few (noisy) losses.
WARMUP = 50


class Suggestions(NamedTuple):
    """The rates the rules suggest (NaN when the test had too few steps
    before it diverged), and the step at which it diverged (the number of
    steps when it never did)."""
    steepest: float
    minimum_tenth: float
    diverged_step: int


def exponential_rates(start: float, end: float, steps: int) -> jax.Array:
    """``steps`` rates from ``start`` to ``end``, a constant factor apart."""
    t = jnp.arange(steps, dtype=jnp.float32) / max(steps - 1, 1)
    first = jnp.asarray(start, jnp.float32)
    return first * (jnp.asarray(end, jnp.float32) / first) ** t


def rate_schedule(rates: jax.Array) -> Callable[[jax.Array], jax.Array]:
    """An optax schedule giving update ``k`` the rate ``rates[k]``."""
    return lambda count: rates[jnp.minimum(count, rates.shape[0] - 1)]


def range_test(loss_fn: Callable, params, tx: optax.GradientTransformation,
               batches) -> jax.Array:
    """The loss of each step ``[steps]`` of training ``params`` with ``tx``
    on ``batches`` (a pytree with a leading step axis; ``loss_fn(params,
    batch)``). After a non-finite loss the params stay frozen and the
    losses read infinite."""
    def step(carry, batch):
        p, state, bad = carry
        loss, grads = jax.value_and_grad(loss_fn)(p, batch)
        updates, new_state = tx.update(grads, state, p)
        bad = bad | ~jnp.isfinite(loss)
        carry = (keep_where(~bad, optax.apply_updates(p, updates), p),
                 keep_where(~bad, new_state, state), bad)
        return carry, jnp.where(bad, jnp.inf, loss)

    init = (params, tx.init(params), jnp.zeros([], bool))
    return lax.scan(step, init, batches)[1]


def make_range_test(config: TrainConfig, steps: int, num_train: int):
    """``test(key, activation, rates, data) -> losses [steps]``:
    the range test of ``config``'s optimizer and model from the params
    ``key`` draws, on mini-batches of ``config.batch_size`` training
    images drawn from ``fold_in(key, 1)`` (a random permutation when the
    steps fit in one pass); vmappable over everything but ``data``."""
    per_pass = num_train // config.batch_size

    def test(key: jax.Array, activation: jax.Array, rates: jax.Array,
             data: Dataset) -> jax.Array:
        params, stats = config.net.init(key, activation)
        tx = make_optimizer(config.optimizer, rate_schedule(rates),
                            config.implementation,
                            **dict(config.optimizer_options))
        zero = jnp.zeros([], jnp.float32)
        hp = HParams(activation, rates[0], zero, zero, {})
        step = make_step(config, tx, hp, data, None)
        k = jax.random.fold_in(key, 1)
        if steps <= per_pass:
            idx = jax.random.permutation(k, num_train)[
                :steps * config.batch_size]
        else:
            idx = jax.random.randint(k, (steps * config.batch_size,), 0,
                                     num_train)
        idx = idx.reshape(steps, config.batch_size)
        carry = step_layout(config, Carry(params, tx.init(params), stats))
        _, (loss, _, _) = lax.scan(step, carry, (idx, jnp.arange(steps)))
        # from the first non-finite loss on, the test has diverged
        bad = jnp.cumsum(~jnp.isfinite(loss)) > 0
        return jnp.where(bad, jnp.inf, loss)

    return test


def smooth(losses: np.ndarray, beta: float = BETA) -> np.ndarray:
    """The bias-corrected exponential moving average of ``losses`` (last
    axis), fastai's: ``avg_k / (1 - beta**(k+1))``."""
    losses = np.asarray(losses, np.float64)
    out = np.empty_like(losses)
    avg = np.zeros(losses.shape[:-1])
    for k in range(losses.shape[-1]):
        avg = beta * avg + (1 - beta) * losses[..., k]
        out[..., k] = avg / (1 - beta ** (k + 1))
    return out


def suggestions(rates: np.ndarray, smoothed: np.ndarray) -> Suggestions:
    """The two rules' rates for one test (see the module docstring)."""
    rates, smoothed = np.asarray(rates, np.float64), np.asarray(smoothed)
    best = np.minimum.accumulate(np.where(np.isfinite(smoothed), smoothed,
                                          np.inf))
    bad = ~np.isfinite(smoothed) | (smoothed > DIVERGED * best)
    end = int(np.argmax(bad)) if bad.any() else len(rates)
    if end < 3:
        return Suggestions(np.nan, np.nan, end)
    lo = smoothed[:end]
    low = int(np.argmin(lo))
    slope = np.gradient(lo, np.log(rates[:end]))[:low + 1]
    steepest = (float(rates[WARMUP + int(np.argmin(slope[WARMUP:]))])
                if low > WARMUP else np.nan)
    return Suggestions(steepest, float(rates[low] / 10), end)
