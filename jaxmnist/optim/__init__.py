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
from jaxmnist.optim.modern import ademamix, adopt, lion, muon
from jaxmnist.optim.prodigy import prodigy
from jaxmnist.optim.ranges import OPTION_RANGES, option_range
from jaxmnist.optim.registry import (
                                  IMPLEMENTATIONS,
                                  MODERN_OPTIMIZERS,
                                  OPTIMIZERS,
                                  OptimizerSpec,
                                  check_option,
                                  evaluation_params,
                                  get_spec,
                                  make_optimizer,
                                  option_names,
)
from jaxmnist.optim.schedule_free import (
                                  schedule_free_adamw,
                                  schedule_free_eval_params,
)
from jaxmnist.optim.schedules import SCHEDULES, schedule_multiplier

__all__ = [
    "IMPLEMENTATIONS",
    "MODERN_OPTIMIZERS",
    "OPTIMIZERS",
    "OPTION_RANGES",
    "SCHEDULES",
    "OptimizerSpec",
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "ademamix",
    "adopt",
    "check_option",
    "evaluation_params",
    "get_spec",
    "lion",
    "make_optimizer",
    "momentum",
    "muon",
    "nadam",
    "nesterov",
    "option_names",
    "option_range",
    "prodigy",
    "rmsprop",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_multiplier",
    "sgd",
    "transforms",
]
