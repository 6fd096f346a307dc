"""Every figure draws for one cell, 8 x 7 cells, seeds and divergence."""

import numpy as np
import pytest

import jaxmnist as jm
from helpers import png_size, synthetic_run
from jaxmnist.report import comparison, curves, figures, predictions, tuning
from jaxmnist.results.records import MemberResult

CASES = {
    "one_cell": dict(optimizers=["adam"], activations=["relu"]),
    "8x7": dict(optimizers=list(jm.OPTIMIZERS)[:8],
                activations=list(jm.ACTIVATIONS)),
    "seeds": dict(optimizers=["adam", "sgd"], activations=["relu", "tanh"],
                  seeds=3),
    "diverged": dict(optimizers=["adam", "sgd"], activations=["relu", "tanh"],
                     seeds=2, nan_cell=("sgd", "tanh")),
    "lr_grid": dict(optimizers=["adam", "sgd"], activations=["relu"],
                    seeds=2, lrs=(0.001, 0.01, 0.1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_figures_are_valid_pngs(case, tmp_path):
    run = synthetic_run(**CASES[case])
    curves.plot_curves(run, tmp_path / "a.png", "activation")
    curves.plot_curves(run, tmp_path / "o.png", "optimizer")
    curves.plot_loss_curves(run, tmp_path / "l.png")
    comparison.plot_test_bar(run.cells, tmp_path / "b.png")
    comparison.plot_heatmap(run.cells, tmp_path / "h.png")
    tuning.plot_time_to_target(run.cells, run.members, tmp_path / "t.png",
                               0.97)
    tuning.plot_lr_sensitivity(run.cells, tmp_path / "s.png")
    for name in "aolbhts":
        w, h = png_size(tmp_path / f"{name}.png")
        assert 300 < w < 4000 and 200 < h < 4000, (name, w, h)
    n_cells = len(CASES[case]["optimizers"]) * len(CASES[case]["activations"])
    # the bar chart grows with the number of cells, so labels never overlap
    assert png_size(tmp_path / "b.png")[1] >= 20 * n_cells


def test_write_figures_picks_the_figures_a_run_has(tmp_path):
    run = synthetic_run(["adam"], ["relu", "tanh"], seeds=2)
    paths = figures.write_figures(tmp_path, run)
    names = [p.name for p in paths]
    assert "lr_sensitivity.png" not in names  # no learning-rate grid
    assert "confusion_matrix.png" not in names  # no saved predictions
    assert all(p.is_file() for p in paths)
    grid = synthetic_run(["adam"], ["relu"], seeds=2, lrs=(0.01, 0.1))
    assert "lr_sensitivity.png" in figures.figures_for(grid, True)


def test_confusion_and_misclassified(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    pred = np.where(rng.random(500) < 0.9, y, (y + 1) % 10)
    predictions.plot_confusion(y, pred, tmp_path / "c.png", "t")
    wrong = np.flatnonzero(pred != y)
    imgs = rng.integers(0, 255, (len(wrong), 784), dtype=np.uint8)
    predictions.plot_misclassified(imgs, y[wrong], pred[wrong],
                                   rng.random(len(wrong)), tmp_path / "m.png")
    predictions.plot_misclassified(imgs[:0], y[:0], pred[:0], np.zeros(0),
                                   tmp_path / "none.png")
    for n in ("c", "m", "none"):
        assert png_size(tmp_path / f"{n}.png")[0] > 200


def test_best_predictions_file_redraws_the_figures(tmp_path):
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(10), 200)
    labels = rng.integers(0, 10, 200)
    images = rng.integers(0, 255, (200, 784), dtype=np.uint8)
    m = MemberResult("adam", "relu", 1e-3, 0, *([0.5] * 6), 1, None, None,
                     None, None, 1.0)
    predictions.save_best_predictions(tmp_path, m, probs, images, labels)
    with np.load(tmp_path / predictions.BEST_PREDICTIONS) as p:
        assert str(p["member"]) == "adam/relu/0"
        assert len(p["wrong_images"]) == min(40, int((probs.argmax(1)
                                                      != labels).sum()))
