"""Paired differences of cells, Holm's correction and comparisons.csv rows,
against answers known by construction, enumeration or by hand."""

import itertools

import numpy as np
import pytest
from scipy import stats

from jaxmnist.results.comparisons import (
    compare_cells,
    holm,
    paired_difference,
    probability_of_improvement,
)

BASE = np.array([0.90, 0.95, 0.88, 0.97, 0.91, 0.93, 0.89, 0.96])


def test_constant_gain_on_every_seed():
    # A = B + 0.02 on each of 8 seeds: the mean is 0.02, the bootstrap has
    # nothing to spread, A wins every seed, and among the 2^8 sign patterns
    # only all-plus and all-minus are as extreme: p = 2 / 256.
    r = paired_difference(BASE + 0.02, BASE, rng=0)
    assert r.seeds == 8 and r.note == ""
    assert r.mean_difference == pytest.approx(0.02)
    assert r.low == pytest.approx(0.02) and r.high == pytest.approx(0.02)
    assert r.p_improvement == 1.0
    assert r.p_value == pytest.approx(2 / 256)


def test_sign_flip_p_matches_enumeration():
    d = np.array([0.75, -0.25, 1.5, 0.5, -1.0, 2.0, 1.25])  # exact in binary
    flipped = [np.mean(d * s) for s in itertools.product((1, -1), repeat=7)]
    want = np.mean(np.abs(flipped) >= abs(d.mean()) - 1e-12)
    r = paired_difference(BASE[:7] + d, BASE[:7], rng=0)
    assert r.mean_difference == pytest.approx(d.mean())
    assert r.p_value == pytest.approx(want, rel=1e-12)
    assert r.p_improvement == pytest.approx(5 / 7)


def test_t_test_is_the_paired_t_test():
    a = BASE + np.array([0.01, 0.03, -0.01, 0.02, 0.0, 0.04, 0.01, 0.02])
    r = paired_difference(a, BASE, test="t")
    assert r.p_value == pytest.approx(stats.ttest_rel(a, BASE).pvalue)
    same = paired_difference(BASE + 0.02, BASE, test="t")
    assert same.p_value is None and "t-test undefined" in same.note
    assert same.low == pytest.approx(0.02)


def test_bootstrap_interval_covers_the_true_difference_at_its_level():
    # The percentile bootstrap of a mean of n normal values covers about as
    # often as xbar +- z s_n / sqrt(n), with s_n the plug-in deviation:
    # 2 T_{n-1}(z sqrt((n - 1) / n)) - 1 = 0.940 for n = 40, near 95%.
    # The tolerance is 3 binomial standard errors of the repeat count.
    n, repeats, true = 40, 1000, 0.01
    z = stats.norm.ppf(0.975)
    expected = 2 * stats.t.cdf(z * np.sqrt((n - 1) / n), n - 1) - 1
    gen = np.random.default_rng(2024)
    hits = 0
    for _ in range(repeats):
        base = gen.normal(0.9, 0.05, n)  # seeds move both cells together
        a = base + true + gen.normal(0, 0.02, n)
        r = paired_difference(a, base, n_boot=999, test="t", rng=gen)
        assert r.low is not None and r.high is not None
        hits += r.low <= true <= r.high
    tolerance = 3 * np.sqrt(expected * (1 - expected) / repeats)
    assert abs(hits / repeats - expected) <= tolerance
    assert abs(expected - 0.95) < 0.011


def test_fewer_than_two_seeds_give_no_interval():
    one = paired_difference([0.9], [0.8])
    assert one.seeds == 1 and one.mean_difference == pytest.approx(0.1)
    assert one.low is None and one.high is None and one.p_value is None
    assert "one shared seed" in one.note
    none = paired_difference([], [])
    assert none.seeds == 0 and none.mean_difference is None
    assert none.note == "no shared seeds"


