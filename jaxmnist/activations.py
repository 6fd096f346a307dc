"""Activation functions, in one ordered registry, picked by an integer index.

The model applies an activation with :func:`apply_activation`, which calls
``lax.switch`` on an integer index. The index is an ordinary array argument,
so one compiled program can ``jax.vmap`` over several activations.

Each activation also belongs to an initialisation *family* (see
:mod:`jaxmnist.model`): ``"he"`` for the ReLU-like functions whose output is
zero (or near zero) for half of their input, ``"glorot"`` for the saturating,
zero-centred ones.
"""

from __future__ import annotations

import difflib
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class Activation(NamedTuple):
    name: str
    fn: Callable[[jax.Array], jax.Array]
    init_family: str  # "he" or "glorot"
    description: str


def relu(x: jax.Array) -> jax.Array:
    """max(x, 0)."""
    return jnp.maximum(x, 0)


def sigmoid(x: jax.Array) -> jax.Array:
    """1 / (1 + exp(-x))."""
    return jax.nn.sigmoid(x)


def tanh(x: jax.Array) -> jax.Array:
    """Hyperbolic tangent."""
    return jnp.tanh(x)


def leaky_relu(x: jax.Array) -> jax.Array:
    """x for x > 0, 0.01 x otherwise (Maas et al. 2013; Keras' slope is 0.3)."""
    return jnp.where(x >= 0, x, 0.01 * x)


def elu(x: jax.Array) -> jax.Array:
    """x for x > 0, exp(x) - 1 otherwise (Clevert et al. 2016, alpha = 1)."""
    return jnp.where(x > 0, x, jnp.expm1(jnp.minimum(x, 0)))


def gelu(x: jax.Array) -> jax.Array:
    """x * Phi(x), the exact (erf) form (Hendrycks & Gimpel 2016)."""
    return jax.nn.gelu(x, approximate=False)


def silu(x: jax.Array) -> jax.Array:
    """x * sigmoid(x), a.k.a. swish (Ramachandran et al. 2017)."""
    return x * jax.nn.sigmoid(x)


_REGISTRY: tuple[Activation, ...] = (
        Activation("relu", relu, "he", "rectified linear unit"),
        Activation("sigmoid", sigmoid, "glorot", "logistic sigmoid"),
        Activation("tanh", tanh, "glorot", "hyperbolic tangent"),
        Activation("leaky_relu", leaky_relu, "he", "leaky ReLU, slope 0.01"),
        Activation("elu", elu, "he", "exponential linear unit, alpha 1"),
        Activation("gelu", gelu, "he", "Gaussian error linear unit (exact)"),
        Activation("silu", silu, "he", "sigmoid linear unit (swish)"),
)

#: The activation names, in index order.
ACTIVATIONS: tuple[str, ...] = tuple(a.name for a in _REGISTRY)

#: For each activation index, True when it uses He initialisation.
HE_INIT: tuple[bool, ...] = tuple(a.init_family == "he" for a in _REGISTRY)


def closest(name: str, choices: tuple[str, ...] | list[str]) -> str:
    """A ' (did you mean X?)' hint, or '' when nothing is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def unknown_name_message(kind: str, name: object, choices) -> str:
    """One line naming a bad value, the valid choices and the closest one."""
    hint = closest(name, choices) if isinstance(name, str) else ""
    return (f"unknown {kind} {name!r}{hint}; "
                    f"choose from: {', '.join(choices)}")


def activation_index(name: str) -> int:
    """The integer index of the activation called ``name``.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if name not in ACTIVATIONS:
        raise ValueError(unknown_name_message("activation", name, ACTIVATIONS))
    return ACTIVATIONS.index(name)


def apply_activation(index: jax.typing.ArrayLike,
                                          x: jax.Array) -> jax.Array:
    """Apply the activation number ``index`` (an int or int32 array) to ``x``.

    Uses ``lax.switch``; under ``vmap`` over ``index`` every branch is computed
    and the right one selected, so members with different activations share one
    compiled program.
    """
    branches = [a.fn for a in _REGISTRY]
    return lax.switch(jnp.asarray(index, jnp.int32), branches, x)
