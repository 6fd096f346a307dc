"""Batch normalisation and dropout, as pure functions of arrays.

Batch norm (Ioffe & Szegedy 2015) normalises a layer's pre-activations over
the batch (and, for convolutions, over positions) and applies a learned
scale and shift, which live in the params; its running mean and variance
are model *state*, not params: updated in training as
``running = momentum * running + (1 - momentum) * batch`` (momentum 0.9,
PyTorch's 0.1 in its convention; the batch's biased variance) and used
instead of the batch statistics at evaluation. Dropout (Srivastava et al.
2014) zeroes each hidden output with probability ``rate`` in training and
scales the rest by ``1 / (1 - rate)`` (inverted dropout): nothing changes at
evaluation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmnist.core import draws

BN_EPS = 1e-5
BN_MOMENTUM = 0.9


def init_batch_norm(units: int) -> tuple[dict, dict]:
    """(params ``{"scale", "shift"}``, running stats ``{"mean", "var"}``)."""
    return ({"scale": jnp.ones((units,), jnp.float32),
             "shift": jnp.zeros((units,), jnp.float32)},
            {"mean": jnp.zeros((units,), jnp.float32),
             "var": jnp.ones((units,), jnp.float32)})


def batch_norm(z: jax.Array, layer: dict, stats: dict, train: bool,
               momentum: float = BN_MOMENTUM) -> tuple[jax.Array, dict]:
    """(normalised ``z``, the updated running stats): the batch's statistics
    over every axis but the last in training, ``stats`` otherwise."""
    if train:
        axes = tuple(range(z.ndim - 1))
        mean, var = jnp.mean(z, axis=axes), jnp.var(z, axis=axes)
        stats = {"mean": momentum * stats["mean"] + (1 - momentum) * mean,
                 "var": momentum * stats["var"] + (1 - momentum) * var}
    else:
        mean, var = stats["mean"], stats["var"]
    out = (z - mean) * jax.lax.rsqrt(var + BN_EPS)
    return out * layer["scale"] + layer["shift"], stats


def dropout(x: jax.Array, rate: jax.Array, key: jax.Array) -> jax.Array:
    """Inverted dropout with a (possibly traced) ``rate`` in [0, 1); a rate
    of 0 returns ``x`` exactly."""
    keep = draws.bernoulli(key, 1 - rate, x.shape)
    return jnp.where(keep, x / (1 - rate), jnp.zeros_like(x))
