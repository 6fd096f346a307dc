"""The Verdict in words, generated from a :class:`~jaxmnist.results.
judgement.Verdict`: summary.md opens with it and verdict.md holds it.

Every sentence is built from the numbers: the ranking with its intervals,
which gaps survive Holm's correction and which are within noise, what the
tuning budget changes, and what the seeds or the grid cannot tell.
"""

from __future__ import annotations

from jaxmnist.report.notes import plural
from jaxmnist.report.why import why_section
from jaxmnist.results.comparisons import Comparison
from jaxmnist.results.judgement import Verdict, judge
from jaxmnist.results.records import RunRecords
from jaxmnist.results.verdict import leader_changes, performance_profile

SCORE_RULE = ("test accuracy at each cell's chosen learning rate (chosen "
              "on validation), min-max normalised per task over every "
              "optimizer's runs (0: the worst run on the task, 1: the "
              "best), interquartile mean over tasks and seeds")


def _interval(low: float | None, high: float | None, digits: int = 3
              ) -> str:
    return "" if low is None or high is None else \
        f"[{low:.{digits}f}, {high:.{digits}f}]"


def ranking_lines(v: Verdict) -> list[str]:
    """The ranking as a Markdown table, with the rule it follows; without
    an interval column when no optimizer has one (one run per task)."""
    interval = any(r.aggregate.low is not None for r in v.ranking)
    lines = [f"**Ranking** over {plural(len(v.tasks), 'task')} "
             f"({', '.join(v.tasks)}), {plural(v.seeds, 'seed')} each; "
             f"score: {SCORE_RULE}"
             + ("; 95% stratified bootstrap interval." if interval else
                "; no interval: " + v.ranking[0].aggregate.note + "."),
             "", "| # | optimizer | IQM score |"
             + (" 95% interval |" if interval else "") + " mean test acc |",
             "|---|---|---|---|" + ("---|" if interval else "")]
    for i, r in enumerate(v.ranking, 1):
        a = r.aggregate
        cell = f" {_interval(a.low, a.high) or a.note} |" if interval else ""
        lines.append(f"| {i} | {r.optimizer} | {a.iqm:.3f} |{cell} "
                     f"{r.mean_test:.4f} |")
    return [*lines, ""]


def _gap(c: Comparison) -> str:
    text = (f"{c.cell_a} - {c.cell_b}: {c.mean_difference:+.4f} test "
            f"accuracy" if c.mean_difference is not None
            else f"{c.cell_a} against {c.cell_b}")
    if c.low is not None and c.high is not None:
        text += f" {_interval(c.low, c.high, 4)}"
    if c.p_improvement is not None:
        text += f", P(A > B) {c.p_improvement:.2f}"
    if c.p_adjusted is not None:
        text += f", Holm-adjusted p {c.p_adjusted:.3g}"
    return text


def gap_lines(v: Verdict) -> list[str]:
    """Which optimizer gaps survive Holm, and the neighbours in the
    ranking that are within noise."""
    rows = v.optimizer_rows
    tested = [c for c in rows if c.p_adjusted is not None]
    pairs = plural(len(v.tasks) * v.seeds, "(task, seed) pair")
    if not tested:
        why = next((c.note for c in rows if c.note), "fewer than two pairs")
        return ["**Gaps**: no optimizer gap can be tested here "
                f"({why}).", ""]
    significant = [c for c in tested if c.significant]
    lines = [f"**Gaps** (A - B paired over up to {pairs}, 95% bootstrap "
             f"interval, sign-flip permutation test, Holm over "
             f"{plural(len(tested), 'pair')} of optimizers at 95%): "
             f"{len(significant)} of {len(tested)} gaps are significant.",
             ""]
    lines += [f"- significant: {_gap(c)}" for c in significant[:12]]
    if len(significant) > 12:
        lines.append(f"- and {len(significant) - 12} more "
                     f"(comparisons.csv)")
    order = v.optimizers
    neighbours = [c for c in rows if order.index(c.cell_b)
                  == order.index(c.cell_a) + 1]
    noise = [c for c in neighbours if not c.significant]
    if noise:
        lines += ["- within noise, neighbours in the ranking:",
                  *(f"  - {_gap(c)}" for c in noise)]
    floor = {c.note for c in rows if "cannot go below" in c.note}
    lines += [f"- cannot be significant with this many pairs: "
              f"{n.replace(' seeds:', ' pairs:')}" for n in sorted(floor)]
    return [*lines, ""]


def cell_gap_lines(v: Verdict) -> list[str]:
    """How many cell-level gaps (one task, over seeds) survive Holm."""
    tested = [c for c in v.cell_rows if c.p_adjusted is not None]
    if not tested:
        return [f"**Cells** (one task, over seeds): {plural(v.seeds, 'seed')}"
                f" per cell gives no interval and no test; no gap between "
                f"two cells can be called real.", ""]
    significant = [c for c in tested if c.significant]
    text = (f"**Cells** (optimizer pairs within one task, over "
            f"{plural(v.seeds, 'seed')}; Holm over "
            f"{len(tested)}): {len(significant)} significant")
    floor = sorted({c.note for c in tested if "cannot go below" in c.note})
    if floor and not significant:
        text += (f"; with {plural(v.seeds, 'seed')} none can be ({floor[0]})"
                 f", so every single-cell gap is within noise here")
    return [text + ".", ""]


