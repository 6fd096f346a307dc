"""The package: explicit public API and light imports (every entry point's
``--help``: tests/test_entry_points.py)."""

import importlib.metadata
import subprocess
import sys

import jaxmnist as jm


def test_public_api():
    """The names the README and docs use are exported, each documented and
    defined inside jaxmnist (not a third party's object re-exported)."""
    for name in ("make_train", "make_init", "make_epoch", "TrainConfig",
                 "HParams", "make_hparams", "stack_hparams", "Dataset",
                 "load_dataset", "make_dataset", "init_mlp", "logits", "loss",
                 "accuracy", "class_probabilities", "load_model",
                 "activation_index", "expected_max"):
        obj = getattr(jm, name)
        assert obj.__module__.startswith("jaxmnist."), name
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
    assert set(jm.ACTIVATIONS) >= {"relu", "sigmoid", "tanh", "leaky_relu"}
    assert set(jm.OPTIMIZERS) >= {"sgd", "minibatch_sgd", "momentum", "adam",
                                  "adagrad", "adadelta"}
    assert jm.__version__ == importlib.metadata.version("jaxmnist")


def test_import_stays_light():
    code = ("import sys, jaxmnist, jaxmnist.sweep.config; print(sorted("
            "m for m in ('tensorflow', 'matplotlib', 'orbax', "
            "'tensorflow_datasets', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
