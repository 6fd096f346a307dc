"""make_train: the pure scan trains, composes with jit and vmap, and stays
put on bad steps."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmnist as jm
from helpers import synthetic_dataset, take, tree_allclose
from jaxmnist.core import train as train_module
from jaxmnist.core.train import member_key, steps_per_epoch

SMALL = dict(sizes=(784, 32, 10), epochs=2)


def test_loss_decreases_and_accuracy_rises(tiny_data):
    cfg = jm.TrainConfig(optimizer="adam", epochs=5, batch_size=32,
                         sizes=(784, 32, 10))
    res = jax.jit(jm.make_train(cfg))(jax.random.key(0),
                                      jm.make_hparams("relu", 3e-3), tiny_data)
    m = res.metrics
    for field in jm.Metrics._fields:
        assert getattr(m, field).shape == (5,)
    assert float(m.train_loss[-1]) < 0.5 * float(m.train_loss[0])
    assert float(m.train_accuracy[-1]) > float(m.train_accuracy[0])
    assert float(m.val_accuracy[-1]) > 0.3  # 10 classes: chance is 0.1


def test_public_api_example_with_python_scalars(tiny_data):
    cfg = jm.TrainConfig(optimizer="adam", epochs=1, batch_size=128)
    hp = jm.HParams(activation=jm.activation_index("relu"), learning_rate=1e-3)
    result = jax.jit(jm.make_train(cfg))(jax.random.key(0), hp, tiny_data)
    assert isinstance(result, jm.TrainResult)
    assert [p["w"].shape for p in result.params] == [(784, 128), (128, 64),
                                                     (64, 10)]


def test_vmap_over_seeds_equals_solo_runs(tiny_data):
    train = jm.make_train(jm.TrainConfig(optimizer="adam", batch_size=32,
                                         **SMALL))
    hp = jm.make_hparams("tanh", 1e-3)
    keys = jax.random.split(jax.random.key(3), 3)
    batched = jax.jit(jax.vmap(train, in_axes=(0, None, None)))(keys, hp,
                                                                tiny_data)
    solo_fn = jax.jit(train)
    for i in range(3):
        tree_allclose(take(batched, i),
                      solo_fn(keys[i], hp, tiny_data), rtol=1e-4, atol=1e-5)
    # different seeds really differ
    assert not np.allclose(batched.params[0]["w"][0], batched.params[0]["w"][1])


def test_vmap_over_hparams_equals_solo_runs(tiny_data):
    train = jm.make_train(jm.TrainConfig(optimizer="momentum", batch_size=32,
                                         **SMALL))
    members = [jm.make_hparams(a, lr) for a, lr in
               [("relu", 0.01), ("sigmoid", 0.05), ("elu", 0.02)]]
    key = jax.random.key(7)
    batched = jax.jit(jax.vmap(train, in_axes=(None, 0, None)))(
        key, jm.stack_hparams(members), tiny_data)
    solo_fn = jax.jit(train)
    for i, m in enumerate(members):
        tree_allclose(take(batched, i),
                      solo_fn(key, m, tiny_data), rtol=1e-4, atol=1e-5)


def test_new_hparam_values_do_not_recompile(tiny_data):
    train = jm.make_train(jm.TrainConfig(optimizer="adam", batch_size=64,
                                         sizes=(784, 16, 10), epochs=1))
    traces = []

    def counted(key, hp, data):
        traces.append(1)
        return train(key, hp, data)

    f = jax.jit(jax.vmap(counted, in_axes=(None, 0, None)))
    hp1 = jm.stack_hparams([jm.make_hparams("relu", 1e-3),
                            jm.make_hparams("tanh", 1e-2)])
    hp2 = jm.stack_hparams([jm.make_hparams("gelu", 3e-3),
                            jm.make_hparams("silu", 3e-2)])
    a = f(jax.random.key(0), hp1, tiny_data)
    b = f(jax.random.key(1), hp2, tiny_data)
    assert len(traces) == 1
    assert not np.allclose(a.params[0]["w"], b.params[0]["w"])


def test_batch_size_one_per_sample_sgd():
    data = synthetic_dataset(n_train=40, n_val=16, n_test=16)
    cfg = jm.TrainConfig(optimizer="sgd", epochs=2, sizes=(784, 16, 10))
    res = jax.jit(jm.make_train(cfg))(jax.random.key(0),
                                      jm.make_hparams("relu", 0.01), data)
    assert np.all(np.isfinite(res.metrics.train_loss))
    # 40 single-sample updates per epoch fit 40 points: loss falls
    assert float(res.metrics.train_loss[1]) < float(res.metrics.train_loss[0])


def test_last_partial_batch_is_dropped():
    cfg = jm.TrainConfig(optimizer="adam", batch_size=100)
    assert steps_per_epoch(cfg, 256) == 2
    with pytest.raises(ValueError, match="larger than the 256 training"):
        steps_per_epoch(dataclasses.replace(cfg, batch_size=257), 256)


def test_wrong_data_shape_fails_at_trace_time(tiny_data):
    train = jm.make_train(jm.TrainConfig(sizes=(784, 8, 10), epochs=1))
    bad = tiny_data._replace(train_images=tiny_data.train_images[:, :100])
    with pytest.raises(ValueError, match=r"train_images must have shape"):
        jax.jit(train)(jax.random.key(0), jm.make_hparams("relu", 1e-3), bad)
    bad = jm.Dataset.unchecked(*tiny_data[:5], tiny_data.test_labels.astype(
        np.float32))  # Dataset() would convert whole-valued float labels
    with pytest.raises(ValueError, match="test_labels must be integers"):
        jax.jit(train)(jax.random.key(0), jm.make_hparams("relu", 1e-3), bad)


def test_seed_keys_are_distinct_and_reproducible(tiny_data):
    """A member's initial weights depend on (root seed, seed number) only."""
    init = jax.jit(jm.make_init(jm.TrainConfig(sizes=(784, 8, 10))))
    hp = jm.make_hparams("relu", 1e-3)

    def w1(root, seed):
        key = jax.random.split(member_key(root, seed))[0]
        return np.asarray(init(key, hp, tiny_data).params[0]["w"])

    np.testing.assert_array_equal(w1(0, 1), w1(0, 1))
    assert not np.array_equal(w1(0, 1), w1(0, 2))
    assert not np.array_equal(w1(0, 1), w1(1, 1))


