"""Tuning budget and aggregates across tasks, against answers known by
enumeration or by hand (synthetic numbers only)."""

import itertools

import numpy as np
import pytest
from scipy import stats

from jaxmnist.results.verdict import (
    expected_max,
    expected_max_band,
    first_crossing,
    iqm,
    iqm_by_optimizer,
    leader_changes,
    normalize_per_task,
    performance_profile,
    performance_ratios,
)


def brute_force_expected_max(scores, k):
    """Mean of the max over all len(scores)^k equally likely k-tuples."""
    return np.mean([max(t) for t in itertools.product(scores, repeat=k)])


@pytest.mark.parametrize("scores", [[0.3, 0.7, 0.7, 0.1],  # a tie
                                    [0.91, 0.5, 0.97, 0.93, 0.2],
                                    [0.42]])
def test_expected_max_matches_enumeration_of_all_draws(scores):
    ks = np.arange(1, 6)
    want = [brute_force_expected_max(scores, k) for k in ks]
    np.testing.assert_allclose(expected_max(scores, ks), want, rtol=1e-12)
    # a scalar k gives a float, an array of k its shape
    assert isinstance(expected_max(scores, 3), float)
    assert expected_max(scores, 3) == pytest.approx(want[2], rel=1e-12)
    assert expected_max(scores, ks.reshape(5, 1)).shape == (5, 1)


def test_expected_max_runs_from_the_mean_to_the_best():
    scores = np.array([0.5, 0.9, 0.7, 0.8])
    assert expected_max(scores, 1) == pytest.approx(scores.mean())
    assert expected_max(scores, 500) == pytest.approx(0.9, abs=1e-12)
    curve = expected_max(scores, np.arange(1, 20))
    assert np.all(np.diff(curve) > 0)


@pytest.mark.parametrize("scores, k", [([0.5, 0.6], 0), ([0.5], 1.5),
                                       ([], 1), ([0.5, np.nan], 1),
                                       ([[0.5]], 1)])
def test_expected_max_refuses_bad_input(scores, k):
    with pytest.raises(ValueError, match="expected"):
        expected_max(scores, k)


def test_band_at_k1_is_the_percentile_bootstrap_of_the_mean():
    scores = np.array([0.81, 0.9, 0.77, 0.95, 0.6, 0.88])
    band = expected_max_band(scores, np.arange(1, 7), n_boot=999, rng=3)
    mean_ci = stats.bootstrap((scores,), np.mean, n_resamples=999,
                              method="percentile", rng=3).confidence_interval
    assert band.note == "" and band.low is not None and band.high is not None
    assert band.low[0] == pytest.approx(mean_ci.low, rel=1e-12)
    assert band.high[0] == pytest.approx(mean_ci.high, rel=1e-12)
    np.testing.assert_allclose(band.expected,
                               expected_max(scores, np.arange(1, 7)))
    assert np.all(band.low >= scores.min())
    assert np.all(band.high <= scores.max())
    again = expected_max_band(scores, np.arange(1, 7), n_boot=999, rng=3)
    assert again.low is not None
    np.testing.assert_array_equal(again.low, band.low)


def test_band_of_one_configuration_is_refused_not_faked():
    band = expected_max_band([0.9], [1, 2])
    assert band.low is None and band.high is None
    assert "one configuration" in band.note
    np.testing.assert_allclose(band.expected, [0.9, 0.9])


def test_crossing_of_a_robust_and_a_tuning_hungry_optimizer():
    # A scores 0.8 at every learning rate; B scores 0.95 at one of four and
    # 0.5 elsewhere: E[max of k] for B = 0.5 + 0.45 (1 - (3/4)^k) =
    # 0.6125, 0.696875, 0.760156, 0.807617: B passes A at k = 4.
    ks = np.arange(1, 5)
    a = expected_max([0.8] * 4, ks)
    b = expected_max([0.5, 0.5, 0.5, 0.95], ks)
    np.testing.assert_allclose(b, [0.6125, 0.696875, 0.76015625,
                                   0.8076171875])
    assert first_crossing(a, b, ks) == 4
    assert first_crossing(b, a, ks) == 4
    assert leader_changes({"A": a, "B": b}, ks) == [(1, "A"), (4, "B")]


def test_ties_are_not_crossings():
    ks = [1, 2, 3, 4]
    # behind, behind, tied, ahead: the crossing is where it gets ahead
    assert first_crossing([0.5, 0.6, 0.7, 0.8], [0.55, 0.62, 0.7, 0.75],
                          ks) == 4
    assert first_crossing([0.5, 0.6, 0.7], [0.5, 0.61, 0.7], ks[:3]) is None
    assert first_crossing([0.5, 0.6], [0.5, 0.6], ks[:2]) is None
    # a tie at the top keeps the leader; only a strict lead changes it
    curves = {"a": [0.9, 0.9, 0.9, 0.9], "b": [0.8, 0.9, 0.95, 0.96],
              "c": [0.7, 0.8, 0.9, 0.97]}
    assert leader_changes(curves, ks) == [(1, "a"), (3, "b"), (4, "c")]


# --------------------------------------------------------------------------
# Across tasks

