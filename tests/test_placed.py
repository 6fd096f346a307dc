"""A group over its memory budget trains in chunks, with the same numbers."""

import numpy as np
import pytest

import jaxmnist as jm
from helpers import synthetic_dataset, tree_allclose
from jaxmnist.results.members import GroupResult
from jaxmnist.sweep import placed
from jaxmnist.sweep.cluster import compiled_bytes
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.group import train_group
from jaxmnist.sweep.options import parse_size
from jaxmnist.sweep.placed import Layout


@pytest.mark.parametrize("text,n", [("4GiB", 4 * 1024**3), ("512MB", 512e6),
                                    ("1.5G", 1.5 * 1024**3), ("2e9", 2e9),
                                    (1000, 1000), ("12 kib", 12 * 1024)])
def test_sizes_parse(text, n):
    assert parse_size(text) == int(n)


@pytest.mark.parametrize("text", ["4GX", "", "-1GB", "lots", "0"])
def test_a_bad_max_memory_is_refused_in_one_line(text):
    with pytest.raises(ValueError, match="max_memory: .* is not a") as e:
        SweepConfig(max_memory=text)
    assert "\n" not in str(e.value) and repr(text) in str(e.value)


def test_layouts_fill_the_budget_and_cover_every_member():
    assert placed.fitting(3, 5, 1, 100) == Layout(3, 5)  # fits whole
    assert placed.fitting(4, 5, 1, 10) == Layout(2, 5)  # whole seed rows
    assert placed.fitting(3, 5, 1, 12) == Layout(2, 5)  # 2 chunks, 1 padded
    assert placed.fitting(1, 10, 2, 7) == Layout(1, 6)  # 6 + 4 (padded to 6)
    assert placed.fitting(1, 10, 4, 1) == Layout(1, 4)  # one device row min
    (spec,) = SweepConfig(activations=("relu", "tanh", "sigmoid", "elu",
                                       "gelu"), optimizers=("adam",),
                          seeds=3).groups()
    chunks = placed.chunk_specs(spec, Layout(2, 2))
    assert [(len(c.seeds), len(c.cells)) for c in chunks] == [
        (2, 2), (2, 2), (2, 1), (1, 2), (1, 2), (1, 1)]
    assert sorted(m for c in chunks for m in c.members) == sorted(
        spec.members)


def test_joined_puts_each_chunk_in_group_order():
    def part(members, values):
        return GroupResult(members, jm.Metrics(*[np.asarray(values)] * 7),
                              [], 1.0, 0.5, [1.0], 1)
    whole = placed.joined([0, 1, 2], [part([0, 2], [10, 12]),
                                      part([1], [11])])
    np.testing.assert_array_equal(whole.history.train_loss, [10, 11, 12])
    assert whole.seconds == 2.0 and whole.epoch_seconds == [2.0]


def _whole_bytes(spec, data) -> int:
    g, _ = placed.compile_group(placed.place(spec, data))
    return compiled_bytes(g.epoch)


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("dynamics", [False, True])
def test_a_chunked_group_equals_one_program(tmp_path, dynamics):
    """Chunks of 3 of the 6 cells: the parameters come out bitwise equal on
    this CPU backend, the metrics and probes to float rounding of the
    evaluation's and the probe batch's reductions (their shapes change with
    the chunk); a rerun resumes the chunk that did not finish."""
    import jax  # noqa: PLC0415

    data = synthetic_dataset(n_train=256, n_val=64, n_test=64)
    cfg = SweepConfig(activations=("relu", "tanh", "sigmoid"),
                      optimizers=("adam",), epochs=2, seeds=2, batch_size=32,
                      learning_rates=(("adam", (1e-3, 3e-3)),),
                      dynamics=dynamics)
    (spec,) = cfg.groups()
    whole = train_group(spec, data, progress=False)
    budget = int(0.6 * _whole_bytes(spec, data))
    split = train_group(spec, data, progress=False, checkpoint_dir=tmp_path,
                        max_memory=budget)
    layout = placed.recorded(tmp_path)
    assert layout is not None
    n = len(placed.chunk_specs(spec, layout))
    assert n > 1 and (tmp_path / f"chunk{n - 1:04d}" / "done.json").is_file()
    assert split.members == whole.members
    for f in jm.Metrics._fields:
        np.testing.assert_allclose(getattr(split.history, f),
                                   getattr(whole.history, f), rtol=1e-6,
                                   atol=1e-7, err_msg=f)
    for x, y in zip(jax.tree.leaves(split.params),
                    jax.tree.leaves(whole.params)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    assert (split.dynamics is None) == (whole.dynamics is None) == (
        not dynamics)
    tree_allclose(split.dynamics, whole.dynamics, rtol=1e-5, atol=1e-6)
    # the group and its last chunk unfinished: a rerun trains that chunk
    last = tmp_path / f"chunk{n - 1:04d}"
    for p in (tmp_path / "done.json", last / "done.json"):
        p.unlink()
    again = train_group(spec, data, progress=False, checkpoint_dir=tmp_path,
                        max_memory=10**15)  # the recorded layout wins
    for f in jm.Metrics._fields:
        np.testing.assert_array_equal(getattr(again.history, f),
                                      getattr(split.history, f), err_msg=f)
    tree_allclose(again.dynamics, split.dynamics)


def test_a_budget_too_small_for_one_member_is_one_line():
    data = synthetic_dataset(n_train=64, n_val=16, n_test=16)
    (spec,) = SweepConfig(activations=("relu",), optimizers=("adam",),
                          epochs=1, batch_size=32, dynamics=False).groups()
    with pytest.raises(ValueError, match="raise --max-memory") as e:
        train_group(spec, data, progress=False, max_memory=1000)
    assert "\n" not in str(e.value)


def test_members_per_program_sets_the_chunks_without_measuring():
    data = synthetic_dataset(n_train=64, n_val=16, n_test=16)
    (spec,) = SweepConfig(activations=("relu", "tanh", "sigmoid"),
                          optimizers=("adam",), epochs=1, seeds=2,
                          batch_size=32, dynamics=False).groups()
    chunks, layout, _ = placed.placed_chunks(
        spec, data, max_memory=1000, members=3)  # the budget is not asked
    assert layout == Layout(1, 3) and len(chunks) == 2
