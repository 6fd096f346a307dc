"""The sweep's command line: bad input is one line and exit status 2."""

import pytest

from jaxmnist import sweep
from jaxmnist.sweep_config import (SweepConfig, config_from_args, read_toml,
                                   to_toml)

BAD = [
    (["--activations", "relu,rleu"], "unknown activation 'rleu' (did you mean 'relu'?)"),
    (["--optimizers", "adam,adamw"], "unknown optimizer 'adamw'"),
    (["--dataset", "cifar10"], "unknown dataset 'cifar10'"),
    (["--implementation", "torch"], "unknown implementation 'torch'"),
    (["--schedule", "cosin"], "did you mean 'cosine'"),
    (["--epochs", "0"], "epochs must be a positive integer, got 0"),
    (["--seeds", "-1"], "seeds must be a positive integer, got -1"),
    (["--batch-size", "0"], "batch_size must be a positive integer, got 0"),
    (["--epochs", "ten"], "invalid int value: 'ten'"),
    (["--learning-rates", "adam=-0.1"], "must be positive and finite, got -0.1"),
    (["--learning-rates", "adam=0"], "must be positive and finite, got 0.0"),
    (["--learning-rates", "adam=nan"], "must be positive and finite, got nan"),
    (["--learning-rates", "adma=0.1"], "unknown optimizer 'adma'"),
    (["--learning-rates", "adam"], "must look like OPTIMIZER=RATE"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--target", "1.5"], "target must be an accuracy in (0, 1], got 1.5"),
    (["--seeds", "0"], "seeds must be a positive integer, got 0"),
    (["--manual-dir", "/nonexistent/mnist"],
     "manual dir '/nonexistent/mnist' does not exist"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys, tmp_path):
    code = sweep.main([*argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("jaxmnist.sweep: error:")
    assert not (tmp_path / "run" / "results.csv").exists()


@pytest.mark.parametrize("text,message", [
    ('epochs = 3\nlearning_rate = 0.1\n',
     "unknown config key 'learning_rate' (did you mean 'learning_rates'?)"),
    ('epochs = "3"\n', "epochs must be an integer, got '3'"),
    ('activations = "relu"\nepochs = [\n', "is not valid TOML"),
    ('activations = [1, 2]\n', "activations must be a list of names"),
    ('[learning_rates]\nadam = "fast"\n', "learning rate 'fast' for adam"),
    ('[tuning]\npoints = 5\nspan = 3\n', "unknown [tuning] key 'span'"),
    ('[tuning]\nfactor = 0.5\n', "tuning factor must be > 1, got 0.5"),
    ('[tuning]\nenabled = "yes"\n', "tune_lr must be true or false"),
])
def test_bad_toml(text, message, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert sweep.main([str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_toml(tmp_path, capsys):
    assert sweep.main([str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert sweep.main(["--out", str(blocker / "run")]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_defaults_are_the_classic_grid():
    cfg, _ = config_from_args([])
    assert cfg.activations == ("relu", "sigmoid", "tanh", "leaky_relu")
    assert cfg.optimizers == ("sgd", "minibatch_sgd", "momentum", "adam",
                              "adagrad", "adadelta")
    assert cfg.epochs == 10 and cfg.seeds == 1
    assert cfg.batch_size_for("sgd") == 1
    assert cfg.batch_size_for("adam") == 128


def test_command_line_overrides_toml(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('epochs = 3\noptimizers = ["adam"]\n'
                    '[learning_rates]\nadam = [0.001, 0.003]\n')
    cfg, _ = config_from_args([str(path), "--epochs", "5", "--batch-size", "64"])
    assert cfg.epochs == 5 and cfg.optimizers == ("adam",)
    assert cfg.lrs_for("adam") == (0.001, 0.003)
    assert cfg.batch_size_for("adam") == 64 and cfg.batch_size_for("sgd") == 1
    cli, _ = config_from_args(["--learning-rates", "sgd=0.1,sgd=0.2"])
    assert cli.lrs_for("sgd") == (0.1, 0.2)
    assert cli.lrs_for("adam") == (0.001,)  # registry default


def test_config_toml_round_trip(tmp_path):
    cfg = SweepConfig(activations=("relu", "gelu"), epochs=2, name='a "b"',
                      learning_rates=(("adam", (0.001, 0.01)),),
                      train_subset=100)
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    assert SweepConfig(**read_toml(path)) == cfg


@pytest.mark.parametrize("name", ["classic", "keras3x3", "smoke"])
def test_shipped_sweeps_parse(name):
    from conftest import ROOT
    cfg, _ = config_from_args([str(ROOT / "sweeps" / f"{name}.toml")])
    assert cfg.optimizers and cfg.activations


def test_unreadable_toml(tmp_path, capsys):
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    assert sweep.main([str(folder)]) == 2
    assert "cannot be read" in capsys.readouterr().err


@pytest.mark.parametrize("module,argv,message", [
    ("evaluate", ["{tmp}/nothing"], "is not a finished run dir"),
    ("predict", ["{tmp}/nothing", "x.png"], "no model at"),
])
def test_evaluate_and_predict_bad_paths(module, argv, message, tmp_path):
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, "-m", f"jaxmnist.{module}",
         *[a.format(tmp=tmp_path) for a in argv]],
        capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr
    assert proc.stderr.count("\n") == 1
