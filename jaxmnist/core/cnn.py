"""A LeNet-5-style convolutional network, a plain pytree like the MLP.

conv 6@5x5 (same padding) -> activation -> 2x2 max pool -> conv 16@5x5
(valid) -> activation -> 2x2 max pool -> 400 -> 120 -> 84 -> 10, after LeCun
et al. (1998) with max pooling and our activations (picked by
``lax.switch``, so one program vmaps over them). Parameters are a list of
five ``{"w", "b"}`` dicts: two convolutions (``w`` ``[5, 5, in, out]``,
HWIO) and three dense layers; with batch norm each hidden layer also holds a
``scale`` and ``shift`` (per channel for the convolutions) and the running
statistics are separate state, as for the MLP. Weights are drawn with the
MLP's rule (He for ReLU-like activations, Glorot for sigmoid and tanh, the
output layer Glorot), fan-in and fan-out counting the kernel's positions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmnist.core import layers
from jaxmnist.core.model import Params, to_float
from jaxmnist.types import Array

#: (kernel size, in channels, out channels, padding) of each convolution.
CONVS = ((5, 1, 6, "SAME"), (5, 6, 16, "VALID"))
#: Widths of the dense layers after flattening the 5 x 5 x 16 feature maps.
DENSE = (400, 120, 84, 10)
#: Images per pass when evaluating a larger batch: a whole split at once
#: spills every feature map out of cache (10,000 test images: 4x slower).
EVAL_CHUNK = 500


def init_cnn(key: jax.Array, activation: jax.typing.ArrayLike = 0,
             batch_norm: bool = False) -> tuple[Params, list | None]:
    """(params, batch-norm running stats or None) of the LeNet-5 network
    (:func:`jaxmnist.core.layers.init_layers`)."""
    shapes = [(k, k, cin, cout) for k, cin, cout, _ in CONVS]
    return layers.init_layers(key, shapes + list(zip(DENSE[:-1], DENSE[1:])),
                              activation, batch_norm)


def conv(x: jax.Array, kernel: jax.Array, padding: str) -> jax.Array:
    """``lax.conv_general_dilated(x, kernel, (1, 1), padding)`` (NHWC, HWIO,
    stride 1, odd kernel) as one matmul of the image patches ("im2col"):
    the patches are ``k * k`` shifted slices concatenated on the channel
    axis, in the kernel's ``(row, column, channel)`` order. On CPU, XLA's
    convolution and its gradients run 4x slower than this
    (``python -m jaxmnist.bench`` times the LeNet-5 group)."""
    k = kernel.shape[0]
    if padding == "SAME":
        x = jnp.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    rows, cols = x.shape[1] - k + 1, x.shape[2] - k + 1
    patches = jnp.concatenate([x[:, i:i + rows, j:j + cols, :]
                               for i in range(k) for j in range(k)], axis=-1)
    return patches @ kernel.reshape(-1, kernel.shape[-1])


def pool(x: jax.Array) -> jax.Array:
    """2x2 max pooling with stride 2 (NHWC, even sides), as a reshape and a
    max: its gradient is a select, cheaper on CPU than ``reduce_window``'s
    select-and-scatter. Ties share the gradient equally."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def apply_cnn(params: Params, activation: jax.typing.ArrayLike, images: Array,
              choices: tuple[int, ...] | None = None, *,
              stats: list | None = None, train: bool = False,
              dropout_rate: jax.Array | None = None,
              key: jax.Array | None = None
              ) -> tuple[jax.Array, list[jax.Array], list | None]:
    """(logits, hidden pre-activations ``[samples, units]`` (a convolution's
    units are its channels, its samples every image and position), updated
    batch-norm stats). Dropout, when given, acts on the dense hidden layers'
    outputs; see :func:`jaxmnist.core.model.apply` for the arguments.
    In evaluation, more than ``EVAL_CHUNK`` images go through in chunks."""
    if not train and images.shape[0] > EVAL_CHUNK:
        return _evaluate_in_chunks(params, activation, images, choices, stats)
    x = to_float(images).reshape(-1, 28, 28, 1)
    return layers.apply_layers(
        params, x, activation, choices, stats=stats, train=train,
        dropout_rate=dropout_rate, key=key, linear=_linear,
        after=_pool_convs, first_dropout=len(CONVS))


def _linear(i: int, x: jax.Array, w: jax.Array) -> jax.Array:
    """Layer ``i``'s weights: a convolution, then dense matmuls."""
    return conv(x, w, CONVS[i][3]) if i < len(CONVS) else x @ w


def _pool_convs(i: int, x: jax.Array) -> jax.Array:
    """After a convolution's activation: pooled (and flattened after the
    last convolution); a dense layer's output as it is."""
    if i >= len(CONVS):
        return x
    x = pool(x)
    return x.reshape(x.shape[0], -1) if i == len(CONVS) - 1 else x


def _evaluate_in_chunks(params: Params, activation, images: Array,
                        choices: tuple[int, ...] | None, stats: list | None
                        ) -> tuple[jax.Array, list[jax.Array], list | None]:
    """:func:`apply_cnn` in evaluation mode, ``EVAL_CHUNK`` images at a time
    (``lax.map``) and the remainder in one last pass; the outputs in the
    images' order (the batch-norm stats, unchanged in evaluation, once)."""
    images = images.reshape(images.shape[0], -1)
    whole = images.shape[0] - images.shape[0] % EVAL_CHUNK

    def apply(chunk):
        return apply_cnn(params, activation, chunk, choices, stats=stats)

    out, zs, same_stats = jax.lax.map(apply, images[:whole].reshape(
        -1, EVAL_CHUNK, images.shape[1]))
    outs = [out.reshape(whole, -1)]
    zs = [[z.reshape(-1, z.shape[-1])] for z in zs]
    if whole < images.shape[0]:
        tail_out, tail_zs, _ = apply(images[whole:])
        outs.append(tail_out)
        for parts, z in zip(zs, tail_zs):
            parts.append(z)
    return (jnp.concatenate(outs), [jnp.concatenate(z) for z in zs],
            jax.tree.map(lambda s: s[0], same_stats))
