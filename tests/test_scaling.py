"""The scaling table behind ``python -m jaxmnist.bench --scaling``: each
row times the sweep's own group program, chunked like the sweep when it
does not fit the memory budget (synthetic data)."""

import pytest

from jaxmnist.sweep import scaling


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
