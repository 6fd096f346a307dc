"""Our optimizers against optax's built-ins, textbook NumPy, jit and vmap.

One table, ``CASES``, drives every test: each registry optimizer with each
of its options. Checks run in float32, bfloat16 and float64 (x64), eagerly,
under jit and under vmap over traced learning rates and hyperparameters.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest

import jaxmnist as jm
from helpers import descend, member_values, scan_run
from jaxmnist import optim
from jaxmnist.optim import make_optimizer
from jaxmnist.optim.registry import option_names

#: the classic optimizers (the newer six: tests/test_optim_modern.py)
CLASSIC = tuple(n for n in jm.OPTIMIZERS if n not in optim.MODERN_OPTIMIZERS)


def decay_weights_not_biases(params):
    return {"b": False, "w": True}


class Case(NamedTuple):
    name: str  # registry name
    options: dict  # besides the learning rate
    lr: float  # learning rate of the equivalence tests

    @property
    def id(self) -> str:
        opts = ",".join(f"{k}={getattr(v, '__name__', v)}"
                        for k, v in self.options.items())
        return f"{self.name}[{opts}]" if opts else self.name


MASK = decay_weights_not_biases
CASES = [
    Case("sgd", {}, 0.1),
    Case("sgd", {"momentum": 0.9}, 0.05),
    Case("sgd", {"momentum": 0.9, "nesterov": True}, 0.05),
    Case("minibatch_sgd", {}, 0.1),
    Case("momentum", {}, 0.05),
    Case("momentum", {"momentum": 0.5}, 0.05),
    Case("nesterov", {}, 0.05),
    Case("nesterov", {"momentum": 0.5}, 0.05),
    Case("adam", {}, 0.01),
    Case("adam", {"b1": 0.8, "b2": 0.99, "eps": 1e-6, "eps_root": 1e-8}, 0.01),
    Case("adam", {"nesterov": True}, 0.01),
    Case("adamw", {}, 0.01),
    Case("adamw", {"weight_decay": 0.1, "mask": MASK}, 0.01),
    Case("adamw", {"b1": 0.8, "b2": 0.99, "eps": 1e-6, "eps_root": 1e-8,
                   "weight_decay": 0.1, "nesterov": True}, 0.01),
    Case("nadam", {}, 0.01),
    Case("nadam", {"b1": 0.8, "b2": 0.99, "eps": 1e-6, "eps_root": 1e-8}, 0.01),
    Case("adagrad", {}, 0.1),
    Case("adagrad", {"initial_accumulator_value": 0.5, "eps": 1e-5}, 0.1),
    Case("adadelta", {}, 1.0),
    Case("adadelta", {"rho": 0.8, "eps": 1e-4, "weight_decay": 0.1}, 1.0),
    Case("adadelta", {"weight_decay": 0.1, "weight_decay_mask": MASK}, 1.0),
    Case("rmsprop", {}, 0.01),
    Case("rmsprop", {"decay": 0.8, "eps": 1e-6, "initial_scale": 0.1}, 0.01),
    Case("rmsprop", {"centered": True}, 0.01),
    Case("rmsprop", {"momentum": 0.9}, 0.01),
    Case("rmsprop", {"momentum": 0.9, "nesterov": True}, 0.01),
    Case("rmsprop", {"eps_in_sqrt": False}, 0.01),
    Case("rmsprop", {"bias_correction": True}, 0.01),
    Case("rmsprop", {"centered": True, "eps_in_sqrt": False}, 0.01),
    # centred and bias-corrected, the variance is 0 at step 1 (optax's
    # formula too), so eps must dominate the rounding of nu - mu^2 (which
    # can be < 0: with eps outside the root, NaN) for a float64 comparison
    Case("rmsprop", {"centered": True, "bias_correction": True, "eps": 0.1},
         0.01),
]
#: the options that set a state's dtype: (case, state field)
DTYPE_CASES = [
    (Case("sgd", {"momentum": 0.9, "accumulator_dtype": "bfloat16"}, 0.05),
     "trace"),
    (Case("momentum", {"accumulator_dtype": "bfloat16"}, 0.05), "trace"),
    (Case("nesterov", {"accumulator_dtype": "bfloat16"}, 0.05), "trace"),
    (Case("adam", {"mu_dtype": "bfloat16"}, 0.01), "mu"),
    (Case("adamw", {"mu_dtype": "bfloat16"}, 0.01), "mu"),
    (Case("nadam", {"mu_dtype": "bfloat16"}, 0.01), "mu"),
]
IDS = [c.id for c in CASES]


# --------------------------------------------------------------------------
# Textbook NumPy steps, written from the papers' equations (not our code)
# --------------------------------------------------------------------------

def np_step(case: Case, store=None):
    """``step(p, g, s, decayed) -> (p, s)`` for one leaf, ``s`` a dict.

    ``store`` rounds the momentum / first moment kept in the state (as a
    bfloat16 ``accumulator_dtype`` or ``mu_dtype`` does); the step itself
    uses the unrounded value.
    """
    o = {"momentum": None, **case.options}
    name = {"minibatch_sgd": "sgd", "momentum": "sgd", "nesterov": "sgd",
            "nadam": "adam", "adamw": "adam"}.get(case.name, case.name)
    if case.name in ("momentum", "nesterov"):
        o["momentum"] = o.get("momentum") or 0.9
        o["nesterov"] = case.name == "nesterov"
    if case.name == "nadam":
        o["nesterov"] = True
    if case.name == "adamw":
        o.setdefault("weight_decay", 1e-4)
    return {"sgd": _np_sgd, "adam": _np_adam, "adagrad": _np_adagrad,
            "adadelta": _np_adadelta, "rmsprop": _np_rmsprop}[name](
                case.lr, o, store or (lambda x: x))


def _np_sgd(lr, o, store):
    beta = o["momentum"]

    def step(p, g, s, decayed):
        if beta is None:
            return p - lr * g, s
        v = g + beta * s.get("v", 0 * g)
        d = g + beta * v if o.get("nesterov") else v
        return p - lr * d, {"v": store(v)}
    return step


def _np_adam(lr, o, store):
    b1, b2 = o.get("b1", 0.9), o.get("b2", 0.999)
    eps, eps_root = o.get("eps", 1e-8), o.get("eps_root", 0.0)
    wd = o.get("weight_decay", 0.0)

    def step(p, g, s, decayed):
        t = s.get("t", 0) + 1
        m = b1 * s.get("m", 0 * g) + (1 - b1) * g
        v = b2 * s.get("v", 0 * g) + (1 - b2) * g * g
        if o.get("nesterov"):
            mhat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1 ** t)
        else:
            mhat = m / (1 - b1 ** t)
        u = mhat / (np.sqrt(v / (1 - b2 ** t) + eps_root) + eps)
        if decayed:
            u = u + wd * p
        return p - lr * u, {"t": t, "m": store(m), "v": v}
    return step


def _np_adagrad(lr, o, store):
    g0, eps = o.get("initial_accumulator_value", 0.1), o.get("eps", 1e-7)

    def step(p, g, s, decayed):
        acc = s.get("acc", 0 * g + g0) + g * g
        return p - lr * g / np.sqrt(acc + eps), {"acc": acc}
    return step


def _np_adadelta(lr, o, store):
    rho, eps = o.get("rho", 0.9), o.get("eps", 1e-6)
    wd = o.get("weight_decay", 0.0)

    def step(p, g, s, decayed):
        if decayed:
            g = g + wd * p
        eg = rho * s.get("eg", 0 * g) + (1 - rho) * g * g
        ex = s.get("ex", 0 * g)
        dx = np.sqrt(ex + eps) / np.sqrt(eg + eps) * g
        return p - lr * dx, {"eg": eg, "ex": rho * ex + (1 - rho) * dx * dx}
    return step


def _np_rmsprop(lr, o, store):
    d, eps = o.get("decay", 0.9), o.get("eps", 1e-8)
    beta = o["momentum"]

    def step(p, g, s, decayed):
        t = s.get("t", 0) + 1
        nu = d * s.get("nu", 0 * g + o.get("initial_scale", 0.0)) \
            + (1 - d) * g * g
        mu = d * s.get("mu", 0 * g) + (1 - d) * g
        c = (1 - d ** t) if o.get("bias_correction") else 1.0
        var = nu / c - (mu / c) ** 2 if o.get("centered") else nu / c
        den = np.sqrt(var + eps) if o.get("eps_in_sqrt", True) \
            else np.sqrt(var) + eps
        u = lr * g / den
        new = {"t": t, "nu": nu, "mu": mu}
        if beta is not None:
            new["v"] = u + beta * s.get("v", 0 * g)
            u = u + beta * new["v"] if o.get("nesterov") else new["v"]
        return p - u, new
    return step


def np_run(case: Case, params: dict, grads: list[dict], store=None
           ) -> list[dict]:
    """Textbook params after each step (NumPy, in the arrays' dtype)."""
    params = jax.tree.map(np.asarray, params)
    grads = [jax.tree.map(np.asarray, g) for g in grads]
    step, mask = np_step(case, store), MASK(params)
    if not {"mask", "weight_decay_mask"} & set(case.options):
        mask = dict.fromkeys(params, True)
    state: dict = {k: {} for k in params}
    p, out = dict(params), []
    for g in grads:
        for k, value in p.items():
            p[k], state[k] = step(value, g[k], state[k], mask[k])
        out.append(dict(p))
    return out


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def tree(key, dtype=jnp.float32):
    kw, kb = jax.random.split(key)
    return {"b": jax.random.normal(kb, (2,)).astype(dtype),
            "w": jax.random.normal(kw, (3, 2)).astype(dtype)}


def grads_seq(n, dtype=jnp.float32, seed=1):
    return [tree(k, dtype) for k in jax.random.split(jax.random.key(seed), n)]


def assert_close(a, b, rtol, atol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x, np.float64),
                                   np.asarray(y, np.float64),
                                   rtol=rtol, atol=atol)


