"""python -m jaxmnist.plot redraws a run from its files."""

from helpers import synthetic_run
from jaxmnist import files
from jaxmnist.cli.plot import main
from jaxmnist.report.figures import FIGURES
from jaxmnist.results import records
from jaxmnist.sweep.config_file import to_toml


def test_plot_cli_redraws_a_run(tmp_path):
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=2)
    records.write_results(tmp_path, run)
    files.write_text(tmp_path / "config.toml", to_toml(run.config))
    assert main([str(tmp_path)]) == 0
    for f in FIGURES[:5]:
        assert (tmp_path / "figures" / f).is_file()
    summary = (tmp_path / "summary.md").read_text()
    assert "95% CI" in summary and "![heatmap](figures/heatmap.png)" in summary


def test_plot_cli_on_a_non_run(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "not a finished run dir" in capsys.readouterr().err
