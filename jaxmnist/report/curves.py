"""Learning curves: accuracy and loss against epoch, per cell."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from jaxmnist.report.style import (
    colors,
    epoch_axis,
    grid_shape,
    ordered,
    plt,
    save_figure,
)
from jaxmnist.results.records import RunRecords


def mean_curves(run: RunRecords, metric: str
                ) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """(optimizer, activation) -> (epochs, mean of ``metric`` over the chosen
    learning rate's non-diverged seeds; NaN where none is left)."""
    lr = {(c.optimizer, c.activation): c.learning_rate
          for c in run.cells if c.chosen}
    diverged = {(m.optimizer, m.activation, m.learning_rate, m.seed)
                for m in run.members if m.diverged}
    per: dict[tuple, dict[int, list[float]]] = defaultdict(
        lambda: defaultdict(list))
    for h in run.history:
        cell = (h.optimizer, h.activation)
        key = (*cell, h.learning_rate, h.seed)
        if lr.get(cell) != h.learning_rate or key in diverged:
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


def plot_curves(run: RunRecords, path, by: str,
                optimizers: Sequence[str] = (), activations: Sequence[str] = ()
                ) -> None:
    """Accuracy against epoch: one panel per ``by`` ("activation" or
    "optimizer"), one line per the other; validation solid, training
    dashed; shared y-axis."""
    opts = ordered((m.optimizer for m in run.members), optimizers)
    acts = ordered((m.activation for m in run.members), activations)
    panels, lines = (acts, opts) if by == "activation" else (opts, acts)
    val = mean_curves(run, "val_accuracy")
    train = mean_curves(run, "train_accuracy")
    epochs = max((h.epoch for h in run.history), default=1)
    rows, cols = grid_shape(len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows + 0.8),
                             sharey=True, squeeze=False, layout="constrained")
    palette = colors(lines)
    for ax, panel in zip(axes.flat, panels):
        for line in lines:
            cell = (line, panel) if by == "activation" else (panel, line)
            if cell in val:
                ax.plot(*val[cell], "-", color=palette[line], lw=1.6,
                        marker="o", ms=2.5, label=line)
                ax.plot(*train[cell], "--", color=palette[line], lw=1.0,
                        marker="o", ms=1.5)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("epoch")
        epoch_axis(ax, epochs)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles = [Line2D([], [], color=palette[name], lw=2) for name in lines]
    handles += [Line2D([], [], color="k", ls="-"),
                Line2D([], [], color="k", ls="--")]
    fig.legend(handles, [*lines, "validation", "training"],
               loc="outside lower center", ncol=min(len(lines) + 2, 6),
               frameon=False, fontsize=9)
    other = "optimizer" if by == "activation" else "activation"
    fig.suptitle(f"Accuracy by {by} (one line per {other})", fontsize=12)
    save_figure(fig, path)


def plot_loss_curves(run: RunRecords, path,
                     optimizers: Sequence[str] = (),
                     activations: Sequence[str] = ()) -> None:
    """Training (dashed) and validation (solid) loss per cell, log scale."""
    opts = ordered((m.optimizer for m in run.members), optimizers)
    acts = ordered((m.activation for m in run.members), activations)
    val = mean_curves(run, "val_loss")
    train = mean_curves(run, "train_loss")
    epochs = max((h.epoch for h in run.history), default=1)
    fig, axes = plt.subplots(len(opts), len(acts),
                             figsize=(2.5 * len(acts) + 1, 1.9 * len(opts) + 1),
                             sharex=True, sharey=True, squeeze=False,
                             layout="constrained")
    for i, opt in enumerate(opts):
        for j, act in enumerate(acts):
            ax = axes[i, j]
            cell = (opt, act)
            if cell in val:
                ax.plot(*val[cell], "-", color="C0", lw=1.4, marker="o",
                        ms=2)
                ax.plot(*train[cell], "--", color="C1", lw=1.2, marker="o",
                        ms=1.5)
                if not np.isfinite(val[cell][1]).all():
                    ax.text(0.5, 0.5, "diverged", transform=ax.transAxes,
                            ha="center", color="C3")
            else:
                ax.text(0.5, 0.5, "all seeds\ndiverged", ha="center",
                        va="center", transform=ax.transAxes, color="C3")
            ax.set_yscale("log")
            ax.margins(y=0.15)
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.tick_params(axis="y", which="both", labelsize=7)
            epoch_axis(ax, epochs)
            ax.grid(alpha=0.3, which="both")
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
    fig.suptitle("Cross-entropy loss per cell (log scale)", fontsize=12)
    save_figure(fig, path)
