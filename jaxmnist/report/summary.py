"""summary.md: the study's report on one page.

The verdict (ranking with intervals, significant gaps, the tuning budget,
the learning dynamics of the best and worst cell, what cannot be
concluded), the setup (data, model, grid, seeds, device, versions, wall
time), the result (the best model and by which rule), the ranked cells,
each optimizer group's settings and timing, every figure with a sentence
on how to read it, and the members' table.
"""

from __future__ import annotations

import math
from pathlib import Path

from jaxmnist import files
from jaxmnist.report.figures import FIGURES_DIR, figures_for
from jaxmnist.report.notes import BEST_RULE, lr_rule, plural
from jaxmnist.report.style import dataset_title
from jaxmnist.report.verdict import run_verdict, verdict_section
from jaxmnist.report.verdict_figures import VERDICT_NOTES
from jaxmnist.results.judgement import (
    COMPARISONS,
    Verdict,
    write_comparisons,
)
from jaxmnist.results.records import RunRecords
from jaxmnist.results.stats import best_member, cell_of, has_lr_grid
from jaxmnist.results.tables import (
    BEST_MARK,
    best_cell,
    cells_markdown,
    markdown_table,
)

#: What a run dir holds from this module.
SUMMARY = "summary.md"
#: The wall time summary.md reports: results.json's key, and what it covers.
WALL_TIME_KEY = "train_seconds"
WALL_TIME_MEANS = ("every optimizer group's compilation, training, "
                   "evaluation and saving, one group after another")


#: The learning-dynamics figures (report.dynamics), when the run probed.
DYNAMICS_NOTES = {
    "gradient_flow.png": (
        "Gradient flow", "Per cell, the gradient norm of each layer, mean "
        "over each epoch's steps: layers drifting apart by orders of "
        "magnitude are vanishing or exploding gradients."),
    "units.png": (
        "Dead, inactive and saturated units", "Per cell and hidden layer, "
        "the fraction of dead units (solid) on the probe batch, with, for "
        "a ReLU-like activation, its inactive unit-image pairs (z ≤ 0, "
        "dotted: switched off, not saturated) and, for sigmoid and tanh, "
        "the saturated ones (|f′(z)| below 5% of its maximum, dashed)."),
    "effective_step.png": (
        "Effective step", "Per cell and layer, how far each epoch moved the "
        "weights relative to their norm."),
    "sharpness.png": (
        "Sharpness", "The top Hessian eigenvalue on the probe batch (and "
        "the preconditioned one for adaptive optimizers) against each "
        "optimizer's edge-of-stability threshold (dashed, in the colour of "
        "the curve it bounds); each row on its own log scale."),
    "activations_histogram.png": (
        "Pre-activation histograms", "Each hidden layer's pre-activations "
        "at initialisation (grey) and after the last epoch, one line per "
        "optimizer (each its own dash and width, so none hides another)."),
    "loss_steps.png": (
        "Per-step training loss", "The training loss within each epoch in "
        "windows, mean (line) and max (shaded): spikes a per-epoch curve "
        "hides."),
    "regularization.png": (
        "Regularization", "Mean test accuracy against dropout and weight "
        "decay, with and without batch norm, each combination at its best "
        "learning rate by validation; the cell's choice outlined."),
}


def _seconds(value) -> str:
    return f"{value:.1f} s" if isinstance(value, (int, float)) else "?"


def _versions(meta: dict) -> str:
    versions = meta.get("versions")
    if isinstance(versions, dict) and versions:
        return ", ".join(f"{k} {v}" for k, v in versions.items())
    return "not recorded by this run"


def model_description(cfg) -> str:
    """``MLP 784-128-64-10`` (each hidden shape), ``LeNet-5 CNN``, and the
    batch-norm and regularisation axes."""
    models = []
    for m in cfg.model:
        if m == "mlp":
            models += ["MLP " + "-".join(map(str, (784, *h, 10)))
                       for h in cfg.hidden]
        else:
            models.append("LeNet-5 CNN")
    bn = {(False,): "", (True,): "; batch norm",
          }.get(tuple(cfg.batch_norm), "; with and without batch norm")
    reg = []
    if any(cfg.dropout):
        reg.append("dropout " + ", ".join(f"{d:g}" for d in cfg.dropout))
    if any(cfg.weight_decay):
        reg.append("L2 weight decay " + ", ".join(
            f"{w:g}" for w in cfg.weight_decay))
    return ", ".join(models) + bn + "".join(f"; {r}" for r in reg)


