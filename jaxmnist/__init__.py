"""jaxmnist: how activation functions and optimizers change how an MLP learns.

A functional JAX trainer: ``make_train(config)`` returns a pure
``train(key, hparams, data)`` that can be ``jax.jit``-ed and ``jax.vmap``-ed
over seeds, learning rates and activations.
"""

from jaxmnist.activations import ACTIVATIONS, activation_index
from jaxmnist.config import HParams, TrainConfig, make_hparams, stack_hparams
from jaxmnist.dataset import Dataset, make_dataset
from jaxmnist.model import (accuracy, init_mlp, logits, loss, param_count,
                            predict)
from jaxmnist.optim import OPTIMIZERS
from jaxmnist.train import (Metrics, TrainResult, TrainState, make_epoch,
                            make_init, make_train)

__version__ = "0.1.0"


def load_dataset(*args, **kwargs) -> Dataset:
    """Load MNIST or Fashion-MNIST through tfds; see :func:`jaxmnist.data.load_dataset`."""
    from jaxmnist.data import load_dataset as _load  # TF stays out of import

    return _load(*args, **kwargs)


__all__ = [
    "ACTIVATIONS", "activation_index", "HParams", "TrainConfig",
    "make_hparams", "stack_hparams", "Dataset", "make_dataset", "accuracy",
    "init_mlp", "logits", "loss", "param_count", "predict", "OPTIMIZERS",
    "Metrics", "TrainResult", "TrainState", "make_epoch", "make_init",
    "make_train", "load_dataset", "__version__",
]
