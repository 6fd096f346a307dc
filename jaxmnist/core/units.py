"""Hidden units on a batch, per layer: dead, saturated or inactive, the
mean gate |f'(z)|, and histograms of the pre-activations (probes of
:mod:`jaxmnist.core.dynamics`, which re-exports them). Every layer's
figures come from one program: the layers side by side, summed per layer.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmnist.core import model, net
from jaxmnist.core.activations import (
    DERIVATIVE_MAX,
    HE_INIT,
    activation_derivative,
    as_index,
)
from jaxmnist.types import Array

DEAD_BELOW = 1e-6  # a derivative this small passes no gradient
SATURATED_BELOW = 0.05  # of the derivative's maximum
#: Per activation index: True for the ReLU-like activations (the He
#: initialisation family), whose off side (z <= 0) is measured as
#: "inactive"; False for the saturating ones, measured as "saturated".
RELU_LIKE: list[bool] = HE_INIT  # the same list: plugins append to it
HIST_EDGES = np.linspace(-8.0, 8.0, 65)  # 64 bins; outer bins take the tails


class UnitStats(NamedTuple):
    """Per hidden layer, on a batch: each field ``[hidden layers]``
    (``saturated_fraction`` NaN for a ReLU-like activation,
    ``inactive_fraction`` NaN for a saturating one)."""
    dead_fraction: jax.Array
    saturated_fraction: jax.Array
    inactive_fraction: jax.Array
    mean_gate: jax.Array



def unit_stats(params: model.Params, activation: str | jax.typing.ArrayLike,
               images: Array, choices: tuple[int, ...] | None = None,
               stats: list | None = None) -> UnitStats:
    """Dead, saturated or inactive, and mean-gate figures of every hidden
    layer on ``images`` (``activation`` a name or an index; ``stats``:
    batch-norm running statistics when they are not stored in the params).
    A ReLU-like activation's units are inactive on their off side, not
    saturated: ``saturated_fraction`` is NaN for them, and
    ``inactive_fraction`` NaN for the saturating activations."""
    activation = as_index(activation)
    zs = net.forward(params, activation, images, choices, stats)[1]
    return unit_stats_of(zs, activation, choices)


def _by_layer(zs: list) -> tuple[jax.Array, jax.Array, np.ndarray]:
    """The hidden layers' pre-activations side by side, ``[images,
    units]`` (a unit: one position of a layer's output), the ``[units,
    layers]`` 0/1 matrix of which layer each is in, and each layer's unit
    count: every layer's figures then come from one program."""
    flat = [z.reshape(z.shape[0], -1) for z in zs]
    sizes = np.asarray([f.shape[1] for f in flat])
    which = np.repeat(np.arange(len(flat)), sizes)
    member = which[:, None] == np.arange(len(flat))[None, :]
    z = jnp.concatenate(flat, axis=1)
    return z, jnp.asarray(member, z.dtype), sizes


def _per_layer(member: jax.Array, per_unit: jax.Array) -> jax.Array:
    """``[..., layers]`` sums over each layer's units of ``per_unit``
    ``[..., units]``."""
    return jnp.matmul(per_unit, member, precision=jax.lax.Precision.HIGHEST)


def unit_stats_of(zs: list, activation, choices) -> UnitStats:
    """:func:`unit_stats` of the hidden pre-activations ``zs``: a unit is
    dead when its largest |f′(z)| over the images is below
    :data:`DEAD_BELOW`."""
    index = jnp.asarray(activation, jnp.int32)
    peak = jnp.asarray(DERIVATIVE_MAX)[index]
    relu_like = jnp.asarray(RELU_LIKE)[index]
    z, member, sizes = _by_layer(zs)
    d = jnp.abs(activation_derivative(activation, z, choices))
    n = z.shape[0]
    sums = _per_layer(member, jnp.stack([
        (jnp.max(d, axis=0) < DEAD_BELOW).astype(z.dtype),
        jnp.sum(d < SATURATED_BELOW * peak, axis=0, dtype=z.dtype) / n,
        jnp.sum(z <= 0, axis=0, dtype=z.dtype) / n,
        jnp.mean(d, axis=0)])) / jnp.asarray(sizes, z.dtype)
    dead, saturated, inactive, gate = sums
    return UnitStats(dead, jnp.where(relu_like, jnp.nan, saturated),
                     jnp.where(relu_like, inactive, jnp.nan), gate)


def preactivation_histograms(params: model.Params, activation, images: Array,
                             choices: tuple[int, ...] | None = None,
                             stats: list | None = None) -> jax.Array:
    """``[hidden layers, bins]`` counts of the pre-activations on
    ``images`` over :data:`HIST_EDGES` (values beyond the edges fall in the
    outer bins)."""
    activation = as_index(activation)
    return histograms_of(net.forward(params, activation, images, choices,
                                   stats)[1])


def histograms_of(zs: list) -> jax.Array:
    """:func:`preactivation_histograms` of the pre-activations ``zs``.

    Counted, not scattered: the number of values at or above each inner
    edge, differenced (bin ``b`` holds ``edges[b] <= z < edges[b+1]``, as
    ``searchsorted(edges, z, "right") - 1``, clipped to the outer bins),
    every layer's units at once: a search and a scatter-add under vmap
    compiled to several kernels a layer."""
    z, member, sizes = _by_layer(zs)
    above = jnp.sum(z[..., None] >= jnp.asarray(HIST_EDGES[1:-1], z.dtype),
                    axis=0, dtype=jnp.float32)  # [units, inner edges]
    counts = _per_layer(member.astype(jnp.float32), above.T).T
    totals = jnp.asarray(z.shape[0] * sizes[:, None], jnp.float32)
    return -jnp.diff(jnp.concatenate(
        [totals, counts, jnp.zeros_like(totals)], axis=1), axis=1)