def setup_section(run: RunRecords) -> list[str]:
    """The setup as a two-column table."""
    cfg, meta = run.config, run.meta
    data = dataset_title(cfg.dataset) + (
        f" (first {cfg.train_subset:,} training images)"
        if cfg.train_subset else "")
    rows = [
        ("dataset", f"{data}; {cfg.val_size:,} training images held out for "
                    f"validation; test split only reported"),
        ("model", model_description(cfg)),
        ("activations", ", ".join(cfg.activations)),
        ("optimizers", ", ".join(cfg.optimizers) + f" ({cfg.implementation} "
                       f"implementation, {cfg.schedule} schedule)"),
        ("learning rates", lr_rule(run) + "; per optimizer below"),
        ("epochs", str(cfg.epochs)),
        ("seeds", f"{cfg.seeds} per cell (root seed {cfg.seed})"),
        ("target", f"{cfg.target:g} validation accuracy (time to target)"),
        ("device", str(meta.get("device", "?"))),
        ("versions", _versions(meta)),
        ("wall time", f"{_seconds(meta.get(WALL_TIME_KEY))} "
                      f"(`{WALL_TIME_KEY}` in results.json: "
                      f"{WALL_TIME_MEANS}); data load "
                      f"{_seconds(meta.get('data_load_seconds'))} apart"),
    ]
    return ["## Setup", "", "| | |", "|---|---|",
            *(f"| {k} | {v} |" for k, v in rows), ""]


def groups_section(run: RunRecords) -> list[str]:
    """Each optimizer group: batch size, learning rates, members, timing."""
    cfg = run.config
    timing = {g.get("group", g.get("optimizer")): g
              for g in run.meta.get("groups", []) if isinstance(g, dict)}
    lines = ["## Optimizer groups: settings and timing", "",
             "Each optimizer is one compiled program that trains all its "
             "members (activations x learning rates x seeds) at once. "
             "\"wall s\" runs from the end of the group before it to its "
             "own; \"compile s\" is its compilation, which runs beside "
             "the previous group's training (on a second thread, in a "
             "single process), so \"wall s\" holds only the part of it "
             "that was left; \"s per member-epoch\" is its epochs' "
             "training time per member and epoch.", "",
             "| group | batch | learning rates | members | wall s | "
             "compile s | s per member-epoch |",
             "|---|---|---|---|---|---|---|"]
    for spec in cfg.groups():
        opt, batch = spec.name, spec.config.batch_size
        g = timing.get(opt, {})
        n, sec, comp = g.get("members"), g.get("seconds"), \
            g.get("compile_seconds")
        per = _per_member_epoch(g, cfg.epochs)
        lrs = ", ".join(f"{lr:.3g}" for lr in sorted(
            {c.learning_rate for c in run.cells if c.setup == opt}))
        if not lrs:
            lines.append(f"| {opt} | {batch} | not trained (yet) | | | | |")
            continue
        lines.append(f"| {opt} | {batch} | {lrs} | "
                     f"{n if n is not None else '?'} | "
                     f"{'?' if sec is None else f'{sec:.1f}'} | "
                     f"{'?' if comp is None else f'{comp:.1f}'} | "
                     f"{'?' if per is None else f'{per:.3f}'} |")
    return [*lines, ""]


def _per_member_epoch(timing: dict, epochs: int) -> float | None:
    """A group's training seconds per member and epoch: its epochs' time
    (results.json before it was kept: the wall less the compilation)."""
    n, sec = timing.get("members"), timing.get("epoch_seconds")
    if sec is None and isinstance(timing.get("seconds"), (int, float)) \
            and isinstance(timing.get("compile_seconds"), (int, float)):
        sec = timing["seconds"] - timing["compile_seconds"]
    if not (isinstance(n, int) and n and isinstance(sec, (int, float))):
        return None
    return sec / (n * epochs)


