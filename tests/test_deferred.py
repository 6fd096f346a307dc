"""Per-sample SGD's deferred first-layer updates (core/deferred.py): the
dense computation in exact arithmetic, float rounding in float32, the
divergence guard, and only where it applies."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmnist as jm
from helpers import synthetic_dataset, tree_allclose
from jaxmnist.core import deferred, train
from jaxmnist.core import dynamics as D
from jaxmnist.sweep import pipeline, plan
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.placed import compile_group, place
from jaxmnist.sweep.run import load_data

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


def _run(cfg, hp, data, dense: bool, monkeypatch):
    """The members' ``make_train`` run, vmapped as the sweep's cells."""
    with monkeypatch.context() as m:
        if dense:
            m.setattr(deferred, "applies", lambda config: False)
        return jax.jit(jax.vmap(jm.make_train(cfg), in_axes=(None, 0, None)))(
            jax.random.key(3), hp, data)


def _float64(data: jm.Dataset) -> jm.Dataset:
    """Images as float64 in [0, 1] (``to_float`` passes floats through)."""
    f = lambda x: np.asarray(x, np.float64) / 255.0
    return data._replace(train_images=f(data.train_images),
                         val_images=f(data.val_images),
                         test_images=f(data.test_images))


def test_applies_to_small_batch_plain_sgd_only():
    assert deferred.applies(CFG)
    assert deferred.applies(_config(deferred.MAX_BATCH))
    for change in (dict(optimizer="minibatch_sgd", batch_size=128),
                   dict(optimizer="minibatch_sgd",
                        batch_size=deferred.MAX_BATCH + 1),
                   dict(optimizer="momentum", batch_size=1),
                   dict(optimizer="adam", batch_size=1),
                   dict(weight_decay=True), dict(dropout=True),
                   dict(model="cnn")):
        assert not deferred.applies(dataclasses.replace(CFG, **change)), change
    assert deferred.applies(dataclasses.replace(CFG, optimizer="minibatch_sgd",
                                                batch_size=1))


def _x64_runs(cfg, hp, data, monkeypatch):
    """(deferred, dense) runs under x64, the state's floats float64."""
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        init = jm.make_init
        monkeypatch.setattr(train, "make_init", lambda *a, **k: _as64(
            init(*a, **k)))
        runs = [_run(cfg, hp, data, dense, monkeypatch)
                for dense in (False, True)]
    assert jax.tree.leaves(runs[0].params)[0].dtype == jnp.float64
    return runs


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.filterwarnings(  # the dense chunked loop's float32 buffer
    "ignore:scatter inputs have incompatible types:FutureWarning")
@pytest.mark.parametrize("dynamics", [False, True])
@pytest.mark.parametrize("batch", [1, 4])
def test_deferred_equals_dense_in_float64(batch, dynamics, monkeypatch):
    """In exact arithmetic the two are one computation: under x64 params,
    metrics and gradient norms agree to float64 rounding. (With batches
    above 1 the dense epoch samples its norms every stride steps: the run
    is 1 block and 5 steps, short enough for a stride of 1.)"""
    cfg = _config(batch, dynamics=dynamics, probe_size=16,
                  sharpness_iterations=2)
    n = _train_size(cfg)
    if dynamics and batch > 1:
        n = batch * (deferred.block_steps(cfg) + 5)
        assert D.grad_norm_stride(n // batch) == 1
    data = _float64(synthetic_dataset(n_train=n, n_val=16, n_test=16))
    hp = jm.stack_hparams([jm.make_hparams("relu", 0.05),
                           jm.make_hparams("sigmoid", 0.3),
                           jm.make_hparams("tanh", 0.01)])
    fast, dense = _x64_runs(cfg, hp, data, monkeypatch)
    assert not fast.metrics.diverged.any()
    tree_allclose(fast.params, dense.params, rtol=1e-10, atol=1e-12)
    if dynamics and batch > 1:  # the dense epoch's chunked loop records
        # each step's loss in a float32 buffer, even under x64
        tree_allclose(fast.metrics.train_loss, dense.metrics.train_loss,
                      rtol=1e-6)
        fast = fast._replace(metrics=fast.metrics._replace(
            train_loss=dense.metrics.train_loss))
    tree_allclose(fast.metrics, dense.metrics, rtol=1e-10, atol=1e-12)
    if dynamics:
        np.testing.assert_allclose(fast.dynamics.grad_norm,
                                   dense.dynamics.grad_norm, rtol=1e-10)


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("schedule", ["warmup_cosine", "exponential"])
def test_deferred_follows_a_schedule_in_float64(schedule, monkeypatch):
    """The step's learning rate comes from the optimizer itself (its
    schedule's step count in its state): under x64 a scheduled run equals
    the dense one as the constant one does."""
    data = _float64(synthetic_dataset(n_train=N_TRAIN, n_val=16, n_test=16))
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
    both paths mark them diverged in epoch 1 and keep the params of the
    step before, finite and equal to float64 rounding."""
    data = _float64(synthetic_dataset(n_train=N_TRAIN, n_val=16, n_test=16))
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


def _as64(init):
    """``init`` whose params (and Lanczos starts) come out float64."""
    def f64(tree):
        return jax.tree.map(lambda x: x.astype(jnp.float64), tree)

    def init64(*args):
        state = init(*args)
        probe = state.probe and state.probe._replace(
            hessian_vector=f64(state.probe.hessian_vector),
            preconditioned_vector=f64(state.probe.preconditioned_vector))
        return state._replace(params=f64(state.params), probe=probe)
    return init64


def test_deferred_is_float_rounding_away_in_float32(monkeypatch):
    """In float32 the two round differently: after 2 epochs of 165 steps
    the weights differ by float noise, not by a different method."""
    data = synthetic_dataset(n_train=N_TRAIN, n_val=16, n_test=16)
    hp = jm.stack_hparams([jm.make_hparams(a, 0.01) for a in CFG.activations])
    fast = _run(CFG, hp, data, False, monkeypatch)
    dense = _run(CFG, hp, data, True, monkeypatch)
    tree_allclose(fast.params, dense.params, atol=1e-5)
    tree_allclose(fast.metrics, dense.metrics, rtol=1e-4)


@pytest.mark.integration
@pytest.mark.parametrize("optimizer,batch", [("sgd", None),
                                             ("minibatch_sgd", 8)])
def test_probes_leave_the_sweeps_deferred_epoch_bitwise(optimizer, batch,
                                                        mnist_dirs):
    """The sweep's per-sample SGD group (the classic grid's four
    activations), and minibatch SGD at batch 8, one whole MNIST epoch: its
    metrics with probes on equal those with probes off to the last bit.
    Without the barrier on the per-step outputs (``deferred_steps``) the
    per-sample group's mean training loss differed by 6e-8 here."""
    cfg = SweepConfig(activations=("relu", "sigmoid", "tanh", "leaky_relu"),
                      optimizers=(optimizer,), epochs=1, batch_size=batch,
                      manual_dir=mnist_dirs[0], data_dir=mnist_dirs[1])
    data, _ = load_data(cfg)
    spec = plan.groups(cfg)[0]
    out = []
    for probed in (False, True):
        g, _ = compile_group(place(spec._replace(config=dataclasses.replace(
            spec.config, dynamics=probed)), data))
        state = g.initial_state()
        view = pipeline.split(state)[0] if probed else state
        view, res = g.epoch(view, g.hparams, g.data, g.epoch_keys(0))
        out.append((view.params, res.metrics))
    tree_allclose(out[0], out[1])  # bitwise
