"""The layers both models are built of, as pure functions of arrays:
their initialisation (weights drawn by the activation's rule), batch
normalisation, dropout, and the hidden-layer block (weights, bias or batch
norm, activation, dropout).

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

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxmnist.core import draws
from jaxmnist.core.activations import HE_INIT, apply_activation

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


def init_weight(key: jax.Array, shape: tuple[int, ...], fan_in: int,
                fan_out: int, he: jax.Array, hidden: bool) -> jax.Array:
    """Weights of ``shape`` drawn from a normal distribution with standard
    deviation ``sqrt(2 / fan_in)`` (He et al. 2015) where ``he`` holds on a
    hidden layer (ReLU-like activations zero about half of their input and
    would otherwise shrink the signal layer by layer), else
    ``sqrt(2 / (fan_in + fan_out))`` (Glorot & Bengio 2010): sigmoid's and
    tanh's hidden layers, and always the linear output layer."""
    glorot = (2.0 / (fan_in + fan_out)) ** 0.5
    std = jnp.where(he, (2.0 / fan_in) ** 0.5, glorot) if hidden \
        else jnp.asarray(glorot, jnp.float32)
    return draws.normal(key, shape) * std


def init_layers(key: jax.Array, shapes: Sequence[tuple[int, ...]],
                activation: jax.typing.ArrayLike, batch_norm: bool
                ) -> tuple[list, list | None]:
    """(params, batch-norm running stats or None) of the layers whose
    weights have ``shapes`` (dense ``[in, out]``, convolution
    ``[h, w, in, out]``; the last is the linear output layer), one key of
    ``split(key)`` each: weights by :func:`init_weight` for the activation
    index ``activation`` (fans counting a kernel's positions), biases zero.
    With ``batch_norm`` a hidden layer holds batch norm's ``scale`` and
    ``shift`` instead of a bias (a bias before batch norm is removed by its
    mean; its gradient is float noise, which Adam would turn into a random
    walk)."""
    he = jnp.asarray(HE_INIT)[jnp.asarray(activation, jnp.int32)]
    params, stats = [], []
    for i, (k, shape) in enumerate(zip(jax.random.split(key, len(shapes)),
                                       shapes)):
        positions = math.prod(shape[:-2])
        hidden = i < len(shapes) - 1
        layer = {"w": init_weight(k, shape, shape[-2] * positions,
                                  shape[-1] * positions, he, hidden)}
        if batch_norm and hidden:
            bn, running = init_batch_norm(shape[-1])
            layer.update(bn)
            stats.append(running)
        else:
            layer["b"] = jnp.zeros((shape[-1],), jnp.float32)
        params.append(layer)
    return params, stats if batch_norm else None


def matmul(i: int, x: jax.Array, w: jax.Array) -> jax.Array:
    """A dense layer's weights: ``x @ w`` (``i``, the layer, unused)."""
    del i
    return x @ w


def matmul_transposed_first(i: int, x: jax.Array, w: jax.Array
                            ) -> jax.Array:
    """``x @ w`` for every layer but the first, whose weights are held
    transposed (``[out, in]``): ``(w xᵀ)ᵀ``. Members vmapped over their
    weights ``[M, out, in]`` with one shared batch then compute ``w xᵀ`` as
    one ``[M·out, in] @ [in, B]`` matmul that reads the weights as they lie
    (written ``x @ wᵀ``, XLA:CPU copied the weights to ``[in, M·out]`` at
    every step), and the weights' gradient comes out ``[M·out, in]``."""
    if i:
        return x @ w
    return jnp.swapaxes(w @ jnp.swapaxes(x, -1, -2), -1, -2)


def apply_layers(params: list, x: jax.Array, activation, choices=None, *,
                 stats: list | None = None, train: bool = False,
                 dropout_rate: jax.Array | None = None,
                 key: jax.Array | None = None,
                 linear: Callable = matmul,
                 after: Callable | None = None, first_dropout: int = 0
                 ) -> tuple[jax.Array, list[jax.Array], list | None]:
    """(logits, hidden pre-activations ``[samples, units]``, updated
    batch-norm stats or None) of ``params``' layers on ``x``.

    Each hidden layer ``i``: ``z = linear(i, x, w)``, plus its bias or
    batch-normalised (``stats[i]``, or the stats stored in the layer), the
    activation, ``after(i, x)`` (a CNN's pooling), and in training inverted
    dropout from layer ``first_dropout`` on, its mask drawn from
    ``fold_in(key, i)``. The last layer is dense and linear: the logits.
    """
    zs, new_stats = [], []
    for i, layer in enumerate(params[:-1]):
        z = linear(i, x, layer["w"])
        if "b" in layer:
            z = z + layer["b"]
        if "scale" in layer:
            z, s = batch_norm(z, layer, stats[i] if stats else layer, train)
            new_stats.append(s)
        zs.append(z.reshape(-1, z.shape[-1]))
        x = apply_activation(activation, z, choices)
        if after is not None:
            x = after(i, x)
        if train and dropout_rate is not None and key is not None \
                and i >= first_dropout:
            x = dropout(x, dropout_rate, jax.random.fold_in(key, i))
    out = x @ params[-1]["w"] + params[-1]["b"]
    return out, zs, new_stats or None
