"""The float32 results of the sweep's optimizers are bitwise those of v0.

The product's results are compared to the last bit, so the optimizers as the
sweep calls them (Python-float hyperparameters, the learning rate a Python
float or a traced float32 scalar, vmapped, under a schedule, inside
``lax.scan``) must compute exactly what the original implementation (main at
781d3a1, before issue #14) computed. ``_frozen_*`` below is a verbatim copy of
that implementation's arithmetic (jaxmnist/optim/transforms.py, alias.py and
schedules.py of that commit); the tests run both and compare every step's
parameters and updates with ``==`` (NaN-free inputs, so exact equality).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmnist as jm
from jaxmnist.core import step as train_module
from jaxmnist.optim import registry, schedules

# --------------------------------------------------------------------------
# Frozen copy of the original implementation (do not edit)
# --------------------------------------------------------------------------


def _ema(new, old, decay):
    return jax.tree.map(lambda n, o: (1 - decay) * n + decay * o, new, old)


class _LrState(NamedTuple):
    count: jax.Array


def _frozen_lr(learning_rate):
    if learning_rate is None:
        learning_rate = 1.0

    def init_fn(params):
        return _LrState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        eta = learning_rate(state.count) if callable(learning_rate) \
            else learning_rate
        updates = jax.tree.map(lambda u: (-jnp.asarray(eta, u.dtype)) * u,
                               updates)
        return updates, _LrState(count=state.count + 1)

    return optax.GradientTransformation(init_fn, update_fn)


def _frozen_trace(decay, nesterov=False):
    def init_fn(params):
        return (optax.tree.zeros_like(params),)

    def update_fn(updates, state, params=None):
        f = lambda g, v: g + decay * v
        new_trace = jax.tree.map(f, updates, state[0])
        out = jax.tree.map(f, updates, new_trace) if nesterov else new_trace
        return out, (new_trace,)

    return optax.GradientTransformation(init_fn, update_fn)


def _frozen_adam(b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0):
    def init_fn(params):
        return (jnp.zeros([], jnp.int32), optax.tree.zeros_like(params),
                optax.tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        mu = _ema(updates, state[1], b1)
        nu = _ema(jax.tree.map(jnp.square, updates), state[2], b2)
        count = state[0] + 1
        c1 = 1 - b1 ** count.astype(jnp.float32)
        c2 = 1 - b2 ** count.astype(jnp.float32)
        out = jax.tree.map(
            lambda m, v: (m / c1.astype(m.dtype))
            / (jnp.sqrt(v / c2.astype(v.dtype) + eps_root) + eps), mu, nu)
        return out, (count, mu, nu)

    return optax.GradientTransformation(init_fn, update_fn)


def _frozen_rss(initial_accumulator_value=0.1, eps=1e-7):
    def init_fn(params):
        return (optax.tree.full_like(params, initial_accumulator_value),)

    def update_fn(updates, state, params=None):
        acc = jax.tree.map(lambda g, s: jnp.square(g) + s, updates, state[0])
        out = jax.tree.map(
            lambda g, s: jnp.where(s > 0, jax.lax.rsqrt(s + eps), 0.0) * g,
            updates, acc)
        return out, (acc,)

    return optax.GradientTransformation(init_fn, update_fn)


def _frozen_adadelta(rho=0.9, eps=1e-6):
    def init_fn(params):
        return (optax.tree.zeros_like(params), optax.tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        e_g = _ema(jax.tree.map(jnp.square, updates), state[0], rho)
        dx = jax.tree.map(lambda g, eg, ex: jnp.sqrt(ex + eps)
                          / jnp.sqrt(eg + eps) * g, updates, e_g, state[1])
        e_x = _ema(jax.tree.map(jnp.square, dx), state[1], rho)
        return dx, (e_g, e_x)

    return optax.GradientTransformation(init_fn, update_fn)


def _frozen_rms(decay=0.9, eps=1e-8, initial_scale=0.0):
    def init_fn(params):
        return (optax.tree.full_like(params, initial_scale),)

    def update_fn(updates, state, params=None):
        nu = _ema(jax.tree.map(jnp.square, updates), state[0], decay)
        out = jax.tree.map(lambda g, n: jax.lax.rsqrt(n + eps) * g,
                           updates, nu)
        return out, (nu,)

    return optax.GradientTransformation(init_fn, update_fn)


def _frozen_optimizer(name, learning_rate):
    lr = _frozen_lr(learning_rate)
    first = {
        "sgd": None, "minibatch_sgd": None,
        "momentum": lambda: _frozen_trace(0.9),
        "nesterov": lambda: _frozen_trace(0.9, nesterov=True),
        "adam": _frozen_adam, "adagrad": _frozen_rss,
        "adadelta": _frozen_adadelta, "rmsprop": _frozen_rms,
    }[name]
    return lr if first is None else optax.chain(first(), lr)


def _frozen_multiplier(kind, total_steps, steps_per_epoch, warmup_steps=0,
                       decay_rate=0.8):
    if kind == "constant":
        return optax.constant_schedule(1.0)
    if kind == "cosine":
        return optax.cosine_decay_schedule(1.0, max(total_steps, 1))
    if kind == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(
            0.0, 1.0, max(warmup_steps, 1),
            max(total_steps, warmup_steps + 1))
    return optax.exponential_decay(1.0, max(steps_per_epoch, 1), decay_rate)


def _frozen_scaled(learning_rate, multiplier):
    def schedule(count):
        with jax.numpy_dtype_promotion("standard"):
            m = jnp.asarray(multiplier(count), jnp.float32)
        return learning_rate * m
    return schedule


# --------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------

NAMES = ("sgd", "minibatch_sgd", "momentum", "nesterov", "adam", "adagrad",
         "adadelta", "rmsprop")
STEPS = 50
LR = {"sgd": 0.01, "minibatch_sgd": 0.1, "momentum": 0.01, "nesterov": 0.01,
      "adam": 1e-3, "adagrad": 0.01, "adadelta": 1.0, "rmsprop": 1e-3}


def _tree(key, spread):
    """A small params-like tree; ``spread`` gives leaves magnitudes
    1e-3..1e2."""
    shapes = {"w": (5, 3), "b": (3,), "deep": [(2, 2, 2), ()]}
    leaves, treedef = jax.tree.flatten(shapes, is_leaf=lambda s: isinstance(
        s, tuple))
    keys = jax.random.split(key, 2 * len(leaves))
    out = []
    for i, shape in enumerate(leaves):
        x = jax.random.normal(keys[2 * i], shape)
        if spread:
            x = x * 10.0 ** jax.random.uniform(keys[2 * i + 1], shape,
                                               minval=-3.0, maxval=2.0)
        out.append(x)
    return jax.tree.unflatten(treedef, out)


PARAMS = _tree(jax.random.key(0), spread=False)
GRADS = jax.tree.map(lambda *xs: jnp.stack(xs), *[
    _tree(k, spread=True) for k in jax.random.split(jax.random.key(1), STEPS)])


def _scan_run(tx, params, grads):
    """(params after each step, updates of each step), stacked."""
    def body(carry, g):
        p, s = carry
        u, s = tx.update(g, s, p)
        p = optax.apply_updates(p, u)
        return (p, s), (p, u)
    _, out = jax.lax.scan(body, (params, tx.init(params)), grads)
    return out


def _assert_bitwise(new, old):
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype.kind == "f":
            assert np.isfinite(b).all()
        rows = lambda x: x.reshape(x.size, 1).view(np.uint8)
        diff = np.flatnonzero((rows(a) != rows(b)).any(axis=1))
        assert diff.size == 0, (
            f"{diff.size} of {a.size} values differ, first at "
            f"{diff[0]}: {a.flat[diff[0]]!r} != {b.flat[diff[0]]!r}")


def _new(name, lr):
    return registry.make_optimizer(name, lr, "ours")


@pytest.mark.parametrize("name", NAMES)
def test_python_float_rate_eager_and_jit(name):
    """Eager (op by op) steps and a jitted scan, Python-float learning rate."""
    lr = LR[name]
    grads = [jax.tree.map(lambda x, i=i: x[i], GRADS) for i in range(8)]

    def steps(tx, step):
        p, s, out = PARAMS, tx.init(PARAMS), []
        for g in grads:
            u, s = step(tx, g, s, p)
            p = optax.apply_updates(p, u)
            out.append((p, u))
        return out

    def eager(tx, g, s, p):
        return tx.update(g, s, p)

    _assert_bitwise(steps(_new(name, lr), eager),
                    steps(_frozen_optimizer(name, lr), eager))
    _assert_bitwise(
        jax.jit(lambda: _scan_run(_new(name, lr), PARAMS, GRADS))(),
        jax.jit(lambda: _scan_run(_frozen_optimizer(name, lr), PARAMS,
                                  GRADS))())


@pytest.mark.parametrize("name", NAMES)
def test_traced_rate_jit_and_vmap(name):
    """The sweep's call: ``make_optimizer(name, lr_array)``, jit and vmap."""
    lr = LR[name]
    rates = jnp.asarray([lr, lr / 3, lr * 3], jnp.float32)

    def run(factory):
        return lambda rate: _scan_run(factory(name, rate), PARAMS, GRADS)

    _assert_bitwise(jax.jit(run(_new))(rates[0]),
                    jax.jit(run(_frozen_optimizer))(rates[0]))
    _assert_bitwise(jax.jit(jax.vmap(run(_new)))(rates),
                    jax.jit(jax.vmap(run(_frozen_optimizer)))(rates))


