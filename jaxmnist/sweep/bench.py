"""How fast (``python -m jaxmnist.bench``), against what, and how far from
the hardware's limit.

For the classic MLP on the real MNIST, batch 128, Adam, it measures the
model-epochs per second of (a) one vmapped group of K members (the sweep's
own compiled program, dynamics probes off), (b) the same K members trained
one after another with the same code (``make_epoch`` jitted once), (c) a
plain "jitted step + Python loop over batches" trainer, as a Flax/optax
example would, and (d) a plain-JAX vmapped trainer of the same K members
without evaluation or divergence guard (:mod:`jaxmnist.sweep.baselines`);
and per-sample SGD (batch 1) for a group of 4 activations against a NumPy
from-scratch loop, per model-epoch. Every figure is the median of several
repetitions after a warm-up; (a) and (d), and per-sample SGD and NumPy, are
timed in alternation and their ratio is the median of the rounds' ratios;
compile time is reported separately. Achieved GFLOP/s (454,400 FLOP per
sample per model) is compared with matmul rooflines measured in the same
run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxmnist as jm
from jaxmnist.core.config import make_hparams, stack_hparams
from jaxmnist.sweep import plan, scaling, sharding
from jaxmnist.sweep.baselines import (
    ACTS,
    numpy_sgd_loop,
    paired,
    python_loop_rate,
    reference_epochs,
    timed,
)
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.group import group_programs

FLOP_PER_SAMPLE = 454_400  # 3 forward + 5 backward matmuls of 784-128-64-10


def group_epoch(data, k: int, optimizer: str, model: str = "mlp"):
    """(a): one epoch of a vmapped group of ``k`` members, as the sweep
    runs it (dynamics probes off, as the baselines have none), as a
    callable that advances the group's state."""
    acts = tuple(ACTS[i % 4] for i in range(k))
    lrs = tuple(1e-3 * (1 + i // 4) for i in range(k))
    tcfg = plan.train_config(SweepConfig(optimizers=(optimizer,),
                                         dynamics=False), optimizer, model)
    mesh = sharding.member_mesh()
    hp = stack_hparams([make_hparams(a, lr) for a, lr in zip(acts, lrs)])
    hp = jax.device_put(sharding.pad_members(
        hp, sharding.padded_count(k, mesh)), sharding.along(mesh, 1, 0))
    programs = group_programs(tcfg, data, mesh)
    keys = jax.random.split(jax.random.key(0), 1)
    state = [programs.init(keys, hp, data)]

    def one():
        state[0], metrics = programs.epoch(state[0], hp, data, keys)
        return metrics

    return one


def sequential_rate(data, k: int, optimizer: str, reps: int) -> dict:
    """(b): the same ``k`` members one after another, ``make_epoch`` jitted
    once (one compile, ``k`` calls per epoch)."""
    cfg = jm.TrainConfig(optimizer=optimizer)
    init, epoch = jax.jit(jm.make_init(cfg)), jax.jit(jm.make_epoch(cfg))
    hps = [jm.make_hparams(ACTS[i % 4], 1e-3 * (1 + i // 4)) for i in range(k)]
    key = jax.random.key(0)
    states = [init(key, hp, data) for hp in hps]

    def all_members():
        out = []
        for i, hp in enumerate(hps):
            states[i], m = epoch(states[i], hp, data, key)
            out.append(m)
        return out

    first, t = timed(all_members, reps)
    return {"members": k, "epoch_s": t, "compile_s": first - t,
            "model_epochs_per_s": k / t}


def matmul_roofline(reps: int, k: int = 24, batch: int = 128) -> dict:
    """GFLOP/s of a large float32 matmul and of the MLP's own batch-128
    matmul shapes (forward and backward, ``k`` models, as one program)."""
    n = 2048
    a = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    big = jax.jit(lambda a: a @ a)
    _, t_big = timed(lambda: big(a), reps)
    sizes = (784, 128, 64, 10)
    key = jax.random.split(jax.random.key(2), 8)
    x = jax.random.normal(key[0], (batch, 784))
    ws = [jax.random.normal(key[i + 1], (k, sizes[i], sizes[i + 1]))
          for i in range(3)]

    @jax.jit
    def mlp_matmuls(x, ws):
        h1 = jnp.einsum("bi,kio->kbo", x, ws[0])
        h2 = h1 @ ws[1]
        out = h2 @ ws[2]
        d2 = out @ jnp.swapaxes(ws[2], 1, 2)
        d1 = d2 @ jnp.swapaxes(ws[1], 1, 2)
        g3 = jnp.swapaxes(h2, 1, 2) @ out
        g2 = jnp.swapaxes(h1, 1, 2) @ d2
        g1 = jnp.einsum("bi,kbo->kio", x, d1)
        return g1.sum() + g2.sum() + g3.sum()

    _, t_mlp = timed(lambda: mlp_matmuls(x, ws), reps)
    return {"large_matmul_gflops": 2 * n ** 3 / t_big / 1e9,
            "mlp_matmul_gflops": FLOP_PER_SAMPLE * batch * k / t_mlp / 1e9}


def program_memory(data, k: int, optimizer: str = "adam") -> float:
    """MB the compiled group epoch needs (arguments + outputs + temps)."""
    tcfg = plan.train_config(SweepConfig(optimizers=(optimizer,),
                                         dynamics=False), optimizer)
    mesh = sharding.member_mesh()
    hp = stack_hparams([make_hparams(ACTS[i % 4], 1e-3) for i in range(k)])
    programs = group_programs(tcfg, data, mesh)
    keys = jax.random.split(jax.random.key(0), 1)
    state = jax.eval_shape(programs.init, keys, hp, data)
    mem = programs.epoch.lower(state, hp, data,
                               keys).compile().memory_analysis()
    if mem is None:
        return float("nan")
    return (mem.argument_size_in_bytes + mem.output_size_in_bytes
            + mem.temp_size_in_bytes - mem.alias_size_in_bytes) / 2 ** 20


def group_row(data, k: int, reps: int, report: dict) -> dict:
    """K members: (a) the group and (d) the plain reference side by side,
    (b) one after another; ratios and GFLOP/s."""
    pair = paired({"reference": reference_epochs(data, k),
                   "group": group_epoch(data, k, "adam")}, reps)
    g = _rate(k, pair["group"])
    s = sequential_rate(data, k, "adam", reps)
    gflops = FLOP_PER_SAMPLE * data.num_train * g["model_epochs_per_s"] / 1e9
    roof = report["roofline"]
    return {"members": k, "group": g, "sequential": s,
            "reference": _rate(k, pair["reference"]),
            "group_over_reference": 1 / pair["ratios"]["group"],
            "group_over_sequential": g["model_epochs_per_s"]
            / s["model_epochs_per_s"],
            "group_over_python_loop": g["model_epochs_per_s"]
            / report["python_loop"]["model_epochs_per_s"],
            "gflops": gflops,
            "fraction_of_mlp_roofline": gflops / roof["mlp_matmul_gflops"],
            "fraction_of_large_matmul": gflops / roof["large_matmul_gflops"]}


def _rate(k: int, timing: tuple[float, float]) -> dict:
    first, t = timing
    return {"members": k, "epoch_s": t, "compile_s": first - t,
            "model_epochs_per_s": k / t}


def per_sample_row(data, reps: int, samples: int) -> dict:
    """The per-sample SGD group of 4 activations against the NumPy loop,
    side by side: seconds per model-epoch of ``data.num_train`` images."""
    pair = paired({"numpy": numpy_sgd_loop(data, samples),
                   "group": group_epoch(data, 4, "sgd")}, reps)
    numpy_s = pair["numpy"][1] * data.num_train / samples
    group_s = pair["group"][1] / 4
    return {"members": 4, "epoch_s": pair["group"][1],
            "compile_s": pair["group"][0] - pair["group"][1],
            "train_images": data.num_train, "numpy_samples_timed": samples,
            "numpy_model_epoch_s": numpy_s, "group_model_epoch_s": group_s,
            "speedup_over_numpy": 4 * data.num_train / samples
            / pair["ratios"]["group"]}


def cnn_row(data, reps: int, k: int = 4) -> dict:
    """The LeNet-5 CNN: a vmapped group of ``k`` Adam members (the four
    activations), model-epochs per second."""
    return _rate(k, timed(group_epoch(data, k, "adam", "cnn"), reps))


def run(args) -> dict:
    """Every figure of the bench, as a JSON-able dict."""
    data = jm.load_dataset("mnist", manual_dir=args.manual_dir,
                           train_subset=2048 if args.quick else None)
    data = jax.device_put(data)
    reps = 1 if args.quick else args.reps
    report = {"device": str(jax.devices()[0]), "devices": jax.device_count(),
              "platform": jax.devices()[0].platform,
              "train_images": data.num_train, "jax": jax.__version__,
              "optimizer": "adam", "batch_size": 128}
    report["roofline"] = matmul_roofline(reps)
    report["python_loop"] = python_loop_rate(data, reps)
    report["groups"] = [group_row(data, k, reps, report)
                        for k in args.members]
    # the slow rows' (per-sample SGD, CNN) data: when quick, 256 training
    # images and 1,000 to evaluate on
    slow = data if not args.quick else data._replace(
        train_images=data.train_images[:256],
        train_labels=data.train_labels[:256],
        val_images=data.val_images[:1000], val_labels=data.val_labels[:1000],
        test_images=data.test_images[:1000],
        test_labels=data.test_labels[:1000])
    report["per_sample_sgd"] = per_sample_row(
        slow, reps, min(256 if args.quick else 3000, slow.num_train))
    report["cnn"] = cnn_row(slow, reps)
    report["memory_mb"] = {str(k): program_memory(data, k)
                           for k in ((2,) if args.quick else (24, 240))}
    if args.scaling:
        report["scaling"] = scaling.rows(data, args.scaling,
                                         args.scaling_fraction)
    if args.classic:
        report["classic"] = classic_grid(args.manual_dir)
    return report


def classic_grid(manual_dir: str | None) -> dict:
    """The classic grid end to end, as a user runs it
    (``python -m jaxmnist.sweep sweeps/classic.toml --no-dynamics``, a
    fresh process, into a temporary folder): wall seconds."""
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "jaxmnist.sweep",
               str(root / "sweeps/classic.toml"), "--no-dynamics",
               "--no-progress"]
    if manual_dir is not None:
        command += ["--manual-dir", manual_dir]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([*command, "--out", str(Path(tmp) / "classic")],
                       check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - t
    return {"seconds": seconds, "command": " ".join(command[1:])}
