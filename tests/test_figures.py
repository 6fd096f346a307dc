"""Every figure draws for one cell, 8 x 7 cells, seeds and divergence."""

import dataclasses

import numpy as np
import pytest

import jaxmnist as jm
from helpers import ADAPTIVE, png_size, synthetic_run, with_dynamics
from jaxmnist.data import class_names
from jaxmnist.report import (
    comparison,
    curves,
    dynamics,
    figures,
    predictions,
    probe_arrays,
    style,
    tuning,
)
from jaxmnist.report.dynamics import DYNAMICS_FIGURES
from jaxmnist.results.records import MemberResult
from jaxmnist.results.stats import cell_results

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


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("case", list(CASES))
def test_figures_are_valid_pngs(case, tmp_path):
    run = synthetic_run(**CASES[case])
    curves.plot_curves(run, tmp_path / "a.png", "activation")
    curves.plot_curves(run, tmp_path / "o.png", "optimizer")
    curves.plot_loss_curves(run, tmp_path / "l.png")
    comparison.plot_test_bar(run.cells, tmp_path / "b.png", run.members)
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
    predictions.plot_confusion(y, pred, tmp_path / "f.png", "t",
                               class_names("fashion_mnist"))
    wrong = np.flatnonzero(pred != y)
    imgs = rng.integers(0, 255, (len(wrong), 784), dtype=np.uint8)
    predictions.plot_misclassified(imgs, y[wrong], pred[wrong],
                                   rng.random(len(wrong)), tmp_path / "m.png")
    predictions.plot_misclassified(imgs[:0], y[:0], pred[:0], np.zeros(0),
                                   tmp_path / "none.png")
    for n in ("c", "f", "m", "none"):
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


def test_accuracy_axis_zooms_to_the_late_epochs():
    # late validation 0.95-0.98, training up to 0.995: the axis shows that
    # band (the early 0.3 is left below), not 0.3-1.0
    lo, hi = curves.zoom([0.95, 0.96, 0.98], [0.97, 0.99, 0.995])
    assert 0.94 < lo < 0.95 and 0.995 < hi <= 1.001
    assert curves.zoom([], []) == (0.0, 1.0)


def test_end_labels_are_spread_apart_in_order():
    ys = [0.9731, 0.9730, 0.9722, 0.90]
    pos = style.spread(ys, 0.002, 0.85, 0.98)
    order = sorted(range(4), key=lambda i: ys[i])
    assert [pos[i] for i in order] == sorted(pos)  # same order as the lines
    gaps = np.diff(sorted(pos))
    assert gaps.min() >= 0.002 - 1e-9
    assert max(pos) <= 0.98 and pos[3] == 0.90  # far ones stay put


def test_time_to_target_labels():
    run = synthetic_run(["adam", "sgd"], ["relu"], seeds=2)
    members = [m._replace(target_epoch=3, target_seconds=5.4)
               if m.optimizer == "adam" else
               m._replace(target_epoch=None, target_seconds=None,
                          val_accuracy=0.965) for m in run.members]
    cells = cell_results(members)
    stats = tuning.reach(cells, members)
    assert [s.label for s in stats] == ["adam / relu  lr 0.01",
                                        "sgd / relu  lr 0.01"]
    assert tuning._reach_text(stats[0], 10) == "epoch 3, 5.4 s, 2/2 seeds"
    assert tuning._reach_text(stats[1], 10) == (
        "not reached in 10 epochs; final validation 0.9650 (mean)")


def test_dot_plot_range_follows_the_data_not_zero():
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=3)
    seeds = comparison._seed_values(run.members)
    lo, hi = comparison._x_range(comparison.chosen_cells(run.cells), seeds)
    data = [m.test_accuracy for m in run.members]
    assert min(data) - 0.2 < lo < min(data) and max(data) < hi
    assert hi <= 1.0 + 0.07 * (hi - lo)  # CIs stop at 1, then 6% padding