SCHEDULE_CASES = [(name, "warmup_cosine") for name in NAMES] + [
    (name, kind) for name in ("sgd", "adam")
    for kind in ("constant", "cosine", "exponential")]


@pytest.mark.parametrize("name,kind", SCHEDULE_CASES)
def test_traced_rate_under_a_schedule(name, kind):
    """As train.py: ``scaled_schedule(lr_array, schedule_multiplier(...))``."""
    lr = LR[name]
    rates = jnp.asarray([lr, lr * 3], jnp.float32)
    args = {"total_steps": STEPS, "steps_per_epoch": 10, "warmup_steps": 7,
            "decay_rate": 0.8}

    def new(rate):
        sched = schedules.scaled_schedule(
            rate, schedules.schedule_multiplier(kind, **args))
        return _scan_run(_new(name, sched), PARAMS, GRADS)

    def old(rate):
        sched = _frozen_scaled(rate, _frozen_multiplier(kind, **args))
        return _scan_run(_frozen_optimizer(name, sched), PARAMS, GRADS)

    _assert_bitwise(jax.jit(jax.vmap(new))(rates),
                    jax.jit(jax.vmap(old))(rates))


@pytest.mark.parametrize("kind", ["constant", "cosine", "warmup_cosine",
                                  "exponential"])
