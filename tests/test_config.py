"""TrainConfig (static) and HParams (vmappable): validation and hashing."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmnist as jm
from helpers import tree_allclose
from jaxmnist.core.step import step_layout
from jaxmnist.optim.registry import make_optimizer


@pytest.mark.parametrize("kwargs,match", [
    (dict(optimizer="adamx"), "unknown optimizer 'adamx'"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(batch_size=-3), "batch_size must be a positive integer"),
    (dict(implementation="torch"), "unknown implementation 'torch'"),
    (dict(schedule="cosin"), "did you mean 'cosine'"),
    (dict(sizes=(784,)), "sizes must be two or more positive widths"),
    (dict(decay_rate=1.5), r"decay_rate must be in \(0, 1\]"),
    (dict(optimizer="adam", optimizer_options=(("beta1", 0.8),)),
     "has no option 'beta1'; choose from: b1, b2, eps"),
    (dict(activations=("rellu",)), "unknown activation 'rellu'"),
])
def test_train_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jm.TrainConfig(**kwargs)


@pytest.mark.parametrize("lr", [0.0, -1e-3, float("nan"), float("inf")])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="learning rate must be positive"):
        jm.make_hparams("relu", lr)


def test_config_is_frozen_and_hashable():
    cfg = jm.TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3  # type: ignore[misc]
    assert hash(cfg) == hash(jm.TrainConfig())
    assert cfg.batch_size == 128
    assert jm.TrainConfig(optimizer="sgd").batch_size == 1


def test_config_arguments_are_normalised_as_it_is_built():
    """Lists, a mapping of options and numpy widths give the config of
    tuples (equal and hashed alike: one compiled program), through
    ``dataclasses.replace`` too; ``batch_size=None`` is the optimizer's."""
    cfg = jm.TrainConfig(optimizer="adam", sizes=[784, np.int64(16), 10],
                         activations=["relu"], vmapped_options=["b1"],
                         optimizer_options={"eps": 1e-7})
    want = jm.TrainConfig(optimizer="adam", sizes=(784, 16, 10),
                          activations=("relu",), vmapped_options=("b1",),
                          optimizer_options=(("eps", 1e-7),))
    assert cfg == want and hash(cfg) == hash(want)
    assert type(cfg.sizes[1]) is int
    assert dataclasses.replace(cfg, sizes=[784, 10]).sizes == (784, 10)
    assert dataclasses.replace(cfg, optimizer="sgd", batch_size=None,
                               vmapped_options=[], optimizer_options={}
                               ).batch_size == 1
    assert jm.TrainConfig("momentum", 3).epochs == 3  # positional too


def test_numpy_integers_are_integers():
    assert jm.TrainConfig(epochs=np.int64(3)).epochs == 3


def test_config_activations_compile_only_those(tiny_data):
    hp = jm.stack_hparams([jm.make_hparams("tanh", 1e-2),
                           jm.make_hparams("silu", 1e-2)])
    out = []
    for acts in (None, ("silu", "tanh")):
        cfg = jm.TrainConfig(optimizer="adam", epochs=1, batch_size=64,
                             sizes=(784, 16, 10), activations=acts)
        out.append(jax.jit(jax.vmap(jm.make_train(cfg),
                                    in_axes=(None, 0, None)))(
            jax.random.key(0), hp, tiny_data))
    tree_allclose(out[0], out[1], rtol=1e-5, atol=1e-6)
    assert jm.TrainConfig(activations=("tanh", "relu")).activation_choices \
        == (0, 2)


def test_stack_hparams_gives_a_member_axis():
    hp = jm.stack_hparams([jm.make_hparams("relu", 1e-3),
                           jm.make_hparams("gelu", 3e-3)])
    assert hp.activation.dtype == np.int32 and hp.activation.shape == (2,)
    assert hp.learning_rate.dtype == np.float32
    np.testing.assert_array_equal(hp.activation, [0, 5])


def test_hparams_with_two_fields_vmap_over_axis_0():
    """Absent optional fields are None (no leaves), not scalars that
    ``in_axes=0`` cannot map."""
    hp = jm.HParams(activation=jnp.array([0, 2]),
                    learning_rate=jnp.array([1e-3, 3e-3]))
    assert hp.dropout is None and hp.weight_decay is None
    doubled = jax.vmap(lambda h: h._replace(learning_rate=2 * h.learning_rate),
                       in_axes=0)(hp)
    np.testing.assert_allclose(doubled.learning_rate, [2e-3, 6e-3])


def test_stack_hparams_takes_none_as_zero_and_checks_values():
    hp = jm.stack_hparams([jm.HParams(0, 1e-3), jm.make_hparams("elu", 1e-2,
                                                                dropout=0.5)])
    np.testing.assert_array_equal(hp.dropout, [0.0, 0.5])
    np.testing.assert_array_equal(hp.weight_decay, [0.0, 0.0])
    with pytest.raises(ValueError, match="HParams.learning_rate must be "
                       "finite and > 0, got -1.0"):
        jm.stack_hparams([jm.HParams(0, 1e-3), jm.HParams(1, -1.0)])


def test_first_layer_resolves_in_one_place():
    def path(**kwargs):
        return jm.TrainConfig(**kwargs).first_layer_path
    assert path(optimizer="adam") == "transposed"
    assert path(optimizer="sgd") == "deferred"
    assert path(optimizer="minibatch_sgd") == "transposed"
    assert path(optimizer="muon") == "dense"  # its step reads orientation
    assert path(optimizer="adam", model="cnn") == "dense"
    assert path(optimizer="adam", sizes=(784, 10)) == "dense"  # no hidden
    for choice in ("dense", "transposed"):
        assert path(optimizer="sgd", first_layer=choice) == choice
    cfg = jm.TrainConfig(optimizer="adam", first_layer="dense")
    assert not cfg.transposed_first_layer and not cfg.deferred_first_layer
    for kwargs in (dict(optimizer="muon"), dict(model="cnn"),
                   dict(sizes=(784, 10))):
        with pytest.raises(ValueError, match="first_layer 'transposed' needs "
                           "an MLP with a hidden layer and an optimizer of "
                           "sgd, "):
            jm.TrainConfig(first_layer="transposed", **kwargs)


def test_the_first_layer_and_its_optimizer_state_transpose_and_back():
    params = jm.init_mlp(jax.random.key(0), (6, 4, 4, 3))
    tx = make_optimizer("adam", 1e-3)
    tree = (params, tx.init(params))
    cfg = jm.TrainConfig(optimizer="adam", sizes=(6, 4, 4, 3))
    assert step_layout(dataclasses.replace(cfg, first_layer="dense"),
                       tree) is tree
    once = step_layout(cfg, tree)
    assert once[0][0]["w"].shape == (4, 6)
    np.testing.assert_array_equal(once[0][0]["w"], params[0]["w"].T)
    shapes = [x.shape for x in jax.tree.leaves(once[1])]
    assert shapes.count((4, 6)) == 2 and (6, 4) not in shapes  # mu, nu
    assert once[0][1]["w"].shape == (4, 4)  # the second layer as it was
    np.testing.assert_array_equal(once[0][1]["w"], params[1]["w"])
    tree_allclose(step_layout(cfg, once), tree)
