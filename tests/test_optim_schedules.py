"""Our schedules against optax 0.2.8's: bitwise in float32, and float64.

Each schedule is evaluated at every step count of a run and past its end,
eagerly (one count at a time) and jitted over all counts; in float32 the
values must be bitwise optax's (same operations, same order). In float64
(x64) ours are the formulas to float64 precision; optax's are partly
float32 there (see test_float64_under_x64).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxmnist import optim
from jaxmnist.optim import schedules as S

#: (ours, optax's, keyword arguments, last step count of interest)
SCHEDULES = [
    ("constant", S.constant_schedule, optax.constant_schedule,
     {"value": 0.3}, 10),
    ("linear", S.linear_schedule, optax.linear_schedule,
     {"init_value": 0.0, "end_value": 1.0, "transition_steps": 468}, 500),
    ("linear_begin", S.linear_schedule, optax.linear_schedule,
     {"init_value": 2.0, "end_value": 0.5, "transition_steps": 100,
      "transition_begin": 30}, 150),
    ("cosine", S.cosine_decay_schedule, optax.cosine_decay_schedule,
     {"init_value": 1.0, "decay_steps": 4680}, 4700),
    ("cosine_alpha", S.cosine_decay_schedule, optax.cosine_decay_schedule,
     {"init_value": 0.1, "decay_steps": 1000, "alpha": 0.1,
      "exponent": 2.0}, 1010),
    ("warmup_cosine", S.warmup_cosine_decay_schedule,
     optax.warmup_cosine_decay_schedule,
     {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 468,
      "decay_steps": 4680}, 4700),
    ("warmup_cosine_end", S.warmup_cosine_decay_schedule,
     optax.warmup_cosine_decay_schedule,
     {"init_value": 0.01, "peak_value": 0.5, "warmup_steps": 10,
      "decay_steps": 300, "end_value": 0.05}, 310),
    ("exponential", S.exponential_decay, optax.exponential_decay,
     {"init_value": 1.0, "transition_steps": 468, "decay_rate": 0.8}, 4700),
    ("exponential_stair", S.exponential_decay, optax.exponential_decay,
     {"init_value": 0.5, "transition_steps": 50, "decay_rate": 0.5,
      "transition_begin": 20, "staircase": True, "end_value": 0.01}, 600),
]
IDS = [s[0] for s in SCHEDULES]


def _bits(x):
    x = np.asarray(x, np.float32)
    return x.view(np.uint32)


@pytest.mark.parametrize("_,ours,theirs,kwargs,last", SCHEDULES, ids=IDS)
def test_float32_bitwise_equal_to_optax(_, ours, theirs, kwargs, last):
    mine, ref = ours(**kwargs), theirs(**kwargs)
    counts = jnp.arange(last + 1, dtype=jnp.int32)
    got = jax.jit(jax.vmap(mine))(counts)
    with jax.numpy_dtype_promotion("standard"):  # optax mixes int and float
        want = jax.jit(jax.vmap(lambda c: jnp.asarray(ref(c), jnp.float32)
                                ))(counts)
        eager_want = [jnp.asarray(ref(jnp.int32(c)), jnp.float32)
                      for c in (0, 1, last // 3, last)]
    assert got.dtype == jnp.float32
    np.testing.assert_array_equal(_bits(got), _bits(want))
    eager = [mine(jnp.int32(c)) for c in (0, 1, last // 3, last)]
    np.testing.assert_array_equal(_bits(eager), _bits(eager_want))


def np_schedule(ours, kw, c):
    """The schedules' formulas in float64 NumPy."""
    if ours is S.constant_schedule:
        return np.full(c.shape, kw["value"])
    if ours is S.linear_schedule:
        t = np.clip(c - kw.get("transition_begin", 0), 0,
                    kw["transition_steps"])
        return (kw["init_value"] - kw["end_value"]) * (
            1 - t / kw["transition_steps"]) + kw["end_value"]
    if ours is S.cosine_decay_schedule:
        t = np.minimum(c, kw["decay_steps"])
        cos = 0.5 * (1 + np.cos(np.pi * t / kw["decay_steps"]))
        alpha = kw.get("alpha", 0.0)
        return kw["init_value"] * ((1 - alpha) * cos ** kw.get(
            "exponent", 1.0) + alpha)
    if ours is S.warmup_cosine_decay_schedule:
        w, peak, end = kw["warmup_steps"], kw["peak_value"], kw.get(
            "end_value", 0.0)
        warm = np_schedule(S.linear_schedule, {
            "init_value": kw["init_value"], "end_value": peak,
            "transition_steps": w}, c)
        cos = np_schedule(S.cosine_decay_schedule, {
            "init_value": peak, "decay_steps": kw["decay_steps"] - w,
            "alpha": end / peak}, c - w)
        return np.where(c < w, warm, cos)
    d = c - kw.get("transition_begin", 0)
    p = d / kw["transition_steps"]
    if kw.get("staircase"):
        p = np.floor(p)
    rate = kw["decay_rate"]
    out = np.where(d <= 0, kw["init_value"], kw["init_value"] * rate ** p)
    if kw.get("end_value") is not None:
        out = (np.maximum if rate < 1 else np.minimum)(out, kw["end_value"])
    return out


