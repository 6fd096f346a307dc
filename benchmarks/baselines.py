"""Two of the peers the sweep's groups are measured against
(:mod:`benchmarks.peers`; the third is :mod:`benchmarks.plain_jax`).

* :func:`numpy_sgd_loop`: per-sample SGD (batch 1) of the 784-128-64-10 MLP
  as a student writes it from scratch in NumPy (NumPy's default float64, one
  ``np.outer`` per layer and step), timed on a few thousand samples and
  scaled to seconds per model-epoch.
* :func:`python_loop_epoch`: a jitted step and a Python loop over host
  batches, then a jitted evaluation of the validation and test splits, as a
  Flax/optax example user writes.
"""

from __future__ import annotations

import jax
import numpy as np
import optax

import jaxmnist as jm


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


def python_loop_epoch(data, batch: int = 128):
    """A callable training one model for one epoch: a jitted train step
    fed host batches from a Python loop, then a jitted evaluation on the
    validation and test splits."""
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

    return one_epoch
