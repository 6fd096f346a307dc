"""Cells side by side: the sorted dot plot of test accuracy and the heatmap.

Both show each (optimizer, activation) at its chosen learning rate and mark
the best cell by mean validation accuracy (never by test accuracy).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from jaxmnist.report.style import (
    cell_label,
    ordered,
    plt,
    save_figure,
    wrap,
)
from jaxmnist.results.records import CellResult, MemberResult
from jaxmnist.results.stats import cell_of, chosen_cells, combo_of
from jaxmnist.results.tables import best_cell, tuning_note

BEST_COLOR = "C3"


def _n(c: CellResult) -> int:
    """The seeds a cell's test statistics cover (0 when all diverged)."""
    return 0 if math.isnan(c.test_mean) else c.finite


def _ci(c: CellResult) -> float:
    return c.test_ci95 if _n(c) > 1 and math.isfinite(c.test_ci95) else 0.0


def _seed_values(members: Sequence[MemberResult]) -> dict[tuple, list[float]]:
    out: dict[tuple, list[float]] = defaultdict(list)
    for m in members:
        if not m.diverged and math.isfinite(m.test_accuracy):
            out[combo_of(m)].append(m.test_accuracy)
    return out


def _x_range(cs: list[CellResult], seeds: dict[tuple, list[float]]
             ) -> tuple[float, float]:
    """The means and seeds, and the CIs as far as they stay within one more
    span of the data and below 1 (longer CIs run off the axis)."""
    data = [c.test_mean for c in cs if _n(c)]
    data += [v for c in cs for v in seeds.get(combo_of(c), [])]
    if not data:
        return 0.0, 1.0
    lo, hi = min(data), max(data)
    span = max(hi - lo, 0.002)
    ci_lo = min([c.test_mean - _ci(c) for c in cs if _n(c)], default=lo)
    ci_hi = max([c.test_mean + _ci(c) for c in cs if _n(c)], default=hi)
    lo, hi = max(ci_lo, lo - span), min(ci_hi, hi + span, 1.0)
    pad = max(hi - lo, 0.002) * 0.06
    return lo - pad, min(hi + pad, 1.0 + pad)


def _value_text(c: CellResult) -> str:
    if not _n(c):
        return "all seeds diverged"
    return f"{c.test_mean:.4f}" + (f" ± {_ci(c):.4f}" if _ci(c) else "")


def plot_test_bar(cells: list[CellResult], path,
                  members: Sequence[MemberResult] = (), note: str = "") -> None:
    """A dot plot: every cell's mean test accuracy with its 95% CI (and its
    seeds as grey dots), sorted by the mean, its learning rate in its
    label; cells whose seeds all diverged at the bottom. The x-axis spans
    the data (positions, not bar lengths, carry the values)."""
    cs = sorted(chosen_cells(cells), key=lambda c: (
        _n(c) == 0, -(c.test_mean if _n(c) else 0)))
    best, seeds = best_cell(cells), _seed_values(members)
    fig, ax = plt.subplots(figsize=(8, max(2.4, 1.2 + 0.26 * len(cs))),
                           layout="constrained")
    y = np.arange(len(cs))[::-1]
    ax.set_xlim(*_x_range(cs, seeds))
    for yi, c in zip(y, cs):
        mine = seeds.get(combo_of(c), [])
        if len(mine) > 1:
            ax.plot(mine, [yi] * len(mine), "o", color="0.6", ms=3, alpha=0.7)
        color = BEST_COLOR if c == best else "C0"
        if _n(c):
            ax.errorbar(c.test_mean, yi, xerr=_ci(c) or None, fmt="o",
                        color=color, ms=6, capsize=3, lw=1.4)
        ax.text(1.01, yi, _value_text(c), transform=ax.get_yaxis_transform(),
                va="center", fontsize=8, color="C3" if not _n(c) else "k")
    labels = [cell_label(c.setup, c.activation, c.learning_rate)
              + tuning_note(c) for c in cs]
    ax.set_yticks(y, labels, fontsize=8)
    for tick, c in zip(ax.get_yticklabels(), cs):
        if c == best:
            tick.set_color(BEST_COLOR)
            tick.set_fontweight("bold")
    ax.set_ylim(-0.7, len(cs) - 0.3)
    ax.grid(axis="x", alpha=0.3)
    ax.grid(axis="y", alpha=0.12)
    many = any(c.seeds > 1 for c in cs)
    ax.set_xlabel("test accuracy" + (" (dot: mean over seeds; bar: 95% CI; "
                                      "grey: single seeds)" if many else ""))
    ax.legend([Line2D([], [], ls="", marker="o", color=BEST_COLOR)],
              ["best cell by mean validation accuracy"], loc="lower left",
              fontsize=8, frameon=False, bbox_to_anchor=(0, 1.0), ncol=1)
    ax.set_title(wrap("Test accuracy per cell at its chosen learning rate, "
                      "sorted" + (f"\n{note}" if note else ""), 7.5),
                 fontsize=10, pad=18)
    save_figure(fig, path)


