"""Cells side by side: the test-accuracy bar chart and the heatmap."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from jaxmnist.report.style import cell_label, ordered, plt, save_figure
from jaxmnist.results.records import CellResult
from jaxmnist.results.stats import chosen_cells


def _n(c: CellResult) -> int:
    """The seeds a cell's test statistics cover (0 when all diverged)."""
    return 0 if math.isnan(c.test_mean) else c.finite


def plot_test_bar(cells: list[CellResult], path) -> None:
    """Every cell sorted by mean test accuracy; 95% CI error bars when a cell
    has several seeds. Cells whose seeds all diverged are listed at the
    bottom."""
    cs = chosen_cells(cells)
    cs.sort(key=lambda c: (_n(c) == 0, -(c.test_mean if _n(c) else 0)))
    fig, ax = plt.subplots(figsize=(7.5, max(2.4, 0.8 + 0.28 * len(cs))))
    y = np.arange(len(cs))[::-1]
    means = np.asarray([c.test_mean if _n(c) else 0 for c in cs])
    err = np.asarray([c.test_ci95 if _n(c) > 1 else 0 for c in cs])
    ax.barh(y, means, xerr=err if err.any() else None, color="C0",
            ecolor="k", capsize=2, height=0.7)
    ax.set_yticks(y, [cell_label(c.optimizer, c.activation) for c in cs],
                  fontsize=8)
    finite = means[means > 0]
    lo = max(0.0, float(finite.min()) - 0.05) if finite.size else 0.0
    ax.set_xlim(lo, 1.0)
    for yi, c in zip(y, cs):
        text = (f"{c.test_mean:.4f}" if _n(c) else "diverged")
        x = max(c.test_mean if _n(c) else lo, lo)
        ax.text(x + 0.002, yi, text, va="center", fontsize=7)
    seeds = max((c.seeds for c in cs), default=1)
    ax.set_xlabel("test accuracy" + (" (mean, 95% CI over seeds)"
                                     if seeds > 1 else ""))
    ax.set_title("Test accuracy per (optimizer, activation)")
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)


def plot_heatmap(cells: list[CellResult], path, optimizers: Sequence[str] = (),
                 activations: Sequence[str] = ()) -> None:
    """Optimizer x activation, mean test accuracy (± 95% CI over seeds)."""
    cs = {(c.optimizer, c.activation): c for c in chosen_cells(cells)}
    opts = ordered((k[0] for k in cs), optimizers)
    acts = ordered((k[1] for k in cs), activations)
    grid = np.full((len(opts), len(acts)), np.nan)
    for (o, a), c in cs.items():
        if _n(c):
            grid[opts.index(o), acts.index(a)] = c.test_mean
    fig, ax = plt.subplots(figsize=(1.35 * len(acts) + 2.2,
                                    0.62 * len(opts) + 1.6))
    finite = grid[np.isfinite(grid)]
    vmin = float(finite.min()) if finite.size else 0.0
    vmax = float(finite.max()) if finite.size else 1.0
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=vmin,
                   vmax=max(vmax, vmin + 1e-3), aspect="auto")
    ax.set_facecolor("0.85")
    for (o, a), c in cs.items():
        i, j = opts.index(o), acts.index(a)
        if not _n(c):
            ax.text(j, i, "diverged", ha="center", va="center", fontsize=8)
            continue
        text = f"{c.test_mean:.4f}"
        if _n(c) > 1:
            text += f"\n±{c.test_ci95:.4f}"
        dark = (c.test_mean - vmin) / max(vmax - vmin, 1e-9) < 0.6
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if dark else "black")
    ax.set_xticks(range(len(acts)), acts, rotation=30, ha="right")
    ax.set_yticks(range(len(opts)), opts)
    seeds = max((c.seeds for c in cs.values()), default=1)
    ax.set_title("Test accuracy" + (" (mean ± 95% CI over seeds)"
                                    if seeds > 1 else ""))
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    save_figure(fig, path)
