"""One vmapped group: the sweep's driver equals make_train, member by member."""


import jax
import numpy as np
import pytest

import jaxmnist as jm
from helpers import (
    float64_images,
    init_in_float64,
    synthetic_dataset,
    take,
    tree_allclose,
)
from jaxmnist.core.config import stack_hparams
from jaxmnist.core.train import epoch_key, make_epoch, member_key
from jaxmnist.errors import Interrupted, StopRequest
from jaxmnist.sweep import placed
from jaxmnist.sweep.config import GroupSpec, SweepConfig
from jaxmnist.sweep.group import train_group


def only_group(cfg: SweepConfig) -> GroupSpec:
    (spec,) = cfg.groups()
    return spec


@pytest.mark.slow  # a long run: many compiles
def test_adding_a_cell_does_not_change_another_cells_numbers(monkeypatch):
    """Members do not mix: a cell trains as it did without its neighbour
    (float64: the two groups are different programs)."""
    init_in_float64(monkeypatch, placed)
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        data = float64_images(synthetic_dataset(n_train=128, n_val=32,
                                                n_test=32))
        a = SweepConfig(activations=("relu",), optimizers=("adam",),
                        epochs=2, seeds=2, batch_size=32)
        b = SweepConfig(activations=("tanh", "relu"), optimizers=("adam",),
                        epochs=2, seeds=2, batch_size=32)
        ga = train_group(only_group(a), data, progress=False)
        gb = train_group(only_group(b), data, progress=False)
    assert ga.params[0]["w"].dtype == np.float64
    for i, m in enumerate(ga.members):
        j = gb.members.index(m)
        tree_allclose(take(ga.history, i), take(gb.history, j), 1e-10, 1e-12)
        tree_allclose(take(ga.params, i), take(gb.params, j), 1e-10, 1e-12)


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_sweep_driver_equals_pure_train(optimizer):
    """One code path, two drivers: the group's per-epoch loop reproduces
    ``make_train`` for every member, probes included (float32: to
    rounding; the float64 equivalence is tests/test_equivalence.py)."""
    data = synthetic_dataset(n_train=512, n_val=32, n_test=32)
    cfg = SweepConfig(activations=("relu", "sigmoid"),
                      optimizers=(optimizer,), epochs=2, seeds=2,
                      batch_size=16)
    spec = only_group(cfg)
    group = train_group(spec, data, progress=False)
    assert group.members == spec.members
    assert group.history.val_loss.shape == (4, 2)
    train = jax.jit(jm.make_train(spec.config))
    d = group.dynamics
    assert d is not None
    assert d.grad_norm.shape == (4, 2, 3)  # [member, epoch, layer]
    for i, m in enumerate(group.members):
        solo = train(member_key(cfg.seed, m.seed),
                     jm.make_hparams(m.activation, m.learning_rate), data)
        np.testing.assert_allclose(group.history.val_loss[i],
                                   solo.metrics.val_loss, rtol=1e-4)
        np.testing.assert_allclose(group.params[0]["w"][i],
                                   solo.params[0]["w"], rtol=1e-3, atol=1e-4)
        for f in ("grad_norm", "update_ratio", "sharpness",
                  "preconditioned_sharpness", "mean_gate", "hist_end"):
            np.testing.assert_allclose(getattr(d, f)[i],
                                       getattr(solo.dynamics, f),
                                       rtol=2e-3, atol=1e-5, err_msg=f)
    assert np.isnan(d.preconditioned_sharpness).all() == (
        optimizer == "momentum")


def test_a_finished_group_is_returned_from_its_checkpoint(tmp_path):
    data = synthetic_dataset(n_train=64, n_val=16, n_test=16)
    spec = only_group(SweepConfig(activations=("relu",), optimizers=("adam",),
                                  epochs=2, batch_size=32, dynamics=False))
    first = train_group(spec, data, progress=False, checkpoint_dir=tmp_path)
    again = train_group(spec, data, progress=False, checkpoint_dir=tmp_path)
    assert again.members == first.members
    assert again.seconds == first.seconds  # not retrained
    for f in jm.Metrics._fields:
        np.testing.assert_array_equal(getattr(again.history, f),
                                      getattr(first.history, f))


def test_a_diverging_member_keeps_its_epoch_start_and_the_others_train():
    """The epoch's guard, one select per member: the member whose loss was
    not finite keeps the params it started the epoch with, is marked
    diverged from then on, and stays so; its neighbours train on."""
    data = synthetic_dataset(n_train=128, n_val=16, n_test=16)
    config = jm.TrainConfig(optimizer="momentum", batch_size=16,
                            activations=("relu",), sizes=(784, 8, 10))
    hp = stack_hparams([jm.make_hparams("relu", r) for r in (0.1, 1e30)])
    init = jax.jit(jax.vmap(jm.make_init(config), in_axes=(None, 0, None)))
    epoch = jax.jit(jax.vmap(make_epoch(config), in_axes=(0, 0, None, None)))
    key = jax.random.key(0)
    start = init(key, hp, data)
    state = start
    for e in range(2):
        state, out = epoch(state, hp, data, epoch_key(key, e))
        np.testing.assert_array_equal(out.metrics.diverged, [False, True])
        assert np.isfinite(out.metrics.val_loss).all()
    for a, b in zip(jax.tree.leaves(state.params),
                    jax.tree.leaves(start.params)):
        np.testing.assert_array_equal(a[1], b[1])  # the diverged one
        assert not np.array_equal(a[0], b[0])  # the one that trained


class _StopAfterAnEpoch(StopRequest):
    """A stop asked for while the first epoch trains."""

    @property
    def requested(self) -> bool:  # read after each epoch
        self.signal_name = "SIGTERM"
        return True


@pytest.mark.slow  # a long run: many compiles
def test_a_group_with_a_diverging_member_resumes_to_the_same_bits(
        tmp_path):
    """A group with a member diverging: make_train's diverged flags, and
    after a stop and resume bitwise the numbers of the run not stopped.
    (The group and make_train are two programs: their numbers agree in
    float64, tests/test_equivalence.py, not to float32 bits.)"""
    data = synthetic_dataset(n_train=256, n_val=32, n_test=32)
    spec = only_group(SweepConfig(
        activations=("relu", "leaky_relu"), optimizers=("momentum",),
        learning_rates=(("momentum", (0.1, 1e4)),), epochs=3,
        batch_size=16, dynamics=False))
    whole = train_group(spec, data, progress=False)
    diverged = np.asarray(whole.history.diverged)
    rates = np.array([m.learning_rate for m in whole.members])
    np.testing.assert_array_equal(diverged[:, 0], rates > 1)
    with pytest.raises(Interrupted, match="after epoch 1 of 3"):
        train_group(spec, data, progress=False, checkpoint_dir=tmp_path,
                    stop=_StopAfterAnEpoch())
    resumed = train_group(spec, data, progress=False,
                          checkpoint_dir=tmp_path)
    jax.tree.map(np.testing.assert_array_equal,
                 (whole.history, whole.params),
                 (resumed.history, resumed.params))
    train = jax.jit(jm.make_train(spec.config))
    for i, m in enumerate(whole.members):
        solo = train(member_key(0, m.seed),
                     jm.make_hparams(m.activation, m.learning_rate), data)
        np.testing.assert_array_equal(diverged[i], solo.metrics.diverged)
