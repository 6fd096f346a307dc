"""Adagrad's, RMSProp's (plain and centred) and Adadelta's scalings."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxmnist.optim._common import (
    Hyper,
    abs_sq,
    cast_like,
    debias,
    hyper,
    promote,
    safe_increment,
    tree_ema,
    zero_count,
)


class ScaleByRssState(NamedTuple):
    sum_of_squares: optax.Updates


def scale_by_rss(initial_accumulator_value: Hyper = 0.1,
                 eps: Hyper = 1e-7) -> optax.GradientTransformation:
    r"""Adagrad's root of the sum of squares (Duchi, Hazan & Singer, 2011).

    ``G_t = G_{t-1} + |g|^2`` with ``G_0 = initial_accumulator_value``;
    output ``g / sqrt(G_t + eps)`` (``eps`` *inside* the root), and 0 where
    ``G_t == 0``. The initial accumulator 0.1 (optax's and TensorFlow's
    default) keeps the first steps from being ``g/|g|``-sized.

    Args:
      initial_accumulator_value: ``G_0`` (Python float or traced scalar).
      eps: added under the root.

    Returns:
      A transformation with state :class:`ScaleByRssState` (``G`` in the
      params' dtype).
    """

    def init_fn(params):
        return ScaleByRssState(sum_of_squares=optax.tree.full_like(
            params, initial_accumulator_value))

    def scale(g, acc):
        """``g / sqrt(acc + eps)``, 0 where ``acc == 0``."""
        dtype = promote(g.dtype, acc.dtype)
        inv = jnp.where(acc > 0, jax.lax.rsqrt(acc + hyper(eps, acc.dtype)),
                        0.0)
        return (inv.astype(dtype) * g.astype(dtype)).astype(g.dtype)

    def accumulate(g, s):
        """``|g|^2 + G`` in the promoted dtype of both."""
        dtype = promote(g.dtype, s.dtype)
        return abs_sq(g).astype(dtype) + s.astype(dtype)

    def update_fn(updates, state, params=None):
        del params
        acc = jax.tree.map(accumulate, updates, state.sum_of_squares)
        out = jax.tree.map(scale, updates, acc)
        return out, ScaleByRssState(
            sum_of_squares=cast_like(acc, state.sum_of_squares))

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByRmsState(NamedTuple):
    nu: optax.Updates  # running mean of |g|^2


class ScaleByRmsWithCountState(NamedTuple):
    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
    # int32 scalar, with bias_correction=True
    nu: optax.Updates


class ScaleByStddevState(NamedTuple):
    mu: optax.Updates  # running mean of g (centred RMSProp)
    nu: optax.Updates


class ScaleByStddevWithCountState(NamedTuple):
    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
    mu: optax.Updates
    nu: optax.Updates


def _rms_scale(updates, second, eps, eps_in_sqrt):
    """``g / sqrt(second + eps)`` or ``g / (sqrt(second) + eps)``, in the
    promoted dtype of both, returned in ``g``'s dtype."""
    def leaf(g, s):
        dtype = promote(g.dtype, s.dtype)
        s = s.astype(dtype)
        if eps_in_sqrt:
            scale = jax.lax.rsqrt(s + hyper(eps, dtype))
        else:
            scale = 1 / (jnp.sqrt(s) + hyper(eps, dtype))
        return (scale * g.astype(dtype)).astype(g.dtype)

    return jax.tree.map(leaf, updates, second)


def scale_by_rms(decay: Hyper = 0.9, eps: Hyper = 1e-8,
                 initial_scale: Hyper = 0.0, eps_in_sqrt: bool = True,
                 bias_correction: bool = False
                 ) -> optax.GradientTransformation:
    r"""RMSProp's scaling (Hinton, Srivastava & Swersky, Lecture 6e, 2012).

    ``nu_t = decay nu_{t-1} + (1 - decay) |g|^2`` with
    ``nu_0 = initial_scale``; output ``g / sqrt(nu_t + eps)`` (optax's
    default, ``eps_in_sqrt=True``) or ``g / (sqrt(nu_t) + eps)`` (PyTorch's
    and Keras', ``eps_in_sqrt=False``). With ``bias_correction=True``,
    ``nu_t`` is replaced by ``nu_t / (1 - decay^t)``; with ``eps_in_sqrt=False``
    too, this is Adam with ``b1 = 0``.

    Args:
      decay: decay of the running mean (Python float or traced scalar).
      eps: stabiliser of the denominator.
      initial_scale: ``nu_0``.
      eps_in_sqrt: put ``eps`` under the root.
      bias_correction: divide ``nu_t`` by ``1 - decay^t`` (adds a count).

    Returns:
      A transformation with state :class:`ScaleByRmsState` (or
      :class:`ScaleByRmsWithCountState` with ``bias_correction``).
    """
    return _second_moment_scaling(False, decay, eps, initial_scale,
                                  eps_in_sqrt, bias_correction)


def scale_by_stddev(decay: Hyper = 0.9, eps: Hyper = 1e-8,
                    initial_scale: Hyper = 0.0, eps_in_sqrt: bool = True,
                    bias_correction: bool = False
                    ) -> optax.GradientTransformation:
    r"""Centred RMSProp (Graves 2013, eq. 38-40): divide by a standard
    deviation instead of a root mean square.

    ``mu_t = decay mu_{t-1} + (1 - decay) g``, ``nu_t`` as
    :func:`scale_by_rms`; output ``g / sqrt(nu_t - |mu_t|^2 + eps)`` (or
    ``g / (sqrt(nu_t - |mu_t|^2) + eps)``); with ``bias_correction`` both
    moments are divided by ``1 - decay^t`` first. Arguments as
    :func:`scale_by_rms`.

    Returns:
      A transformation with state :class:`ScaleByStddevState` (or
      :class:`ScaleByStddevWithCountState`).
    """
    return _second_moment_scaling(True, decay, eps, initial_scale,
                                  eps_in_sqrt, bias_correction)


def _second_moment_scaling(centred: bool, decay: Hyper, eps: Hyper,
                           initial_scale: Hyper, eps_in_sqrt: bool,
                           bias_correction: bool
                           ) -> optax.GradientTransformation:
    """:func:`scale_by_stddev` (``centred``) or :func:`scale_by_rms`."""
    state_type = {(False, False): ScaleByRmsState,
                  (False, True): ScaleByRmsWithCountState,
                  (True, False): ScaleByStddevState,
                  (True, True): ScaleByStddevWithCountState}[
                      centred, bias_correction]

    def init_fn(params):
        fields = {"nu": optax.tree.full_like(params, initial_scale)}
        if centred:
            fields["mu"] = optax.tree.zeros_like(params)
        if bias_correction:
            fields["count"] = zero_count()
        return state_type(**fields)

    def update_fn(updates, state, params=None):
        del params
        moments = {"nu": tree_ema(jax.tree.map(abs_sq, updates), state.nu,
                                  decay)}
        if centred:
            moments["mu"] = tree_ema(updates, state.mu, decay)
        used, stored = dict(moments), {k: cast_like(v, getattr(state, k))
                                       for k, v in moments.items()}
        if bias_correction:
            stored["count"] = count = safe_increment(state.count)
            used = {k: jax.tree.map(lambda x: debias(x, decay, count), v)
                    for k, v in moments.items()}
        second = used["nu"]
        if centred:
            second = jax.tree.map(lambda m, n: n - abs_sq(m).astype(n.dtype),
                                  used["mu"], second)
        return (_rms_scale(updates, second, eps, eps_in_sqrt),
                state_type(**stored))

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByAdadeltaState(NamedTuple):
    e_g: optax.Updates  # E[|g|^2], running mean of squared gradients
    e_x: optax.Updates  # E[|dx|^2], running mean of squared updates


def scale_by_adadelta(rho: Hyper = 0.9, eps: Hyper = 1e-6
                      ) -> optax.GradientTransformation:
    r"""Adadelta's ratio of running RMS values (Zeiler 2012, Algorithm 1).

    ``E[g^2]_t = rho E[g^2]_{t-1} + (1 - rho) |g|^2``;
    ``dx_t = sqrt(E[dx^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) * g``;
    ``E[dx^2]_t = rho E[dx^2]_{t-1} + (1 - rho) |dx_t|^2``; output ``dx_t``.
    The paper has no learning rate (it is 1.0); the chain multiplies by one
    anyway so the sweep can tune it.

    Args:
      rho: decay of both running means (Python float or traced scalar).
      eps: stabiliser under both roots.
    """

    def init_fn(params):
        return ScaleByAdadeltaState(e_g=optax.tree.zeros_like(params),
                                    e_x=optax.tree.zeros_like(params))

    def delta(g, e_g, e_x):
        """``sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g``."""
        dtype = promote(e_g.dtype, g.dtype)
        e = hyper(eps, dtype)
        return (jnp.sqrt(e_x.astype(dtype) + e)
                / jnp.sqrt(e_g.astype(dtype) + e) * g.astype(dtype))

    def update_fn(updates, state, params=None):
        del params
        e_g = tree_ema(jax.tree.map(abs_sq, updates), state.e_g, rho)
        dx = jax.tree.map(delta, updates, e_g, state.e_x)
        e_x = tree_ema(jax.tree.map(abs_sq, dx), state.e_x, rho)
        return cast_like(dx, updates), ScaleByAdadeltaState(
            e_g=cast_like(e_g, state.e_g), e_x=cast_like(e_x, state.e_x))

    return optax.GradientTransformation(init_fn, update_fn)
