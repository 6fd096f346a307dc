"""Figures of the learning dynamics: why a cell learns as it does.

Each is a grid with one row per optimizer and one column per activation
(the chosen learning rate of each cell, averaged over its non-diverged
seeds), except the pre-activation histograms (one row per hidden layer;
they and the per-step loss are drawn from dynamics.npz by
:mod:`.probe_arrays`). Each ``draw_*`` returns the Figure (what the tests
inspect); each ``plot_*`` writes it to a PNG.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import (
    FormatStrFormatter,
    LogLocator,
    MaxNLocator,
    NullLocator,
)

from jaxmnist.core.activations import ACTIVATIONS, HE_INIT
from jaxmnist.report.style import (
    bottom_legend,
    fixed_layout,
    ordered,
    plt,
    save_figure,
    wrap,
)
from jaxmnist.results.records import RunRecords
from jaxmnist.results.stats import cell_of, chosen_tuning, combo_of, tuning_of

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
    the chosen learning rate's non-diverged seeds (NaN for an epoch
    without that probe: see :func:`_points`)."""
    last = max((r.epoch for r in run.dynamics), default=0)
    chosen = chosen_tuning(run.cells)
    diverged = {(*combo_of(m), m.seed) for m in run.members if m.diverged}
    acc: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in run.dynamics:
        cell = cell_of(r)
        if chosen.get(cell) != tuning_of(r) or (*combo_of(r),
                                                r.seed) in diverged:
            continue
        acc[cell][(r.quantity, r.layer)][r.epoch].append(r.value)
    return {cell: {k: np.asarray([np.mean(v[e]) if e in v else np.nan
                                  for e in range(1, last + 1)])
                   for k, v in series.items()} for cell, series in acc.items()}


