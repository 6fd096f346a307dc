"""Per-sample SGD's deferred first-layer updates (core/deferred.py): the
dense computation in exact arithmetic, float rounding in float32, the
divergence guard, and chosen by ``TrainConfig.first_layer``."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmnist as jm
from helpers import (
    float64_images,
    init_in_float64,
    synthetic_dataset,
    tree_allclose,
)
from jaxmnist.core import deferred, train
from jaxmnist.core.config import DEFERRED_MAX_BATCH

CFG = jm.TrainConfig(optimizer="sgd", epochs=2, sizes=(784, 16, 8, 10),
                     activations=("relu", "sigmoid", "tanh"))
# 2 blocks and a remainder of 37 dense steps
N_TRAIN = 2 * deferred.block_steps(CFG) + 37


def _config(batch: int, **changes) -> jm.TrainConfig:
    """CFG at ``batch`` (minibatch_sgd above 1: the same plain SGD)."""
    return dataclasses.replace(CFG, optimizer="sgd" if batch == 1 else
                               "minibatch_sgd", batch_size=batch, **changes)


def _train_size(cfg: jm.TrainConfig) -> int:
    """2 blocks and a remainder of (at most) 37 dense steps."""
    per_block = deferred.block_steps(cfg)
    return cfg.batch_size * (2 * per_block + min(37, per_block - 1))


def _run(cfg, hp, data, dense: bool):
    """The members' ``make_train`` run, vmapped as the sweep's cells."""
    cfg = dataclasses.replace(cfg, first_layer="dense" if dense
                              else "deferred")
    return jax.jit(jax.vmap(jm.make_train(cfg), in_axes=(None, 0, None)))(
        jax.random.key(3), hp, data)


def test_first_layer_auto_defers_small_batch_plain_sgd_only():
    assert CFG.deferred_first_layer
    assert _config(DEFERRED_MAX_BATCH).deferred_first_layer
    for change in (dict(optimizer="minibatch_sgd", batch_size=128),
                   dict(optimizer="minibatch_sgd",
                        batch_size=DEFERRED_MAX_BATCH + 1),
                   dict(optimizer="momentum", batch_size=1),
                   dict(optimizer="adam", batch_size=1),
                   dict(weight_decay=True), dict(dropout=True),
                   dict(model="cnn"), dict(first_layer="dense")):
        cfg = dataclasses.replace(CFG, **change)
        assert not cfg.deferred_first_layer, change
    assert dataclasses.replace(CFG, optimizer="minibatch_sgd", batch_size=128,
                               first_layer="deferred").deferred_first_layer
    with pytest.raises(ValueError, match="first_layer 'deferred' needs"):
        dataclasses.replace(CFG, optimizer="adam", first_layer="deferred")
    with pytest.raises(ValueError, match="first_layer"):
        dataclasses.replace(CFG, first_layer="sparse")


def _x64_runs(cfg, hp, data, monkeypatch):
    """(deferred, dense) runs under x64, the state's floats float64."""
    init_in_float64(monkeypatch, train)
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        runs = [_run(cfg, hp, data, dense) for dense in (False, True)]
    assert jax.tree.leaves(runs[0].params)[0].dtype == jnp.float64
    return runs


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("dynamics", [False, True])
@pytest.mark.parametrize("batch", [1, 4])
def test_deferred_equals_dense_in_float64(batch, dynamics, monkeypatch):
    """In exact arithmetic the two are one computation: under x64 params,
    metrics and probes agree to float64 rounding."""
    cfg = _config(batch, dynamics=dynamics, probe_size=16,
                  sharpness_iterations=2)
    data = float64_images(synthetic_dataset(n_train=_train_size(cfg),
                                            n_val=16, n_test=16))
    hp = jm.stack_hparams([jm.make_hparams("relu", 0.05),
                           jm.make_hparams("sigmoid", 0.3),
                           jm.make_hparams("tanh", 0.01)])
    fast, dense = _x64_runs(cfg, hp, data, monkeypatch)
    assert not fast.metrics.diverged.any()
    tree_allclose(fast.params, dense.params, rtol=1e-10, atol=1e-12)
    tree_allclose(fast.metrics, dense.metrics, rtol=1e-10, atol=1e-12)
    if dynamics:
        tree_allclose(fast.dynamics, dense.dynamics, rtol=1e-8, atol=1e-10)


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("schedule", ["warmup_cosine", "exponential"])
def test_deferred_follows_a_schedule_in_float64(schedule, monkeypatch):
    """The step's learning rate comes from the optimizer itself (its
    schedule's step count in its state): under x64 a scheduled run equals
    the dense one as the constant one does."""
    data = float64_images(synthetic_dataset(n_train=N_TRAIN, n_val=16,
                                            n_test=16))
    cfg = dataclasses.replace(CFG, schedule=schedule, warmup_epochs=0.5)
    hp = jm.stack_hparams([jm.make_hparams("relu", 0.05),
                           jm.make_hparams("sigmoid", 0.3),
                           jm.make_hparams("tanh", 0.01)])
    fast, dense = _x64_runs(cfg, hp, data, monkeypatch)
    tree_allclose(fast.params, dense.params, rtol=1e-10, atol=1e-12)
    tree_allclose(fast.metrics, dense.metrics, rtol=1e-10, atol=1e-12)
    constant = _x64_runs(CFG, hp, data, monkeypatch)[0]
    assert not np.allclose(fast.params[0]["w"], constant.params[0]["w"])


def test_a_diverged_step_freezes_both_alike(monkeypatch):
    """A NaN training image makes its step's loss NaN for every member:
    both paths mark them diverged in epoch 1 and keep the params the
    epoch started from, finite and equal to float64 rounding."""
    data = float64_images(synthetic_dataset(n_train=N_TRAIN, n_val=16,
                                            n_test=16))
    images = data.train_images.copy()
    images[[5, 60, 150]] = np.nan  # within blocks (and maybe the rest)
    data = jm.Dataset.unchecked(images, *data[1:])  # Dataset() refuses NaN
    hp = jm.stack_hparams([jm.make_hparams("relu", 0.05),
                           jm.make_hparams("tanh", 0.01)])
    fast, dense = _x64_runs(dataclasses.replace(CFG, activations=(
        "relu", "tanh")), hp, data, monkeypatch)
    assert fast.metrics.diverged.all() and dense.metrics.diverged.all()
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(fast.params))
    tree_allclose(fast.params, dense.params, rtol=1e-10, atol=1e-12)


def test_deferred_is_float_rounding_away_in_float32():
    """In float32 the two round differently: after 2 epochs of 165 steps
    the weights differ by float noise, not by a different method."""
    data = synthetic_dataset(n_train=N_TRAIN, n_val=16, n_test=16)
    hp = jm.stack_hparams([jm.make_hparams(a, 0.01) for a in CFG.activations])
    fast = _run(CFG, hp, data, False)
    dense = _run(CFG, hp, data, True)
    tree_allclose(fast.params, dense.params, atol=1e-5)
    tree_allclose(fast.metrics, dense.metrics, rtol=1e-4)
