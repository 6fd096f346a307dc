"""The loss's sharpness: the Hessian's top eigenvalue by Lanczos iteration
with Hessian-vector products, and the optimizer's diagonal preconditioner
for the preconditioned sharpness (see :mod:`jaxmnist.core.dynamics`, whose
probes use them and re-export the public ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree
from optax.transforms import MaskedNode

from jaxmnist.core import draws, model, net
from jaxmnist.core.activations import as_index
from jaxmnist.types import Array

__all__ = ["BREAKDOWN", "hvp_fn", "lanczos_flat", "lanczos_top",
           "preconditioner", "random_direction", "top_hessian_eigenvalue",
           "tree_mul"]

#: Lanczos stops when less than this fraction of ``A q`` is new.
BREAKDOWN = 1e-4


def _unit(tree):
    norm = optax.tree.norm(tree)
    return jax.tree.map(lambda x: x / norm, tree)


def lanczos_top(matvec, v0, iterations: int) -> tuple[jax.Array, Any]:
    """(largest eigenvalue, its Ritz vector) of the symmetric operator
    ``matvec`` (pytree -> pytree) by ``iterations`` Lanczos steps from
    ``v0``, with full reorthogonalisation: :func:`lanczos_flat` on the
    flattened pytrees."""
    flat0, unravel = ravel_pytree(v0)
    value, ritz = lanczos_flat(
        lambda x: ravel_pytree(matvec(unravel(x)))[0], flat0, iterations)
    return value, unravel(ritz)


def lanczos_flat(matvec, v0: jax.Array, iterations: int
                 ) -> tuple[jax.Array, jax.Array]:
    """(largest eigenvalue, its unit Ritz vector) of the symmetric operator
    ``matvec`` (vector -> vector) by ``iterations`` Lanczos steps from
    ``v0``, with full reorthogonalisation.

    Step j: ``w = A q_j``, ``α_j = q_j·w``, ``w -= α_j q_j + β_{j-1}
    q_{j-1}``, then once more ``w ⊥ q_0..q_j``, ``β_j = ‖w‖``,
    ``q_{j+1} = w / β_j``; the answer is the top eigenpair (θ, y) of the
    tridiagonal ``T = tridiag(β, α, β)``, with the Ritz vector ``Σ y_j
    q_j`` to warm-start the next call. One matvec per step, as power
    iteration, but the error falls like that of a Chebyshev polynomial of
    degree ``iterations`` rather than a power of that degree (Golub & Van
    Loan, *Matrix Computations*, §10.1). How far the probes' defaults
    (warm-started every ``probe_every`` epochs) are from 40 steps:
    ``benchmarks/lanczos_accuracy.py`` and docs/dynamics.md.
    Gives the algebraically largest eigenvalue (power iteration: the largest
    in magnitude). Works under ``jax.vmap`` (over ``v0`` and the operator).
    """
    k = iterations

    def step(carry, j):
        basis, q_prev, beta_prev = carry
        q = basis[j]
        w = matvec(q)
        alpha, scale = jnp.vdot(q, w), jnp.linalg.norm(w)
        w = w - alpha * q - beta_prev * q_prev
        w = w - (basis @ w) @ basis  # rows after j are still zero
        beta = jnp.linalg.norm(w)
        # What is left is rounding: an invariant subspace was found (the
        # answer is exact); the later rows stay zero.
        beta = jnp.where(beta > BREAKDOWN * scale, beta, 0.0)
        q_next = jnp.where(beta > 0, w / jnp.where(beta > 0, beta, 1.0), 0.0)
        basis = jax.lax.dynamic_update_index_in_dim(basis, q_next, j + 1, 0)
        return (basis, q, beta), (alpha, beta)

    basis = jnp.zeros((k + 1, v0.shape[0]), v0.dtype)
    basis = basis.at[0].set(v0 / jnp.linalg.norm(v0))
    zero = jnp.zeros([], v0.dtype)
    (basis, _, _), (alphas, betas) = jax.lax.scan(
        step, (basis, jnp.zeros_like(v0), zero), jnp.arange(k))
    # After a breakdown the unused steps' diagonal repeats α_0, a Rayleigh
    # quotient, so it is no larger than the top eigenvalue sought.
    used = jnp.concatenate([jnp.ones(1, bool),
                            jnp.cumprod(betas[:-1] > 0) > 0])
    diag = jnp.where(used, alphas, alphas[0])
    off = jnp.where(used[1:], betas[:-1], 0.0)
    tri = jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1)
    values, vectors = jnp.linalg.eigh(tri)
    ritz = vectors[:, -1] @ basis[:k]
    ritz = jnp.where(jnp.linalg.norm(ritz) > 0.5, ritz, basis[0])
    return values[-1], ritz / jnp.linalg.norm(ritz)


def hvp_fn(params: model.Params, activation, images: Array, labels: Array,
           choices: tuple[int, ...] | None = None, stats: list | None = None):
    """``v -> H v``, H the Hessian of the mean loss on (images, labels), in
    evaluation mode."""
    def loss(p):
        logits = net.forward(p, activation, images, choices, stats)[0]
        log_p = jax.nn.log_softmax(logits)
        hot = jax.nn.one_hot(labels, logits.shape[-1], dtype=log_p.dtype)
        return -jnp.mean(jnp.sum(hot * log_p, axis=-1))

    # Linearised once: each product then costs only the tangent pass, the
    # forward and backward at ``params`` being computed a single time.
    return jax.linearize(jax.grad(loss), params)[1]


def top_hessian_eigenvalue(params: model.Params,
                           activation: str | jax.typing.ArrayLike,
                           images: Array, labels: Array,
                           iterations: int = 20, v0=None,
                           choices: tuple[int, ...] | None = None
                           ) -> jax.Array:
    """The largest eigenvalue of the loss Hessian on (images, labels), by
    ``iterations`` Lanczos steps (:func:`lanczos_top`) from ``v0``
    (default: a fixed random direction)."""
    activation = as_index(activation)
    v0 = random_direction(jax.random.key(0), params) if v0 is None else v0
    value, _ = lanczos_top(hvp_fn(params, activation, images, labels,
                                  choices), v0, iterations)
    return value


def random_direction(key: jax.Array, params: model.Params):
    """A unit random direction shaped like ``params``."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return _unit(jax.tree.unflatten(treedef, [
        draws.normal(k, x.shape)
        for k, x in zip(keys, leaves)]))


