"""The loss-landscape figures of a ``--landscape`` run: the straight paths
from initialisation, the barriers between solutions, the 2-D slices.

Drawn from :class:`~jaxmnist.results.landscape.Landscape` records (read
back from landscape.csv / landscape.npz by ``python -m jaxmnist.plot``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from jaxmnist.report.style import (
    bottom_legend,
    colors,
    markers,
    ordered,
    plt,
    save_figure,
    wrap,
)
from jaxmnist.results.landscape import Landscape, PathRow

LANDSCAPE_FIGURES = ("landscape_paths.png", "barriers.png",
                     "landscape_2d.png")


def _setup(label: str) -> str:
    return label.split("/")[0]


def _seed(label: str) -> str:
    return label.rsplit("/", 1)[-1]


def plot_paths(land: Landscape, path: Path, optimizers: Sequence[str] = (),
               activations: Sequence[str] = ()) -> None:
    """One column per activation: the training-subset loss (log scale, top)
    and the validation accuracy (bottom) along every member's straight
    path from its initial (0) to its final params (1), a line per
    optimizer; the rows share their y-axis, so panels compare by eye."""
    idx = [i for i, r in enumerate(land.rows) if r.kind == "init_to_final"]
    rows = [land.rows[i] for i in idx]
    acts = ordered((r.activation for r in rows), activations)
    setups = ordered((_setup(r.end) for r in rows), optimizers)
    palette, shapes = colors(setups), markers(setups)
    fig, axes = plt.subplots(2, len(acts), figsize=(3.3 * len(acts) + 0.8,
                                                    6.4),
                             sharex=True, sharey="row", squeeze=False)
    a = land.alphas
    every = max(1, len(a) // 5)
    for i, r in zip(idx, rows):
        col = acts.index(r.activation)
        style = dict(color=palette[_setup(r.end)],
                     marker=shapes[_setup(r.end)], markevery=every, ms=4,
                     mfc="none", lw=1.2)
        axes[0, col].plot(a, land.curves["train_loss"][i], **style)
        axes[1, col].plot(a, land.curves["val_accuracy"][i], **style)
    for col, act in enumerate(acts):
        axes[0, col].set_title(act)
        axes[0, col].set_yscale("log")
        axes[1, col].set_xlabel("α (0: initial params, 1: trained)")
    axes[0, 0].set_ylabel(f"training loss (first "
                          f"{land.meta.get('train_images', '?')} images)")
    axes[1, 0].set_ylabel("validation accuracy")
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=palette[s], marker=shapes[s], mfc="none")
               for s in setups]
    fig.suptitle("Straight paths from each member's initial to its trained "
                 "params: (1−α)·θ₀ + α·θ", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    bottom_legend(fig, handles, setups, ncol=min(len(setups), 6))
    save_figure(fig, path)


def _matrix(ax, grid: np.ndarray, rows: list[str], cols: list[str],
            empty: str) -> None:
    """A barrier matrix: the value in each cell, grey where there is none,
    one colour scale from 0."""
    if not np.isfinite(grid).any():
        ax.text(0.5, 0.5, empty, ha="center", va="center",
                transform=ax.transAxes, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    vmax = max(float(np.nanmax(grid)), 1e-3)
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="magma_r", vmin=0,
                   vmax=vmax, aspect="auto")
    ax.set_facecolor("0.85")
    for (y, x), v in np.ndenumerate(grid):
        if np.isfinite(v):
            ax.text(x, y, f"{v:.2g}", ha="center", va="center", fontsize=8,
                    color="white" if v > 0.6 * vmax else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.03).set_label(
        "barrier (training loss)")


def _seed_grid(rows: list[PathRow], setups: list[str], acts: list[str]
               ) -> np.ndarray:
    grid = np.full((len(setups), len(acts)), np.nan)
    for s in setups:
        for a in acts:
            vals = [r.train_barrier for r in rows
                    if _setup(r.end) == s and r.activation == a]
            if vals:
                grid[setups.index(s), acts.index(a)] = np.mean(vals)
    return grid


def plot_barriers(land: Landscape, path: Path, optimizers: Sequence[str] = (),
                  activations: Sequence[str] = ()) -> None:
    """Left: the mean barrier between the seeds of each cell (0: the seeds'
    solutions are linearly connected); right: the barrier between the best
    members of every two optimizers, for one activation."""
    seeds = [r for r in land.rows if r.kind == "seeds"]
    pairs = [r for r in land.rows if r.kind == "optimizers"]
    finals = [r for r in land.rows if r.kind == "init_to_final"]
    setups = ordered((_setup(r.end) for r in finals), optimizers)
    acts = ordered((r.activation for r in finals), activations)
    chosen = ordered([_setup(r.start) for r in pairs]
                     + [_setup(r.end) for r in pairs], optimizers)
    opt_grid = np.full((len(chosen), len(chosen)), np.nan)
    for r in pairs:
        i, j = chosen.index(_setup(r.start)), chosen.index(_setup(r.end))
        opt_grid[i, j] = opt_grid[j, i] = r.train_barrier
    left_w = 1.2 * len(acts) + 2.5 if seeds else 2.6
    right_w = 1.1 * max(len(chosen), 1) + 3
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(left_w + right_w, 0.55 * max(len(setups),
                                                      len(chosen), 4) + 2.4),
        layout="constrained", width_ratios=(left_w, right_w))
    _matrix(left, _seed_grid(seeds, setups, acts), setups, acts,
            "one seed per cell:\nno two seeds to connect\n(run with --seeds 2"
            " or more)")
    left.set_title(wrap("Between the seeds of each cell (mean over pairs)",
                        4), fontsize=10)
    act = pairs[0].activation if pairs else "?"
    seed_of = {_setup(x): _seed(x) for r in pairs for x in (r.start, r.end)}
    named = [f"{s} ({seed_of[s]})" for s in chosen]
    _matrix(right, opt_grid, named, named, "fewer than two optimizers")
    seeds_of = set(seed_of.values())
    shared = ("all from one seed: the same initial params"
              if len(seeds_of) == 1 else
              "members of one seed share their initial params")
    right.set_title(wrap(f"Between the best members of two optimizers "
                         f"({act}; {shared})", 5), fontsize=10)
    fig.suptitle("Loss barriers: the largest rise of the training loss along "
                 "the straight path between two solutions above the line "
                 "between their losses", fontsize=10)
    save_figure(fig, path)


def plot_slices(land: Landscape, path: Path) -> None:
    """Contours of log10 training loss around the best and the worst cell's
    member along two filter-normalised random directions, on one colour
    scale; the star is the trained params."""
    surfaces = land.surfaces
    fig, axes = plt.subplots(1, max(len(surfaces), 1),
                             figsize=(5.2 * max(len(surfaces), 1), 4.9),
                             squeeze=False, layout="constrained")
    logs = [np.log10(np.clip(s.loss, 1e-6, None)) for s in surfaces]
    finite = np.concatenate([x[np.isfinite(x)] for x in logs]) if logs \
        else np.zeros(1)
    levels = np.linspace(finite.min(), min(finite.max(), finite.min() + 3),
                         16)
    cs = None
    for ax, s, z in zip(axes[0], surfaces, logs):
        cs = ax.contourf(s.coords, s.coords, z.T, levels=levels,
                         cmap="viridis", extend="max")
        ax.contour(s.coords, s.coords, z.T, levels=levels, colors="k",
                   linewidths=0.3)
        ax.plot([0], [0], "*", color="red", ms=12)
        centre = s.loss[len(s.coords) // 2, len(s.coords) // 2]
        ax.set_title(wrap(f"{s.role} cell: {s.member} (loss {centre:.3g} "
                          f"at ★)", 4.6), fontsize=9)
        ax.set_xlabel("direction 1")
        ax.set_ylabel("direction 2")
        ax.set_aspect("equal")
    if cs is not None:
        fig.colorbar(cs, ax=axes[0].tolist(), shrink=0.85).set_label(
            f"log10 training loss (first "
            f"{land.meta.get('slice_images', '?')} images)")
    fig.suptitle("Loss around the trained params, along two "
                 "filter-normalised random directions (Li et al. 2018); "
                 "one colour scale", fontsize=10)
    save_figure(fig, path)


def landscape_jobs(land: Landscape, out: Path, optimizers: Sequence[str],
                   activations: Sequence[str]) -> list[tuple]:
    """The three figures as ``(function, args, kwargs)`` jobs."""
    order = dict(optimizers=optimizers, activations=activations)
    return [(plot_paths, (land, out / LANDSCAPE_FIGURES[0]), order),
            (plot_barriers, (land, out / LANDSCAPE_FIGURES[1]), order),
            (plot_slices, (land, out / LANDSCAPE_FIGURES[2]), {})]