def test_divergence_is_isolated():
    data = synthetic_dataset(n_train=128, n_val=32, n_test=32)
    cfg = jm.TrainConfig(optimizer="sgd", epochs=3, batch_size=16,
                         sizes=(784, 16, 10))
    train = jax.jit(jax.vmap(jm.make_train(cfg), in_axes=(None, 0, None)))
    sane = [jm.make_hparams("relu", 0.02), jm.make_hparams("tanh", 0.02)]
    absurd = jm.make_hparams("relu", 1e30)
    key = jax.random.key(0)
    mixed = train(key, jm.stack_hparams([sane[0], absurd, sane[1]]), data)
    div = np.asarray(mixed.metrics.diverged)
    assert div[1].all() and not div[0].any() and not div[2].any()
    # the diverged member's parameters stopped at the last finite step
    for leaf in jax.tree.leaves(take(mixed.params, 1)):
        assert np.isfinite(np.asarray(leaf)).all()
    # the others: exactly as in the same-shape group with a sane third member
    control = train(key, jm.stack_hparams(
        [sane[0], jm.make_hparams("relu", 0.01), sane[1]]), data)
    for i in (0, 2):
        tree_allclose(take(mixed.metrics, i),
                      take(control.metrics, i),
                      rtol=1e-6, atol=1e-7)
    # and as in the group without it, up to float reassociation (a 3- vs
    # 2-wide batched matmul)
    alone = train(key, jm.stack_hparams(sane), data)
    assert not np.asarray(alone.metrics.diverged).any()
    for i, j in ((0, 0), (2, 1)):
        tree_allclose(take(mixed.metrics, i),
                      take(alone.metrics, j),
                      rtol=1e-3, atol=1e-4)


