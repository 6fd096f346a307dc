"""The Why section's ranking of probe differences."""

from jaxmnist.report.why import differences

BEST = {("saturated_fraction", 1): [0.8], ("grad_norm", 1): [1.0],
        ("dead_fraction", 1): [0.0]}
WORST = {("saturated_fraction", 1): [0.0], ("grad_norm", 1): [0.5],
         ("dead_fraction", 1): [0.1]}


def test_saturation_ranks_first_between_cells_of_one_activation():
    ranked = [text for _, text in differences(BEST, WORST)]
    assert ranked[0].startswith("layer 1 saturated unit-image pairs: 80.0%")
    assert ranked[1].startswith("layer 1 gradient norm: 1 in the best")
    assert "2.0x smaller in the worst" in ranked[1]


def test_saturation_is_left_out_across_activations():
    ranked = [text for _, text in differences(BEST, WORST, False)]
    assert len(ranked) == 2
    assert not any("saturated" in text for text in ranked)