TABLE = {  # optimizer -> task -> per-seed scores
    "adam": {"mnist": [0.98, 0.97, 0.96, 0.99],
             "fashion": [0.90, 0.89, 0.88, 0.91]},
    "sgd": {"mnist": [0.95, 0.94, 0.96, 0.93],
            "fashion": [0.86, 0.87, 0.85, 0.88]},
}


def test_minmax_and_best_normalisation_by_hand():
    mm = normalize_per_task(TABLE)
    # mnist: lo 0.93, hi 0.99; fashion: lo 0.85, hi 0.91
    np.testing.assert_allclose(mm["adam"]["mnist"], [5 / 6, 4 / 6, 3 / 6, 1])
    np.testing.assert_allclose(mm["sgd"]["fashion"], [1 / 6, 2 / 6, 0, 3 / 6])
    best = normalize_per_task(TABLE, "best")
    np.testing.assert_allclose(best["sgd"]["mnist"],
                               np.array([0.95, 0.94, 0.96, 0.93]) / 0.99)
    flat = normalize_per_task({"a": {"t": [0.5, 0.5]}, "b": {"t": [0.5]}})
    np.testing.assert_array_equal(flat["b"]["t"], [1.0])


@pytest.mark.parametrize("table, method", [
    ({"a": {"t": [1.0]}, "b": {"u": [1.0]}}, "minmax"),
    ({"a": {"t": [1.0]}}, "zscore"),
    ({"a": {"t": [np.inf]}}, "minmax"),
    ({}, "minmax"),
])
def test_normalisation_refuses_bad_tables(table, method):
    with pytest.raises(ValueError, match="expected"):
        normalize_per_task(table, method)


def test_iqm_cuts_a_quarter_from_each_end():
    assert iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)  # 3,4,5,6
    assert iqm([1, 2, 3, 4, 100]) == pytest.approx(3.0)  # cuts 1 each end
    np.testing.assert_allclose(iqm([[1, 2, 3, 4], [4, 5, 6, 100]]),
                               [2.5, 5.5])


def test_iqm_by_optimizer_on_a_hand_made_table():
    out = iqm_by_optimizer(TABLE, n_boot=500, rng=0)
    # adam normalised: mnist 5/6 4/6 3/6 1, fashion 5/6 4/6 3/6 1; sorted
    # 3/6 3/6 4/6 4/6 5/6 5/6 1 1: the middle four average 3/4
    assert out["adam"].iqm == pytest.approx(0.75)
    # sgd: mnist 2/6 1/6 3/6 0, fashion 1/6 2/6 0 3/6: middle 1/6 2/6 x2
    assert out["sgd"].iqm == pytest.approx(0.25)
    for agg in out.values():
        assert agg.tasks == 2 and agg.runs == 8 and agg.note == ""
        assert agg.low is not None and agg.high is not None
        assert agg.low <= agg.iqm <= agg.high
    assert out == iqm_by_optimizer(TABLE, n_boot=500, rng=0)


def test_bootstrap_is_stratified_by_task():
    # No spread within a task: resampling within tasks always redraws the
    # same runs, so the interval is the point; pooling the tasks would not.
    table = {"a": {"t": [0.2] * 4, "u": [0.8] * 4},
             "b": {"t": [0.1] * 4, "u": [0.9] * 4}}
    out = iqm_by_optimizer(table, normalization="best", n_boot=200, rng=1)
    assert out["a"].low == out["a"].high == pytest.approx(out["a"].iqm)


def test_one_run_per_task_gives_no_interval():
    table = {"a": {"t": [0.9], "u": [0.8]}, "b": {"t": [0.7], "u": [0.6]}}
    agg = iqm_by_optimizer(table)["a"]
    assert agg.low is None and agg.high is None
    assert "one run per task" in agg.note


# Times to target (epochs): t3 is reached by nobody, sgd never reaches t2.
TIMES = {"adam": {"t1": 10, "t2": 30, "t3": None},
         "sgd": {"t1": 20, "t2": None, "t3": float("nan")},
         "lion": {"t1": 15, "t2": 20, "t3": np.inf}}


def test_performance_ratios_by_hand():
    r = performance_ratios(TIMES)
    assert r["adam"] == {"t1": 1.0, "t2": 1.5, "t3": np.inf}
    assert r["sgd"] == {"t1": 2.0, "t2": np.inf, "t3": np.inf}
    assert r["lion"] == {"t1": 1.5, "t2": 1.0, "t3": np.inf}


def test_performance_profile_on_a_hand_made_table():
    taus = [1.0, 1.4, 1.5, 2.0, 100.0]
    profile = performance_profile(TIMES, taus)
    np.testing.assert_allclose(profile["adam"], [1, 1, 2, 2, 2] / np.r_[3])
    np.testing.assert_allclose(profile["sgd"], [0, 0, 0, 1, 1] / np.r_[3])
    np.testing.assert_allclose(profile["lion"], [1, 1, 2, 2, 2] / np.r_[3])


@pytest.mark.parametrize("times", [{"a": {"t": 0.0}},
                                   {"a": {"t": 1.0}, "b": {}},
                                   {"a": {"t": 1.0}, "b": {"t": 1, "u": 2}}])
def test_performance_profile_refuses_bad_tables(times):
    with pytest.raises(ValueError, match="expected"):
        performance_profile(times, [1.0])
