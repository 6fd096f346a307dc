"""The scaling table behind ``python -m jaxmnist.bench --scaling``: each
row times the sweep's own group program, chunked like the sweep when it
does not fit the memory budget (synthetic data)."""

from types import SimpleNamespace

import pytest

from jaxmnist.bench import scaling


def test_rows_chunk_a_group_over_the_budget_like_the_sweep(tiny_data):
    whole, = scaling.rows(tiny_data, members=(4,))
    assert (whole["members"], whole["chunks"]) == (4, 1)
    assert whole["members_per_chunk"] == 4
    assert whole["bytes_per_member"] == pytest.approx(
        whole["compiled_bytes"] / 4)
    assert whole["model_epochs_per_s"] == pytest.approx(
        4 / whole["epoch_s"])
    # a budget below what four members need splits them into chunks
    budget = int(whole["compiled_bytes"] * 0.75)
    split, = scaling.rows(tiny_data, members=(4,), max_memory=budget)
    assert split["chunks"] > 1
    assert split["members_per_chunk"] * split["chunks"] >= 4
    assert split["compiled_bytes"] <= budget
    assert "members/chunk" in scaling.table([whole, split])


def test_a_row_of_several_reps_is_the_median_after_a_warm_up(
        tiny_data, monkeypatch):
    epochs = iter([9.0, 1.0, 3.0, 2.0])  # the first is the warm-up
    monkeypatch.setattr(scaling, "_epoch_seconds", lambda parts: next(epochs))
    # the placement and memory as the sweep's, without compiling
    monkeypatch.setattr(scaling, "placed_chunks", lambda spec, data, budget: (
        [SimpleNamespace(epoch=None)], SimpleNamespace(members=2), 0.5))
    monkeypatch.setattr(scaling, "compiled_bytes", lambda e: 1000)
    r = scaling.row(tiny_data, 2, reps=3)
    assert r["epoch_s"] == 2.0
    assert r["model_epochs_per_s"] == pytest.approx(2 / 2.0)
    assert (r["bytes_per_member"], r["compile_s"]) == (500, 0.5)


def test_group_spec_cycles_the_activations_with_a_rate_per_block():
    spec = scaling.group_spec(6, "sgd", "cnn")
    assert [c.activation for c in spec.cells] == [
        "relu", "sigmoid", "tanh", "leaky_relu", "relu", "sigmoid"]
    assert [c.learning_rate for c in spec.cells] == pytest.approx(
        [1e-3] * 4 + [2e-3] * 2)
    assert (spec.config.optimizer, spec.config.model) == ("sgd", "cnn")
    assert spec.config.batch_size == 1 and not spec.config.dynamics
