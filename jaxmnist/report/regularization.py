"""The regularization panel: test accuracy against dropout x weight decay,
with and without batch norm.

One row per (optimizer, activation), one column per batch-norm setting;
each panel a heatmap of mean test accuracy over seeds, dropout across and
weight decay down, every combination at its best learning rate by mean
validation accuracy (the rule of every choice); the combination chosen for
the cell is outlined. A run gets it when dropout or weight decay varies.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.patches import Rectangle

from jaxmnist.report.style import plt, save_figure, wrap
from jaxmnist.results.records import CellResult, RunRecords

REGULARIZATION = "regularization.png"


def has_regularization(run: RunRecords) -> bool:
    return len(run.config.dropout) > 1 or len(run.config.weight_decay) > 1


def best_per_combo(cells: list[CellResult]) -> dict[tuple, CellResult]:
    """(optimizer, activation, batch norm, model, hidden, dropout, weight
    decay) -> the learning rate (and options) with the best mean validation
    accuracy."""
    best: dict[tuple, CellResult] = {}
    for c in cells:
        key = (c.optimizer, c.activation, c.batch_norm, c.model, c.hidden,
               c.dropout, c.weight_decay)
        score = -math.inf if math.isnan(c.val_mean) else c.val_mean
        old = best.get(key)
        if old is None or score > (-math.inf if math.isnan(old.val_mean)
                                   else old.val_mean):
            best[key] = c
    return best


def plot_regularization(run: RunRecords, path) -> None:
    """See the module docstring."""
    cfg = run.config
    best = best_per_combo(run.cells)
    rows = list(dict.fromkeys((k[0], k[1], k[3], k[4]) for k in best))
    bns = sorted({k[2] for k in best})
    drops, decays = sorted(cfg.dropout), sorted(cfg.weight_decay)
    values = [c.test_mean for c in best.values() if not math.isnan(
        c.test_mean)]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    fig, axes = plt.subplots(len(rows), len(bns), squeeze=False,
                             figsize=(1.1 * len(drops) * len(bns) + 2.5,
                                      0.7 * len(decays) * len(rows) + 1.6),
                             layout="constrained")
    image = None
    for i, row in enumerate(rows):
        for j, bn in enumerate(bns):
            image = _panel(axes[i, j], best, row, bn, (drops, decays),
                           (vmin, max(vmax, vmin + 1e-3)), run.cells)
            name = f"{row[0]} / {row[1]}" + ("" if row[2] == "mlp" else
                                             f" ({row[2]})")
            axes[i, j].set_title(f"{name}, batch norm "
                                 f"{'on' if bn else 'off'}", fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes, fraction=0.03, pad=0.02).set_label(
            "mean test accuracy")
    fig.suptitle(wrap("Regularization: mean test accuracy over seeds, each "
                      "combination at its best learning rate by validation; "
                      "outlined: the cell's choice (by validation)",
                      1.1 * len(drops) * len(bns) + 2.5), fontsize=10)
    save_figure(fig, path)


def _panel(ax, best, row, bn, axes_values, scale, cells):
    drops, decays = axes_values
    grid = np.full((len(decays), len(drops)), np.nan)
    for (o, a, b, m, h, d, w), c in best.items():
        if (o, a, m, h) == row and b == bn and not math.isnan(c.test_mean):
            grid[decays.index(w), drops.index(d)] = c.test_mean
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis",
                      vmin=scale[0], vmax=scale[1], aspect="auto")
    for (y, x), v in np.ndenumerate(grid):
        if math.isfinite(v):
            dark = (v - scale[0]) / (scale[1] - scale[0]) < 0.6
            ax.text(x, y, f"{v:.4f}", ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    chosen = [c for c in cells if c.chosen and (c.optimizer, c.activation,
                                                c.model, c.hidden) == row
              and c.batch_norm == bn]
    for c in chosen:
        ax.add_patch(Rectangle((drops.index(c.dropout) - 0.5,
                                decays.index(c.weight_decay) - 0.5), 1, 1,
                               fill=False, ec="C3", lw=2))
    ax.set_xticks(range(len(drops)), [f"{d:g}" for d in drops], fontsize=8)
    ax.set_yticks(range(len(decays)), [f"{w:g}" for w in decays],
                  fontsize=8)
    ax.set_xlabel("dropout", fontsize=8)
    ax.set_ylabel("weight decay", fontsize=8)
    return image