@pytest.mark.parametrize("a, b, kwargs", [
    ([0.9, 0.8], [0.9], {}),
    ([0.9, np.nan], [0.9, 0.8], {}),
    ([0.9, 0.8], [0.9, 0.8], {"test": "wilcoxon"}),
    ([0.9, 0.8], [0.9, 0.8], {"confidence": 95}),
])
def test_paired_difference_refuses_bad_input(a, b, kwargs):
    with pytest.raises(ValueError, match="expected"):
        paired_difference(a, b, **kwargs)


def test_probability_of_improvement_paired_and_unpaired():
    a, b = [0.9, 0.8, 0.7, 0.7], [0.85, 0.8, 0.75, 0.6]
    # paired: win, tie, loss, win -> (1 + 0.5 + 0 + 1) / 4
    assert probability_of_improvement(a, b, paired=True) == 0.625
    u = stats.mannwhitneyu(a, b).statistic / 16  # ties count half in U
    assert probability_of_improvement(a, b) == pytest.approx(u)
    # seed effects hide a sure win from the unpaired one
    assert probability_of_improvement(BASE + 0.02, BASE, paired=True) == 1
    assert probability_of_improvement(BASE + 0.02, BASE) < 0.8


def test_holm_by_hand():
    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06,
    # 0.04 x1 = 0.04 -> 0.06 (monotone)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]),
                               [0.03, 0.06, 0.06, 0.02])
    out = holm([0.01, np.nan, 0.04])  # NaN is not in the family: m = 2
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.04])
    assert np.isnan(out[1])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    with pytest.raises(ValueError, match="expected"):
        holm([0.5, 1.5])


def test_compare_cells_rows_by_hand():
    alt = np.array([0.01, -0.01] * 4)
    scores = {"A": dict(enumerate(BASE + 0.02)),
              "B": dict(reversed(list(enumerate(BASE)))),  # order is free
              "C": dict(enumerate(BASE + alt)),
              "D": {0: 0.5}, "E": {99: 0.5}}
    rows = {(r.cell_a, r.cell_b): r for r in compare_cells(scores)}
    assert len(rows) == 10
    # A-B: d = 0.02 on 8 seeds, p = 2/256; A-C: d = 0.01 or 0.03, all
    # positive, p = 2/256; B-C: d = -alt, mean 0, p = 1. D shares one seed
    # with A, B, C and E none: no p. Holm over the 3 rows with p: A-B and
    # A-C get 3 p and 2 p (-> 3 p, monotone), B-C stays 1.
    assert rows["A", "B"].mean_difference == pytest.approx(0.02)
    assert rows["A", "C"].mean_difference == pytest.approx(0.02)
    assert rows["B", "C"].mean_difference == pytest.approx(0.0, abs=1e-12)
    for pair in [("A", "B"), ("A", "C")]:
        assert rows[pair].p_adjusted == pytest.approx(3 * 2 / 256)
        assert rows[pair].significant is True
    assert rows["B", "C"].p_value == pytest.approx(1.0)
    assert rows["B", "C"].significant is False
    assert rows["A", "D"].seeds == 1 and rows["A", "D"].low is None
    assert rows["A", "D"].significant is None
    assert rows["D", "E"].note == "no shared seeds"
    assert rows["D", "E"].mean_difference is None
    assert compare_cells(scores) == list(rows.values())  # seeded


def test_compare_cells_says_when_seeds_are_too_few():
    scores = {"A": dict(enumerate(BASE[:3] + 0.02)),
              "B": dict(enumerate(BASE[:3]))}
    (row,) = compare_cells(scores)
    assert row.p_value == pytest.approx(0.25)  # 2 / 2^3, the least it can
    assert row.significant is False
    assert "cannot go below 0.25" in row.note
    (b_first,) = compare_cells(scores, pairs=[("B", "A")])
    assert b_first.mean_difference == pytest.approx(-0.02)
    with pytest.raises(ValueError, match="expected cells"):
        compare_cells(scores, pairs=[("A", "Z")])
