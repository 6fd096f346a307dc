"""python -m jaxmnist.plot redraws a run from its files; the report CLIs'
--help."""

import importlib

import pytest

from helpers import event_scalars, synthetic_run
from jaxmnist import files
from jaxmnist.cli.plot import main
from jaxmnist.report import tensorboard
from jaxmnist.report.figures import FIGURES
from jaxmnist.results import records
from jaxmnist.sweep.config import to_toml


def write_run(path):
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=2)
    records.write_results(path, run)
    files.write_text(path / "config.toml", to_toml(run.config))
    return run


def test_plot_cli_redraws_a_run(tmp_path):
    write_run(tmp_path)
    assert main([str(tmp_path)]) == 0
    for f in FIGURES[:5]:
        assert (tmp_path / "figures" / f).is_file()
    summary = (tmp_path / "summary.md").read_text()
    assert "95% CI" in summary and "![heatmap](figures/heatmap.png)" in summary
    assert not (tmp_path / tensorboard.TENSORBOARD_DIR).exists()


def test_plot_cli_writes_tensorboard_events(tmp_path):
    run = write_run(tmp_path)
    assert main([str(tmp_path), "--tensorboard"]) == 0
    events = sorted((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    assert len(events) == len(run.members) + 1 == 9  # and the experiment
    m = run.members[0]
    (path,) = tensorboard.member_dir(tmp_path, m).iterdir()
    val = {step: v for (tag, step), v in event_scalars(path).items()
           if tag == "accuracy/val"}
    want = {h.epoch: h.val_accuracy for h in run.history
            if (h.optimizer, h.activation, h.seed) == (m.optimizer,
                                                         m.activation, m.seed)}
    assert val.keys() == want.keys()
    assert all(abs(val[e] - want[e]) < 1e-7 for e in want)


def test_plot_cli_on_a_non_run(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "not a finished run dir" in capsys.readouterr().err


@pytest.mark.parametrize("command, shown", [
    ("evaluate", ["RUN_DIR", "a finished run directory", "--member OPT/ACT"]),
    ("predict", ["MODEL", "a finished run directory", "(default: 0.8)"]),
    ("plot", ["RUN_DIR", "a finished run directory", "--tensorboard"]),
    ("bench", ["(default: 1,4,24)", "(default: 3)"]),
])
def test_help_shows_defaults_and_explains_arguments(command, shown, capsys):
    cli = importlib.import_module(f"jaxmnist.cli.{command}")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for want in shown:
        assert want in " ".join(text.split()), want
    assert "``" not in text and "(default: None)" not in text
    assert f"python -m jaxmnist.{command}" in text.splitlines()[0]
