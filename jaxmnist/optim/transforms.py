"""Gradient transformations written from scratch, in optax's style.

Each building block is a factory returning an ``optax.GradientTransformation``
with inner ``init_fn`` / ``update_fn`` and a small ``NamedTuple`` state. None
of them calls optax's own ``scale_by_*``, ``trace`` or tree-moment helpers;
the named optimizers in :mod:`jaxmnist.optim.alias` chain them, and
:func:`scale_by_learning_rate` is the only place where the sign is flipped
(updates are *added* to params by ``optax.apply_updates``, so descent needs
``-learning_rate``). The code lives in private modules by family; this module
is their one public namespace.

Notation: ``g`` is the incoming update (the gradient for a first transform),
``t`` the step count starting at 1, all operations elementwise per leaf.

Numeric hyperparameters (``decay``, ``b1``, ``eps``, ...) may be Python
numbers or (traced, vmapped) scalar arrays; see :mod:`jaxmnist.optim._common`
for the dtype rules shared by all transforms. Where they differ from optax
0.2.8:

* states keep the dtype they were initialised with, the arithmetic runs in
  the promoted dtype of update and state (optax lets Adam's ``mu`` and the
  momentum trace take the promoted dtype of float32 gradients on bfloat16
  params, unless ``mu_dtype``/``accumulator_dtype`` is given);
* updates keep the incoming updates' dtype, also when multiplied by a wider
  traced learning rate (optax returns float32 updates for bfloat16 gradients
  and a float32 array rate, which ``apply_updates`` under strict promotion
  then rejects);
* bias corrections and schedules are computed in the params' real dtype, at
  least float32 (optax: JAX's default float, so float64 under x64 also for
  float32 params);
* ``scale_by_learning_rate(None)`` means a rate of 1.0 with the sign flip.
"""

from jaxmnist.optim._adam import ScaleByAdamState as ScaleByAdamState
from jaxmnist.optim._adam import scale_by_adam as scale_by_adam
from jaxmnist.optim._adaptive import (
    ScaleByAdadeltaState as ScaleByAdadeltaState,
)
from jaxmnist.optim._adaptive import ScaleByRmsState as ScaleByRmsState
from jaxmnist.optim._adaptive import (
    ScaleByRmsWithCountState as ScaleByRmsWithCountState,
)
from jaxmnist.optim._adaptive import ScaleByRssState as ScaleByRssState
from jaxmnist.optim._adaptive import ScaleByStddevState as ScaleByStddevState
from jaxmnist.optim._adaptive import (
    ScaleByStddevWithCountState as ScaleByStddevWithCountState,
)
from jaxmnist.optim._adaptive import scale_by_adadelta as scale_by_adadelta
from jaxmnist.optim._adaptive import scale_by_rms as scale_by_rms
from jaxmnist.optim._adaptive import scale_by_rss as scale_by_rss
from jaxmnist.optim._adaptive import scale_by_stddev as scale_by_stddev
from jaxmnist.optim._common import ScalarOrSchedule as ScalarOrSchedule
from jaxmnist.optim._modern import ScaleByAdemamixState as ScaleByAdemamixState
from jaxmnist.optim._modern import ScaleByAdoptState as ScaleByAdoptState
from jaxmnist.optim._modern import ScaleByLionState as ScaleByLionState
from jaxmnist.optim._modern import scale_by_ademamix as scale_by_ademamix
from jaxmnist.optim._modern import scale_by_adopt as scale_by_adopt
from jaxmnist.optim._modern import scale_by_lion as scale_by_lion
from jaxmnist.optim._muon import MuonState as MuonState
from jaxmnist.optim._muon import scale_by_muon as scale_by_muon
from jaxmnist.optim._muon import scale_by_shape as scale_by_shape
from jaxmnist.optim._scale import (
    AddDecayedWeightsState as AddDecayedWeightsState,
)
from jaxmnist.optim._scale import (
    ScaleByLearningRateState as ScaleByLearningRateState,
)
from jaxmnist.optim._scale import add_decayed_weights as add_decayed_weights
from jaxmnist.optim._scale import (
    scale_by_learning_rate as scale_by_learning_rate,
)
from jaxmnist.optim._trace import TraceState as TraceState
from jaxmnist.optim._trace import trace as trace
