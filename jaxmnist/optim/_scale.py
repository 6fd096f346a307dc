"""The learning rate (the only sign flip) and decoupled weight decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxmnist.optim._common import (
    ScalarOrSchedule,
    correction_dtype,
    hyper,
    is_python_number,
    promote,
    safe_increment,
    zero_count,
)
from jaxmnist.optim.schedules import evaluate


class ScaleByLearningRateState(NamedTuple):
    """State of a scheduled learning rate (a constant one has none)."""
    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
    # int32 scalar: steps taken so far


def _scale(u: jax.Array, eta, sign: int) -> jax.Array:
    """``sign * eta * u`` in ``u``'s dtype: multiplied in the promoted dtype
    of ``eta`` and ``u`` (``u``'s for a Python ``eta``), rounded once."""
    wide = u.dtype if is_python_number(eta) else promote(
        jnp.result_type(eta), u.dtype)
    e = hyper(eta, wide)
    return ((-e if sign < 0 else e) * u.astype(wide)).astype(u.dtype)


def _leafwise(value, state_type: type, apply: Callable
              ) -> optax.GradientTransformation:
    """``apply(updates, values, params)`` with ``values`` a tree of
    ``value`` per leaf: a constant (state ``optax.EmptyState()``) or a
    schedule of the steps taken so far, evaluated in each leaf's
    :func:`correction_dtype` (state ``state_type(count)``)."""
    scheduled = callable(value)

    def init_fn(params):
        del params
        return state_type(count=zero_count()) if scheduled \
            else optax.EmptyState()

    def update_fn(updates, state, params=None):
        if not scheduled:
            return apply(updates, jax.tree.map(lambda _: value, updates),
                         params), state
        values = jax.tree.map(lambda u: evaluate(
            value, state.count, correction_dtype(u.dtype)), updates)
        return apply(updates, values, params), state_type(
            count=safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_learning_rate(learning_rate: ScalarOrSchedule | None,
                           *, flip_sign: bool = True
                           ) -> optax.GradientTransformation:
    r"""``u <- -eta_t u`` (``u <- eta_t u`` with ``flip_sign=False``).

    Updates are *added* to params by ``optax.apply_updates``, so descent
    needs ``-eta``; this is the only place where the sign is flipped.

    Args:
      learning_rate: ``eta``: a Python float, a (possibly traced) scalar
        array, or a schedule ``count -> eta_count`` evaluated at the number of
        steps taken so far (0 on the first step, as in optax; our
        :class:`~jaxmnist.optim.schedules.Schedule` in the parameters' dtype,
        at least float32). ``None`` means 1.0, *with* the sign flip (optax's
        ``None`` skips the flip, so ``optax.adadelta()`` ascends the loss).
      flip_sign: multiply by ``-eta`` (True) or ``eta``.
    """
    sign = -1 if flip_sign else 1
    return _leafwise(
        1.0 if learning_rate is None else learning_rate,
        ScaleByLearningRateState,
        lambda updates, etas, params: jax.tree.map(
            lambda u, e: _scale(u, e, sign), updates, etas))


class AddDecayedWeightsState(NamedTuple):
    """State of a scheduled weight decay (a constant one has none)."""
    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]


#: A tree of bools (a prefix of the params'), or params -> such a tree.
Mask = Any | Callable[[optax.Params], Any]


def _decay_leaf(g: jax.Array, p: jax.Array, wd) -> jax.Array:
    """``g + wd p`` in the promoted dtype of ``g`` and ``p``, as ``g``."""
    dtype = promote(g.dtype, p.dtype)
    return (g.astype(dtype) + hyper(wd, dtype) * p.astype(dtype)).astype(
        g.dtype)


def add_decayed_weights(weight_decay: float | jax.Array | Callable = 0.0,
                        mask: Mask | None = None
                        ) -> optax.GradientTransformation:
    r"""Decoupled weight decay: ``u <- u + lambda p``.

    Placed before the learning rate, as in AdamW (Loshchilov & Hutter,
    "Decoupled Weight Decay Regularization", ICLR 2019), this shrinks the
    weights by ``eta lambda p`` per step independently of the adaptive
    scaling; ``lambda`` is multiplied by the learning rate (as optax and
    PyTorch, not the paper's schedule-only multiplier).

    Args:
      weight_decay: ``lambda``: a Python float, a (traced) scalar array, or a
        schedule of the step count. A Python ``0.0`` skips the arithmetic.
      mask: a tree of bools with the params' structure (or a prefix of it), or
        a function ``params -> such a tree``; ``True`` leaves are decayed.
        Typical: ``lambda p: jax.tree.map(lambda x: x.ndim > 1, p)`` to leave
        biases alone.

    Returns:
      A transformation that needs ``params`` in ``update``; its state is
      ``optax.EmptyState()`` or, for a scheduled decay, a step count.
    """
    def apply(updates, wds, params):
        if params is None:
            raise ValueError("add_decayed_weights needs params in update")
        if is_python_number(weight_decay) and weight_decay == 0.0:
            return updates
        if mask is None:
            return jax.tree.map(_decay_leaf, updates, params, wds)
        return jax.tree.map(
            lambda keep, g, p, wd: jax.tree.map(_decay_leaf, g, p, wd)
            if keep else g, mask(params) if callable(mask) else mask,
            updates, params, wds)

    return _leafwise(weight_decay, AddDecayedWeightsState, apply)
