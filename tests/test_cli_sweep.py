"""The sweep's command line: bad input is one line and exit status 2."""

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from helpers import sweep_from_url, synthetic_run
from jaxmnist import files
from jaxmnist.cli import sweep
from jaxmnist.results import records
from jaxmnist.sweep import checkpoint
from jaxmnist.sweep.config import to_toml

BAD = [
    (["--activations", "relu,rleu"],
     "unknown activation 'rleu' (did you mean 'relu'?)"),
    (["--optimizers", "adam,adamx"], "unknown optimizer 'adamx'"),
    (["--dataset", "cifar10"], "unknown dataset 'cifar10'"),
    (["--implementation", "torch"], "unknown implementation 'torch'"),
    (["--schedule", "cosin"], "did you mean 'cosine'"),
    (["--epochs", "0"], "epochs must be a positive integer, got 0"),
    (["--seeds", "-1"], "seeds must be a positive integer, got -1"),
    (["--batch-size", "0"], "batch_size must be a positive integer, got 0"),
    (["--epochs", "ten"], "invalid int value: 'ten'"),
    (["--learning-rates", "adam=-0.1"],
     "must be positive and finite, got -0.1"),
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
    assert not (tmp_path / "run").exists()


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
    ('tuning = 3\n', "[tuning] must be a table"),
    ('epochs = 0\n', "epochs must be a positive integer, got 0"),
    ('target = 1.5\n', "target must be an accuracy in (0, 1], got 1.5"),
    ('dataset = "cifar"\n', "unknown dataset 'cifar'"),
])
def test_bad_toml(text, message, tmp_path, capsys):
    """One line naming the file and the bad value."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert sweep.main([str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert err.startswith(f"jaxmnist.sweep: error: config file "
                          f"{str(path)!r}"), err


def test_missing_toml(tmp_path, capsys):
    assert sweep.main([str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unreadable_toml(tmp_path, capsys):
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    assert sweep.main([str(folder)]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert sweep.main(["--out", str(blocker / "run")]) == 2
    assert "cannot be written (Not a directory)" in capsys.readouterr().err


@pytest.mark.slow
def test_debug_shows_the_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jaxmnist.sweep", "--epochs",
                           "0", "--debug"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "epochs must be a positive" \
        in proc.stderr


def test_help_shows_defaults_and_no_markup():
    proc = subprocess.run([sys.executable, "-m", "jaxmnist.sweep", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0
    assert "(default: 10)" in proc.stdout and "``" not in proc.stdout


def help_of_each_flag(parser) -> dict[str, str]:
    """``--flag: its help text as --help prints it`` for every flag."""
    blocks, flag = {}, None
    for line in parser.format_help().splitlines():
        start = re.match(r"  (-[-\w]+)", line)
        if start:
            flag = start[1]
            blocks[flag] = line[len(start[0]):]
        elif flag is not None and line.startswith("   "):
            blocks[flag] += " " + line.strip()
        else:
            flag = None
    return {f: " ".join(t.split()) for f, t in blocks.items()}


def test_help_states_each_default_once_and_explains_every_flag(
        monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per flag: no hyphen wraps
    parser = sweep.build_parser()
    shown = help_of_each_flag(parser)
    for action in parser._actions:
        assert action.help, f"{action.option_strings} has no help"
    for flag, text in shown.items():
        assert len(re.findall(r"\(default\b", text)) <= 1, (flag, text)
    assert shown["--batch-size"].endswith(
        "(per-sample sgd always uses 1) (default: 128)")
    assert shown["--manual-dir"].endswith(
        "(default: $JAXMNIST_MANUAL_DIR; else download)")
    assert shown["--data-dir"].endswith(
        "(default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    assert shown["--out"].endswith("(default: runs/<name or time>)")
    assert shown["--no-progress"] == "hide the progress bars"
    assert "default: from the cluster environment" in shown["--process-id"]


@pytest.mark.integration
def test_cli_smoke_sweep_writes_results(smoke_run):
    out, proc = smoke_run
    assert "test acc" in proc.stdout  # the summary table
    for name in ("results.csv", "cells.csv", "history.csv", "results.json",
                 "config.toml", "summary.md", "best_predictions.npz"):
        assert (out / name).is_file(), name


@pytest.mark.slow
def test_sigterm_while_downloading_stops_at_once_claiming_nothing(tmp_path):
    """A server that takes the connection and never answers: the download
    hangs; SIGTERM stops the sweep at once, saying that nothing was saved
    (no run dir exists yet)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        out = tmp_path / "run"
        proc = sweep_from_url(f"http://127.0.0.1:{silent.getsockname()[1]}/",
                              "--data-dir", str(tmp_path / "data"), "--out",
                              str(out), "--no-progress")
        try:
            assert proc.stderr is not None
            first = proc.stderr.readline()
            assert first.startswith("jaxmnist: reading mnist from the "
                                    "download"), first
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert err.strip() == ("interrupted (SIGTERM) before training started; "
                           "nothing was saved (no run dir was created)")
    assert not out.exists()


def test_rerunning_a_finished_sweep_says_nothing_was_trained(tmp_path,
                                                             capsys):
    run = synthetic_run(["adam"], ["relu", "tanh"])
    out = tmp_path / "run"
    records.write_results(out, run)
    files.write_text(out / "config.toml", to_toml(run.config))
    checkpoint.finish(out, keep_checkpoints=False)
    assert sweep.main(["--optimizers", "adam", "--activations", "relu,tanh",
                       "--epochs", "4", "--out", str(out),
                       "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "holds this sweep, finished" in captured.err
    assert captured.out.splitlines()[-1] == (
        f"nothing trained: the run had finished already (2 models, trained "
        f"in 1.0 s then); results, models, figures and summary.md in {out}")


@pytest.mark.slow
def test_distributed_without_a_coordinator_says_what_happened(tmp_path):
    """No coordinator given or found: the failure is immediate, and the
    line says so instead of a timeout it never waited for."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "OMPI_", "PMI_", "JAX_COORDINATOR"))}
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmnist.sweep", "--distributed", "--out",
         str(tmp_path / "run")], capture_output=True, text=True, env=env,
        timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert re.fullmatch(
        r"jaxmnist\.sweep: error: could not join the sweep's processes at the"
        r" cluster coordinator \(failed after \d+\.\d s: [^\n]+\); give "
        r"--coordinator HOST:PORT, --num-processes and --process-id, or start"
        r" it under a cluster scheduler that sets them\n", proc.stderr), \
        proc.stderr
    assert not (tmp_path / "run").exists()


def test_an_interrupted_sweep_claims_only_what_it_saved(tmp_path):
    out, where = tmp_path / "run", "group adam stopped after epoch 0 of 4"
    assert sweep.interrupted_message(out, where, "SIGINT", "CMD") == (
        "\ninterrupted (SIGINT) before training started; nothing was saved "
        "(no run dir was created)")
    (out / "checkpoints" / "adam").mkdir(parents=True)
    assert sweep.interrupted_message(out, where, "SIGINT", "CMD") == (
        f"\ninterrupted: {where} (SIGINT); no epoch had finished, so nothing"
        f" is saved in {out} yet.\nstart again with: CMD")
    files.write_text(out / "checkpoints" / "adam" / "epochs" / "1" /
                     "state.npz", "")
    assert sweep.interrupted_message(out, where, "SIGINT", "CMD") == (
        f"\ninterrupted: {where} (SIGINT); finished epochs and groups are "
        f"saved in {out}.\nresume with: CMD")