@pytest.mark.parametrize("_,ours,theirs,kwargs,last", SCHEDULES, ids=IDS)
def test_float64_under_x64(_, ours, theirs, kwargs, last):
    """In float64 our schedules are the formulas to float64 precision.

    optax's differ: under x64 its cosine computes in float64, but its linear
    (so the warm-up) and exponential schedules divide int32 counts, which
    promote to float32 — they agree with ours to float32 precision only.
    """
    with jax.enable_x64(True):
        counts = jnp.arange(last + 1, dtype=jnp.int32)
        got = jax.jit(jax.vmap(ours(**kwargs)))(counts)
        with jax.numpy_dtype_promotion("standard"):
            optax_x64 = jax.jit(jax.vmap(lambda c: jnp.asarray(
                theirs(**kwargs)(c), jnp.float64)))(counts)
        # asked for float32 under x64: float32 arithmetic, as a float32 run
        f32 = jax.jit(jax.vmap(lambda c: ours(**kwargs)(c, jnp.float32)))(
            counts)
    assert got.dtype == jnp.float64 and f32.dtype == jnp.float32
    want = np_schedule(ours, kwargs, np.arange(last + 1, dtype=np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(got, optax_x64, rtol=2e-6, atol=1e-7)
    np.testing.assert_array_equal(
        _bits(f32), _bits(jax.jit(jax.vmap(ours(**kwargs)))(counts)))


def test_float64_params_get_a_float64_schedule():
    """scale_by_learning_rate evaluates our schedule in the params' dtype."""
    sched = S.scaled_schedule(0.1, S.schedule_multiplier(
        "cosine", total_steps=1000, steps_per_epoch=100))
    with jax.enable_x64(True):
        tx = optim.sgd(sched)
        p = jnp.zeros((), jnp.float64)
        state, steps = tx.init(p), []
        for _ in range(5):
            u, state = tx.update(jnp.ones((), jnp.float64), state)
            steps.append(float(u))
    want = [-0.1 * 0.5 * (1 + np.cos(np.pi * t / 1000)) for t in range(5)]
    np.testing.assert_allclose(steps, want, rtol=1e-15)


def test_warmup_cosine_multiplier_with_one_step_runs():
    """total_steps=1, no warm-up: v0 asked optax for a 0-step cosine (an
    error); now the warm-up takes that step and the cosine one more."""
    f = optim.schedule_multiplier("warmup_cosine", total_steps=1,
                                  steps_per_epoch=1, warmup_steps=0)
    assert [float(f(c)) for c in range(3)] == [0.0, 1.0, 0.0]


def test_schedules_accept_python_ints_and_traced_counts():
    f = S.cosine_decay_schedule(1.0, 10)
    assert float(f(5)) == pytest.approx(0.5)
    assert jax.jit(f)(jnp.int32(5)) == f(jnp.int32(5))
