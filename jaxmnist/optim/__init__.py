"""Optimizers written by us as optax GradientTransformations."""

from jaxmnist.optim import transforms
from jaxmnist.optim.alias import (
                                  adadelta,
                                  adagrad,
                                  adam,
                                  momentum,
                                  nesterov,
                                  rmsprop,
                                  sgd,
)
from jaxmnist.optim.registry import (
                                  IMPLEMENTATIONS,
                                  OPTIMIZERS,
                                  OptimizerSpec,
                                  get_spec,
                                  make_optimizer,
                                  option_names,
)
from jaxmnist.optim.schedules import SCHEDULES, schedule_multiplier

__all__ = [
    "adadelta", "adagrad", "adam", "momentum", "nesterov", "rmsprop", "sgd",
    "IMPLEMENTATIONS", "OPTIMIZERS", "OptimizerSpec", "get_spec",
    "make_optimizer", "option_names", "SCHEDULES", "schedule_multiplier",
    "transforms",
]
