"""The modern optimizers in the sweep's groups with the probes on."""

import jax.numpy as jnp
import pytest

from helpers import synthetic_dataset
from jaxmnist.core.sharpness import preconditioner
from jaxmnist.optim.registry import make_optimizer
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.group import train_group

PARAMS = [{"w": jnp.ones((4, 3)), "b": jnp.ones(3)},
          {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}]


@pytest.mark.parametrize("implementation", ["ours", "optax"])
def test_muon_has_no_diagonal_preconditioner(implementation):
    """Muon's Adam state covers the biases only (MaskedNode for the
    matrices): no preconditioner of the whole model, as for momentum."""
    tx = make_optimizer("muon", 1e-3, implementation)
    state = tx.update(PARAMS, tx.init(PARAMS), PARAMS)[1]
    assert preconditioner(state) is None
    adam = make_optimizer("adam", 1e-3, implementation)
    p = preconditioner(adam.update(PARAMS, adam.init(PARAMS), PARAMS)[1])
    assert p is not None and len(p) == 2


@pytest.mark.slow
def test_adaptive_muon_and_schedule_free_groups_train_with_probes():
    data = synthetic_dataset(n_train=64, n_val=16, n_test=16)
    cfg = SweepConfig(optimizers=("adam", "muon", "schedule_free_adamw"),
                      activations=("relu",), epochs=1, batch_size=32)
    for spec in cfg.groups():
        group = train_group(spec, data, progress=False)
        assert group.dynamics is not None
        assert jnp.isfinite(group.history.val_loss).all()
