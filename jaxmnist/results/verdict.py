"""Statistics for a verdict: tuning budget, and aggregates across tasks.

* How much did tuning matter? :func:`expected_max` gives the expected best
  validation score of ``k`` configurations drawn from those tried (Dodge et
  al. 2019, "Show Your Work"); :func:`expected_max_band` its bootstrap band;
  :func:`first_crossing` and :func:`leader_changes` where the curves of two
  or more optimizers change order as the budget grows (Sivaprasad et al.
  2020 show that rankings flip with the budget).
* Which optimizer does well across tasks (activations, datasets, models)?
  :func:`iqm_by_optimizer`: the interquartile mean of scores normalised per
  task (:func:`normalize_per_task`) with stratified bootstrap intervals
  (Agarwal et al. 2021, rliable); :func:`performance_profile` on time to
  target (Dolan and More 2002, as AlgoPerf scores workloads).

Paired comparisons of cells live in :mod:`jaxmnist.results.comparisons`.
Everything is NumPy and SciPy over plain arrays and mappings
(``scipy.stats.bootstrap`` for the tuning band, ``scipy.stats.trim_mean``
for the IQM). What the data cannot give (one configuration, one run per
task) is None with a note saying why, never a made-up interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

Rng = int | np.random.Generator


def check_confidence(confidence: float) -> float:
    """``confidence`` as a float in (0, 1), or a ValueError naming it."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence!r}: expected a number "
                         "strictly between 0 and 1, such as 0.95")
    return float(confidence)


