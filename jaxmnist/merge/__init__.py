"""The merge of a sharded sweep: every shard's pieces as one run's files.

:func:`check_shards` finds ``RUN/shards/I-of-N`` and refuses, in one line,
shards of different counts or of different sweeps, and names the shards
that are missing or unfinished (the array tasks to resubmit); nothing is
written before it passes. :func:`merge_run` then reads each group back from
its pieces (their members put in the group's order), adds the groups in the
sweep's order to :class:`~jaxmnist.sweep.run.Results` and writes the
predictions, figures and summary through
:func:`~jaxmnist.sweep.run.write_run`: the same files, the
same per-cell learning-rate choice on validation and the same statistics as
one process running the whole sweep.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import NamedTuple

from jaxmnist import files
from jaxmnist.errors import StopRequest
from jaxmnist.results.members import GroupResult
from jaxmnist.sweep import checkpoint, cluster, placed, shards
from jaxmnist.sweep.checkpoint import check_free
from jaxmnist.sweep.config import (
    GroupSpec,
    SweepConfig,
    differences,
    digest,
    read_toml,
    to_toml,
)
from jaxmnist.sweep.run import (
    Results,
    check_run_dir,
    load_data,
    prepare_out,
    write_run,
)
from jaxmnist.sweep.shards import (
    piece_dir,
    read_shard_file,
    unsharded,
)

_NAME = re.compile(r"^(\d+)-of-(\d+)$")


class Incomplete(ValueError):
    """Some shards are missing or unfinished (one line naming them)."""


class Checked(NamedTuple):
    """A run dir's shards, found complete and of one sweep."""
    config: SweepConfig
    count: int
    infos: list[dict]  # each shard's shard.json, in shard order


def _shard_dirs(run: Path) -> dict[tuple[int, int], Path]:
    base = run / shards.SHARDS_DIR
    found = {}
    for d in sorted(base.iterdir()) if base.is_dir() else []:
        m = _NAME.match(d.name)
        if m and d.is_dir():
            found[(int(m.group(1)), int(m.group(2)))] = d
    return found


def _config(shard_dir: Path) -> SweepConfig:
    try:
        return SweepConfig(**read_toml(shard_dir / "config.toml"))
    except ValueError as e:
        raise ValueError(f"shard {str(shard_dir)!r} has no readable "
                         f"config.toml ({e}); resubmit it") from None


def check_shards(run: Path) -> Checked:
    """The sweep and shard count of ``run``'s shards, once every shard of
    one count and one sweep has finished.

    Raises:
      ValueError: (one line) no shards; shards of different counts; a
        shard of another sweep (or split otherwise).
      Incomplete: (one line) shards missing or unfinished: which tasks to
        resubmit.
    """
    found = _shard_dirs(run)
    counts = sorted({n for _, n in found})
    if not counts:
        raise ValueError(f"{str(run)!r} holds no shards "
                         f"({shards.SHARDS_DIR}/I-of-N/); nothing to merge")
    if len(counts) > 1:
        raise ValueError(f"{str(run)!r} holds shards of different counts "
                         f"(N = {', '.join(map(str, counts))}); keep one "
                         f"split: remove the others' folders under "
                         f"{shards.SHARDS_DIR}/")
    count = counts[0]
    present = {i: d for (i, _), d in found.items()}
    first = present[min(present)]
    cfg = _config(first)
    expected = shards.plan(cfg.groups(), count)
    infos = {}
    for i, d in sorted(present.items()):
        other, info = _config(d), read_shard_file(d) or {}
        diff = differences(cfg, other)
        if diff or info.get("digest", digest(other)) != digest(cfg):
            raise ValueError(f"shard {d.name} trained another sweep than "
                             f"{first.name} ({diff[0] if diff else 'digest'}"
                             f"); remove the stale shard and resubmit it")
        if info and info.get("pieces") != [p.spec.name
                                           for p in expected[i]]:
            raise ValueError(f"shard {d.name} split the sweep otherwise "
                             f"({info.get('pieces')}); resubmit it")
        infos[i] = info
    missing = [i for i in range(count) if i not in present]
    unfinished = [i for i in sorted(present)
                  if checkpoint.run_finished(present[i]) is None]
    if missing or unfinished:
        raise Incomplete(_incomplete(run, count, missing, unfinished))
    return Checked(cfg, count, [infos[i] for i in range(count)])


def _incomplete(run: Path, count: int, missing: list[int],
                unfinished: list[int]) -> str:
    parts = [f"{', '.join(map(str, ids))} of {count} {what}"
             for ids, what in ((missing, "missing"),
                               (unfinished, "unfinished")) if ids]
    tasks = ",".join(map(str, sorted(missing + unfinished)))
    return (f"{str(run)!r}: shard(s) {'; '.join(parts)}: resubmit array "
            f"task(s) {tasks} (--shard I/{count}; an unfinished one resumes "
            f"from its checkpoints), then merge again")


def assemble(spec: GroupSpec, parts: list[Path]) -> GroupResult:
    """Group ``spec`` from its pieces' saved results (their dirs): members
    in the group's order, the pieces' seconds and epoch times summed."""
    results = []
    for path in parts:
        saved = checkpoint.load_result(path)
        if saved is None:
            raise ValueError(f"{str(path)!r} holds no finished result; "
                             f"resubmit its shard")
        results.append(saved)
    return placed.joined(spec.members, results)


def _meta(checked: Checked, load_s: float) -> dict:
    """results.json's run fields: the shards' device and versions, the
    longest shard's training time as the wall time, each shard's own."""
    infos = checked.infos
    return {"device": infos[0].get("device", "?"),
            "versions": infos[0].get("versions", {}),
            "data_load_seconds": round(load_s, 3),
            "train_seconds": max(i.get("train_seconds", 0.0) for i in infos),
            "shards": [{k: i.get(k) for k in ("shard", "count", "device",
                                               "train_seconds")}
                       for i in infos]}


def merge_run(run: Path) -> SweepConfig:
    """Check ``run``'s shards and write the whole sweep's files into
    ``run``; the sweep's config. A run already merged is left as it is.

    Raises:
      ValueError, Incomplete: see :func:`check_shards`; ``run`` holds
        another sweep's files.
      InUse: another process holds ``run``.
    """
    checked = check_shards(run)
    cfg = checked.config
    when = checkpoint.run_finished(run)
    if when is not None:
        check_run_dir(cfg, run, overwrite=False)
        print(f"{run} holds this sweep, merged {when}; nothing to merge",
              file=sys.stderr, flush=True)
        return cfg
    check_free(run)
    check_run_dir(cfg, run, overwrite=False)
    data, load_s = load_data(cfg)
    prepare_out(run)
    plan = shards.plan(cfg.groups(), checked.count)
    with checkpoint.held(run):
        files.write_text(run / "config.toml", to_toml(unsharded(cfg)))
        meta, results = _meta(checked, load_s), Results(cfg, run)
        for g, spec in enumerate(cfg.groups()):
            parts = [piece_dir(shards.shard_dir(run, cluster.Shard(
                s, checked.count)), p)
                for s, pieces in enumerate(plan) for p in pieces
                if p.group == g]
            results.add(spec, assemble(spec, parts), meta)
        write_run(cfg, run, results, StopRequest(), data)
    return cfg
