"""Paired differences of cells over shared seeds: the rows of comparisons.csv.

Members of different cells with the same seed share their initial draws and
data order, so two cells are compared seed by seed: the mean paired
difference with a percentile bootstrap interval, the probability of
improvement P(A > B) (Agarwal et al. 2021, rliable), a paired p-value, and
Holm's correction over the family of comparisons. SciPy does the resampling
(``stats.bootstrap``, ``stats.permutation_test``); what the seeds cannot give
(fewer than two shared seeds) is None with a note, never a made-up interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from jaxmnist.results.verdict import Rng, check_confidence, finite_scores

#: Tests :func:`paired_difference` can run on the per-seed differences.
PAIRED_TESTS = ("sign-flip", "t")


def probability_of_improvement(a: ArrayLike, b: ArrayLike,
                               paired: bool = False) -> float:
    """P(A > B), ties counted half, as rliable (Agarwal et al. 2021).

    Unpaired (rliable's, on one task): the chance that a run of A scores
    above a run of B, over all n m pairs of their runs; the Mann-Whitney
    U statistic of A divided by n m::

        P(A > B) = (1 / (n m)) sum_i sum_j ([a_i > b_j] + [a_i = b_j] / 2)

    ``paired=True`` (``a``, ``b`` aligned by seed): the chance that A beats
    B on the same seed, (1 / n) sum_s ([a_s > b_s] + [a_s = b_s] / 2). When
    seeds move both cells together, only the paired one sees that A wins
    on every seed."""
    x, y = finite_scores(a, "a"), finite_scores(b, "b")
    if paired:
        if x.shape != y.shape:
            raise ValueError(f"a of shape {x.shape}, b of shape {y.shape}: "
                             "paired scores must align seed by seed")
    else:
        x, y = x[:, None], y[None, :]
    return float(np.mean(x > y) + 0.5 * np.mean(x == y))


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values, in the order given.

    With the m finite p-values sorted, p_(1) <= ... <= p_(m)::

        adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))

    and H_(i) is rejected at level alpha when adjusted p_(i) <= alpha; this
    bounds the family-wise error rate by alpha under any dependence. NaN
    entries (comparisons without a p-value) stay NaN and are not counted
    in m."""
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values {p.tolist()}: expected numbers in "
                         "[0, 1] (NaN for a missing one)")
    out = np.full(p.shape, np.nan)
    have = np.flatnonzero(np.isfinite(p))
    order = have[np.argsort(p[have], kind="stable")]
    m = order.size
    steps = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return out


class PairedDifference(NamedTuple):
    """A - B over shared seeds. None marks what the seeds cannot give."""
    seeds: int
    mean_difference: float | None
    low: float | None  # percentile bootstrap interval of the mean
    high: float | None
    p_improvement: float | None  # P(A > B) on the same seed
    p_value: float | None  # two-sided, of "no difference"
    note: str  # why something is None; "" otherwise


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _p_value(d: np.ndarray, test: str, rng: Rng) -> float | None:
    if test == "t":
        if np.ptp(d) == 0:
            return None
        test_result = stats.ttest_1samp(d, 0.0)
        return float(test_result.pvalue)  # pyright: ignore[reportAttributeAccessIssue]
    return float(stats.permutation_test(
        (d,), _mean, permutation_type="samples", vectorized=True,
        n_resamples=9999, rng=rng).pvalue)


