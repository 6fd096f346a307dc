"""The learning-rate range test: its rates, smoothing and suggestions."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmnist as jm
from helpers import synthetic_run
from jaxmnist.core import lrfind
from jaxmnist.lrfind import run_lr_find, write_lr_find
from jaxmnist.optim.registry import get_spec, make_optimizer
from jaxmnist.report.lrfind import plot_lr_find
from jaxmnist.results.lrfind import (
    LrFindRow,
    LrGrade,
    LrSuggestion,
    grade,
    verdict,
)
from jaxmnist.results.records import read_csv, write_results
from jaxmnist.sweep.config import to_toml

CURVATURES = np.asarray([8.0, 3.0, 1.0, 0.5])  # L = 8: GD diverges above 2/L


def _quadratic(params, batch):
    del batch
    return 0.5 * jnp.sum(jnp.asarray(CURVATURES, jnp.float32)
                         * params["x"] ** 2)


def test_rates_grow_by_one_factor_from_start_to_end():
    rates = np.asarray(lrfind.exponential_rates(1e-4, 10.0, 11))
    np.testing.assert_allclose(rates[[0, -1]], [1e-4, 10.0], rtol=1e-6)
    np.testing.assert_allclose(rates[1:] / rates[:-1], 10 ** 0.5, rtol=1e-5)


def test_smooth_is_the_bias_corrected_average():
    np.testing.assert_allclose(lrfind.smooth(np.full(50, 3.0)), 3.0,
                               rtol=1e-12)
    x = np.asarray([1.0, 2.0])
    expected = (0.98 * 0.02 * 1 + 0.02 * 2) / (1 - 0.98 ** 2)
    assert np.isclose(lrfind.smooth(x)[1], expected, rtol=1e-12)


def test_range_test_on_a_quadratic_suggests_a_rate_below_two_over_l():
    lipschitz = float(CURVATURES.max())
    steps = 200
    rates = lrfind.exponential_rates(1e-3 / lipschitz, 100 / lipschitz,
                                     steps)
    tx = make_optimizer("minibatch_sgd", lrfind.rate_schedule(rates))
    params = {"x": jnp.ones(4, jnp.float32)}
    losses = np.asarray(lrfind.range_test(_quadratic, params, tx,
                                          jnp.zeros(steps)))
    found = lrfind.suggestions(np.asarray(rates), lrfind.smooth(losses))
    # the test ran into divergence, past 2/L, and stopped there
    assert found.diverged_step < steps
    assert float(rates[found.diverged_step]) > 2 / lipschitz
    for rate in (found.steepest, found.minimum_tenth):
        assert float(rates[0]) < rate < 2 / lipschitz


def test_a_test_that_diverges_at_once_suggests_nothing():
    found = lrfind.suggestions(np.geomspace(1e-3, 1.0, 30),
                               np.r_[1.0, np.full(29, np.inf)])
    assert np.isnan(found.steepest) and np.isnan(found.minimum_tenth)
    assert found.diverged_step == 1


def test_model_range_test_vmaps_over_activations(tiny_data):
    config = jm.TrainConfig(optimizer="adam", activations=("relu", "tanh"),
                            batch_size=16, sizes=(784, 16, 10))
    steps = 30
    test = lrfind.make_range_test(config, steps, 256)
    # small rates: float32 rounding stays small (large ones amplify it)
    rates = lrfind.exponential_rates(1e-5, 1e-3, steps)
    acts = jnp.asarray([jm.activation_index(a) for a in ("relu", "tanh")])
    keys = jax.vmap(lambda s: jax.random.key(s))(jnp.arange(2))
    both = jax.jit(jax.vmap(test, in_axes=(0, 0, None, None)))(
        keys, acts, rates, tiny_data)
    alone = jax.jit(test)(keys[1], acts[1], rates, tiny_data)
    assert both.shape == (2, steps)
    np.testing.assert_allclose(both[1], alone, rtol=1e-5)


def test_generic_range_test_vmapped_equals_alone_in_float64():
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        def run(start):
            rates = start * jnp.geomspace(1.0, 1e4, 40)
            tx = make_optimizer("momentum", lrfind.rate_schedule(rates))
            return lrfind.range_test(
                lambda p, b: 0.5 * jnp.sum(jnp.asarray(CURVATURES) * p ** 2)
                + b, jnp.ones(4), tx, jnp.linspace(0.0, 1.0, 40))
        starts = jnp.asarray([1e-4, 1e-3, 3e-3])
        together = jax.vmap(run)(starts)
        for i in range(3):
            np.testing.assert_allclose(together[i], run(starts[i]),
                                       rtol=1e-10)


def test_grade_puts_each_suggestion_on_the_tuned_grid():
    run = synthetic_run(["adam"], ["relu", "tanh"], seeds=2,
                        lrs=(1e-4, 1e-3, 1e-2))
    chosen = {c.activation: c for c in run.cells if c.chosen}
    val = {(c.activation, c.learning_rate): c.val_mean for c in run.cells}
    found = [LrSuggestion("adam", "relu", 2.5e-3, 2e-5, 300),
             LrSuggestion("adam", "tanh", float("nan"), 8e-3, 120),
             LrSuggestion("sgd", "relu", 1e-2, 1e-3, 300)]  # not in the run
    grades = grade(found, run.cells)
    assert [(g.optimizer, g.activation) for g in grades] == [
        ("adam", "relu"), ("adam", "tanh")]
    relu, tanh = grades
    assert relu.tried == "0.0001;0.001;0.01"
    assert (relu.steepest_nearest, relu.minimum_tenth_nearest) == (1e-3, 1e-4)
    assert relu.steepest_val == val["relu", 1e-3]
    assert relu.chosen_lr == chosen["relu"].learning_rate
    assert np.isnan(tanh.steepest_nearest) and tanh.minimum_tenth_nearest \
        == 1e-2
    assert "in 2 of 2" in verdict([relu._replace(
        steepest_nearest=relu.chosen_lr, steepest_val=relu.chosen_val)] * 2)


def test_steepest_descent_is_sought_before_the_minimum():
    rates = np.geomspace(1e-4, 1e2, 200)
    x = np.log10(rates)
    # a fall centred at 1e-2 down to a minimum at 1e-1, then a spike whose
    # fall (at 3) is steeper, below 4x the minimum
    smoothed = 2.0 - np.tanh(2 * (x + 2)) * 0.5 + np.where(x > -1, x + 1, 0)
    smoothed -= np.where(x > 0.5, 20 * (x - 0.5), 0) * (x < 0.52)
    found = lrfind.suggestions(rates, smoothed)
    low = rates[int(np.argmin(smoothed))]
    assert found.steepest < low
    np.testing.assert_allclose(found.steepest, 1e-2, rtol=0.1)
    assert found.minimum_tenth == low / 10


@pytest.mark.slow
def test_cli_writes_the_tests_and_grades_them(mnist_dirs, tmp_path):
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    run = synthetic_run(["adam"], ["relu", "tanh"], seeds=2,
                        lrs=(1e-4, 1e-3, 1e-2))
    write_results(tuned, run)
    (tuned / "config.toml").write_text(to_toml(run.config))
    out = tmp_path / "lr"
    cmd = [sys.executable, "-m", "jaxmnist.lrfind", "--compare-with",
           str(tuned), "--steps", "60", "--manual-dir", mnist_dirs[0],
           "--data-dir", mnist_dirs[1], "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_csv(out / "lr_find.csv", LrFindRow)
    assert len(rows) == 2 * 60  # adam x (relu, tanh), from the tuned run
    grades = read_csv(out / "lr_find_grading.csv", LrGrade)
    assert [g.activation for g in grades] == ["relu", "tanh"]
    assert "| adam | relu |" in proc.stdout
    assert (out / "lr_find.png").is_file()
    bad = subprocess.run(cmd + ["--low", "1", "--high", "0.5"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


def test_the_range_tests_of_a_grid_write_their_files_and_figure(tiny_data,
                                                                 tmp_path):
    """Every optimizer x activation gets ``steps`` rows whose rates grow from
    ``low`` to ``high`` times its default rate, one suggestion each, and
    the CSVs and the figure are written (synthetic data: fast)."""
    found = run_lr_find(("adam", "momentum"), ("relu", "tanh"), tiny_data,
                        steps=20, low=1e-2, high=10.0)
    assert len(found.rows) == 2 * 2 * 20
    assert {(s.optimizer, s.activation) for s in found.suggestions} == {
        (o, a) for o in ("adam", "momentum") for a in ("relu", "tanh")}
    for o in ("adam", "momentum"):
        rates = [r.learning_rate for r in found.rows
                 if r.optimizer == o and r.activation == "relu"]
        base = get_spec(o).learning_rate
        np.testing.assert_allclose([rates[0], rates[-1]],
                                   [base * 1e-2, base * 10.0], rtol=1e-6)
    write_lr_find(tmp_path, found)
    plot_lr_find(found.rows, found.suggestions, tmp_path / "lr_find.png")
    for name in ("lr_find.csv", "lr_find_suggestions.csv", "lr_find.png"):
        assert (tmp_path / name).stat().st_size > 0, name
