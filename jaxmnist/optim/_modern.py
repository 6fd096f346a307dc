"""Lion's, ADOPT's and AdEMAMix's scalings (the newer moment-based rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxmnist.errors import check_choice
from jaxmnist.optim._adam import adam_out
from jaxmnist.optim._common import (
    Hyper,
    abs_sq,
    canonical_dtype,
    cast_like,
    debias,
    ema,
    hyper,
    promote,
    safe_increment,
    zero_count,
)

LION_MODES = ("hard", "smooth", "refined")


class ScaleByLionState(NamedTuple):
    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
    mu: optax.Updates  # momentum


def scale_by_lion(b1: Hyper = 0.9, b2: Hyper = 0.99,
                  mu_dtype: Any | None = None, *, mode: str = "hard",
                  smooth_beta: Hyper = 1.0) -> optax.GradientTransformation:
    r"""Lion's signed interpolation (Chen et al. 2023, Algorithm 2).

    ``c_t = b1 m_{t-1} + (1 - b1) g``, output ``sign(c_t)`` (``mode="hard"``;
    ``tanh(smooth_beta c_t)`` for ``"smooth"``; ``c_t`` where ``|c_t| < 1``
    and ``sign(c_t)`` elsewhere for ``"refined"``); then the momentum
    ``m_t = b2 m_{t-1} + (1 - b2) g``. Every coordinate moves by the same
    amount, so Lion wants a 3-10x smaller learning rate than Adam.

    Args:
      b1: weight of the momentum in the step direction.
      b2: decay of the momentum.
      mu_dtype: dtype of ``m`` (default: the params').
      mode: ``"hard"``, ``"smooth"`` or ``"refined"`` sign.
      smooth_beta: sharpness of the ``"smooth"`` sign.
    """
    check_choice("lion mode", mode, LION_MODES)
    mu_dtype = canonical_dtype(mu_dtype)

    def init_fn(params):
        return ScaleByLionState(count=zero_count(), mu=optax.tree.zeros_like(
            params, dtype=mu_dtype))

    def direction(g, m):
        c = ema(g, m, b1)
        if mode == "hard":
            out = jnp.sign(c)
        elif mode == "smooth":
            out = jnp.tanh(hyper(smooth_beta, c.dtype) * c)
        else:
            out = jnp.where(jnp.abs(c) < 1.0, c, jnp.sign(c))
        return out.astype(g.dtype)

    def update_fn(updates, state, params=None):
        del params
        out = jax.tree.map(direction, updates, state.mu)
        mu = jax.tree.map(lambda g, m: ema(g, m, b2), updates, state.mu)
        return out, ScaleByLionState(count=safe_increment(state.count),
                                     mu=cast_like(mu, state.mu))

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByAdoptState(NamedTuple):
    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
    mu: optax.Updates  # first moment of the normalised gradients
    nu: optax.Updates  # second moment of the gradients


def _quarter_power(count: jax.Array) -> jax.Array:
    """ADOPT's default clip ``t^(1/4)`` (optax's ``clip_value_fn``)."""
    return count ** 0.25


def scale_by_adopt(b1: Hyper = 0.9, b2: Hyper = 0.9999, eps: Hyper = 1e-6,
                   mu_dtype: Any | None = None, *, nesterov: bool = False,
                   use_clipping: bool = True,
                   clip_value_fn: Callable[[jax.Array], jax.Array]
                   = _quarter_power) -> optax.GradientTransformation:
    r"""ADOPT (Taniguchi et al. 2024, Algorithm 2, as optax's contrib).

    Normalise by the *previous* second moment, then average:
    ``n_t = clip(g / max(sqrt(v_{t-1}), eps), +-clip_value_fn(t-1))``,
    ``m_t = b1 m_{t-1} + (1 - b1) n_t``, ``v_t = b2 v_{t-1} + (1 - b2)|g|^2``,
    output ``m_t`` (``b1 m_t + (1 - b1) n_t`` with ``nesterov``). At the
    first step ``v_1 = |g|^2`` and the output is 0 (the clip is
    ``0^(1/4) = 0``), so ADOPT converges for any ``b2``, unlike Adam.

    Args:
      b1, b2: decays of the first and second moments.
      eps: floor of ``sqrt(v)``.
      mu_dtype: dtype of ``m`` (default: the params').
      nesterov: look-ahead output.
      use_clipping: clip the normalised gradient.
      clip_value_fn: the clip bound as a function of the step count.
    """
    mu_dtype = canonical_dtype(mu_dtype)

    def init_fn(params):
        return ScaleByAdoptState(
            count=zero_count(),
            mu=optax.tree.zeros_like(params, dtype=mu_dtype),
            nu=optax.tree.zeros_like(params))

    def normalised(g, v, bound):
        dtype = promote(g.dtype, v.dtype)
        n = g.astype(dtype) / jnp.maximum(jnp.sqrt(v.astype(dtype)),
                                          hyper(eps, dtype))
        if bound is None:
            return n
        b = jnp.asarray(bound).astype(dtype)
        return jnp.clip(n, -b, b)

    def update_fn(updates, state, params=None):
        del params
        first = state.count > 0
        b1_ = jnp.where(first, hyper(b1, jnp.result_type(float)), 1.0)
        b2_ = jnp.where(first, hyper(b2, jnp.result_type(float)), 0.0)
        nu = jax.tree.map(lambda s, v: ema(s, v, b2_),
                      jax.tree.map(abs_sq, updates), state.nu)
        bound = None
        if use_clipping:  # optax-style fns (x ** 0.25) need int -> float
            with jax.numpy_dtype_promotion("standard"):
                bound = clip_value_fn(state.count)
        n = jax.tree.map(lambda g, v: normalised(g, v, bound), updates,
                         state.nu)
        mu = jax.tree.map(lambda x, m: ema(x, m, b1_), n, state.mu)
        out = jax.tree.map(lambda x, m: ema(x, m, b1_), n, mu) if nesterov \
            else mu
        return cast_like(out, updates), ScaleByAdoptState(
            count=safe_increment(state.count), mu=cast_like(mu, state.mu),
            nu=cast_like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


def _mix(m1_hat: jax.Array, m2: jax.Array, alpha) -> jax.Array:
    """``m1^ + alpha m2`` in the promoted dtype of both."""
    dtype = promote(m1_hat.dtype, m2.dtype)
    return m1_hat.astype(dtype) + hyper(alpha, dtype) * m2.astype(dtype)


class ScaleByAdemamixState(NamedTuple):
    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
    count_m2: jax.Array  # steps of the slow average (its schedules' clock)
    m1: optax.Updates  # fast EMA of g
    m2: optax.Updates  # slow EMA of g
    nu: optax.Updates  # EMA of |g|^2


def scale_by_ademamix(b1: Hyper = 0.9, b2: Hyper = 0.999,
                      b3: Hyper | Callable = 0.9999,
                      alpha: Hyper | Callable = 6.0, eps: Hyper = 1e-8,
                      eps_root: Hyper = 0.0, mu_dtype: Any | None = None
                      ) -> optax.GradientTransformation:
    r"""AdEMAMix (Pagliardini, Ablin & Grangier 2024, Algorithm 1).

    Adam with a second, slow first moment mixed in:
    ``m1_t = b1 m1 + (1 - b1) g``, ``m2_t = b3 m2 + (1 - b3) g``,
    ``v_t = b2 v + (1 - b2)|g|^2``; output
    ``(m1_t / (1 - b1^t) + alpha m2_t) / (sqrt(v_t / (1 - b2^t) + eps_root)
    + eps)`` (``m2`` is not bias-corrected). ``b3`` and ``alpha`` may be
    schedules of the step count (the paper warms both up).

    Args:
      b1, b2: decays of Adam's moments.
      b3: decay of the slow moment (float, traced scalar or schedule).
      alpha: weight of the slow moment (float, traced scalar or schedule).
      eps, eps_root: added outside / inside the root of ``v^``.
      mu_dtype: dtype of all three moments (default: the params').
    """
    mu_dtype = canonical_dtype(mu_dtype)

    def init_fn(params):
        zeros = optax.tree.zeros_like(params, dtype=mu_dtype)
        return ScaleByAdemamixState(count=zero_count(), count_m2=zero_count(),
                                    m1=zeros, m2=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        del params
        c_b3 = b3(state.count_m2) if callable(b3) else b3
        c_alpha = alpha(state.count_m2) if callable(alpha) else alpha
        m1 = jax.tree.map(lambda g, m: ema(g, m, b1), updates, state.m1)
        m2 = jax.tree.map(lambda g, m: ema(g, m, c_b3), updates, state.m2)
        nu = jax.tree.map(lambda g, v: ema(abs_sq(g), v, b2), updates,
                          state.nu)
        count = safe_increment(state.count)
        out = jax.tree.map(lambda g, a, b, v: adam_out(
            _mix(debias(a, b1, count), b, c_alpha), debias(v, b2, count), eps,
            eps_root, g), updates, m1, m2, nu)
        return out, ScaleByAdemamixState(
            count=count, count_m2=safe_increment(state.count_m2),
            m1=cast_like(m1, state.m1), m2=cast_like(m2, state.m2),
            nu=cast_like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)
