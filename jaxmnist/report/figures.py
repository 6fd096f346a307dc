"""Which figures a run gets, drawn from its records into ``<run>/figures/``.

``python -m jaxmnist.plot RUN_DIR`` redraws them from the run's files
through the same records, without retraining.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from jaxmnist.data.sources import class_names
from jaxmnist.report import (
    comparison,
    curves,
    dynamics,
    predictions,
    regularization,
    tuning,
)
from jaxmnist.report.notes import setup_line
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
    return [f for f in FIGURES if f not in skip] + list(reg) + list(probed)


#: Runs of at least this many cells draw their dynamics figures in a second
#: process, beside the others, when there is a second core: the classic
#: grid's six (24 cells, 130 panels) take about half as long as the rest,
#: a small run's under a second, less than starting a Python process.
SIDE_PROCESS_CELLS = 8


def write_figures(run_dir: str | Path, run: RunRecords) -> list[Path]:
    """Draw every figure of ``run`` into ``<run_dir>/figures/`` (the
    dynamics figures of a large run in a second process meanwhile)."""
    out = Path(run_dir) / FIGURES_DIR
    order = dict(optimizers=run.config.optimizers,
                 activations=run.config.activations)
    with _side_process(run) as side:
        probed = _submit(side, dynamics.write_dynamics_figures, run, out,
                         **order)
        names = _main_figures(run_dir, run, out, order)
        if run.dynamics_arrays is not None and not _drawn(probed):
            dynamics.write_dynamics_figures(run, out, **order)
    return [out / f for f in names]


@contextlib.contextmanager
def _side_process(run: RunRecords):
    """A one-process pool for the dynamics figures, or None when drawing
    them here is as fast (no dynamics, a small run, a single core) or no
    process can be started."""
    cores = len(os.sched_getaffinity(0)) if hasattr(
        os, "sched_getaffinity") else os.cpu_count() or 1
    if (run.dynamics_arrays is None or cores < 2
            or len(run.cells) < SIDE_PROCESS_CELLS):
        yield None
        return
    # spawn, not fork: a fork of a process running JAX's threads may hang
    try:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(
            "spawn"))
    except (OSError, NotImplementedError, ImportError):  # no semaphores
        yield None
        return
    with pool:
        yield pool


def _submit(pool: ProcessPoolExecutor | None, fn, *args, **kwargs
            ) -> Future | None:
    if pool is None:
        return None
    try:
        return pool.submit(fn, *args, **kwargs)
    except (BrokenProcessPool, OSError):
        return None


def _drawn(job: Future | None) -> bool:
    """Whether the side process drew its figures: False if there was none
    or it died (they are drawn here then); its drawing's error raised."""
    if job is None:
        return False
    try:
        job.result()
    except BrokenProcessPool:
        return False
    return True


def _main_figures(run_dir: str | Path, run: RunRecords, out: Path,
                  order: dict) -> list[str]:
    """Every figure but the dynamics ones; the names of all of them."""
    note = setup_line(run)
    pred_file = Path(run_dir) / predictions.BEST_PREDICTIONS
    names = figures_for(run, pred_file.is_file())
    curves.plot_curves(run, out / FIGURES[0], "activation", **order)
    curves.plot_curves(run, out / FIGURES[1], "optimizer", **order)
    curves.plot_loss_curves(run, out / FIGURES[2], **order)
    comparison.plot_test_bar(run.cells, out / FIGURES[3], run.members, note)
    comparison.plot_heatmap(run.cells, out / FIGURES[4], **order, note=note)
    if "confusion_matrix.png" in names:
        _prediction_figures(pred_file, out, class_names(run.config.dataset))
    tuning.plot_time_to_target(run.cells, run.members, out / FIGURES[7],
                               run.config.target, run.config.epochs, note)
    if "lr_sensitivity.png" in names:
        tuning.plot_lr_sensitivity(run.cells, out / FIGURES[8], **order,
                                   note=note)
    if regularization.REGULARIZATION in names:
        regularization.plot_regularization(
            run, out / regularization.REGULARIZATION)
    return names


def _prediction_figures(pred_file: Path, out: Path,
                        classes: tuple[str, ...]) -> None:
    with np.load(pred_file) as p:
        who = str(p["member"])
        acc = float((p["y_true"] == p["y_pred"]).mean())
        predictions.plot_confusion(
            p["y_true"], p["y_pred"], out / FIGURES[5],
            f"Best model by validation accuracy: {who} (test accuracy "
            f"{acc:.4f}, {len(p['y_true']):,} test images)", classes)
        predictions.plot_misclassified(
            p["wrong_images"], p["wrong_true"], p["wrong_pred"],
            p["wrong_prob"], out / FIGURES[6],
            f"{who}: misclassified test images, true→predicted "
            f"(probability); the first {len(p['wrong_true'])} of "
            f"{int((p['y_true'] != p['y_pred']).sum())}", classes=classes)
