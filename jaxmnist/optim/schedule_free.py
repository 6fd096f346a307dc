"""Schedule-Free AdamW: no learning-rate schedule, an averaged point to
evaluate (Defazio et al. 2024), as optax 0.2.8's ``optax.contrib``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxmnist.optim import transforms as T
from jaxmnist.optim._common import (
    Hyper,
    ScalarOrSchedule,
    hyper,
    promote,
    safe_increment,
)
from jaxmnist.optim.ranges import check_hypers
from jaxmnist.optim.schedules import (
    constant_schedule,
    join_schedules,
    linear_schedule,
)


class ScheduleFreeState(NamedTuple):
    """optax's field names, so ``optax.contrib.schedule_free_eval_params``
    reads ours too."""
    b1: jax.Array
    weight_sum: jax.Array  # sum of the averaging weights so far
    step_count: jax.Array  # starts at 1
    max_lr: jax.Array  # the largest learning rate seen
    base_optimizer_state: Any
    z: optax.Params  # the base optimizer's iterate


def schedule_free_eval_params(state: ScheduleFreeState, params):
    """The evaluation point ``x = (y - (1 - b1) z) / b1`` of the training
    point ``params = y`` (test, validate and save this one)."""
    def back(y, z):
        dtype = promote(y.dtype, z.dtype, state.b1.dtype)
        return _interpolate_back(y, z, state.b1, dtype).astype(y.dtype)
    return jax.tree.map(back, params, state.z)


def _interpolate_back(y, z, b1, dtype):
    """``(y - (1 - b1) z) / b1`` in ``dtype``."""
    b = hyper(b1, dtype)
    return (y.astype(dtype) - (1 - b) * z.astype(dtype)) / b


def _lerp(a, b, weight_b, dtype):
    """``(1 - w) a + w b`` in ``dtype``."""
    w = hyper(weight_b, dtype)
    return (1 - w) * a.astype(dtype) + w * b.astype(dtype)


def schedule_free(base_optimizer: optax.GradientTransformation,
                  learning_rate: ScalarOrSchedule, b1: Hyper = 0.9,
                  weight_lr_power: Hyper = 2.0,
                  state_dtype: Any | None = None
                  ) -> optax.GradientTransformationExtraArgs:
    r"""Turn ``base_optimizer`` schedule-free (Defazio et al. 2024, Alg. 1).

    The base step moves ``z_{t+1} = z_t + base(g(y_t))``; the average
    ``x_{t+1} = (1 - c) x_t + c z_{t+1}`` with ``c = w_t / sum w``,
    ``w_t = max_lr_t^weight_lr_power``; the gradient point (the params)
    ``y = b1 x + (1 - b1) z``. Evaluate at ``x``
    (:func:`schedule_free_eval_params`). ``z`` is kept in ``state_dtype``
    (default: the params').
    """
    def init_fn(params):
        dtype = optax.tree.dtype(params, "lowest")  # of the scalars
        z = params if state_dtype is None else optax.tree.cast(
            params, state_dtype)
        return ScheduleFreeState(
            b1=jnp.asarray(b1).astype(dtype), weight_sum=jnp.zeros([], dtype),
            step_count=jnp.ones([], jnp.int32), max_lr=jnp.zeros([], dtype),
            base_optimizer_state=base_optimizer.init(params),
            z=jax.tree.map(lambda t: t.copy(), z))

    def weights(state):
        dt = state.max_lr.dtype
        lr = jnp.asarray(learning_rate(state.step_count)).astype(dt) \
            if callable(learning_rate) else hyper(learning_rate, dt)
        max_lr = jnp.maximum(state.max_lr, lr)
        weight = max_lr ** hyper(weight_lr_power, dt)
        total = state.weight_sum + weight
        ck = jnp.where(jnp.isnan(weight) | jnp.isnan(total),
                       jnp.full(weight.shape, jnp.nan, dt),
                       jnp.nan_to_num(weight / total, nan=0.0, posinf=jnp.inf))
        return max_lr, total, ck

    def step(y, z_old, z_new, ck):
        dtype = promote(y.dtype, z_new.dtype, ck.dtype)
        x = _lerp(_interpolate_back(y, z_old, b1, dtype), z_new, ck, dtype)
        b = hyper(b1, dtype)
        new_y = b * x + (1 - b) * z_new.astype(dtype)
        return (new_y - y.astype(dtype)).astype(y.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("schedule_free needs params in update")
        max_lr, total, ck = weights(state)
        base_updates, base_state = base_optimizer.update(
            updates, state.base_optimizer_state, params)
        z = jax.tree.map(lambda z, u: (z.astype(promote(z.dtype, u.dtype))
                                       + u).astype(z.dtype),
                         state.z, base_updates)
        out = jax.tree.map(lambda y, zo, zn: step(y, zo, zn, ck), params,
                           state.z, z)
        return out, ScheduleFreeState(
            b1=state.b1, weight_sum=total,
            step_count=safe_increment(state.step_count),
            max_lr=max_lr, base_optimizer_state=base_state, z=z)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def schedule_free_adamw(learning_rate: ScalarOrSchedule = 0.0025,
                        warmup_steps: int | None = None, b1: Hyper = 0.9,
                        b2: Hyper = 0.999, eps: Hyper = 1e-8,
                        weight_decay: Hyper = 0.0,
                        weight_lr_power: Hyper = 2.0,
                        state_dtype: Any | None = None
                        ) -> optax.GradientTransformationExtraArgs:
    r"""Schedule-Free AdamW: :func:`schedule_free` around RMSProp with
    bias correction (``v^ = v / (1 - b2^t)``, step ``g / (sqrt(v^) + eps)
    + lambda p``): the momentum ``b1`` is the interpolation between ``x``
    and ``z``, not a moment. A linear warm-up over ``warmup_steps`` is the
    only schedule it needs.

    Reference: Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The
    Road Less Scheduled", NeurIPS 2024.
    """
    check_hypers("schedule_free_adamw", learning_rate=learning_rate, b1=b1,
                 b2=b2, eps=eps, weight_decay=weight_decay,
                 weight_lr_power=weight_lr_power, warmup_steps=warmup_steps)
    if warmup_steps is not None:
        learning_rate = _warmup(learning_rate, warmup_steps)
    base = optax.chain(
        T.scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False,
                       bias_correction=True),
        T.add_decayed_weights(weight_decay),
        T.scale_by_learning_rate(learning_rate))
    return schedule_free(base, learning_rate, b1=b1,
                         weight_lr_power=weight_lr_power,
                         state_dtype=state_dtype)


def _warmup(peak, warmup_steps: int) -> Callable:
    """0 to ``peak`` linearly over ``warmup_steps``, then ``peak``
    (``optax.warmup_constant_schedule``)."""
    return join_schedules([linear_schedule(0.0, peak, warmup_steps),
                           constant_schedule(peak)], [warmup_steps])
