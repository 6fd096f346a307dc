"""What several test modules share: paths, synthetic data and runs, one
pytree comparison."""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import optax

import jaxmnist as jm
from jaxmnist.data import IDX_FILES
from jaxmnist.results.records import (
    DynamicsRow,
    HistoryRow,
    MemberResult,
    RunRecords,
)
from jaxmnist.results.stats import cell_results
from jaxmnist.sweep.config import SweepConfig

ROOT = Path(__file__).resolve().parents[1]

#: The CSV columns (and model metadata keys) that hold wall-clock seconds.
TIMING = frozenset({"seconds", "target_seconds", "target_seconds_mean"})


def csv_rows(path: Path) -> list[dict[str, str]]:
    """A CSV file's rows as dicts, without the wall-clock columns."""
    with open(path) as f:
        return [{k: v for k, v in r.items() if k not in TIMING}
                for r in csv.DictReader(f)]


def start_sweep(*argv: str, env=None, script: str | None = None,
                cwd=None) -> subprocess.Popen:
    """``python -m jaxmnist.sweep ARGV`` (or ``python SCRIPT ARGV``) started
    with piped text output."""
    head = [script] if script else ["-m", "jaxmnist.sweep"]
    return subprocess.Popen([sys.executable, *head, *argv], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(ready, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Poll ``ready()`` until it holds; fail if ``proc`` exits first or
    ``timeout`` seconds pass."""
    start = time.time()
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - start < timeout, f"not ready in {timeout} s"
        time.sleep(0.02)


def assert_same_run(a: Path, b: Path, models: int,
                    tables=("results.csv", "cells.csv", "history.csv"),
                    arrays=("best_predictions.npz",)) -> None:
    """Run dir ``b`` holds what ``a`` does, bit for bit but the wall-clock
    seconds: the tables, the arrays and the ``models`` saved models, and no
    half-written file."""
    from jaxmnist.sweep.store import load_model  # noqa: PLC0415

    for name in tables:
        assert csv_rows(a / name) == csv_rows(b / name), name
    for name in arrays:
        with np.load(a / name) as x, np.load(b / name) as y:
            assert x.files == y.files, name
            for k in x.files:
                np.testing.assert_array_equal(x[k], y[k], err_msg=name)
    metas = sorted((a / "models").glob("*/*/*/metadata.json"))
    assert len(metas) == models
    for meta in metas:
        rel = meta.parent.relative_to(a)
        (pa, ma), (pb, mb) = load_model(a / rel), load_model(b / rel)
        tree_allclose(pa, pb)  # bitwise
        for m in (ma, mb):
            for k in TIMING:
                m["metrics"].pop(k, None)
        assert ma == mb
    assert not list(b.rglob("*.tmp")), "half-written files left behind"
    assert not list(b.rglob("*orbax-checkpoint-tmp*")), "half-saved models"


def failing_mkstemp(code: int, mkstemp, matches=None, nth: int = 1):
    """A ``tempfile.mkstemp`` whose ``nth`` call matching ``matches(prefix,
    folder)`` fails with errno ``code``: ENOSPC as the kernel gives it (the
    file descriptor writes to /dev/full), others raised on creation."""
    seen = []

    def failing(suffix=None, prefix=None, dir=None, text=False):
        fd, tmp = mkstemp(suffix=suffix, prefix=prefix, dir=dir, text=text)
        if matches is not None and not matches(prefix or "", Path(dir or "")):
            return fd, tmp
        seen.append(tmp)
        if len(seen) != nth:
            return fd, tmp
        os.close(fd)
        if code == errno.ENOSPC:
            return os.open("/dev/full", os.O_WRONLY), tmp
        os.unlink(tmp)
        raise OSError(code, os.strerror(code), tmp)
    return failing


def tree_allclose(a, b, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Assert two pytrees have the same structure and close leaves (exactly
    equal with the default tolerances)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol,
                                   atol=atol)


def scan_run(tx, params, grads):
    """Params after each of ``grads``' steps of the optimizer ``tx``
    (stacked on a leading axis), and its final state."""
    def body(carry, g):
        p, s = carry
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), optax.apply_updates(p, u)
    stacked = jax.tree.map(lambda *xs: jax.numpy.stack(xs), *grads)
    (_, state), ps = jax.lax.scan(body, (params, tx.init(params)), stacked)
    return ps, state


def descend(tx, fn, start, steps: int):
    """Params and state after ``steps`` steps of ``tx`` on the gradient of
    ``fn`` from ``start``, compiled as one scan: the optimum tests'
    run."""
    def body(carry, _):
        p, s = carry
        u, s = tx.update(jax.grad(fn)(p), s, p)
        return (optax.apply_updates(p, u), s), None
    (p, s), _ = jax.lax.scan(body, (start, tx.init(start)), None,
                             length=steps)
    return p, s


def take(tree, i: int):
    """Member ``i`` of a pytree with a leading member axis."""
    return jax.tree.map(lambda x: x[i], tree)


def synthetic_dataset(n_train=256, n_val=64, n_test=64, dim=784, classes=10,
                      seed=0) -> jm.Dataset:
    """A learnable toy problem: noisy copies of one random image per class."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(classes, dim), dtype=np.uint8)

    def split(n):
        y = rng.integers(0, classes, size=n).astype(np.int32)
        noise = rng.integers(0, 256, size=(n, dim), dtype=np.uint8)
        x = np.where(rng.random((n, dim)) < 0.5, prototypes[y], noise)
        return x.astype(np.uint8), y

    return jm.Dataset(*split(n_train), *split(n_val), *split(n_test))


def shared_data_dir(name: str) -> Path | None:
    """../shared/data/<name> (or $JAXMNIST_SHARED_DATA/<name>) if complete."""
    base = Path(os.environ.get("JAXMNIST_SHARED_DATA",
                               ROOT.parent / "shared" / "data"))
    path = base / name
    return path if all((path / f).is_file() for f in IDX_FILES) else None


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file, checking its signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def synthetic_run(optimizers, activations, seeds=1, epochs=4, nan_cell=None,
                  lrs=(0.01,)) -> RunRecords:
    """Plausible records of a run (no training), with one cell's members
    diverging from epoch 2 when ``nan_cell`` names it."""
    rng = np.random.default_rng(0)
    members, history = [], []
    for o in optimizers:
        for a in activations:
            for lr in lrs:
                for s in range(seeds):
                    base = 0.9 + 0.08 * rng.random()
                    div = (o, a) == nan_cell
                    curve = [base - 0.1 / (e + 1) for e in range(epochs)]
                    for e in range(epochs):
                        bad = div and e >= 1
                        history.append(HistoryRow(
                            o, a, lr, s, e + 1,
                            math.nan if bad else 1 / (e + 1), curve[e] - 0.01,
                            1.2 / (e + 1), curve[e], 1.2 / (e + 1), curve[e],
                            bad))
                    members.append(MemberResult(
                        o, a, lr, s, curve[-1], curve[-1], curve[-1], 0.1,
                        0.1, 0.1, epochs, 2 if div else None,
                        2 if curve[1] >= 0.9 else None,
                        200 if curve[1] >= 0.9 else None,
                        2.0 if curve[1] >= 0.9 else None, 1.0))
    config = SweepConfig(optimizers=tuple(optimizers),
                         activations=tuple(activations), seeds=seeds,
                         epochs=epochs)
    return RunRecords(config, members, cell_results(members), history,
                      {"device": "cpu:0", "train_seconds": 1.0})


def scored_run(scores, dataset="mnist", target=0.97) -> RunRecords:
    """Records of a run whose every member's scores are given: ``scores``
    maps (optimizer, activation) -> learning rate -> one (validation,
    test) accuracy per seed. Two epochs each: validation 0.05 below its
    final value after the first."""
    members, history = [], []
    for (o, a), by_lr in scores.items():
        for lr, per_seed in by_lr.items():
            for s, (val, test) in enumerate(per_seed):
                for e, v in ((1, val - 0.05), (2, val)):
                    history.append(HistoryRow(o, a, lr, s, e, 0.1, v, 0.1,
                                              v, 0.1, test, False))
                reached = next((e for e, v in ((1, val - 0.05), (2, val))
                                if v >= target), None)
                members.append(MemberResult(
                    o, a, lr, s, val, val, test, 0.1, 0.1, 0.1, 2, None,
                    reached, None, None, 1.0))
    optimizers = tuple(dict.fromkeys(o for o, _ in scores))
    activations = tuple(dict.fromkeys(a for _, a in scores))
    seeds = max(len(v) for by_lr in scores.values() for v in by_lr.values())
    config = SweepConfig(optimizers=optimizers, activations=activations,
                         seeds=seeds, epochs=2, dataset=dataset,
                         target=target)
    return RunRecords(config, members, cell_results(members), history,
                      {"device": "cpu:0", "train_seconds": 1.0})


#: ``python -c`` this, then a base URL, then sweep arguments: the sweep CLI
#: with its dataset downloaded from that URL instead of the official one.
SWEEP_FROM_URL = (
    "import sys\n"
    "from jaxmnist.data import sources\n"
    "official = sources.registered_urls\n"
    "sources.registered_urls = lambda name, base_url=None: official(\n"
    "    name, sys.argv[1])\n"
    "from jaxmnist.cli.sweep import main\n"
    "sys.exit(main(sys.argv[2:]))\n")


def sweep_from_url(url: str, *args: str, **popen) -> subprocess.Popen:
    """The sweep CLI downloading from ``url``, with no manual dir (text
    pipes for stdout and stderr unless ``popen`` says otherwise)."""
    env = {k: v for k, v in os.environ.items()
           if k != "JAXMNIST_MANUAL_DIR"}
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE,
             "text": True, "env": env, **popen}
    return subprocess.Popen([sys.executable, "-c", SWEEP_FROM_URL, url,
                             *args], **popen)


#: The optimizers :func:`with_dynamics` gives a preconditioned sharpness.
ADAPTIVE = ("adam", "adagrad", "adadelta", "rmsprop")


def with_dynamics(run: RunRecords, hidden: int = 2, windows: int = 5
                  ) -> RunRecords:
    """``run`` with plausible probes (no training): for every member and
    epoch, per hidden layer ``k`` dead 0.01 k, inactive 0.5 (ReLU-like)
    or saturated 0.2 + 0.05 epoch (sigmoid, tanh), the other NaN; the
    sharpness of the ``i``-th optimizer about 10**i, the preconditioned one
    half of it for :data:`ADAPTIVE`, else NaN; histograms that are the
    same for every member (lines that would coincide) and ``windows``
    loss windows an epoch."""
    from jaxmnist.core.dynamics import HIST_EDGES  # noqa: PLC0415
    from jaxmnist.report.dynamics import relu_like  # noqa: PLC0415
    from jaxmnist.results.members import Member  # noqa: PLC0415

    epochs = run.config.epochs
    opts = list(dict.fromkeys(m.optimizer for m in run.members))
    rows, names = [], []
    for m in run.members:
        who = Member(m.optimizer, m.activation, m.learning_rate, m.seed)
        names.append(json.dumps(list(who)))
        is_relu_like = relu_like(m.activation)
        for e in range(1, epochs + 1):
            sharp = 10.0 ** opts.index(m.optimizer) * (1 + 0.1 * e)
            values = {("sharpness", None): sharp,
                      ("preconditioned_sharpness", None):
                          sharp / 2 if m.optimizer in ADAPTIVE else math.nan}
            for k in range(1, hidden + 1):
                values[("dead_fraction", k)] = 0.01 * k
                values[("inactive_fraction", k)] = (0.5 if is_relu_like
                                                    else math.nan)
                values[("saturated_fraction", k)] = (
                    math.nan if is_relu_like else 0.2 + 0.05 * e)
                values[("mean_gate", k)] = 0.5
            for k in range(1, hidden + 2):
                values[("grad_norm", k)] = 0.1 * k
                values[("update_ratio", k)] = 0.01 * k / e
                values[("weight_norm", k)] = 5.0 + k
            rows += [DynamicsRow(**who._asdict(), epoch=e, layer=layer,
                                 quantity=q, value=v)
                     for (q, layer), v in values.items()]
    n, bins = len(run.members), len(HIST_EDGES) - 1
    hist = np.exp(-np.linspace(-3, 3, bins) ** 2)
    steps = np.linspace(2.0, 0.1, epochs * windows).reshape(epochs, windows)
    arrays = {"members": np.asarray(names), "hist_edges": HIST_EDGES,
              "hist_start": np.broadcast_to(hist, (n, epochs, hidden, bins)),
              "hist_end": np.broadcast_to(hist[::-1] * 2,
                                          (n, epochs, hidden, bins)),
              "loss_window_mean": np.broadcast_to(steps, (n, epochs,
                                                          windows)),
              "loss_window_max": np.broadcast_to(steps * 1.5,
                                                 (n, epochs, windows))}
    return run._replace(dynamics=rows, dynamics_arrays=arrays)


#: Optimizer options that are decay rates in [0, 1).
DECAY_OPTIONS = ("b1", "b2", "b3", "beta", "adam_b1", "adam_b2", "momentum",
                 "decay", "rho")


def member_values(option: str, default: float, scale: float = 10.0
                  ) -> list[float]:
    """Three in-range values of an optimizer option for three vmapped
    members: a decay rate moved towards 1 and away, a zero default given
    two small values, others multiplied and divided by ``scale``."""
    if option in DECAY_OPTIONS:
        return [default, 1 - 2 * (1 - default), 1 - (1 - default) / 2]
    if default == 0.0:
        return [0.0, 1e-3, 1e-6]
    return [default, default * scale, default / scale]


def event_scalars(path: Path) -> dict[tuple[str, int], float]:
    """(tag, step) -> value of every scalar in a TensorBoard event file,
    read with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import (  # noqa: PLC0415
        EventAccumulator,
    )

    events = EventAccumulator(str(path))
    events.Reload()
    return {(tag, e.step): e.value for tag in events.Tags()["scalars"]
            for e in events.Scalars(tag)}


def as_float64(tree):
    """``tree`` with its floating leaves as float64 (under x64)."""
    return jax.tree.map(lambda x: x.astype(jax.numpy.float64)
                        if jax.numpy.issubdtype(x.dtype, jax.numpy.floating)
                        else x, tree)


def float64_images(data: jm.Dataset) -> jm.Dataset:
    """Images as float64 in [0, 1] (``to_float`` passes floats through)."""
    f = lambda x: np.asarray(x, np.float64) / 255.0
    return data._replace(train_images=f(data.train_images),
                         val_images=f(data.val_images),
                         test_images=f(data.test_images))


def init_in_float64(monkeypatch, module) -> None:
    """``module.make_init`` giving states whose floats are float64, drawn
    in float64: for equivalence tests under x64 (float32 draws may round
    apart in two programs)."""
    from jaxmnist.core import draws  # noqa: PLC0415

    normal = draws.normal
    monkeypatch.setattr(draws, "normal", lambda key, shape, dtype=None:
                        normal(key, shape, jax.numpy.float64))
    make_init = module.make_init

    def made(*args, **kwargs):
        init = make_init(*args, **kwargs)
        return lambda *a: as_float64(init(*a))
    monkeypatch.setattr(module, "make_init", made)
