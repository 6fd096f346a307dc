"""Which figures a run gets, drawn from its records into ``<run>/figures/``.

``python -m jaxmnist.plot RUN_DIR`` redraws them from the run's files
through the same records, without retraining.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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


#: Runs of at least this many cells share their figures with a second
#: process when there is a second core: a large run's figures take seconds
#: in one process, a small run's less than starting a Python process
#: (docs/performance.md).
SIDE_PROCESS_CELLS = 8


def write_figures(run_dir: str | Path, run: RunRecords,
                  side: ProcessPoolExecutor | None = None) -> list[Path]:
    """Draw every figure of ``run`` into ``<run_dir>/figures/``. A large
    run's are shared with a second process: ``side`` when given (the
    sweep starts it before training, :func:`side_process`, so that its
    imports are done by then), else one started here."""
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
    if side is not None:
        _draw(jobs, side)
    else:
        with side_process(len(run.cells)) as side:
            _draw(jobs, side)
    return [out / f for f in names]


def _jobs(run: RunRecords, out: Path, order: dict, names: list[str],
          pred_file: Path) -> list[tuple]:
    """``names``' figures as ``(function, args, kwargs)``, the heaviest
    first (loss curves, misclassified examples, the dynamics figures, the
    accuracy curves, then the rest), so that the side process, which
    takes jobs from the front, gets the slow ones."""
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


def _draw(jobs: list[tuple], side: ProcessPoolExecutor | None) -> None:
    """Every job once: the side process takes them from the front (the
    heaviest first), this one from the back, until they meet; what the
    side process could not draw (it died) is drawn here."""
    futures = [_submit(side, fn, *args, **kwargs)
               for fn, args, kwargs in jobs]
    for (fn, args, kwargs), job in zip(reversed(jobs), reversed(futures)):
        if job is None or job.cancel():
            fn(*args, **kwargs)
    for (fn, args, kwargs), job in zip(jobs, futures):
        if job is not None and not job.cancelled() and not _drawn(job):
            fn(*args, **kwargs)


@contextlib.contextmanager
def side_process(cells: int):
    """A one-process pool to share the figures of a run of ``cells``
    cells, started now, or None when drawing them all here is as fast (a
    small run, a single core) or no process can be started."""
    cores = len(os.sched_getaffinity(0)) if hasattr(
        os, "sched_getaffinity") else os.cpu_count() or 1
    if cores < 2 or cells < SIDE_PROCESS_CELLS:
        yield None
        return
    # spawn, not fork: a fork of a process running JAX's threads may hang
    try:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(
            "spawn"), initializer=_side_init, initargs=(os.getpid(),))
    except (OSError, NotImplementedError, ImportError):  # no semaphores
        yield None
        return
    try:
        _start(pool)
        yield pool
    finally:  # an error or Ctrl-C here: the queued figures are dropped
        pool.shutdown(wait=True, cancel_futures=True)


def _start(pool: ProcessPoolExecutor) -> None:
    """Start the side process (its imports happen meanwhile), ignoring
    Ctrl-C from its first instruction: the sweep stops it. An ignored
    signal stays ignored across the process's exec, and Python keeps it
    so (the initializer says it again)."""
    before = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: the initializer only
        _submit(pool, _ready)
        return
    try:
        _submit(pool, _ready)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if before is None
                      else before)


def _side_init(sweep: int) -> None:
    """The side process leaves Ctrl-C to the sweep (pid ``sweep``), which
    stops it, and ends with it when it is killed outright (SIGKILL, the
    OOM killer): a drawing left half done is a temporary file, which the
    resumed run removes. Linux's kernel kills it with its parent; elsewhere
    it notices within a second."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # not Linux
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG,
                                                signal.SIGKILL)
    threading.Thread(target=_exit_with, args=(sweep,), daemon=True).start()


def _exit_with(parent: int, every: float = 1.0) -> None:
    """Exit this process once ``parent`` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


def _ready() -> None:
    """Nothing: a first job, to start the process."""


def _submit(pool: ProcessPoolExecutor | None, fn, *args, **kwargs
            ) -> Future | None:
    if pool is None:
        return None
    try:
        return pool.submit(fn, *args, **kwargs)
    except (BrokenProcessPool, OSError, RuntimeError):  # dead or shut down
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
