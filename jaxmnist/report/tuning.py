"""Figures of the comparison method: learning-rate sensitivity and time to
target. Same conventions as :mod:`jaxmnist.plots`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullFormatter

from jaxmnist.report.style import (
    cell_label,
    colors,
    grid_shape,
    markers,
    ordered,
    plt,
    save_figure,
    wrap,
)
from jaxmnist.results.records import CellResult, MemberResult
from jaxmnist.results.stats import cell_of, combo_of, tuning_of
from jaxmnist.results.tables import tuning_note


def peak_range(cells: list[CellResult]) -> tuple[float, float]:
    """y-limits around the lines' peaks (each (optimizer, activation)'s best
    mean validation accuracy), where the choices are made: from half their
    spread (at least 0.01) below the lowest peak to just above the
    highest."""
    peaks: dict[tuple, float] = {}
    for c in cells:
        if not math.isnan(c.val_mean):
            key = cell_of(c)
            peaks[key] = max(peaks.get(key, -math.inf), c.val_mean)
    if not peaks:
        return 0.0, 1.0
    lo, hi = min(peaks.values()), max(peaks.values())
    return lo - max(0.5 * (hi - lo), 0.01), hi + max(0.15 * (hi - lo), 0.003)


def _lr_panel(ax, cs: list[CellResult], opt: str, acts: list[str],
              style: tuple, floor: tuple[float, float]) -> None:
    """One optimizer: a line per activation, the chosen rate circled;
    ``floor`` is (the axis' bottom, where to mark the points below it)."""
    palette, shapes = style
    chosen = {cell_of(c): tuning_of(c)[1:] for c in cs if c.chosen}
    for act in acts:  # the rates at the chosen dropout, decay and options
        line = sorted((c for c in cs if cell_of(c) == (opt, act)
                       and tuning_of(c)[1:] == chosen.get((opt, act))),
                      key=lambda c: c.learning_rate)
        if not line:
            continue
        lr = np.asarray([c.learning_rate for c in line])
        val = np.asarray([c.val_mean for c in line])
        ax.plot(lr, val, "-", marker=shapes[act], ms=4.5, mfc="none",
                color=palette[act], label=act)
        dead, low = ~np.isfinite(val), np.isfinite(val) & (val < floor[0])
        ax.plot(lr[dead], np.full(dead.sum(), floor[1]), "x",
                color=palette[act], ms=6)
        ax.plot(lr[low], np.full(low.sum(), floor[1]), "v",
                color=palette[act], ms=5)
        for c in line:
            if c.chosen and not math.isnan(c.val_mean):
                ax.plot(c.learning_rate, c.val_mean, "o", ms=11,
                        mfc="none", mec="k", mew=1.2)
    ax.set_xscale("log")
    grid = sorted({c.learning_rate for c in cs if c.setup == opt})
    ax.set_xticks(grid, [f"{lr:.2g}" for lr in grid], fontsize=7)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title(opt, fontsize=10)
    ax.set_xlabel("learning rate")
    ax.grid(alpha=0.3, which="both")


def plot_lr_sensitivity(cells: list[CellResult], path,
                        optimizers: Sequence[str] = (),
                        activations: Sequence[str] = (),
                        note: str = "") -> None:
    """Mean validation accuracy against learning rate: one panel per
    optimizer, one line (and marker shape) per activation; the chosen rate
    of each line is circled. The shared y-axis spans the lines' peaks
    (:func:`peak_range`); rates below it are triangles at its bottom,
    rates where every seed diverged an x there."""
    cs = cells
    opts = ordered((c.setup for c in cs), optimizers)
    acts = ordered((c.activation for c in cs), activations)
    style = colors(acts), markers(acts)
    rows, cols = grid_shape(len(opts))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows + 0.8),
                             sharey=True, squeeze=False, layout="constrained")
    lo, hi = peak_range(cs)
    for ax, opt in zip(axes.flat, opts):
        _lr_panel(ax, cs, opt, acts, style, (lo, lo + 0.03 * (hi - lo)))
        ax.set_ylim(lo, hi)
    for ax in axes[:, 0]:
        ax.set_ylabel("validation accuracy")
    for ax in list(axes.flat)[len(opts):]:
        ax.axis("off")
    handles = [Line2D([], [], color=style[0][a], marker=style[1][a],
                      mfc="none") for a in acts]
    handles += [Line2D([], [], ls="", marker="o", ms=9, mfc="none",
                           mec="k"),
                Line2D([], [], ls="", marker="v", color="k"),
                Line2D([], [], ls="", marker="x", color="k")]
    fig.legend(handles, [*acts, "chosen (best mean validation)",
                         "below the axis", "all seeds diverged"],
               loc="outside lower center",
               ncol=min(len(acts) + 2, 5), frameon=False, fontsize=9)
    fig.suptitle(wrap("Learning-rate sensitivity (mean final validation "
                      "accuracy over seeds)" + (f"\n{note}" if note else ""),
                      3.6 * cols, 11), fontsize=11)
    save_figure(fig, path)