def test_confusion_counts():
    cm = predictions.confusion(np.asarray([0, 0, 1, 2]),
                               np.asarray([0, 1, 1, 1]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_fashion_runs_get_class_names(tmp_path, monkeypatch):
    run = synthetic_run(["adam"], ["relu"])
    run = run._replace(config=dataclasses.replace(run.config,
                                                  dataset="fashion_mnist"))
    rng = np.random.default_rng(2)
    predictions.save_best_predictions(
        tmp_path, run.members[0], rng.dirichlet(np.ones(10), 50),
        rng.integers(0, 255, (50, 784), dtype=np.uint8),
        rng.integers(0, 10, 50))
    seen = {}
    monkeypatch.setattr(predictions, "plot_confusion",
                        lambda *a, **k: seen.setdefault("confusion", a[4]))
    monkeypatch.setattr(predictions, "plot_misclassified",
                        lambda *a, **k: seen.setdefault("wrong",
                                                        k["classes"]))
    figures.write_figures(tmp_path, run)
    assert seen["confusion"] == seen["wrong"] == class_names("fashion_mnist")
    assert seen["wrong"][0] == "T-shirt/top"


def test_lr_sensitivity_axis_spans_the_peaks():
    # adam/relu peaks at 0.97, sgd/relu at 0.95; a rate at 0.30 lies far
    # below: the axis shows the peaks, not 0.3-1.0
    run = synthetic_run(["adam", "sgd"], ["relu"], seeds=1,
                        lrs=(0.001, 0.01, 0.1))
    vals = {("adam", 0.001): 0.96, ("adam", 0.01): 0.97, ("adam", 0.1): 0.3,
            ("sgd", 0.001): 0.95, ("sgd", 0.01): 0.94, ("sgd", 0.1): 0.9}
    cells = [c._replace(val_mean=vals[(c.optimizer, c.learning_rate)])
             for c in run.cells]
    lo, hi = tuning.peak_range(cells)
    assert 0.93 <= lo < 0.95 and 0.97 < hi < 0.98


# --------------------------------------------------------------------------
# What each dynamics and curve figure must show, read off its Figure
# --------------------------------------------------------------------------

def _grid(fig, rows: int, cols: int) -> np.ndarray:
    """The figure's panels ``[rows, cols]`` (subplots are row-major)."""
    return np.asarray(fig.axes[:rows * cols], dtype=object).reshape(rows,
                                                                    cols)


def _labels(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines()]


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_units_show_inactive_relu_like_and_saturated_sigmoid_tanh():
    acts = ["relu", "sigmoid", "tanh", "leaky_relu", "gelu"]
    run = with_dynamics(synthetic_run(["adam", "sgd"], acts, epochs=3))
    fig = dynamics.draw_units(run)
    grid = _grid(fig, 2, len(acts))
    for j, act in enumerate(acts):
        other = "inactive" if act in ("sigmoid", "tanh") else "saturated"
        shown = "saturated" if other == "inactive" else "inactive"
        assert grid[0, j].get_title() == f"{act}: {shown}"
        for ax in grid[:, j]:
            assert sorted(_labels(ax)) == sorted(
                f"layer {k} {q}_fraction" for k in (1, 2)
                for q in ("dead", shown))
            for line in ax.get_lines():
                want = {"dead": 0.01 * int(line.get_label()[6]),
                        "inactive": 0.5}.get(line.get_label()[8:-9])
                ys = line.get_ydata()
                np.testing.assert_allclose(ys, want if want is not None
                                           else 0.2 + 0.05 * np.arange(1, 4))
            assert ax.get_ylim() == grid[0, 0].get_ylim()  # one 0-1 axis
        assert grid[-1, j].get_xlabel() == "epoch"
    assert grid[1, 0].get_ylabel() == "sgd\nfraction"
    legend = " | ".join(_legend_texts(fig))
    assert "inactive unit-image pairs (ReLU-like: z ≤ 0)" in legend
    assert "saturated unit-image pairs (sigmoid, tanh" in legend


def test_units_never_call_an_old_relu_record_saturated():
    """Records from before the split held ReLU's off side under
    "saturated_fraction": a ReLU panel still shows no saturation."""
    run = with_dynamics(synthetic_run(["adam"], ["relu"], epochs=2))
    old = [r._replace(quantity="saturated_fraction", value=0.7)
           if r.quantity == "inactive_fraction" else r for r in run.dynamics]
    ax = dynamics.draw_units(run._replace(dynamics=old)).axes[0]
    assert sorted(_labels(ax)) == ["layer 1 dead_fraction",
                                   "layer 2 dead_fraction"]


def test_histograms_keep_every_optimizer_visible():
    """Every member's histogram is the same here: each optimizer's line
    still differs in dash or width, each drawn thinner than the one
    before it, so none hides another."""
    opts = ["sgd", "minibatch_sgd", "momentum", "adam", "adagrad"]
    run = with_dynamics(synthetic_run(opts, ["relu", "tanh"], epochs=2))
    fig = probe_arrays.draw_histograms(run)
    for ax in _grid(fig, 2, 2).flat:
        lines = ax.get_lines()
        assert _labels(ax) == opts
        styles = [(line.get_linestyle(), line.get_linewidth())
                  for line in lines]
        assert len(set(styles)) == len(opts)
        widths = [w for _, w in styles]
        assert widths == sorted(widths, reverse=True)
        assert len({line.get_color() for line in lines}) == len(opts)
    assert "after training: minibatch_sgd" in _legend_texts(fig)


def test_sharpness_rows_own_log_scales_and_coloured_thresholds():
    opts = ["sgd", "momentum", "adagrad", "adadelta"]
    run = with_dynamics(synthetic_run(opts, ["relu", "tanh"], epochs=3))
    grid = _grid(dynamics.draw_sharpness(run), 4, 2)
    for i, opt in enumerate(opts):
        assert grid[i, 0].get_ylim() == grid[i, 1].get_ylim()
        lo, hi = grid[i, 0].get_ylim()
        data = [y for ax in grid[i] for line in ax.get_lines()
                for y in line.get_ydata()]
        assert lo <= min(data) and max(data) <= hi
        assert hi / lo < 1e3  # its own decades, not all five
        for ax in grid[i]:
            assert ax.get_yscale() == "log"
            lines = {line.get_label(): line for line in ax.get_lines()}
            factor = 3.8 if opt == "momentum" else 2.0
            threshold = lines.pop(f"threshold {factor:g}/η")
            assert threshold.get_linestyle() == "--"
            np.testing.assert_allclose(threshold.get_ydata(),
                                       factor / 0.01)
            bounded = ("preconditioned_sharpness" if opt in ADAPTIVE
                       else "sharpness")
            assert sorted(lines) == sorted({"sharpness", bounded})
            assert threshold.get_color() == lines[bounded].get_color()
            looks = {(line.get_color(), line.get_marker(),
                      line.get_linestyle()) for line in lines.values()}
            assert len(looks) == len(lines)  # adadelta's lines differ
    assert grid[0, 0].get_ylim() != grid[3, 0].get_ylim()


@pytest.mark.parametrize("by", ["activation", "optimizer"])
def test_curves_panels_share_one_y_axis(by):
    opts, acts = ["adam", "sgd", "momentum"], ["relu", "tanh"]
    run = synthetic_run(opts, acts, epochs=4)
    fig = curves.draw_curves(run, by)
    panels, lines = (acts, opts) if by == "activation" else (opts, acts)
    shown = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in shown] == panels
    assert len({ax.get_ylim() for ax in shown}) == 1
    lo, hi = shown[0].get_ylim()
    for ax in shown:
        assert [x for x in _labels(ax) if x.endswith("validation")] == [
            f"{line} validation" for line in lines]
        late = [y for line in ax.get_lines() if "validation" in
                line.get_label() for y in line.get_ydata()[2:]]
        assert lo <= min(late) and max(late) <= hi
        assert ax.get_ylabel() == "accuracy" and ax.get_xlabel() == "epoch"
    assert "shared by every panel" in fig.get_suptitle()


def test_loss_steps_have_whole_epoch_ticks():
    run = with_dynamics(synthetic_run(["adam", "sgd"], ["relu"], epochs=4),
                        windows=5)
    for ax in _grid(probe_arrays.draw_loss_steps(run), 2, 1).flat:
        assert ax.get_xlim() == (0.5, 4.5)
        ticks = [t for t in ax.get_xticks() if 0.5 <= t <= 4.5]
        assert ticks and all(float(t).is_integer() for t in ticks)
        x = ax.get_lines()[0].get_xdata()
        assert len(x) == 20 and 0.5 < x.min() and x.max() < 4.5


@pytest.mark.slow  # draws and writes every figure of a run
def test_every_dynamics_figure_is_written(tmp_path):
    run = with_dynamics(synthetic_run(["adam", "sgd"], ["relu", "tanh"],
                                      epochs=2))
    paths = figures.write_figures(tmp_path, run)
    assert {*DYNAMICS_FIGURES} <= {p.name for p in paths}
    for name in DYNAMICS_FIGURES:
        w, h = png_size(tmp_path / figures.FIGURES_DIR / name)
        assert 300 < w < 4000 and 200 < h < 4000, (name, w, h)
