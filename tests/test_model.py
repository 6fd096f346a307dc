"""The MLP: shapes, the initialisation rule, inputs, loss and accuracy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmnist as jm
from jaxmnist.core import draws
from jaxmnist.core.model import to_float


def test_shapes_and_param_count():
    params = jm.init_mlp(jax.random.key(0))
    assert [p["w"].shape for p in params] == [(784, 128), (128, 64), (64, 10)]
    assert [p["b"].shape for p in params] == [(128,), (64,), (10,)]
    assert jm.param_count(params) == (784 * 128 + 128 + 128 * 64 + 64
                                      + 64 * 10 + 10)
    x = np.zeros((5, 784), np.uint8)
    assert jm.logits(params, 0, x).shape == (5, 10)


def test_class_probabilities_by_name_or_index():
    params = jm.init_mlp(jax.random.key(0))
    x = np.random.default_rng(0).integers(0, 256, (5, 784), dtype=np.uint8)
    p = jm.class_probabilities(params, "tanh", x)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(p, jm.class_probabilities(params, 2, x))


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


def test_bad_sizes():
    with pytest.raises(ValueError, match="at least two positive widths"):
        jm.init_mlp(jax.random.key(0), (784,))


def test_to_float_scales_uint8_only():
    np.testing.assert_allclose(to_float(jnp.asarray([0, 51, 255], jnp.uint8)),
                               [0.0, 0.2, 1.0], rtol=1e-6)
    assert float(to_float(jnp.asarray([0.5], jnp.float32))[0]) == 0.5


def test_loss_and_accuracy_are_softmax_cross_entropy():
    params = jm.init_mlp(jax.random.key(0), (4, 3))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 4)), jnp.float32)
    y = jnp.asarray([0, 1, 2, 0, 1, 2], jnp.int32)
    out = np.asarray(jm.logits(params, 0, x), np.float64)
    logp = out - np.log(np.exp(out).sum(1, keepdims=True))
    assert float(jm.loss(params, 0, x, y)) == pytest.approx(
        -logp[np.arange(6), np.asarray(y)].mean(), rel=1e-5)
    assert float(jm.accuracy(params, 0, x, y)) == pytest.approx(
        np.mean(out.argmax(1) == np.asarray(y)))


@pytest.mark.parametrize("shape", [(784, 128), (128, 64), (64, 10),
                                   (5, 5, 6, 16), (400, 120), (84, 10),
                                   (128, 84), (3, 7, 11)])
def test_flat_draws_are_jax_randoms_draws(shape):
    """The models' draws, made flat for a shorter compile, are bitwise
    ``jax.random``'s of the shape (its counters are flat indices)."""
    key, rate = jax.random.key(3), jnp.float32(0.3)  # a traced rate too
    np.testing.assert_array_equal(draws.normal(key, shape),
                                  jax.random.normal(key, shape, jnp.float32))
    bern = jax.jit(lambda k, p: (draws.bernoulli(k, p, shape),
                                 jax.random.bernoulli(k, p, shape)))
    ours, theirs = bern(key, 1 - rate)
    np.testing.assert_array_equal(ours, theirs)
    assert 0 < np.mean(ours) < 1
