"""Activations: values, closed-form derivatives, the lax.switch under vmap."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmnist as jm
from jaxmnist.core import activations as A

REFERENCE = {  # activation -> f(x), written out independently
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2))),
    "silu": lambda x: x / (1 + np.exp(-x)),
}
XS = np.linspace(-4, 4, 41).astype(np.float32)


def test_registry_order_and_names():
    assert tuple(jm.ACTIVATIONS) == ("relu", "sigmoid", "tanh", "leaky_relu",
                                     "elu", "gelu", "silu")
    assert set(REFERENCE) == set(jm.ACTIVATIONS)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_each_activation_matches_reference(name):
    got = A.apply_activation(jm.activation_index(name), jnp.asarray(XS))
    np.testing.assert_allclose(got, REFERENCE[name](XS.astype(np.float64)),
                               rtol=1e-5, atol=1e-6)


def test_switch_under_vmap_picks_each_branch():
    idx = jnp.arange(len(jm.ACTIVATIONS), dtype=jnp.int32)
    out = jax.vmap(A.apply_activation, in_axes=(0, None))(idx, jnp.asarray(XS))
    for i, name in enumerate(jm.ACTIVATIONS):
        np.testing.assert_allclose(out[i], REFERENCE[name](XS), rtol=1e-5,
                                   atol=1e-6)


def test_unknown_activation_is_one_clear_line():
    with pytest.raises(ValueError) as e:
        jm.activation_index("rleu")
    msg = str(e.value)
    assert "'rleu'" in msg and "relu" in msg and "did you mean" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("name", list(REFERENCE))
def test_closed_form_derivative_matches_autodiff(name):
    idx = jm.activation_index(name)
    fn = A.REGISTRY[idx].fn
    xs = jnp.asarray(XS[XS != 0])  # relu-likes have a kink at 0
    ours = jax.vmap(jax.grad(lambda x: A.apply_activation(idx, x)))(xs)
    np.testing.assert_allclose(ours, jax.vmap(jax.grad(fn))(xs), rtol=1e-5,
                               atol=1e-6)
    # and under vmap over the index (the select path)
    both = jax.vmap(jax.grad(lambda i, x: A.apply_activation(i, x), argnums=1),
                    in_axes=(0, None))(jnp.asarray([idx, 0], jnp.int32),
                                       jnp.float32(1.5))
    assert float(both[0]) == pytest.approx(float(jax.grad(fn)(1.5)), rel=1e-5)


def test_choices_limit_the_branches_not_the_result():
    idx = jnp.asarray([0, 2, 3, 0], jnp.int32)  # relu, tanh, leaky_relu
    full = jax.vmap(A.apply_activation, in_axes=(0, None))(idx, jnp.asarray(XS))
    some = jax.vmap(lambda i, x: A.apply_activation(i, x, (0, 2, 3)),
                    in_axes=(0, None))(idx, jnp.asarray(XS))
    np.testing.assert_allclose(full, some, rtol=1e-6, atol=1e-7)
    g_full = jax.grad(lambda x: A.apply_activation(2, x).sum())(jnp.asarray(XS))
    g_some = jax.grad(lambda x: A.apply_activation(2, x, (2,)).sum())(
        jnp.asarray(XS))
    np.testing.assert_allclose(g_full, g_some, rtol=1e-5, atol=1e-7)
