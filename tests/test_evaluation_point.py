"""Schedule-Free is evaluated at its average: validation, test, make_train's
params and the sweep's saved models use ``evaluation_params``; the probes
read the training point, and the summary says so."""

import jax
import numpy as np
import pytest

import jaxmnist as jm
from helpers import synthetic_dataset, synthetic_run
from jaxmnist.core.train import (
    epoch_key,
    evaluate_split,
    evaluates_elsewhere,
    make_epoch,
    make_init,
    member_key,
)
from jaxmnist.optim import evaluation_params
from jaxmnist.report.summary import figure_notes
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.group import train_group

SF = "schedule_free_adamw"


def test_only_schedule_free_evaluates_elsewhere():
    assert [o for o in jm.OPTIMIZERS if evaluates_elsewhere(o)] == [SF]


def _trained_state(config, data, activation, lr, seed=0):
    """The final TrainState of one member, epoch by epoch as the sweep's
    driver runs it."""
    hp = jm.make_hparams(activation, lr)
    key = member_key(0, seed)
    init, epoch = jax.jit(make_init(config)), jax.jit(make_epoch(config))
    state = init(jax.random.split(key)[0], hp, data)
    results = []
    for e in range(config.epochs):
        state, result = epoch(state, hp, data, epoch_key(key, e))
        results.append(result)
    return state, results


@pytest.mark.slow
def test_schedule_free_is_validated_tested_and_saved_at_its_average():
    data = synthetic_dataset(n_train=256, n_val=32, n_test=32)
    cfg = SweepConfig(optimizers=(SF,), activations=("relu", "tanh"),
                      epochs=2, batch_size=32, dynamics=False)
    (spec,) = cfg.groups()
    group = train_group(spec, data, progress=False)
    for i, m in enumerate(group.members):
        state, results = _trained_state(spec.config, data, m.activation,
                                         m.learning_rate)
        x = evaluation_params(SF, state.opt_state, state.params)
        # what was validated and tested: the average x ...
        val = evaluate_split(spec.config, x, state.stats,
                             jm.activation_index(m.activation),
                             data.val_images, data.val_labels)
        np.testing.assert_allclose(results[-1].metrics.val_loss, val[0],
                                   rtol=1e-6)
        np.testing.assert_allclose(group.history.val_loss[i, -1], val[0],
                                   rtol=1e-4)
        # ... and saved: the group's params are x (to the vmapped group's
        # rounding), far nearer x than the training point y
        saved = [p[i] for p in jax.tree.leaves(group.params)]
        to_x = _distance(saved, jax.tree.leaves(x))
        x_to_y = _distance(jax.tree.leaves(x), jax.tree.leaves(state.params))
        assert to_x < 0.01 * x_to_y, (to_x, x_to_y)


def _distance(a, b) -> float:
    return float(np.sqrt(sum(np.sum((np.asarray(u, np.float64)
                                     - np.asarray(v, np.float64)) ** 2)
                             for u, v in zip(a, b))))


@pytest.mark.slow
def test_make_train_returns_the_evaluation_point():
    data = synthetic_dataset(n_train=128, n_val=32, n_test=32)
    config = jm.TrainConfig(optimizer=SF, epochs=2, batch_size=32)
    state, _ = _trained_state(config, data, "relu", 1e-3)
    result = jax.jit(jm.make_train(config))(member_key(0, 0),
                                            jm.make_hparams("relu", 1e-3),
                                            data)
    want = evaluation_params(SF, state.opt_state, state.params)
    for got, w in zip(jax.tree.leaves(result.params), jax.tree.leaves(want)):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-7)


def test_the_summary_says_which_point_the_probes_read():
    note = "For schedule_free_adamw the probes read the training point"
    with_sf = figure_notes(synthetic_run([SF, "adam"], ["relu"]))
    without = figure_notes(synthetic_run(["adam"], ["relu"]))
    for figure in ("gradient_flow.png", "units.png", "sharpness.png"):
        assert note in with_sf[figure][1]
        assert note not in without[figure][1]
