"""One vmapped group: the sweep's driver equals make_train, member by member."""

import dataclasses
import time

import jax
import numpy as np
import pytest

import jaxmnist as jm
from helpers import synthetic_dataset
from jaxmnist.core import deferred
from jaxmnist.core.config import stack_hparams
from jaxmnist.core.train import epoch_key, make_epoch, member_key
from jaxmnist.errors import Interrupted, StopRequest
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.group import GroupSpec, train_group
from jaxmnist.sweep.lazy import OnFirstCall
from jaxmnist.sweep.probes import merge_seeds, split_seeds


def only_group(cfg: SweepConfig) -> GroupSpec:
    (spec,) = cfg.groups()
    return spec


@pytest.mark.slow  # a long run: many compiles
def test_adding_a_cell_does_not_change_another_cells_numbers():
    data = synthetic_dataset(n_train=128, n_val=32, n_test=32)
    a = SweepConfig(activations=("relu",), optimizers=("adam",), epochs=2,
                    seeds=2, batch_size=32)
    b = SweepConfig(activations=("tanh", "relu"), optimizers=("adam",),
                    epochs=2, seeds=2, batch_size=32)
    ga = train_group(only_group(a), data, progress=False)
    gb = train_group(only_group(b), data, progress=False)
    for i, m in enumerate(ga.members):
        j = gb.members.index(m)
        np.testing.assert_allclose(ga.history.val_loss[i],
                                   gb.history.val_loss[j], rtol=1e-5)


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_sweep_driver_equals_pure_train(optimizer):
    """One code path, two drivers: the group's per-epoch loop reproduces
    ``make_train`` for every member, probes included (the sweep's one
    probe program, run once or twice, against the probes batched in the
    epoch; its guarded chunks against the unnamed steps)."""
    data = synthetic_dataset(n_train=512, n_val=32, n_test=32)
    cfg = SweepConfig(activations=("relu", "sigmoid"),
                      optimizers=(optimizer,), epochs=2, seeds=2,
                      batch_size=16)
    spec = only_group(cfg)
    group = train_group(spec, data, progress=False)
    assert group.members == spec.members
    assert group.history.val_loss.shape == (4, 2)
    train = jax.jit(jm.make_train(spec.config))
    d = group.dynamics
    assert d is not None
    assert d.grad_norm.shape == (4, 2, 3)  # 32 steps: 16 sampled an epoch
    for i, m in enumerate(group.members):
        solo = train(member_key(cfg.seed, m.seed),
                     jm.make_hparams(m.activation, m.learning_rate), data)
        np.testing.assert_allclose(group.history.val_loss[i],
                                   solo.metrics.val_loss, rtol=1e-4)
        np.testing.assert_allclose(group.params[0]["w"][i],
                                   solo.params[0]["w"], rtol=1e-3, atol=1e-4)
        for f in ("grad_norm", "update_ratio", "sharpness",
                  "preconditioned_sharpness", "mean_gate", "hist_end"):
            np.testing.assert_allclose(getattr(d, f)[i],
                                       getattr(solo.dynamics, f),
                                       rtol=2e-3, atol=1e-5, err_msg=f)
    assert np.isnan(d.preconditioned_sharpness).all() == (
        optimizer == "momentum")


def test_a_finished_group_is_returned_from_its_checkpoint(tmp_path):
    data = synthetic_dataset(n_train=64, n_val=16, n_test=16)
    spec = only_group(SweepConfig(activations=("relu",), optimizers=("adam",),
                                  epochs=2, batch_size=32))
    first = train_group(spec, data, progress=False, checkpoint_dir=tmp_path)
    again = train_group(spec, data, progress=False, checkpoint_dir=tmp_path)
    assert again.members == first.members
    assert again.seconds == first.seconds  # not retrained
    for f in jm.Metrics._fields:
        np.testing.assert_array_equal(getattr(again.history, f),
                                      getattr(first.history, f))


