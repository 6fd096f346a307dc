"""HParams checked where they reach init/train: one line each when their
values are known, the member started diverged when they are traced."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmnist as jm
from helpers import synthetic_dataset
from jaxmnist.core.checks import valid_member

CFG = jm.TrainConfig(optimizer="adam", epochs=1, batch_size=16,
                     sizes=(784, 8, 10))
GOOD = jm.HParams(activation=0, learning_rate=1e-3)
ACTS = "0=relu, 1=sigmoid, 2=tanh, 3=leaky_relu, 4=elu, 5=gelu, 6=silu"


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(n_train=32, n_val=8, n_test=8)


BAD = [
    (dict(activation=99), ValueError, re.escape(
        f"HParams.activation must be one of the config's activation indices "
        f"({ACTS}), got 99")),
    (dict(activation=-1), ValueError, r"activation indices .*, got -1$"),
    (dict(activation=0.7), TypeError, re.escape(
        f"HParams.activation must be an integer index ({ACTS}), got float32 "
        f"0.7")),
    (dict(learning_rate=-1.0), ValueError,
     r"HParams.learning_rate must be finite and > 0, got -1.0"),
    (dict(learning_rate=0.0), ValueError, r"learning_rate .*, got 0.0"),
    (dict(learning_rate=float("nan")), ValueError,
     r"learning_rate .*, got nan"),
    (dict(learning_rate=float("inf")), ValueError,
     r"learning_rate .*, got inf"),
    (dict(dropout=1.0), ValueError,
     r"HParams.dropout must be in \[0, 1\), got 1.0"),
    (dict(dropout=-0.1), ValueError, r"dropout .*, got -0.1"),
    (dict(weight_decay=-1e-4), ValueError,
     r"HParams.weight_decay must be finite and >= 0, got -0.0001"),
    (dict(weight_decay=float("inf")), ValueError,
     r"weight_decay .*, got inf"),
    (dict(learning_rate=jnp.array([1e-3, 3e-3])), ValueError,
     r"HParams.learning_rate must be one scalar per member \(jax.vmap over "
     r"stacked HParams\), got shape \(2,\)"),
    (dict(learning_rate=None), ValueError,
     "HParams.learning_rate is required, got None"),
]


@pytest.mark.parametrize("change,error,message", BAD)
def test_concrete_hparams_are_checked_at_init(change, error, message, data):
    """Set through ``_replace``, as the issue did: refused before any
    training, naming the field, the value and the valid range."""
    with pytest.raises(error, match=message):
        jm.make_init(CFG)(jax.random.key(0), GOOD._replace(**change), data)


def test_config_activations_and_vmapped_options_are_checked(data):
    cfg = jm.TrainConfig(optimizer="adam", epochs=1, batch_size=16,
                         sizes=(784, 8, 10), activations=("relu", "tanh"),
                         vmapped_options=("b1",))
    hp = GOOD._replace(optimizer={"b1": 0.9})
    init = jm.make_init(cfg)
    with pytest.raises(ValueError, match=r"one of the config's activation "
                       r"indices \(0=relu, 2=tanh\), got 1$"):
        init(jax.random.key(0), hp._replace(activation=1), data)
    with pytest.raises(ValueError, match="HParams.optimizer lacks 'b1', "
                       r"which the config vmaps; it holds: \(none\)"):
        init(jax.random.key(0), GOOD, data)
    init(jax.random.key(0), hp, data)  # the valid one passes


def test_a_float_activation_is_refused_under_jit(data):
    """Its dtype is known when traced: no clamp to an integer."""
    with pytest.raises(TypeError, match=r"integer index .*got float32\n"):
        jax.jit(jm.make_init(CFG))(jax.random.key(0),
                                   GOOD._replace(activation=0.7), data)


def test_valid_member_is_the_same_range_check_traced():
    members = [GOOD, GOOD._replace(activation=99),
               GOOD._replace(activation=-1),
               GOOD._replace(learning_rate=-1.0),
               GOOD._replace(learning_rate=float("nan")),
               GOOD._replace(dropout=1.0, weight_decay=0.0),
               GOOD._replace(dropout=0.5, weight_decay=-1.0),
               GOOD._replace(dropout=0.5, weight_decay=1e-4)]
    stacked = jm.HParams(
        jnp.asarray([m.activation for m in members], jnp.int32),
        jnp.asarray([m.learning_rate for m in members], jnp.float32),
        jnp.asarray([m.dropout or 0.0 for m in members], jnp.float32),
        jnp.asarray([m.weight_decay or 0.0 for m in members], jnp.float32))
    ok = jax.jit(jax.vmap(lambda hp: valid_member(hp, CFG)))(stacked)
    np.testing.assert_array_equal(ok, [1, 0, 0, 0, 0, 0, 0, 1])
    narrow = jm.TrainConfig(activations=("tanh",))
    assert not valid_member(GOOD, narrow)
    assert valid_member(GOOD._replace(activation=2), narrow)
