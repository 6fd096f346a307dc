"""A verdict across runs (``python -m jaxmnist.compare``): verdict.md, its
figures and comparisons.csv in one folder.

The runs (the MNIST and Fashion-MNIST runs of one sweep file, say) must
share the optimizers compared; their activations on their datasets are the
tasks. Each run keeps its own learning-rate choices (made on its own
validation split); the verdict pools the chosen cells' test accuracies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from jaxmnist import files
from jaxmnist.report import verdict_figures as vf
from jaxmnist.report.notes import lr_rule, plural
from jaxmnist.report.style import dataset_title
from jaxmnist.report.verdict import verdict_lines
from jaxmnist.report.why import why_section
from jaxmnist.results import evidence
from jaxmnist.results.judgement import (
    COMPARISONS,
    Verdict,
    judge,
    write_comparisons,
)
from jaxmnist.results.records import RunRecords

#: What an output folder holds.
VERDICT, FIGURES_DIR = "verdict.md", "figures"


def run_labels(paths: Sequence[Path], runs: Sequence[RunRecords]
               ) -> list[str]:
    """Each run's label: its dataset, or its folder's name when two runs
    share a dataset."""
    datasets = [r.config.dataset for r in runs]
    if len(set(datasets)) == len(datasets):
        return datasets
    names = [p.resolve().name for p in paths]
    if len(set(names)) < len(names):
        raise ValueError(f"runs {[str(p) for p in paths]}: two of them share "
                         "a dataset and a folder name; expected runs that "
                         "can be told apart")
    return names


def runs_table(paths: Sequence[Path], runs: Mapping[str, RunRecords],
               targets: Mapping[str, float]) -> list[str]:
    """Which runs the verdict pools, one row each, with the target time
    to target was measured at (``targets``: dataset -> accuracy)."""
    lines = ["| run | folder | dataset | activations | seeds | epochs | "
             "learning rates | target |", "|---|---|---|---|---|---|---|---|"]
    for path, (label, r) in zip(paths, runs.items()):
        cfg = r.config
        lines.append(f"| {label} | `{path}` | {dataset_title(cfg.dataset)} "
                     f"| {', '.join(cfg.activations)} | {cfg.seeds} | "
                     f"{cfg.epochs} | {lr_rule(r)} | "
                     f"{targets.get(cfg.dataset, cfg.target):g} |")
    return [*lines, ""]


def why_lines(runs: Mapping[str, RunRecords]) -> list[str]:
    """Each run's "Why" (its best against its worst cell's dynamics)."""
    lines = []
    for label, r in runs.items():
        why = why_section(r)
        if why:
            lines += [f"### Why on {label}", "", *why[2:]]
    return lines


def verdict_markdown(v: Verdict, paths: Sequence[Path],
                     runs: Mapping[str, RunRecords], figures: Sequence[str],
                     command: str = "") -> str:
    """verdict.md: the runs, the verdict, each run's why, the figures."""
    title = (f"# Verdict: {plural(len(v.optimizers), 'optimizer')} over "
             f"{plural(len(v.tasks), 'task')} of "
             f"{plural(len(runs), 'run')}")
    lines = [title, ""]
    if command:
        lines += [f"`{command}`", ""]
    lines += [*runs_table(paths, runs, v.targets), *verdict_lines(v),
              *why_lines(runs)]
    targets = ", ".join(f"{d} {t:g}" for d, t in v.targets.items())
    lines += ["## Figures", ""]
    for f in figures:
        heading, sentence = vf.VERDICT_NOTES[f]
        extra = f" Targets: {targets}." if f == vf.PROFILE else ""
        lines += [f"### {heading}", "", f"![{f[:-4]}]({FIGURES_DIR}/{f})",
                  "", sentence + extra, ""]
    lines += [f"`{COMPARISONS}` holds every paired comparison (family "
              f"`optimizers`: over (task, seed); family `cells`: within one "
              f"task, over seeds), each family corrected by Holm.", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_compare(out: str | Path, paths: Sequence[Path],
                  runs: Sequence[RunRecords],
                  targets: Mapping[str, float] | None = None,
                  command: str = "") -> list[Path]:
    """verdict.md, comparisons.csv and the figures of ``runs`` (read from
    ``paths``) into ``out``; the paths written. Raises a ValueError (one
    line) when the runs do not share their optimizers."""
    evidence.shared_optimizers(dict(zip(map(str, paths), runs)))
    named = dict(zip(run_labels(paths, runs), runs))
    verdict = judge(named, targets)
    folder = Path(out)
    (folder / FIGURES_DIR).mkdir(parents=True, exist_ok=True)
    written = [write_comparisons(folder / COMPARISONS, verdict)]
    figures = _draw(verdict, folder / FIGURES_DIR)
    written += [folder / FIGURES_DIR / f for f in figures]
    files.write_text(folder / VERDICT, verdict_markdown(
        verdict, paths, named, figures, command))
    return [folder / VERDICT, *written]


def _draw(v: Verdict, out: Path) -> list[str]:
    """The figures the verdict supports, drawn into ``out``."""
    order = v.optimizers
    drawn = [vf.AGGREGATE]
    if v.lr_grid:
        vf.plot_tuning_budget(v.tuning, out / vf.TUNING_BUDGET, order,
                              v.defaults)
        drawn.insert(0, vf.TUNING_BUDGET)
    vf.plot_aggregate(v.ranking, out / vf.AGGREGATE,
                      f"{plural(len(v.tasks), 'task')}: "
                      f"{', '.join(v.tasks)}")
    if any(t is not None for row in v.times.values() for t in row.values()):
        targets = ", ".join(f"{d} {t:g}" for d, t in v.targets.items())
        vf.plot_profile(v.times, out / vf.PROFILE, order,
                        note=f"targets: {targets}")
        drawn.append(vf.PROFILE)
    return drawn
