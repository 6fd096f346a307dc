"""Optimizers written by us as optax GradientTransformations."""

from jaxmnist.optim import transforms
from jaxmnist.optim.alias import (
                                  adadelta,
                                  adagrad,
                                  adam,
                                  adamw,
                                  momentum,
                                  nadam,
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
    "IMPLEMENTATIONS",
    "OPTIMIZERS",
    "SCHEDULES",
    "OptimizerSpec",
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "get_spec",
    "make_optimizer",
    "momentum",
    "nadam",
    "nesterov",
    "option_names",
    "rmsprop",
    "schedule_multiplier",
    "sgd",
    "transforms",
]
