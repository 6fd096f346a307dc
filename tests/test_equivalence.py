"""The program's variants are one computation: under x64 they agree to
float64 rounding (float32 runs of different programs may round
differently). Deferred vs dense is tests/test_deferred.py; transposed vs
dense is here.

Each variant starts from the same float64 state: the initial draws are
float32, and two programs may round them apart in their last bit.
"""

import dataclasses

import jax
import jax.numpy as jnp
import pytest

import jaxmnist as jm
from helpers import (
    as_float64,
    float64_images,
    init_in_float64,
    synthetic_dataset,
    take,
    tree_allclose,
)
from jaxmnist.core.train import epoch_key, make_epoch, make_init, probes_epoch
from jaxmnist.sweep import placed
from jaxmnist.sweep.cluster import compiled_bytes
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.group import train_group

CFG = jm.TrainConfig(optimizer="adam", epochs=3, batch_size=16,
                     sizes=(784, 8, 6, 10), activations=("relu", "tanh"),
                     dynamics=True, probe_size=16, sharpness_iterations=3,
                     probe_every=1)
RTOL, ATOL = 1e-10, 1e-12
MEMBERS = [jm.make_hparams("relu", 3e-3), jm.make_hparams("tanh", 1e-2)]
KEY = jax.random.key(0)


@pytest.fixture
def x64():
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        yield float64_images(synthetic_dataset(n_train=96, n_val=16,
                                               n_test=16))


def _start(cfg, hp, data):
    """One member's initial state, float64."""
    return as_float64(jax.jit(make_init(cfg))(KEY, hp, data))


def _run(cfg, state, hp, data, vmapped: bool = False):
    """(state, results per epoch) of ``cfg``'s epochs from ``state``."""
    epoch = make_epoch(cfg)
    if vmapped:
        epoch = jax.vmap(epoch, in_axes=(0, 0, None, None, None))
    epoch, out = jax.jit(epoch), []
    for e in range(cfg.epochs):
        state, result = epoch(state, hp, data, epoch_key(KEY, e),
                              jnp.asarray(probes_epoch(cfg, e)))
        out.append(result)
    return state, out


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_vmapped_members_equal_each_alone(optimizer, x64):
    cfg = dataclasses.replace(CFG, optimizer=optimizer)
    starts = [_start(cfg, hp, x64) for hp in MEMBERS]
    both = _run(cfg, jax.tree.map(lambda *xs: jnp.stack(xs), *starts),
                jm.stack_hparams(MEMBERS), x64, vmapped=True)
    assert jax.tree.leaves(both[0].params)[0].dtype == jnp.float64
    for i, hp in enumerate(MEMBERS):
        alone = _run(cfg, starts[i], hp, x64)
        tree_allclose(take(both[0].params, i), alone[0].params, RTOL, ATOL)
        for got, want in zip(both[1], alone[1]):
            tree_allclose(take(got.metrics, i), want.metrics, RTOL, ATOL)
            tree_allclose(take(got.dynamics, i), want.dynamics, 1e-8, 1e-10)


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_probes_leave_the_training_as_it_was(optimizer, x64):
    """Probes off, on every epoch, or every other: the same training."""
    cfg = dataclasses.replace(CFG, optimizer=optimizer,
                              batch_size=1 if optimizer == "sgd" else 16)
    runs = []
    for dynamics, every in ((False, 1), (True, 1), (True, 2)):
        c = dataclasses.replace(cfg, dynamics=dynamics, probe_every=every)
        start = _start(cfg, MEMBERS[1], x64)  # the same draws for all
        if dynamics:
            start = start._replace(probe=_start(c, MEMBERS[1], x64).probe)
        runs.append(_run(c, start, MEMBERS[1], x64))
    for state, results in runs[1:]:
        tree_allclose(state.params, runs[0][0].params, RTOL, ATOL)
        tree_allclose([r.metrics for r in results],
                      [r.metrics for r in runs[0][1]], RTOL, ATOL)


