"""Learning curves: accuracy and loss against epoch, per cell."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from jaxmnist.report.notes import setup_line
from jaxmnist.report.style import (
    colors,
    epoch_axis,
    grid_shape,
    markers,
    ordered,
    plt,
    save_figure,
    spread,
    wrap,
)
from jaxmnist.results.records import RunRecords
from jaxmnist.results.stats import cell_of, chosen_tuning, combo_of, tuning_of


def mean_curves(run: RunRecords, metric: str
                ) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """(setup, activation) -> (epochs, mean of ``metric`` over the chosen
    tuning's non-diverged seeds; NaN where none is left)."""
    chosen = chosen_tuning(run.cells)
    diverged = {(*combo_of(m), m.seed) for m in run.members if m.diverged}
    per: dict[tuple, dict[int, list[float]]] = defaultdict(
        lambda: defaultdict(list))
    for h in run.history:
        cell = cell_of(h)
        if chosen.get(cell) != tuning_of(h) or (*combo_of(h),
                                                h.seed) in diverged:
            continue
        per[cell][h.epoch].append(float(getattr(h, metric)))
    out = {}
    for cell, by_epoch in per.items():
        epochs = np.asarray(sorted(by_epoch))
        vals = [np.asarray(by_epoch[e], np.float64) for e in epochs]
        out[cell] = (epochs, np.asarray([v[np.isfinite(v)].mean()
                                         if np.isfinite(v).any() else np.nan
                                         for v in vals]))
    return out


def zoom(late_val: list[float], late_all: list[float]) -> tuple[float, float]:
    """y-limits that show every line in the last half of training: from
    just below the lowest late validation accuracy to just above the
    highest late accuracy (at most a hair above 1)."""
    lo_v = [v for v in late_val if math.isfinite(v)]
    hi_v = [v for v in late_all if math.isfinite(v)]
    if not lo_v:
        return 0.0, 1.0
    lo, hi = min(lo_v), max(hi_v + lo_v)
    span = max(hi - lo, 0.01)
    return max(0.0, lo - 0.15 * span), min(hi + 0.08 * span, 1.0 + 0.02 * span)


def _late(epochs: int, series: dict) -> list[float]:
    """The validation accuracies of ``series``' last half of training."""
    return [x for e, v, _ in series.values() for k, x in zip(e, v)
            if k > epochs / 2 or k == epochs]


def _accuracy_panel(ax, series: dict, epochs: int, style: tuple,
                    dead: Sequence[str], ylim: tuple[float, float]) -> None:
    """One panel: per series (epochs, validation, training) lines on the
    y-limits ``ylim`` (the figure's), direct labels at the line ends;
    ``dead`` names the lines whose seeds all diverged."""
    palette, shapes = style
    lo, hi = ylim
    for name, (e, v, t) in series.items():
        ax.plot(e, t, "--", color=palette[name], lw=0.9, alpha=0.55,
                label=f"{name} training")
        ax.plot(e, v, "-", color=palette[name], lw=1.5, marker=shapes[name],
                ms=4.5, mfc="none", mew=1.1, label=f"{name} validation")
    ax.set_ylim(lo, hi)
    ends = {n: float(v[-1]) for n, (_, v, _) in series.items()
            if len(v) and math.isfinite(v[-1])}
    gap = (hi - lo) * 0.075 / max(ax.get_position().height * 3, 0.5)
    pos = spread(list(ends.values()), gap, lo, hi)
    for (name, end), y in zip(ends.items(), pos):
        ax.annotate(f"{name} {end:.4f}", xy=(epochs, end),
                    xytext=(1.03, y), textcoords=("axes fraction", "data"),
                    fontsize=7, color=palette[name], va="center",
                    arrowprops=dict(arrowstyle="-", color=palette[name],
                                    lw=0.6, alpha=0.7))
    dead = [*dead, *(n for n in series if n not in ends)]
    if dead:
        ax.text(0.02, 0.03, "all seeds diverged: " + ", ".join(dead),
                transform=ax.transAxes, fontsize=7, color="C3")


def plot_curves(run: RunRecords, path, by: str,
                optimizers: Sequence[str] = (), activations: Sequence[str] = ()
                ) -> None:
    """:func:`draw_curves` into the PNG ``path``."""
    save_figure(draw_curves(run, by, optimizers, activations), path)


def draw_curves(run: RunRecords, by: str, optimizers: Sequence[str] = (),
                activations: Sequence[str] = ()) -> Figure:
    """Accuracy against epoch: one panel per ``by`` ("activation" or
    "optimizer"), one line per the other (its chosen learning rate, mean
    over seeds); validation solid with a marker per line, training dashed.
    Every panel shares one y-axis, zoomed to the validation accuracies of
    the last half of training of all of them (training accuracy may run
    above it), so panels compare by eye; every line is labelled at its end
    with its final validation accuracy."""
    opts = ordered((m.setup for m in run.members), optimizers)
    acts = ordered((m.activation for m in run.members), activations)
    panels, lines = (acts, opts) if by == "activation" else (opts, acts)
    val = mean_curves(run, "val_accuracy")
    train = mean_curves(run, "train_accuracy")
    trained = {cell_of(m) for m in run.members}
    epochs = max((h.epoch for h in run.history), default=1)
    rows, cols = grid_shape(len(panels), 3)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.2 * rows + 1),
                             squeeze=False, layout="constrained")
    style = colors(lines), markers(lines)
    drawn = {}
    for panel in panels:
        cells = {line: (line, panel) if by == "activation" else (panel, line)
                 for line in lines}
        drawn[panel] = ({line: (*val[c], train[c][1])
                         for line, c in cells.items() if c in val},
                        [line for line, c in cells.items() if c in trained
                         and c not in val])
    ylim = zoom([x for series, _ in drawn.values()
                 for x in _late(epochs, series)], [])
    for ax, panel in zip(axes.flat, panels):
        series, dead = drawn[panel]
        _accuracy_panel(ax, series, epochs, style, dead, ylim)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        epoch_axis(ax, epochs)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles = [Line2D([], [], color=style[0][n], marker=style[1][n],
                      mfc="none", lw=1.5) for n in lines]
    handles += [Line2D([], [], color="k", ls="-"),
                Line2D([], [], color="k", ls="--", lw=0.9)]
    fig.legend(handles, [*lines, "validation", "training (may run above "
                                              "the axis)"],
               loc="outside lower center", ncol=min(len(lines) + 2, 6),
               frameon=False, fontsize=9)
    other = "optimizer" if by == "activation" else "activation"
    fig.suptitle(wrap(f"Accuracy by {by}, one line per {other} (labels: "
                      f"final validation accuracy)\n{setup_line(run)}; "
                      f"ONE y-axis shared by every panel, zoomed to the "
                      f"validation accuracy of the last half of training",
                      5.2 * cols), fontsize=10)
    return fig


