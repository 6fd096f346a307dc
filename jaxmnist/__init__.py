"""jaxmnist: how activation functions and optimizers change how an MLP learns.

A functional JAX trainer: ``make_train(config)`` returns a pure
``train(key, hparams, data)`` that can be ``jax.jit``-ed and ``jax.vmap``-ed
over seeds, learning rates and activations.
"""

from jaxmnist.activations import ACTIVATIONS, activation_index
from jaxmnist.config import HParams, TrainConfig, make_hparams, stack_hparams
from jaxmnist.data import Dataset, load_dataset, make_dataset
from jaxmnist.model import accuracy, init_mlp, logits, loss, param_count
from jaxmnist.optim import OPTIMIZERS
from jaxmnist.train import (Metrics, TrainResult, TrainState, make_epoch,
                            make_init, make_train)

__version__ = "0.1.0"


def class_probabilities(params, activation, images):
    """Class probabilities ``[n, classes]``; ``activation`` is a name or index."""
    from jaxmnist import model as _model

    if isinstance(activation, str):
        activation = activation_index(activation)
    return _model.predict(params, activation, images)


predict = class_probabilities  # also ``python -m jaxmnist.predict`` (a CLI)


def load_model(path):
    """``(params, metadata)`` of a saved model; see :mod:`jaxmnist.models`."""
    from jaxmnist.models import load_model as _load  # orbax is slow to import

    return _load(path)




__all__ = [
    "ACTIVATIONS", "activation_index", "HParams", "TrainConfig",
    "make_hparams", "stack_hparams", "Dataset", "make_dataset", "accuracy",
    "init_mlp", "logits", "loss", "param_count", "OPTIMIZERS",
    "Metrics", "TrainResult", "TrainState", "make_epoch", "make_init",
    "make_train", "load_dataset", "load_model", "predict",
    "class_probabilities", "__version__",
]
