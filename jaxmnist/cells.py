"""Aggregate members into cells: seeds -> mean, std, 95% CI; choose the lr.

A *cell* is one (optimizer, activation) pair; within it there may be several
learning rates, each trained with several seeds. Diverged members are left out
of every mean. The learning rate of a cell is chosen by the best mean final
*validation* accuracy; test accuracy is never looked at for any choice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable, NamedTuple

import numpy as np

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


def is_diverged(row: dict) -> bool:
    return row.get("diverged_epoch") not in (None, "", 0)


class Cell(NamedTuple):
    optimizer: str
    activation: str
    learning_rate: float
    seeds: int  # members trained
    diverged: int  # of which diverged
    val: Stat
    test: Stat
    chosen: bool  # the lr with the best mean validation accuracy


def cells(rows: Iterable[dict]) -> list[Cell]:
    """One Cell per (optimizer, activation, learning rate), with the chosen
    learning rate of each (optimizer, activation) marked."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["optimizer"], r["activation"], float(r["learning_rate"]))
               ].append(r)
    out = []
    for (opt, act, lr), rs in groups.items():
        ok = [r for r in rs if not is_diverged(r)]
        out.append(Cell(opt, act, lr, len(rs), len(rs) - len(ok),
                        describe(float(r["val_accuracy"]) for r in ok),
                        describe(float(r["test_accuracy"]) for r in ok),
                        False))
    best: dict[tuple, Cell] = {}
    for c in out:  # choose by validation only
        key = (c.optimizer, c.activation)
        score = c.val.mean if c.val.n else -math.inf
        if key not in best or score > (best[key].val.mean if best[key].val.n
                                       else -math.inf):
            best[key] = c
    chosen = {id(c) for c in best.values()}
    return [c._replace(chosen=id(c) in chosen) for c in out]


def chosen_cells(rows: Iterable[dict]) -> list[Cell]:
    """The chosen learning rate's cell of every (optimizer, activation)."""
    return [c for c in cells(rows) if c.chosen]


def has_lr_grid(rows: Iterable[dict]) -> bool:
    """True when some (optimizer, activation) trained several learning rates."""
    seen: dict[tuple, set] = defaultdict(set)
    for r in rows:
        seen[(r["optimizer"], r["activation"])].add(float(r["learning_rate"]))
    return any(len(v) > 1 for v in seen.values())
