"""How a group's cost grows with its member count K: the scaling table.

For K = 1, 4, 24, 96, 384, 1536 Adam members (classic MLP, batch 128), the
group runs exactly as the sweep runs it (:func:`~.group.placed_chunks`:
XLA's memory analysis decides the chunks, one compiled program) for one
epoch, compile excluded, and the table gives model-epochs/s, the compiled
program's bytes per member and the chunks used. Cost linear in K reads as
model-epochs/s flat (or rising) and bytes per member flat.

On a slow device the epoch may be a ``fraction`` of one: the same fraction
of every split (train, validation, test), so the per-epoch mix of training
and evaluation is the real one; model-epochs/s are then scaled to whole
epochs (K x fraction / seconds) and the table says so.

``python -m jaxmnist.bench.scaling [--members 1,4] [--fraction 0.02]
[--max-memory 1GiB]``; the bench calls :func:`rows` and :func:`table`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import jax

from jaxmnist.data import Dataset, load_dataset
from jaxmnist.sweep import config
from jaxmnist.sweep.cluster import compiled_bytes
from jaxmnist.sweep.config import Cell, GroupSpec, SweepConfig
from jaxmnist.sweep.placed import placed_chunks

MEMBERS = (1, 4, 24, 96, 384, 1536)
ACTS = ("relu", "sigmoid", "tanh", "leaky_relu")


def group_spec(k: int, optimizer: str = "adam", model: str = "mlp"
               ) -> GroupSpec:
    """``k`` members of one group as the sweep plans it (the optimizer's
    default batch, no probes): the activations in turn, a distinct
    learning rate per block of four, one seed."""
    cells = tuple(Cell(ACTS[i % 4], 1e-3 * (1 + i // 4)) for i in range(k))
    tcfg = config.train_config(SweepConfig(optimizers=(optimizer,),
                                         dynamics=False), optimizer, model)
    return GroupSpec(optimizer, tcfg, cells, (0,), 0)


def fraction_of(data: Dataset, fraction: float) -> Dataset:
    """The first ``fraction`` of every split (at least one batch of 128)."""
    if fraction >= 1:
        return data
    cut = lambda x, floor: x[:max(floor, int(len(x) * fraction))]
    return Dataset(cut(data.train_images, 128), cut(data.train_labels, 128),
                   cut(data.val_images, 1), cut(data.val_labels, 1),
                   cut(data.test_images, 1), cut(data.test_labels, 1))


def row(data: Dataset, k: int, fraction: float = 1.0,
        max_memory: int | None = None, reps: int = 1,
        spec: GroupSpec | None = None) -> dict:
    """One K: its epoch as the sweep runs it (``spec``, default
    :func:`group_spec`'s Adam MLP), timed after compiling; with ``reps``
    above 1, the median of that many epochs after a warm-up one."""
    spec = group_spec(k) if spec is None else spec
    parts, layout, compile_s = placed_chunks(spec, data, max_memory)
    times = [_epoch_seconds(parts) for _ in range(reps + (reps > 1))]
    seconds = statistics.median(times[-reps:])
    need = compiled_bytes(parts[0].epoch)
    return {"members": k, "chunks": len(parts),
            "members_per_chunk": layout.members, "epoch_s": seconds,
            "model_epochs_per_s": k * fraction / seconds,
            "compiled_bytes": need,
            "bytes_per_member": need / layout.members,
            "compile_s": compile_s, "fraction": fraction}


def _epoch_seconds(parts) -> float:
    """Seconds of one epoch of every chunk, each from its initial state."""
    seconds = 0.0
    for g in parts:
        state = jax.block_until_ready(g.initial_state())
        start = time.perf_counter()
        jax.block_until_ready(g.epoch(state, g.hparams, g.data,
                                      g.epoch_keys(0), g.probes(0)))
        seconds += time.perf_counter() - start
        del state
    return seconds


def rows(data: Dataset, members=MEMBERS, fraction: float = 1.0,
         max_memory: int | None = None) -> list[dict]:
    """The table's rows (``data`` whole; ``fraction`` of it is timed)."""
    part = jax.device_put(fraction_of(data, fraction))
    return [row(part, k, fraction, max_memory) for k in members]


def table(rs: list[dict]) -> str:
    """The rows as text, with what was timed."""
    f = rs[0]["fraction"] if rs else 1.0
    head = ("scaling: adam, classic MLP, batch 128, one group of K members "
            "as the sweep runs it" + ("" if f >= 1 else
                                      f"; timed on {f:g} of every split, "
                                      f"rates scaled to whole epochs"))
    lines = [head, "", "     K  model-epochs/s  epoch s  chunks  "
             "members/chunk  MiB/member  compile s",
             "------  --------------  -------  ------  "
             "-------------  ----------  ---------"]
    lines += [f"{r['members']:>6}  {r['model_epochs_per_s']:>14.2f}  "
              f"{r['epoch_s']:>7.2f}  {r['chunks']:>6}  "
              f"{r['members_per_chunk']:>13}  "
              f"{r['bytes_per_member'] / 2**20:>10.2f}  "
              f"{r['compile_s']:>9.1f}" for r in rs]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jaxmnist.bench.scaling",
                                description="the scaling table")
    p.add_argument("--members", default=",".join(map(str, MEMBERS)),
                   help="K values, comma list")
    p.add_argument("--fraction", type=float, default=1.0,
                   help="time this fraction of an epoch (of every split)")
    p.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="per-device budget (default: as the sweep)")
    p.add_argument("--manual-dir", default=None, metavar="DIR")
    args = p.parse_args(argv)
    from jaxmnist.sweep.options import parse_size  # noqa: PLC0415

    budget = None if args.max_memory is None else parse_size(args.max_memory)
    data = load_dataset("mnist", manual_dir=args.manual_dir)
    print(table(rows(data, [int(k) for k in args.members.split(",")],
                     args.fraction, budget)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
