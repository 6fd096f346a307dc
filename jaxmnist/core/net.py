"""The model families behind one interface: the MLP and the LeNet-5 CNN.

``make_net(model, sizes, batch_norm)`` gives a :class:`Net` whose ``init``
and ``apply`` the training loop calls without knowing the family; the
evaluation-mode functions below (``logits``, ``loss``, ``accuracy``,
``class_probabilities``) recognise the family from the params themselves
(convolution kernels are 4-D), so a saved model needs nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax

from jaxmnist.core import cnn, model
from jaxmnist.core.activations import as_index
from jaxmnist.errors import check_choice
from jaxmnist.types import Array

MODELS: tuple[str, ...] = ("mlp", "cnn")


class Net(NamedTuple):
    """``init(key, activation) -> (params, stats or None)``;
    ``apply(params, activation, images, choices, *, stats, train,
    dropout_rate, key) -> (logits, hidden pre-activations, stats)``."""
    name: str
    init: Callable
    apply: Callable


def make_net(name: str, sizes: tuple[int, ...] = model.DEFAULT_SIZES,
             batch_norm: bool = False) -> Net:
    """The model family ``name`` ("mlp" with layer ``sizes``, or "cnn")."""
    check_choice("model", name, MODELS)
    if name == "cnn":
        return Net(name, lambda key, act: cnn.init_cnn(key, act, batch_norm),
                   cnn.apply_cnn)
    return Net(name, lambda key, act: model.init_mlp_layers(
        key, sizes, act, batch_norm), model.apply)


def is_cnn(params: model.Params) -> bool:
    return params[0]["w"].ndim == 4


def forward(params: model.Params, activation, images: Array,
            choices: tuple[int, ...] | None = None,
            stats: list | None = None) -> tuple[jax.Array, list[jax.Array]]:
    """(logits, hidden pre-activations) in evaluation mode, for either
    family (batch norm from ``stats`` or the stats saved in the layers)."""
    fn = cnn.apply_cnn if is_cnn(params) else model.apply
    out, zs, _ = fn(params, activation, images, choices, stats=stats)
    return out, zs


def logits(params: model.Params, activation, images: Array,
           choices: tuple[int, ...] | None = None) -> jax.Array:
    """Class logits ``[n, classes]`` of either family."""
    return forward(params, activation, images, choices)[0]


def loss(params: model.Params, activation, images: Array,
         labels: Array) -> jax.Array:
    """Mean softmax cross-entropy of the model on a batch."""
    return model.loss_from_logits(logits(params, activation, images), labels)


def accuracy(params: model.Params, activation, images: Array,
             labels: Array) -> jax.Array:
    """Classification accuracy of the model on a batch."""
    return model.accuracy_from_logits(logits(params, activation, images),
                                      labels)


def class_probabilities(params: model.Params,
                        activation: str | jax.typing.ArrayLike,
                        images: Array) -> jax.Array:
    """Class probabilities ``[n, classes]``; ``activation`` is a name or an
    index."""
    activation = as_index(activation)
    return jax.nn.softmax(logits(params, activation, images), axis=-1)
