"""One shard of a sweep: its slice of the groups, trained into its own dir.

Shard I of N (:mod:`.shards`) is a run dir of its own, ``RUN/shards/I-of-N``:
held by its own lock, its pieces checkpointed every epoch and resumed from
there, a finished piece kept as its checkpoint's result (which the merge
reads), and ``finished.json`` written once every piece is done. Besides the
sweep's ``config.toml`` it holds ``shard.json``: the shard, the digest of
the options that change the numbers, its pieces, and when finished its
timings. It writes no result tables, models or figures: the merge does, for
the whole sweep.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import jax

from jaxmnist import files
from jaxmnist.errors import StopRequest
from jaxmnist.sweep import checkpoint, shards
from jaxmnist.sweep.config import SweepConfig, numeric_fields, to_toml
from jaxmnist.sweep.progress import RunBar
from jaxmnist.sweep.run import (
    check_groups,
    load_data,
    prepare_out,
    trained_groups,
    versions,
)
from jaxmnist.sweep.shards import Piece, Shard


def unsharded(cfg: SweepConfig) -> SweepConfig:
    """``cfg`` as the whole sweep's config (what config.toml holds)."""
    return dataclasses.replace(cfg, shard=None)


def sweep_digest(cfg: SweepConfig) -> str:
    """The digest of the options that change ``cfg``'s numbers."""
    return shards.digest({n: getattr(cfg, n) for n in numeric_fields()})


def pieces_of(cfg: SweepConfig, shard: Shard) -> list[Piece]:
    """What ``shard`` trains of ``cfg`` (the same in every task)."""
    return shards.plan(cfg.groups(), shard.count)[shard.index]


def piece_dir(shard_dir: Path, piece: Piece) -> Path:
    """Where a piece checkpoints and keeps its result."""
    return checkpoint.group_dir(shard_dir, piece.spec.name)


def read_shard_file(shard_dir: Path) -> dict | None:
    """The shard's ``shard.json``, or None if absent or unreadable."""
    try:
        return json.loads((shard_dir / shards.SHARD_FILE).read_text())
    except (OSError, ValueError):
        return None


def _write_shard_file(shard_dir: Path, cfg: SweepConfig, shard: Shard,
                      pieces: list[Piece], **timing) -> None:
    files.write_json(shard_dir / shards.SHARD_FILE, {
        "shard": shard.index, "count": shard.count,
        "digest": sweep_digest(cfg),
        "pieces": [p.spec.name for p in pieces], **timing})


def run_shard(cfg: SweepConfig, run: Path, shard: Shard,
              progress: bool = True, stop: StopRequest | None = None
              ) -> Path:
    """Train ``shard`` of the sweep ``cfg`` into ``RUN/shards/I-of-N``
    (resuming from its checkpoints; a finished shard is left as it is);
    the shard dir.

    Raises:
      ValueError: more shards than the sweep has members; a group's
        config does not fit the data.
      InUse: another process holds the shard dir.
      Interrupted: ``stop`` was requested, or Ctrl-C; every finished epoch
        and piece is saved.
    """
    out = shards.shard_dir(run, shard)
    pieces = pieces_of(cfg, shard)  # refuses too many shards before loading
    when = checkpoint.run_finished(out)
    if when is not None:
        print(f"shard {shard} of {run} finished {when}; nothing to train",
              file=sys.stderr, flush=True)
        return out
    data, load_s = load_data(cfg)
    check_groups(cfg.groups(), data.num_train)
    prepare_out(out)
    with checkpoint.held(out):
        files.write_text(out / "config.toml", to_toml(unsharded(cfg)))
        _write_shard_file(out, cfg, shard, pieces)
        _train(cfg, out, shard, pieces, data, load_s, progress,
               stop or StopRequest())
    return out


def _train(cfg: SweepConfig, out: Path, shard: Shard, pieces: list[Piece],
           data, load_s: float, progress: bool, stop: StopRequest) -> None:
    specs = [p.spec for p in pieces]
    print(f"shard {shard}: {', '.join(s.name for s in specs)} "
          f"({sum(len(s.members) for s in specs)} members); output {out}",
          flush=True)
    bar = RunBar(sum(len(s.members) * s.config.epochs for s in specs),
                 enabled=progress)
    start = time.perf_counter()
    try:
        for _ in trained_groups(specs, [piece_dir(out, p) for p in pieces],
                                data, cfg,
                                bar, stop):
            pass  # each piece keeps its result in its checkpoint dir
    finally:
        bar.close()
    _write_shard_file(out, cfg, shard, pieces,
                      device=str(jax.devices()[0]), versions=versions(),
                      data_load_seconds=round(load_s, 3),
                      train_seconds=round(time.perf_counter() - start, 3))
    checkpoint.finish(out, keep_checkpoints=True)  # the merge reads them
