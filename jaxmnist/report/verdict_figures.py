"""The verdict's figures: tuning budget, aggregate scores and the
performance profile. Each takes a :class:`~jaxmnist.results.judgement.
Verdict`'s parts; same conventions as :mod:`jaxmnist.report.style`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.ticker import NullFormatter

from jaxmnist.report.style import (
    colors,
    markers,
    ordered,
    plt,
    save_figure,
    wrap,
)
from jaxmnist.results import evidence, judgement
from jaxmnist.results.judgement import Ranked
from jaxmnist.results.records import RunRecords
from jaxmnist.results.stats import cell_of, has_lr_grid
from jaxmnist.results.verdict import (
    Band,
    performance_profile,
    performance_ratios,
)

#: The figures' file names.
TUNING_BUDGET, AGGREGATE, PROFILE = ("tuning_budget.png",
                                     "aggregate_iqm.png",
                                     "performance_profile.png")
VERDICT_FIGURES = (TUNING_BUDGET, AGGREGATE, PROFILE)
#: The tau axis' labelled ticks (those within its range).
TAU_TICKS = (1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128)
#: How to read each (summary.md's and verdict.md's figure notes).
VERDICT_NOTES = {
    TUNING_BUDGET: (
        "Tuning budget", "The expected best validation accuracy of k "
        "members (learning rate x seed) drawn from each optimizer's grid "
        "per activation, averaged over activations, with a 95% bootstrap "
        "band: at k = 1 a configuration picked at random, at the right "
        "what the whole grid found; curves that cross are rankings that "
        "flip with the tuning budget."),
    AGGREGATE: (
        "Aggregate score", "Each optimizer's interquartile mean of test "
        "accuracy (at the chosen learning rates) normalised per task, with "
        "its 95% stratified bootstrap interval: overlapping intervals do "
        "not separate optimizers (the paired gaps in the Verdict are the "
        "sharper test)."),
    PROFILE: (
        "Performance profile", "The fraction of tasks on which each "
        "optimizer reached the target validation accuracy (median epoch "
        "over seeds) within a factor tau of the fastest optimizer on that "
        "task; higher and further left is better, the right end is the "
        "fraction of tasks it reached at all."),
}


def verdict_figures_for(run: RunRecords) -> list[str]:
    """The verdict figures a run gets: none unless at least two optimizers
    trained every activation; the tuning budget with a learning-rate grid;
    the profile when some optimizer reached the target on some activation
    (in half its seeds)."""
    cells = {cell_of(c) for c in run.cells}
    setups = {s for s, _ in cells}
    acts = {a for _, a in cells}
    if len(setups) < 2 or len(cells) < len(setups) * len(acts):
        return []
    times = evidence.target_epochs({run.config.dataset: run})
    reached = any(t is not None for row in times.values()
                  for t in row.values())
    return [f for f, ok in ((TUNING_BUDGET, has_lr_grid(run.cells)),
                            (AGGREGATE, True), (PROFILE, reached)) if ok]


def draw_run_figure(name: str, run: RunRecords, path,
                    optimizers: Sequence[str] = (), note: str = "") -> None:
    """One of the verdict figures of a single run, from its records."""
    runs = {run.config.dataset: run}
    if name == TUNING_BUDGET:
        plot_tuning_budget(judgement.tuning_curves(runs), path, optimizers,
                           judgement.default_means(runs), note)
    elif name == AGGREGATE:
        plot_aggregate(judgement.rank(evidence.chosen_scores(runs)), path,
                       note)
    else:
        plot_profile(evidence.target_epochs(runs), path, optimizers,
                     note=f"target {run.config.target:g}"
                     + (f"; {note}" if note else ""))




def plot_tuning_budget(tuning: Mapping[str, Mapping[str, Band]], path,
                       optimizers: Sequence[str] = (),
                       defaults: Mapping[str, float] | None = None,
                       note: str = "") -> None:
    """One panel per run: each optimizer's expected best validation
    accuracy against the number of configurations tried per activation,
    its 95% bootstrap band shaded; a hollow marker at k = 1 is its mean at
    the default learning rate (over every run, where the grid holds it)."""
    opts = ordered((o for c in tuning.values() for o in c), optimizers)
    palette, shapes = colors(opts), markers(opts)
    fig, axes = plt.subplots(1, len(tuning), figsize=(
        4.6 * len(tuning) + 1.6, 4.2), squeeze=False, layout="constrained")
    for ax, (label, curves) in zip(axes.flat, tuning.items()):
        for o in opts:
            b = curves.get(o)
            if b is None:
                continue
            ax.plot(b.k, b.expected, marker=shapes[o], ms=3.5,
                    color=palette[o], label=o)
            if b.low is not None and b.high is not None:
                ax.fill_between(b.k, b.low, b.high, color=palette[o],
                                alpha=0.12, lw=0)
            if len(tuning) == 1 and defaults and o in defaults:
                ax.plot(0.8, defaults[o], marker=shapes[o], mfc="none",
                        color=palette[o], ms=6, ls="")
        top = max(float(b.expected[-1]) for b in curves.values())
        low = min(float(b.expected[0]) for b in curves.values())
        ax.set_ylim(max(low - 0.01, 0.0), min(top + 0.6 * (top - low) / 4
                                              + 0.002, 1.0))
        ax.set_xlabel("configurations tried per activation (k)")
        ax.set_title(label or "expected best of k", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("expected best validation accuracy")
    axes.flat[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5),
                         frameon=False, fontsize=8)
    fig.suptitle(wrap("Tuning budget: E[best of k] (Dodge et al. 2019), "
                      "95% stratified bootstrap band"
                      + ("; hollow marker: default learning rate"
                         if defaults and len(tuning) == 1 else "")
                      + (f"\n{note}" if note else ""),
                      4.6 * len(tuning) + 1.6, 10), fontsize=10)
    save_figure(fig, path)


def plot_aggregate(ranking: Sequence[Ranked], path, note: str = "") -> None:
    """Each optimizer's IQM of normalised test accuracy with its 95%
    stratified bootstrap interval, best on top."""
    fig, ax = plt.subplots(figsize=(6.4, 1.4 + 0.32 * len(ranking)),
                           layout="constrained")
    y = np.arange(len(ranking))[::-1]
    for yi, r in zip(y, ranking):
        a = r.aggregate
        if a.low is not None and a.high is not None:
            ax.plot([a.low, a.high], [yi, yi], color="C0", lw=5,
                    alpha=0.45, solid_capstyle="butt")
        ax.plot(a.iqm, yi, "o", color="C0" if a.low is not None else "0.3")
    ax.set_yticks(y, [r.optimizer for r in ranking], fontsize=9)
    ax.set_xlabel("IQM of normalised test accuracy (1: best run on its task)")
    ax.grid(axis="x", alpha=0.3)
    title = "Aggregate score, 95% stratified bootstrap interval (rliable)"
    ax.set_title(wrap(title + (f"\n{note}" if note else ""), 6.4, 9.5),
                 fontsize=9.5)
    save_figure(fig, path)


def profile_taus(times: Mapping[str, Mapping[str, float | None]]
                 ) -> np.ndarray:
    """tau from 1 to just past the largest finite ratio, log-spaced."""
    finite = [r for row in performance_ratios(times).values()
              for r in row.values() if np.isfinite(r)]
    top = max(max(finite, default=1.0) * 1.15, 1.5)
    return np.unique(np.concatenate([np.geomspace(1.0, top, 200), finite]))


def plot_profile(times: Mapping[str, Mapping[str, float | None]], path,
                 optimizers: Sequence[str] = (), unit: str = "epochs",
                 note: str = "") -> None:
    """The performance profile on time to target: per optimizer, the
    fraction of tasks reached within tau times the fastest optimizer's
    time, a step line against tau on a log axis."""
    taus = profile_taus(times)
    profile = performance_profile(times, taus)
    opts = ordered(profile, optimizers)
    palette, shapes = colors(opts), markers(opts)
    fig, ax = plt.subplots(figsize=(6.8, 4.0), layout="constrained")
    for i, o in enumerate(opts):
        ax.step(taus, profile[o] + 0.004 * (i - len(opts) / 2), where="post",
                color=palette[o], label=o, marker=shapes[o], markevery=[0],
                ms=4)
    ax.set_xscale("log")
    ticks = [t for t in TAU_TICKS if t <= taus[-1]]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(f"tau: {unit} to target within tau x the fastest")
    ax.set_ylabel("fraction of tasks")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False,
              fontsize=8)
    ax.set_title(wrap("Performance profile on time to target (Dolan and "
                      "More 2002); lines nudged apart vertically"
                      + (f"\n{note}" if note else ""), 6.8, 9.5),
                 fontsize=9.5)
    save_figure(fig, path)
