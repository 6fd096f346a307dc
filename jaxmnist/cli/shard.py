"""``python -m jaxmnist.sweep --shard I/N``: which shard, and training it.

The shard comes from ``--shard`` (or the config's ``shard`` key), else from
a Slurm array task's or a Kubernetes Indexed Job's environment (see
:func:`from_environment`); ``--shard off`` runs the
whole sweep whatever the environment says. A shard trains into
``RUN/shards/I-of-N/``; ``python -m jaxmnist.merge RUN`` writes the run's
files once every shard has finished.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from jaxmnist.sweep import cluster, shards
from jaxmnist.sweep.cluster import Shard
from jaxmnist.sweep.config import SweepConfig, coerce

#: Kubernetes Indexed Jobs give the index only; the count comes from here.
COUNT_ENV = "JAXMNIST_SHARD_COUNT"


def from_environment(env: Mapping[str, str]) -> str | None:
    """``"I/N"`` from a Slurm array task (``SLURM_ARRAY_TASK_ID`` of a
    whole array 0..N-1: a resubmitted task is an array of one) or a
    Kubernetes Indexed Job (``JOB_COMPLETION_INDEX``), N from
    ``JAXMNIST_SHARD_COUNT`` when set; None outside both. ValueError (one
    line): an index without a count it can trust."""
    count = env.get(COUNT_ENV)
    task = env.get("SLURM_ARRAY_TASK_ID")
    if task is not None:
        if count is None:
            low, high = (env.get(f"SLURM_ARRAY_TASK_{k}") for k in
                         ("MIN", "MAX"))
            total = env.get("SLURM_ARRAY_TASK_COUNT")
            if low != "0" or total is None or high is None \
                    or not total.isdigit() or str(int(total) - 1) != high:
                raise ValueError(
                    f"Slurm array task {task} of the array {low}-{high} is "
                    f"not one of a whole array 0..N-1 (a resubmitted "
                    f"task?): give --shard {task}/N or set {COUNT_ENV}")
            count = total
        return f"{task}/{count}"
    index = env.get("JOB_COMPLETION_INDEX")
    if index is not None:
        if count is None:
            raise ValueError(f"JOB_COMPLETION_INDEX={index} is set but no "
                             f"shard count: set {COUNT_ENV} to the Job's "
                             f"completions, or give --shard {index}/N")
        return f"{index}/{count}"
    return None


def from_args(cfg: SweepConfig, distributed: bool) -> Shard | None:
    """The shard this process trains, None for the whole sweep.

    Raises:
      ValueError: (one line) a bad shard, one the environment gives
        without a trustworthy count, or a shard with ``--distributed``.
    """
    value = cfg.shard
    if value is None and not distributed:
        found = from_environment(os.environ)
        value = None if found is None else coerce("shard", found)
    shard = cluster.of(value)
    if shard is not None and distributed:
        raise ValueError(f"--shard {shard} and --distributed do not combine:"
                         f" shards are independent processes; leave one out")
    return shard


def run(cfg: SweepConfig, shard: Shard, args: argparse.Namespace,
        argv: list[str] | None) -> int:
    """Train ``shard`` of ``cfg`` (the sweep command's options ``args``);
    the exit status."""
    from jaxmnist.cli.sweep import check_writable, out_dir, sweep  # noqa: PLC0415
    from jaxmnist.sweep.checkpoint import check_free  # noqa: PLC0415
    from jaxmnist.sweep.run import check_run_dir  # noqa: PLC0415
    from jaxmnist.sweep.shards import pieces_of, run_shard  # noqa: PLC0415

    out = out_dir(cfg)
    here = shards.shard_dir(out, shard)
    pieces_of(cfg, shard)  # too many shards: refused before anything
    check_run_dir(cfg, out, overwrite=False)  # RUN holds another sweep
    check_free(here)  # before --overwrite removes anything
    check_run_dir(cfg, here, args.overwrite)
    check_writable(here)
    done, status = sweep(cfg, out, args.progress, argv, work=lambda stop:
                         run_shard(cfg, out, shard, args.progress, stop))
    if done is None:
        return status
    print(f"\nshard {shard} finished in {here}; once all {shard.count} "
          f"have: python -m jaxmnist.merge {out}")
    return 0
