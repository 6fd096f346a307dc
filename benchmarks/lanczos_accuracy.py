"""How close the sweep's sharpness (warm-started Lanczos steps) comes to 40
steps, on the classic grid's mini-batch cells.

Each cell (optimizer x activation, each optimizer's default learning rate
and batch size as the classic grid uses them, seed 0 of root seed 0) trains
10 epochs as the sweep does; after each epoch the top Hessian eigenvalue on
the probe batch (the first ``probe_size`` validation images) is computed by
``sharpness_iterations`` Lanczos steps (TrainConfig's defaults: 1,000 and
8) from the previous epoch's Ritz vector, as the sweep's probes do, and by
40 steps from the same start. Prints each cell's relative differences (%)
per epoch and a count, and writes them to
``benchmarks/results/lanczos_accuracy.json`` (with the command, commit,
date and machine).

    JAXMNIST_MANUAL_DIR=../shared/data python -m benchmarks.lanczos_accuracy

About 3 minutes on a 2-core CPU.
"""

import sys

import jax
import numpy as np

from benchmarks import common
from jaxmnist.core import dynamics
from jaxmnist.core.config import TrainConfig, make_hparams
from jaxmnist.core.train import epoch_key, make_epoch, make_init, member_key
from jaxmnist.data import load_dataset
from jaxmnist.optim.registry import get_spec

# sweeps/classic.toml's mini-batch optimizers and its activations
OPTIMIZERS = ("minibatch_sgd", "momentum", "adam", "adagrad", "adadelta")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
EPOCHS, REFERENCE = 10, 40


def cell_errors(data, optimizer: str, activation: str) -> list[float]:
    """The sweep's sharpness's difference from 40 steps (%), per epoch."""
    spec = get_spec(optimizer)
    cfg = TrainConfig(optimizer=optimizer, epochs=EPOCHS,
                      batch_size=spec.batch_size)
    hp = make_hparams(activation, spec.learning_rate)
    init, epoch = jax.jit(make_init(cfg)), jax.jit(make_epoch(cfg))
    n = cfg.probe_size
    images, labels = data.val_images[:n], data.val_labels[:n]

    @jax.jit
    def sharpness(params, v0):
        hvp = dynamics.hvp_fn(params, hp.activation, images, labels)
        value, vector = dynamics.lanczos_top(hvp, v0,
                                             cfg.sharpness_iterations)
        return value, vector, dynamics.lanczos_top(hvp, v0, REFERENCE)[0]

    key = member_key(0, 0)
    state = init(jax.random.split(key)[0], hp, data)
    vector = sharpness(state.params, state.params)[1]  # the sweep's start
    errors = []
    for e in range(EPOCHS):
        state, _ = epoch(state, hp, data, epoch_key(key, e))
        value, vector, reference = sharpness(state.params, vector)
        errors.append(100 * (float(value) / float(reference) - 1))
    return errors


def main() -> None:
    record = common.provenance("benchmarks.lanczos_accuracy", sys.argv[1:])
    data = load_dataset("mnist")
    errors, cells = [], []
    for optimizer in OPTIMIZERS:
        for activation in ACTIVATIONS:
            cell = cell_errors(data, optimizer, activation)
            print(f"{optimizer:13s} {activation:10s} "
                  + " ".join(f"{x:+.2f}" for x in cell), flush=True)
            errors += cell
            cells.append({"optimizer": optimizer, "activation": activation,
                          "percent_from_reference": cell})
    e = np.abs(errors)
    print(f"{len(e)} epochs: {(e < 0.1).sum()} within 0.1% of {REFERENCE} "
          f"steps, {(e < 1).sum()} within 1%, worst {min(errors):+.2f}%")
    record["figures"] = {"reference_steps": REFERENCE, "epochs": EPOCHS,
                         "cells": cells,
                         "within_0.1_percent": int((e < 0.1).sum()),
                         "within_1_percent": int((e < 1).sum()),
                         "worst_percent": min(errors)}
    common.write_record(common.RESULTS / "lanczos_accuracy.json", record)


if __name__ == "__main__":
    main()
