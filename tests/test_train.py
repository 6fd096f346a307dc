import dataclasses

import jax
import numpy as np
import pytest

import jaxmnist as jm
from conftest import synthetic_dataset

SMALL = dict(sizes=(784, 32, 10), epochs=2)


def leaves_close(a, b, **tol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tol)


def test_loss_decreases_and_accuracy_rises(tiny_data):
    cfg = jm.TrainConfig(optimizer="adam", epochs=5, batch_size=32,
                         sizes=(784, 32, 10))
    res = jax.jit(jm.make_train(cfg))(jax.random.key(0),
                                      jm.make_hparams("relu", 3e-3), tiny_data)
    m = res.metrics
    assert m.train_loss.shape == (5,)
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
        solo = solo_fn(keys[i], hp, tiny_data)
        leaves_close(jax.tree.map(lambda x: x[i], batched), solo,
                     rtol=1e-4, atol=1e-5)
    # different seeds really differ
    assert not np.allclose(batched.params[0]["w"][0], batched.params[0]["w"][1])


def test_vmap_over_hparams_equals_solo_runs(tiny_data):
    train = jm.make_train(jm.TrainConfig(optimizer="momentum", batch_size=32,
                                         **SMALL))
    members = [jm.make_hparams(a, lr) for a, lr in
               [("relu", 0.01), ("sigmoid", 0.05), ("elu", 0.02)]]
    hp = jm.stack_hparams(members)
    key = jax.random.key(7)
    batched = jax.jit(jax.vmap(train, in_axes=(None, 0, None)))(key, hp,
                                                                tiny_data)
    solo_fn = jax.jit(train)
    for i, m in enumerate(members):
        leaves_close(jax.tree.map(lambda x: x[i], batched),
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
    assert cfg.batch_size == 1  # sgd's registry default
    res = jax.jit(jm.make_train(cfg))(jax.random.key(0),
                                      jm.make_hparams("relu", 0.01), data)
    assert res.metrics.train_loss.shape == (2,)
    assert np.all(np.isfinite(res.metrics.train_loss))
    # 40 single-sample updates per epoch fit 40 points: loss falls
    assert float(res.metrics.train_loss[1]) < float(res.metrics.train_loss[0])


def test_last_partial_batch_is_dropped(tiny_data):
    from jaxmnist.train import steps_per_epoch
    cfg = jm.TrainConfig(optimizer="adam", batch_size=100)
    assert steps_per_epoch(cfg, 256) == 2
    with pytest.raises(ValueError, match="larger than the 256 training"):
        steps_per_epoch(dataclasses.replace(cfg, batch_size=257), 256)


def test_wrong_data_shape_fails_at_trace_time(tiny_data):
    train = jm.make_train(jm.TrainConfig(sizes=(784, 8, 10), epochs=1))
    bad = tiny_data._replace(train_images=tiny_data.train_images[:, :100])
    with pytest.raises(ValueError, match=r"train_images must have shape"):
        jax.jit(train)(jax.random.key(0), jm.make_hparams("relu", 1e-3), bad)
    bad = tiny_data._replace(test_labels=tiny_data.test_labels.astype(
        np.float32))
    with pytest.raises(ValueError, match="test_labels must be integers"):
        jax.jit(train)(jax.random.key(0), jm.make_hparams("relu", 1e-3), bad)


@pytest.mark.parametrize("kwargs,match", [
    (dict(optimizer="adamw"), "unknown optimizer 'adamw'"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(batch_size=-3), "batch_size must be a positive integer"),
    (dict(implementation="torch"), "unknown implementation 'torch'"),
    (dict(schedule="cosin"), "did you mean 'cosine'"),
    (dict(optimizer="adam", optimizer_options=(("beta1", 0.8),)),
     "has no option 'beta1'; choose from: b1, b2, eps, eps_root"),
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


def test_make_dataset_holds_out_validation():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (100, 28, 28), dtype=np.uint8)
    y = np.arange(100) % 10
    d1 = jm.make_dataset(x, y, x[:10], y[:10], val_size=20)
    d2 = jm.make_dataset(x, y, x[:10], y[:10], val_size=20)
    assert d1.train_images.shape == (80, 784) and d1.val_images.shape == (20, 784)
    assert d1.train_labels.dtype == np.int32
    np.testing.assert_array_equal(d1.val_labels, d2.val_labels)  # fixed seed
    train_rows = {r.tobytes() for r in d1.train_images}
    assert not any(r.tobytes() in train_rows for r in d1.val_images)
    sub = jm.make_dataset(x, y, x[:10], y[:10], val_size=20, train_subset=30)
    assert sub.num_train == 30
    with pytest.raises(ValueError, match="train_subset 81 is outside 1..80"):
        jm.make_dataset(x, y, x[:10], y[:10], val_size=20, train_subset=81)


def test_config_activations_compile_only_those(tiny_data):
    hp = jm.stack_hparams([jm.make_hparams("tanh", 1e-2),
                           jm.make_hparams("silu", 1e-2)])
    out = []
    for acts in (None, ("silu", "tanh")):
        cfg = jm.TrainConfig(optimizer="adam", epochs=1, batch_size=64,
                             sizes=(784, 16, 10), activations=acts)
        out.append(jax.jit(jax.vmap(jm.make_train(cfg), in_axes=(None, 0, None)))(
            jax.random.key(0), hp, tiny_data))
    for u, v in zip(jax.tree.leaves(out[0]), jax.tree.leaves(out[1])):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    assert jm.TrainConfig(activations=("tanh", "relu")).activation_choices \
        == (0, 2)
    with pytest.raises(ValueError, match="unknown activation 'rellu'"):
        jm.TrainConfig(activations=("rellu",))
