"""Figures of the comparison method: learning-rate sensitivity and time to
target. Same conventions as :mod:`jaxmnist.plots`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from jaxmnist.report.style import (
    cell_label,
    colors,
    grid_shape,
    ordered,
    plt,
    save_figure,
)
from jaxmnist.results.records import CellResult, MemberResult


def plot_lr_sensitivity(cells: list[CellResult], path,
                        optimizers: Sequence[str] = (),
                        activations: Sequence[str] = ()) -> None:
    """Mean validation accuracy against learning rate: one panel per
    optimizer, one line per activation; the chosen rate of each line is
    circled. Rates where every seed diverged are marked with an x at the
    bottom."""
    cs = cells
    opts = ordered((c.optimizer for c in cs), optimizers)
    acts = ordered((c.activation for c in cs), activations)
    palette = colors(acts)
    rows, cols = grid_shape(len(opts))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows + 0.8),
                             sharey=True, squeeze=False, layout="constrained")
    finite = [c.val_mean for c in cs if not math.isnan(c.val_mean)]
    floor = max(0.0, min(finite) - 0.02) if finite else 0.0
    for ax, opt in zip(axes.flat, opts):
        for act in acts:
            line = sorted((c for c in cs if (c.optimizer, c.activation) ==
                           (opt, act)), key=lambda c: c.learning_rate)
            if not line:
                continue
            lr = np.asarray([c.learning_rate for c in line])
            val = np.asarray([c.val_mean for c in line])
            ax.plot(lr, val, "-o", ms=3, color=palette[act], label=act)
            dead = ~np.isfinite(val)
            ax.plot(lr[dead], np.full(dead.sum(), floor), "x",
                    color=palette[act], ms=6)
            for c in line:
                if c.chosen and not math.isnan(c.val_mean):
                    ax.plot(c.learning_rate, c.val_mean, "o", ms=9,
                            mfc="none", mec="k", mew=1.3)
        ax.set_xscale("log")
        grid = sorted({c.learning_rate for c in cs if c.optimizer == opt})
        ax.set_xticks(grid, [f"{lr:.2g}" for lr in grid], fontsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(opt, fontsize=10)
        ax.set_xlabel("learning rate")
        ax.grid(alpha=0.3, which="both")
    for ax in axes[:, 0]:
        ax.set_ylabel("validation accuracy")
    for ax in list(axes.flat)[len(opts):]:
        ax.axis("off")
    handles = [Line2D([], [], color=palette[a], marker="o") for a in acts]
    handles += [Line2D([], [], ls="", marker="o", ms=9, mfc="none",
                           mec="k"),
                Line2D([], [], ls="", marker="x", color="k")]
    fig.legend(handles, [*acts, "chosen (best mean validation)",
                         "all seeds diverged"], loc="outside lower center",
               ncol=min(len(acts) + 2, 5), frameon=False, fontsize=9)
    fig.suptitle("Learning-rate sensitivity (mean final validation accuracy "
                 "over seeds)", fontsize=11)
    save_figure(fig, path)


def plot_time_to_target(cells: list[CellResult], members: list[MemberResult],
                        path, target: float) -> None:
    """Epochs (bars) and seconds (labels) until validation accuracy first
    reached ``target``, for the chosen learning rate of every cell; mean
    over the seeds that reached it."""
    stats = []
    for c in cells:
        if not c.chosen:
            continue
        mine = [m for m in members if (m.optimizer, m.activation,
                                       m.learning_rate) ==
                (c.optimizer, c.activation, c.learning_rate)]
        epochs = [m.target_epoch for m in mine if m.target_epoch is not None]
        seconds = [m.target_seconds for m in mine
                   if m.target_seconds is not None]
        stats.append((cell_label(c.optimizer, c.activation),
                      float(np.mean(epochs)) if epochs else math.nan,
                      float(np.mean(seconds)) if seconds else math.nan,
                      len(epochs), len(mine)))
    stats.sort(key=lambda s: (math.isnan(s[1]), s[1], s[2]))
    fig, ax = plt.subplots(figsize=(7.5, max(2.4, 0.8 + 0.28 * len(stats))))
    y = np.arange(len(stats))[::-1]
    ep = np.asarray([s[1] for s in stats])
    ax.barh(y, np.nan_to_num(ep), color="C2", height=0.7)
    top = np.nanmax(ep) if np.isfinite(ep).any() else 1.0
    for yi, (_, e, sec, n_hit, n) in zip(y, stats):
        text = ("not reached" if math.isnan(e) else
                f"epoch {e:.1f}, {sec:.1f} s" + (f" ({n_hit}/{n} seeds)"
                                                 if n > 1 else ""))
        ax.text((0 if math.isnan(e) else e) + 0.02 * top, yi, text,
                va="center", fontsize=7)
    ax.set_yticks(y, [s[0] for s in stats], fontsize=8)
    ax.set_xlim(0, top * 1.45)
    ax.set_xlabel(f"epochs until validation accuracy ≥ {target:g}")
    ax.set_title(f"Time to {target:g} validation accuracy")
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)
