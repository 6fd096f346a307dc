"""A verdict's numbers, from one run or several: ranking, paired
comparisons, tuning curves and time to target (see docs/verdict.md).

* **Ranking**: per optimizer, the interquartile mean of its test accuracy
  at each cell's chosen tuning, normalised per task (min-max over every
  optimizer's runs on the task), with a stratified bootstrap interval
  (:func:`~jaxmnist.results.verdict.iqm_by_optimizer`).
* **Comparisons** (comparisons.csv), two families, each corrected by Holm:
  optimizers paired over every (task, seed) both have (a seed shares its
  initial draws and data order across cells, so a task and a seed make a
  pair), and cells, optimizer pairs within each task paired over seeds.
* **Tuning**: per run and optimizer, the expected best validation
  accuracy of ``k`` configurations (members) per activation, averaged over
  activations, with its band (:mod:`jaxmnist.results.budget`), and the mean
  validation accuracy at the registry's default learning rate.
* **Time to target**: optimizer -> task -> median epoch, for the
  performance profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxmnist import files
from jaxmnist.results import evidence
from jaxmnist.results.budget import mean_expected_max_band
from jaxmnist.results.comparisons import Comparison, compare_cells
from jaxmnist.results.evidence import Runs
from jaxmnist.results.stats import has_lr_grid
from jaxmnist.results.verdict import Aggregate, Band, iqm_by_optimizer

#: What a run dir (or a compare folder) holds from this module.
COMPARISONS = "comparisons.csv"
COMPARISON_COLUMNS = ("family", *Comparison._fields)
FAMILIES = ("optimizers", "cells")


class Ranked(NamedTuple):
    """One optimizer in the ranking."""
    optimizer: str
    aggregate: Aggregate  # IQM of normalised test accuracy, its interval
    mean_test: float  # mean raw test accuracy over tasks and seeds


class Verdict(NamedTuple):
    """Everything the Verdict section and verdict.md say, as numbers."""
    runs: list[str]  # labels
    optimizers: list[str]
    tasks: list[str]
    seeds: int  # the fewest seeds behind any (optimizer, task)
    lr_grid: bool  # some cell tried several learning rates
    ranking: list[Ranked]  # best IQM first
    optimizer_rows: list[Comparison]  # A ranked above B
    cell_rows: list[Comparison]  # "A / task" against "B / task"
    tuning: dict[str, dict[str, Band]]  # run label -> optimizer -> curve
    defaults: dict[str, float]  # optimizer -> mean val acc at default lr
    times: dict[str, dict[str, float | None]]  # optimizer -> task -> epoch
    targets: dict[str, float]  # dataset -> target


def judge(runs: Runs, targets: Mapping[str, float] | None = None,
          n_boot: int = 2000, rng: int = 0) -> Verdict:
    """The verdict of ``runs`` (label -> records); every bootstrap and
    permutation seeded from ``rng``, so the same runs give the same
    numbers. Raises a ValueError when the runs do not share their
    optimizers."""
    optimizers = evidence.shared_optimizers(runs)
    chosen = evidence.chosen_scores(runs)
    chosen = {o: chosen[o] for o in optimizers if o in chosen}
    tasks = list(next(iter(chosen.values())))
    ranking = rank(chosen, n_boot, rng)
    order = [r.optimizer for r in ranking]
    return Verdict(
        list(runs), order, tasks,
        min(len(s) for row in chosen.values() for s in row.values()),
        any(has_lr_grid(r.cells) for r in runs.values()), ranking,
        optimizer_comparisons(chosen, order, rng),
        cell_comparisons(chosen, order, tasks, rng),
        tuning_curves(runs, n_boot, rng), default_means(runs),
        evidence.target_epochs(runs, targets),
        evidence.run_targets(runs, targets))


def rank(chosen: Mapping[str, Mapping[str, Mapping]], n_boot: int = 2000,
         rng: int = 0) -> list[Ranked]:
    """The optimizers of ``chosen`` (optimizer -> task -> seed -> score),
    best IQM of normalised scores first (ties in the given order)."""
    arrays = {o: {t: np.asarray(list(v.values())) for t, v in row.items()}
              for o, row in chosen.items()}
    found = iqm_by_optimizer(arrays, n_boot=n_boot, rng=rng)
    return sorted((Ranked(o, found[o], float(np.mean(np.concatenate(
        list(arrays[o].values()))))) for o in arrays),
        key=lambda r: -r.aggregate.iqm)


def _pairs(order: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]


def optimizer_comparisons(chosen: Mapping[str, Mapping[str, Mapping]],
                          order: list[str], rng: int = 0
                          ) -> list[Comparison]:
    """Every pair of optimizers, the better-ranked first, paired over the
    (task, seed) runs both have; Holm over these rows."""
    scores = {o: {(t, s): v for t, row in chosen[o].items()
                  for s, v in row.items()} for o in order}
    return compare_cells(scores, _pairs(order), rng=rng)


def cell_label(optimizer: str, task: str) -> str:
    return f"{optimizer} / {task}"


def cell_comparisons(chosen: Mapping[str, Mapping[str, Mapping]],
                     order: list[str], tasks: list[str], rng: int = 0
                     ) -> list[Comparison]:
    """Within each task, every pair of optimizers (in ranking order),
    paired over seeds; Holm over all these rows together."""
    scores = {cell_label(o, t): chosen[o][t] for t in tasks for o in order}
    pairs = [(cell_label(a, t), cell_label(b, t)) for t in tasks
             for a, b in _pairs(order)]
    return compare_cells(scores, pairs, rng=rng)


def tuning_curves(runs: Runs, n_boot: int = 2000, rng: int = 0
                  ) -> dict[str, dict[str, Band]]:
    """Run label -> optimizer -> its tuning curve over k = 1 .. the most
    members any optimizer of the run has per activation."""
    out = {}
    for label, run in runs.items():
        scores = evidence.tuning_scores({label: run})
        most = max(x.size for row in scores.values() for x in row.values())
        ks = np.arange(1, most + 1)
        out[label] = {o: mean_expected_max_band(row, ks, n_boot, rng=rng)
                      for o, row in scores.items()}
    return out


def default_means(runs: Runs) -> dict[str, float]:
    """optimizer -> mean validation accuracy at its default learning rate,
    over tasks and seeds (only optimizers whose grid holds it)."""
    scores = evidence.default_scores(runs)
    return {o: float(np.mean(np.concatenate(list(row.values()))))
            for o, row in scores.items() if row}


def comparison_rows(verdict: Verdict) -> list[dict]:
    """comparisons.csv's rows: the optimizer family, then the cells'."""
    rows = []
    for family, found in zip(FAMILIES, (verdict.optimizer_rows,
                                        verdict.cell_rows)):
        rows += [{"family": family, **{k: "" if v is None else v
                                       for k, v in c._asdict().items()}}
                 for c in found]
    return rows


def write_comparisons(path: str | Path, verdict: Verdict) -> Path:
    """comparisons.csv, written atomically."""
    files.write_csv(Path(path), COMPARISON_COLUMNS, comparison_rows(verdict))
    return Path(path)
