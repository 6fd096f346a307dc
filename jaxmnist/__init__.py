"""jaxmnist: how activation functions and optimizers change how an MLP learns.

A functional JAX trainer: ``make_train(config)`` returns a pure
``train(key, hparams, data)`` that can be ``jax.jit``-ed and ``jax.vmap``-ed
over seeds, learning rates and activations. The pipeline's stages are the
subpackages ``data``, ``core``, ``optim``, ``sweep``, ``results``,
``report`` and ``cli`` (see docs/architecture.md).
"""

__version__ = "0.1.0"

from jaxmnist import dynamics as dynamics
from jaxmnist import landscape as landscape
from jaxmnist.core.activations import ACTIVATIONS as ACTIVATIONS
from jaxmnist.core.activations import activation_index as activation_index
from jaxmnist.core.cnn import init_cnn as init_cnn
from jaxmnist.core.config import HParams as HParams
from jaxmnist.core.config import TrainConfig as TrainConfig
from jaxmnist.core.config import make_hparams as make_hparams
from jaxmnist.core.config import stack_hparams as stack_hparams
from jaxmnist.core.model import init_mlp as init_mlp
from jaxmnist.core.model import param_count as param_count
from jaxmnist.core.net import MODELS as MODELS
from jaxmnist.core.net import accuracy as accuracy
from jaxmnist.core.net import class_probabilities as class_probabilities
from jaxmnist.core.net import logits as logits
from jaxmnist.core.net import loss as loss
from jaxmnist.core.train import Metrics as Metrics
from jaxmnist.core.train import TrainResult as TrainResult
from jaxmnist.core.train import TrainState as TrainState
from jaxmnist.core.train import make_epoch as make_epoch
from jaxmnist.core.train import make_init as make_init
from jaxmnist.core.train import make_train as make_train
from jaxmnist.data import Dataset as Dataset
from jaxmnist.data import load_dataset as load_dataset
from jaxmnist.data import make_dataset as make_dataset
from jaxmnist.optim import OPTIMIZERS as OPTIMIZERS
from jaxmnist.plugins import register_activation as register_activation
from jaxmnist.plugins import register_optimizer as register_optimizer
from jaxmnist.results.verdict import expected_max as expected_max
from jaxmnist.sweep.store import load_model as load_model
