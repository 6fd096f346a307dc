"""The package: explicit public API, light imports, every entry point."""

import subprocess
import sys

import pytest

import jaxmnist as jm


def test_public_api():
    for name in ("make_train", "make_init", "make_epoch", "TrainConfig",
                 "HParams", "make_hparams", "stack_hparams", "Dataset",
                 "load_dataset", "make_dataset", "init_mlp", "logits", "loss",
                 "accuracy", "class_probabilities", "load_model",
                 "ACTIVATIONS", "OPTIMIZERS", "activation_index",
                 "expected_max"):
        assert hasattr(jm, name), name
    assert jm.__version__


def test_import_stays_light():
    code = ("import sys, jaxmnist, jaxmnist.sweep.config; print(sorted("
            "m for m in ('tensorflow', 'matplotlib', 'orbax', "
            "'tensorflow_datasets', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["sweep", "evaluate", "predict", "plot",
                                     "compare", "bench"])
def test_every_command_has_help(command):
    proc = subprocess.run([sys.executable, "-m", f"jaxmnist.{command}",
                           "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m jaxmnist.")
    assert "``" not in proc.stdout and "--debug" in proc.stdout
