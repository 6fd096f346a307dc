"""The learning-dynamics probes for your own params:
``jaxmnist.dynamics.unit_stats(params, activation, images)``,
``jaxmnist.dynamics.top_hessian_eigenvalue(params, activation, images,
labels, iterations)`` and the rest of :mod:`jaxmnist.core.dynamics`."""

from jaxmnist.core.dynamics import Dynamics as Dynamics
from jaxmnist.core.dynamics import UnitStats as UnitStats
from jaxmnist.core.dynamics import layer_norms as layer_norms
from jaxmnist.core.dynamics import (
    preactivation_histograms as preactivation_histograms,
)
from jaxmnist.core.dynamics import preconditioner as preconditioner
from jaxmnist.core.dynamics import (
    top_hessian_eigenvalue as top_hessian_eigenvalue,
)
from jaxmnist.core.dynamics import unit_stats as unit_stats
from jaxmnist.core.dynamics import update_ratios as update_ratios
