"""From runs' records to the tables a verdict's statistics take.

A *task* is what the optimizers are scored on: one activation of one run
(one dataset and model). Within a run a task is named by its activation
(``relu``); across runs by the run's dataset too (``mnist/relu``). An
*optimizer* is a setup (``adam``, ``adam-bn``). The tables are plain
mappings, optimizer -> task -> values, in the runs' order:

* :func:`tuning_scores`: the final validation accuracy of every member
  (every learning rate and seed), the configurations tried;
* :func:`chosen_scores`: seed -> final test accuracy at each cell's chosen
  tuning (validation chose it), the paired design's scores;
* :func:`default_scores`: the same at the optimizer's registry default
  learning rate (validation accuracy), where the grid holds it;
* :func:`target_epochs`: the median over seeds of the first epoch whose
  validation accuracy reached the target, at the chosen tuning.

A diverged member, or one whose accuracy is not finite, scores chance
(:data:`CHANCE`): it failed, and leaving it out would reward the
optimizer for its failures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from jaxmnist.optim.registry import get_spec
from jaxmnist.results.records import HistoryRow, MemberResult, RunRecords
from jaxmnist.results.stats import cell_of, chosen_tuning, tuning_of

#: The score of a diverged member: one class of ten, what a network that
#: predicts a single class scores on a balanced split.
CHANCE = 0.1

Table = dict[str, dict[str, object]]


#: Runs by label (a dataset's name, say): what every function here takes.
Runs = Mapping[str, RunRecords]


def task_name(label: str, activation: str, across: bool) -> str:
    """``relu`` within a run, ``mnist/relu`` (label/activation) across."""
    return f"{label}/{activation}" if across else activation


def _score(member: MemberResult, metric: str) -> float:
    value = getattr(member, metric)
    return CHANCE if member.diverged or not math.isfinite(value) else value


def _across(runs: Runs) -> bool:
    if not runs:
        raise ValueError("no runs: expected at least one run's records")
    return len(runs) > 1


def tuning_scores(runs: Runs
                  ) -> dict[str, dict[str, np.ndarray]]:
    """optimizer -> task -> the final validation accuracy of every member
    (each learning rate, seed and other tuning tried)."""
    across = _across(runs)
    out: dict[str, dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list))
    for label, run in runs.items():
        for m in run.members:
            out[m.setup][task_name(label, m.activation, across)].append(
                _score(m, "val_accuracy"))
    return {o: {t: np.asarray(v) for t, v in row.items()}
            for o, row in out.items()}


def chosen_scores(runs: Runs, metric: str = "test_accuracy"
                  ) -> dict[str, dict[str, dict[int, float]]]:
    """optimizer -> task -> seed -> ``metric`` of the member at its cell's
    chosen tuning (best mean validation accuracy)."""
    across = _across(runs)
    out: dict[str, dict[str, dict[int, float]]] = defaultdict(dict)
    for label, run in runs.items():
        chosen = chosen_tuning(run.cells)
        for m in run.members:
            if chosen.get(cell_of(m)) == tuning_of(m):
                task = task_name(label, m.activation, across)
                out[m.setup].setdefault(task, {})[m.seed] = _score(m, metric)
    return dict(out)


def default_scores(runs: Runs
                   ) -> dict[str, dict[str, np.ndarray]]:
    """optimizer -> task -> the final validation accuracy of every seed
    at the optimizer's registry default learning rate (other tuning at
    its default); an optimizer whose grid lacks that rate is left out."""
    across = _across(runs)
    out: dict[str, dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list))
    for label, run in runs.items():
        for m in run.members:
            default = get_spec(m.optimizer).learning_rate
            if math.isclose(m.learning_rate, default, rel_tol=1e-4) and \
                    not (m.dropout or m.weight_decay or m.optimizer_options):
                out[m.setup][task_name(label, m.activation, across)].append(
                    _score(m, "val_accuracy"))
    return {o: {t: np.asarray(v) for t, v in row.items()}
            for o, row in out.items()}


def first_epochs(history: Sequence[HistoryRow], target: float
                 ) -> dict[tuple, int | None]:
    """(cell, tuning, seed) -> the first epoch (1-based) whose validation
    accuracy reached ``target`` before diverging, or None."""
    rows: dict[tuple, list[HistoryRow]] = defaultdict(list)
    for h in history:
        rows[(cell_of(h), tuning_of(h), h.seed)].append(h)
    out = {}
    for key, hs in rows.items():
        hit = [h.epoch for h in sorted(hs, key=lambda h: h.epoch)
               if not h.diverged and h.val_accuracy >= target]
        out[key] = hit[0] if hit else None
    return out


def target_epochs(runs: Runs,
                  targets: Mapping[str, float] | None = None
                  ) -> dict[str, dict[str, float | None]]:
    """optimizer -> task -> the median over seeds of the first epoch at
    which validation accuracy reached the target, at the chosen tuning;
    None when fewer than half the seeds reached it (a seed that never did
    counts as infinitely late). ``targets`` maps a dataset to its target;
    a run's own (``config.target``) otherwise."""
    across = _across(runs)
    out: dict[str, dict[str, float | None]] = defaultdict(dict)
    for label, run in runs.items():
        target = dict(targets or {}).get(run.config.dataset,
                                         run.config.target)
        chosen = chosen_tuning(run.cells)
        epochs: dict[tuple, list[float]] = defaultdict(list)
        for (cell, tuning, _), e in first_epochs(run.history, target).items():
            if chosen.get(cell) == tuning:
                epochs[cell].append(math.inf if e is None else float(e))
        for (setup, act), es in epochs.items():
            median = float(np.median(es))
            out[setup][task_name(label, act, across)] = (
                median if math.isfinite(median) else None)
    return dict(out)


def run_targets(runs: Runs,
                targets: Mapping[str, float] | None = None
                ) -> dict[str, float]:
    """dataset -> the target each run's time to target is measured at."""
    given = dict(targets or {})
    return {r.config.dataset: given.get(r.config.dataset, r.config.target)
            for r in runs.values()}


def shared_optimizers(runs: Runs) -> list[str]:
    """The setups every run trained, in the first run's order, or a
    ValueError naming what each run that lacks some of them lacks."""
    sets = {label: dict.fromkeys(m.setup for m in r.members)
            for label, r in runs.items()}
    every = list(dict.fromkeys(o for s in sets.values() for o in s))
    missing = [f"{label} lacks {', '.join(o for o in every if o not in s)}"
               for label, s in sets.items() if len(s) < len(every)]
    if missing:
        raise ValueError("runs do not share the optimizers compared ("
                         + ", ".join(every) + "): " + "; ".join(missing))
    return list(next(iter(sets.values())))
