"""Gradient transformations written from scratch, in optax's style.

Each building block is a factory returning an ``optax.GradientTransformation``
with inner ``init_fn`` / ``update_fn`` and a small ``NamedTuple`` state. None
of them calls optax's own ``scale_by_*`` or ``trace``; the named optimizers in
:mod:`jaxmnist.optim.alias` chain them, and :func:`scale_by_learning_rate` is
the only place where the sign is flipped (updates are *added* to params by
``optax.apply_updates``, so descent needs ``-learning_rate``).

Notation: ``g`` is the incoming update (the gradient for a first transform),
``t`` the step count starting at 1, all operations elementwise per leaf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Union

import jax
import jax.numpy as jnp
import optax

ScalarOrSchedule = Union[float, jax.Array, Callable[[jax.Array], jax.Array]]


def _tree_map(fn, *trees):
    return jax.tree.map(fn, *trees)


def _ema(new, old, decay):
    """decay * old + (1 - decay) * new, leaf by leaf (same order as optax)."""
    return _tree_map(lambda n, o: (1 - decay) * n + decay * o, new, old)


# --------------------------------------------------------------------------
# The learning rate (the sign flip lives here, and only here)
# --------------------------------------------------------------------------

class ScaleByLearningRateState(NamedTuple):
    count: jax.Array  # int32 scalar: steps taken so far


def scale_by_learning_rate(
        learning_rate: ScalarOrSchedule | None) -> optax.GradientTransformation:
    """``u <- -eta_t * u``.

    Args:
      learning_rate: ``eta``: a Python float, a (possibly traced) scalar array,
        or a schedule ``count -> eta_count`` evaluated at the number of steps
        taken so far (0 on the first step, as in optax). ``None`` means 1.0.
    """
    if learning_rate is None:
        learning_rate = 1.0

    def init_fn(params):
        del params
        return ScaleByLearningRateState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        del params
        if callable(learning_rate):
            eta = learning_rate(state.count)
        else:
            eta = learning_rate
        updates = _tree_map(
            lambda u: (-jnp.asarray(eta, u.dtype)) * u, updates)
        return updates, ScaleByLearningRateState(count=state.count + 1)

    return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------------------
# Momentum (heavy ball and Nesterov)
# --------------------------------------------------------------------------

class TraceState(NamedTuple):
    trace: optax.Params  # v, the velocity


def trace(decay: float, nesterov: bool = False) -> optax.GradientTransformation:
    r"""Momentum trace.

    Heavy ball (Polyak 1964): ``v_t = g_t + beta v_{t-1}``, output ``v_t``.
    Nesterov (Sutskever et al. 2013, in the form of optax and PyTorch):
    ``v_t = g_t + beta v_{t-1}``, output ``g_t + beta v_t``.
    ``v_0 = 0``. The learning rate is applied afterwards, so this is the
    "PyTorch" convention ``p -= eta v``, not ``v = beta v - eta g``.

    Args:
      decay: ``beta``, the momentum coefficient (0.9 in the sweep).
      nesterov: use the look-ahead (Nesterov) form.
    """

    def init_fn(params):
        return TraceState(trace=optax.tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        f = lambda g, v: g + decay * v
        new_trace = _tree_map(f, updates, state.trace)
        out = _tree_map(f, updates, new_trace) if nesterov else new_trace
        return out, TraceState(trace=new_trace)

    return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------------------
# Adam
# --------------------------------------------------------------------------

class ScaleByAdamState(NamedTuple):
    count: jax.Array  # int32 scalar
    mu: optax.Updates  # first moment
    nu: optax.Updates  # second moment


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                  eps_root: float = 0.0) -> optax.GradientTransformation:
    r"""Adam's bias-corrected moment estimates (Kingma & Ba, 2015, Alg. 1).

    ``m_t = b1 m_{t-1} + (1 - b1) g``, ``v_t = b2 v_{t-1} + (1 - b2) g^2``,
    ``m^ = m_t / (1 - b1^t)``, ``v^ = v_t / (1 - b2^t)``, output
    ``m^ / (sqrt(v^ + eps_root) + eps)``. Note ``eps`` is *outside* the
    square root (as in the paper and optax; Keras' ``epsilon`` is too).
    """

    def init_fn(params):
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32),
                                mu=optax.tree.zeros_like(params),
                                nu=optax.tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        mu = _ema(updates, state.mu, b1)
        nu = _ema(_tree_map(jnp.square, updates), state.nu, b2)
        count = state.count + 1
        c1 = 1 - b1 ** count.astype(jnp.float32)
        c2 = 1 - b2 ** count.astype(jnp.float32)
        out = _tree_map(
            lambda m, v: (m / c1.astype(m.dtype))
            / (jnp.sqrt(v / c2.astype(v.dtype) + eps_root) + eps), mu, nu)
        return out, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------------------
# Adagrad
# --------------------------------------------------------------------------

class ScaleByRssState(NamedTuple):
    sum_of_squares: optax.Updates


def scale_by_rss(initial_accumulator_value: float = 0.1,
                 eps: float = 1e-7) -> optax.GradientTransformation:
    r"""Adagrad's root of the sum of squares (Duchi, Hazan & Singer, 2011).

    ``G_t = G_{t-1} + g^2`` with ``G_0 = initial_accumulator_value``; output
    ``g / sqrt(G_t + eps)`` (``eps`` *inside* the root), and 0 where
    ``G_t == 0``. The initial accumulator 0.1 (optax's and TensorFlow's
    default) keeps the first steps from being ``g/|g|``-sized.
    """

    def init_fn(params):
        return ScaleByRssState(sum_of_squares=optax.tree.full_like(
            params, initial_accumulator_value))

    def update_fn(updates, state, params=None):
        del params
        acc = _tree_map(lambda g, s: jnp.square(g) + s, updates,
                        state.sum_of_squares)
        out = _tree_map(
            lambda g, s: jnp.where(s > 0, jax.lax.rsqrt(s + eps), 0.0) * g,
            updates, acc)
        return out, ScaleByRssState(sum_of_squares=acc)

    return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------------------
# Adadelta
# --------------------------------------------------------------------------

class ScaleByAdadeltaState(NamedTuple):
    e_g: optax.Updates  # E[g^2], running mean of squared gradients
    e_x: optax.Updates  # E[dx^2], running mean of squared updates


def scale_by_adadelta(rho: float = 0.9,
                      eps: float = 1e-6) -> optax.GradientTransformation:
    r"""Adadelta's ratio of running RMS values (Zeiler 2012, Algorithm 1).

    ``E[g^2]_t = rho E[g^2]_{t-1} + (1 - rho) g^2``;
    ``dx_t = sqrt(E[dx^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) * g``;
    ``E[dx^2]_t = rho E[dx^2]_{t-1} + (1 - rho) dx_t^2``; output ``dx_t``.
    The paper has no learning rate (it is 1.0); the chain multiplies by one
    anyway so the sweep can tune it.
    """

    def init_fn(params):
        return ScaleByAdadeltaState(e_g=optax.tree.zeros_like(params),
                                    e_x=optax.tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        e_g = _ema(_tree_map(jnp.square, updates), state.e_g, rho)
        dx = _tree_map(lambda g, eg, ex: jnp.sqrt(ex + eps) / jnp.sqrt(eg + eps)
                       * g, updates, e_g, state.e_x)
        e_x = _ema(_tree_map(jnp.square, dx), state.e_x, rho)
        return dx, ScaleByAdadeltaState(e_g=e_g, e_x=e_x)

    return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------------------
# RMSProp
# --------------------------------------------------------------------------

class ScaleByRmsState(NamedTuple):
    nu: optax.Updates  # running mean of squared gradients


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8,
                 initial_scale: float = 0.0) -> optax.GradientTransformation:
    r"""RMSProp's scaling (Hinton, Srivastava & Swersky, Lecture 6e, 2012).

    ``nu_t = decay nu_{t-1} + (1 - decay) g^2`` with ``nu_0 = initial_scale``;
    output ``g / sqrt(nu_t + eps)``. ``eps`` is *inside* the square root, as
    in optax (``eps_in_sqrt=True``); PyTorch and Keras put it outside.
    """

    def init_fn(params):
        return ScaleByRmsState(nu=optax.tree.full_like(params, initial_scale))

    def update_fn(updates, state, params=None):
        del params
        nu = _ema(_tree_map(jnp.square, updates), state.nu, decay)
        out = _tree_map(lambda g, n: jax.lax.rsqrt(n + eps) * g, updates, nu)
        return out, ScaleByRmsState(nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
