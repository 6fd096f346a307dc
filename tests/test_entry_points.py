"""Each ``python -m jaxmnist.<command>`` entry point reaches its CLI.

The entry points are run in this process (``runpy``, as ``python -m``
runs them) with ``--help``: the fast layer starts no subprocess, and a
shim that imported the wrong ``main`` would print another command's usage.
The help is also checked for what every command offers (``--debug``) and
for no raw reStructuredText markup leaking from the docstrings.
"""

import runpy
import sys

import pytest

COMMANDS = ["bench", "compare", "evaluate", "lrfind", "merge", "plot",
            "predict", "sweep"]


@pytest.mark.parametrize("command", COMMANDS)
def test_python_m_reaches_the_commands_own_help(command, monkeypatch,
                                                capsys):
    monkeypatch.setattr(sys, "argv", [f"jaxmnist.{command}", "--help"])
    with pytest.raises(SystemExit) as stop:
        runpy.run_module(f"jaxmnist.{command}", run_name="__main__",
                         alter_sys=True)
    assert stop.value.code in (0, None)
    usage = capsys.readouterr().out
    assert usage.startswith(f"usage: python -m jaxmnist.{command} "), usage
    assert "``" not in usage and "--debug" in usage  # no raw reST markup
