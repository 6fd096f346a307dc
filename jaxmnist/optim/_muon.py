"""Muon's orthogonalised momentum (Newton-Schulz) and its shape scaling."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax.contrib import MuonDimensionNumbers

from jaxmnist.errors import check_choice
from jaxmnist.optim._adam import mu_hat
from jaxmnist.optim._common import (
    Hyper,
    canonical_dtype,
    cast_like,
    ema,
    hyper,
    safe_increment,
    zero_count,
)

#: Jordan et al.'s quintic coefficients (a, b, c): ``a X + b A X + c A^2 X``.
NS_COEFFS = (3.4445, -4.7750, 2.0315)
#: Named coefficient sets, as optax: one triple, or one per step.
NS_PRESETS = {"standard": NS_COEFFS,
              "dion": ((4.0848, -6.8946, 2.9270), (3.9505, -6.3029, 2.6377),
                       (3.7418, -5.5913, 2.3037), (2.8769, -3.1427, 1.2046),
                       (2.8366, -3.0525, 1.2012))}
PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")

_is_dims = lambda x: isinstance(x, MuonDimensionNumbers)


def _axes(x: jax.Array, dims: MuonDimensionNumbers
          ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(batch, reduction, output) axes of ``x`` under ``dims``."""
    def norm(a):
        return tuple(i % x.ndim for i in ((a,) if isinstance(a, int) else a))
    red, out = norm(dims.reduction_axis), norm(dims.output_axis)
    if set(red) & set(out):
        raise ValueError(f"muon reduction axes {red} and output axes {out} "
                         f"of a {x.shape} leaf overlap")
    batch = tuple(sorted(set(range(x.ndim)) - set(red) - set(out)))
    return batch, red, out


def fans(x: jax.Array, dims: MuonDimensionNumbers) -> tuple[int, int]:
    """(fan_in, fan_out): the sizes of the reduction and output axes."""
    _, red, out = _axes(x, dims)
    return (math.prod(x.shape[i] for i in red),
            math.prod(x.shape[i] for i in out))


def _ns_step(x, coeffs, first: bool, preconditioning: str):
    """One Newton-Schulz step ``a X + (b A + c A^2) X``, ``A = X X^H``; the
    first step of ``aol``/``schatten`` rescales ``X`` first."""
    a = x @ x.T.conj()
    if first and preconditioning == "aol":
        s = jax.lax.rsqrt(jnp.clip(jnp.abs(a).sum(axis=-1), min=1e-8))[
            :, None].astype(x.dtype)
        x, a = x * s, a * s * s.T
    elif first and preconditioning == "schatten":
        a = x @ x.T
        s = jax.lax.rsqrt(jnp.clip(jnp.linalg.norm(a, ord="fro"), min=1e-8)
                          ).astype(x.dtype)
        x, a = x * s, a * s ** 2
    b = coeffs[1] * a + coeffs[2] * a @ a
    return coeffs[0] * x + b @ x


def _orthogonalize_matrix(x, coeffs, ns_steps, preconditioning, eps):
    """The nearest semi-orthogonal matrix to ``x`` (its polar factor, to
    the precision of a few Newton-Schulz steps)."""
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    if preconditioning in ("frobenius", "spectral"):
        norm = jnp.linalg.norm(x, ord="fro" if preconditioning == "frobenius"
                               else 2)
        x = x / (norm + hyper(eps, norm.dtype)).astype(x.dtype)
    coeffs = coeffs.astype(x.dtype)
    steps = [coeffs] * ns_steps if coeffs.ndim == 1 else list(coeffs)
    for i, c in enumerate(steps):
        x = _ns_step(x, c, i == 0, preconditioning)
    return x.T if transposed else x


def orthogonalize(x: jax.Array, ns_coeffs: jax.Array, ns_steps: int = 5,
                  preconditioning: str = "frobenius", eps: Hyper = 1e-8,
                  dimension_numbers: MuonDimensionNumbers | None = None
                  ) -> jax.Array:
    """Orthogonalise ``x``: a matrix, or each ``fan_in x fan_out`` matrix
    of a kernel folded by ``dims`` (batch axes kept apart), as optax's
    ``orthogonalize_via_newton_schulz``."""
    dims = dimension_numbers
    if dims is None:
        if x.ndim != 2:
            raise ValueError(f"muon needs a matrix or dimension numbers, got "
                             f"a leaf of shape {x.shape}")
        dims = MuonDimensionNumbers(0, 1)
    batch, red, out = _axes(x, dims)
    order = batch + red + out
    shape = tuple(x.shape[i] for i in order)
    fan_in, fan_out = fans(x, dims)
    flat = x.transpose(order).reshape(-1, fan_in, fan_out)
    flat = jax.vmap(lambda m: _orthogonalize_matrix(
        m, jnp.asarray(ns_coeffs), ns_steps, preconditioning, eps))(flat)
    return flat.reshape(shape).transpose(
        tuple(sorted(range(x.ndim), key=lambda i: order[i])))


