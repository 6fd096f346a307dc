"""How fast the sweep's groups train on this device (``python -m
jaxmnist.bench``), against the same members trained one after another, and
how far from the device's dense-matmul throughput.

For the classic MLP on the real MNIST, batch 128, Adam, each group row
runs K members exactly as the sweep does (:func:`.scaling.row`: the sweep's
placement, its memory analysis and chunks, one compiled program) and gives
(a) its model-epochs per second, (b) the same K members one after another
through the public ``make_init``/``make_epoch`` (jitted once), the compiled
program's bytes per member, and the group's achieved GFLOP/s counting
every matmul of the epoch (the training steps and the evaluation of the
validation and test splits) beside a large float32 matmul timed in the
same run. Every figure is the median of several repetitions after a
warm-up; compile time is apart. The peer baselines (plain JAX, a Python
loop, NumPy) are scripts of the repository's ``benchmarks/`` folder.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxmnist as jm
from jaxmnist.bench import scaling
from jaxmnist.data import Dataset

#: FLOP per training sample and member of the 784-128-64-10 MLP: its three
#: forward matmuls, the three weight gradients and the two input gradients
#: (2 x (100,352 + 8,192 + 640) x 2 + 2 x (8,192 + 640)).
TRAIN_FLOP = 454_400
#: FLOP per evaluated sample and member: the three forward matmuls.
EVAL_FLOP = 218_368


def timed(fn, reps: int) -> tuple[float, float]:
    """(first call's seconds, median of ``reps`` more), results awaited."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def large_matmul_gflops(reps: int, n: int = 2048) -> float:
    """GFLOP/s of one ``n x n`` float32 matmul: the device's dense peak as
    far as XLA reaches it, a yardstick and not a bound on the group."""
    a = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    square = jax.jit(lambda a: a @ a)
    return 2 * n ** 3 / timed(lambda: square(a), reps)[1] / 1e9


def epoch_flop(data: Dataset, batch: int = 128) -> int:
    """Matmul FLOP of one member's epoch: the steps' full batches, then
    the whole validation and test splits evaluated."""
    trained = data.num_train // batch * batch
    evaluated = len(data.val_labels) + len(data.test_labels)
    return TRAIN_FLOP * trained + EVAL_FLOP * evaluated


def sequential_rate(data: Dataset, k: int, reps: int) -> dict:
    """(b): the same ``k`` members one after another through the public
    ``make_init``/``make_epoch``, jitted once (``k`` calls an epoch)."""
    cfg = jm.TrainConfig(optimizer="adam", batch_size=128,
                         activations=scaling.ACTS)
    init, epoch = jax.jit(jm.make_init(cfg)), jax.jit(jm.make_epoch(cfg))
    hps = [jm.make_hparams(scaling.ACTS[i % 4], 1e-3 * (1 + i // 4))
           for i in range(k)]
    key = jax.random.key(0)
    states = [init(key, hp, data) for hp in hps]

    def all_members():
        out = []
        for i, hp in enumerate(hps):
            states[i], result = epoch(states[i], hp, data, key)
            out.append(result)
        return out

    first, seconds = timed(all_members, reps)
    return {"members": k, "epoch_s": seconds, "compile_s": first - seconds,
            "model_epochs_per_s": k / seconds}


def group_row(data: Dataset, k: int, reps: int, peak_gflops: float) -> dict:
    """K members as the sweep runs them beside (b); GFLOP/s."""
    group = scaling.row(data, k, reps=reps)
    sequential = sequential_rate(data, k, reps)
    gflops = epoch_flop(data) * k / group["epoch_s"] / 1e9
    return {**group, "sequential": sequential,
            "group_over_sequential": group["model_epochs_per_s"]
            / sequential["model_epochs_per_s"],
            "gflops": gflops, "fraction_of_large_matmul": gflops / peak_gflops}


def cnn_row(data: Dataset, reps: int, k: int = 4) -> dict:
    """The LeNet-5 CNN: a group of ``k`` Adam members (the four
    activations) as the sweep runs it."""
    return scaling.row(data, k, reps=reps,
                       spec=scaling.group_spec(k, "adam", "cnn"))


def provenance(argv: list[str]) -> dict:
    """Where the figures come from: the command, the library's version
    (and git commit when run from a checkout), the date (UTC), the
    machine, and the load average as the measurement starts."""
    device = jax.devices()[0]
    return {"command": " ".join(["python -m jaxmnist.bench", *argv]),
            "version": jm.__version__, "commit": git_commit(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(
                timespec="seconds"),
            "machine": {"cpu": cpu_name(), "cpu_count": os.cpu_count(),
                        "device": str(device), "platform": device.platform,
                        "device_count": jax.device_count(),
                        "jax": jax.__version__,
                        "python": sys.version.split()[0]},
            "load_average": list(os.getloadavg())}


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The checkout's HEAD, ``-dirty`` when tracked files differ from it;
    None outside a git checkout."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=Path(__file__).resolve().parents[2],
                text=True, capture_output=True).stdout.strip()
        except OSError:
            return ""
    head = git("rev-parse", "HEAD")
    if not head:
        return None
    return head + ("-dirty" if git("status", "--porcelain",
                                   "--untracked-files=no") else "")


def run(args) -> dict:
    """Every figure of the bench, as a JSON-able dict."""
    data = jm.load_dataset("mnist", manual_dir=args.manual_dir,
                           train_subset=2048 if args.quick else None)
    data = jax.device_put(data)
    reps = 1 if args.quick else args.reps
    report = {**provenance(args.argv), "train_images": data.num_train,
              "optimizer": "adam", "batch_size": 128, "reps": reps}
    report["large_matmul_gflops"] = large_matmul_gflops(reps)
    report["groups"] = [group_row(data, k, reps,
                                  report["large_matmul_gflops"])
                        for k in args.members]
    # the CNN's data when quick: 256 training images, 1,000 to evaluate
    small = data if not args.quick else Dataset(
        data.train_images[:256], data.train_labels[:256],
        data.val_images[:1000], data.val_labels[:1000],
        data.test_images[:1000], data.test_labels[:1000])
    report["cnn"] = cnn_row(small, reps)
    if args.scaling:
        report["scaling"] = scaling.rows(data, args.scaling,
                                         args.scaling_fraction)
    return report