def _best_at(curves: dict, j: int) -> tuple[str, float]:
    name = max(curves, key=lambda o: curves[o].expected[j])
    return name, float(curves[name].expected[j])


def tuning_lines(v: Verdict) -> list[str]:
    """What the tuning budget changes, per run."""
    if not v.lr_grid:
        return ["**Tuning budget**: one learning rate per optimizer: what "
                "tuning would change cannot be assessed, and the ranking "
                "is of untuned optimizers.", ""]
    lines = ["**Tuning budget** (expected best validation accuracy of k "
             "members drawn from the grid per activation, averaged over "
             "activations; budget 1 is one configuration at random):", ""]
    for label, curves in v.tuning.items():
        ks = next(iter(curves.values())).k
        first, top = _best_at(curves, 0), _best_at(curves, len(ks) - 1)
        changes = leader_changes({o: b.expected for o, b in curves.items()},
                                 ks)
        where = ("the lead changes at " + ", ".join(
            f"k = {k} to {o}" for k, o in changes[1:]) if changes[1:]
            else "the lead never changes")
        prefix = f"{label}: " if len(v.tuning) > 1 else ""
        lines.append(f"- {prefix}budget 1: {first[0]} leads "
                     f"({first[1]:.4f}); budget {ks[-1]}: {top[0]} "
                     f"({top[1]:.4f}); {where}.")
    if v.defaults:
        best = max(v.defaults, key=lambda o: v.defaults[o])
        lines.append(f"- at each optimizer's default learning rate (no "
                     f"tuning), {best} leads with mean validation accuracy "
                     f"{v.defaults[best]:.4f}; tuned, "
                     f"{v.optimizers[0]} ranks first.")
    return [*lines, ""]


def time_lines(v: Verdict) -> list[str]:
    """Who reaches the target first (the performance profile at tau = 1)
    and who reaches it on every task."""
    reached = {o: all(t is not None for t in row.values())
               for o, row in v.times.items()}
    if not any(t is not None for row in v.times.values()
               for t in row.values()):
        return []
    profile = performance_profile(v.times, [1.0])
    n = len(v.tasks)
    first = sorted(profile, key=lambda o: -profile[o][0])
    targets = ", ".join(f"{d} {t:g}" for d, t in v.targets.items())
    return [f"**Time to target** (median epoch over seeds to {targets} "
            f"validation accuracy): fastest or tied on the most tasks: "
            + ", ".join(f"{o} {round(profile[o][0] * n)}/{n}"
                        for o in first[:3])
            + "; reached on every task: "
            + (", ".join(o for o in v.optimizers if reached[o])
               or "none") + ".", ""]


def cannot_lines(v: Verdict) -> list[str]:
    """What these runs cannot conclude."""
    out = []
    if v.seeds < 2:
        out.append("with one seed per cell, nothing separates a cell's "
                   "result from seed noise: no interval over seeds and no "
                   "paired test per cell")
    tested = [c for c in v.cell_rows if c.p_adjusted is not None]
    if tested and all("cannot go below" in c.note for c in tested):
        out.append(f"which optimizer is better on any single task: "
                   f"{plural(v.seeds, 'seed')} per cell cannot make a "
                   f"gap significant there, however large")
    if not v.lr_grid:
        out.append("with a single learning rate, whether an optimizer "
                   "wins or loses by its tuning")
    unreached = [t for t in v.tasks
                 if all(v.times[o].get(t) is None for o in v.times)]
    if unreached:
        out.append(f"time to target on {', '.join(unreached)}: no "
                   f"optimizer reached it in half its seeds")
    if len(v.runs) < 2:
        out.append("whether the ranking holds on another dataset or model "
                   "(`python -m jaxmnist.compare` over several runs)")
    if not out:
        return []
    return ["**Cannot be concluded**:", "", *(f"- {t}" for t in out), ""]


def verdict_lines(v: Verdict, why: list[str] | None = None,
                  heading: str = "## Verdict") -> list[str]:
    """The Verdict section; ``why`` the dynamics lines (best against
    worst cell), under their own sub-heading."""
    lines = [heading, "", *ranking_lines(v), *gap_lines(v),
             *cell_gap_lines(v), *tuning_lines(v), *time_lines(v)]
    if why:
        lines += ["**Why** (learning dynamics): " + why[2], *why[3:]]
    return lines + cannot_lines(v)


def run_verdict(run: RunRecords) -> Verdict | str:
    """The run's verdict (:func:`~jaxmnist.results.judgement.judge`), or
    why there is none (a run whose optimizers did not all train every
    activation)."""
    try:
        return judge({run.config.dataset: run})
    except ValueError as e:
        return str(e)


def verdict_section(run: RunRecords, verdict: Verdict | str) -> list[str]:
    """The Verdict section: its numbers, or why it has none."""
    if isinstance(verdict, str):
        return ["## Verdict", "", f"No verdict: {verdict}.", ""]
    if len(verdict.optimizers) < 2:
        return ["## Verdict", "", "One optimizer: nothing to compare.", ""]
    return verdict_lines(verdict, why_section(run))
