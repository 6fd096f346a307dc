"""Aggregate members into cells: seeds -> mean, std, 95% CI; choose the lr.

A *cell* is one (optimizer, activation) pair; within it there may be several
learning rates, each trained with several seeds. Diverged members are left out
of every mean. The learning rate of a cell is chosen by the best mean final
*validation* accuracy; test accuracy is never looked at for any choice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from jaxmnist.results.records import CellResult, MemberResult, setup_label

# two-sided 95% Student t quantiles t_{0.975, df}, df = 1..30
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060,
         2.2622, 2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199,
         2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
         2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        return math.nan
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964  # Cornish-Fisher expansion; error < 1e-4 for df > 30
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (
        96 * df ** 2)


class Stat(NamedTuple):
    n: int
    mean: float
    std: float  # sample standard deviation (ddof 1); 0 for one value
    ci95: float  # half-width of the 95% Student-t confidence interval


def describe(values: Iterable[float]) -> Stat:
    """n, mean, std and 95% CI half-width of the finite ``values``."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)],
                   np.float64)
    if v.size == 0:
        return Stat(0, math.nan, math.nan, math.nan)
    if v.size == 1:
        return Stat(1, float(v[0]), 0.0, math.nan)
    std = float(v.std(ddof=1))
    return Stat(int(v.size), float(v.mean()), std,
                t_quantile_975(v.size - 1) * std / math.sqrt(v.size))


#: What identifies a cell (compared) and what is tuned within it (chosen).
CELL_KEY = ("optimizer", "activation", "model", "hidden", "batch_norm")
TUNED = ("learning_rate", "dropout", "weight_decay", "optimizer_options")


def cell_of(row) -> tuple[str, str]:
    """(setup, activation): the cell of a member, cell, history or dynamics
    row; the setup names the optimizer and its structure."""
    return setup_label(row), row.activation


def tuning_of(row) -> tuple:
    """(learning rate, dropout, weight decay, optimizer options)."""
    return tuple(getattr(row, k) for k in TUNED)


def combo_of(row) -> tuple:
    """The cell and its tuning: what a row of cells.csv stands for."""
    return (*cell_of(row), *tuning_of(row))


def chosen_tuning(cells) -> dict[tuple, tuple]:
    """Each cell's chosen tuning (best mean validation accuracy)."""
    return {cell_of(c): tuning_of(c) for c in cells if c.chosen}


def cell_results(members: Iterable[MemberResult]) -> list[CellResult]:
    """One record per cell and tuned combination (learning rate, dropout,
    weight decay, optimizer options), in first-seen order, with the chosen
    combination of each cell marked: the best mean validation accuracy
    (test accuracy is never looked at)."""
    groups: dict[tuple, list[MemberResult]] = defaultdict(list)
    for m in members:
        groups[tuple(getattr(m, k) for k in CELL_KEY + TUNED)].append(m)
    cells = [_cell(ms) for ms in groups.values()]
    best: dict[tuple, int] = {}
    for i, c in enumerate(cells):
        key = tuple(getattr(c, k) for k in CELL_KEY)
        if key not in best or _score(c) > _score(cells[best[key]]):
            best[key] = i
    chosen = set(best.values())
    return [c._replace(chosen=i in chosen) for i, c in enumerate(cells)]


def _score(c: CellResult) -> float:
    return -math.inf if math.isnan(c.val_mean) else c.val_mean


def _cell(members: list[MemberResult]) -> CellResult:
    ok = [m for m in members if not m.diverged]
    val = describe(m.val_accuracy for m in ok)
    test = describe(m.test_accuracy for m in ok)
    epochs = [m.target_epoch for m in ok if m.target_epoch is not None]
    seconds = [m.target_seconds for m in ok if m.target_seconds is not None]
    first = members[0]
    return CellResult(
        **{k: getattr(first, k) for k in CELL_KEY + TUNED},
        chosen=False, seeds=len(members),
        diverged=len(members) - len(ok), val_mean=val.mean, val_std=val.std,
        val_ci95=val.ci95, test_mean=test.mean, test_std=test.std,
        test_ci95=test.ci95, reached_target=len(epochs),
        target_epoch_mean=float(np.mean(epochs)) if epochs else None,
        target_seconds_mean=float(np.mean(seconds)) if seconds else None)


def chosen_cells(cells: Iterable[CellResult]) -> list[CellResult]:
    """The chosen learning rate's cell of every (optimizer, activation)."""
    return [c for c in cells if c.chosen]


def has_lr_grid(cells: Iterable[CellResult]) -> bool:
    """True when some cell trained several learning rates."""
    seen: dict[tuple, set] = defaultdict(set)
    for c in cells:
        seen[tuple(getattr(c, k) for k in CELL_KEY)].add(c.learning_rate)
    return any(len(v) > 1 for v in seen.values())


def best_member(members: Iterable[MemberResult]) -> MemberResult | None:
    """The non-diverged member with the best final validation accuracy
    (the first of equals), or None when every member diverged."""
    ok = [m for m in members if not m.diverged
          and math.isfinite(m.val_accuracy)]
    return max(ok, key=lambda m: m.val_accuracy) if ok else None
