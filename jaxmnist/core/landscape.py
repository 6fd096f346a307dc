"""Loss landscapes of a params pytree: straight paths, barriers, 2-D slices.

Three pictures of where training ends up, each a vmappable function of
params pytrees and an ``evaluate(params) -> (loss, accuracy)`` function:

* :func:`path`: the loss and accuracy along the straight line between two
  params, ``(1 - a) * params_a + a * params_b`` for each ``a`` in
  ``alphas`` (Goodfellow et al. 2015, from initialisation to solution);
* :func:`barrier`: how far such a path's loss rises above the straight
  line between its endpoints' losses (Garipov et al. 2018; Frankle et al.
  2020): about 0 when two solutions are linearly connected;
* :func:`surface`: the loss on a grid of ``params + x * d1 + y * d2``
  with :func:`filter_normalized_direction` directions (Li et al. 2018),
  which rescale each filter of a random direction to that filter's norm
  in the params, so that slices of differently scaled nets compare.

The points of a path or a grid are evaluated by ``lax.map`` in batches of
``batch_size`` points (vmapped inside a batch), which bounds the memory
of a large grid at the price of a loop.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from jaxmnist.core import model
from jaxmnist.core.net import forward
from jaxmnist.types import Array

#: ``evaluate(params) -> (loss, accuracy)``, both scalars.
Evaluate = Callable[[object], tuple[jax.Array, jax.Array]]


def model_evaluate(activation, images: Array, labels: Array,
                   choices: tuple[int, ...] | None = None) -> Evaluate:
    """``evaluate(params)``: the model's mean cross-entropy and accuracy on
    (images, labels) in evaluation mode (MLP or CNN; batch norm from the
    running statistics saved in the params)."""
    def evaluate(params):
        out, _ = forward(params, activation, images, choices)
        return (model.loss_from_logits(out, labels),
                model.accuracy_from_logits(out, labels))
    return evaluate


def lerp(params_a, params_b, alpha: jax.typing.ArrayLike):
    """``(1 - alpha) * params_a + alpha * params_b``, leaf by leaf."""
    return jax.tree.map(lambda a, b: a + alpha * (b - a), params_a, params_b)


def path(evaluate: Evaluate, params_a, params_b, alphas: Array,
         batch_size: int | None = None) -> tuple[jax.Array, jax.Array]:
    """(loss, accuracy), each ``[len(alphas)]``, along the straight line
    from ``params_a`` (alpha 0) to ``params_b`` (alpha 1)."""
    return lax.map(lambda a: evaluate(lerp(params_a, params_b, a)),
                   jnp.asarray(alphas), batch_size=batch_size)


def barrier(alphas: Array, losses: Array) -> jax.Array:
    """The largest rise of a path's ``losses`` above the straight line
    between its endpoints' losses, ``max_a L(a) - ((1 - a) L(0) + a L(1))``,
    over the last axis. ``alphas`` must start at 0 and end at 1 (the
    endpoints are ``losses[..., 0]`` and ``losses[..., -1]``). NaN when the
    path is not finite everywhere."""
    alphas = jnp.asarray(alphas, jnp.result_type(losses))
    ends = losses[..., :1] * (1 - alphas) + losses[..., -1:] * alphas
    return jnp.max(losses - ends, axis=-1)


def filter_normalized_direction(key: jax.Array, params):
    """A random direction shaped like ``params``: normal draws, each filter
    rescaled to the norm of that filter in ``params`` (Li et al. 2018).

    A filter is one output unit: a slice along the last axis of a weight
    (dense ``[in, out]`` or convolution ``[h, w, in, out]``). One-dimensional
    leaves (biases, batch-norm scale, shift and running statistics) get a
    zero direction, as in Li et al., so the slice moves the weights only.
    """
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [
        _normalized(k, p) for k, p in zip(keys, leaves)])


def _normalized(key: jax.Array, p: jax.Array) -> jax.Array:
    if p.ndim < 2:
        return jnp.zeros_like(p)
    d = jax.random.normal(key, p.shape, p.dtype)
    axes = tuple(range(p.ndim - 1))
    norm = lambda x: jnp.sqrt(jnp.sum(x * x, axis=axes, keepdims=True))
    return d * (norm(p) / norm(d))


def surface(evaluate: Evaluate, params, directions: tuple, xs: Array,
            ys: Array, batch_size: int | None = None
            ) -> tuple[jax.Array, jax.Array]:
    """(loss, accuracy), each ``[len(xs), len(ys)]``, of
    ``params + x * d1 + y * d2`` for ``directions = (d1, d2)``."""
    d1, d2 = directions
    xs, ys = jnp.asarray(xs), jnp.asarray(ys)
    gx, gy = jnp.meshgrid(xs, ys, indexing="ij")

    def at(point):
        x, y = point
        return evaluate(jax.tree.map(lambda p, a, b: p + x * a + y * b,
                                     params, d1, d2))

    loss, acc = lax.map(at, (gx.ravel(), gy.ravel()), batch_size=batch_size)
    shape = (xs.shape[0], ys.shape[0])
    return loss.reshape(shape), acc.reshape(shape)