def _vmapped_epochs(config, hparams, data, axis_names, epochs=3,
                    retry=False):
    """(params, results per epoch) of members vmapped over ``hparams``,
    with the vmap axis named for the epoch's guard or not; with ``retry``,
    each epoch that says so run again by the always-guarded program (and
    which epochs did, as a third item)."""
    key = jax.random.key(0)
    init = jax.jit(jax.vmap(jm.make_init(config), in_axes=(None, 0, None)))

    def vmapped(names, retry):
        return jax.jit(jax.vmap(make_epoch(config, names, retry=retry),
                                in_axes=(0, 0, None, None),
                                axis_name="cells"))

    epoch, guarded = vmapped(axis_names, retry), vmapped((), False)
    state, metrics, retried = init(key, hparams, data), [], []
    for e in range(epochs):
        new, out = epoch(state, hparams, data, epoch_key(key, e))
        if retry and np.asarray(out.retried).any():
            assert np.asarray(out.retried).all()  # one flag for the group
            jax.tree.map(np.testing.assert_array_equal, new, state)
            new, out = guarded(state, hparams, data, epoch_key(key, e))
            retried.append(e)
        state = new
        metrics.append(out._replace(retried=None))
    return (state.params, metrics) + ((retried,) if retry else ())


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("dynamics", [False, True])
@pytest.mark.parametrize("rates", [(0.1, 0.3), (0.1, 1e4)])
def test_the_groups_unguarded_epochs_give_the_guarded_numbers(rates,
                                                              dynamics):
    """Named member axes let an epoch run without the divergence guard
    and redo it guarded only when some loss was not finite: bitwise the
    numbers of the always-guarded steps, with a member diverging or not;
    with probes, chunk by chunk (40 steps: 20 chunks of 2), and bitwise
    the training of the epochs without them."""
    data = synthetic_dataset(n_train=640, n_val=32, n_test=32)
    config = jm.TrainConfig(optimizer="momentum", batch_size=16,
                            activations=("relu", "tanh"), dynamics=dynamics,
                            probe_size=32, sharpness_iterations=2)
    assert not deferred.applies(config)  # its own guard: not these loops
    hp = stack_hparams([jm.make_hparams(a, r) for a in ("relu", "tanh")
                        for r in rates])
    fast = _vmapped_epochs(config, hp, data, ("cells",))
    slow = _vmapped_epochs(config, hp, data, ())
    jax.tree.map(np.testing.assert_array_equal, fast, slow)
    diverged = np.asarray(slow[1][-1].metrics.diverged)
    assert diverged.any() == (rates[1] > 1)
    assert not diverged.all()
    # without a guarded loop in the program: the epoch that met a
    # non-finite loss (and every one after) returned its start, to be run
    # again guarded; the same numbers
    *retried, epochs = _vmapped_epochs(config, hp, data, ("cells",),
                                       retry=True)
    jax.tree.map(np.testing.assert_array_equal, tuple(retried), slow)
    first = [e for e in range(3)
             if np.asarray(slow[1][e].metrics.diverged).any()]
    assert epochs == (list(range(first[0], 3)) if first else [])
    if dynamics:
        unprobed = _vmapped_epochs(dataclasses.replace(config,
                                                       dynamics=False),
                                   hp, data, ("cells",))
        jax.tree.map(np.testing.assert_array_equal,
                     (fast[0], [r.metrics for r in fast[1]]),
                     (unprobed[0], [r.metrics for r in unprobed[1]]))


class _StopAfterAnEpoch(StopRequest):
    """A stop asked for while the first epoch trains."""

    @property
    def requested(self) -> bool:  # read after each epoch
        self.signal_name = "SIGTERM"
        return True