def test_train_without_jit_on_numpy_data_equals_jit(monkeypatch):
    """``train`` called as it is (no ``jax.jit``) on NumPy arrays, as
    ``load_dataset`` returns them: the same run as jitted, to float64
    rounding. (The initial params are fixed float64 draws: the float32
    draws of ``init`` round differently eager and jitted.)"""
    d = synthetic_dataset(n_train=64, n_val=16, n_test=16)
    data = jm.Dataset(*(x / 255.0 if x.ndim == 2 else x for x in d))
    assert isinstance(data.train_images, np.ndarray)
    cfg = jm.TrainConfig(optimizer="minibatch_sgd", epochs=2, batch_size=16,
                         sizes=(784, 8, 10))
    init = jm.make_init

    def fixed_init(*args):
        def fixed(*inputs):
            rng = np.random.default_rng(0)
            state = init(*args)(*inputs)
            return state._replace(params=jax.tree.map(
                lambda x: jnp.asarray(0.1 * rng.standard_normal(x.shape)),
                state.params))
        return fixed

    monkeypatch.setattr(train_module, "make_init", fixed_init)
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        train = jm.make_train(cfg)
        hp = jm.make_hparams("tanh", 0.05)
        eager = train(jax.random.key(0), hp, data)
        jitted = jax.jit(train)(jax.random.key(0), hp, data)
    assert eager.params[0]["w"].dtype == np.float64
    assert float(eager.metrics.train_loss[1]) < float(
        eager.metrics.train_loss[0])
    tree_allclose(eager, jitted, rtol=1e-10, atol=1e-12)


def test_traced_out_of_range_members_start_diverged(tiny_data):
    """Under jit and vmap the values are not known when traced: a member
    with an activation index outside the registry or a negative learning
    rate is marked diverged from the first epoch and its params never
    move from their initial values; the valid member trains."""
    cfg = jm.TrainConfig(optimizer="adam", batch_size=32, **SMALL)
    zeros = jnp.zeros(4, jnp.float32)
    hp = jm.HParams(activation=jnp.asarray([0, 99, -1, 0], jnp.int32),
                    learning_rate=jnp.asarray([1e-3, 1e-3, 1e-3, -1.0],
                                              jnp.float32),
                    dropout=zeros, weight_decay=zeros)
    key = jax.random.key(0)
    res = jax.jit(jax.vmap(jm.make_train(cfg), in_axes=(None, 0, None)))(
        key, hp, tiny_data)
    np.testing.assert_array_equal(res.metrics.diverged,
                                  [[False] * 2] + [[True] * 2] * 3)
    start = jax.jit(jax.vmap(jm.make_init(cfg), in_axes=(None, 0, None)))(
        jax.random.split(key)[0], hp, tiny_data).params
    for i in (1, 2, 3):
        tree_allclose(take(res.params, i), take(start, i))
    assert not np.allclose(res.params[0]["w"][0], start[0]["w"][0])


@pytest.mark.integration
def test_one_epoch_relu_adam_on_mnist(shared_data, tmp_path):
    """One epoch of ReLU + Adam at the default batch of 128 (429 steps)
    beats, for every seed, the best a linear classifier reaches on MNIST
    (multinomial logistic regression: about 0.92 test accuracy): a hidden
    layer that learned nothing, or an optimizer that did not step, cannot.
    Four seeds, vmapped in one compile."""
    data = jm.load_dataset("mnist", manual_dir=str(shared_data),
                           data_dir=str(tmp_path))
    train = jax.jit(jax.vmap(jm.make_train(jm.TrainConfig(optimizer="adam",
                                                          epochs=1)),
                             in_axes=(0, None, None)))
    keys = jax.vmap(jax.random.key)(np.arange(4))
    res = train(keys, jm.make_hparams("relu", 1e-3), data)
    acc = np.asarray(res.metrics.test_accuracy[:, -1])
    assert (acc > 0.93).all(), acc