def _points(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of the epochs that have a value: the probe batch's
    probes run every few epochs, and a line joins the ones that ran."""
    epochs = np.flatnonzero(np.isfinite(y))
    return epochs + 1, y[epochs]


def panel_grid(run: RunRecords, title: str, optimizers: Sequence[str],
          activations: Sequence[str], ylabel: str, log: bool = True,
          legend_rows: int = 1, sharey: bool | Literal["row"] = True):
    """A figure with one panel per (optimizer, activation), epochs along
    x (integer ticks), y shared by every panel or, ``sharey="row"``, by
    the panels of an optimizer's row."""
    opts = ordered((m.setup for m in run.members), optimizers)
    acts = ordered((m.activation for m in run.members), activations)
    fig, axes = plt.subplots(len(opts), len(acts), squeeze=False,
                             figsize=(2.6 * len(acts) + 1,
                                      1.9 * len(opts) + 1.2),
                             sharex=True, sharey=sharey)
    for i, opt in enumerate(opts):
        for j, act in enumerate(acts):
            ax = axes[i, j]
            if log:  # decades only: minor log ticks were most of the
                ax.set_yscale("log")  # drawing time of 24 panels
                ax.yaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
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


def draw_layer_quantity(run: RunRecords, quantity: str, title: str,
                        ylabel: str, optimizers: Sequence[str] = (),
                        activations: Sequence[str] = ()) -> Figure:
    """One line per layer of ``quantity`` over epochs, in every cell."""
    series = cell_series(run)
    fig, axes = panel_grid(run, title, optimizers, activations, ylabel)
    n = max((len(_layers(s, quantity)) for s in series.values()), default=1)
    palette = {k: plt.get_cmap("viridis")(0.85 * (k - 1) / max(n - 1, 1))
               for k in range(1, n + 1)}
    for cell, ax in axes.items():
        s = series.get(cell, {})
        for layer in _layers(s, quantity):
            y = s[(quantity, layer)]
            ax.plot(*_points(y), "-o", ms=2,
                    color=palette[layer], label=f"layer {layer}")
    _layer_legend(fig, n, palette)
    return fig


def plot_layer_quantity(run: RunRecords, path, *args, **kwargs) -> None:
    """:func:`draw_layer_quantity` into the PNG ``path``."""
    save_figure(draw_layer_quantity(run, *args, **kwargs), path, crop=False)


#: (quantity, line style, legend text) of units.png.
UNIT_LINES = (("dead_fraction", "-", "dead units (f′ ≈ 0 on every image)"),
              ("inactive_fraction", ":", "inactive unit-image pairs "
               "(ReLU-like: z ≤ 0)"),
              ("saturated_fraction", "--", "saturated unit-image pairs "
               "(sigmoid, tanh: |f′| < 5% of max)"))


def unit_quantities(activation: str) -> tuple[str, str]:
    """(dead, inactive or saturated): the two unit fractions shown for
    ``activation``: the off side of a ReLU-like unit is not saturation."""
    return ("dead_fraction", "inactive_fraction" if relu_like(activation)
            else "saturated_fraction")


def relu_like(activation: str) -> bool:
    """Whether ``activation``'s units switch off (a ReLU-like off side,
    z <= 0, measured as "inactive") rather than saturate in flat tails;
    read from the registry at call time so plugin activations count."""
    return activation in ACTIVATIONS and HE_INIT[ACTIVATIONS.index(activation)]


def draw_units(run: RunRecords, optimizers: Sequence[str] = (),
               activations: Sequence[str] = ()) -> Figure:
    """Dead units (solid) per hidden layer, with the inactive unit-image
    pairs of a ReLU-like activation (dotted) or the saturated ones of a
    sigmoid or tanh (dashed), on a shared 0-1 axis."""
    series = cell_series(run)
    fig, axes = panel_grid(
        run, "Dead units (solid) per hidden layer; ReLU-like columns: "
        "inactive unit-image pairs, z ≤ 0 (dotted: switched off, not "
        "saturated); sigmoid and tanh: saturated pairs, |f′(z)| < 5% of its "
        "maximum (dashed); probe batch", optimizers, activations,
        "fraction", log=False, legend_rows=2)
    n = max((len(_layers(s, "dead_fraction")) for s in series.values()),
            default=1)
    palette = {k: plt.get_cmap("plasma")(0.8 * (k - 1) / max(n - 1, 1))
               for k in range(1, n + 1)}
    styles = {q: ls for q, ls, _ in UNIT_LINES}
    for (opt, act), ax in axes.items():
        s = series.get((opt, act), {})
        shown = unit_quantities(act)
        if ax.get_title():
            ax.set_title(f"{act}: {shown[1].split('_')[0]}", fontsize=10)
        for layer in _layers(s, "dead_fraction"):
            for q in shown:
                y = s.get((q, layer), np.full(0, np.nan))
                if np.isfinite(y).any():
                    ax.plot(*_points(y), styles[q],
                            marker="o", ms=2, color=palette[layer],
                            label=f"layer {layer} {q}")
        ax.set_ylim(-0.03, 1.03)
    handles = [Line2D([], [], color=palette[k], lw=2) for k in range(1, n + 1)]
    handles += [Line2D([], [], color="k", ls=ls) for _, ls, _ in UNIT_LINES]
    bottom_legend(fig, handles, [*(f"layer {k}" for k in range(1, n + 1)),
                                 *(text for _, _, text in UNIT_LINES)],
                  ncol=max(n, 2))
    return fig


def plot_units(run: RunRecords, path, optimizers: Sequence[str] = (),
               activations: Sequence[str] = ()) -> None:
    """:func:`draw_units` into the PNG ``path``."""
    save_figure(draw_units(run, optimizers, activations), path, crop=False)


#: (quantity, colour, marker, legend text) of the sharpness curves.
SHARPNESS_LINES = (("sharpness", "C0", "o", "sharpness"),
                   ("preconditioned_sharpness", "C3", "s",
                    "preconditioned sharpness (adaptive optimizers)"))


def draw_sharpness(run: RunRecords, optimizers: Sequence[str] = (),
                   activations: Sequence[str] = ()) -> Figure:
    """Sharpness (and the preconditioned sharpness of adaptive optimizers)
    over epochs, each row on its own log scale, with the edge-of-stability
    threshold dashed in the colour of the curve it bounds: the
    preconditioned sharpness's where there is one, else the sharpness's."""
    series = cell_series(run)
    lr = {cell_of(c): c.learning_rate for c in run.cells if c.chosen}
    fig, axes = panel_grid(
        run, "Sharpness: top Hessian eigenvalue on the probe batch; dashed, "
        "in the colour of the curve it bounds: its edge of stability (2/η; "
        "(2+2β)/η with momentum; 38/η for Adam, preconditioned). Log "
        "y-axis, its own range per row (optimizer)", optimizers,
        activations, "eigenvalue", legend_rows=2, sharey="row")
    for cell, ax in axes.items():
        s = series.get(cell, {})
        bounded = "C0"
        for q, color, marker, _ in SHARPNESS_LINES:
            y = s.get((q, None))
            if y is not None and np.isfinite(y).any():
                ax.plot(*_points(y), "-", marker=marker,
                        ms=3.5, mfc="none", color=color, label=q,
                        lw=2.2 if color == "C0" else 1.0)
                bounded = color
        if cell in lr:
            factor = THRESHOLD_FACTOR.get(cell[0].split("-")[0], 2.0)
            ax.axhline(factor / lr[cell], color=bounded, ls="--", lw=1,
                       label=f"threshold {factor:g}/η")
            ax.annotate(f"{factor:g}/η", xy=(1, factor / lr[cell]),
                        xycoords=("axes fraction", "data"), xytext=(-2, -2),
                        textcoords="offset points", ha="right", va="top",
                        fontsize=7, color=bounded)
    for ax in axes.values():  # a row shares its axis: the same for each
        _fine_log_ticks(ax)
    handles = [Line2D([], [], color=c, marker=m, mfc="none",
                      lw=2.2 if c == "C0" else 1.0)
               for _, c, m, _ in SHARPNESS_LINES]
    handles += [Line2D([], [], color=c, ls="--") for _, c, _, _ in
                SHARPNESS_LINES]
    bottom_legend(fig, handles, [
        *(text for *_, text in SHARPNESS_LINES),
        "threshold of the sharpness (non-adaptive optimizers)",
        "threshold of the preconditioned sharpness (adaptive)"], ncol=2)
    return fig


def _fine_log_ticks(ax, decades: float = 2.5) -> None:
    """Ticks at 1, 2 and 5 of each decade, labelled, on a log axis that
    spans fewer than ``decades`` decades (else one per decade)."""
    lo, hi = ax.get_ylim()
    if 0 < lo < hi < lo * 10 ** decades:
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))


def plot_sharpness(run: RunRecords, path, optimizers: Sequence[str] = (),
                   activations: Sequence[str] = ()) -> None:
    """:func:`draw_sharpness` into the PNG ``path``."""
    save_figure(draw_sharpness(run, optimizers, activations), path,
                crop=False)


def dynamics_jobs(run: RunRecords, out, optimizers: Sequence[str],
                  activations: Sequence[str]) -> list:
    """Every dynamics figure of ``run`` into the folder ``out``, as
    ``(function, args, kwargs)`` to call, in ``DYNAMICS_FIGURES`` order."""
    from jaxmnist.report import probe_arrays  # noqa: PLC0415  (a cycle)

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
        (probe_arrays.plot_histograms, (run, out / names["hist"]), order),
        (probe_arrays.plot_loss_steps, (run, out / names["loss"]), order)]