def preconditioner(opt_state, options: Mapping[str, Any] | None = None):
    """The optimizer's diagonal preconditioner P (step = lr · g / P) as a
    params-shaped pytree, or None for a non-adaptive optimizer.

    Recognised in our states and optax's alike by their fields, with the
    member's hyperparameters ``options`` (``b2``, ``eps``; optax's
    defaults otherwise): Adam's ``mu``/``nu``/``count`` (P = √v̂ + ε, v̂
    bias-corrected), RMSProp's ``nu`` (P = √(ν + ε)), Adagrad's
    ``sum_of_squares`` (P = √(G + ε)), Adadelta's ``e_g``/``e_x``
    (P = √(E[g²] + ε) / √(E[Δx²] + ε)).
    """
    opts = dict(options or {})
    for state in _states(opt_state):
        p = _diagonal(state, opts)
        if p is not None and not _partial(p):
            return p
    return None


def _partial(tree) -> bool:
    """Whether ``tree`` covers only some parameters: a partitioned
    optimizer's part (Muon's AdamW holds ``MaskedNode`` in place of the
    matrices), not a preconditioner of all of them."""
    def masked(x):
        return isinstance(x, MaskedNode)
    return any(masked(x) for x in jax.tree.leaves(tree, is_leaf=masked))


def _diagonal(s, opts: dict):
    fields = set(getattr(s, "_fields", ()))
    if {"e_g", "e_x"} <= fields:
        eps = opts.get("eps", 1e-6)
        return jax.tree.map(lambda g, x: jnp.sqrt(g + eps) / jnp.sqrt(x + eps),
                            s.e_g, s.e_x)
    if "sum_of_squares" in fields:
        eps = opts.get("eps", 1e-7)
        return jax.tree.map(lambda g: jnp.sqrt(g + eps), s.sum_of_squares)
    if {"mu", "nu", "count"} <= fields:
        t = jnp.maximum(s.count, 1).astype(jnp.float32)
        b2 = jnp.asarray(opts.get("b2", 0.999), jnp.float32)
        eps = opts.get("eps", 1e-8)
        correction = 1 - b2 ** t
        return jax.tree.map(lambda v: jnp.sqrt(v / correction) + eps, s.nu)
    if "nu" in fields:
        eps = opts.get("eps", 1e-8)
        return jax.tree.map(lambda v: jnp.sqrt(v + eps), s.nu)
    return None


def _states(tree):
    """Every NamedTuple state inside an optax state, outermost first."""
    out = []

    def visit(x):
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            out.append(x)
            for y in x:
                visit(y)
        elif isinstance(x, (tuple, list)):
            for y in x:
                visit(y)
        elif isinstance(x, dict):
            for y in x.values():
                visit(y)
    visit(tree)
    return out


def tree_mul(a, b):
    """Leafwise ``a * b``."""
    return jax.tree.map(jnp.multiply, a, b)
