"""What a sweep shows: the run's bar over the group's, compiling and resuming
lines; and what a signal or a failed write turns into (no training here)."""

import errno
import signal

import numpy as np
import pytest

from jaxmnist.cli.signals import exit_status, stop_on_signals
from jaxmnist.core.train import Metrics
from jaxmnist.errors import Interrupted, StopRequest
from jaxmnist.files import os_error
from jaxmnist.sweep.progress import RunBar


def metrics(val: float) -> Metrics:
    one = np.asarray([0.5, val], np.float32)
    return Metrics(one, one, one, one, one, one, np.zeros(2, bool))


def test_run_bar_over_group_bar_with_compiling_and_resuming(capsys):
    run = RunBar(total=2 * 3 * 2, enabled=True)  # 2 groups of 2 members
    run.done_before(2 * 3)  # the first group finished before this process
    run.status("compiling adam...")
    run.bar.refresh()
    assert "run: compiling adam...:  50%" in capsys.readouterr().err
    group = run.group("adam", members=2, epochs=3, first=1,
                      history=[metrics(0.6)])
    assert run.bar.n == 2 * 3 + 2 and run.bar.last_print_n == run.bar.n
    group.epoch_done(metrics(0.7))
    group.epoch_done(metrics(0.65))
    group.close()
    run.close()
    err = capsys.readouterr().err
    assert "resuming adam from epoch 1" in err
    assert "adam (2 members):" in err and "best_val=0.7000" in err
    assert "adam (2 members): 3 epochs, best val 0.7000" in err
    assert "run: adam: 100%" in err and "12/12" in err


def test_without_bars_only_the_resuming_line_shows(capsys):
    run = RunBar(total=6, enabled=False)
    run.status("compiling adam...")
    group = run.group("adam", 2, 3, first=2, history=[metrics(0.6)] * 2)
    group.epoch_done(metrics(0.7))
    group.close()
    run.close()
    assert capsys.readouterr().err == "resuming adam from epoch 2\n"


@pytest.mark.parametrize("name,status", [("SIGINT", 130), ("SIGTERM", 143),
                                         ("SIGHUP", 129)])
def test_a_signal_asks_to_stop_then_stops_at_once(name, status, capsys):
    stop = StopRequest()
    with stop_on_signals(stop, "prog"):
        signal.raise_signal(getattr(signal, name))
        assert stop.signal_name == name
        with pytest.raises(Interrupted, match="after epoch 2") as e:
            stop.check("group adam stopped after epoch 2 of 3")
        assert e.value.signal_name == name
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(getattr(signal, name))
    assert signal.getsignal(getattr(signal, name)) is not None
    assert exit_status(name) == status
    assert f"prog: {name}: stopping after the epoch in progress" in \
        capsys.readouterr().err


def test_the_os_error_inside_an_orbax_error_names_the_checkpoint():
    raised = ValueError("RESOURCE_EXHAUSTED: Error writing \"0.w/0.0\" in "
                        "OCDBT database at local file \"/r/x.orbax-"
                        "checkpoint-tmp/\": Failed to write 146166 bytes to "
                        "file 11: No space left on device "
                        "[os_error_code='28']")
    e = os_error(raised, "/r/checkpoints/adam/epochs/2")
    assert e is not None and e.errno == errno.ENOSPC
    assert (e.filename, e.strerror) == ("/r/checkpoints/adam/epochs/2",
                                        "No space left on device")
    assert isinstance(os_error(PermissionError(13, "Permission denied"),
                               "/m"), PermissionError)
    assert os_error(ValueError("shapes differ"), "/m") is None
