"""Figures of the learning dynamics: why a cell learns as it does.

Each is a grid with one row per optimizer and one column per activation
(the chosen learning rate of each cell, averaged over its non-diverged
seeds), except the pre-activation histograms (one row per hidden layer).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from jaxmnist.report.style import (
    bottom_legend,
    colors,
    fixed_layout,
    ordered,
    plt,
    save_figure,
    wrap,
)
from jaxmnist.results.records import MODEL_QUANTITIES, RunRecords
from jaxmnist.results.stats import cell_of, chosen_tuning, combo_of, tuning_of
from jaxmnist.sweep.group import Member

#: The file names, in the order of :func:`dynamics_jobs`.
DYNAMICS_FIGURES = ("gradient_flow.png", "units.png", "effective_step.png",
                    "sharpness.png", "activations_histogram.png",
                    "loss_steps.png")

# Edge-of-stability thresholds on the sharpness (Cohen et al. 2021, 2022):
# plain gradient descent 2/eta; heavy-ball or Nesterov momentum beta:
# (2 + 2 beta)/eta; Adam-like (beta1 = 0.9) on the preconditioned sharpness:
# (2 + 2 beta1) / ((1 - beta1) eta) = 38/eta; other adaptive methods 2/eta
# on the preconditioned sharpness.
THRESHOLD_FACTOR = {"momentum": 3.8, "nesterov": 3.8, "adam": 38.0,
                    "adamw": 38.0, "nadam": 38.0}


def cell_series(run: RunRecords) -> dict[tuple, dict[tuple, np.ndarray]]:
    """(optimizer, activation) -> (quantity, layer) -> per-epoch mean over
    the chosen learning rate's non-diverged seeds."""
    chosen = chosen_tuning(run.cells)
    diverged = {(*combo_of(m), m.seed) for m in run.members if m.diverged}
    acc: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in run.dynamics:
        cell = cell_of(r)
        if chosen.get(cell) != tuning_of(r) or (*combo_of(r),
                                                r.seed) in diverged:
            continue
        acc[cell][(r.quantity, r.layer)][r.epoch].append(r.value)
    return {cell: {k: np.asarray([np.mean(v[e]) for e in sorted(v)])
                   for k, v in series.items()} for cell, series in acc.items()}