def result_section(run: RunRecords) -> list[str]:
    """The best model and the best cell, and by which rule."""
    lines = ["## Result", ""]
    best, cell = best_member(run.members), best_cell(run.cells)
    if best is None or cell is None:
        return [*lines, "Every member diverged: there is no best model.", ""]
    lines.append(f"**Best model: {best.setup} / {best.activation}, "
                 f"lr {best.learning_rate:.3g}, seed {best.seed}**: "
                 f"validation accuracy {best.val_accuracy:.4f}, test "
                 f"accuracy {best.test_accuracy:.4f} ({BEST_RULE}). "
                 f"`python -m jaxmnist.evaluate RUN --best` and "
                 f"`python -m jaxmnist.predict RUN IMAGE` load this model.")
    if run.config.seeds > 1 or has_lr_grid(run.cells):
        ci = ("" if math.isnan(cell.test_ci95)
              else f" ± {cell.test_ci95:.4f}")
        lines += ["", f"**Best cell by mean validation accuracy: "
                  f"{cell.setup} / {cell.activation}, lr "
                  f"{cell.learning_rate:.3g}**: validation "
                  f"{cell.val_mean:.4f}, test {cell.test_mean:.4f}{ci} "
                  f"(mean{', 95% CI' if ci else ''} over "
                  f"{plural(cell.finite, 'seed')})."]
    return [*lines, ""]


def cells_section(run: RunRecords) -> list[str]:
    rule = ("the chosen learning rate of each cell (" + lr_rule(run) + ")"
            if has_lr_grid(run.cells) else "one learning rate per cell")
    spread = ("mean and 95% Student-t CI over its non-diverged seeds"
              if run.config.seeds > 1 else
              "one seed per cell: a single run's accuracy, with no "
              "interval (seed noise cannot be told apart)")
    return ["## Cells ranked by mean test accuracy", "",
            f"Each (optimizer, activation) at {rule}; {spread}.", "",
            cells_markdown(run.cells, run.config.target), "",
            f"`{BEST_MARK}` marks the best cell by mean validation accuracy; "
            f"the ranking by test accuracy is for reading only and chooses "
            f"nothing.", ""]


def _reach_sentence(run: RunRecords) -> str:
    cs = [c for c in run.cells if c.chosen]
    hit = sorted((c for c in cs if c.reached_target),
                 key=lambda c: (c.target_epoch_mean or 0,
                                c.target_seconds_mean or 0))
    text = (f"{len(hit)} of {len(cs)} cells reached {run.config.target:g} "
            f"validation accuracy within {plural(run.config.epochs, 'epoch')}")
    if hit:
        text += (f"; first {hit[0].setup} / {hit[0].activation} (epoch "
                 f"{hit[0].target_epoch_mean:.1f})")
    return text + ". Seconds are the training time of the whole optimizer " \
        "group, so they compare groups, not single models."


def _edge_sentence(run: RunRecords) -> str:
    grid: dict[tuple, list[float]] = {}
    for c in run.cells:
        grid.setdefault(cell_of(c), []).append(
            c.learning_rate)
    chosen = [c for c in run.cells if c.chosen]
    edge = sum(c.learning_rate in (min(grid[cell_of(c)]),
                                   max(grid[cell_of(c)]))
               for c in chosen)
    sizes = sorted({len(v) for v in grid.values()})
    per = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]}"
    return (f"Mean validation accuracy against the learning rate "
            f"({per} per cell), the chosen rate "
            f"circled; {edge} of {len(chosen)} chosen rates sit at an edge "
            f"of their grid, where a wider grid might choose otherwise.")