def stacked(trees):
    return jax.tree.map(lambda *xs: np.stack(xs), *trees)


def to_bfloat16(x):
    return x.astype(ml_dtypes.bfloat16).astype(x.dtype)


def per_param_slots(state):
    """(shape, dtype) of every per-parameter leaf of a (chained) state."""
    return [(x.shape, x.dtype) for x in jax.tree.leaves(state) if x.ndim]


# --------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------

def test_the_table_covers_every_optimizer_and_option():
    assert {c.name for c in CASES} == set(CLASSIC)
    factory = {n: optim.get_spec(n).ours for n in CLASSIC}
    for name in CLASSIC:  # sgd and minibatch_sgd share a factory
        used = {k for c in CASES + [c for c, _ in DTYPE_CASES]
                if factory[c.name] is factory[name] for k in c.options}
        assert used == set(option_names(name)), name
        assert set(optim.get_spec(name).vmappable) <= used


# --------------------------------------------------------------------------
# float32: ours = optax = textbook; eager = jit
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_ours_equals_optax_and_textbook(case):
    params, grads = tree(jax.random.key(0)), grads_seq(30)
    run = jax.jit(lambda tx_impl: scan_run(
        make_optimizer(case.name, case.lr, tx_impl, **case.options),
        params, grads), static_argnums=0)
    ours, state = run("ours")
    theirs, _ = run("optax")
    assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    want = stacked(np_run(case, params, grads))
    assert_close(ours, want, rtol=2e-5, atol=2e-6)
    # state slots have the params' shapes and dtypes
    slots = set(per_param_slots(state))
    assert slots <= {(x.shape, x.dtype) for x in jax.tree.leaves(params)}
    # eager (op by op) equals jit for the first steps
    tx = make_optimizer(case.name, case.lr, "ours", **case.options)
    p, s = params, tx.init(params)
    for i, g in enumerate(grads[:3]):
        u, s = tx.update(g, s, p)
        p = optax.apply_updates(p, u)
        assert_close(p, jax.tree.map(lambda x, i=i: x[i], ours), 1e-6, 1e-7)


