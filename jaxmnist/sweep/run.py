"""A whole sweep, end to end: data, groups, results, models, figures.

:func:`run_sweep` reads top to bottom as the pipeline: load and check the
data, train each group (resuming from its checkpoints), turn the groups into
typed result records, save each member's model, then hand the records to the
writers and the report. ``python -m jaxmnist.sweep`` parses the options and
calls it. One sweep at a time holds the run dir (:mod:`.lock`); a
:class:`~jaxmnist.errors.StopRequest` stops it at its next safe point.
"""

from __future__ import annotations

import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import jax
import numpy as np

from jaxmnist import __version__, files
from jaxmnist.core.net import class_probabilities
from jaxmnist.core.train import steps_per_epoch
from jaxmnist.data import Dataset, load_dataset
from jaxmnist.errors import StopRequest
from jaxmnist.report import figures, summary, tensorboard
from jaxmnist.report.predictions import BEST_PREDICTIONS, save_best_predictions
from jaxmnist.results import records
from jaxmnist.results.landscape import LANDSCAPE_FILES, write_landscape
from jaxmnist.results.members import MODELS_DIR, GroupResult
from jaxmnist.results.records import RunRecords
from jaxmnist.sweep import checkpoint, chunks
from jaxmnist.sweep.cluster import cluster, replicated
from jaxmnist.sweep.collect import Results
from jaxmnist.sweep.config import (
    GroupSpec,
    SweepConfig,
    differences,
    read_run,
    read_toml,
    to_toml,
)
from jaxmnist.sweep.group import train_group
from jaxmnist.sweep.landscape import run_landscape
from jaxmnist.sweep.progress import RunBar

#: Everything a run dir holds; ``--overwrite`` removes exactly these.
RUN_FILES = ("config.toml", *records.RESULT_FILES, *LANDSCAPE_FILES,
             summary.SUMMARY, summary.COMPARISONS, BEST_PREDICTIONS,
             checkpoint.FINISHED)
RUN_DIRS = (checkpoint.CHECKPOINTS_DIR, MODELS_DIR,
            figures.FIGURES_DIR, figures.EVALUATION_DIR,
            tensorboard.TENSORBOARD_DIR)


def check_run_dir(cfg: SweepConfig, out: Path, overwrite: bool) -> None:
    """Refuse to mix two sweeps in one run dir; ``overwrite`` starts over.

    A run dir with the same config (every field that changes the numbers)
    is resumed: finished groups are kept, an interrupted one continues from
    its last checkpoint.
    """
    old_file = out / "config.toml"
    if not old_file.is_file():
        return
    if overwrite:
        for name in RUN_DIRS:
            shutil.rmtree(out / name, ignore_errors=True)
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        return
    try:
        old = SweepConfig(**read_toml(old_file))
    except ValueError as e:
        raise ValueError(f"{str(out)!r} holds an unreadable config.toml; use "
                         f"--overwrite to start over") from e
    diff = differences(old, cfg)
    if diff:
        raise ValueError(f"{str(out)!r} holds a different sweep ({diff[0]}"
                         f"{'; ...' if len(diff) > 1 else ''}); use "
                         f"--overwrite to start over, or another --out")


def load_data(cfg: SweepConfig) -> tuple[Dataset, float]:
    """The sweep's dataset and the seconds it took to load."""
    t = time.perf_counter()
    data = load_dataset(cfg.dataset, manual_dir=cfg.manual_dir,
                        data_dir=cfg.data_dir, val_size=cfg.val_size,
                        seed=0, train_subset=cfg.train_subset)
    return data, time.perf_counter() - t


def check_groups(groups: list[GroupSpec], num_train: int) -> None:
    """Every group's config against the data, before anything trains."""
    for g in groups:
        try:
            steps_per_epoch(g.config, num_train)
        except ValueError as e:
            raise ValueError(f"{g.name}: {e}") from e


def prepare_out(path: Path) -> None:
    """Create the output dir or fail with one line."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"output dir {str(path)!r} cannot be written "
                         f"({e.strerror or type(e).__name__})") from e


def versions() -> dict[str, str]:
    """The software a run's numbers depend on."""
    return {"jaxmnist": __version__, "jax": jax.__version__,
            "jaxlib": version("jaxlib"), "optax": version("optax"),
            "numpy": np.__version__, "python": platform.python_version()}


def trained_groups(specs: list[GroupSpec], dirs: list[Path], data: Dataset,
                   cfg: SweepConfig, bar: RunBar, stop: StopRequest
                   ) -> Iterator[tuple[GroupSpec, GroupResult]]:
    """Each group of ``specs`` planned, compiled and trained in order
    (resumed from, and checkpointed in, its dir of ``dirs``; a finished one
    read back), chunked by ``cfg``'s memory options."""
    # what is free now, before any group holds memory: every group's budget
    max_memory = chunks.budget(cfg.max_memory_bytes)
    # on every device once: each group's placing then finds it there
    data = jax.device_put(data, replicated(cluster.mesh()))
    for i, spec in enumerate(specs):
        stop.check(f"stopped after group {specs[i - 1].name} ({i} of "
                   f"{len(specs)} groups finished)" if i else
                   "stopped before training")
        yield spec, train_group(spec, data, progress=bar, stop=stop,
                                checkpoint_dir=dirs[i], max_memory=max_memory,
                                members_per_program=cfg.members_per_program)


