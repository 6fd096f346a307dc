"""The plain-JAX reference: K MLP members trained at once, as a JAX user
writes it without the library.

``lax.scan`` over epochs and over shuffled batches of 128 (one permutation
per epoch, shared by the members), ``jax.vmap`` of ``jax.value_and_grad``
over the members, ``optax.inject_hyperparams(optax.adam)`` with each
member's learning rate in its optimizer state, ``lax.switch`` over the four
activations, and after each epoch the same metrics as the library's
``make_train``: the mean training loss and accuracy over the epoch's
batches, the loss and accuracy on the whole validation and test splits. No
divergence guard, no checks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax import lax

ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
FUNCTIONS = (jax.nn.relu, jax.nn.sigmoid, jnp.tanh,
             lambda x: jnp.where(x >= 0, x, 0.01 * x))
SIZES = (784, 128, 64, 10)


def init_params(key):
    """He-normal weights, zero biases."""
    keys = jax.random.split(key, len(SIZES) - 1)
    return [{"w": jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a),
             "b": jnp.zeros(b)}
            for k, a, b in zip(keys, SIZES[:-1], SIZES[1:])]


def loss_and_accuracy(params, act, images, labels):
    """Mean cross-entropy and accuracy of one member on uint8 images."""
    x = images.astype(jnp.float32) / 255.0
    for layer in params[:-1]:
        x = lax.switch(act, FUNCTIONS, x @ layer["w"] + layer["b"])
    logits = x @ params[-1]["w"] + params[-1]["b"]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return loss.mean(), (logits.argmax(-1) == labels).mean()


def make_train(epochs: int, batch: int = 128):
    """``train(key, acts, lrs, data) -> (params, metrics)``: ``acts`` and
    ``lrs`` are ``[K]``; ``metrics`` is ``[epochs, K, 6]`` (train loss and
    accuracy, validation loss and accuracy, test loss and accuracy)."""
    adam = optax.inject_hyperparams(optax.adam)
    tx = adam(learning_rate=1e-3)  # updates read each member's state's rate
    grads = jax.vmap(jax.value_and_grad(loss_and_accuracy, has_aux=True),
                     in_axes=(0, 0, None, None))
    evaluate = jax.vmap(loss_and_accuracy, in_axes=(0, 0, None, None))

    def train(key, acts, lrs, data):
        n = data.train_images.shape[0]
        steps = n // batch
        init_key, order_key = jax.random.split(key)
        params = jax.vmap(lambda _: init_params(init_key))(acts)
        opt_state = jax.vmap(lambda p, lr: adam(learning_rate=lr).init(p))(
            params, lrs)

        def step(carry, idx):
            params, opt_state = carry
            (loss, acc), g = grads(params, acts, data.train_images[idx],
                                   data.train_labels[idx])
            updates, opt_state = jax.vmap(tx.update)(g, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), \
                (loss, acc)

        def epoch(carry, epoch_key):
            perm = jax.random.permutation(epoch_key, n)[:steps * batch]
            carry, (loss, acc) = lax.scan(step, carry,
                                          perm.reshape(steps, batch))
            val = evaluate(carry[0], acts, data.val_images, data.val_labels)
            test = evaluate(carry[0], acts, data.test_images,
                            data.test_labels)
            return carry, jnp.stack([loss.mean(0), acc.mean(0), *val, *test],
                                    axis=-1)

        (params, _), metrics = lax.scan(epoch, (params, opt_state),
                                        jax.random.split(order_key, epochs))
        return params, metrics

    return train