def finite_scores(scores: ArrayLike, what: str = "scores") -> np.ndarray:
    """``scores`` as a non-empty 1-D float64 array of finite values, or a
    ValueError naming the first bad one."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{what} of shape {x.shape}: expected a non-empty "
                         "1-D sequence of numbers")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"{what}[{bad[0]}] = {x[bad[0]]}: expected finite "
                         "numbers (give a diverged run its actual score)")
    return x


def _budgets(k: ArrayLike) -> np.ndarray:
    ks = np.asarray(k)
    if ks.dtype.kind not in "iu" or ks.size == 0 or ks.min() < 1:
        raise ValueError(f"k = {k!r}: expected an integer >= 1 or a "
                         "non-empty array of them")
    return ks


def _expected_max_sorted(ordered: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """E[max of k draws] for scores sorted along the last axis: shape
    ``ordered.shape[:-1] + ks.shape``."""
    n = ordered.shape[-1]
    cdf = np.arange(n + 1) / n                       # F(v_(i)) = i / N
    powers = cdf ** ks.reshape(ks.shape + (1,)).astype(np.float64)
    weights = np.diff(powers, axis=-1)               # P(max = v_(i))
    return np.tensordot(ordered, weights, axes=([-1], [-1]))


def expected_max(scores: ArrayLike, k: ArrayLike) -> float | np.ndarray:
    """Expected best of ``k`` scores drawn i.i.d., with replacement, from
    the empirical distribution of ``scores`` (Dodge et al. 2019, eq. 1).

    With the scores sorted, v_(1) <= ... <= v_(N), and the empirical CDF
    F(v_(i)) = i / N::

        E[max of k] = sum_i v_(i) * ((i / N)^k - ((i - 1) / N)^k)

    exactly, ties included. ``k`` is an integer >= 1 or an array of them
    (the curve is usually drawn for k = 1..N; beyond N it approaches
    max(scores)); the result is a float or an array of k's shape. At k = 1
    it is the mean of the scores: the expected score of one configuration
    picked at random, the nearest thing to "defaults" a grid has.
    What counts as one configuration (a member, or a learning rate's mean
    over seeds) is the caller's choice.
    """
    ks = _budgets(k)
    ordered = np.sort(finite_scores(scores))
    out = _expected_max_sorted(ordered, ks)
    return float(out) if out.ndim == 0 else out


class Band(NamedTuple):
    """A tuning curve with its percentile bootstrap band (None: no band)."""
    k: np.ndarray
    expected: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    note: str  # why there is no band; "" when there is one


def expected_max_band(scores: ArrayLike, ks: ArrayLike, n_boot: int = 2000,
                      confidence: float = 0.95, rng: Rng = 0) -> Band:
    """:func:`expected_max` at each of ``ks`` with a percentile bootstrap
    band: the scores are resampled with replacement (N of N) ``n_boot``
    times and the curve recomputed on each resample
    (``scipy.stats.bootstrap``, ``method="percentile"``, seeded by ``rng``).
    With one score there is no band (``low``/``high`` None, ``note`` why).
    """
    from scipy import stats  # noqa: PLC0415  (import jaxmnist stays light)

    ks = _budgets(ks).reshape(-1)
    x = finite_scores(scores)
    expected = np.asarray(expected_max(x, ks))
    if x.size < 2:
        return Band(ks, expected, None, None,
                    "one configuration: no spread to resample")
    statistic = lambda s, axis: np.moveaxis(
        _expected_max_sorted(np.sort(np.moveaxis(s, axis, -1)), ks), -1, 0)
    ci = stats.bootstrap((x,), statistic, n_resamples=n_boot,
                         confidence_level=check_confidence(confidence),
                         method="percentile", vectorized=True,
                         rng=rng).confidence_interval
    return Band(ks, expected, np.asarray(ci.low), np.asarray(ci.high), "")


def _order(a: float, b: float) -> int:
    """+1 when a > b, -1 when a < b, 0 when they agree to rounding."""
    return 0 if np.isclose(a, b, rtol=1e-12, atol=0.0) else (1 if a > b
                                                              else -1)


def first_crossing(curve_a: ArrayLike, curve_b: ArrayLike,
                   ks: ArrayLike) -> int | None:
    """The first budget in ``ks`` at which two tuning curves (values at
    ``ks``, increasing) change order: the curve ahead at the first budget
    where they differ falls strictly behind. None when they never cross.
    Equal values (to 1e-12 relative) are ties and cross nothing."""
    a, b = np.asarray(curve_a, float), np.asarray(curve_b, float)
    orders = [_order(x, y) for x, y in zip(a, b)]
    ahead = next((o for o in orders if o), 0)
    if ahead == 0:
        return None
    return next((int(k) for k, o in zip(np.asarray(ks), orders)
                 if o == -ahead), None)


def leader_changes(curves: Mapping[str, ArrayLike],
                   ks: ArrayLike) -> list[tuple[int, str]]:
    """(budget, leader) at the first of ``ks`` and wherever the best curve
    changes: a new leader must be strictly ahead of the current one (ties
    to 1e-12 relative keep it; at the first budget the first named of
    the equals leads). ``curves`` maps a name to its values at ``ks``."""
    names = list(curves)
    values = np.asarray([np.asarray(curves[n], float) for n in names])
    ks = np.asarray(ks)
    leader = int(np.argmax(values[:, 0]))
    changes = [(int(ks[0]), names[leader])]
    for j in range(1, len(ks)):
        best = int(np.argmax(values[:, j]))
        if _order(values[best, j], values[leader, j]) > 0:
            leader = best
            changes.append((int(ks[j]), names[leader]))
    return changes


# --------------------------------------------------------------------------
# Across tasks: {optimizer: {task: scores or time}}

#: How :func:`normalize_per_task` puts tasks on one scale.
NORMALIZATIONS = ("minmax", "best")


def task_names(table: Mapping[str, Mapping[str, object]]) -> list[str]:
    """The tasks of {optimizer: {task: ...}}, in the first optimizer's
    order, or a ValueError when some optimizer lacks one or adds one."""
    if not table or not all(table.values()):
        raise ValueError("no optimizer or no task: expected {optimizer: "
                         "{task: values}} with at least one of each")
    tasks = list(next(iter(table.values())))
    for name, row in table.items():
        if set(row) != set(tasks):
            raise ValueError(
                f"optimizer {name!r} has tasks {sorted(row)}: expected "
                f"the tasks {sorted(tasks)}, the same for every optimizer")
    return tasks


def normalize_per_task(scores: Mapping[str, Mapping[str, ArrayLike]],
                       method: str = "minmax"
                       ) -> dict[str, dict[str, np.ndarray]]:
    """Scores of several tasks put on one scale, task by task, with lo_t
    and hi_t the lowest and highest score of any run of any optimizer on
    task t.

    ``"minmax"`` (default): (x - lo_t) / (hi_t - lo_t); on every task the
    worst run scores 0 and the best 1, so tasks weigh the same whatever
    their difficulty (the scale depends on the optimizers compared).
    ``"best"``: x / hi_t, the fraction of the best run's score (for
    accuracies near 1, differences shrink). A task whose runs all score
    the same gives every run 1 under both.
    """
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalization {method!r}: expected one of "
                         f"{NORMALIZATIONS}")
    tasks = task_names(scores)
    arrays = {o: {t: finite_scores(row[t], f"scores[{o!r}][{t!r}]")
                  for t in tasks} for o, row in scores.items()}
    out: dict[str, dict[str, np.ndarray]] = {o: {} for o in arrays}
    for t in tasks:
        pooled = np.concatenate([row[t] for row in arrays.values()])
        lo, hi = pooled.min(), pooled.max()
        for o, row in arrays.items():
            if hi == lo:
                out[o][t] = np.ones_like(row[t])
            elif method == "minmax":
                out[o][t] = (row[t] - lo) / (hi - lo)
            else:
                out[o][t] = row[t] / hi
    return out


def iqm(x: ArrayLike, axis: int = -1) -> float | np.ndarray:
    """Interquartile mean: the mean of the middle half, int(n / 4) values
    cut from each end (``scipy.stats.trim_mean(x, 0.25)``, as rliable)."""
    from scipy import stats  # noqa: PLC0415  (import jaxmnist stays light)

    return stats.trim_mean(np.asarray(x, np.float64), 0.25, axis=axis)


class Aggregate(NamedTuple):
    """One optimizer's IQM over tasks with its stratified bootstrap
    interval (None, with ``note`` why, when there is nothing to resample)."""
    iqm: float
    low: float | None
    high: float | None
    tasks: int
    runs: int
    note: str


def iqm_by_optimizer(scores: Mapping[str, Mapping[str, ArrayLike]], *,
                     normalization: str = "minmax", n_boot: int = 2000,
                     confidence: float = 0.95,
                     rng: Rng = 0) -> dict[str, Aggregate]:
    """Per optimizer, the IQM (:func:`iqm`) of all its runs on all tasks
    after :func:`normalize_per_task`, with a stratified bootstrap interval
    (rliable): each resample draws, within every task separately, as many
    runs as it has, with replacement; the interval is the percentile one
    of the ``n_boot`` resampled IQMs. Tasks with more runs weigh more, so
    give every task the same seeds. ``scores`` maps optimizer -> task ->
    per-seed scores (final test accuracy, say); optimizers are resampled
    in turn from ``rng``."""
    alpha = 1.0 - check_confidence(confidence)
    normalised = normalize_per_task(scores, normalization)
    gen = np.random.default_rng(rng) if isinstance(rng, int) else rng
    out = {}
    for name, row in normalised.items():
        strata = list(row.values())
        runs = sum(x.size for x in strata)
        point = float(iqm(np.concatenate(strata)))
        if all(x.size < 2 for x in strata):
            out[name] = Aggregate(point, None, None, len(strata), runs,
                                  "one run per task: nothing to resample")
            continue
        draws = [x[gen.integers(0, x.size, (n_boot, x.size))]
                 for x in strata]
        boot = iqm(np.concatenate(draws, axis=1), axis=1)
        low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        out[name] = Aggregate(point, float(low), float(high), len(strata),
                              runs, "")
    return out


def performance_ratios(times: Mapping[str, Mapping[str, float | None]]
                       ) -> dict[str, dict[str, float]]:
    """r_{t,s} = time_{t,s} / min_s' time_{t,s'}: how many times longer
    than the fastest optimizer s took to reach the target on task t. Never
    reaching it (None, NaN or inf) is an infinite time, so an infinite
    ratio, as is every ratio on a task no optimizer reached."""
    tasks = task_names(times)
    table = np.array([[np.inf if row[t] is None else row[t] for t in tasks]
                      for row in times.values()], dtype=np.float64)
    table[np.isnan(table)] = np.inf
    if np.any(table <= 0):
        raise ValueError(f"times {table.tolist()}: expected positive times "
                         "(None for never reaching the target)")
    fastest = table.min(axis=0)
    with np.errstate(invalid="ignore"):
        ratios = np.where(np.isfinite(fastest), table / fastest, np.inf)
    return {o: dict(zip(tasks, map(float, r)))
            for o, r in zip(times, ratios)}


def performance_profile(times: Mapping[str, Mapping[str, float | None]],
                        taus: ArrayLike) -> dict[str, np.ndarray]:
    """The performance profile (Dolan and More 2002) on time to target::

        rho_s(tau) = |{t : r_{t,s} <= tau}| / |T|

    the fraction of tasks on which optimizer s reaches the target within a
    factor tau of the fastest (:func:`performance_ratios`), at each of
    ``taus`` (tau >= 1; rho_s(1) is the fraction of tasks s is fastest
    on). ``times`` maps optimizer -> task -> time (seconds, epochs or steps,
    one per task: a median over seeds, say)."""
    grid = np.asarray(taus, dtype=np.float64).reshape(-1)
    ratios = performance_ratios(times)
    return {o: np.mean(np.asarray(list(r.values()))[:, None] <= grid, axis=0)
            for o, r in ratios.items()}
