"""The bench's baselines: what the sweep's groups are measured against.

* :func:`numpy_sgd_loop`: per-sample SGD (batch 1) of the 784-128-64-10 MLP
  as a student writes it from scratch in NumPy (NumPy's default float64, one
  ``np.outer`` per layer and step), timed on a few thousand samples and
  scaled to seconds per model-epoch.
* :func:`reference_epochs`: about 60 lines of plain JAX training ``k`` Adam
  members at once: ``lax.scan`` over epochs and batches, one shared
  permutation per epoch, ``lax.switch`` over the activations, ``jax.vmap``
  of ``jax.grad`` and ``optax.inject_hyperparams(optax.adam)``; no
  evaluation, no divergence guard, no per-step metrics.
* :func:`python_loop_rate`: a jitted step and a Python loop over host
  batches, as a Flax/optax example user writes.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

import jaxmnist as jm

ACTS = ("relu", "sigmoid", "tanh", "leaky_relu")
_PLAIN = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh,
          "leaky_relu": lambda x: jnp.where(x >= 0, x, 0.01 * x)}


def timed(fn, reps: int) -> tuple[float, float]:
    """(first call's seconds, median of ``reps`` more), results awaited."""
    t = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return first, statistics.median(times)


def paired(fns: dict, reps: int) -> dict:
    """Time several callables side by side: each is called once (compile,
    warm-up), then ``reps`` rounds call each in turn, so that a busy
    machine slows them alike. ``{name: (first call's seconds, median
    seconds)}``, and under ``"ratios"`` the median over rounds of each
    one's time over the first one's."""
    first = {}
    for name, fn in fns.items():
        t = time.perf_counter()
        jax.block_until_ready(fn())
        first[name] = time.perf_counter() - t
    times: dict = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - t)
    base = next(iter(fns))
    out: dict = {n: (first[n], statistics.median(times[n])) for n in fns}
    out["ratios"] = {n: statistics.median(
        a / b for a, b in zip(times[n], times[base])) for n in fns}
    return out


def numpy_sgd_loop(data, samples: int = 3000, lr: float = 0.01):
    """A callable running per-sample SGD (relu, softmax cross-entropy) on
    the first ``samples`` training images, as a from-scratch NumPy loop."""
    rng = np.random.default_rng(0)
    sizes = (784, 128, 64, 10)
    ws = [rng.normal(0, np.sqrt(2 / a), (a, b))
          for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b) for b in sizes[1:]]
    x_all = np.asarray(data.train_images[:samples]) / 255.0
    y_all = np.asarray(data.train_labels[:samples])

    def loop():
        for x, y in zip(x_all, y_all):
            h1 = np.maximum(x @ ws[0] + bs[0], 0)
            h2 = np.maximum(h1 @ ws[1] + bs[1], 0)
            z = h2 @ ws[2] + bs[2]
            p = np.exp(z - z.max())
            d3 = p / p.sum()
            d3[y] -= 1
            d2 = (ws[2] @ d3) * (h2 > 0)
            d1 = (ws[1] @ d2) * (h1 > 0)
            for w, b, a, d in zip(ws, bs, (x, h1, h2), (d1, d2, d3)):
                w -= lr * np.outer(a, d)
                b -= lr * d

    return loop


def reference_program(k: int, batch: int = 128, acts=ACTS):
    """``(init(key, lrs), train(params, opt_state, acts, data, key,
    epochs))``: the plain-JAX trainer of ``k`` vmapped members."""
    fns = [_PLAIN[a] for a in acts]
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)

    def logits(params, act, x):
        for layer in params[:-1]:
            x = lax.switch(act, fns, x @ layer["w"] + layer["b"])
        return x @ params[-1]["w"] + params[-1]["b"]

    def loss(params, act, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(
            logits(params, act, x), y).mean()

    grad = jax.vmap(jax.grad(loss), in_axes=(0, 0, None, None))

    def init(key, lrs):
        params = jax.vmap(lambda k_: jm.init_mlp(k_))(jax.random.split(key, k))
        opt_state = jax.vmap(lambda p, lr: optax.inject_hyperparams(
            optax.adam)(learning_rate=lr).init(p))(params, lrs)
        return params, opt_state

    def train(params, opt_state, act, data, key, epochs: int):
        n = data.train_images.shape[0]
        steps = n // batch

        def step(carry, idx):
            params, opt_state = carry
            x = data.train_images[idx].astype(jnp.float32) / 255.0
            g = grad(params, act, x, data.train_labels[idx])
            updates, opt_state = jax.vmap(tx.update)(g, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        def epoch(carry, ekey):
            perm = jax.random.permutation(ekey, n)[:steps * batch]
            return lax.scan(step, carry, perm.reshape(steps, batch))[0], None

        return lax.scan(epoch, (params, opt_state),
                        jax.random.split(key, epochs))[0]

    return jax.jit(init), jax.jit(train, static_argnums=5,
                                  donate_argnums=(0, 1))


def reference_epochs(data, k: int, epochs: int = 1):
    """A callable training :func:`reference_program`'s ``k`` members for
    ``epochs`` more epochs."""
    init, train = reference_program(k)
    act = jnp.asarray([i % len(ACTS) for i in range(k)], jnp.int32)
    lrs = jnp.asarray([1e-3 * (1 + i // 4) for i in range(k)], jnp.float32)
    state = list(init(jax.random.key(0), lrs))
    key = jax.random.key(1)

    def more():
        state[:] = train(*state, act, data, key, epochs)
        return state

    return more


def python_loop_rate(data, reps: int, batch: int = 128) -> dict:
    """A jitted train step and a Python loop feeding host batches, one
    model, then a jitted evaluation on the validation and test splits."""
    tx = optax.adam(1e-3)
    params = jm.init_mlp(jax.random.key(0))
    opt_state = tx.init(params)
    x_host = np.asarray(data.train_images)
    y_host = np.asarray(data.train_labels)

    @jax.jit
    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(jm.loss)(params, 0, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def evaluate(params, x, y):
        return jm.loss(params, 0, x, y), jm.accuracy(params, 0, x, y)

    rng = np.random.default_rng(0)
    state = [params, opt_state]

    def one_epoch():
        perm = rng.permutation(len(y_host))
        for i in range(len(y_host) // batch):
            idx = perm[i * batch:(i + 1) * batch]
            state[0], state[1], loss = step(state[0], state[1], x_host[idx],
                                            y_host[idx])
        return (loss, evaluate(state[0], data.val_images, data.val_labels),
                evaluate(state[0], data.test_images, data.test_labels))

    first, t = timed(one_epoch, reps)
    return {"members": 1, "epoch_s": t, "compile_s": first - t,
            "model_epochs_per_s": 1 / t}