def figure_notes(run: RunRecords) -> dict[str, tuple[str, str]]:
    """figure file -> (heading, one sentence on how to read it)."""
    best = best_member(run.members)
    who = best.name if best else "the best model"
    return {
        "curves_by_activation.png": (
            "Accuracy curves by activation",
            "Validation (solid, a marker per optimizer) and training "
            "(dashed) accuracy per epoch at each cell's chosen learning "
            "rate; each panel's y-axis is zoomed to the validation accuracy "
            "of its last half of training (training accuracy runs above it) "
            "and every line is labelled with its final validation "
            "accuracy."),
        "curves_by_optimizer.png": (
            "Accuracy curves by optimizer",
            "The same curves grouped by optimizer, one line per "
            "activation."),
        "loss_curves.png": (
            "Loss curves per cell",
            "Cross-entropy on a log scale, one panel per cell with its "
            "learning rate: validation loss rising while training loss "
            "falls is overfitting."),
        "test_accuracy_bar.png": (
            "Test accuracy, sorted",
            ("Every cell's mean test accuracy with its 95% CI (grey dots: "
             "single seeds)" if run.config.seeds > 1 else
             "Every cell's test accuracy (one seed: no interval)")
            + ", sorted, the learning rate in each label; the best cell "
            "by validation is red."),
        "heatmap.png": (
            "Optimizer x activation",
            "The same means as a grid, the best cell by validation "
            "outlined."),
        "confusion_matrix.png": (
            "Confusion matrix of the best model",
            f"What {who} confuses on the test split: counts, and each "
            f"error as a percentage of its true class."),
        "misclassified.png": (
            "Misclassified test images",
            f"Test images {who} gets wrong, with its probability for the "
            f"wrong class."),
        "time_to_target.png": (
            f"Time to {run.config.target:g} validation accuracy",
            _reach_sentence(run)),
        "lr_sensitivity.png": ("Learning-rate sensitivity",
                               _edge_sentence(run)),
        **{f: (heading, sentence + _probe_point(run))
           for f, (heading, sentence) in DYNAMICS_NOTES.items()},
        **VERDICT_NOTES,
    }


def _probe_point(run: RunRecords) -> str:
    """Which point the probes read, when an optimizer of the run evaluates
    elsewhere than it trains (Schedule-Free); else nothing."""
    from jaxmnist.core.train import evaluates_elsewhere  # noqa: PLC0415

    names = [o for o in run.config.optimizers if evaluates_elsewhere(o)]
    if not names:
        return ""
    return (f" For {', '.join(names)} the probes read the training point "
            f"(y, where its gradients are taken); its validation, test and "
            f"saved models use its evaluation point (x, the average).")


def figures_section(run: RunRecords, has_predictions: bool) -> list[str]:
    notes = figure_notes(run)
    lines = ["## Figures", ""]
    for f in figures_for(run, has_predictions):
        heading, sentence = notes[f]
        lines += [f"### {heading}", "", f"![{f[:-4]}]({FIGURES_DIR}/{f})",
                  "", sentence, ""]
    return lines


def summary_markdown(run: RunRecords, has_predictions: bool = True,
                     verdict: Verdict | str | None = None) -> str:
    """The run as one page: verdict (with the dynamics' why when the run
    probed), setup, result, ranked cells, groups, figures, members.
    ``verdict``: :func:`run_verdict`'s, when already computed."""
    cfg = run.config
    title = (f"# {cfg.name or 'Sweep'}: {dataset_title(cfg.dataset)}, "
             f"{plural(len(cfg.activations), 'activation')} x "
             f"{plural(len(cfg.optimizers), 'optimizer')}")
    verdict = run_verdict(run) if verdict is None else verdict
    lines = [title, "", *verdict_section(run, verdict),
             *setup_section(run), *result_section(run), *cells_section(run),
             *groups_section(run), *figures_section(run, has_predictions)]
    if len(run.members) > len([c for c in run.cells if c.chosen]):
        lines += ["## Members", "", "<details><summary>All "
                  f"{len(run.members)} trained models, sorted by test "
                  f"accuracy ({BEST_MARK}: the best model by validation)"
                  "</summary>", "", markdown_table(run.members), "",
                  "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(run_dir: str | Path, run: RunRecords,
                 has_predictions: bool) -> list[Path]:
    """summary.md and, when the run has a verdict, comparisons.csv, each
    written atomically into ``run_dir``; the paths written."""
    out = Path(run_dir)
    verdict = run_verdict(run)
    files.write_text(out / SUMMARY, summary_markdown(run, has_predictions,
                                                     verdict))
    if isinstance(verdict, str):
        return [out / SUMMARY]
    return [out / SUMMARY, write_comparisons(out / COMPARISONS, verdict)]
