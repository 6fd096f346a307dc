"""A whole sweep, end to end: data, groups, results, models, figures.

``python -m jaxmnist.sweep`` parses its options and calls :func:`run_sweep`.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import jax
import numpy as np

from jaxmnist import checkpoints, files, models, report, results, runner
from jaxmnist.activations import activation_index
from jaxmnist.errors import UsageError
from jaxmnist.model import DEFAULT_SIZES, predict
from jaxmnist.sweep_config import SweepConfig, to_toml


def load_data(cfg: SweepConfig):
    """The sweep's dataset; bad sizes become one-line UsageErrors."""
    from jaxmnist.data import load_dataset  # noqa: PLC0415

    try:
        return load_dataset(cfg.dataset, manual_dir=cfg.manual_dir,
                            data_dir=cfg.data_dir, val_size=cfg.val_size,
                            seed=0, train_subset=cfg.train_subset)
    except ValueError as e:  # train_subset or val_size out of range
        raise UsageError(str(e)) from None


def prepare_out(path: Path) -> None:
    """Create the output dir or fail with one line."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"output dir {str(path)!r} cannot be written "
                         f"({e.strerror or type(e).__name__})") from None


def check_groups(cfg: SweepConfig, num_train: int) -> None:
    """Every group's config against the data, before anything trains."""
    for opt in cfg.optimizers:
        try:
            runner.steps_per_epoch(runner.train_config(cfg, opt), num_train)
        except ValueError as e:
            raise UsageError(f"{opt}: {e}") from None


def model_metadata(cfg: SweepConfig, row: dict) -> dict:
    from jaxmnist import __version__  # noqa: PLC0415

    return {"dataset": cfg.dataset, "sizes": list(DEFAULT_SIZES),
            "activation": row["activation"],
            "activation_index": activation_index(row["activation"]),
            "optimizer": row["optimizer"],
            "implementation": cfg.implementation,
            "learning_rate": row["learning_rate"], "seed": row["seed"],
            "root_seed": cfg.seed, "epochs": cfg.epochs,
            "batch_size": cfg.batch_size_for(row["optimizer"]),
            "schedule": cfg.schedule, "val_size": cfg.val_size,
            "metrics": {k: row[k] for k in results.RESULT_COLUMNS
                        if k not in results.KEY_COLUMNS},
            "jaxmnist_version": __version__}


def save_group_models(cfg: SweepConfig, out: Path, group: runner.GroupResult,
                      rows: list[dict]) -> None:
    """Each process saves its share: members ``i`` with
    ``i * process_count // len(rows) == process_index``."""
    n, me = jax.process_count(), jax.process_index()
    for i, row in enumerate(rows):
        if i * n // len(rows) != me:
            continue
        params = jax.tree.map(lambda x: np.asarray(x[i]), group.params)
        path = models.member_path(out, row["optimizer"], row["activation"],
                                  row["learning_rate"], row["seed"])
        models.save_model(path, params, model_metadata(cfg, row))


#: config keys that do not change a run's numbers (where data and output live)
_LOCATION_KEYS = ("manual_dir", "data_dir", "out", "name")


def check_run_dir(cfg: SweepConfig, out: Path, overwrite: bool) -> None:
    """Refuse to mix two sweeps in one run dir; ``overwrite`` starts over.

    A run dir with the same config is resumed: finished groups are kept,
    an interrupted one continues from its last checkpoint.
    """
    from jaxmnist.sweep_config import read_toml  # noqa: PLC0415

    old_file = out / "config.toml"
    if not old_file.is_file():
        return
    if overwrite:
        for name in ("checkpoints", "models", "figures", "evaluation"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in ("config.toml", "results.csv", "cells.csv", "history.csv",
                     "results.json", "summary.md", "best_predictions.npz"):
            (out / name).unlink(missing_ok=True)
        return
    try:
        old = SweepConfig(**read_toml(old_file))
    except UsageError:
        raise UsageError(f"{str(out)!r} holds an unreadable config.toml; use "
                         f"--overwrite to start over") from None
    diff = [f"{k}: {getattr(old, k)!r} -> {getattr(cfg, k)!r}"
            for k in cfg.__dataclass_fields__ if k not in _LOCATION_KEYS
            and getattr(old, k) != getattr(cfg, k)]
    if diff:
        raise UsageError(f"{str(out)!r} holds a different sweep ({diff[0]}"
                         f"{'; ...' if len(diff) > 1 else ''}); use "
                         f"--overwrite to start over, or another --out")


def run_sweep(cfg: SweepConfig, out: Path, progress: bool = True) -> list[dict]:
    """Train the sweep ``cfg`` and write everything into ``out``.

    Re-running it on the same ``out`` resumes (see :func:`check_run_dir`).
    """
    t = time.perf_counter()
    data = load_data(cfg)
    load_s = time.perf_counter() - t
    check_groups(cfg, data.num_train)
    prepare_out(out)
    host_test = (np.asarray(data.test_images), np.asarray(data.test_labels))
    data = jax.device_put(data)
    print(f"{cfg.dataset}: {data.num_train} train / {len(data.val_labels)} val"
          f" / {len(data.test_labels)} test images, loaded in {load_s:.1f} s;"
          f" device {jax.devices()[0]}; output {out}", flush=True)
    writer = jax.process_index() == 0  # process 0 writes the combined files
    if writer:
        files.write_text(out / "config.toml", to_toml(cfg))

    rows, history, groups, best = [], [], [], None
    start = time.perf_counter()
    for opt in cfg.optimizers:
        group = runner.train_group(cfg, opt, data, progress=progress,
                                   checkpoint_dir=checkpoints.group_dir(out,
                                                                        opt))
        group_rows = results.result_rows(group, cfg.target)
        save_group_models(cfg, out, group, group_rows)
        rows += group_rows
        history += results.history_rows(group)
        groups.append({"optimizer": opt, "members": len(group.members),
                       "seconds": round(group.seconds, 3),
                       "compile_seconds": round(group.compile_seconds, 3)})
        meta = {"device": str(jax.devices()[0]),
                "data_load_seconds": round(load_s, 3),
                "train_seconds": round(time.perf_counter() - start, 3),
                "groups": groups}
        if writer:
            results.write_results(out, rows, history, meta)  # every group
        try:
            champion = report.best_member(group_rows)
        except UsageError:
            continue  # the whole group diverged
        if best is None or champion["val_accuracy"] > best[0]["val_accuracy"]:
            i = group_rows.index(champion)
            params = jax.tree.map(lambda x: x[i], group.params)
            best = (champion, params)
    if not writer:
        return rows
    if best is not None:
        member, params = best
        probs = np.asarray(predict(params, activation_index(
            member["activation"]), host_test[0]))
        report.save_best_predictions(out, member, probs, *host_test)
    report.write_figures(out)
    files.write_text(out / "summary.md", report.summary_markdown(
        rows, report.read_run(out)[2], meta))
    return rows
