"""Optimizers written by us as optax GradientTransformations."""

from jaxmnist.optim import transforms as transforms
from jaxmnist.optim.alias import adadelta as adadelta
from jaxmnist.optim.alias import adagrad as adagrad
from jaxmnist.optim.alias import adam as adam
from jaxmnist.optim.alias import adamw as adamw
from jaxmnist.optim.alias import momentum as momentum
from jaxmnist.optim.alias import nadam as nadam
from jaxmnist.optim.alias import nesterov as nesterov
from jaxmnist.optim.alias import rmsprop as rmsprop
from jaxmnist.optim.alias import sgd as sgd
from jaxmnist.optim.modern import ademamix as ademamix
from jaxmnist.optim.modern import adopt as adopt
from jaxmnist.optim.modern import lion as lion
from jaxmnist.optim.modern import muon as muon
from jaxmnist.optim.prodigy import prodigy as prodigy
from jaxmnist.optim.ranges import OPTION_RANGES as OPTION_RANGES
from jaxmnist.optim.ranges import option_range as option_range
from jaxmnist.optim.registry import IMPLEMENTATIONS as IMPLEMENTATIONS
from jaxmnist.optim.registry import MODERN_OPTIMIZERS as MODERN_OPTIMIZERS
from jaxmnist.optim.registry import OPTIMIZERS as OPTIMIZERS
from jaxmnist.optim.registry import OptimizerSpec as OptimizerSpec
from jaxmnist.optim.registry import check_option as check_option
from jaxmnist.optim.registry import evaluation_params as evaluation_params
from jaxmnist.optim.registry import get_spec as get_spec
from jaxmnist.optim.registry import make_optimizer as make_optimizer
from jaxmnist.optim.registry import option_names as option_names
from jaxmnist.optim.schedule_free import (
    schedule_free_adamw as schedule_free_adamw,
)
from jaxmnist.optim.schedule_free import (
    schedule_free_eval_params as schedule_free_eval_params,
)
from jaxmnist.optim.schedules import SCHEDULES as SCHEDULES
from jaxmnist.optim.schedules import schedule_multiplier as schedule_multiplier
