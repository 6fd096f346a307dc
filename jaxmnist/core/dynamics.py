"""Learning-dynamics probes: why a network learns as it does, not only how well.

Pure functions of a model's parameters (and, for the preconditioned
sharpness, its optimizer state), usable on their own params and computed by
``make_epoch`` for every member of a vmapped group inside the compiled
program (``TrainConfig(dynamics=True)``):

* per weight layer: gradient norm ‖∇W_l‖ (every step's own, averaged
  over the epoch), weight norm ‖W_l‖ and update ratio ‖θ_l(end) − θ_l(start)‖ /
  ‖θ_l(start)‖ — the effective step the optimizer really took;
* per hidden layer, on a fixed probe batch (:mod:`jaxmnist.core.units`):
  ``dead_fraction`` (units whose
  activation derivative is ~0 for every probe image); for the saturating
  activations (sigmoid, tanh) ``saturated_fraction``, unit-image pairs in a
  flat tail (derivative below 5% of its maximum); for the ReLU-like ones
  (relu, leaky_relu, elu, gelu, silu) ``inactive_fraction`` instead,
  unit-image pairs on the off side (pre-activation z <= 0), which is not
  saturation but how such a unit switches; the other one is NaN;
  ``mean_gate`` (mean |f′(z)|, the factor by which the layer passes gradients
  back) and a histogram of the pre-activations;
* after the first epoch, every ``probe_every`` epochs and after the last
  (``TrainConfig``; NaN in the epochs between), the probes of the probe
  batch:
* ``sharpness``: the top eigenvalue of the loss Hessian on the probe batch,
  by Lanczos iteration with Hessian-vector products (``jax.linearize`` of
  ``jax.grad``), warm-started from the previous probe's top vector; and, for
  the adaptive optimizers, the preconditioned sharpness, the top eigenvalue
  of P^{-1/2} H P^{-1/2} with the optimizer's own diagonal preconditioner P
  (Cohen et al., "Gradient descent on neural networks typically occurs at
  the edge of stability", ICLR 2021; "Adaptive gradient methods at the edge
  of stability", 2022).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxmnist.core import model, net
from jaxmnist.core.sharpness import hvp_fn as hvp_fn
from jaxmnist.core.sharpness import lanczos_flat
from jaxmnist.core.sharpness import lanczos_top as lanczos_top
from jaxmnist.core.sharpness import preconditioner as preconditioner
from jaxmnist.core.sharpness import random_direction as random_direction
from jaxmnist.core.sharpness import (
    top_hessian_eigenvalue as top_hessian_eigenvalue,
)
from jaxmnist.core.units import DEAD_BELOW as DEAD_BELOW
from jaxmnist.core.units import HIST_EDGES as HIST_EDGES
from jaxmnist.core.units import RELU_LIKE as RELU_LIKE
from jaxmnist.core.units import SATURATED_BELOW as SATURATED_BELOW
from jaxmnist.core.units import UnitStats as UnitStats
from jaxmnist.core.units import histograms_of as histograms_of
from jaxmnist.core.units import (
    preactivation_histograms as preactivation_histograms,
)
from jaxmnist.core.units import unit_stats as unit_stats
from jaxmnist.core.units import unit_stats_of as unit_stats_of
from jaxmnist.types import Array

LOSS_WINDOWS = 50


class Dynamics(NamedTuple):
    """One member's probes for one epoch (``[members, epochs, ...]`` when
    stacked). ``L`` weight layers, ``H`` hidden layers, ``W`` loss windows,
    ``B`` histogram bins."""
    grad_norm: Array  # [L] mean over the epoch's steps of ‖∇W_l‖
    update_ratio: Array  # [L] ‖θ_l(end) − θ_l(start)‖ / ‖θ_l(start)‖
    weight_norm: Array  # [L] ‖W_l‖ at the end of the epoch
    dead_fraction: Array  # [H]
    saturated_fraction: Array  # [H] NaN for a ReLU-like activation
    inactive_fraction: Array  # [H] NaN for a saturating activation
    mean_gate: Array  # [H]
    sharpness: Array  # [] top Hessian eigenvalue on the probe batch
    preconditioned_sharpness: Array  # [] NaN for non-adaptive optimizers
    loss_window_mean: Array  # [W] per-step training loss, windowed
    loss_window_max: Array  # [W]
    hist_start: Array  # [H, B] pre-activation counts before the epoch
    hist_end: Array  # [H, B] and after it


class ProbeState(NamedTuple):
    """What the probes carry from one probed epoch to the next: the
    Lanczos iterations' warm-start vectors, flat (``ravel_pytree`` of a
    params-shaped tree; :func:`batch_probes` also takes the trees);
    ``preconditioned_vector`` None for an optimizer without a diagonal
    preconditioner."""
    hessian_vector: Any
    preconditioned_vector: Any = None


# --------------------------------------------------------------------------
# Norms
# --------------------------------------------------------------------------

def layer_norms(layers: list) -> jax.Array:
    """``[layers]``: the Frobenius norm of each layer's leaves together."""
    return jnp.stack([optax.tree.norm(layer) for layer in layers])


def per_sample_grad_norms(grads: list, inputs: list) -> jax.Array:
    """``[layers]``: ``‖∇W_l‖`` of a one-example step of a dense network
    with biases, every step, from ``inputs``, each layer's input (the
    image, then the hidden layers' outputs): there ``∇W_l = h_{l-1}
    ∇b_lᵀ`` is an outer product, so ``‖∇W_l‖ = ‖h_{l-1}‖ ‖∇b_l‖`` exactly
    (to float rounding). Only vectors are read: reading the weight
    gradients themselves (``[128, 64]`` a member) every step costs a large
    share of a per-sample epoch (docs/performance.md).
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
    windows: (mean, max) each ``[windows]``. The windows are a fixed 0/1
    matrix (the steps are static): a product and a masked max, where a
    segment sum and max compiled to scatters."""
    steps = losses.shape[0]
    which = (np.arange(steps) * windows) // steps
    member = which[None, :] == np.arange(windows)[:, None]  # [windows, steps]
    total = jnp.sum(jnp.where(member, losses, 0), axis=1)
    top = jnp.max(jnp.where(member, losses, -jnp.inf), axis=1)
    return total / jnp.asarray(member.sum(axis=1), losses.dtype), top


