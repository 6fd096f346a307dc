"""A whole sweep, end to end: data, groups, results, models, figures.

:func:`run_sweep` reads as the pipeline: load and check the data, train each
group in order (resumed from its checkpoints), add it to the run's
:class:`Results` (its records, result files and saved models), then write
the best member's predictions, the figures and the summary
(:func:`write_run`). The merge of a sharded sweep adds the groups it reads
back from the shards to the same :class:`Results`: the same files.
"""

from __future__ import annotations

import platform
import shutil
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from jaxmnist import __version__, files
from jaxmnist.core.activations import activation_index
from jaxmnist.core.net import class_probabilities
from jaxmnist.core.train import steps_per_epoch
from jaxmnist.data import Dataset, load_dataset
from jaxmnist.errors import StopRequest
from jaxmnist.landscape import run_landscape
from jaxmnist.plugins import source_modules
from jaxmnist.report import figures, summary, tensorboard
from jaxmnist.report.predictions import BEST_PREDICTIONS, save_best_predictions
from jaxmnist.results import records, rows, stats
from jaxmnist.results.landscape import LANDSCAPE_FILES, write_landscape
from jaxmnist.results.members import (
    MODELS_DIR,
    GroupResult,
    Member,
    member_path,
)
from jaxmnist.results.records import MemberResult, RunRecords
from jaxmnist.sweep import checkpoint, store
from jaxmnist.sweep.cluster import budget, cluster, replicated
from jaxmnist.sweep.config import (
    GroupSpec,
    SweepConfig,
    differences,
    read_run,
    read_toml,
    to_toml,
)
from jaxmnist.sweep.group import train_group
from jaxmnist.sweep.progress import RunBar

#: Everything a run dir holds; ``--overwrite`` removes exactly these.
RUN_FILES = ("config.toml", *records.RESULT_FILES, *LANDSCAPE_FILES,
             summary.SUMMARY, summary.COMPARISONS, BEST_PREDICTIONS,
             checkpoint.FINISHED)
RUN_DIRS = (checkpoint.CHECKPOINTS_DIR, MODELS_DIR,
            figures.FIGURES_DIR, figures.EVALUATION_DIR,
            tensorboard.TENSORBOARD_DIR)


def check_run_dir(cfg: SweepConfig, out: Path, overwrite: bool) -> None:
    """Refuse to mix two sweeps in one run dir (one with the same numeric
    fields resumes); ``overwrite`` starts over."""
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


def timings(load_s: float, start: float) -> dict:
    """A run's (or shard's) device, the software its numbers depend on,
    and its data-load and training seconds (since ``start``)."""
    return {"device": str(jax.devices()[0]), "versions": {
        "jaxmnist": __version__, "jax": jax.__version__,
        "jaxlib": version("jaxlib"), "optax": version("optax"),
        "numpy": np.__version__, "python": platform.python_version()},
        "data_load_seconds": round(load_s, 3),
        "train_seconds": round(time.perf_counter() - start, 3)}


def trained_groups(specs: list[GroupSpec], dirs: list[Path], data: Dataset,
                   cfg: SweepConfig, bar: RunBar, stop: StopRequest
                   ) -> Iterator[tuple[GroupSpec, GroupResult]]:
    """Each group of ``specs`` trained in order, checkpointed in (and
    resumed from) its dir of ``dirs``, chunked by ``cfg``'s memory
    options."""
    # what is free now, before any group holds memory: every group's budget
    max_memory = budget(cfg.max_memory_bytes)
    # on every device once: each group's placing then finds it there
    data = jax.device_put(data, replicated(cluster.mesh()))
    for i, spec in enumerate(specs):
        stop.check(f"stopped after group {specs[i - 1].name} ({i} of "
                   f"{len(specs)} groups finished)" if i else
                   "stopped before training")
        yield spec, train_group(spec, data, progress=bar, stop=stop,
                                checkpoint_dir=dirs[i], max_memory=max_memory,
                                members_per_program=cfg.members_per_program)


