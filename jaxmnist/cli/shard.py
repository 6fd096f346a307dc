"""``python -m jaxmnist.sweep --shard I/N``: which shard, and training it.

The shard comes from ``--shard`` (or the config's ``shard`` key), else from
a Slurm array task's or a Kubernetes Indexed Job's environment (see
:func:`jaxmnist.sweep.cluster.from_environment`); ``--shard off`` runs the
whole sweep whatever the environment says. A shard trains into
``RUN/shards/I-of-N/``; ``python -m jaxmnist.merge RUN`` writes the run's
files once every shard has finished.
"""

from __future__ import annotations

import argparse
import os

from jaxmnist.sweep import cluster, shards
from jaxmnist.sweep.cluster import Shard
from jaxmnist.sweep.config import SweepConfig, coerce


def from_args(cfg: SweepConfig, distributed: bool) -> Shard | None:
    """The shard this process trains, None for the whole sweep.

    Raises:
      ValueError: (one line) a bad shard, one the environment gives
        without a trustworthy count, or a shard with ``--distributed``.
    """
    value = cfg.shard
    if value is None and not distributed:
        found = cluster.from_environment(os.environ)
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
