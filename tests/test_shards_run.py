"""Shards trained and merged against one process, on synthetic data.

Whole groups as shards run the very programs one process runs: the merged
files equal its files. A group cut into pieces changes the matmul shapes
(members per program), so its pieces are compared in float64.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import synthetic_dataset, tree_allclose
from jaxmnist import merge
from jaxmnist.results.members import member_path
from jaxmnist.sweep import config, placed, run, shards, store
from jaxmnist.sweep.cluster import Shard
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.group import train_group

pytestmark = pytest.mark.slow
TIMING = {"seconds", "target_seconds", "target_seconds_mean"}
CFG = SweepConfig(optimizers=("adam", "minibatch_sgd"),
                  activations=("relu", "tanh"), epochs=2, batch_size=32,
                  learning_rates=(("adam", (1e-3, 1e-2)),), dynamics=False)


@pytest.fixture
def synthetic(monkeypatch):
    """Every sweep, shard and merge here loads the synthetic data."""
    data = synthetic_dataset()
    for module in (run, shards, merge):
        monkeypatch.setattr(module, "load_data", lambda cfg: (data, 0.0))
    return data


def without_timing(rows: list) -> list[str]:
    """Each row but its wall-clock fields, as text (NaN equals NaN)."""
    return [repr({k: v for k, v in r._asdict().items() if k not in TIMING})
            for r in rows]


def test_merged_shards_equal_one_process(tmp_path, synthetic):
    """Two shards of two groups (each a whole group), merged: the same
    results, cells (the same learning rate chosen per cell on validation),
    history and models as the whole sweep in one process; a second merge
    leaves the run as it is."""
    one = run.run_sweep(CFG, tmp_path / "one", progress=False)
    out = tmp_path / "sharded"
    for i in range(2):
        shards.run_shard(CFG, out, Shard(i, 2), progress=False)
    merge.merge_run(out)
    merged = config.read_run(out)
    assert without_timing(merged.members) == without_timing(one.members)
    assert without_timing(merged.cells) == without_timing(one.cells)
    assert merged.history == one.history
    assert sum(c.chosen for c in merged.cells) == 4  # of 8 cells
    for m in one.members:  # each member's saved model, bitwise
        tree_allclose(store.load_model(member_path(out, m))[0],
                      store.load_model(member_path(
                          tmp_path / "one", m))[0])
    for folder in ("", "figures"):  # the same files and figures
        assert listing(out / folder) == listing(tmp_path / "one" / folder)
    merge.merge_run(out)  # already merged: nothing to do


def listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()
                  if p.name != shards.SHARDS_DIR)


def as64(tree):
    return jax.tree.map(lambda x: x.astype(jnp.float64) if jnp.issubdtype(
        x.dtype, jnp.floating) else x, tree)


def test_a_group_in_pieces_equals_it_whole_in_float64(tmp_path, monkeypatch):
    """A group of two seeds cut into two shards (a seed each): its pieces,
    put back together by the merge, equal the whole group to float64
    rounding (parameters and every metric)."""
    f = lambda x: np.asarray(x, np.float64) / 255.0
    data = synthetic_dataset(n_train=128, n_val=32, n_test=32)
    data = data._replace(train_images=f(data.train_images),
                         val_images=f(data.val_images),
                         test_images=f(data.test_images))
    init = placed.make_init

    def init64(*args, **kwargs):  # the state's floats as float64
        made = init(*args, **kwargs)
        return lambda *b: as64(made(*b))
    monkeypatch.setattr(placed, "make_init", init64)
    cfg = dataclasses.replace(CFG, optimizers=("adam",), seeds=2, epochs=1,
                              learning_rates=())
    (spec,) = cfg.groups()
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        whole = train_group(spec, data, progress=False)
        parts = []
        for i, piece in enumerate(shards.split_group(spec, 2)):
            train_group(piece, data, progress=False,
                        checkpoint_dir=tmp_path / str(i))
            parts.append((tmp_path / str(i), piece))
        merged = merge.assemble(spec, [path for path, _ in parts])
    assert jax.tree.leaves(whole.params)[0].dtype == jnp.float64
    assert [p.seeds for _, p in parts] == [(0,), (1,)]
    assert merged.members == whole.members
    tree_allclose(merged.params, whole.params, rtol=1e-10, atol=1e-12)
    tree_allclose(merged.history, whole.history, rtol=1e-10, atol=1e-12)
