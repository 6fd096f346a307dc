"""Figures from synthetic results, saved models, the plot CLI."""

import math
import struct

import jax
import numpy as np
import pytest

import jaxmnist as jm
from jaxmnist import models, plots, report
from jaxmnist.errors import UsageError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def synthetic_run(optimizers, activations, seeds=1, epochs=4, nan_cell=None,
                  lrs=(0.01,)):
    rng = np.random.default_rng(0)
    rows, history = [], []
    for o in optimizers:
        for a in activations:
            for lr in lrs:
                for s in range(seeds):
                    base = 0.9 + 0.08 * rng.random()
                    div = (o, a) == nan_cell
                    curve = [base - 0.1 / (e + 1) for e in range(epochs)]
                    for e in range(epochs):
                        bad = div and e >= 1
                        history.append(dict(
                            optimizer=o, activation=a, learning_rate=lr,
                            seed=s, epoch=e + 1,
                            train_loss=math.nan if bad else 1 / (e + 1),
                            train_accuracy=curve[e] - 0.01,
                            val_loss=1.2 / (e + 1), val_accuracy=curve[e],
                            test_loss=1.2 / (e + 1), test_accuracy=curve[e],
                            diverged=bad))
                    rows.append(dict(
                        optimizer=o, activation=a, learning_rate=lr, seed=s,
                        train_accuracy=curve[-1], val_accuracy=curve[-1],
                        test_accuracy=curve[-1], train_loss=0.1, val_loss=0.1,
                        test_loss=0.1, epochs_to_best_val=epochs,
                        diverged_epoch=2 if div else "", seconds=1.0))
    return rows, history


CASES = {
    "one_cell": dict(optimizers=["adam"], activations=["relu"]),
    "8x7": dict(optimizers=list(jm.OPTIMIZERS), activations=list(jm.ACTIVATIONS)),
    "seeds": dict(optimizers=["adam", "sgd"], activations=["relu", "tanh"],
                  seeds=3),
    "diverged": dict(optimizers=["adam", "sgd"], activations=["relu", "tanh"],
                     seeds=2, nan_cell=("sgd", "tanh")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_figures_are_valid_pngs(case, tmp_path):
    rows, history = synthetic_run(**CASES[case])
    out = tmp_path
    plots.plot_curves(history, rows, out / "a.png", "activation")
    plots.plot_curves(history, rows, out / "o.png", "optimizer")
    plots.plot_loss_curves(history, rows, out / "l.png")
    plots.plot_test_bar(rows, out / "b.png")
    plots.plot_heatmap(rows, out / "h.png")
    for name in "aolbh":
        w, h = png_size(out / f"{name}.png")
        assert 300 < w < 4000 and 200 < h < 4000, (name, w, h)
    n_cells = len(CASES[case]["optimizers"]) * len(CASES[case]["activations"])
    # the bar chart grows with the number of cells, so labels never overlap
    assert png_size(out / "b.png")[1] >= 20 * n_cells


def test_confusion_and_misclassified(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    pred = np.where(rng.random(500) < 0.9, y, (y + 1) % 10)
    plots.plot_confusion(y, pred, tmp_path / "c.png", "t")
    wrong = np.flatnonzero(pred != y)
    imgs = rng.integers(0, 255, (len(wrong), 784), dtype=np.uint8)
    plots.plot_misclassified(imgs, y[wrong], pred[wrong],
                             rng.random(len(wrong)), tmp_path / "m.png")
    plots.plot_misclassified(imgs[:0], y[:0], pred[:0], np.zeros(0),
                             tmp_path / "none.png")
    for n in ("c", "m", "none"):
        assert png_size(tmp_path / f"{n}.png")[0] > 200


def test_plot_cli_redraws_a_run(tmp_path):
    from jaxmnist import files, results
    from jaxmnist.plot import main
    from jaxmnist.sweep_config import SweepConfig, to_toml

    rows, history = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=2)
    files.write_csv(tmp_path / "results.csv", results.RESULT_COLUMNS, rows)
    files.write_csv(tmp_path / "history.csv", results.HISTORY_COLUMNS, history)
    files.write_text(tmp_path / "config.toml", to_toml(SweepConfig(seeds=2)))
    assert main([str(tmp_path)]) == 0
    for f in report.FIGURES[:5]:
        assert (tmp_path / "figures" / f).is_file()
    summary = (tmp_path / "summary.md").read_text()
    assert "95% CI" in summary and "![heatmap](figures/heatmap.png)" in summary


def test_plot_cli_on_a_non_run(tmp_path, capsys):
    from jaxmnist.plot import main
    assert main([str(tmp_path)]) == 2
    assert "not a finished run dir" in capsys.readouterr().err


def test_save_load_round_trip(tmp_path, tiny_data):
    params = jm.init_mlp(jax.random.key(0))
    meta = {"activation": "tanh", "activation_index": 2, "dataset": "mnist",
            "metrics": {"test_accuracy": 0.5, "val_loss": float("nan")}}
    models.save_model(tmp_path / "m", params, meta)
    loaded, got = jm.load_model(tmp_path / "m")
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(loaded)):
        np.testing.assert_array_equal(np.asarray(a), b)
    assert got["activation"] == "tanh" and got["metrics"]["val_loss"] is None
    x = tiny_data.test_images
    np.testing.assert_array_equal(jm.predict(params, "tanh", x),
                                  jm.predict(loaded, 2, x))


def test_load_model_errors(tmp_path):
    with pytest.raises(UsageError, match="metadata.json missing"):
        jm.load_model(tmp_path / "nothing")
    params = jm.init_mlp(jax.random.key(0), (4, 3))
    models.save_model(tmp_path / "m", params, {"activation": "relu"})
    (tmp_path / "m" / "metadata.json").write_text("{not json")
    with pytest.raises(UsageError, match="is corrupt"):
        jm.load_model(tmp_path / "m")
    models.save_model(tmp_path / "m2", params, {"activation": "relu"})
    for f in (tmp_path / "m2" / "params").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    with pytest.raises(UsageError, match="cannot be read"):
        jm.load_model(tmp_path / "m2")


def test_best_member_never_picks_diverged():
    rows, _ = synthetic_run(["adam", "sgd"], ["relu"], nan_cell=("sgd", "relu"))
    for r in rows:
        if r["optimizer"] == "sgd":
            r["val_accuracy"] = 0.999
    assert report.best_member(rows)["optimizer"] == "adam"


def test_to_mnist_normalises_any_digit_image():
    from jaxmnist.images import to_mnist
    img = np.ones((100, 60))  # black "1" on white paper, off-centre
    img[10:90, 5:15] = 0.0
    out = to_mnist(img).reshape(28, 28).astype(float)
    assert out.max() > 200 and out[0].max() == 0  # white on black, margin
    yy, xx = np.indices(out.shape)
    assert abs((yy * out).sum() / out.sum() - 13.5) <= 1
    assert abs((xx * out).sum() / out.sum() - 13.5) <= 1
    ys = np.nonzero(out.max(1) > 0)[0]
    assert 18 <= ys.max() - ys.min() + 1 <= 22  # fitted to a 20-pixel box


def test_atomic_writes_leave_readable_files_and_no_temporaries(tmp_path):
    import os
    from jaxmnist import files
    files.write_text(tmp_path / "a" / "x.txt", "hello")
    assert (tmp_path / "a" / "x.txt").read_text() == "hello"
    mask = os.umask(0)
    os.umask(mask)
    # as open() would make it, not mkstemp's 0600
    assert os.stat(tmp_path / "a" / "x.txt").st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.txt"]
