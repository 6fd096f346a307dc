"""Learning-dynamics probes: why a network learns as it does, not only how well.

Pure functions of a model's parameters (and, for the preconditioned
sharpness, its optimizer state), usable on their own params and computed by
``make_epoch`` for every member of a vmapped group inside the compiled
program (``TrainConfig(dynamics=True)``):

* per weight layer: gradient norm ‖∇W_l‖ (per step, averaged over the
  epoch), weight norm ‖W_l‖ and update ratio ‖θ_l(end) − θ_l(start)‖ /
  ‖θ_l(start)‖ — the effective step the optimizer really took;
* per hidden layer, on a fixed probe batch: ``dead_fraction`` (units whose
  activation derivative is ~0 for every probe image), ``saturated_fraction``
  (unit-image pairs whose derivative is below 5% of its maximum),
  ``mean_gate`` (mean |f′(z)|, the factor by which the layer passes gradients
  back) and a histogram of the pre-activations;
* ``sharpness``: the top eigenvalue of the loss Hessian on the probe batch,
  by Lanczos iteration with Hessian-vector products (``jax.linearize`` of
  ``jax.grad``), warm-started from the previous epoch's top vector; and, for
  the adaptive optimizers, the preconditioned sharpness, the top eigenvalue
  of P^{-1/2} H P^{-1/2} with the optimizer's own diagonal preconditioner P
  (Cohen et al., "Gradient descent on neural networks typically occurs at
  the edge of stability", ICLR 2021; "Adaptive gradient methods at the edge
  of stability", 2022).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxmnist.core import draws, model, net
from jaxmnist.core.activations import (
    DERIVATIVE_MAX,
    activation_derivative,
    activation_index,
)
from jaxmnist.types import Array

DEAD_BELOW = 1e-6  # a derivative this small passes no gradient
SATURATED_BELOW = 0.05  # of the derivative's maximum
HIST_EDGES = np.linspace(-8.0, 8.0, 65)  # 64 bins; outer bins take the tails
LOSS_WINDOWS = 50
#: Lanczos stops when less than this fraction of ``A q`` is new.
BREAKDOWN = 1e-4


class UnitStats(NamedTuple):
    """Per hidden layer, on a batch: each field ``[hidden layers]``."""
    dead_fraction: jax.Array
    saturated_fraction: jax.Array
    mean_gate: jax.Array


class Dynamics(NamedTuple):
    """One member's probes for one epoch (``[members, epochs, ...]`` when
    stacked). ``L`` weight layers, ``H`` hidden layers, ``W`` loss windows,
    ``B`` histogram bins."""
    grad_norm: Array  # [L] mean over the epoch's steps of ‖∇W_l‖
    update_ratio: Array  # [L] ‖θ_l(end) − θ_l(start)‖ / ‖θ_l(start)‖
    weight_norm: Array  # [L] ‖W_l‖ at the end of the epoch
    dead_fraction: Array  # [H]
    saturated_fraction: Array  # [H]
    mean_gate: Array  # [H]
    sharpness: Array  # [] top Hessian eigenvalue on the probe batch
    preconditioned_sharpness: Array  # [] NaN for non-adaptive optimizers
    loss_window_mean: Array  # [W] per-step training loss, windowed
    loss_window_max: Array  # [W]
    hist_start: Array  # [H, B] pre-activation counts before the epoch
    hist_end: Array  # [H, B] and after it


class ProbeState(NamedTuple):
    """What the probes carry from epoch to epoch: the Lanczos iterations'
    warm-start vectors (pytrees shaped like the params) and the
    pre-activation histograms of the params the next epoch starts from;
    and from an epoch's training to its probes, the preconditioner. (The
    sweep's epoch program sees the preconditioner only, the rest None: see
    :mod:`jaxmnist.sweep.pipeline`.)"""
    hessian_vector: Any
    preconditioned_vector: Any
    histograms: jax.Array | None  # [H, B]
    # The optimizer's diagonal preconditioner after the epoch (None: not
    # adaptive), set by the epoch for the probes of the probe batch.
    preconditioner: Any = None


# --------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------

def unit_stats(params: model.Params, activation: str | jax.typing.ArrayLike,
               images: Array, choices: tuple[int, ...] | None = None,
               stats: list | None = None) -> UnitStats:
    """Dead, saturated and mean-gate figures of every hidden layer on
    ``images`` (``activation`` a name or an index; ``stats``: batch-norm
    running statistics when they are not stored in the params)."""
    if isinstance(activation, str):
        activation = activation_index(activation)
    peak = jnp.asarray(DERIVATIVE_MAX)[jnp.asarray(activation, jnp.int32)]
    dead, saturated, gate = [], [], []
    for z in net.forward(params, activation, images, choices, stats)[1]:
        d = jnp.abs(activation_derivative(activation, z, choices))
        dead.append(jnp.mean(jnp.all(d < DEAD_BELOW, axis=0)))
        saturated.append(jnp.mean(d < SATURATED_BELOW * peak))
        gate.append(jnp.mean(d))
    return UnitStats(jnp.stack(dead), jnp.stack(saturated), jnp.stack(gate))


def preactivation_histograms(params: model.Params, activation, images: Array,
                             choices: tuple[int, ...] | None = None,
                             stats: list | None = None) -> jax.Array:
    """``[hidden layers, bins]`` counts of the pre-activations on
    ``images`` over :data:`HIST_EDGES` (values beyond the edges fall in the
    outer bins)."""
    if isinstance(activation, str):
        activation = activation_index(activation)
    edges = jnp.asarray(HIST_EDGES, jnp.float32)
    hists = []
    for z in net.forward(params, activation, images, choices, stats)[1]:
        idx = jnp.clip(jnp.searchsorted(edges, z.ravel(), side="right") - 1,
                       0, len(HIST_EDGES) - 2)
        hists.append(jnp.zeros(len(HIST_EDGES) - 1, jnp.float32).at[idx].add(
            1.0))
    return jnp.stack(hists)


# --------------------------------------------------------------------------
# Norms
# --------------------------------------------------------------------------

def layer_norms(layers: list) -> jax.Array:
    """``[layers]``: the Frobenius norm of each layer's leaves together."""
    return jnp.stack([optax.tree.norm(layer) for layer in layers])


