"""python -m jaxmnist.predict classifies image files with a saved model."""

import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

import jaxmnist as jm
from jaxmnist.cli import predict as predict_cli
from jaxmnist.cli.predict import describe
from jaxmnist.results.stats import best_member
from jaxmnist.sweep import store
from jaxmnist.sweep.config import read_run


def predict(*args):
    return subprocess.run([sys.executable, "-m", "jaxmnist.predict", *args],
                          capture_output=True, text=True)


@pytest.mark.integration
def test_predict_classifies_test_images_written_as_png(smoke_run, mnist_dirs,
                                                       tmp_path):
    out, _ = smoke_run
    data = jm.load_dataset("mnist", *mnist_dirs)
    model = next((out / "models" / "adam" / "tanh").glob("*"))
    paths, labels = [], data.test_labels[:20]
    for i in range(20):
        img = data.test_images[i].reshape(28, 28)
        if i % 2:  # half of them black ink on white paper, and larger
            img = 255 - np.kron(img, np.ones((3, 3), np.uint8))
        paths.append(str(tmp_path / f"digit{i}.png"))
        Image.fromarray(img).save(paths[-1])
    proc = predict(str(model), *paths)
    assert proc.returncode == 0, proc.stderr[-2000:]
    predicted = [int(line.split(": ")[1].split()[0])
                 for line in proc.stdout.splitlines()]
    hits = sum(p == y for p, y in zip(predicted, labels))
    # a 1-epoch, 2,000-image model: compare with its own hits on the raw
    # 28x28 arrays, so this checks the image pipeline, not the model
    params, meta = jm.load_model(model)
    raw = np.asarray(jm.class_probabilities(params, meta["activation"],
                                            data.test_images[:20])).argmax(1)
    raw_hits = int((raw == labels).sum())
    assert hits >= raw_hits - 2, (hits, raw_hits, predicted, labels)


@pytest.mark.integration
def test_predict_rejects_a_non_image(smoke_run, tmp_path):
    out, _ = smoke_run
    model = next((out / "models" / "adam" / "tanh").glob("*"))
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    proc = predict(str(model), str(bad))
    assert proc.returncode == 2
    assert "is not a readable image" in proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.integration
def test_predict_takes_a_run_dir_and_uses_its_best_model(smoke_run, tmp_path):
    out, _ = smoke_run
    best = best_member(read_run(out).members)
    assert best is not None
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((40, 30), 230, np.uint8)).save(blank)
    one = tmp_path / "one.png"
    img = np.full((60, 40), 220, np.uint8)
    img[10:50, 18:23] = 30  # a dark "1" on light paper
    Image.fromarray(img).save(one)
    proc = predict(str(out), str(one), str(blank))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"best by validation accuracy: {best.name}, lr " in proc.stderr
    assert f"lr{best.learning_rate:g}-seed{best.seed}" in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{one}: ") and "probability" in lines[0]
    assert lines[1] == f"{blank}: no digit found (nothing stands out from " \
        "the background)"


def test_describe_marks_uncertain_predictions():
    names = ("T-shirt/top", "Trouser", "Pullover")
    p = np.asarray([0.62, 0.3, 0.08])
    assert describe("a.png", p, names, 0.8) == (
        "a.png: T-shirt/top (probability 0.620; uncertain, next Trouser at "
        "0.300)")
    assert describe("a.png", p, names, 0.6) == \
        "a.png: T-shirt/top (probability 0.620)"
    assert describe("b.png", None, names, 0.8, "item").startswith(
        "b.png: no item found")


@pytest.mark.slow  # a CLI subprocess
def test_predict_without_a_model(tmp_path):
    proc = predict(str(tmp_path / "nothing"), "x.png")
    assert proc.returncode == 2 and "no model at" in proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.slow
def test_each_image_gets_a_result_or_one_error_line(tmp_path, capsys):
    """Unreadable images among good ones: each good one classified, each
    bad one one error line saying why, in order; exit status 2."""
    model = tmp_path / "model"
    store.save_model(model, jm.init_mlp(jax.random.key(0)),
                     {"activation": "relu", "dataset": "mnist"})
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    Image.fromarray(digit).save(tmp_path / "one.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "blank.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not an image")
    png = (tmp_path / "one.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(png[:len(png) // 2])
    (tmp_path / "folder.png").mkdir()
    names = ["one.png", "empty.png", "blank.png", "notes.png", "missing.png",
             "cut.png", "folder.png"]
    paths = [str(tmp_path / n) for n in names]
    assert predict_cli.main([str(model), *paths]) == 2
    out, err = capsys.readouterr()
    results = out.splitlines()
    assert [r.split(": ")[0] for r in results] == [paths[0], paths[2]]
    assert results[0].split(": ")[1].split()[0] in "0123456789"
    assert results[1] == f"{paths[2]}: no digit found (nothing stands out " \
        f"from the background)"
    q = [repr(p) for p in paths]
    assert err.splitlines() == [
        f"jaxmnist.predict: error: image {q[1]} is an empty file (0 bytes)",
        f"jaxmnist.predict: error: {q[3]} is not a readable image (no image "
        f"format recognised)",
        f"jaxmnist.predict: error: image {q[4]} does not exist",
        f"jaxmnist.predict: error: {q[5]} is not a readable image (image "
        f"file is truncated)",
        f"jaxmnist.predict: error: image {q[6]} is a folder, not a file"]
    assert predict_cli.main([str(model), paths[0], paths[2]]) == 0
