"""Our optimizers against optax's built-ins, textbook NumPy loops, vmap, jit.

Every test is driven from the one table ``OPTIMIZERS``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmnist as jm
from jaxmnist import optim
from jaxmnist.optim import make_optimizer

# name -> (learning rate for the tests, textbook NumPy step factory)
# Each textbook step is written from the papers' equations, not from our code.


def np_sgd(lr):
    def step(p, g, s):
        return p - lr * g, s
    return step, None


def np_momentum(lr, beta=0.9, nesterov=False):
    def step(p, g, v):
        v = beta * v + g
        d = g + beta * v if nesterov else v
        return p - lr * d, v
    return step, "zeros"


def np_adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    def step(p, g, s):
        m, v, t = s
        t += 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        return p - lr * mhat / (np.sqrt(vhat) + eps), (m, v, t)
    return step, "adam"


def np_adagrad(lr, g0=0.1, eps=1e-7):
    def step(p, g, acc):
        acc = acc + g * g
        return p - lr * g / np.sqrt(acc + eps), acc
    return step, ("full", g0)


def np_adadelta(lr, rho=0.9, eps=1e-6):
    def step(p, g, s):
        eg, ex = s
        eg = rho * eg + (1 - rho) * g * g
        dx = np.sqrt(ex + eps) / np.sqrt(eg + eps) * g
        ex = rho * ex + (1 - rho) * dx * dx
        return p - lr * dx, (eg, ex)
    return step, "pair"


def np_rmsprop(lr, decay=0.9, eps=1e-8):
    def step(p, g, nu):
        nu = decay * nu + (1 - decay) * g * g
        return p - lr * g / np.sqrt(nu + eps), nu
    return step, "zeros"


OPTIMIZERS = [
    ("sgd", 0.1, np_sgd),
    ("momentum", 0.05, np_momentum),
    ("nesterov", 0.05, lambda lr: np_momentum(lr, nesterov=True)),
    ("adam", 0.01, np_adam),
    ("adagrad", 0.1, np_adagrad),
    ("adadelta", 1.0, np_adadelta),
    ("rmsprop", 0.01, np_rmsprop),
]
NAMES = [o[0] for o in OPTIMIZERS]
IDS = dict(ids=NAMES)


def random_tree(key):
    k = jax.random.split(key, 4)
    return {"w": jax.random.normal(k[0], (5, 3)),
            "b": jax.random.normal(k[1], (3,)),
            "deep": [jax.random.normal(k[2], (2, 2, 2)),
                     jax.random.normal(k[3], ())]}


def run_steps(tx, params, grads_seq):
    """Apply tx to a list of gradient pytrees, recording params each step."""
    @jax.jit
    def step(params, state, g):
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    state, out = tx.init(params), []
    for g in grads_seq:
        params, state = step(params, state, g)
        out.append(params)
    return out, state


def test_the_table_covers_every_optimizer():
    assert sorted(NAMES) == sorted(set(jm.OPTIMIZERS) - {"minibatch_sgd"})


@pytest.mark.parametrize("name,lr,_", OPTIMIZERS, **IDS)
def test_ours_equals_optax_on_random_gradients(name, lr, _):
    params = random_tree(jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), 100)
    grads = [random_tree(k) for k in keys]
    ours, our_state = run_steps(make_optimizer(name, lr, "ours"), params, grads)
    theirs, _s = run_steps(make_optimizer(name, lr, "optax"), params, grads)
    for a, b in zip(ours, theirs):  # every one of the 100 steps
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    # every per-parameter slot of our state has the params' shapes and dtypes
    p_leaves = jax.tree.leaves(params)
    for field in our_state_fields(our_state):
        assert [(l.shape, l.dtype) for l in jax.tree.leaves(field)] == \
               [(l.shape, l.dtype) for l in p_leaves]


def our_state_fields(state):
    """The per-parameter trees inside a (possibly chained) optimizer state."""
    states = state if isinstance(state, tuple) and not hasattr(
        state, "_fields") else (state,)
    out = []
    for s in states:
        for name, value in s._asdict().items():
            if name != "count":
                out.append(value)
    return out


@pytest.mark.parametrize("name,lr,_", OPTIMIZERS, **IDS)
def test_ours_equals_optax_on_mlp_gradients(name, lr, _, tiny_data):
    lr = lr / 10  # real networks want smaller steps than random quadratics
    params = jm.init_mlp(jax.random.key(0), (784, 16, 10))
    x, y = tiny_data.train_images[:64], tiny_data.train_labels[:64]
    grad_fn = jax.jit(jax.grad(lambda p: jm.loss(p, 0, x, y)))

    def run(impl):
        tx = make_optimizer(name, lr, impl)
        p, s, out = params, tx.init(params), []
        step = jax.jit(tx.update)
        for _ in range(50):
            u, s = step(grad_fn(p), s, p)
            p = optax.apply_updates(p, u)
            out.append(p)
        return out

    for a, b in zip(run("ours"), run("optax")):
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,lr,textbook", OPTIMIZERS, **IDS)
def test_ours_equals_textbook_numpy(name, lr, textbook):
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) for _ in range(20)]
    step, init = textbook(lr)
    state = {None: None, "zeros": np.zeros_like(p0),
             "adam": (np.zeros_like(p0), np.zeros_like(p0), 0),
             "pair": (np.zeros_like(p0), np.zeros_like(p0))}.get(init) \
        if not isinstance(init, tuple) else np.full_like(p0, init[1])
    expected, p = [], p0
    for g in grads:
        p, state = step(p, g, state)
        expected.append(p)
    ours, _ = run_steps(make_optimizer(name, lr, "ours"),
                        jnp.asarray(p0, jnp.float32),
                        [jnp.asarray(g, jnp.float32) for g in grads])
    for got, want in zip(ours, expected):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name,lr,_", OPTIMIZERS, **IDS)
@pytest.mark.parametrize("impl", ["ours", "optax"])
def test_vmap_over_learning_rates_equals_solo(name, lr, _, impl):
    params = random_tree(jax.random.key(2))
    grads = [random_tree(k) for k in jax.random.split(jax.random.key(3), 10)]
    traces = []

    def run(rate):
        traces.append(1)
        tx = make_optimizer(name, rate, impl)
        p, s = params, tx.init(params)
        for g in grads:
            u, s = tx.update(g, s, p)
            p = optax.apply_updates(p, u)
        return p

    batched = jax.jit(jax.vmap(run))
    rates = jnp.asarray([lr, lr / 3, lr * 2], jnp.float32)
    out = batched(rates)
    batched(rates * 0.5)  # new values: no second trace
    assert len(traces) == 1
    for i, rate in enumerate([lr, lr / 3, lr * 2]):
        solo = jax.jit(lambda: run(rate))()
        for u, v in zip(jax.tree.leaves(out), jax.tree.leaves(solo)):
            np.testing.assert_allclose(u[i], v, rtol=1e-5, atol=1e-6)


def rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 5 * (y - x * x) ** 2


def quadratic(p):
    return jnp.sum(jnp.asarray([1.0, 10.0], jnp.float32) * p ** 2)


@pytest.mark.parametrize("name,lr,_", OPTIMIZERS, **IDS)
@pytest.mark.parametrize("fn", [quadratic, rosenbrock], ids=["quad", "rosen"])
def test_decreases_objective_under_jit(name, lr, _, fn):
    # plain and momentum SGD see the raw curvature (up to ~60 on Rosenbrock)
    # and need smaller steps; the adaptive methods normalise it away
    rate = lr / 10 if name in ("sgd", "momentum", "nesterov") else lr
    tx = make_optimizer(name, rate, "ours")
    p0 = jnp.asarray([-1.0, 1.5], jnp.float32)

    @jax.jit
    def run(p):
        def body(carry, _):
            p, s = carry
            u, s = tx.update(jax.grad(fn)(p), s, p)
            return (optax.apply_updates(p, u), s), None
        (p, _s), _ = jax.lax.scan(body, (p, tx.init(p)), None, length=1000)
        return p

    p = run(p0)
    assert p.dtype == jnp.float32
    assert float(fn(p)) < 0.5 * float(fn(p0))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_dtype_is_preserved(dtype):
    params = {"w": jnp.ones((3,), dtype)}
    for name in NAMES:
        tx = make_optimizer(name, 0.1, "ours")
        u, _ = tx.update({"w": jnp.full((3,), 0.5, dtype)}, tx.init(params),
                         params)
        assert u["w"].dtype == dtype, name


def test_schedule_learning_rate():
    sched = optax.linear_schedule(1.0, 0.0, 4)
    tx = optim.sgd(sched)
    p, s = jnp.zeros(()), tx.init(jnp.zeros(()))
    steps = []
    for _ in range(4):
        u, s = tx.update(jnp.ones(()), s)
        steps.append(float(u))
    assert steps == [-1.0, -0.75, -0.5, -0.25]
    del p


def test_adadelta_default_learning_rate_descends():
    tx = optim.adadelta()  # None means the paper's 1.0, with the sign flip
    u, _ = tx.update(jnp.ones(()), tx.init(jnp.zeros(())))
    assert float(u) < 0


@pytest.mark.parametrize("name", jm.OPTIMIZERS)
def test_end_to_end_both_implementations_agree(name, tiny_data):
    data = tiny_data._replace(train_images=tiny_data.train_images[:64],
                              train_labels=tiny_data.train_labels[:64])
    spec = optim.get_spec(name)
    finals = []
    for impl in ("ours", "optax"):
        cfg = jm.TrainConfig(optimizer=name, epochs=1, implementation=impl,
                             sizes=(784, 8, 10),
                             batch_size=spec.batch_size if name == "sgd" else 16)
        res = jax.jit(jm.make_train(cfg))(
            jax.random.key(0), jm.make_hparams("tanh", spec.learning_rate), data)
        finals.append(res)
    for u, v in zip(jax.tree.leaves(finals[0]), jax.tree.leaves(finals[1])):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("schedule", ["constant", "cosine", "warmup_cosine",
                                      "exponential"])
def test_schedules_agree_across_implementations(schedule, tiny_data):
    data = tiny_data._replace(train_images=tiny_data.train_images[:64],
                              train_labels=tiny_data.train_labels[:64])
    out = []
    for impl in ("ours", "optax"):
        cfg = jm.TrainConfig(optimizer="adam", epochs=2, batch_size=16,
                             sizes=(784, 8, 10), implementation=impl,
                             schedule=schedule, warmup_epochs=0.5)
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
