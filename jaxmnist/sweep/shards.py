"""A sweep split into N independent shards, one per array task.

Shard I of N (a Slurm array task, a Kubernetes Indexed Job) trains its
slice of the work into ``RUN/shards/I-of-N/``, a run dir of its own (lock,
checkpoints, resume, ``finished.json``, and ``shard.json``: the shard, the
sweep's digest, its pieces and timings); ``python -m jaxmnist.merge`` puts
the slices together. :func:`plan` is a pure function of the groups and N,
so every task computes the same split: whole groups spread by their
member-epochs when there are at least N, else groups cut into pieces (whole
seeds first, then blocks of one seed's cells). A member's numbers do not
depend on which others train beside it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

from jaxmnist import files
from jaxmnist.errors import StopRequest
from jaxmnist.sweep import checkpoint
from jaxmnist.sweep.cluster import Shard
from jaxmnist.sweep.config import (
    GroupSpec,
    SweepConfig,
    digest,
    to_toml,
)
from jaxmnist.sweep.progress import RunBar
from jaxmnist.sweep.run import (
    check_groups,
    load_data,
    prepare_out,
    timings,
    trained_groups,
)

#: Where a run dir keeps its shards, each as ``I-of-N``.
SHARDS_DIR = "shards"
#: What a shard dir holds besides a run dir's files: which shard it is.
SHARD_FILE = "shard.json"


def shard_dir(run: Path, shard: Shard) -> Path:
    """``RUN/shards/I-of-N``: shard ``shard``'s own run dir."""
    return Path(run) / SHARDS_DIR / shard.name


# --------------------------------------------------------------------------
# The split
# --------------------------------------------------------------------------

class Piece(NamedTuple):
    """What one shard trains of group ``group`` (its position in the
    sweep): ``spec``, the whole group or a part of its seeds and cells."""
    group: int
    spec: GroupSpec


def _cost(spec: GroupSpec) -> int:
    return len(spec.members) * spec.config.epochs


def plan(groups: list[GroupSpec], count: int) -> list[list[Piece]]:
    """The pieces of each of ``count`` shards (each in the groups' order).

    Raises:
      ValueError: more shards than the sweep has members.
    """
    total = sum(len(g.members) for g in groups)
    if count > total:
        raise ValueError(f"{count} shards for a sweep of {total} members: "
                         f"use at most {total}")
    if count <= len(groups):
        return _whole_groups(groups, count)
    shares = _shares(groups, count)
    pieces = [Piece(i, p) for i, g in enumerate(groups)
              for p in split_group(g, shares[i])]
    return [[p] for p in pieces]


def _whole_groups(groups: list[GroupSpec], count: int) -> list[list[Piece]]:
    load = [0] * count
    owner = [0] * len(groups)
    for i in sorted(range(len(groups)), key=lambda i: -_cost(groups[i])):
        owner[i] = load.index(min(load))
        load[owner[i]] += _cost(groups[i])
    return [[Piece(i, g) for i, g in enumerate(groups) if owner[i] == s]
            for s in range(count)]


def _shares(groups: list[GroupSpec], count: int) -> list[int]:
    """How many shards each group gets: one each, then one at a time to
    the group with the most members per shard."""
    shares = [1] * len(groups)
    for _ in range(count - len(groups)):
        open_ = [i for i, g in enumerate(groups)
                 if shares[i] < len(g.members)]
        best = max(open_, key=lambda i: (len(groups[i].members) / shares[i],
                                         -i))
        shares[best] += 1
    return shares


def _blocks(items: tuple, k: int) -> list[tuple]:
    """``items`` in ``k`` contiguous blocks, the first ones one longer."""
    n, out, start = len(items), [], 0
    for b in range(k):
        size = n // k + (b < n % k)
        out.append(items[start:start + size])
        start += size
    return out


def split_group(spec: GroupSpec, k: int) -> list[GroupSpec]:
    """``spec`` in ``k`` pieces (1 <= k <= its members): blocks of whole
    seeds while k is at most the seed count, else each seed's cells in
    blocks (seed ``s`` of S in ``k // S`` or ``k // S + 1`` blocks). Pieces
    of a split group are named ``NAME.partPofK``."""
    if k == 1:
        return [spec]
    if k <= len(spec.seeds):
        parts = [(seeds, spec.cells) for seeds in _blocks(spec.seeds, k)]
    else:
        n_seeds = len(spec.seeds)
        parts = [((seed,), cells) for s, seed in enumerate(spec.seeds)
                 for cells in _blocks(spec.cells,
                                      k // n_seeds + (s < k % n_seeds))]
    return [spec._replace(name=f"{spec.name}.part{p + 1}of{k}", seeds=seeds,
                          cells=cells)
            for p, (seeds, cells) in enumerate(parts)]


# --------------------------------------------------------------------------
# One shard, trained into its own dir
# --------------------------------------------------------------------------

def unsharded(cfg: SweepConfig) -> SweepConfig:
    """``cfg`` as the whole sweep's config (what config.toml holds)."""
    return dataclasses.replace(cfg, shard=None)


def pieces_of(cfg: SweepConfig, shard: Shard) -> list[Piece]:
    """What ``shard`` trains of ``cfg`` (the same in every task)."""
    return plan(cfg.groups(), shard.count)[shard.index]


def piece_dir(shard_dir: Path, piece: Piece) -> Path:
    """Where a piece checkpoints and keeps its result."""
    return checkpoint.group_dir(shard_dir, piece.spec.name)


def read_shard_file(shard_dir: Path) -> dict | None:
    """The shard's ``shard.json``, or None if absent or unreadable."""
    try:
        return json.loads((shard_dir / SHARD_FILE).read_text())
    except (OSError, ValueError):
        return None


def _write_shard_file(shard_dir: Path, cfg: SweepConfig, shard: Shard,
                      pieces: list[Piece], **timing) -> None:
    files.write_json(shard_dir / SHARD_FILE, {
        "shard": shard.index, "count": shard.count,
        "digest": digest(cfg),
        "pieces": [p.spec.name for p in pieces], **timing})


def run_shard(cfg: SweepConfig, run: Path, shard: Shard,
              progress: bool = True, stop: StopRequest | None = None
              ) -> Path:
    """Train ``shard`` of ``cfg`` into ``RUN/shards/I-of-N`` (resumed
    from its checkpoints; a finished shard left as it is); the shard dir.

    Raises:
      ValueError: more shards than members; a group does not fit the data.
      InUse: another process holds the shard dir.
      Interrupted: ``stop`` was requested, or Ctrl-C.
    """
    out = shard_dir(run, shard)
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
                                data, cfg, bar, stop):
            pass  # each piece keeps its result in its checkpoint dir
    finally:
        bar.close()
    _write_shard_file(out, cfg, shard, pieces, **timings(load_s, start))
    checkpoint.finish(out, keep_checkpoints=True)  # the merge reads them
