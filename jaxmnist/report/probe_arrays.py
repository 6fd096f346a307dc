"""The dynamics figures drawn from dynamics.npz: pre-activation histograms
and the per-step training loss, seed 0 of each cell's chosen rate."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from jaxmnist.report.dynamics import panel_grid
from jaxmnist.report.style import (
    bottom_legend,
    colors,
    fixed_layout,
    ordered,
    plt,
    save_figure,
    wrap,
)
from jaxmnist.results.members import Member
from jaxmnist.results.records import RunRecords
from jaxmnist.results.stats import chosen_tuning, combo_of

#: Line styles of the optimizers' histograms, in turn; each later line is
#: also thinner, so one drawn over an identical one leaves it visible.
HIST_STYLES = ("-", "--", "-.", ":")


def hist_line_style(k: int) -> dict:
    """The line style and width of the ``k``-th optimizer's histogram."""
    return dict(ls=HIST_STYLES[k % len(HIST_STYLES)],
                lw=max(0.7, 2.8 - 0.4 * k))


def draw_loss_steps(run: RunRecords, optimizers: Sequence[str] = (),
                    activations: Sequence[str] = ()) -> Figure:
    """Per-step training loss in windows: mean (line) and max (shaded),
    each epoch's windows centred on its number (integer ticks)."""
    arrays = run.dynamics_arrays or {}
    index = _member_index(arrays)
    fig, axes = panel_grid(run, "Per-step training loss in 50 windows per "
                           "epoch: mean (line) and max (shaded), seed 0 of "
                           "the chosen rate", optimizers, activations,
                           "loss", legend_rows=0)
    epochs = 1
    for cell, ax in axes.items():
        i = index.get(_chosen(run, cell))
        if i is None:
            continue
        mean = np.asarray(arrays["loss_window_mean"][i], np.float64)
        top = np.asarray(arrays["loss_window_max"][i], np.float64)
        windows = mean.shape[1]
        epochs = max(epochs, mean.shape[0])
        x = (np.arange(mean.size) + 0.5) / windows + 0.5
        ax.fill_between(x, mean.ravel(), top.ravel(), color="C1", alpha=0.3,
                        lw=0)
        ax.plot(x, mean.ravel(), color="C0", lw=0.8)
    for ax in axes.values():  # shared: one call sets every panel
        ax.set_xlim(0.5, epochs + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    return fig


def plot_loss_steps(run: RunRecords, path, optimizers: Sequence[str] = (),
                    activations: Sequence[str] = ()) -> None:
    """:func:`draw_loss_steps` into the PNG ``path``."""
    save_figure(draw_loss_steps(run, optimizers, activations), path,
                crop=False)


def draw_histograms(run: RunRecords, optimizers: Sequence[str] = (),
                    activations: Sequence[str] = ()) -> Figure:
    """Pre-activation histograms per hidden layer and activation: at
    initialisation (grey) and after the last epoch (one line per
    optimizer, each its own colour, dash and width: see
    :func:`hist_line_style`), seed 0 of each cell's chosen rate."""
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
        for k, opt in enumerate(opts):
            i = index.get(_chosen(run, (opt, act)))
            if i is None:
                continue
            for layer in range(layers):
                ax = axes[layer, j]
                start = np.asarray(arrays["hist_start"][i, 0, layer],
                                   np.float64)
                end = np.asarray(arrays["hist_end"][i, -1, layer],
                                 np.float64)
                ax.fill_between(centres, _density(start), step="mid",
                                color="0.8")
                ax.step(centres, _density(end), where="mid",
                        color=palette[opt], label=opt, **hist_line_style(k))
        axes[0, j].set_title(act, fontsize=10)
        axes[-1, j].set_xlabel("pre-activation z")
    for layer in range(layers):
        axes[layer, 0].set_ylabel(f"hidden layer {layer + 1}\ndensity",
                                  fontsize=9)
    ncol = min(len(opts) + 1, 5)
    bottom_legend(fig, [Line2D([], [], color="0.8", lw=6),
                        *(Line2D([], [], color=palette[o],
                                 **hist_line_style(k))
                          for k, o in enumerate(opts))],
                  ["at initialisation",
                   *(f"after training: {o}" for o in opts)],
                  ncol=ncol, fontsize=8)
    fixed_layout(fig, wrap("Pre-activations on the probe batch (outer bins "
                           "hold the tails beyond ±8); optimizers drawn in "
                           "legend order, each thinner than the one before, "
                           "so coinciding lines both show",
                           0.8 * fig.get_figwidth(), 11),
                 legend_rows=-(-(len(opts) + 1) // ncol), wspace=0.3,
                 hspace=0.15)
    return fig


def plot_histograms(run: RunRecords, path, optimizers: Sequence[str] = (),
                    activations: Sequence[str] = ()) -> None:
    """:func:`draw_histograms` into the PNG ``path``."""
    save_figure(draw_histograms(run, optimizers, activations), path,
                crop=False)


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
