"""The sweep's groups against their peers, side by side in one process.

For each K (default 1, 4, 24; Adam, batch 128, real MNIST): (a) one epoch
of the sweep's group of K members (placed, compiled and run as the sweep
runs it, probes off) against (d) :mod:`benchmarks.plain_jax` training the
same members for one epoch (its init included, a few draws) with the same
evaluation of the validation and test splits after it, in alternating
rounds; ``group_over_plain`` is the median over rounds of (d)'s seconds
over (a)'s, so above 1 the group is faster. Then (c) one model trained by
a jitted step from a Python loop (with the same evaluation), and
per-sample SGD (batch 1): the sweep's group of the four activations
against a from-scratch NumPy loop, per model-epoch (NumPy timed on a few
thousand samples and scaled), also alternating.

    python -m benchmarks.peers [--members 1,4,24] [--rounds 3]
        [--numpy-samples 3000] [--manual-dir DIR] [--out FILE]

writes ``benchmarks/results/peers.json`` (command, commit, date, machine,
figures).
"""

from __future__ import annotations

import statistics
import sys

import jax
import jax.numpy as jnp

import jaxmnist as jm
from benchmarks import baselines, common, plain_jax, public_path
from jaxmnist.bench import scaling
from jaxmnist.sweep.placed import placed_chunks


def group_epoch(data: jm.Dataset, k: int, optimizer: str = "adam"):
    """(a): a callable advancing the sweep's group of ``k`` members by one
    epoch, and its compile seconds."""
    parts, _, compile_s = placed_chunks(scaling.group_spec(k, optimizer),
                                        data)
    g, = parts  # the bench's groups fit the default budget whole
    state = [g.initial_state()]

    def one():
        state[0], result = g.epoch(state[0], g.hparams, g.data,
                                   g.epoch_keys(0), g.probes(0))
        return result

    return one, compile_s


def plain_epoch(data: jm.Dataset, k: int):
    """(d): a callable training :mod:`benchmarks.plain_jax`'s ``k``
    members for one epoch, and its compile seconds."""
    acts, lrs = public_path.members(k)
    args = (jax.random.key(0), jnp.asarray(acts, jnp.int32),
            jnp.asarray(lrs, jnp.float32), data)
    program, compile_s = common.compiled(plain_jax.make_train(1), *args)
    return lambda: program(*args), compile_s


def group_row(data: jm.Dataset, k: int, rounds: int) -> dict:
    """(a) against (d) for ``k`` members."""
    group, group_compile = group_epoch(data, k)
    plain, plain_compile = plain_epoch(data, k)
    times = common.alternating({"group": group, "plain": plain}, rounds)
    return {"members": k,
            "group": _rate(k, times["group"], group_compile),
            "plain": _rate(k, times["plain"], plain_compile),
            "group_over_plain": common.median_ratio(times["plain"],
                                                    times["group"]),
            "group_over_plain_cpu": common.median_ratio(
                times["cpu"]["plain"], times["cpu"]["group"])}


def per_sample_row(data: jm.Dataset, rounds: int, samples: int) -> dict:
    """The per-sample SGD group of 4 activations against the NumPy loop:
    seconds per model-epoch of ``data.num_train`` images."""
    group, compile_s = group_epoch(data, 4, "sgd")
    times = common.alternating(
        {"numpy": baselines.numpy_sgd_loop(data, samples), "group": group},
        rounds)
    scale = data.num_train / samples
    return {"members": 4, "epoch_s": statistics.median(times["group"]),
            "compile_s": compile_s, "train_images": data.num_train,
            "numpy_samples_timed": samples,
            "numpy_model_epoch_s": statistics.median(times["numpy"]) * scale,
            "group_model_epoch_s": statistics.median(times["group"]) / 4,
            "group_over_numpy": 4 * scale * common.median_ratio(
                times["numpy"], times["group"])}


def _rate(k: int, seconds: list[float], compile_s: float) -> dict:
    epoch_s = statistics.median(seconds)
    return {"seconds": seconds, "epoch_s": epoch_s, "compile_s": compile_s,
            "model_epochs_per_s": k / epoch_s}


def measure(data: jm.Dataset, members=(1, 4, 24), rounds: int = 3,
            samples: int = 3000) -> dict:
    """Every row, as a JSON-able dict."""
    loop = baselines.python_loop_epoch(data)
    groups = [group_row(data, k, rounds) for k in members]
    loop_s = statistics.median(common.alternating({"loop": loop},
                                                  rounds)["loop"])
    for g in groups:
        g["group_over_python_loop"] = g["group"]["model_epochs_per_s"] * loop_s
    return {"optimizer": "adam", "batch_size": 128,
            "train_images": data.num_train, "rounds": rounds,
            "groups": groups, "python_loop": {"epoch_s": loop_s,
                                              "model_epochs_per_s": 1 / loop_s},
            "per_sample_sgd": per_sample_row(
                data, rounds, min(samples, data.num_train))}


def table(f: dict) -> str:
    """The figures as text."""
    lines = ["   K  (a) group  (d) plain JAX  (a)/(d)  (a)/(d) CPU  (a)/(c)",
             "----  ---------  -------------  -------  -----------  -------"]
    lines += [f"{g['members']:>4}  {g['group']['model_epochs_per_s']:>9.2f}"
              f"  {g['plain']['model_epochs_per_s']:>13.2f}  "
              f"{g['group_over_plain']:>7.2f}  "
              f"{g['group_over_plain_cpu']:>11.2f}  "
              f"{g['group_over_python_loop']:>7.2f}" for g in f["groups"]]
    lines += ["model-epochs/s; (d) evaluates as (a) does; (a)/(d) CPU: the "
              "ratio of the process's CPU seconds"]
    s = f["per_sample_sgd"]
    lines += [f"(c) jitted step + Python loop: "
              f"{f['python_loop']['model_epochs_per_s']:.2f} model-epochs/s",
              f"per-sample SGD, 4 activations: {s['epoch_s']:.2f} s an epoch "
              f"({s['group_model_epoch_s']:.2f} s a model-epoch); NumPy "
              f"({s['numpy_samples_timed']} samples timed): "
              f"{s['numpy_model_epoch_s']:.2f} s a model-epoch; group "
              f"{s['group_over_numpy']:.1f}x faster"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = common.parser("benchmarks.peers", __doc__, "peers.json")
    p.add_argument("--members", default="1,4,24")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--numpy-samples", type=int, default=3000)
    args = p.parse_args(argv)
    record = common.provenance("benchmarks.peers", argv)
    data = jax.device_put(jm.load_dataset("mnist",
                                          manual_dir=args.manual_dir))
    record["figures"] = measure(
        data, [int(k) for k in args.members.split(",")], args.rounds,
        args.numpy_samples)
    common.publish(args.out, record, table(record["figures"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
