"""Adam's (and NAdam's) bias-corrected moment estimates."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

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


class ScaleByAdamState(NamedTuple):
    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
    # int32 scalar
    mu: optax.Updates  # first moment
    nu: optax.Updates  # second moment


def mu_hat(g, m, b1, count, nesterov: bool):
    """Adam's ``m / (1 - b1^t)``, or NAdam's
    ``b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)``."""
    if not nesterov:
        return debias(m, b1, count)
    dtype = promote(m.dtype, g.dtype)
    return (hyper(b1, dtype) * debias(m, b1, safe_increment(count)).astype(
        dtype) + hyper(1 - b1, dtype) * debias(g, b1, count).astype(dtype))


def adam_out(m_hat, v_hat, eps, eps_root, like):
    """``m^ / (sqrt(v^ + eps_root) + eps)`` in ``like``'s dtype."""
    dtype = promote(m_hat.dtype, v_hat.dtype)
    m_hat, v_hat = m_hat.astype(dtype), v_hat.astype(dtype)
    out = m_hat / (jnp.sqrt(v_hat + hyper(eps_root, dtype))
                   + hyper(eps, dtype))
    return out.astype(like.dtype)


def scale_by_adam(b1: Hyper = 0.9, b2: Hyper = 0.999, eps: Hyper = 1e-8,
                  eps_root: Hyper = 0.0, mu_dtype: Any | None = None, *,
                  nesterov: bool = False) -> optax.GradientTransformation:
    r"""Adam's bias-corrected moment estimates (Kingma & Ba, 2015, Alg. 1).

    ``m_t = b1 m_{t-1} + (1 - b1) g``, ``v_t = b2 v_{t-1} + (1 - b2) |g|^2``,
    ``m^ = m_t / (1 - b1^t)``, ``v^ = v_t / (1 - b2^t)``, output
    ``m^ / (sqrt(v^ + eps_root) + eps)``. Note ``eps`` is *outside* the
    square root (as in the paper and optax; Keras' ``epsilon`` is too).
    With ``nesterov=True`` (NAdam, Dozat 2016, in optax's form)
    ``m^ = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)``.

    Args:
      b1: decay of the first moment (Python float or traced scalar).
      b2: decay of the second moment.
      eps: added to the root of the second moment.
      eps_root: added under the root (for meta-gradients through Adam).
      mu_dtype: dtype of the first moment; ``None``: the params' dtype.
      nesterov: Nesterov momentum (NAdam).
    """
    mu_dtype = canonical_dtype(mu_dtype)

    def init_fn(params):
        return ScaleByAdamState(
            count=zero_count(),
            mu=optax.tree.zeros_like(params, dtype=mu_dtype),
            nu=optax.tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        mu = jax.tree.map(lambda g, m: ema(g, m, b1), updates, state.mu)
        nu = jax.tree.map(lambda g, v: ema(abs_sq(g), v, b2), updates,
                          state.nu)
        count = safe_increment(state.count)
        out = jax.tree.map(lambda g, m, v: adam_out(
            mu_hat(g, m, b1, count, nesterov), debias(v, b2, count), eps,
            eps_root, g), updates, mu, nu)
        return out, ScaleByAdamState(count=count, mu=cast_like(mu, state.mu),
                                     nu=cast_like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)