def _row_rates(cs: dict[tuple, CellResult], opts: list[str]
               ) -> dict[str, float | None]:
    """Each optimizer's learning rate when all its cells chose the same."""
    rates: dict[str, set] = defaultdict(set)
    for (o, _), c in cs.items():
        rates[o].add(c.learning_rate)
    return {o: next(iter(rates[o])) if len(rates[o]) == 1 else None
            for o in opts}


def _cell_texts(ax, cs: dict[tuple, CellResult], opts: list[str],
                acts: list[str], row_lr: dict[str, float | None],
                scale: tuple[float, float]) -> None:
    """Each cell's mean (± CI), and its rate when its row has several."""
    vmin, vmax = scale
    for (o, a), c in cs.items():
        text = _value_text(c).replace(" ± ", "\n±").replace(
            "all seeds diverged", "diverged")
        if row_lr[o] is None:
            text += f"\nlr {c.learning_rate:.3g}"
        text += tuning_note(c, "\n")
        dark = _n(c) and (c.test_mean - vmin) / (vmax - vmin) < 0.6
        ax.text(acts.index(a), opts.index(o), text, ha="center",
                va="center", fontsize=8, color="white" if dark else "black")


def plot_heatmap(cells: list[CellResult], path, optimizers: Sequence[str] = (),
                 activations: Sequence[str] = (), note: str = "") -> None:
    """Optimizer x activation, mean test accuracy (± 95% CI over seeds),
    each at its chosen learning rate (in the row label when a row shares
    one, else in the cell); the best cell by validation outlined."""
    cs = {cell_of(c): c for c in chosen_cells(cells)}
    opts = ordered((k[0] for k in cs), optimizers)
    acts = ordered((k[1] for k in cs), activations)
    grid = np.full((len(opts), len(acts)), np.nan)
    for (o, a), c in cs.items():
        if _n(c):
            grid[opts.index(o), acts.index(a)] = c.test_mean
    fig, ax = plt.subplots(figsize=(1.35 * len(acts) + 2.8,
                                    0.62 * len(opts) + 1.9),
                           layout="constrained")
    finite = grid[np.isfinite(grid)]
    vmin = float(finite.min()) if finite.size else 0.0
    vmax = float(finite.max()) if finite.size else 1.0
    if vmax - vmin < 1e-3:  # one value: mid-scale
        vmin, vmax = vmin - 5e-4, vmax + 5e-4
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=vmin,
                   vmax=vmax, aspect="auto")
    ax.set_facecolor("0.85")
    row_lr = _row_rates(cs, opts)
    _cell_texts(ax, cs, opts, acts, row_lr, (vmin, vmax))
    best = best_cell(cells)
    if best is not None:
        ax.add_patch(Rectangle((acts.index(best.activation) - 0.5,
                                opts.index(best.setup) - 0.5), 1, 1,
                               fill=False, ec=BEST_COLOR, lw=2.5))
    ax.set_xticks(range(len(acts)), acts, rotation=30, ha="right")
    ax.set_yticks(range(len(opts)), [o if row_lr[o] is None else
                                     f"{o} (lr {row_lr[o]:.3g})" for o in opts])
    ax.set_xlabel("activation")
    ax.set_ylabel("optimizer")
    seeds = max((c.seeds for c in cs.values()), default=1)
    ax.set_title(wrap("Test accuracy" + (" (mean ± 95% CI over seeds)"
                                         if seeds > 1 else "")
                      + "; outlined: best cell by validation"
                      + (f"\n{note}" if note else ""), 1.35 * len(acts) + 2),
                 fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02).set_label(
        "mean test accuracy" if seeds > 1 else "test accuracy")
    save_figure(fig, path)