def run_sweep(cfg: SweepConfig, out: Path, progress: bool = True,
              stop: StopRequest | None = None) -> RunRecords:
    """Train the sweep ``cfg`` into ``out``, resuming what is there (a
    finished run is read back). The run dir is made once the data has
    loaded, then held until this returns.

    Raises:
      InUse: another sweep holds ``out``.
      Interrupted: ``stop`` was requested, or Ctrl-C; every finished epoch
        and group is saved.
      OSError: naming a file that could not be written; what was saved
        before it is intact.
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
    print(f"{cfg.dataset}: {data.num_train} train / {len(data.val_labels)} val"
          f" / {len(data.test_labels)} test images, loaded in {load_s:.1f} s;"
          f" device {jax.devices()[0]}; output {out}", flush=True)
    if cluster.main:
        files.write_text(out / "config.toml", to_toml(cfg))
    specs = cfg.groups()
    bar = RunBar(sum(len(g.members) * g.config.epochs for g in specs),
                 enabled=progress)
    results, start = Results(cfg, out), time.perf_counter()
    try:
        for spec, group in trained_groups(
                specs, [checkpoint.group_dir(out, s.name) for s in specs],
                data, cfg, bar, stop):
            results.add(spec, group, timings(load_s, start))
    finally:
        bar.close()
    return write_run(cfg, out, results, stop, data)


def write_run(cfg: SweepConfig, out: Path, results: Results,
              stop: StopRequest, data: Dataset) -> RunRecords:
    """After every group is in ``results``: write the best member's
    predictions, the landscape (``--landscape``), the figures and
    summary.md, and mark ``out`` finished (process 0)."""
    run, best = results.run, results.best
    if not cluster.main:
        return run
    stop.check("stopped before the figures (every group is trained and "
               "saved)")
    if best is not None:
        test = (np.asarray(data.test_images), np.asarray(data.test_labels))
        probs = np.asarray(class_probabilities(
            best.params, best.member.activation, test[0]))
        save_best_predictions(out, best.member, probs, *test)
    if cfg.landscape:
        land = run_landscape(cfg, out, jax.device_put(data), run.members,
                             run.cells)
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

# --------------------------------------------------------------------------
# The run's records, group by group
# --------------------------------------------------------------------------

def model_metadata(cfg: SweepConfig, spec: GroupSpec,
                   m: MemberResult) -> dict:
    """What a saved model needs to be run and described again."""
    keys = set(Member._fields)
    return {**{k: v for k, v in m._asdict().items() if k in keys},
            "dataset": cfg.dataset, "sizes": list(spec.config.sizes),
            "activation_index": activation_index(m.activation),
            "implementation": cfg.implementation, "root_seed": cfg.seed,
            "epochs": cfg.epochs, "batch_size": spec.config.batch_size,
            "schedule": cfg.schedule, "val_size": cfg.val_size,
            "plugins": list(source_modules((m.optimizer,), (m.activation,))),
            "metrics": {k: v for k, v in m._asdict().items()
                        if k not in keys},
            "jaxmnist_version": __version__}


def member_params(group: GroupResult, i: int) -> list:
    """Member ``i``'s parameters from a group's stacked parameters, with
    its batch-norm running statistics stored in them."""
    take = lambda tree: jax.tree.map(lambda x: np.asarray(x[i]), tree)
    return store.with_running_stats(take(group.params), take(group.stats))


class Best(NamedTuple):
    member: MemberResult
    params: list


class Results:
    """A run's records, group by group: as each is added its models are
    saved and the result files rewritten (a killed sweep keeps what
    finished); the best member (by validation, the first of equals) is
    kept with its parameters."""

    def __init__(self, cfg: SweepConfig, out: Path):
        self.cfg, self.out = cfg, out
        self.run = RunRecords(cfg, [], [], [], {})
        self.light: list[GroupResult] = []  # without their params
        self.best: Best | None = None

    def add(self, spec: GroupSpec, group: GroupResult, meta: dict) -> None:
        """Add a finished group; ``meta``: results.json's run fields."""
        members = rows.member_results(group, self.cfg.target)
        self.light.append(group._replace(params=[]))
        run, every = self.run, self.run.members + members
        timing = {"group": spec.name, "optimizer": spec.config.optimizer,
                  "members": len(group.members),
                  "seconds": round(group.seconds, 3),
                  "compile_seconds": round(group.compile_seconds, 3),
                  "epoch_seconds": round(sum(group.epoch_seconds), 3)}
        self.run = run._replace(
            members=every, cells=stats.cell_results(every),
            history=run.history + rows.history_rows(group),
            meta={**meta, "groups": [*run.meta.get("groups", []), timing]},
            dynamics=run.dynamics + rows.dynamics_rows(group),
            dynamics_arrays=rows.dynamics_arrays(self.light))
        if cluster.main:  # process 0 saves the models, writes the results
            for i, m in enumerate(members):
                store.save_model(member_path(self.out, m),
                                 member_params(group, i),
                                 model_metadata(self.cfg, spec, m))
            records.write_results(self.out, self.run)
            if self.cfg.tensorboard:
                tensorboard.write_run_events(
                    self.out, rows.history_rows(group),
                    tensorboard.dynamics_scalars(
                        rows.dynamics_rows(group)))
        top = stats.best_member(members)
        if top is not None and (self.best is None or top.val_accuracy
                                > self.best.member.val_accuracy):
            self.best = Best(top, member_params(group, members.index(top)))