@pytest.mark.parametrize("total,per_epoch,warmup", [
    (100, 10, 10), (430, 430, 215), (4300, 430, 430), (2, 1, 0),
    (10 * 468, 468, 468)])
def test_schedule_multiplier_bitwise(kind, total, per_epoch, warmup):
    """Every step count of the run (and past its end), eager and jitted."""
    args = {"total_steps": total, "steps_per_epoch": per_epoch,
            "warmup_steps": warmup, "decay_rate": 0.8}
    new = schedules.scaled_schedule(
        jnp.float32(1.0), schedules.schedule_multiplier(kind, **args))
    old = _frozen_scaled(jnp.float32(1.0), _frozen_multiplier(kind, **args))
    counts = jnp.arange(total + 20, dtype=jnp.int32)
    _assert_bitwise(jax.jit(jax.vmap(new))(counts),
                    jax.jit(jax.vmap(old))(counts))
    for c in (0, 1, warmup, total // 2, total - 1, total, total + 5):
        _assert_bitwise(new(jnp.int32(c)), old(jnp.int32(c)))


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_training_run_bitwise(name, tiny_data, monkeypatch):
    """A vmapped 2-member ``make_train`` run (1 epoch), new against frozen.

    Per-sample SGD and Adam under a warm-up cosine schedule: the optimizer
    inside the real training step (fused with the gradient computation).
    The other optimizers' arithmetic is covered by the scans above; each
    run compiles a whole training program, hence only these two.
    """
    data = tiny_data._replace(train_images=tiny_data.train_images[:64],
                              train_labels=tiny_data.train_labels[:64])
    cfg = jm.TrainConfig(optimizer=name, epochs=1, sizes=(784, 8, 10),
                         batch_size=1 if name == "sgd" else 16,
                         schedule="warmup_cosine" if name == "adam"
                         else "constant", warmup_epochs=0.5)
    hp = jm.stack_hparams([jm.make_hparams("tanh", LR[name]),
                           jm.make_hparams("relu", 3 * LR[name])])

    def run():
        return jax.jit(jax.vmap(jm.make_train(cfg), in_axes=(None, 0, None)))(
            jax.random.key(0), hp, data)

    new = run()
    monkeypatch.setattr(train_module, "make_optimizer",
                        lambda n, lr, impl, **kw: _frozen_optimizer(n, lr))
    monkeypatch.setattr(train_module, "scaled_schedule", _frozen_scaled)
    monkeypatch.setattr(train_module, "schedule_multiplier",
                        _frozen_multiplier)
    _assert_bitwise(new, run())
