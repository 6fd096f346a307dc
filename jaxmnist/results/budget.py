"""Tuning curves over several tasks: the expected best validation score of
``k`` configurations per task, averaged over the tasks, with a stratified
bootstrap band.

An optimizer tuned on each task separately (a learning rate chosen per
activation, as the sweep does) gets one curve per task from
:func:`jaxmnist.results.verdict.expected_max`; their mean says what ``k``
tries per task buy on average. The band resamples each task's
configurations within that task (as rliable's stratified bootstrap does),
recomputes every task's curve and averages them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from jaxmnist.results.verdict import (
    Band,
    Rng,
    check_confidence,
    expected_max,
    finite_scores,
)


def _curves(draws: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """expected_max of each row of ``draws`` at ``ks``: [rows, len(ks)]."""
    ordered = np.sort(draws, axis=-1)
    n = ordered.shape[-1]
    cdf = np.arange(n + 1) / n
    weights = np.diff(cdf ** ks[:, None].astype(np.float64), axis=-1)
    return ordered @ weights.T


def mean_expected_max_band(scores: Mapping[str, ArrayLike], ks: ArrayLike,
                           n_boot: int = 2000, confidence: float = 0.95,
                           rng: Rng = 0) -> Band:
    """The mean over tasks of each task's :func:`expected_max` at ``ks``,
    with a percentile band from a stratified bootstrap: ``n_boot`` times,
    every task's scores are resampled with replacement within the task
    and the mean curve recomputed. ``scores`` maps a task to the scores of
    the configurations tried on it. No band (``note`` says why) when every
    task has a single configuration."""
    alpha = 1.0 - check_confidence(confidence)
    ks = np.asarray(ks).reshape(-1)
    tasks = {t: finite_scores(s, f"scores[{t!r}]") for t, s in scores.items()}
    if not tasks:
        raise ValueError("no tasks: expected {task: scores} with at least "
                         "one task")
    expected = np.mean([np.atleast_1d(expected_max(x, ks))
                        for x in tasks.values()], axis=0)
    if all(x.size < 2 for x in tasks.values()):
        return Band(ks, expected, None, None,
                    "one configuration per task: no spread to resample")
    gen = np.random.default_rng(rng) if isinstance(rng, int) else rng
    boot = np.mean([_curves(x[gen.integers(0, x.size, (n_boot, x.size))],
                            ks) for x in tasks.values()], axis=0)
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    return Band(ks, expected, low, high, "")