def _loss_panel(ax, val, train, lr: float | None, epochs: int) -> None:
    """One cell's validation (solid) and training (dashed) loss, log y."""
    if val is not None:
        ax.plot(*val, "-", color="C0", lw=1.4, marker="o", ms=2)
        ax.plot(*train, "--", color="C1", lw=1.2, marker="o", ms=1.5)
        if not np.isfinite(val[1]).all():
            ax.text(0.5, 0.5, "diverged", transform=ax.transAxes,
                    ha="center", color="C3")
    else:
        ax.text(0.5, 0.5, "all seeds\ndiverged", ha="center", va="center",
                transform=ax.transAxes, color="C3")
    if lr is not None:
        ax.text(0.97, 0.95, f"lr {lr:.3g}", transform=ax.transAxes,
                ha="right", va="top", fontsize=7, color="0.3")
    ax.set_yscale("log")
    ax.margins(y=0.15)
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="y", which="both", labelsize=7)
    epoch_axis(ax, epochs)
    ax.grid(alpha=0.3, which="both")


def plot_loss_curves(run: RunRecords, path,
                     optimizers: Sequence[str] = (),
                     activations: Sequence[str] = ()) -> None:
    """Training (dashed) and validation (solid) loss per cell, log scale,
    at the cell's chosen learning rate (named in the panel)."""
    opts = ordered((m.setup for m in run.members), optimizers)
    acts = ordered((m.activation for m in run.members), activations)
    val = mean_curves(run, "val_loss")
    train = mean_curves(run, "train_loss")
    lrs = {cell_of(c): c.learning_rate for c in run.cells if c.chosen}
    epochs = max((h.epoch for h in run.history), default=1)
    fig, axes = plt.subplots(len(opts), len(acts),
                             figsize=(2.5 * len(acts) + 1, 1.9 * len(opts) + 1),
                             sharex=True, sharey=True, squeeze=False,
                             layout="constrained")
    for i, opt in enumerate(opts):
        for j, act in enumerate(acts):
            ax = axes[i, j]
            _loss_panel(ax, val.get((opt, act)), train.get((opt, act)),
                        lrs.get((opt, act)), epochs)
            if i == 0:
                ax.set_title(act, fontsize=10)
            if j == 0:
                ax.set_ylabel(opt, fontsize=10)
            if i == len(opts) - 1:
                ax.set_xlabel("epoch")
    fig.legend([Line2D([], [], color="C0"),
                Line2D([], [], color="C1", ls="--")],
               ["validation loss", "training loss"],
               loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(wrap(f"Cross-entropy loss per cell (log scale; rows: "
                      f"optimizer, columns: activation)\n{setup_line(run)}",
                      2.5 * len(acts) + 1), fontsize=10)
    save_figure(fig, path)
