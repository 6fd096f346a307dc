"""python -m jaxmnist.predict classifies image files with a saved model."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import jaxmnist as jm


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


def test_predict_without_a_model(tmp_path):
    proc = predict(str(tmp_path / "nothing"), "x.png")
    assert proc.returncode == 2 and "no model at" in proc.stderr
    assert proc.stderr.count("\n") == 1