def paired_difference(a: ArrayLike, b: ArrayLike, *, n_boot: int = 9999,
                      confidence: float = 0.95, test: str = "sign-flip",
                      rng: Rng = 0) -> PairedDifference:
    """A against B seed by seed (``a``, ``b`` aligned by seed): the mean
    of d_s = a_s - b_s with its percentile bootstrap interval
    (``scipy.stats.bootstrap`` over the seeds, ``n_boot`` resamples), P(A
    > B) on the same seed (:func:`probability_of_improvement`, paired) and
    a two-sided p-value of "no difference".

    ``test="sign-flip"`` (default) is the permutation test of the paired
    design (``scipy.stats.permutation_test``, ``permutation_type="samples"``
    on the d_s): with no difference, A and B are exchangeable within a
    seed, so each d_s is as likely to carry either sign. It assumes no
    distribution and is exact (all 2^n sign patterns) up to 13 seeds, but
    with n seeds it cannot go below p = 2^(1-n). ``test="t"``, the paired
    t-test, can, by assuming normal differences, which a handful of seeds
    cannot check. Percentile intervals from few seeds are too narrow
    (coverage nears the nominal level only as seeds grow). With fewer than
    two seeds there is no interval and no p-value.
    """
    check_confidence(confidence)
    if test not in PAIRED_TESTS:
        raise ValueError(f"test {test!r}: expected one of {PAIRED_TESTS}")
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a of shape {x.shape}, b of shape {y.shape}: "
                         "expected two 1-D arrays aligned by seed")
    if x.size == 0:
        return PairedDifference(0, None, None, None, None, None,
                                "no shared seeds")
    d = finite_scores(x, "a") - finite_scores(y, "b")
    mean, p_a = float(d.mean()), probability_of_improvement(x, y, paired=True)
    if d.size < 2:
        return PairedDifference(1, mean, None, None, p_a, None,
                                "one shared seed: no interval, no p-value")
    ci = stats.bootstrap((d,), _mean, n_resamples=n_boot,
                         confidence_level=confidence, method="percentile",
                         vectorized=True, rng=rng).confidence_interval
    p = _p_value(d, test, rng)
    note = "" if p is not None else (
        "every seed gave the same difference: t-test undefined")
    return PairedDifference(int(d.size), mean, float(ci.low), float(ci.high),
                            p_a, p, note)


class Comparison(NamedTuple):
    """comparisons.csv: cell A against cell B over their shared seeds.

    ``mean_difference`` is the mean of (A - B) in the score given (test
    accuracy); ``low``/``high`` its percentile bootstrap interval;
    ``p_adjusted`` Holm's over every row with a p-value; ``significant``
    whether it is <= 1 - confidence. None marks what the seeds cannot
    give, and ``note`` says why."""
    cell_a: str
    cell_b: str
    seeds: int
    mean_difference: float | None
    low: float | None
    high: float | None
    p_improvement: float | None  # P(A > B) on the same seed
    p_value: float | None
    p_adjusted: float | None
    significant: bool | None
    note: str


def compare_cells(scores: Mapping[str, Mapping[Any, float]],
                  pairs: Sequence[tuple[str, str]] | None = None, *,
                  n_boot: int = 9999, confidence: float = 0.95,
                  test: str = "sign-flip", rng: Rng = 0) -> list[Comparison]:
    """The rows of comparisons.csv: :func:`paired_difference` of each pair
    of cells (every pair, A before B in the order of ``scores``, unless
    ``pairs`` names them) over the seeds both cells have, then Holm's
    correction (:func:`holm`) over the rows that have a p-value.

    ``scores`` maps a cell's name to {seed: score} (any key that pairs
    two cells' runs: a seed, or a (task, seed) pair). Rows are seeded in
    turn from ``rng``: the same inputs in the same order give the same
    rows. With the sign-flip test, a row whose seeds are too few for any
    p-value to survive Holm at this level says so in its note."""
    alpha = 1.0 - check_confidence(confidence)
    names = list(scores)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]] \
        if pairs is None else list(pairs)
    unknown = sorted({c for p in pairs for c in p} - set(names))
    if unknown:
        raise ValueError(f"cells {unknown} in pairs: expected cells among "
                         f"{names}")
    gen = np.random.default_rng(rng) if isinstance(rng, int) else rng
    found = []
    for a, b in pairs:
        seeds = [s for s in scores[a] if s in scores[b]]
        found.append(paired_difference(
            [scores[a][s] for s in seeds], [scores[b][s] for s in seeds],
            n_boot=n_boot, confidence=confidence, test=test, rng=gen))
    adjusted = holm([np.nan if r.p_value is None else r.p_value
                     for r in found])
    tested = int(np.isfinite(adjusted).sum())
    rows = []
    for (a, b), r, p in zip(pairs, found, adjusted):
        note = r.note
        if test == "sign-flip" and r.seeds >= 2 \
                and 2.0 ** (1 - r.seeds) > alpha / tested:
            note = (f"{r.seeds} seeds: the sign-flip p cannot go below "
                    f"{2.0 ** (1 - r.seeds):.3g}, Holm needs "
                    f"<= {alpha / tested:.3g} here")
        have = bool(np.isfinite(p))
        rows.append(Comparison(
            a, b, r.seeds, r.mean_difference, r.low, r.high,
            r.p_improvement, r.p_value, float(p) if have else None,
            bool(p <= alpha) if have else None, note))
    return rows
