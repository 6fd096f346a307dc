"""lr_find's records: the range tests, their suggestions, and their grades
against the rates a tuned run chose on validation.

A tuned run trains a grid of rates per cell and keeps the one with the
best mean validation accuracy; :func:`grade` puts each rule's suggestion
on that grid (the nearest tried rate, in log distance) and reads off the
validation accuracy it would have given, next to the chosen rate's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxmnist.results.records import CellResult
from jaxmnist.results.stats import cell_of, tuning_of

#: What lr_find writes into its output dir.
LR_FIND_FILES = ("lr_find.csv", "lr_find_suggestions.csv",
                 "lr_find_grading.csv")
RULES = ("steepest", "minimum_tenth")
#: A suggestion "picks well" when the validation accuracy of its nearest
#: tried rate is within this of the chosen rate's.
WELL = 0.005


class LrFindRow(NamedTuple):
    """lr_find.csv: one step of one member's range test."""
    optimizer: str
    activation: str
    step: int
    learning_rate: float
    loss: float
    smoothed_loss: float


class LrSuggestion(NamedTuple):
    """lr_find_suggestions.csv: each rule's rate for one member (NaN when
    the test diverged before it could say) and the step it diverged at
    (the number of steps when it never did)."""
    optimizer: str
    activation: str
    steepest: float
    minimum_tenth: float
    diverged_step: int


class LrGrade(NamedTuple):
    """lr_find_grading.csv: one cell of the tuned run, its chosen rate and
    validation accuracy, and for each rule the suggestion, the nearest
    tried rate and that rate's mean validation accuracy."""
    optimizer: str
    activation: str
    chosen_lr: float
    chosen_val: float
    tried: str  # the tried rates, "a;b;c"
    steepest: float
    steepest_nearest: float
    steepest_val: float
    minimum_tenth: float
    minimum_tenth_nearest: float
    minimum_tenth_val: float


def grade(suggestions: Sequence[LrSuggestion],
          cells: Sequence[CellResult]) -> list[LrGrade]:
    """The grade of each suggestion whose (optimizer, activation) is a cell
    of ``cells`` (a tuned run's), on the rates tried at the cell's chosen
    dropout, weight decay and options."""
    out = []
    for s in suggestions:
        cell = [c for c in cells if cell_of(c) == (s.optimizer, s.activation)]
        chosen = next((c for c in cell if c.chosen), None)
        if chosen is None:
            continue
        grid = sorted((c for c in cell if tuning_of(c)[1:] ==
                       tuning_of(chosen)[1:]), key=lambda c: c.learning_rate)
        picks = [_nearest(getattr(s, rule), grid) for rule in RULES]
        out.append(LrGrade(
            s.optimizer, s.activation, chosen.learning_rate, chosen.val_mean,
            ";".join(f"{c.learning_rate:g}" for c in grid),
            s.steepest, *picks[0], s.minimum_tenth, *picks[1]))
    return out


def _nearest(rate: float, grid: list[CellResult]) -> tuple[float, float]:
    if not math.isfinite(rate) or not grid:
        return math.nan, math.nan
    c = min(grid, key=lambda c: abs(math.log(c.learning_rate / rate)))
    return c.learning_rate, c.val_mean


def verdict(grades: Sequence[LrGrade]) -> str:
    """A sentence per rule: how often its nearest tried rate was the chosen
    one, and how often its validation accuracy was within :data:`WELL`."""
    if not grades:
        return "No cell of the tuned run matches the range tests."
    lines = []
    for rule, name in zip(RULES, ("steepest descent", "minimum / 10")):
        nearest = np.asarray([getattr(g, f"{rule}_nearest") for g in grades])
        vals = np.asarray([getattr(g, f"{rule}_val") for g in grades])
        chosen = np.asarray([g.chosen_val for g in grades])
        same = int(np.sum(nearest == np.asarray([g.chosen_lr
                                                 for g in grades])))
        gap = chosen - vals
        well = int(np.sum(gap <= WELL))
        ok = np.isfinite(gap)
        mean_gap = f"{np.mean(gap[ok]):.4f}" if ok.any() else "n/a"
        lines.append(
            f"The {name} rule would have picked the rate chosen on "
            f"validation in {same} of {len(grades)} cells, and a rate within "
            f"{WELL} validation accuracy of it in {well} of {len(grades)} "
            f"(mean shortfall {mean_gap}; {int(np.sum(~ok))} without a "
            f"suggestion).")
    return " ".join(lines)


def grading_table(grades: Sequence[LrGrade]) -> str:
    """The grades as a markdown table."""
    f = lambda x: "–" if not math.isfinite(x) else f"{x:.3g}"
    a = lambda x: "–" if not math.isfinite(x) else f"{x:.4f}"
    head = ("| optimizer | activation | chosen lr (val) | tried | steepest → "
            "nearest (val) | min/10 → nearest (val) |\n|---|---|---|---|---|"
            "---|")
    rows = [f"| {g.optimizer} | {g.activation} | {f(g.chosen_lr)} "
            f"({a(g.chosen_val)}) | {g.tried.replace(';', ', ')} | "
            f"{f(g.steepest)} → {f(g.steepest_nearest)} "
            f"({a(g.steepest_val)}) | {f(g.minimum_tenth)} → "
            f"{f(g.minimum_tenth_nearest)} ({a(g.minimum_tenth_val)}) |"
            for g in grades]
    return "\n".join([head, *rows])