@pytest.mark.slow  # a long run: many compiles
def test_the_sweeps_group_chunked_equals_it_whole(x64, monkeypatch):
    """A group in chunks of one seed equals the group in one program."""
    init_in_float64(monkeypatch, placed)
    spec, = SweepConfig(activations=("relu", "tanh"), optimizers=("adam",),
                        epochs=2, seeds=2, batch_size=16, hidden=((8, 6),),
                        learning_rates=(("adam", (3e-3,)),)).groups()
    spec = spec._replace(config=dataclasses.replace(
        spec.config, probe_size=16, sharpness_iterations=3, probe_every=1))
    whole = train_group(spec, x64, progress=False)
    g, _ = placed.compile_group(placed.place(spec, x64))
    budget = int(0.7 * compiled_bytes(g.epoch))
    chunked = train_group(spec, x64, progress=False, max_memory=budget)
    assert jax.tree.leaves(whole.params)[0].dtype == jnp.float64
    tree_allclose(chunked.params, whole.params, RTOL, ATOL)
    tree_allclose(chunked.history, whole.history, RTOL, ATOL)
    tree_allclose(chunked.dynamics, whole.dynamics, 1e-8, 1e-10)


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("optimizer,structure", [
    ("adam", {}),
    ("momentum", dict(batch_norm=True, weight_decay=True)),
    ("schedule_free_adamw", dict(dropout=True)),
    ("prodigy", {}),
])
def test_the_transposed_first_layer_equals_the_dense_one(optimizer,
                                                          structure, x64):
    """Members vmapped over one batch: the first layer carried transposed
    through the steps (its optimizer state too) trains as carried dense."""
    cfg = dataclasses.replace(CFG, optimizer=optimizer, **structure)
    start = jax.tree.map(lambda *xs: jnp.stack(xs),
                         *[_start(cfg, hp, x64) for hp in MEMBERS])
    hp = jm.stack_hparams(MEMBERS)
    runs = [_run(dataclasses.replace(cfg, first_layer=path), start, hp, x64,
                 vmapped=True) for path in ("dense", "transposed")]
    assert jax.tree.leaves(runs[1][0].params)[0].dtype == jnp.float64
    assert runs[1][0].params[0]["w"].shape == (2, 784, 8)  # given back
    (state, _), (want, _) = runs[1], runs[0]
    tree_allclose(state._replace(probe=None), want._replace(probe=None),
                  RTOL, ATOL)
    tree_allclose(state.probe, want.probe, 1e-8, 1e-10)
    for got, want in zip(runs[1][1], runs[0][1]):
        tree_allclose(got.metrics, want.metrics, RTOL, ATOL)
        tree_allclose(got.dynamics, want.dynamics, 1e-8, 1e-10)


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("optimizer,structure", [
    ("adam", "dropout"),
    *[(opt, "weight_decay") for opt in ("sgd", "momentum", "adagrad", "adam")],
])
def test_a_zero_rate_compiled_in_equals_the_plain_program(optimizer,
                                                           structure, x64):
    """Dropout at rate 0 keeps every unit and divides by 1; weight decay 0
    adds ``0 * w`` (its optimizer state gains the decay's slot
    besides): compiled in, either trains as the program without it."""
    plain = dataclasses.replace(CFG, optimizer=optimizer, dynamics=False)
    params = _start(plain, MEMBERS[0], x64).params  # the same draws for all
    runs = [_run(c, _start(c, MEMBERS[0], x64)._replace(params=params),
                 MEMBERS[0], x64) for c in
            (plain, dataclasses.replace(plain, **{structure: True}))]
    (state, results), (want, want_results) = runs[1], runs[0]
    assert jax.tree.leaves(state.params)[0].dtype == jnp.float64
    tree_allclose(state.params, want.params, RTOL, ATOL)
    tree_allclose([r.metrics for r in results],
                  [r.metrics for r in want_results], RTOL, ATOL)
