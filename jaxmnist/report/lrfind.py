"""lr_find.png: the smoothed loss of every range test against its rate,
one panel per optimizer, with each rule's suggestion and, graded against a
tuned run, the rate chosen there on validation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from jaxmnist.report.style import (
    bottom_legend,
    colors,
    grid_shape,
    ordered,
    plt,
    save_figure,
)
from jaxmnist.results.lrfind import LrFindRow, LrGrade, LrSuggestion


def _curve(rows: list[LrFindRow], opt: str, act: str):
    mine = [r for r in rows if (r.optimizer, r.activation) == (opt, act)]
    return (np.asarray([r.learning_rate for r in mine]),
            np.asarray([r.smoothed_loss for r in mine]))


def _mark(ax, rates, smoothed, rate: float, marker: str, color) -> None:
    """A marker on the curve at ``rate`` (interpolated in log rate)."""
    ok = np.isfinite(smoothed)
    if not math.isfinite(rate) or not ok.any():
        return
    y = np.interp(np.log(rate), np.log(rates[ok]), smoothed[ok])
    ax.plot([rate], [y], marker, color=color, ms=8, mec="black", mew=0.6,
            zorder=5)


def plot_lr_find(rows: list[LrFindRow], suggestions: list[LrSuggestion],
                 path: Path, grades: Sequence[LrGrade] = (),
                 optimizers: Sequence[str] = (),
                 activations: Sequence[str] = ()) -> None:
    """One panel per optimizer, a line per activation; ▼ the
    steepest-descent suggestion, ● minimum/10, ★ the rate a tuned run chose
    on validation. All panels share the loss axis."""
    opts = ordered((r.optimizer for r in rows), optimizers)
    acts = ordered((r.activation for r in rows), activations)
    palette = colors(acts)
    n_rows, n_cols = grid_shape(len(opts), 4)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.6 * n_cols,
                                                      2.9 * n_rows + 0.9),
                             sharey=True, squeeze=False)
    starts = [r.smoothed_loss for r in rows if r.step == 0]
    top = 1.6 * max(starts) if starts else 4.0
    chosen = {(g.optimizer, g.activation): g.chosen_lr for g in grades}
    for ax, opt in zip(axes.ravel(), opts):
        for act in acts:
            rates, smoothed = _curve(rows, opt, act)
            if not rates.size:
                continue
            ax.plot(rates, np.where(smoothed < top, smoothed, np.nan),
                    color=palette[act], lw=1.3)
            s = next(s for s in suggestions
                     if (s.optimizer, s.activation) == (opt, act))
            _mark(ax, rates, smoothed, s.steepest, "v", palette[act])
            _mark(ax, rates, smoothed, s.minimum_tenth, "o", palette[act])
            _mark(ax, rates, smoothed, chosen.get((opt, act), math.nan),
                  "*", palette[act])
        ax.set_xscale("log")
        ax.set_title(opt, fontsize=10)
        ax.set_xlabel("learning rate")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(opts):]:
        ax.set_visible(False)
    axes[0, 0].set_ylim(top=top)
    for ax in axes[:, 0]:
        ax.set_ylabel("smoothed training loss")
    handles = [Line2D([], [], color=palette[a]) for a in acts] + [
        Line2D([], [], ls="", marker=m, color="0.5", mec="black")
        for m in ("v", "o", "*")[:3 if grades else 2]]
    labels = acts + ["steepest descent", "minimum / 10"] + (
        ["chosen on validation (tuned run)"] if grades else [])
    fig.suptitle("Learning-rate range test: the rate grows by one factor each"
                 " step; the loss smoothed (bias-corrected EMA, β = 0.98)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    bottom_legend(fig, handles, labels, ncol=min(len(labels), 7))
    save_figure(fig, path)
