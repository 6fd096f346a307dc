"""The comparison method: CIs, the lr choice rule, seed keys, divergence."""

import math

import jax
import numpy as np
import pytest

import jaxmnist as jm
from jaxmnist import cells, runner
from jaxmnist.sweep_config import SweepConfig
from conftest import synthetic_dataset


def test_confidence_interval_hand_computed():
    # values 0.90, 0.92, 0.94: mean 0.92, sample std 0.02,
    # t(0.975, 2) = 4.3027, half-width = 4.3027 * 0.02 / sqrt(3) = 0.049683
    s = cells.describe([0.90, 0.92, 0.94])
    assert s.n == 3 and s.mean == pytest.approx(0.92)
    assert s.std == pytest.approx(0.02)
    assert s.ci95 == pytest.approx(0.049683, abs=1e-6)
    one = cells.describe([0.5, math.nan])  # NaN (diverged) values are dropped
    assert one.n == 1 and one.std == 0 and math.isnan(one.ci95)
    assert cells.t_quantile_975(30) == pytest.approx(2.0423)
    assert cells.t_quantile_975(60) == pytest.approx(2.0003, abs=2e-4)
    assert cells.t_quantile_975(1000) == pytest.approx(1.9623, abs=2e-4)


def row(opt, act, lr, seed, val, test, div=""):
    return dict(optimizer=opt, activation=act, learning_rate=lr, seed=seed,
                val_accuracy=val, test_accuracy=test, diverged_epoch=div)


def test_choice_rule_uses_validation_never_test():
    rows = [row("adam", "relu", 1e-3, s, 0.97, 0.90) for s in range(3)]
    # higher test accuracy but lower validation: must not be chosen
    rows += [row("adam", "relu", 1e-2, s, 0.96, 0.99) for s in range(3)]
    chosen = cells.chosen_cells(rows)
    assert len(chosen) == 1 and chosen[0].learning_rate == 1e-3
    # swapping the test figures changes nothing
    for r in rows:
        r["test_accuracy"] = 1 - r["test_accuracy"]
    assert cells.chosen_cells(rows)[0].learning_rate == 1e-3


def test_diverged_members_are_excluded_from_means():
    rows = [row("sgd", "relu", 9.0, 0, math.nan, math.nan, div=2),
            row("sgd", "relu", 9.0, 1, 0.5, 0.5),
            row("sgd", "relu", 0.1, 0, math.nan, math.nan, div=1),
            row("sgd", "relu", 0.1, 1, math.nan, math.nan, div=1)]
    by_lr = {c.learning_rate: c for c in cells.cells(rows)}
    assert by_lr[9.0].diverged == 1 and by_lr[9.0].val.n == 1
    assert by_lr[9.0].val.mean == 0.5 and by_lr[9.0].chosen
    assert by_lr[0.1].val.n == 0 and not by_lr[0.1].chosen


def test_seed_keys_do_not_depend_on_the_other_cells():
    small = SweepConfig(activations=("relu",), optimizers=("adam",), seeds=2)
    big = SweepConfig(activations=("tanh", "relu", "elu"),
                      optimizers=("sgd", "adam"), seeds=3)
    for cfg in (small, big):
        m = [x for x in runner.group_members(cfg, "adam")
             if x.activation == "relu" and x.seed == 1][0]
        key = runner.member_key(cfg.seed, m.seed)
        assert jax.random.key_data(key).tolist() == jax.random.key_data(
            jax.random.fold_in(jax.random.key(0), 1)).tolist()


def test_adding_a_cell_does_not_change_another_cells_numbers():
    data = synthetic_dataset(n_train=128, n_val=32, n_test=32)
    a = SweepConfig(activations=("relu",), optimizers=("adam",), epochs=2,
                    seeds=2, batch_size=32)
    b = SweepConfig(activations=("tanh", "relu"), optimizers=("adam",),
                    epochs=2, seeds=2, batch_size=32)
    ga = runner.train_group(a, "adam", data, progress=False)
    gb = runner.train_group(b, "adam", data, progress=False)
    for i, m in enumerate(ga.members):
        j = gb.members.index(m)
        np.testing.assert_allclose(ga.history.val_loss[i],
                                   gb.history.val_loss[j], rtol=1e-5)


def test_sweep_driver_equals_pure_train():
    """One code path, two drivers: the sweep's per-epoch loop reproduces
    ``make_train`` for every member."""
    data = synthetic_dataset(n_train=128, n_val=32, n_test=32)
    cfg = SweepConfig(activations=("relu", "sigmoid"), optimizers=("adam",),
                      epochs=2, seeds=2, batch_size=32)
    group = runner.train_group(cfg, "adam", data, progress=False)
    train = jax.jit(jm.make_train(runner.train_config(cfg, "adam")))
    for i, m in enumerate(group.members):
        solo = train(runner.member_key(cfg.seed, m.seed),
                     jm.make_hparams(m.activation, m.learning_rate), data)
        np.testing.assert_allclose(group.history.val_loss[i],
                                   solo.metrics.val_loss, rtol=1e-4)
        np.testing.assert_allclose(group.params[0]["w"][i],
                                   solo.params[0]["w"], rtol=1e-3, atol=1e-4)


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
    for leaf in jax.tree.leaves(jax.tree.map(lambda x: x[1], mixed.params)):
        assert np.isfinite(np.asarray(leaf)).all()
    # the others: exactly as in the same-shape group with a sane third member
    control = train(key, jm.stack_hparams(
        [sane[0], jm.make_hparams("relu", 0.01), sane[1]]), data)
    for i in (0, 2):
        for f in jm.Metrics._fields:
            np.testing.assert_allclose(getattr(mixed.metrics, f)[i],
                                       getattr(control.metrics, f)[i],
                                       rtol=1e-6, atol=1e-7)
    # and as in the group without it, up to float reassociation (a 3- vs
    # 2-wide batched matmul)
    alone = train(key, jm.stack_hparams(sane), data)
    assert not np.asarray(alone.metrics.diverged).any()
    for i, j in ((0, 0), (2, 1)):
        for f in jm.Metrics._fields:
            np.testing.assert_allclose(getattr(mixed.metrics, f)[i],
                                       getattr(alone.metrics, f)[j],
                                       rtol=1e-3, atol=1e-4)


def test_time_to_target():
    from jaxmnist.results import time_to_target
    val = np.asarray([0.90, 0.965, 0.971, 0.98])
    assert time_to_target(val, np.zeros(4, bool), 0.97, 100,
                          [1.0, 2.0, 3.0, 4.0]) == (3, 300, 6.0)
    assert time_to_target(val, np.asarray([0, 1, 1, 1], bool), 0.97, 100,
                          [1.0] * 4) == ("", "", "")