# --------------------------------------------------------------------------
# float64 (x64): ours = optax = textbook to float64 precision
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float64_ours_equals_optax_and_textbook(case):
    with jax.enable_x64(True):
        params = tree(jax.random.key(0), jnp.float64)
        grads = grads_seq(30, jnp.float64)
        ours, state = jax.jit(lambda: scan_run(make_optimizer(
            case.name, case.lr, "ours", **case.options), params, grads))()
        theirs, _ = jax.jit(lambda: scan_run(make_optimizer(
            case.name, case.lr, "optax", **case.options), params, grads))()
        assert {d for _, d in per_param_slots(state)} <= {
            jnp.dtype(jnp.float64)}
        assert ours["w"].dtype == jnp.float64
        assert_close(ours, theirs, rtol=1e-13, atol=1e-14)
        want = stacked(np_run(case, params, grads))
        assert_close(ours, want, rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------
# bfloat16, and the dtype options
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bfloat16_keeps_dtypes_and_tracks_optax(case):
    params = tree(jax.random.key(0), jnp.bfloat16)
    grads = grads_seq(10, jnp.bfloat16)
    tx = make_optimizer(case.name, case.lr, "ours", **case.options)
    ours, state = jax.jit(lambda: scan_run(tx, params, grads))()
    theirs, _ = jax.jit(lambda: scan_run(make_optimizer(
        case.name, case.lr, "optax", **case.options), params, grads))()
    assert {d for _, d in per_param_slots(state)} <= {
        jnp.dtype(jnp.bfloat16)}
    u, _ = tx.update(grads[0], tx.init(params), params)
    assert {x.dtype for x in jax.tree.leaves(u)} == {jnp.dtype(jnp.bfloat16)}
    assert_close(ours, theirs, rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_gradients_on_bfloat16_params(case):
    """States keep their init dtype (optax keeps it for Adam's nu, not mu
    or the momentum trace); updates have the gradients' dtype."""
    params = tree(jax.random.key(0), jnp.bfloat16)
    tx = make_optimizer(case.name, case.lr, "ours", **case.options)
    state = tx.init(params)
    u, new_state = jax.jit(tx.update)(tree(jax.random.key(1)), state, params)
    assert {x.dtype for x in jax.tree.leaves(u)} == {jnp.dtype(jnp.float32)}
    assert jax.tree.map(lambda x: x.dtype, new_state) == \
        jax.tree.map(lambda x: x.dtype, state)


def test_traced_float32_rate_on_bfloat16_updates():
    """Our updates keep the bfloat16 dtype, rounded once from the float32
    product; optax's come out float32 (which apply_updates under strict
    promotion rejects: bfloat16 + float32)."""
    params = {"w": jnp.asarray([1.0, -2.0, 3.0], jnp.bfloat16)}
    grads = {"w": jnp.asarray([0.3, 0.7, -1.1], jnp.bfloat16)}
    rates = jnp.asarray([0.1, 0.01], jnp.float32)

    def update(impl):
        def one(rate):
            tx = make_optimizer("sgd", rate, impl)
            return tx.update(grads, tx.init(params), params)[0]["w"]
        return jax.jit(jax.vmap(one))(rates)

    ours, theirs = update("ours"), update("optax")
    assert ours.dtype == jnp.bfloat16 and theirs.dtype == jnp.float32
    want = -rates[:, None] * grads["w"].astype(jnp.float32)[None]
    np.testing.assert_array_equal(ours, want.astype(jnp.bfloat16))
    np.testing.assert_array_equal(theirs, want)


@pytest.mark.parametrize("case,field", DTYPE_CASES,
                         ids=[c.id for c, _ in DTYPE_CASES])
def test_state_dtype_options(case, field):
    """A bfloat16 momentum / first moment on float32 params: stored rounded,
    the step computed in float32 from the unrounded value. optax rounds
    ``beta * v`` to bfloat16 before adding the float32 gradient (standard
    promotion, op by op), hence the loose comparison with it."""
    params, grads = tree(jax.random.key(0)), grads_seq(10)
    run = jax.jit(lambda impl: scan_run(make_optimizer(
        case.name, case.lr, impl, **case.options), params, grads),
        static_argnums=0)
    (ours, state), (theirs, their_state) = run("ours"), run("optax")
    assert {x.dtype for x in jax.tree.leaves(optax.tree.get(state, field))} \
        == {jnp.dtype(jnp.bfloat16)}
    assert jax.tree.map(lambda x: x.dtype,
                        optax.tree.get(their_state, field)) == \
        jax.tree.map(lambda x: x.dtype, optax.tree.get(state, field))
    want = stacked(np_run(case, params, grads, store=to_bfloat16))
    assert_close(ours, want, rtol=2e-5, atol=2e-6)
    assert_close(ours, theirs, rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("name", CLASSIC)
def test_traced_hyperparameters_ours_equals_optax(name):
    case = next(c for c in CASES if c.name == name)
    spec = optim.get_spec(name)
    params, grads = tree(jax.random.key(2)), grads_seq(10, seed=3)
    hp = {k: jnp.asarray(member_values(k, d)[1], jnp.float32)
          for k, d in spec.vmappable.items()}
    out = [jax.jit(lambda lr, hp, impl=impl: scan_run(make_optimizer(
        name, lr, impl, **hp), params, grads)[0])(jnp.float32(case.lr), hp)
        for impl in ("ours", "optax")]
    assert_close(out[0], out[1], rtol=1e-5, atol=1e-6)


def test_a_constant_rate_has_no_count_a_schedule_has_one():
    p = jnp.zeros(3)
    assert optim.sgd(0.1).init(p) == optax.EmptyState()
    assert optim.sgd(jnp.float32(0.1)).init(p) == optax.EmptyState()
    state = optim.sgd(lambda count: 0.1).init(p)
    assert int(state.count) == 0


# --------------------------------------------------------------------------
# Convergence to the optimum, as optax's alias_test: its problems, its
# learning rates (sgd's 1e-3 for the SGD family), 10 000 steps, 3e-2
# --------------------------------------------------------------------------

ALIAS_TEST_LR = {"sgd": 1e-3, "minibatch_sgd": 1e-3, "momentum": 1e-3,
                 "nesterov": 1e-3, "adam": 1e-1, "adamw": 1e-1,
                 "nadam": 1e-2, "adagrad": 1.0, "adadelta": 0.1,
                 "rmsprop": 5e-3}


def parabola(p):
    return jnp.sum(jnp.square(p - jnp.asarray([1.0, -1.0, 1.0])))


def rosenbrock(p):
    return jnp.square(1.0 - p[0]) + 100.0 * jnp.square(p[1] - p[0] ** 2)


PROBLEMS = {"parabola": (parabola, [-1.0, 10.0, 1.0], [1.0, -1.0, 1.0]),
            "rosenbrock": (rosenbrock, [0.0, 0.0], [1.0, 1.0])}


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("name", CLASSIC)
def test_converges_to_the_optimum(name, problem):
    fn, start, optimum = PROBLEMS[problem]
    tx = make_optimizer(name, ALIAS_TEST_LR[name])

    p, _ = jax.jit(lambda p: descend(tx, fn, p, 10_000))(
        jnp.asarray(start, jnp.float32))
    assert p.dtype == jnp.float32
    np.testing.assert_allclose(p, optimum, rtol=3e-2, atol=3e-2)


# --------------------------------------------------------------------------
# Real gradients, schedules, the training loop
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", CLASSIC)
def test_ours_equals_optax_on_mlp_gradients(name, tiny_data):
    lr = next(c for c in CASES if c.name == name).lr / 10
    params = jm.init_mlp(jax.random.key(0), (784, 16, 10))
    x, y = tiny_data.train_images[:64], tiny_data.train_labels[:64]

    def run(impl):
        tx = make_optimizer(name, lr, impl)

        def body(carry, _):
            p, s = carry
            u, s = tx.update(jax.grad(lambda p: jm.loss(p, 0, x, y))(p), s, p)
            p = optax.apply_updates(p, u)
            return (p, s), p
        return jax.lax.scan(body, (params, tx.init(params)), None,
                            length=50)[1]

    ours, theirs = jax.jit(lambda: run("ours"))(), jax.jit(
        lambda: run("optax"))()
    assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_schedule_learning_rate():
    sched = optax.linear_schedule(1.0, 0.0, 4)
    tx = optim.sgd(sched)
    s = tx.init(jnp.zeros(()))
    steps = []
    for _ in range(4):
        u, s = tx.update(jnp.ones(()), s)
        steps.append(float(u))
    assert steps == [-1.0, -0.75, -0.5, -0.25]


def test_adadelta_default_learning_rate_descends():
    tx = optim.adadelta()  # None means the paper's 1.0, with the sign flip
    u, _ = tx.update(jnp.ones(()), tx.init(jnp.zeros(())), jnp.zeros(()))
    assert float(u) < 0


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("name", CLASSIC)
def test_end_to_end_both_implementations_agree(name, tiny_data):
    data = tiny_data._replace(train_images=tiny_data.train_images[:64],
                              train_labels=tiny_data.train_labels[:64])
    spec = optim.get_spec(name)
    finals = []
    for impl in ("ours", "optax"):
        cfg = jm.TrainConfig(optimizer=name, epochs=1, implementation=impl,
                             sizes=(784, 8, 10), activations=("tanh",),
                             batch_size=spec.batch_size if name == "sgd"
                             else 16)
        res = jax.jit(jm.make_train(cfg))(
            jax.random.key(0), jm.make_hparams("tanh", spec.learning_rate),
            data)
        finals.append(res)
    for u, v in zip(jax.tree.leaves(finals[0]), jax.tree.leaves(finals[1])):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("schedule", ["constant", "cosine", "warmup_cosine",
                                      "exponential"])
def test_schedules_agree_across_implementations(schedule, tiny_data):
    data = tiny_data._replace(train_images=tiny_data.train_images[:64],
                              train_labels=tiny_data.train_labels[:64])
    out = []
    for impl in ("ours", "optax"):
        cfg = jm.TrainConfig(optimizer="adam", epochs=2, batch_size=16,
                             sizes=(784, 8, 10), implementation=impl,
                             schedule=schedule, warmup_epochs=0.5,
                             activations=("relu",))
        out.append(jax.jit(jm.make_train(cfg))(
            jax.random.key(0), jm.make_hparams("relu", 1e-2), data).params)
    for u, v in zip(jax.tree.leaves(out[0]), jax.tree.leaves(out[1])):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)


def test_schedule_shapes():
    f = optim.schedule_multiplier("warmup_cosine", total_steps=100,
                                  steps_per_epoch=10, warmup_steps=10)
    assert float(f(0)) == 0.0 and float(f(10)) == pytest.approx(1.0)
    assert float(f(100)) == pytest.approx(0.0, abs=1e-6)
    g = optim.schedule_multiplier("exponential", 100, 10, decay_rate=0.5)
    assert float(g(20)) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        optim.schedule_multiplier("linear", 1, 1)