@pytest.mark.slow  # a long run: many compiles
def test_a_group_with_a_diverging_member_reruns_its_epochs_guarded(
        tmp_path):
    """The sweep's epoch program holds no guarded loop: the epoch whose
    loss was first not finite runs again with the guarded program, and so
    does every epoch after it, after a resume too: make_train's numbers,
    and bitwise those of the run that was not stopped."""
    data = synthetic_dataset(n_train=256, n_val=32, n_test=32)
    spec = only_group(SweepConfig(
        activations=("relu", "leaky_relu"), optimizers=("momentum",),
        learning_rates=(("momentum", (0.1, 1e4)),), epochs=3,
        batch_size=16, dynamics=False))
    whole = train_group(spec, data, progress=False)
    diverged = np.asarray(whole.history.diverged)
    rates = np.array([m.learning_rate for m in whole.members])
    np.testing.assert_array_equal(diverged[:, 0], rates > 1)
    with pytest.raises(Interrupted, match="after epoch 1 of 3"):
        train_group(spec, data, progress=False, checkpoint_dir=tmp_path,
                    stop=_StopAfterAnEpoch())
    resumed = train_group(spec, data, progress=False,
                          checkpoint_dir=tmp_path)
    jax.tree.map(np.testing.assert_array_equal,
                 (whole.history, whole.params),
                 (resumed.history, resumed.params))
    train = jax.jit(jm.make_train(spec.config))
    for i, m in enumerate(whole.members):
        solo = train(member_key(0, m.seed),
                     jm.make_hparams(m.activation, m.learning_rate), data)
        np.testing.assert_array_equal(diverged[i], solo.metrics.diverged)
        np.testing.assert_allclose(whole.history.val_loss[i],
                                   solo.metrics.val_loss, rtol=1e-4)


class _Lowerings:
    """A jitted function whose ``lower`` calls are counted (or fail)."""

    def __init__(self, fn=None):
        self.fn, self.count = fn, 0

    def lower(self, *args):
        self.count += 1
        if self.fn is None:
            raise ValueError("cannot compile")
        return self.fn.lower(*args)


def test_a_program_compiled_beside_is_compiled_once_and_used_by_calls():
    """OnFirstCall.compile_beside (the probe program, while the first epoch
    trains) compiles on its own thread, once however often it is started,
    and the calls use that compile; without it the first call compiles."""
    x = jax.numpy.arange(3.0)
    beside = _Lowerings(jax.jit(lambda v: v * 2.0))
    program = OnFirstCall(beside)
    program.compile_beside(x)
    program.compile_beside(x)
    deadline = time.monotonic() + 60
    while program.compiled is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert program.compiled is not None  # compiled with no call made
    np.testing.assert_array_equal(program(x), x * 2.0)
    np.testing.assert_array_equal(program(x + 1), (x + 1) * 2.0)
    assert beside.count == 1 and program.seconds > 0
    on_call = _Lowerings(jax.jit(lambda v: v * 2.0))
    program = OnFirstCall(on_call)
    assert program.seconds == 0.0
    program(x)
    program(x)
    assert on_call.count == 1 and program.seconds > 0


def test_a_compile_that_fails_beside_raises_at_the_call():
    failing = _Lowerings()
    program = OnFirstCall(failing)
    program.compile_beside(jax.numpy.zeros(2))
    with pytest.raises(ValueError, match="cannot compile"):
        program(jax.numpy.zeros(2))  # the call compiles again, and raises
    assert program.compiled is None


def test_merge_seeds_is_cell_major_and_split_inverts_it():
    seeds, cells = 3, 4
    w1 = np.arange(seeds * 5 * cells * 2, dtype=np.float32).reshape(
        seeds, 5, cells, 2)  # [seed, in, cell, out]: cell axis 1 inside
    b = np.arange(seeds * cells * 2, dtype=np.float32).reshape(seeds, cells, 2)
    tree, axes = {"w": w1, "b": b}, {"w": 1, "b": 0}
    merged = merge_seeds(tree, axes)
    assert merged["w"].shape == (5, cells * seeds, 2)
    assert merged["b"].shape == (cells * seeds, 2)
    for c in range(cells):
        for s in range(seeds):  # member c * seeds + s: a device's cells stay
            np.testing.assert_array_equal(merged["w"][:, c * seeds + s],
                                          w1[s, :, c])
            np.testing.assert_array_equal(merged["b"][c * seeds + s],
                                          b[s, c])
    back = split_seeds(merged, axes, seeds)
    np.testing.assert_array_equal(back["w"], w1)
    np.testing.assert_array_equal(back["b"], b)
