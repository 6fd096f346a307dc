"""Which figures a run gets, drawn from its records into ``<run>/figures/``.

``python -m jaxmnist.plot RUN_DIR`` redraws them from the run's files
through the same records, without retraining.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxmnist.data.sources import class_names
from jaxmnist.report import (
    comparison,
    curves,
    dynamics,
    landscape,
    predictions,
    regularization,
    tuning,
    verdict_figures,
)
from jaxmnist.report.notes import setup_line
from jaxmnist.results.landscape import has_landscape, read_landscape
from jaxmnist.results.records import RunRecords
from jaxmnist.results.stats import has_lr_grid

#: What a run dir holds from this module (``evaluation/`` is evaluate's).
FIGURES_DIR, EVALUATION_DIR = "figures", "evaluation"
FIGURES = ("curves_by_activation.png", "curves_by_optimizer.png",
           "loss_curves.png", "test_accuracy_bar.png", "heatmap.png",
           "confusion_matrix.png", "misclassified.png",
           "time_to_target.png", "lr_sensitivity.png")


def figures_for(run: RunRecords, has_predictions: bool) -> list[str]:
    """The figures this run gets: lr_sensitivity only with a learning-rate
    grid, the prediction figures only when the best model's predictions
    were saved."""
    skip = set()
    if not has_lr_grid(run.cells):
        skip.add("lr_sensitivity.png")
    if not has_predictions:
        skip |= {"confusion_matrix.png", "misclassified.png"}
    probed = dynamics.DYNAMICS_FIGURES if run.dynamics_arrays is not None \
        else ()
    reg = ((regularization.REGULARIZATION,)
           if regularization.has_regularization(run) else ())
    return [f for f in FIGURES if f not in skip] + list(reg) + list(
        probed) + verdict_figures.verdict_figures_for(run)


def write_figures(run_dir: str | Path, run: RunRecords) -> list[Path]:
    """Draw every figure of ``run`` into ``<run_dir>/figures/``, in this
    process (matplotlib's Agg backend), one after another."""
    out = Path(run_dir) / FIGURES_DIR
    order = dict(optimizers=run.config.optimizers,
                 activations=run.config.activations)
    pred_file = Path(run_dir) / predictions.BEST_PREDICTIONS
    names = figures_for(run, pred_file.is_file())
    jobs = _jobs(run, out, order, names, pred_file)
    if has_landscape(run_dir):  # a --landscape run's
        jobs += landscape.landscape_jobs(read_landscape(run_dir), out,
                                         **order)
        names += landscape.LANDSCAPE_FIGURES
    for fn, args, kwargs in jobs:
        fn(*args, **kwargs)
    return [out / f for f in names]


def _jobs(run: RunRecords, out: Path, order: dict, names: list[str],
          pred_file: Path) -> list[tuple]:
    """``names``' figures as ``(function, args, kwargs)``."""
    note = setup_line(run)
    classes = class_names(run.config.dataset)
    probed = (zip(dynamics.DYNAMICS_FIGURES,
                  dynamics.dynamics_jobs(run, out, **order))
              if run.dynamics_arrays is not None else [])
    jobs = [
        (FIGURES[2], (curves.plot_loss_curves, (run, out / FIGURES[2]),
                      order)),
        (FIGURES[6], (_misclassified, (pred_file, out, classes), {})),
        *probed,
        (FIGURES[0], (curves.plot_curves,
                      (run, out / FIGURES[0], "activation"), order)),
        (FIGURES[1], (curves.plot_curves,
                      (run, out / FIGURES[1], "optimizer"), order)),
        (regularization.REGULARIZATION,
         (regularization.plot_regularization,
          (run, out / regularization.REGULARIZATION), {})),
        (FIGURES[5], (_confusion, (pred_file, out, classes), {})),
        (FIGURES[7], (tuning.plot_time_to_target,
                      (run.cells, run.members, out / FIGURES[7],
                       run.config.target, run.config.epochs, note), {})),
        (FIGURES[8], (tuning.plot_lr_sensitivity,
                      (run.cells, out / FIGURES[8]),
                      {**order, "note": note})),
        *((f, (verdict_figures.draw_run_figure, (f, run, out / f),
               {"optimizers": order["optimizers"], "note": note}))
          for f in verdict_figures.VERDICT_FIGURES),
        (FIGURES[3], (comparison.plot_test_bar,
                      (run.cells, out / FIGURES[3], run.members, note), {})),
        (FIGURES[4], (comparison.plot_heatmap, (run.cells, out / FIGURES[4]),
                      {**order, "note": note}))]
    return [job for name, job in jobs if name in names]


def _confusion(pred_file: Path, out: Path, classes: tuple[str, ...]) -> None:
    with np.load(pred_file) as p:
        who = str(p["member"])
        acc = float((p["y_true"] == p["y_pred"]).mean())
        predictions.plot_confusion(
            p["y_true"], p["y_pred"], out / FIGURES[5],
            f"Best model by validation accuracy: {who} (test accuracy "
            f"{acc:.4f}, {len(p['y_true']):,} test images)", classes)


def _misclassified(pred_file: Path, out: Path,
                   classes: tuple[str, ...]) -> None:
    with np.load(pred_file) as p:
        who = str(p["member"])
        predictions.plot_misclassified(
            p["wrong_images"], p["wrong_true"], p["wrong_pred"],
            p["wrong_prob"], out / FIGURES[6],
            f"{who}: misclassified test images, true→predicted "
            f"(probability); the first {len(p['wrong_true'])} of "
            f"{int((p['y_true'] != p['y_pred']).sum())}", classes=classes)
