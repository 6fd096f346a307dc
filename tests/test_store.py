"""Saved models: orbax parameters plus metadata.json, one-line errors."""

import jax
import pytest

import jaxmnist as jm
from helpers import tree_allclose
from jaxmnist.results.members import Member, member_path
from jaxmnist.sweep import store


def test_save_load_round_trip(tmp_path, tiny_data):
    params = jm.init_mlp(jax.random.key(0))
    meta = {"activation": "tanh", "activation_index": 2, "dataset": "mnist",
            "metrics": {"test_accuracy": 0.5, "val_loss": float("nan"),
                        "target_epoch": None}}
    store.save_model(tmp_path / "m", params, meta)
    loaded, got = jm.load_model(tmp_path / "m")
    tree_allclose(params, loaded)
    assert got["activation"] == "tanh" and got["metrics"]["val_loss"] is None
    assert got["format"] == store.FORMAT
    x = tiny_data.test_images
    tree_allclose(jm.class_probabilities(params, "tanh", x),
                  jm.class_probabilities(loaded, 2, x))


def test_member_path():
    classic = Member("adam", "relu", 0.001, 2)
    p = member_path("run", classic)
    assert p.as_posix() == "run/models/adam/relu/lr0.001-seed2"
    other = classic._replace(model="cnn", batch_norm=True, dropout=0.2,
                             weight_decay=1e-4, optimizer_options="b2=0.99")
    assert member_path("run", other).as_posix() == \
        "run/models/adam-cnn-bn/relu/lr0.001-do0.2-wd0.0001-b2=0.99-seed2"


def test_load_model_errors(tmp_path):
    with pytest.raises(ValueError, match="metadata.json missing"):
        jm.load_model(tmp_path / "nothing")
    params = jm.init_mlp(jax.random.key(0), (4, 3))
    store.save_model(tmp_path / "m", params, {"activation": "relu"})
    (tmp_path / "m" / "metadata.json").write_text("{not json")
    with pytest.raises(ValueError, match="is corrupt"):
        jm.load_model(tmp_path / "m")
    store.save_model(tmp_path / "m2", params, {"activation": "relu"})
    for f in (tmp_path / "m2" / "params").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read"):
        jm.load_model(tmp_path / "m2")
