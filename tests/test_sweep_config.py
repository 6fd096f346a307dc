"""SweepConfig: one declaration per field drives TOML, flags, checks, resume."""

import dataclasses

import pytest

from helpers import ROOT
from jaxmnist.cli.sweep import build_parser, config_from_args
from jaxmnist.sweep import config as C
from jaxmnist.sweep.config import SweepConfig, read_toml, to_toml


def test_defaults_are_the_classic_grid():
    cfg = SweepConfig()
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
    cfg, _ = config_from_args([str(path), "--epochs", "5", "--batch-size",
                               "64"])
    assert cfg.epochs == 5 and cfg.optimizers == ("adam",)
    assert cfg.lrs_for("adam") == (0.001, 0.003)
    assert cfg.batch_size_for("adam") == 64 and cfg.batch_size_for("sgd") == 1
    cli, _ = config_from_args(["--learning-rates", "sgd=0.1,sgd=0.2"])
    assert cli.lrs_for("sgd") == (0.1, 0.2)
    assert cli.lrs_for("adam") == (0.001,)  # registry default


def test_tuning_grid_around_the_default():
    cfg = SweepConfig(tune_lr=True)
    assert cfg.lrs_for("adam") == (1.11111e-4, 3.33333e-4, 0.001, 0.003,
                                   0.009)


def test_config_toml_round_trip(tmp_path):
    cfg = SweepConfig(activations=("relu", "gelu"), epochs=2, name='a "b"',
                      learning_rates=(("adam", (0.001, 0.01)),),
                      train_subset=100, tune_lr=True, tune_factor=2.0,
                      hidden=((128, 64), (256,)), batch_norm=(False, True),
                      dropout=(0.0, 0.2), weight_decay=(1e-4,),
                      model=("mlp", "cnn"), optimizer_options=(
                          ("adam", (("b2", (0.99, 0.999)),)),
                          ("momentum", (("momentum", (0.8,)),))))
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    assert SweepConfig(**read_toml(path)) == cfg


@pytest.mark.parametrize("name", sorted(
    p.stem for p in (ROOT / "sweeps").glob("*.toml")))
def test_shipped_sweeps_parse(name):
    cfg, _ = config_from_args([str(ROOT / "sweeps" / f"{name}.toml")])
    assert cfg.optimizers and cfg.activations


def test_every_field_has_a_flag_a_toml_key_and_help():
    """Adding a field is all it takes: the flag and the TOML key follow."""
    parser = build_parser()
    flags = {a.dest: a for a in parser._actions}
    for name in C.FIELDS:
        assert name in flags, name
        assert C.declared(name).help, name
    text = parser.format_help()
    assert "--train-subset N" in text and "(default: 10)" in text


def test_groups_are_built_from_the_config():
    cfg = SweepConfig(activations=("relu", "tanh"), optimizers=("sgd", "adam"),
                      seeds=2, learning_rates=(("adam", (1e-3, 3e-3)),))
    sgd, adam = cfg.groups()
    assert sgd.config.batch_size == 1 and adam.config.batch_size == 128
    assert [(c.activation, c.learning_rate) for c in adam.cells] == [
        ("relu", 1e-3), ("relu", 3e-3), ("tanh", 1e-3), ("tanh", 3e-3)]
    assert [m.seed for m in adam.members] == [0] * 4 + [1] * 4


def test_only_numeric_fields_block_a_resume():
    a = SweepConfig(out="x", manual_dir="/a", name="n")
    b = dataclasses.replace(a, out="y", manual_dir="/b", name="m")
    assert C.differences(a, b) == []
    c = dataclasses.replace(a, epochs=3)
    assert C.differences(a, c) == ["epochs: 10 -> 3"]
    assert set(C.numeric_fields()) >= {"epochs", "seeds", "learning_rates",
                                       "dataset", "target"}
    assert not {"out", "name", "manual_dir", "data_dir"} & set(
        C.numeric_fields())


@pytest.mark.parametrize("kwargs,message", [
    (dict(activations=()), "no activations given"),
    (dict(optimizers=("adam", "adam")), "optimizer 'adam' is listed twice"),
    # one member twice: its chunks would fill one slot and leave the other
    (dict(learning_rates=(("adam", (1e-3, 0.001)),)),
     "learning_rates for adam lists a value twice"),
    (dict(epochs=1.5), "epochs must be an integer, got 1.5"),
    (dict(val_size=-1), "val_size must be >= 0, got -1"),
    (dict(tune_points=0), "tune_points must be a positive integer, got 0"),
    # two values the results would name alike ("0.999999"): one member key
    (dict(optimizer_options=(("adam", (("b2", (0.9999991, 0.9999992)),)),)),
     "adam.b2 lists a value twice"),
])
def test_library_construction_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SweepConfig(**kwargs)
