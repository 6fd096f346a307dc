"""The figures a sweep leaves behind, drawn from its result rows.

Every function takes plain rows (dicts, as read from ``results.csv`` and
``history.csv``) or arrays, writes one PNG atomically, and works without a
display (Agg backend), for one cell as well as for 8 x 7.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import (FormatStrFormatter, LogLocator,  # noqa: E402
                               MaxNLocator, NullFormatter)

from jaxmnist import files  # noqa: E402
from jaxmnist.cells import chosen_cells, is_diverged  # noqa: E402

DPI = 110


def _save(fig, path: str | Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    files.write_bytes(path, buf.getvalue())


def _order(values, preferred: Sequence[str] = ()) -> list[str]:
    seen = list(dict.fromkeys(values))
    rank = {v: i for i, v in enumerate(preferred)}
    return sorted(seen, key=lambda v: (rank.get(v, len(rank)), seen.index(v)))


def _colors(names: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def _grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def _epoch_axis(ax, history: list[dict]) -> None:
    """Integer epoch ticks, also for a one-epoch run."""
    n = max((int(h["epoch"]) for h in history), default=1)
    ax.set_xlim(0.7, n + 0.3)
    if n <= 12:
        ax.set_xticks(range(1, n + 1, 1 if n <= 6 else 2))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))


def _chosen_lr(results: list[dict]) -> dict[tuple, float]:
    return {(c.optimizer, c.activation): c.learning_rate
            for c in chosen_cells(results)}


def mean_curves(history: list[dict], results: list[dict], metric: str
                ) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """(optimizer, activation) -> (epochs, mean of ``metric`` over the chosen
    learning rate's non-diverged seeds; NaN where none is left)."""
    lr = _chosen_lr(results)
    diverged = {(r["optimizer"], r["activation"], float(r["learning_rate"]),
                 int(r["seed"])) for r in results if is_diverged(r)}
    per: dict[tuple, dict[int, list[float]]] = defaultdict(
        lambda: defaultdict(list))
    for h in history:
        cell = (h["optimizer"], h["activation"])
        key = (*cell, float(h["learning_rate"]), int(h["seed"]))
        if lr.get(cell) != float(h["learning_rate"]) or key in diverged:
            continue
        per[cell][int(h["epoch"])].append(float(h[metric]))
    out = {}
    for cell, by_epoch in per.items():
        epochs = np.asarray(sorted(by_epoch))
        vals = [np.asarray(by_epoch[e], np.float64) for e in epochs]
        out[cell] = (epochs, np.asarray([v[np.isfinite(v)].mean()
                                         if np.isfinite(v).any() else np.nan
                                         for v in vals]))
    return out


def plot_curves(history: list[dict], results: list[dict], path, by: str,
                optimizers: Sequence[str] = (), activations: Sequence[str] = ()
                ) -> None:
    """Accuracy against epoch: one panel per ``by`` ("activation" or
    "optimizer"), one line per the other; validation solid, training
    dashed; shared y-axis."""
    opts = _order((r["optimizer"] for r in results), optimizers)
    acts = _order((r["activation"] for r in results), activations)
    panels, lines = (acts, opts) if by == "activation" else (opts, acts)
    val = mean_curves(history, results, "val_accuracy")
    train = mean_curves(history, results, "train_accuracy")
    rows, cols = _grid(len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows + 0.8),
                             sharey=True, squeeze=False, layout="constrained")
    colors = _colors(lines)
    for ax, panel in zip(axes.flat, panels):
        for line in lines:
            cell = (line, panel) if by == "activation" else (panel, line)
            if cell in val:
                ax.plot(*val[cell], "-", color=colors[line], lw=1.6,
                        marker="o", ms=2.5, label=line)
                ax.plot(*train[cell], "--", color=colors[line], lw=1.0,
                        marker="o", ms=1.5)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("epoch")
        _epoch_axis(ax, history)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colors[l], lw=2) for l in lines]
    handles += [plt.Line2D([], [], color="k", ls="-"),
                plt.Line2D([], [], color="k", ls="--")]
    fig.legend(handles, [*lines, "validation", "training"],
               loc="outside lower center", ncol=min(len(lines) + 2, 6),
               frameon=False, fontsize=9)
    other = "optimizer" if by == "activation" else "activation"
    fig.suptitle(f"Accuracy by {by} (one line per {other})", fontsize=12)
    _save(fig, path)


