"""Prodigy: Adam whose step size is estimated from the distance travelled
(Mishchenko & Defazio 2023), as optax 0.2.8's ``optax.contrib.prodigy``."""

from __future__ import annotations

import functools
import operator
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxmnist.optim._common import (
    Hyper,
    ScalarOrSchedule,
    hyper,
    promote,
    safe_increment,
    zero_count,
)
from jaxmnist.optim.ranges import check_hypers
from jaxmnist.optim.schedules import evaluate


class ProdigyState(NamedTuple):
    exp_avg: optax.Updates  # EMA of d g
    exp_avg_sq: optax.Updates  # EMA of (d g)^2
    grad_sum: optax.Updates  # s: weighted sum of d g
    params0: optax.Params  # x_0
    estim_lr: jax.Array  # d: the step-size estimate
    numerator_weighted: jax.Array  # r: weighted sum of <g, x_0 - x>
    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]


def _tree_sum(values):
    """``0 + v_1 + v_2 + ...`` over the leaves (optax's order)."""
    return functools.reduce(operator.add, jax.tree.leaves(values), 0)


def _vdot(a, b):
    """``<a, b>`` of two leaves at full precision (optax's ``tree.vdot``)."""
    if jnp.iscomplexobj(a):
        a = jnp.conj(a)
    return jnp.tensordot(a, b, a.ndim, precision=jax.lax.Precision.HIGHEST)


def prodigy(learning_rate: ScalarOrSchedule = 1.0,
            betas: tuple[Hyper, Hyper] = (0.9, 0.999),
            beta3: Hyper | None = None, eps: Hyper = 1e-8,
            estim_lr0: Hyper = 1e-6, estim_lr_coef: Hyper = 1.0,
            weight_decay: Hyper = 0.0, safeguard_warmup: bool = False
            ) -> optax.GradientTransformationExtraArgs:
    r"""Prodigy (Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive
    Parameter-Free Learner", ICML 2024, Algorithm 4 in optax's form).

    Adam on ``d g``, with ``d`` (``estim_lr``, from ``estim_lr0``) a lower
    bound on the distance to the solution, grown as
    ``r <- beta3 r + (d / d_0) d_lr <g, x_0 - x>``,
    ``s <- beta3 s + d_lr d g / d_0``, ``d <- max(d, coef r / |s|_1)``, with
    ``d_lr = eta d sqrt(1 - b2^t) / (1 - b1^t)``; step
    ``-d_lr (m / (sqrt(v) + d eps) + lambda p)``. ``learning_rate`` is a
    multiplier on the estimate (1.0: none to tune). ``beta3`` defaults to
    ``sqrt(b2)``; ``safeguard_warmup`` uses ``d`` instead of ``d_lr`` in
    ``s`` (steadier with a warm-up schedule).
    """
    beta1, beta2 = betas
    check_hypers("prodigy", learning_rate=learning_rate, b1=beta1, b2=beta2,
                 beta3=beta3, eps=eps, estim_lr0=estim_lr0,
                 estim_lr_coef=estim_lr_coef, weight_decay=weight_decay)
    b3: Hyper = beta2 ** 0.5 if beta3 is None else beta3

    def init_fn(params):
        dtype = optax.tree.dtype(params, "lowest")  # of the scalars
        zeros = optax.tree.zeros_like(params)
        return ProdigyState(zeros, zeros, zeros, params,
                            jnp.asarray(estim_lr0).astype(dtype),
                            jnp.zeros((), dtype), zero_count())

    def step_size(state, count_inc):
        """``d_lr = eta d sqrt(1 - b2^t) / (1 - b1^t)``."""
        dt = state.estim_lr.dtype
        t = count_inc.astype(jnp.result_type(float))
        bc = (1 - hyper(beta2, t.dtype) ** t) ** 0.5 / (
            1 - hyper(beta1, t.dtype) ** t)
        sched = evaluate(learning_rate, state.count, dt) \
            if callable(learning_rate) else hyper(learning_rate, dt)
        return (state.estim_lr * sched * bc.astype(dt)).astype(dt)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("prodigy needs params in update")
        d, dlr = state.estim_lr, step_size(state, safe_increment(state.count))
        dt = d.dtype
        h = functools.partial(hyper, dtype=dt)
        dg = jax.tree.map(lambda g: d.astype(promote(dt, g.dtype)) * g,
                          updates)
        numerator = _tree_sum(jax.tree.map(
            lambda g, p0, p: _vdot(g, p0 - p), updates, state.params0, params))
        exp_avg = jax.tree.map(lambda m, x: h(beta1) * m + (1 - h(beta1)) * x,
                               state.exp_avg, dg)
        exp_avg_sq = jax.tree.map(
            lambda v, x: h(beta2) * v + (1 - h(beta2)) * x * x,
            state.exp_avg_sq, dg)
        weight = d if safeguard_warmup else dlr
        grad_sum = jax.tree.map(
            lambda s, x: h(b3) * s + weight * x / h(estim_lr0),
            state.grad_sum, dg)
        num = h(b3) * state.numerator_weighted \
            + (d / h(estim_lr0)) * dlr * jnp.asarray(numerator).astype(dt)
        denominator = _tree_sum(jax.tree.map(lambda s: jnp.sum(jnp.abs(s)),
                                             grad_sum))
        d_new = jnp.maximum(d, h(estim_lr_coef) * num / denominator)
        out = jax.tree.map(
            lambda m, v, p: -h(weight_decay) * dlr * p
            - dlr * m / (jnp.sqrt(v) + d_new * h(eps)),
            exp_avg, exp_avg_sq, params)
        return out, ProdigyState(exp_avg, exp_avg_sq, grad_sum, state.params0,
                                 d_new, num, safe_increment(state.count))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
