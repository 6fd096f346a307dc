"""A verdict's numbers from records: which scores, which pairs, which
curves; and the words generated from them."""

import csv

import numpy as np
import pytest

from helpers import scored_run
from jaxmnist.report.verdict import verdict_lines
from jaxmnist.report.verdict_figures import PROFILE, verdict_figures_for
from jaxmnist.results import evidence
from jaxmnist.results.budget import mean_expected_max_band
from jaxmnist.results.judgement import (
    COMPARISON_COLUMNS,
    comparison_rows,
    judge,
    write_comparisons,
)
from jaxmnist.results.verdict import expected_max

ACTS = ("relu", "tanh", "sigmoid", "leaky_relu")


def gain_run(gain=0.01, seeds=3, acts=ACTS, lrs=(0.001, 0.01),
             dataset="mnist"):
    """adam beats sgd by ``gain`` test accuracy on every (task, seed);
    the scores vary by task and seed, the better rate scores 0.2 more."""
    scores = {}
    for t, act in enumerate(acts):
        for o, extra in (("adam", gain), ("sgd", 0.0)):
            scores[(o, act)] = {lr: [(0.6 + 0.2 * i + 0.01 * s + extra,
                                      0.6 + 0.2 * i + 0.02 * t + 0.01 * s
                                      + extra) for s in range(seeds)]
                                for i, lr in enumerate(lrs)}
    return scores, scored_run(scores, dataset)


def test_chosen_scores_follow_validation_not_test():
    run = scored_run({("adam", "relu"): {0.001: [(0.9, 0.5)],
                                         0.01: [(0.8, 0.99)]}})
    assert evidence.chosen_scores({"": run}) == {"adam": {"relu": {0: 0.5}}}


def test_a_diverged_member_scores_chance():
    run = scored_run({("adam", "relu"): {0.001: [(0.9, 0.9), (0.8, 0.8)]}})
    members = [m._replace(diverged_epoch=1, val_accuracy=float("nan"))
               if m.seed == 1 else m for m in run.members]
    got = evidence.tuning_scores({"": run._replace(members=members)})
    assert got["adam"]["relu"].tolist() == [0.9, evidence.CHANCE]


def test_default_scores_take_the_registry_rate_only():
    run = scored_run({("adam", "relu"): {0.001: [(0.9, 0.9)],
                                         0.003: [(0.7, 0.7)]},
                      ("sgd", "relu"): {0.03: [(0.8, 0.8)]}})
    got = evidence.default_scores({"": run})
    assert got == {"adam": {"relu": pytest.approx([0.9])}}


def test_target_epochs_are_medians_and_need_half_the_seeds():
    # validation 0.95 after epoch 1 and 1.0 after epoch 2 reaches 0.97 at
    # epoch 2; 0.96 after 2 never does
    run = scored_run({("adam", "relu"): {0.001: [(1.05, 0.9), (1.0, 0.9),
                                                  (0.96, 0.9)]},
                      ("sgd", "relu"): {0.01: [(1.0, 0.9), (0.96, 0.9),
                                               (0.96, 0.9)]}})
    got = evidence.target_epochs({"": run})
    assert got == {"adam": {"relu": 2.0}, "sgd": {"relu": None}}
    assert evidence.target_epochs({"": run}, {"mnist": 0.93}) == {
        "adam": {"relu": 1.0}, "sgd": {"relu": 2.0}}


def test_runs_that_do_not_share_optimizers_are_named():
    _, a = gain_run()
    b = scored_run({("adam", "relu"): {0.001: [(0.9, 0.9)]}})
    with pytest.raises(ValueError, match=r"\(adam, sgd\): b lacks sgd$"):
        evidence.shared_optimizers({"a": a, "b": b})


def test_mean_band_is_the_mean_of_the_task_curves():
    scores = {"a": [0.1, 0.5, 0.9], "b": [0.3, 0.4]}
    ks = np.arange(1, 6)
    band = mean_expected_max_band(scores, ks, n_boot=500)
    want = (expected_max(scores["a"], ks) + expected_max(scores["b"], ks)) / 2
    np.testing.assert_allclose(band.expected, want, rtol=1e-12)
    assert band.low is not None and band.high is not None
    assert np.all(band.low <= band.high)
    flat = mean_expected_max_band({"a": [0.5, 0.5], "b": [0.7, 0.7]}, ks)
    assert flat.low is not None and flat.high is not None
    np.testing.assert_allclose(flat.low, 0.6, rtol=1e-12)
    np.testing.assert_allclose(flat.high, 0.6, rtol=1e-12)
    one = mean_expected_max_band({"a": [0.5], "b": [0.7]}, ks)
    assert one.low is None and "one configuration" in one.note


def test_a_constant_gain_on_every_task_and_seed_is_significant():
    _, run = gain_run(gain=0.01)
    v = judge({"mnist": run})
    assert [r.optimizer for r in v.ranking] == ["adam", "sgd"]
    (row,) = v.optimizer_rows
    assert (row.cell_a, row.cell_b, row.seeds) == ("adam", "sgd", 12)
    assert row.mean_difference == pytest.approx(0.01)
    assert row.low == pytest.approx(0.01) and row.high == pytest.approx(0.01)
    assert row.p_improvement == 1.0 and row.significant
    assert row.p_value == pytest.approx(2 / 2 ** 12)  # exact sign flips
    # per cell, 3 seeds cannot reach significance and the rows say so
    assert len(v.cell_rows) == 4
    assert not any(c.significant for c in v.cell_rows)
    text = "\n".join(verdict_lines(v))
    assert "1 of 1 gaps are significant" in text
    assert "- significant: adam - sgd: +0.0100" in text
    assert "with 3 seeds none can be" in text
    assert "which optimizer is better on any single task: 3 seeds" in text