def plot_loss_curves(history: list[dict], results: list[dict], path,
                     optimizers: Sequence[str] = (),
                     activations: Sequence[str] = ()) -> None:
    """Training (dashed) and validation (solid) loss per cell, log scale."""
    opts = _order((r["optimizer"] for r in results), optimizers)
    acts = _order((r["activation"] for r in results), activations)
    val = mean_curves(history, results, "val_loss")
    train = mean_curves(history, results, "train_loss")
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
            _epoch_axis(ax, history)
            ax.grid(alpha=0.3, which="both")
            if i == 0:
                ax.set_title(act, fontsize=10)
            if j == 0:
                ax.set_ylabel(opt, fontsize=10)
            if i == len(opts) - 1:
                ax.set_xlabel("epoch")
    fig.legend([plt.Line2D([], [], color="C0"),
                plt.Line2D([], [], color="C1", ls="--")],
               ["validation loss", "training loss"],
               loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle("Cross-entropy loss per cell (log scale)", fontsize=12)
    _save(fig, path)


def _cell_label(c) -> str:
    return f"{c.optimizer} / {c.activation}"


def plot_test_bar(results: list[dict], path) -> None:
    """Every cell sorted by mean test accuracy; 95% CI error bars when a cell
    has several seeds. Cells whose seeds all diverged are listed at the
    bottom."""
    cs = chosen_cells(results)
    cs.sort(key=lambda c: (c.test.n == 0, -(c.test.mean if c.test.n else 0)))
    fig, ax = plt.subplots(figsize=(7.5, max(2.4, 0.8 + 0.28 * len(cs))))
    y = np.arange(len(cs))[::-1]
    means = np.asarray([c.test.mean if c.test.n else 0 for c in cs])
    err = np.asarray([c.test.ci95 if c.test.n > 1 else 0 for c in cs])
    ax.barh(y, means, xerr=err if err.any() else None, color="C0",
            ecolor="k", capsize=2, height=0.7)
    ax.set_yticks(y, [_cell_label(c) for c in cs], fontsize=8)
    finite = means[means > 0]
    lo = max(0.0, float(finite.min()) - 0.05) if finite.size else 0.0
    ax.set_xlim(lo, 1.0)
    for yi, c in zip(y, cs):
        text = (f"{c.test.mean:.4f}" if c.test.n else "diverged")
        x = max(c.test.mean if c.test.n else lo, lo)
        ax.text(x + 0.002, yi, text, va="center", fontsize=7)
    seeds = max((c.seeds for c in cs), default=1)
    ax.set_xlabel("test accuracy" + (" (mean, 95% CI over seeds)"
                                     if seeds > 1 else ""))
    ax.set_title("Test accuracy per (optimizer, activation)")
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def plot_heatmap(results: list[dict], path, optimizers: Sequence[str] = (),
                 activations: Sequence[str] = ()) -> None:
    """Optimizer x activation, mean test accuracy (± 95% CI over seeds)."""
    cs = {(c.optimizer, c.activation): c for c in chosen_cells(results)}
    opts = _order((k[0] for k in cs), optimizers)
    acts = _order((k[1] for k in cs), activations)
    grid = np.full((len(opts), len(acts)), np.nan)
    for (o, a), c in cs.items():
        if c.test.n:
            grid[opts.index(o), acts.index(a)] = c.test.mean
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
        if not c.test.n:
            ax.text(j, i, "diverged", ha="center", va="center", fontsize=8)
            continue
        text = f"{c.test.mean:.4f}"
        if c.test.n > 1:
            text += f"\n±{c.test.ci95:.4f}"
        dark = (c.test.mean - vmin) / max(vmax - vmin, 1e-9) < 0.6
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if dark else "black")
    ax.set_xticks(range(len(acts)), acts, rotation=30, ha="right")
    ax.set_yticks(range(len(opts)), opts)
    seeds = max((c.seeds for c in cs.values()), default=1)
    ax.set_title("Test accuracy" + (" (mean ± 95% CI over seeds)"
                                    if seeds > 1 else ""))
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    _save(fig, path)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, path,
                   title: str = "", classes: int = 10) -> None:
    """Counts and row-normalised confusion matrices side by side."""
    cm = np.zeros((classes, classes), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
    for ax, m, fmt, name in ((axes[0], cm, "d", "counts"),
                             (axes[1], norm, ".2f", "row-normalised")):
        ax.imshow(m, cmap="Blues")
        thresh = m.max() / 2
        for i in range(classes):
            for j in range(classes):
                ax.text(j, i, format(m[i, j], fmt), ha="center", va="center",
                        fontsize=7, color="white" if m[i, j] > thresh
                        else "black")
        ax.set_xticks(range(classes))
        ax.set_yticks(range(classes))
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
    fig.suptitle(title or "Confusion matrix (test set)")
    fig.tight_layout()
    _save(fig, path)


def plot_misclassified(images: np.ndarray, y_true: np.ndarray,
                       y_pred: np.ndarray, probs: np.ndarray, path,
                       title: str = "", max_images: int = 40) -> None:
    """A grid of misclassified images labelled 'true -> predicted (p)'."""
    n = min(len(images), max_images)
    cols = min(max(n, 1), 8)
    rows = max(math.ceil(n / cols), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(1.45 * cols, 1.75 * rows + 0.5),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(np.asarray(images[k]).reshape(28, 28), cmap="gray_r")
            ax.set_title(f"{y_true[k]}→{y_pred[k]} ({probs[k]:.2f})",
                         fontsize=8)
    if n == 0:
        axes[0, 0].text(0.5, 0.5, "no misclassified images", ha="center")
    fig.suptitle(title or "Misclassified test images: true→predicted "
                 "(probability)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
