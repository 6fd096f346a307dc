"""Statistics over seeds and the rule that chooses a learning rate."""

import math

import pytest

from helpers import synthetic_run
from jaxmnist.results.records import MemberResult
from jaxmnist.results.stats import (
    best_member,
    cell_results,
    chosen_cells,
    describe,
    has_lr_grid,
    t_quantile_975,
)


def member(opt, act, lr, seed, val, test, div=None):
    return MemberResult(opt, act, lr, seed, val, val, test, 0.1, 0.1, 0.1, 1,
                        div, None, None, None, 1.0)


def test_confidence_interval_hand_computed():
    # values 0.90, 0.92, 0.94: mean 0.92, sample std 0.02,
    # t(0.975, 2) = 4.3027, half-width = 4.3027 * 0.02 / sqrt(3) = 0.049683
    s = describe([0.90, 0.92, 0.94])
    assert s.n == 3 and s.mean == pytest.approx(0.92)
    assert s.std == pytest.approx(0.02)
    assert s.ci95 == pytest.approx(0.049683, abs=1e-6)
    one = describe([0.5, math.nan])  # NaN (diverged) values are dropped
    assert one.n == 1 and one.std == 0 and math.isnan(one.ci95)
    assert t_quantile_975(30) == pytest.approx(2.0423)
    assert t_quantile_975(60) == pytest.approx(2.0003, abs=2e-4)
    assert t_quantile_975(1000) == pytest.approx(1.9623, abs=2e-4)


def test_choice_rule_uses_validation_never_test():
    ms = [member("adam", "relu", 1e-3, s, 0.97, 0.90) for s in range(3)]
    # higher test accuracy but lower validation: must not be chosen
    ms += [member("adam", "relu", 1e-2, s, 0.96, 0.99) for s in range(3)]
    chosen = chosen_cells(cell_results(ms))
    assert len(chosen) == 1 and chosen[0].learning_rate == 1e-3
    # swapping the test figures changes nothing
    flipped = [m._replace(test_accuracy=1 - m.test_accuracy) for m in ms]
    assert chosen_cells(cell_results(flipped))[0].learning_rate == 1e-3
    assert has_lr_grid(cell_results(ms))
    assert not has_lr_grid(cell_results(ms[:3]))


def test_diverged_members_are_excluded_from_means():
    ms = [member("sgd", "relu", 9.0, 0, math.nan, math.nan, div=2),
          member("sgd", "relu", 9.0, 1, 0.5, 0.5),
          member("sgd", "relu", 0.1, 0, math.nan, math.nan, div=1),
          member("sgd", "relu", 0.1, 1, math.nan, math.nan, div=1)]
    by_lr = {c.learning_rate: c for c in cell_results(ms)}
    assert by_lr[9.0].diverged == 1 and by_lr[9.0].finite == 1
    assert by_lr[9.0].val_mean == 0.5 and by_lr[9.0].chosen
    assert by_lr[0.1].finite == 0 and math.isnan(by_lr[0.1].val_mean)
    assert not by_lr[0.1].chosen


def test_best_member_never_picks_diverged():
    run = synthetic_run(["adam", "sgd"], ["relu"], nan_cell=("sgd", "relu"))
    ms = [m._replace(val_accuracy=0.999) if m.optimizer == "sgd" else m
          for m in run.members]
    assert best_member(ms).optimizer == "adam"
    assert best_member([m for m in ms if m.diverged]) is None
