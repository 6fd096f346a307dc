"""Activation functions, in one ordered registry, picked by an integer index.

The model applies an activation with :func:`apply_activation`, which calls
``lax.switch`` on an integer index. The index is an ordinary array argument,
so one compiled program can ``jax.vmap`` over several activations.

Each activation also belongs to an initialisation *family* (see
:mod:`jaxmnist.core.model`): ``"he"`` for the ReLU-like functions whose
output is zero (or near zero) for half of their input, ``"glorot"`` for the
saturating, zero-centred ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxmnist.errors import unknown_name_message


class Activation(NamedTuple):
    name: str
    fn: Callable[[jax.Array], jax.Array]
    init_family: str  # "he" or "glorot"
    description: str


def _relu(x):
    return jnp.maximum(x, 0), (x > 0).astype(x.dtype)


def _sigmoid(x):
    s = jax.nn.sigmoid(x)
    return s, s * (1 - s)


def _tanh(x):
    t = jnp.tanh(x)
    return t, 1 - t * t


def _leaky_relu(x):
    pos = x >= 0
    return jnp.where(pos, x, 0.01 * x), jnp.where(pos, 1.0, 0.01).astype(
        x.dtype)


def _elu(x):
    e = jnp.expm1(jnp.minimum(x, 0))
    return jnp.where(x > 0, x, e), jnp.where(x > 0, 1.0, e + 1).astype(
        x.dtype)


def _gelu(x):
    cdf = 0.5 * (1 + jax.lax.erf(x * (2 ** -0.5)))
    pdf = jnp.exp(-0.5 * x * x) * (2 * jnp.pi) ** -0.5
    return x * cdf, cdf + x * pdf


def _silu(x):
    s = jax.nn.sigmoid(x)
    return x * s, s * (1 + x * (1 - s))


#: Each activation's ``x -> (f(x), f'(x))`` in closed form, in index order:
#: the backward pass and the probes use it.
_VALUE_AND_DERIVATIVE: list[Callable] = [_relu, _sigmoid, _tanh, _leaky_relu,
                                         _elu, _gelu, _silu]


def _value(value_and_derivative: Callable) -> Callable:
    """``x -> f(x)`` of ``x -> (f(x), f'(x))`` (the unused ``f'`` is not
    computed in a compiled program)."""
    return lambda x: value_and_derivative(x)[0]


#: Every activation, in index order: the built-ins, then those registered
#: with :func:`add_activation` (a list, appended in place, so every module
#: that imported it sees the additions).
REGISTRY: list[Activation] = [
    Activation("relu", _value(_relu), "he", "rectified linear unit"),
    Activation("sigmoid", _value(_sigmoid), "glorot", "logistic sigmoid"),
    Activation("tanh", _value(_tanh), "glorot", "hyperbolic tangent"),
    Activation("leaky_relu", _value(_leaky_relu), "he",
               "leaky ReLU, slope 0.01 (Maas et al. 2013; Keras' is 0.3)"),
    Activation("elu", _value(_elu), "he",
               "exponential linear unit, alpha 1 (Clevert et al. 2016)"),
    Activation("gelu", functools.partial(jax.nn.gelu, approximate=False),
               "he", "Gaussian error linear unit, exact (Hendrycks & "
               "Gimpel 2016)"),
    Activation("silu", _value(_silu), "he",
               "sigmoid linear unit, swish (Ramachandran et al. 2017)"),
]

#: The activation names, in index order.
ACTIVATIONS: list[str] = [a.name for a in REGISTRY]

#: For each activation index, True when it uses He initialisation.
HE_INIT: list[bool] = [a.init_family == "he" for a in REGISTRY]


def activation_index(name: str) -> int:
    """The integer index of the activation called ``name``.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if name not in ACTIVATIONS:
        raise ValueError(unknown_name_message("activation", name, ACTIVATIONS))
    return ACTIVATIONS.index(name)