class Reach(NamedTuple):
    """One cell's time to target over its seeds."""
    label: str
    epochs: list[int]  # of the seeds that reached it
    seconds: list[float]
    seeds: int
    final_val: float  # mean final validation accuracy (non-diverged)


def reach(cells: list[CellResult], members: list[MemberResult]
          ) -> list[Reach]:
    """Every chosen cell's time to target, sorted: reached first (fewest
    epochs, then seconds), then the rest by final validation accuracy."""
    out = []
    for c in cells:
        if not c.chosen:
            continue
        mine = [m for m in members if combo_of(m) == combo_of(c)]
        hit = [m for m in mine if m.target_epoch is not None]
        out.append(Reach(
            cell_label(c.setup, c.activation, c.learning_rate)
            + tuning_note(c),
            [m.target_epoch for m in hit if m.target_epoch is not None],
            [m.target_seconds for m in hit if m.target_seconds is not None],
            len(mine), c.val_mean))
    return sorted(out, key=lambda r: (
        not r.epochs, np.mean(r.epochs) if r.epochs else 0,
        np.mean(r.seconds) if r.seconds else 0,
        -r.final_val if math.isfinite(r.final_val) else math.inf))


def _reach_text(r: Reach, epochs: int | None) -> str:
    if not r.epochs:
        end = (f"; final validation {r.final_val:.4f}"
               + (" (mean)" if r.seeds > 1 else "")
               if math.isfinite(r.final_val) else "; diverged")
        within = f" in {epochs} epochs" if epochs else ""
        return f"not reached{within}{end}"
    e = float(np.mean(r.epochs))
    text = f"epoch {e:.0f}" if min(r.epochs) == max(r.epochs) else \
        f"epoch {e:.1f} (mean; {min(r.epochs)}-{max(r.epochs)})"
    if r.seconds:
        text += f", {np.mean(r.seconds):.1f} s"
    if r.seeds > 1:
        text += f", {len(r.epochs)}/{r.seeds} seeds"
    return text


def plot_time_to_target(cells: list[CellResult], members: list[MemberResult],
                        path, target: float, epochs: int | None = None,
                        note: str = "") -> None:
    """Epochs (bars) until validation accuracy first reached ``target``, at
    every cell's chosen learning rate; mean over the seeds that reached it.
    The seconds are the training time of the cell's whole vmapped group
    (every member of its optimizer at once) until then. Cells that never
    reached it say what they ended at."""
    stats = reach(cells, members)
    fig, ax = plt.subplots(figsize=(8, max(2.4, 1.3 + 0.26 * len(stats))),
                           layout="constrained")
    y = np.arange(len(stats))[::-1]
    ep = np.asarray([np.mean(r.epochs) if r.epochs else 0.0 for r in stats])
    ax.barh(y, ep, color="C2", height=0.65)
    top = epochs or max(float(ep.max(initial=0.0)), 1.0)
    for yi, r, e in zip(y, stats, ep):
        inside = e > 0.6 * top  # a long bar holds its own label
        ax.text(e - 0.1 if inside else e + 0.1, yi, _reach_text(r, epochs),
                va="center", ha="right" if inside else "left", fontsize=7.5,
                color="white" if inside else "k" if r.epochs else "0.35")
    ax.set_yticks(y, [r.label for r in stats], fontsize=8)
    ax.set_ylim(-0.7, len(stats) - 0.3)
    ax.set_xlim(0, top + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"epochs until validation accuracy ≥ {target:g}")
    ax.set_title(wrap(f"Time to {target:g} validation accuracy\ns: "
                      f"training seconds of the whole optimizer group until "
                      f"then (compilation excluded)"
                      + (f"\n{note}" if note else ""), 7.5, 9.5),
                 fontsize=9.5)
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)