def _grid(run: RunRecords, title: str, optimizers: Sequence[str],
          activations: Sequence[str], ylabel: str, log: bool = True,
          legend_rows: int = 1):
    opts = ordered((m.setup for m in run.members), optimizers)
    acts = ordered((m.activation for m in run.members), activations)
    fig, axes = plt.subplots(len(opts), len(acts), squeeze=False,
                             figsize=(2.6 * len(acts) + 1,
                                      1.9 * len(opts) + 1.2),
                             sharex=True, sharey=True)
    for i, opt in enumerate(opts):
        for j, act in enumerate(acts):
            ax = axes[i, j]
            if log:  # decades only: minor log ticks were most of the
                ax.set_yscale("log")  # drawing time of 24 panels
                ax.yaxis.set_minor_locator(NullLocator())
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(act, fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{opt}\n{ylabel}", fontsize=9)
            if i == len(opts) - 1:
                ax.set_xlabel("epoch")
    fixed_layout(fig, wrap(title, 0.8 * fig.get_figwidth(), 11),
                 legend_rows=legend_rows)
    return fig, {(o, a): axes[i, j] for i, o in enumerate(opts)
                 for j, a in enumerate(acts)}


def _layers(series: dict, quantity: str) -> list[int]:
    return sorted(layer for q, layer in series if q == quantity)


def _layer_legend(fig, n: int, palette, extra=()) -> None:
    handles = [Line2D([], [], color=palette[k], lw=2) for k in range(1, n + 1)]
    labels = [f"layer {k}" for k in range(1, n + 1)]
    for label, style in extra:
        handles.append(Line2D([], [], color="k", ls=style))
        labels.append(label)
    bottom_legend(fig, handles, labels, ncol=min(len(labels), 6))


def plot_layer_quantity(run: RunRecords, path, quantity: str, title: str,
                        ylabel: str, optimizers: Sequence[str] = (),
                        activations: Sequence[str] = ()) -> None:
    """One line per layer of ``quantity`` over epochs, in every cell."""
    series = cell_series(run)
    fig, axes = _grid(run, title, optimizers, activations, ylabel)
    n = max((len(_layers(s, quantity)) for s in series.values()), default=1)
    palette = {k: plt.get_cmap("viridis")(0.85 * (k - 1) / max(n - 1, 1))
               for k in range(1, n + 1)}
    for cell, ax in axes.items():
        s = series.get(cell, {})
        for layer in _layers(s, quantity):
            y = s[(quantity, layer)]
            ax.plot(np.arange(1, len(y) + 1), y, "-o", ms=2,
                    color=palette[layer])
    _layer_legend(fig, n, palette)
    save_figure(fig, path, crop=False)  # laid out by fixed_layout


def plot_units(run: RunRecords, path, optimizers: Sequence[str] = (),
               activations: Sequence[str] = ()) -> None:
    """Dead (solid) and saturated (dashed) fractions per hidden layer."""
    series = cell_series(run)
    fig, axes = _grid(run, "Dead units (solid) and saturated unit-image "
                      "pairs (dashed) per hidden layer, probe batch",
                      optimizers, activations, "fraction", log=False)
    n = max((len(_layers(s, "dead_fraction")) for s in series.values()),
            default=1)
    palette = {k: plt.get_cmap("plasma")(0.8 * (k - 1) / max(n - 1, 1))
               for k in range(1, n + 1)}
    for cell, ax in axes.items():
        s = series.get(cell, {})
        for layer in _layers(s, "dead_fraction"):
            for q, style in (("dead_fraction", "-"),
                             ("saturated_fraction", "--")):
                y = s[(q, layer)]
                ax.plot(np.arange(1, len(y) + 1), y, style, marker="o",
                        ms=2, color=palette[layer])
        ax.set_ylim(-0.03, 1.03)
    _layer_legend(fig, n, palette, (("dead", "-"), ("saturated", "--")))
    save_figure(fig, path, crop=False)  # laid out by fixed_layout


def plot_sharpness(run: RunRecords, path, optimizers: Sequence[str] = (),
                   activations: Sequence[str] = ()) -> None:
    """Sharpness (and the preconditioned sharpness of adaptive optimizers)
    over epochs, with the member's edge-of-stability threshold dashed."""
    series = cell_series(run)
    lr = {cell_of(c): c.learning_rate for c in run.cells if c.chosen}
    fig, axes = _grid(run, "Sharpness: top Hessian eigenvalue on the probe "
                      "batch; dashed: the edge of stability (2/η; "
                      "(2+2β)/η with momentum; 38/η for Adam, "
                      "preconditioned)", optimizers, activations,
                      "eigenvalue")
    for cell, ax in axes.items():
        s = series.get(cell, {})
        for q, color in zip(MODEL_QUANTITIES, ("C0", "C3")):
            y = s.get((q, None))
            if y is not None and np.isfinite(y).any():
                ax.plot(np.arange(1, len(y) + 1), y, "-o", ms=2, color=color)
        if cell in lr:
            ax.axhline(THRESHOLD_FACTOR.get(cell[0].split("-")[0], 2.0)
                       / lr[cell],
                       color="k", ls="--", lw=1)
    bottom_legend(fig, [Line2D([], [], color="C0"),
                        Line2D([], [], color="C3"),
                        Line2D([], [], color="k", ls="--")],
                  ["sharpness", "preconditioned sharpness (adaptive)",
                   "stability threshold"], ncol=3)
    save_figure(fig, path, crop=False)  # laid out by fixed_layout


def plot_loss_steps(run: RunRecords, path, optimizers: Sequence[str] = (),
                    activations: Sequence[str] = ()) -> None:
    """Per-step training loss in windows: mean (line) and max (shaded)."""
    arrays = run.dynamics_arrays or {}
    index = _member_index(arrays)
    fig, axes = _grid(run, "Per-step training loss in 50 windows per epoch: "
                      "mean (line) and max (shaded), seed 0 of the chosen "
                      "rate", optimizers, activations, "loss",
                      legend_rows=0)
    for cell, ax in axes.items():
        i = index.get(_chosen(run, cell))
        if i is None:
            continue
        mean = np.asarray(arrays["loss_window_mean"][i], np.float64)
        top = np.asarray(arrays["loss_window_max"][i], np.float64)
        windows = mean.shape[1]
        x = (np.arange(mean.size) + 0.5) / windows + 0.5
        ax.fill_between(x, mean.ravel(), top.ravel(), color="C1", alpha=0.3,
                        lw=0)
        ax.plot(x, mean.ravel(), color="C0", lw=0.8)
    save_figure(fig, path, crop=False)  # laid out by fixed_layout


def plot_histograms(run: RunRecords, path, optimizers: Sequence[str] = (),
                    activations: Sequence[str] = ()) -> None:
    """Pre-activation histograms per hidden layer and activation: at
    initialisation (grey) and after the last epoch (one line per
    optimizer), seed 0 of each cell's chosen rate."""
    arrays = run.dynamics_arrays or {}
    index = _member_index(arrays)
    edges = np.asarray(arrays.get("hist_edges", np.linspace(-8, 8, 65)))
    centres = (edges[:-1] + edges[1:]) / 2
    opts = ordered((m.setup for m in run.members), optimizers)
    acts = ordered((m.activation for m in run.members), activations)
    layers = int(np.asarray(arrays["hist_start"]).shape[2]) if arrays else 1
    fig, axes = plt.subplots(layers, len(acts), squeeze=False,
                             figsize=(2.8 * len(acts) + 1, 2.2 * layers + 1.2),
                             sharex=True)
    palette = colors(opts)
    for j, act in enumerate(acts):
        for opt in opts:
            i = index.get(_chosen(run, (opt, act)))
            if i is None:
                continue
            for k in range(layers):
                ax = axes[k, j]
                start = np.asarray(arrays["hist_start"][i, 0, k], np.float64)
                end = np.asarray(arrays["hist_end"][i, -1, k], np.float64)
                ax.fill_between(centres, _density(start), step="mid",
                                color="0.8")
                ax.step(centres, _density(end), where="mid", lw=1,
                        color=palette[opt])
        axes[0, j].set_title(act, fontsize=10)
        axes[-1, j].set_xlabel("pre-activation z")
    for k in range(layers):
        axes[k, 0].set_ylabel(f"hidden layer {k + 1}\ndensity", fontsize=9)
    ncol = min(len(opts) + 1, 5)
    bottom_legend(fig, [Line2D([], [], color="0.8", lw=6),
                        *(Line2D([], [], color=palette[o]) for o in opts)],
                  ["at initialisation",
                   *(f"after training: {o}" for o in opts)],
                  ncol=ncol, fontsize=8)
    fixed_layout(fig, wrap("Pre-activations on the probe batch (outer bins "
                           "hold the tails beyond ±8)",
                           0.8 * fig.get_figwidth(), 11),
                 legend_rows=-(-(len(opts) + 1) // ncol), wspace=0.3,
                 hspace=0.15)
    save_figure(fig, path, crop=False)  # laid out by fixed_layout


def _density(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else counts


def _member_index(arrays: dict) -> dict[tuple, int]:
    """(*combo_of(member), seed) -> row of the arrays."""
    out = {}
    for i, name in enumerate(arrays.get("members", [])):
        m = Member(*json.loads(str(name)))
        out[(*combo_of(m), m.seed)] = i
    return out


def _chosen(run: RunRecords, cell: tuple, seed: int = 0) -> tuple:
    """The key of ``seed`` of ``cell``'s chosen combination."""
    return (*cell, *chosen_tuning(run.cells).get(cell, ()), seed)


def dynamics_jobs(run: RunRecords, out, optimizers: Sequence[str],
                  activations: Sequence[str]) -> list:
    """Every dynamics figure of ``run`` into the folder ``out``, as
    ``(function, args, kwargs)`` to call, in ``DYNAMICS_FIGURES`` order."""
    order = dict(optimizers=optimizers, activations=activations)
    names = dict(zip(("flow", "units", "step", "sharp", "hist", "loss"),
                     DYNAMICS_FIGURES))
    return [
        (plot_layer_quantity, (run, out / names["flow"], "grad_norm",
                               "Gradient flow: ‖∇W_l‖ per layer, mean over "
                               "each epoch's steps", "gradient norm"), order),
        (plot_units, (run, out / names["units"]), order),
        (plot_layer_quantity, (run, out / names["step"], "update_ratio",
                               "Effective step: ‖θ_l(end) − θ_l(start)‖ / "
                               "‖θ_l(start)‖ per layer and epoch",
                               "update ratio"), order),
        (plot_sharpness, (run, out / names["sharp"]), order),
        (plot_histograms, (run, out / names["hist"]), order),
        (plot_loss_steps, (run, out / names["loss"]), order)]