def train_groups(cfg: SweepConfig, data: Dataset, out: Path, load_s: float,
                 bar: RunBar, stop: StopRequest) -> Results:
    """Train every group of ``cfg`` into ``out``, adding each to the run's
    :class:`Results` as it finishes."""
    results, start = Results(cfg, out), time.perf_counter()
    specs = cfg.groups()
    dirs = [checkpoint.group_dir(out, spec.name) for spec in specs]
    for spec, group in trained_groups(specs, dirs, data, cfg, bar, stop):
        results.add(spec, group, {
            "device": str(jax.devices()[0]), "versions": versions(),
            "data_load_seconds": round(load_s, 3),
            "train_seconds": round(time.perf_counter() - start, 3)})
    return results


def run_sweep(cfg: SweepConfig, out: Path, progress: bool = True,
              stop: StopRequest | None = None) -> RunRecords:
    """Train the sweep ``cfg`` and write everything into ``out``.

    Re-running it on the same ``out`` resumes (see :func:`check_run_dir`);
    a finished run is read back, not trained again. The run dir is created
    only once the data has loaded, then held (:class:`RunLock`) until this
    returns.

    Raises:
      InUse: another sweep holds ``out``.
      Interrupted: ``stop`` was requested, or Ctrl-C; every finished epoch
        and group is saved.
      OSError: a file could not be written (a full disk, a read-only or
        forbidden folder); it names the file, and what was saved before it
        is intact.
    """
    when = checkpoint.run_finished(out)
    if when is not None:
        print(f"{out} holds this sweep, finished {when}; nothing to train "
              f"(--overwrite trains it again)", file=sys.stderr, flush=True)
        if cluster.main:
            checkpoint.tidy(out, cfg.keep_checkpoints)
        return read_run(out)
    data, load_s = load_data(cfg)
    check_groups(cfg.groups(), data.num_train)
    prepare_out(out)
    stop = stop or StopRequest()
    if not cluster.main:  # process 0 holds the run dir for all
        return _run(cfg, out, data, load_s, progress, stop)
    with checkpoint.held(out):
        return _run(cfg, out, data, load_s, progress, stop)


def _run(cfg: SweepConfig, out: Path, data: Dataset, load_s: float,
         progress: bool, stop: StopRequest) -> RunRecords:
    host_test = (np.asarray(data.test_images), np.asarray(data.test_labels))
    data = jax.device_put(data)
    print(f"{cfg.dataset}: {data.num_train} train / {len(data.val_labels)} val"
          f" / {len(data.test_labels)} test images, loaded in {load_s:.1f} s;"
          f" device {jax.devices()[0]}; output {out}", flush=True)
    if cluster.main:
        files.write_text(out / "config.toml", to_toml(cfg))
    bar = RunBar(sum(len(g.members) * g.config.epochs for g in cfg.groups()),
                 enabled=progress)

    def train() -> Results:
        try:
            return train_groups(cfg, data, out, load_s, bar, stop)
        finally:
            bar.close()
    return write_run(cfg, out, host_test, train, stop, data)


def write_run(cfg: SweepConfig, out: Path, host_test: tuple,
              results: Callable[[], Results], stop: StopRequest,
              data: Dataset) -> RunRecords:
    """Call ``results`` (which trains, or gathers, every group into
    ``out``), then write the best member's predictions, the figures and
    summary.md, and mark ``out`` finished. ``host_test``: the test split's
    (images, labels); ``data`` the whole dataset (for ``--landscape``)."""
    done = results()
    run, best = done.run, done.best
    if not cluster.main:
        return run
    stop.check("stopped before the figures (every group is trained and "
               "saved)")
    if best is not None:
        probs = np.asarray(class_probabilities(
            best.params, best.member.activation, host_test[0]))
        save_best_predictions(out, best.member, probs, *host_test)
    if cfg.landscape:
        land = run_landscape(cfg, out, data, run.members, run.cells)
        write_landscape(out, land)
        print(f"landscape: {len(land.rows)} paths and "
              f"{len(land.surfaces)} slices in {land.meta['seconds']:.1f}"
              f" s", file=sys.stderr, flush=True)
        stop.check("stopped before the figures (every group is trained "
                   "and saved, and the landscape written)")
    figures.write_figures(out, run)
    summary.write_report(out, run, (out / BEST_PREDICTIONS).is_file())
    checkpoint.finish(out, cfg.keep_checkpoints)
    return run
