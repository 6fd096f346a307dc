"""How far the default sharpness is from 40 Lanczos steps on 1,000 images,
on the classic grid's mini-batch cells.

Each optimizer's four cells (the classic grid's activations, its default
learning rate and batch size, seed 0 of root seed 0) train 10 epochs as
one vmapped program, as a sweep group does, with TrainConfig's default
probes (``probe_every``, ``probe_size``, ``sharpness_iterations``): after
each probed epoch (the first, every ``probe_every``-th, the last) its
sharpness, Lanczos steps warm-started from the previous probe's vector,
is compared with 40 steps on the first 1,000 validation images from that
same vector; for the adaptive optimizers the preconditioned sharpness
likewise. Prints each cell's relative differences (%) per probed epoch
and a count, and writes them to ``benchmarks/results/lanczos_accuracy.json``
(with the command, commit, date and machine).

    JAXMNIST_MANUAL_DIR=../shared/data python -m benchmarks.lanczos_accuracy
"""

import sys

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from benchmarks import common
from jaxmnist.core import dynamics
from jaxmnist.core.config import TrainConfig, make_hparams, stack_hparams
from jaxmnist.core.sharpness import tree_mul
from jaxmnist.core.step import member_options
from jaxmnist.core.train import (
    epoch_key,
    make_epoch,
    make_init,
    member_key,
    probes_epoch,
)
from jaxmnist.data import load_dataset
from jaxmnist.optim.registry import get_spec

# sweeps/classic.toml's mini-batch optimizers and its activations
OPTIMIZERS = ("minibatch_sgd", "momentum", "adam", "adagrad", "adadelta")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
EPOCHS, REFERENCE, IMAGES = 10, 40, 1000


def reference_program(cfg: TrainConfig, images, labels):
    """``(state, start, hparams) -> (sharpness, preconditioned sharpness
    or NaN)`` by 40 steps on ``images`` from the probe's warm starts
    ``start``, for vmapped members."""
    def one(state, start, hp):
        hvp = dynamics.hvp_fn(state.params, hp.activation, images, labels,
                              cfg.activation_choices, state.stats)
        unravel = ravel_pytree(state.params)[1]  # the warm starts are flat
        value = dynamics.lanczos_top(hvp, unravel(start.hessian_vector),
                                     REFERENCE)[0]
        pre = dynamics.preconditioner(state.opt_state,
                                      member_options(cfg, hp))
        if pre is None:
            return value, value * np.nan
        scale = jax.tree.map(jax.lax.rsqrt, pre)
        return value, dynamics.lanczos_top(
            lambda q: tree_mul(scale, hvp(tree_mul(scale, q))),
            unravel(start.preconditioned_vector), REFERENCE)[0]
    return jax.jit(jax.vmap(one))


def optimizer_errors(data, optimizer: str) -> dict[str, np.ndarray]:
    """``[activations, probes]`` differences (%) of the default sharpness
    (and preconditioned sharpness) from 40 steps on 1,000 images."""
    spec = get_spec(optimizer)
    cfg = TrainConfig(optimizer=optimizer, epochs=EPOCHS,
                      batch_size=spec.batch_size, activations=ACTIVATIONS,
                      dynamics=True)
    hp = stack_hparams([make_hparams(a, spec.learning_rate)
                        for a in ACTIVATIONS])
    init = jax.jit(jax.vmap(make_init(cfg), in_axes=(None, 0, None)))
    epoch = jax.jit(jax.vmap(make_epoch(cfg),
                             in_axes=(0, 0, None, None, None)))
    reference = reference_program(cfg, data.val_images[:IMAGES],
                                  data.val_labels[:IMAGES])
    key = member_key(0, 0)
    state = init(jax.random.split(key)[0], hp, data)
    got, want = [], []
    for e in range(EPOCHS):
        start = state.probe
        probed = probes_epoch(cfg, e)
        state, out = epoch(state, hp, data, epoch_key(key, e), probed)
        if probed:
            d = out.dynamics
            got.append((d.sharpness, d.preconditioned_sharpness))
            want.append(reference(state, start, hp))
    got, want = np.asarray(got), np.asarray(want)  # [probes, 2, cells]
    errors = 100 * (got / want - 1)
    return {"sharpness": errors[:, 0].T,
            "preconditioned_sharpness": errors[:, 1].T}


def summary(errors: list[float]) -> dict:
    e = np.abs(errors)
    return {"probes": len(e), "within_0.1_percent": int((e < 0.1).sum()),
            "within_1_percent": int((e < 1).sum()),
            "median_abs_percent": float(np.median(e)),
            "worst_percent": float(errors[int(np.argmax(e))])}


def main() -> None:
    record = common.provenance("benchmarks.lanczos_accuracy", sys.argv[1:])
    data = load_dataset("mnist")
    cfg = TrainConfig()
    cells, pooled = [], {"sharpness": [], "preconditioned_sharpness": []}
    for optimizer in OPTIMIZERS:
        errors = optimizer_errors(data, optimizer)
        for i, activation in enumerate(ACTIVATIONS):
            cell = {k: [float(x) for x in v[i] if np.isfinite(x)]
                    for k, v in errors.items()}
            print(f"{optimizer:13s} {activation:10s} "
                  + " ".join(f"{x:+.2f}" for x in cell["sharpness"])
                  + ("  preconditioned " + " ".join(
                      f"{x:+.2f}" for x in cell["preconditioned_sharpness"])
                     if cell["preconditioned_sharpness"] else ""),
                  flush=True)
            for k in pooled:
                pooled[k] += cell[k]
            cells.append({"optimizer": optimizer, "activation": activation,
                          "percent_from_reference": cell})
    figures = {k: summary(v) for k, v in pooled.items()}
    for k, f in figures.items():
        print(f"{k}: {f['probes']} probes, {f['within_0.1_percent']} within "
              f"0.1% of {REFERENCE} steps on {IMAGES} images, "
              f"{f['within_1_percent']} within 1%, median "
              f"{f['median_abs_percent']:.2f}%, worst "
              f"{f['worst_percent']:+.2f}%")
    record["figures"] = {
        "reference_steps": REFERENCE, "reference_images": IMAGES,
        "epochs": EPOCHS, "probe_every": cfg.probe_every,
        "probe_size": cfg.probe_size,
        "sharpness_iterations": cfg.sharpness_iterations,
        "cells": cells, **figures}
    common.write_record(common.RESULTS / "lanczos_accuracy.json", record)


if __name__ == "__main__":
    main()