class MuonState(NamedTuple):
    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
    mu: optax.Updates  # momentum
    ns_coeffs: jax.Array  # (3,) or (steps, 3)


def ns_coefficients(ns_coeffs, ns_steps: int) -> jax.Array:
    """The coefficients as an array: ``(3,)``, or the last ``ns_steps`` rows
    of an ``(n, 3)`` table (optax's rule)."""
    if isinstance(ns_coeffs, str):
        check_choice("muon ns_coeffs preset", ns_coeffs, NS_PRESETS)
        ns_coeffs = NS_PRESETS[ns_coeffs]
    c = jnp.asarray(ns_coeffs)
    if c.ndim > 2 or c.shape[-1] != 3:
        raise ValueError(f"ns_coeffs must have shape (3,) or (n, 3), got "
                         f"{c.shape}")
    if c.ndim == 2:
        if c.shape[0] > ns_steps:
            raise ValueError(f"{c.shape[0]} ns_coeffs rows need ns_steps >= "
                             f"{c.shape[0]}, got {ns_steps}")
        c = c[-ns_steps:]
    return c


DimsOrFn = Any | Callable[[optax.Params], Any]


def _resolve(dims: DimsOrFn, updates):
    return dims(updates) if callable(dims) else dims


def scale_by_muon(ns_coeffs: Sequence | str = NS_COEFFS, ns_steps: int = 5,
                  beta: Hyper = 0.95, eps: Hyper = 1e-8,
                  mu_dtype: Any | None = None, *, nesterov: bool = True,
                  adaptive: bool = False, preconditioning: str = "frobenius",
                  weight_dimension_numbers: DimsOrFn | None = None
                  ) -> optax.GradientTransformation:
    r"""Muon's step direction (Jordan et al. 2024; Bernstein & Newhouse 2024).

    ``m_t = beta m_{t-1} + (1 - beta) g``; ``m^ = m_t / (1 - beta^t)`` or,
    with ``nesterov``, ``beta m_t / (1 - beta^(t+1)) + (1 - beta) g /
    (1 - beta^t)``; output ``O = NS(m^)``: ``m^`` scaled to norm 1
    (``preconditioning``), then ``ns_steps`` quintic Newton-Schulz steps
    ``X <- a X + b (X X^H) X + c (X X^H)^2 X`` that push every singular
    value towards 1 (the update's polar factor ``U V^H``). With
    ``adaptive``, ``O <- <m^, O> O``. Leaves of rank > 2 are folded into
    matrices by ``weight_dimension_numbers`` (a tree of
    ``MuonDimensionNumbers``, or a function of the updates giving one).
    """
    check_choice("muon preconditioning", preconditioning, PRECONDITIONINGS)
    mu_dtype = canonical_dtype(mu_dtype)

    def init_fn(params):
        return MuonState(count=zero_count(),
                         mu=optax.tree.zeros_like(params, dtype=mu_dtype),
                         ns_coeffs=ns_coefficients(ns_coeffs, ns_steps))

    def update_fn(updates, state, params=None):
        del params
        dims = _resolve(weight_dimension_numbers, updates)
        mu = jax.tree.map(lambda g, m: ema(g, m, beta), updates, state.mu)
        count = safe_increment(state.count)
        m_hat = jax.tree.map(lambda g, m: mu_hat(g, m, beta, count, nesterov),
                             updates, mu)

        def ortho(x, d):
            return orthogonalize(x, state.ns_coeffs, ns_steps,
                                 preconditioning, eps, d)

        out = jax.tree.map(ortho, m_hat, dims, is_leaf=_is_dims) \
            if dims is not None else jax.tree.map(lambda x: ortho(x, None),
                                                  m_hat)
        if adaptive:
            out = jax.tree.map(lambda m, o: jnp.sum(m.conj() * o) * o, m_hat,
                               out)
        return cast_like(out, updates), MuonState(
            count=count, mu=cast_like(mu, state.mu), ns_coeffs=state.ns_coeffs)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_shape(weight_dimension_numbers: DimsOrFn | None = None,
                   consistent_rms: Hyper | None = None
                   ) -> optax.GradientTransformation:
    r"""Muon's shape factor: ``sqrt(max(1, fan_out / fan_in))`` (so the
    update's RMS transfers across widths), or with ``consistent_rms=r``
    ``r sqrt(max(fan_in, fan_out))`` (an update RMS of about ``r``, to
    share AdamW's learning rate)."""

    def factor(u, d):
        fan_in, fan_out = fans(u, d if d is not None
                               else MuonDimensionNumbers(0, 1))
        if consistent_rms is None:
            return math.sqrt(max(1, fan_out / fan_in)) * u
        return (math.sqrt(max(fan_in, fan_out))
                * hyper(consistent_rms, u.dtype)) * u

    def update_fn(updates, state, params=None):
        del params
        dims = _resolve(weight_dimension_numbers, updates)
        if dims is None:
            return jax.tree.map(lambda u: factor(u, None), updates), state
        return jax.tree.map(factor, updates, dims, is_leaf=_is_dims), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(),
                                        update_fn)
