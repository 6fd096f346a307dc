"""Loss landscapes of your own params: straight paths, barriers and 2-D
slices, compiled; see :mod:`jaxmnist.core.landscape` for the definitions.

``interpolate(params_a, params_b, alphas, activation, train, val)`` gives
the loss and accuracy along the straight path on a training subset and on
validation; ``barrier(alphas, losses)`` how far that path rises above the
line between its endpoints; ``slice_2d(params, directions, grid,
activation, images, labels)`` the loss on a grid around ``params`` along
two :func:`filter_normalized_direction` directions. ``activation`` is a
name or an index; every function is pure and vmaps over params (and over
an index activation), as the sweep's ``--landscape`` does over members.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmnist.core import landscape as _core
from jaxmnist.core.activations import as_index
from jaxmnist.core.landscape import barrier as barrier
from jaxmnist.core.landscape import (
    filter_normalized_direction as filter_normalized_direction,
)
from jaxmnist.core.landscape import lerp as lerp
from jaxmnist.core.landscape import model_evaluate as model_evaluate
from jaxmnist.core.landscape import path as path
from jaxmnist.core.landscape import surface as surface
from jaxmnist.types import Array


class Path(NamedTuple):
    """Loss and accuracy at each ``alphas`` point (last axis) of a straight
    path, on the training subset and on validation."""
    alphas: jax.Array
    train_loss: jax.Array
    train_accuracy: jax.Array
    val_loss: jax.Array
    val_accuracy: jax.Array


class Surface(NamedTuple):
    """Loss and accuracy ``[len(xs), len(ys)]`` of a 2-D slice."""
    xs: jax.Array
    ys: jax.Array
    loss: jax.Array
    accuracy: jax.Array


def interpolate(params_a, params_b, alphas: Array,
                activation: str | jax.typing.ArrayLike,
                train: tuple[Array, Array], val: tuple[Array, Array],
                choices: tuple[int, ...] | None = None,
                batch_size: int | None = None) -> Path:
    """The straight path from ``params_a`` (alpha 0) to ``params_b``
    (alpha 1), evaluated on ``train`` and ``val`` (each (images, labels))
    at every ``alphas`` point, ``batch_size`` points at a time."""
    return _interpolate(params_a, params_b, jnp.asarray(alphas),
                        as_index(activation), train, val, choices,
                        batch_size)


@partial(jax.jit, static_argnames=("choices", "batch_size"))
def _interpolate(params_a, params_b, alphas, activation, train, val,
                 choices, batch_size) -> Path:
    on = lambda split: _core.path(
        _core.model_evaluate(activation, split[0], split[1], choices),
        params_a, params_b, alphas, batch_size)
    return Path(alphas, *on(train), *on(val))


def random_directions(key: jax.Array, params) -> tuple:
    """Two independent :func:`filter_normalized_direction` directions."""
    k1, k2 = jax.random.split(key)
    return (filter_normalized_direction(k1, params),
            filter_normalized_direction(k2, params))


def slice_2d(params, directions: tuple, grid: Array | tuple[Array, Array],
             activation: str | jax.typing.ArrayLike, images: Array,
             labels: Array, choices: tuple[int, ...] | None = None,
             batch_size: int | None = None) -> Surface:
    """The loss surface ``params + x * d1 + y * d2`` on (images, labels);
    ``grid`` is the coordinates of both axes, or a pair (xs, ys)."""
    xs, ys = grid if isinstance(grid, tuple) else (grid, grid)
    return _slice_2d(params, directions, jnp.asarray(xs), jnp.asarray(ys),
                     as_index(activation), images, labels, choices,
                     batch_size)


@partial(jax.jit, static_argnames=("choices", "batch_size"))
def _slice_2d(params, directions, xs, ys, activation, images, labels,
              choices, batch_size) -> Surface:
    loss, acc = _core.surface(
        _core.model_evaluate(activation, images, labels, choices), params,
        directions, xs, ys, batch_size)
    return Surface(xs, ys, loss, acc)
