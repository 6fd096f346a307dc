"""The training core: activations, the model, the static config and the
pure ``make_train`` built from ``lax.scan``s."""

from jaxmnist.core.activations import ACTIVATIONS as ACTIVATIONS
from jaxmnist.core.activations import activation_index as activation_index
from jaxmnist.core.config import HParams as HParams
from jaxmnist.core.config import TrainConfig as TrainConfig
from jaxmnist.core.config import make_hparams as make_hparams
from jaxmnist.core.config import stack_hparams as stack_hparams
from jaxmnist.core.train import Metrics as Metrics
from jaxmnist.core.train import TrainResult as TrainResult
from jaxmnist.core.train import TrainState as TrainState
from jaxmnist.core.train import make_epoch as make_epoch
from jaxmnist.core.train import make_init as make_init
from jaxmnist.core.train import make_train as make_train