#: How many steps apart the training's gradient norms are sampled: about 16
#: samples an epoch, at least every 32nd step (per-sample SGD: ~1,700).
GRAD_NORM_STRIDE_MAX, GRAD_NORM_SAMPLES = 32, 16


def grad_norm_stride(steps: int) -> int:
    """Sample every this many steps of an epoch of ``steps``."""
    return max(1, min(steps // GRAD_NORM_SAMPLES, GRAD_NORM_STRIDE_MAX))


def per_sample_grad_norms(grads: list, inputs: list) -> jax.Array:
    """``[layers]``: ``‖∇W_l‖`` of a one-example step of a dense network
    with biases, every step, from ``inputs``, each layer's input (the
    image, then the hidden layers' outputs): there ``∇W_l = h_{l-1}
    ∇b_lᵀ`` is an outer product, so ``‖∇W_l‖ = ‖h_{l-1}‖ ‖∇b_l‖`` exactly
    (to float rounding). Only vectors are read: reading the weight
    gradients themselves (``[128, 64]`` a member) cost the per-sample group
    37 µs a step, 27% of its epoch, and a branch computing the gradient
    every stride steps (whose operands XLA copied each step) more.
    """
    return jnp.stack([jnp.linalg.norm(model.to_float(h)) *
                      jnp.linalg.norm(g["b"]) for h, g in zip(inputs, grads)])


def update_ratios(start: model.Params, end: model.Params) -> jax.Array:
    """``[layers]``: ‖θ_l(end) − θ_l(start)‖ / ‖θ_l(start)‖ per layer."""
    delta = jax.tree.map(jnp.subtract, end, start)
    return layer_norms(delta) / layer_norms(start)


def loss_windows(losses: jax.Array, windows: int) -> tuple[jax.Array,
                                                           jax.Array]:
    """Per-step losses ``[steps]`` reduced to ``windows`` consecutive
    windows: (mean, max) each ``[windows]``."""
    steps = losses.shape[0]
    which = (jnp.arange(steps) * windows) // steps
    total = jax.ops.segment_sum(losses, which, windows)
    count = jax.ops.segment_sum(jnp.ones_like(losses), which, windows)
    return total / count, jax.ops.segment_max(losses, which, windows)


# --------------------------------------------------------------------------
# Sharpness
# --------------------------------------------------------------------------

def _unit(tree):
    norm = optax.tree.norm(tree)
    return jax.tree.map(lambda x: x / norm, tree)


def lanczos_top(matvec, v0, iterations: int) -> tuple[jax.Array, Any]:
    """(largest eigenvalue, its Ritz vector) of the symmetric operator
    ``matvec`` (pytree -> pytree) by ``iterations`` Lanczos steps from
    ``v0``, with full reorthogonalisation.

    Step j: ``w = A q_j``, ``α_j = q_j·w``, ``w -= α_j q_j + β_{j-1}
    q_{j-1}``, then once more ``w ⊥ q_0..q_j``, ``β_j = ‖w‖``,
    ``q_{j+1} = w / β_j``; the answer is the top eigenpair (θ, y) of the
    tridiagonal ``T = tridiag(β, α, β)``, with the Ritz vector ``Σ y_j
    q_j`` to warm-start the next call. One matvec per step, as power
    iteration, but the error falls like that of a Chebyshev polynomial of
    degree ``iterations`` rather than a power of that degree (Golub & Van
    Loan, *Matrix Computations*, §10.1). Measured on MNIST runs (5 epochs,
    5 optimizers, warm-started each epoch): 8 steps are within 0.1% of 60
    steps but for one epoch (0.75%), where 20 power steps were 1–4% off.
    Gives the algebraically largest eigenvalue (power iteration: the largest
    in magnitude). Works under ``jax.vmap`` (over ``v0`` and the operator).
    """
    flat0, unravel = ravel_pytree(v0)
    k = iterations

    def step(carry, j):
        basis, alphas, betas = carry
        q, q_prev = basis[j], basis[jnp.maximum(j - 1, 0)]
        w = ravel_pytree(matvec(unravel(q)))[0]
        alpha, scale = jnp.vdot(q, w), jnp.linalg.norm(w)
        w = w - alpha * q - jnp.where(j > 0, betas[j - 1], 0.0) * q_prev
        w = w - basis.T @ (basis @ w)  # rows after j are still zero
        beta = jnp.linalg.norm(w)
        # What is left is rounding: an invariant subspace was found (the
        # answer is exact); the later rows stay zero.
        beta = jnp.where(beta > BREAKDOWN * scale, beta, 0.0)
        q_next = jnp.where(beta > 0, w / jnp.where(beta > 0, beta, 1.0), 0.0)
        return (basis.at[j + 1].set(q_next), alphas.at[j].set(alpha),
                betas.at[j].set(beta)), None

    basis = jnp.zeros((k + 1, flat0.shape[0]), flat0.dtype)
    basis = basis.at[0].set(flat0 / jnp.linalg.norm(flat0))
    zeros = jnp.zeros(k, flat0.dtype)
    (basis, alphas, betas), _ = jax.lax.scan(
        step, (basis, zeros, zeros), jnp.arange(k))
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
    return values[-1], unravel(ritz / jnp.linalg.norm(ritz))


def hvp_fn(params: model.Params, activation, images: Array, labels: Array,
           choices: tuple[int, ...] | None = None, stats: list | None = None):
    """``v -> H v``, H the Hessian of the mean loss on (images, labels), in
    evaluation mode."""
    def loss(p):
        return model.loss_from_logits(
            net.forward(p, activation, images, choices, stats)[0], labels)

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
    if isinstance(activation, str):
        activation = activation_index(activation)
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
        if p is not None:
            return p
    return None


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


def _mul(a, b):
    return jax.tree.map(jnp.multiply, a, b)


def _stack(trees: list):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


class TrainingProbes(NamedTuple):
    """The probes read from an epoch's training (cheap; in its program)."""
    grad_norm: Array
    update_ratio: Array
    weight_norm: Array
    loss_window_mean: Array
    loss_window_max: Array


class BatchProbes(NamedTuple):
    """The probes of the params after an epoch on the probe batch."""
    dead_fraction: Array
    saturated_fraction: Array
    mean_gate: Array
    sharpness: Array
    preconditioned_sharpness: Array
    hist_start: Array
    hist_end: Array


def training_probes(params_before: model.Params, params_after: model.Params,
                    losses: jax.Array, grad_norms: jax.Array
                    ) -> TrainingProbes:
    """What an epoch's training tells: ``losses`` ``[steps]`` of every
    step, ``grad_norms`` ``[samples, weight layers]`` (every step's, or
    those sampled every :func:`grad_norm_stride` steps)."""
    window_mean, window_max = loss_windows(
        losses, min(LOSS_WINDOWS, losses.shape[0]))
    return TrainingProbes(
        grad_norm=jnp.nanmean(grad_norms, axis=0),
        update_ratio=update_ratios(list(params_before), list(params_after)),
        weight_norm=layer_norms([layer["w"] for layer in params_after]),
        loss_window_mean=window_mean, loss_window_max=window_max)


def batch_probes(params: model.Params, stats: list | None,
                 probe: ProbeState, activation, images: Array, labels: Array,
                 iterations: int, choices: tuple[int, ...] | None = None
                 ) -> tuple[BatchProbes, ProbeState]:
    """The probes of ``params`` on the probe batch (images, labels), with
    the preconditioner ``probe.preconditioner`` (None: not adaptive), and
    the next epoch's warm starts."""
    act = activation
    hvp = hvp_fn(params, act, images, labels, choices, stats)
    p = probe.preconditioner
    if p is None:
        sharp, v = lanczos_top(hvp, probe.hessian_vector, iterations)
        pre_sharp, u = jnp.full([], jnp.nan), probe.preconditioned_vector
    else:  # both at once: one Hessian-vector graph, batched over the two
        ones = jax.tree.map(jnp.ones_like, p)
        scales = _stack([ones, jax.tree.map(jax.lax.rsqrt, p)])
        sharps, both = jax.vmap(lambda s, v0: lanczos_top(
            lambda q: _mul(s, hvp(_mul(s, q))), v0, iterations))(
                scales, _stack([probe.hessian_vector,
                                probe.preconditioned_vector]))
        sharp, pre_sharp = sharps[0], sharps[1]
        v, u = (jax.tree.map(lambda x, i=i: x[i], both) for i in (0, 1))
    units = unit_stats(params, act, images, choices, stats)
    hist_end = preactivation_histograms(params, act, images, choices, stats)
    assert probe.histograms is not None, "an epoch program's view"
    return BatchProbes(units.dead_fraction, units.saturated_fraction,
                       units.mean_gate, sharp, pre_sharp, probe.histograms,
                       hist_end), probe._replace(hessian_vector=v,
                                                 preconditioned_vector=u,
                                                 histograms=hist_end)


class ProbePass(NamedTuple):
    """One Lanczos run's answer on the probe batch, and the unit probes."""
    sharpness: Array
    vector: Any  # its Ritz vector: the next epoch's warm start
    units: UnitStats
    histograms: Array  # [H, B]


def probe_pass(params: model.Params, stats: list | None, v0,
               preconditioner, activation, images: Array, labels: Array,
               iterations: int, choices: tuple[int, ...] | None = None
               ) -> ProbePass:
    """The top eigenvalue of ``P^{-1/2} H P^{-1/2}`` from ``v0``, P the
    diagonal ``preconditioner`` (all ones: the plain sharpness), with the
    unit statistics and histograms of ``params`` on (images, labels).

    The sweep calls this once per epoch for the plain sharpness and once
    more, for an adaptive optimizer, with its preconditioner: one compiled
    program for every optimizer. (:func:`batch_probes` batches the two.)
    """
    hvp = hvp_fn(params, activation, images, labels, choices, stats)
    scale = jax.tree.map(jax.lax.rsqrt, preconditioner)
    sharp, v = lanczos_top(lambda q: _mul(scale, hvp(_mul(scale, q))), v0,
                           iterations)
    return ProbePass(sharp, v, unit_stats(params, activation, images,
                                          choices, stats),
                     preactivation_histograms(params, activation, images,
                                              choices, stats))


def combine(training: TrainingProbes, batch: BatchProbes) -> Dynamics:
    """One epoch's :class:`Dynamics` from its two halves."""
    return Dynamics(**training._asdict(), **batch._asdict())