def as_index(activation: str | jax.typing.ArrayLike) -> jax.typing.ArrayLike:
    """An activation's index from its name, or the index (int or array)
    given, unchanged.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    return activation_index(activation) if isinstance(activation, str) \
        else activation


#: max over x of |f'(x)| per activation, in index order (gelu's at
#: x = sqrt(2), silu's at x = 2.3994); the scale "saturated" is measured on.
DERIVATIVE_MAX: list[float] = [1.0, 0.25, 1.0, 1.0, 1.0, 1.1289, 1.0998]

#: How many activations are built in; those after them were registered.
BUILTIN_COUNT = len(REGISTRY)


def add_activation(activation: Activation, value_and_derivative: Callable,
                   derivative_max: float) -> int:
    """Append ``activation`` to the registry and return its index.

    ``value_and_derivative(x) -> (f(x), f'(x))`` gives the closed form the
    backward pass and the probes use; ``derivative_max`` is max |f'|, the
    scale "saturated" is measured on. Appending keeps every existing index,
    so compiled programs and saved indices stay valid. (The checks a user's
    activation needs are in :mod:`jaxmnist.plugins`.)
    """
    if activation.name in ACTIVATIONS:
        raise ValueError(f"activation {activation.name!r} is already "
                         f"registered")
    REGISTRY.append(activation)
    ACTIVATIONS.append(activation.name)
    HE_INIT.append(activation.init_family == "he")
    _VALUE_AND_DERIVATIVE.append(value_and_derivative)
    DERIVATIVE_MAX.append(float(derivative_max))
    return len(REGISTRY) - 1


def remove_activations_after(count: int) -> None:
    """Forget every activation from index ``count`` on (never a built-in):
    undoes :func:`add_activation`, e.g. between tests."""
    count = max(count, BUILTIN_COUNT)
    for table in (REGISTRY, ACTIVATIONS, HE_INIT, _VALUE_AND_DERIVATIVE,
                  DERIVATIVE_MAX):
        del table[count:]


def apply_activation(index: jax.typing.ArrayLike, x: jax.Array,
                     choices: tuple[int, ...] | None = None) -> jax.Array:
    """Apply the activation number ``index`` (an int or int32 array) to ``x``.

    Uses ``lax.switch``: one branch runs for a single index; under ``vmap``
    over ``index`` every branch is computed and the right one selected, so
    members with different activations share one compiled program.
    ``choices`` (static: a tuple of activation indices, default all) limits
    the branches compiled to those a group uses; ``index`` must be one of
    them. The derivative is given in closed form (a custom JVP) so that,
    under ``vmap``, the backward pass is one fused select instead of
    differentiated branches (much faster per-sample SGD).
    """
    choices = tuple(range(len(REGISTRY))) if choices is None \
        else tuple(int(c) for c in choices)
    return _apply(choices, index, x)


def activation_derivative(index: jax.typing.ArrayLike, x: jax.Array,
                          choices: tuple[int, ...] | None = None
                          ) -> jax.Array:
    """f'(x) of the activation number ``index``, in closed form."""
    choices = tuple(range(len(REGISTRY))) if choices is None \
        else tuple(int(c) for c in choices)
    return lax.switch(_local_index(choices, index),
                      [lambda v, c=c: _VALUE_AND_DERIVATIVE[c](v)[1]
                       for c in choices], x)


def _local_index(choices: tuple[int, ...], index) -> jax.Array:
    """The position of activation ``index`` among ``choices``."""
    index = jnp.asarray(index, jnp.int32)
    if choices == tuple(range(len(REGISTRY))):
        return index
    table = np.zeros(len(REGISTRY), np.int32)
    table[list(choices)] = np.arange(len(choices), dtype=np.int32)
    return jnp.asarray(table)[index]


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _apply(choices, index, x):
    return lax.switch(_local_index(choices, index),
                      [REGISTRY[c].fn for c in choices], x)


@_apply.defjvp
def _apply_jvp(choices, primals, tangents):
    index, x = primals
    _, x_dot = tangents
    y, dy = _value_and_slope(choices, index, x)
    return y, dy * x_dot


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _value_and_slope(choices, index, x):
    """(f(x), f'(x)) of activation ``index``; its own derivative (for
    second-order products, e.g. the probes' Hessian) is one select of
    f''(x), not one per branch."""
    return lax.switch(_local_index(choices, index),
                      [_VALUE_AND_DERIVATIVE[c] for c in choices], x)


@_value_and_slope.defjvp
def _value_and_slope_jvp(choices, primals, tangents):
    index, x = primals
    _, x_dot = tangents

    def curvature(c):
        def branch(v):
            (y, dy), (_, ddy) = jax.jvp(_VALUE_AND_DERIVATIVE[c], (v,),
                                        (jnp.ones_like(v),))
            return y, dy, ddy
        return branch
    y, dy, ddy = lax.switch(_local_index(choices, index),
                            [curvature(c) for c in choices], x)
    return (y, dy), (dy * x_dot, ddy * x_dot)
