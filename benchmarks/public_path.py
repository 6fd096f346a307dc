"""The library's public path against the plain-JAX reference, in one process.

A user's ``jax.jit(jax.vmap(make_train(cfg), in_axes=(None, 0, None)))``
trains K Adam members (the four activations in turn, one learning rate per
block of four; ``cfg.activations`` the four, batch 128) beside
:mod:`benchmarks.plain_jax` training the same members, on the same data,
with the same per-epoch evaluation. Both are compiled first (compile
seconds apart), called once to warm up, then timed in alternating rounds
of ``epochs`` epochs each. ``speed_ratio`` is the median over rounds of the
reference's seconds over the library's: above 1 the library is faster;
``cpu_ratio`` the same of the process's CPU seconds, which other jobs on a
busy machine disturb far less than the wall clock.

    python -m benchmarks.public_path [--members 24] [--epochs 1]
        [--rounds 6] [--manual-dir DIR] [--out FILE]

writes ``benchmarks/results/public_path.json`` (command, commit, date,
machine, figures).
"""

from __future__ import annotations

import statistics
import sys

import jax
import jax.numpy as jnp
import numpy as np

import jaxmnist as jm
from benchmarks import common, plain_jax


def members(k: int) -> tuple[list[int], list[float]]:
    """Activation indices (into ``plain_jax.ACTIVATIONS``) and learning
    rates of ``k`` members: the activations in turn, a rate a block."""
    return [i % 4 for i in range(k)], [1e-3 * (1 + i // 4) for i in range(k)]


def measure(data: jm.Dataset, k: int = 24, epochs: int = 1,
            rounds: int = 6) -> dict:
    """Both programs compiled, then timed side by side: the figures."""
    acts, lrs = members(k)
    cfg = jm.TrainConfig(optimizer="adam", epochs=epochs, batch_size=128,
                         activations=plain_jax.ACTIVATIONS)
    hp = jm.stack_hparams([jm.make_hparams(plain_jax.ACTIVATIONS[a], lr)
                           for a, lr in zip(acts, lrs)])
    key = jax.random.key(0)
    library, library_compile = common.compiled(
        jax.vmap(jm.make_train(cfg), in_axes=(None, 0, None)), key, hp, data)
    ref_args = (key, jnp.asarray(acts, jnp.int32),
                jnp.asarray(lrs, jnp.float32), data)
    reference, reference_compile = common.compiled(
        plain_jax.make_train(epochs), *ref_args)
    last: dict = {}

    def keep(name, fn):
        """``fn`` as a callable that also keeps its last result."""
        def call():
            last[name] = fn()
            return last[name]
        return call

    times = common.alternating(
        {"library": keep("library", lambda: library(key, hp, data)),
         "reference": keep("reference", lambda: reference(*ref_args))},
        rounds)
    lib_acc = np.asarray(last["library"].metrics.test_accuracy)[:, -1]
    ref_acc = np.asarray(last["reference"][1])[-1, :, 5]
    return {"members": k, "epochs": epochs, "rounds": rounds,
            "batch_size": 128, "optimizer": "adam",
            "train_images": int(data.train_images.shape[0]),
            "library": _side(times["library"], library_compile, epochs, k,
                             lib_acc),
            "reference": _side(times["reference"], reference_compile, epochs,
                               k, ref_acc),
            "speed_ratio": common.median_ratio(times["reference"],
                                               times["library"]),
            "cpu_seconds": times["cpu"],
            "cpu_ratio": common.median_ratio(times["cpu"]["reference"],
                                             times["cpu"]["library"])}


def _side(seconds: list[float], compile_s: float, epochs: int, k: int,
          test_accuracy: np.ndarray) -> dict:
    run_s = statistics.median(seconds)
    return {"seconds": seconds, "median_s": run_s, "compile_s": compile_s,
            "model_epochs_per_s": k * epochs / run_s,
            "final_test_accuracy_mean": float(test_accuracy.mean())}


def table(f: dict) -> str:
    """The figures as text."""
    lines = [f"K = {f['members']} adam members, batch 128, {f['epochs']} "
             f"epoch(s) a round, {f['rounds']} alternating rounds"]
    for side in ("library", "reference"):
        s = f[side]
        lines.append(
            f"{side:>9}: {s['median_s']:.2f} s ({s['model_epochs_per_s']:.2f}"
            f" model-epochs/s), compile {s['compile_s']:.1f} s, final test "
            f"accuracy {s['final_test_accuracy_mean']:.4f}")
    lines.append(f"library speed / reference speed: {f['speed_ratio']:.2f}"
                 f" wall clock, {f['cpu_ratio']:.2f} CPU seconds")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = common.parser("benchmarks.public_path", __doc__, "public_path.json")
    p.add_argument("--members", type=int, default=24)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args(argv)
    record = common.provenance("benchmarks.public_path", argv)
    data = jax.device_put(jm.load_dataset("mnist",
                                          manual_dir=args.manual_dir))
    record["figures"] = measure(data, args.members, args.epochs, args.rounds)
    common.publish(args.out, record, table(record["figures"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
