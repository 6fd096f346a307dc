"""summary.md reads as the run's page."""

from helpers import synthetic_run
from jaxmnist.report.summary import summary_markdown


def test_summary_lists_cells_members_and_figures():
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=2)
    text = summary_markdown(run, has_predictions=True)
    assert "95% CI" in text and "![heatmap](figures/heatmap.png)" in text
    assert "![confusion_matrix](figures/confusion_matrix.png)" in text
    assert "lr_sensitivity" not in text
    one = summary_markdown(synthetic_run(["adam"], ["relu"]), False)
    assert "## Cells" not in one and "confusion_matrix" not in one
