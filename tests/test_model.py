import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmnist as jm
from jaxmnist import activations as A
from jaxmnist.model import to_float

REFERENCE = {  # activation -> f(x) for x in XS, written out independently
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(__import__("math").erf)(
        x / np.sqrt(2))),
    "silu": lambda x: x / (1 + np.exp(-x)),
}
XS = np.linspace(-4, 4, 41).astype(np.float32)


def test_registry_order_and_names():
    assert jm.ACTIVATIONS == ("relu", "sigmoid", "tanh", "leaky_relu", "elu",
                              "gelu", "silu")
    assert set(REFERENCE) == set(jm.ACTIVATIONS)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_each_activation_matches_reference(name):
    idx = jm.activation_index(name)
    got = A.apply_activation(idx, jnp.asarray(XS))
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


def test_shapes_and_param_count():
    params = jm.init_mlp(jax.random.key(0))
    assert [p["w"].shape for p in params] == [(784, 128), (128, 64), (64, 10)]
    assert [p["b"].shape for p in params] == [(128,), (64,), (10,)]
    assert jm.param_count(params) == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    x = np.zeros((5, 784), np.uint8)
    assert jm.logits(params, 0, x).shape == (5, 10)
    p = jm.predict(params, 0, x)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("name,expected_std", [
    ("relu", (2 / 784) ** 0.5), ("sigmoid", (2 / (784 + 128)) ** 0.5)])
def test_init_rule_by_family(name, expected_std):
    params = jm.init_mlp(jax.random.key(1), (784, 128, 64, 10),
                         jm.activation_index(name))
    assert float(jnp.std(params[0]["w"])) == pytest.approx(expected_std,
                                                            rel=0.03)
    assert float(jnp.std(params[2]["w"])) == pytest.approx(
        (2 / 74) ** 0.5, rel=0.15)  # output layer: Glorot for everyone
    assert not np.any(params[0]["b"])


def test_to_float_scales_uint8_only():
    np.testing.assert_allclose(to_float(jnp.asarray([0, 51, 255], jnp.uint8)),
                               [0.0, 0.2, 1.0], rtol=1e-6)
    assert float(to_float(jnp.asarray([0.5], jnp.float32))[0]) == 0.5


def test_loss_and_accuracy_are_optax_cross_entropy():
    params = jm.init_mlp(jax.random.key(0), (4, 3))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 4)), jnp.float32)
    y = jnp.asarray([0, 1, 2, 0, 1, 2], jnp.int32)
    out = np.asarray(jm.logits(params, 0, x), np.float64)
    logp = out - np.log(np.exp(out).sum(1, keepdims=True))
    assert float(jm.loss(params, 0, x, y)) == pytest.approx(
        -logp[np.arange(6), np.asarray(y)].mean(), rel=1e-5)
    assert float(jm.accuracy(params, 0, x, y)) == pytest.approx(
        np.mean(out.argmax(1) == np.asarray(y)))


def test_import_does_not_import_tensorflow():
    import subprocess
    import sys
    code = ("import sys, jaxmnist, jaxmnist.sweep, jaxmnist.runner; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", list(REFERENCE))
def test_closed_form_derivative_matches_autodiff(name):
    idx = jm.activation_index(name)
    fn = dict(zip(jm.ACTIVATIONS, [a.fn for a in A._REGISTRY]))[name]
    xs = jnp.asarray(XS[XS != 0])  # relu-likes have a kink at 0
    ours = jax.vmap(jax.grad(lambda x: A.apply_activation(idx, x)))(xs)
    auto = jax.vmap(jax.grad(fn))(xs)
    np.testing.assert_allclose(ours, auto, rtol=1e-5, atol=1e-6)
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
