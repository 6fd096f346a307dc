"""Every registry optimizer, ours and optax's, vmapped over traced learning
rates and options: one compile for all values, each member as if alone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from helpers import member_values, scan_run, tree_allclose
from jaxmnist import optim
from jaxmnist.optim import make_optimizer


def tree(key):
    """Matrices both ways round, an HWIO kernel, a vector and a scalar."""
    k = jax.random.split(key, 5)
    return {"w": jax.random.normal(k[0], (6, 3)),
            "v": jax.random.normal(k[1], (3, 5)),
            "k": jax.random.normal(k[2], (3, 3, 2, 4)),
            "b": jax.random.normal(k[3], (3,)),
            "s": jax.random.normal(k[4], ())}


BUILT_IN = tuple(optim.OPTIMIZERS)


@pytest.mark.parametrize("name", BUILT_IN)
@pytest.mark.parametrize("impl", ["ours", "optax"])
def test_vmap_over_traced_options_equals_each_member(name, impl):
    """Three members with their own rate and vmappable options: new values
    do not recompile, and each member equals its run alone, with the same
    values traced or as Python floats."""
    spec = optim.get_spec(name)
    params = tree(jax.random.key(2))
    grads = [tree(k) for k in jax.random.split(jax.random.key(3), 8)]
    values = {k: member_values(k, d, 2.0) for k, d in spec.vmappable.items()}
    lr = spec.learning_rate
    values["learning_rate"] = [lr, lr / 3, lr * 2]
    traces = []

    def run(hp):
        traces.append(1)
        hp = dict(hp)
        tx = make_optimizer(name, hp.pop("learning_rate"), impl, **hp)
        return scan_run(tx, params, grads)[0]

    arrays = {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}
    batched = jax.jit(jax.vmap(run))
    out = batched(arrays)
    batched({k: v * 0.99 for k, v in arrays.items()})
    assert len(traces) == 1, "new values recompiled"
    solo_traced = jax.jit(run)
    # The three members' Python-float runs in one program: one compile,
    # not three (each run still has its own constants).
    floats = [{k: v[i] for k, v in values.items()} for i in range(3)]
    as_floats = jax.jit(lambda: [run(f) for f in floats])()
    for i in range(3):
        member = jax.tree.map(lambda x, i=i: x[i], out)
        tree_allclose(member, solo_traced({k: v[i] for k, v in arrays.items()}),
                      rtol=1e-5, atol=1e-6)
        tree_allclose(member, as_floats[i], rtol=1e-5, atol=1e-6)