def test_the_tuning_budget_and_the_defaults():
    _, run = gain_run(gain=0.01)
    v = judge({"mnist": run})
    adam = v.tuning["mnist"]["adam"]
    assert adam.k.tolist() == list(range(1, 7))  # 2 rates x 3 seeds
    # the best rate is 0.2 above the other: at k = 1 the mean of both
    assert adam.expected[0] == pytest.approx(0.7 + 0.01 + 0.01)
    assert v.defaults["adam"] == pytest.approx(0.6 + 0.01 + 0.01)
    assert v.defaults["sgd"] == pytest.approx(0.8 + 0.01)  # rate 0.01


def test_one_seed_and_one_rate_say_what_cannot_be_concluded():
    _, run = gain_run(seeds=1, lrs=(0.001,))
    v = judge({"mnist": run})
    text = "\n".join(verdict_lines(v))
    assert "one learning rate per optimizer" in text
    assert "with one seed per cell, nothing separates" in text
    assert "gives no interval and no test" in text
    # 4 tasks still pair the optimizers, but too few for a sign-flip test
    assert "cannot be significant with this many pairs: 4 pairs" in text


def test_comparisons_csv_has_both_families(tmp_path):
    _, run = gain_run()
    v = judge({"mnist": run})
    path = write_comparisons(tmp_path / "comparisons.csv", v)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COMPARISON_COLUMNS
    assert [r["family"] for r in rows] == ["optimizers"] + ["cells"] * 4
    assert rows[1]["cell_a"] == "adam / relu" and rows[0]["significant"] \
        == "True"


def test_the_same_runs_give_the_same_verdict():
    _, run = gain_run(gain=0.003)
    a, b = judge({"mnist": run}), judge({"mnist": run})
    assert comparison_rows(a) == comparison_rows(b)
    assert a.ranking == b.ranking
    for o, band in a.tuning["mnist"].items():
        other = b.tuning["mnist"][o]
        for x, y in zip(band[:4], other[:4]):
            np.testing.assert_array_equal(x, y)


def test_one_seed_drops_the_interval_column_and_says_why():
    _, run = gain_run(seeds=1)
    text = "\n".join(verdict_lines(judge({"mnist": run})))
    assert "no interval: one run per task: nothing to resample." in text
    assert "| # | optimizer | IQM score | mean test acc |" in text
    assert "95% interval" not in text


def test_the_lead_changes_where_the_tuning_curves_cross():
    # per activation: adam has one good rate and one bad, sgd two middling
    # ones; E[best of k] (6 members: 2 rates x 3 equal seeds) crosses
    # between k = 2 (a tie, 0.8375 each) and k = 3 (0.89375 > 0.84375)
    scores = {}
    for act in ("relu", "tanh"):
        scores[("adam", act)] = {0.001: [(0.5, 0.5)] * 3,
                                 0.01: [(0.95, 0.95)] * 3}
        scores[("sgd", act)] = {0.01: [(0.8, 0.8)] * 3,
                                0.03: [(0.85, 0.85)] * 3}
    v = judge({"mnist": scored_run(scores)})
    text = "\n".join(verdict_lines(v))
    want = 0.5 / 64 + 0.95 * 63 / 64
    assert (f"- budget 1: sgd leads (0.8250); budget 6: adam ({want:.4f}); "
            f"the lead changes at k = 3 to adam.") in text
    _, run = gain_run()
    assert "the lead never changes" in "\n".join(
        verdict_lines(judge({"mnist": run})))


def test_the_profile_is_drawn_only_where_the_target_was_reached():
    def run(val):
        return scored_run({(o, "relu"): {lr: [(val, 0.9)] * 2}
                           for o, lr in (("adam", 0.001), ("sgd", 0.01))})
    assert PROFILE not in verdict_figures_for(run(0.96))  # target 0.97
    assert PROFILE in verdict_figures_for(run(0.99))


def test_time_to_target_in_words():
    # on relu adam's seeds reach 0.97 at epochs 1, 2 and 2, sgd's at 1 and
    # 2 of 3: both medians 2; on tanh none does
    run = scored_run({("adam", "relu"): {0.001: [(1.05, 0.9), (1.0, 0.9),
                                                  (1.0, 0.9)]},
                      ("adam", "tanh"): {0.001: [(0.9, 0.9)] * 3},
                      ("sgd", "relu"): {0.01: [(1.05, 0.9), (1.0, 0.9),
                                               (0.9, 0.9)]},
                      ("sgd", "tanh"): {0.01: [(0.9, 0.9)] * 3}})
    text = "\n".join(verdict_lines(judge({"mnist": run})))
    assert ("**Time to target** (median epoch over seeds to mnist 0.97 "
            "validation accuracy): fastest or tied on the most tasks: "
            "adam 1/2, sgd 1/2; reached on every task: none.") in text
    assert "time to target on tanh: no optimizer reached it" in text