def _update_and_weight_norms(start: list, end: list
                             ) -> tuple[jax.Array, jax.Array]:
    """(update ratios, weight norms) ``[layers]`` as :func:`update_ratios`
    and :func:`layer_norms` of the ``w`` leaves give them, each leaf's
    three sums of squares (change, start, end) in one reduction."""
    sums = [jax.tree.map(lambda a, b: jnp.sum(
        jnp.stack([b - a, a, b]).reshape(3, -1) ** 2, axis=1), s, e)
        for s, e in zip(start, end)]
    per_layer = jnp.stack([sum(jax.tree.leaves(layer)) for layer in sums])
    weights = jnp.stack([layer["w"][2] for layer in sums])
    return (jnp.sqrt(per_layer[:, 0]) / jnp.sqrt(per_layer[:, 1]),
            jnp.sqrt(weights))


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
    inactive_fraction: Array
    mean_gate: Array
    sharpness: Array
    preconditioned_sharpness: Array
    hist_start: Array
    hist_end: Array


def training_probes(params_before: model.Params, params_after: model.Params,
                    losses: jax.Array, grad_norms: jax.Array
                    ) -> TrainingProbes:
    """What an epoch's training tells: ``losses`` ``[steps]`` and
    ``grad_norms`` ``[steps, weight layers]`` of every step."""
    window_mean, window_max = loss_windows(
        losses, min(LOSS_WINDOWS, losses.shape[0]))
    ratio, weight = _update_and_weight_norms(list(params_before),
                                             list(params_after))
    return TrainingProbes(
        grad_norm=jnp.nanmean(grad_norms, axis=0), update_ratio=ratio,
        weight_norm=weight, loss_window_mean=window_mean,
        loss_window_max=window_max)


def batch_probes(start: tuple, end: tuple, probe: ProbeState,
                 preconditioner, activation, images: Array, labels: Array,
                 iterations: int, choices: tuple[int, ...] | None = None
                 ) -> tuple[BatchProbes, ProbeState]:
    """The probes on the probe batch (images, labels) of the params after
    an epoch, ``end`` = (params, batch-norm stats); ``start`` the same
    before it (for ``hist_start``); ``preconditioner`` the optimizer's
    diagonal one (None: not adaptive, and no preconditioned pass). Also
    the next probe's warm starts (flat vectors)."""
    params, stats = end
    hvp = hvp_fn(params, activation, images, labels, choices, stats)
    unravel = ravel_pytree(params)[1]
    v0 = ravel_pytree(probe.hessian_vector)[0]

    def flat_hvp(x):
        return ravel_pytree(hvp(unravel(x)))[0]
    if preconditioner is None:
        sharp, v = lanczos_flat(flat_hvp, v0, iterations)
        pre_sharp, u = jnp.full([], jnp.nan, sharp.dtype), None
    else:  # both at once: one Hessian-vector graph, batched over the two
        scale = jax.lax.rsqrt(ravel_pytree(preconditioner)[0])
        sharps, both = jax.vmap(lambda s, q0: lanczos_flat(
            lambda q: s * flat_hvp(s * q), q0, iterations))(
                jnp.stack([jnp.ones_like(scale), scale]),
                jnp.stack([v0, ravel_pytree(probe.preconditioned_vector)[0]]))
        sharp, pre_sharp = sharps[0], sharps[1]
        v, u = both[0], both[1]
    # One forward program for both ends, batched over the two.
    both_zs = jax.vmap(lambda p, st: net.forward(
        p, activation, images, choices, st)[1])(
            *jax.tree.map(lambda a, b: jnp.stack([a, b]), start, end))
    hists = jax.vmap(histograms_of)(both_zs)
    end_zs = [z[1] for z in both_zs]
    return BatchProbes(
        **unit_stats_of(end_zs, activation, choices)._asdict(),
        sharpness=sharp, preconditioned_sharpness=pre_sharp,
        hist_start=hists[0], hist_end=hists[1]), ProbeState(v, u)


def unprobed(params: model.Params, activation, images: Array,
             choices: tuple[int, ...] | None = None,
             stats: list | None = None) -> BatchProbes:
    """An epoch without the probe batch's probes: :class:`BatchProbes`
    shaped as :func:`batch_probes` gives them, every value NaN. Only a
    forward pass is traced for the shapes, not the Hessian's programs."""
    units = jax.eval_shape(lambda p: unit_stats_of(net.forward(
        p, activation, images, choices, stats)[1], activation, choices),
        params)
    dtype = jnp.result_type(*jax.tree.leaves(params))

    def nan(shape, dt):
        return jnp.full(shape, jnp.nan, dt)
    hist = nan([units.dead_fraction.shape[0], len(HIST_EDGES) - 1],
               jnp.float32)
    return BatchProbes(**{k: nan(x.shape, x.dtype)
                          for k, x in units._asdict().items()},
                       sharpness=nan([], dtype),
                       preconditioned_sharpness=nan([], dtype),
                       hist_start=hist, hist_end=hist)


def combine(training: TrainingProbes, batch: BatchProbes) -> Dynamics:
    """One epoch's :class:`Dynamics` from its two halves."""
    return Dynamics(**training._asdict(), **batch._asdict())
