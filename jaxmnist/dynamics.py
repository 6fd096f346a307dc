"""The learning-dynamics probes for your own params:
``jaxmnist.dynamics.unit_stats(params, activation, images)``,
``jaxmnist.dynamics.top_hessian_eigenvalue(params, activation, images,
labels, iterations)`` and the rest of :mod:`jaxmnist.core.dynamics`.

The three probes of a batch here (``unit_stats``,
``preactivation_histograms``, ``top_hessian_eigenvalue``) are compiled
(``jax.jit``) for each new shape (a name is looked up first: a string
cannot be a compiled program's argument), so that called on their own
they run as one program rather than op by op (a Lanczos loop run op by op
is about a hundred times slower; docs/performance.md has the figures).
Inside your own ``jit`` they are traced as part of it. The training
programs call :mod:`jaxmnist.core.dynamics`'s functions directly.
"""

from __future__ import annotations

import jax

from jaxmnist.core import dynamics as _core
from jaxmnist.core.activations import as_index
from jaxmnist.core.dynamics import Dynamics as Dynamics
from jaxmnist.core.dynamics import UnitStats as UnitStats
from jaxmnist.core.dynamics import layer_norms as layer_norms
from jaxmnist.core.dynamics import preconditioner as preconditioner
from jaxmnist.core.dynamics import update_ratios as update_ratios
from jaxmnist.core.model import Params
from jaxmnist.types import Array


def unit_stats(params: Params, activation: str | jax.typing.ArrayLike,
               images: Array, choices: tuple[int, ...] | None = None,
               stats: list | None = None) -> UnitStats:
    """Dead, saturated (sigmoid, tanh) or inactive (ReLU-like), and
    mean-gate figures of every hidden layer on ``images``:
    :func:`jaxmnist.core.dynamics.unit_stats`, compiled."""
    return _unit_stats(params, as_index(activation), images, choices, stats)


def preactivation_histograms(params: Params,
                             activation: str | jax.typing.ArrayLike,
                             images: Array,
                             choices: tuple[int, ...] | None = None,
                             stats: list | None = None) -> jax.Array:
    """``[hidden layers, bins]`` counts of the pre-activations on
    ``images``: :func:`jaxmnist.core.dynamics.preactivation_histograms`,
    compiled."""
    return _histograms(params, as_index(activation), images, choices, stats)


def top_hessian_eigenvalue(params: Params,
                           activation: str | jax.typing.ArrayLike,
                           images: Array, labels: Array,
                           iterations: int = 20, v0=None,
                           choices: tuple[int, ...] | None = None
                           ) -> jax.Array:
    """The largest eigenvalue of the loss Hessian on (images, labels) by
    ``iterations`` Lanczos steps from ``v0`` (default: a fixed random
    direction): :func:`jaxmnist.core.dynamics.top_hessian_eigenvalue`,
    compiled."""
    return _top_eigenvalue(params, as_index(activation), images, labels,
                           iterations, v0, choices)


_unit_stats = jax.jit(_core.unit_stats, static_argnums=(3,))
_histograms = jax.jit(_core.preactivation_histograms, static_argnums=(3,))
_top_eigenvalue = jax.jit(_core.top_hessian_eigenvalue, static_argnums=(4, 6))
