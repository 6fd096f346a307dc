"""Every optimizer option's valid range, declared once and enforced by the
factories (concrete values) and the sweep's --optimizer-options."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import pytest

from jaxmnist import optim
from jaxmnist.cli import sweep
from jaxmnist.optim import OPTIMIZERS, get_spec, make_optimizer, option_range
from jaxmnist.optim.ranges import OPTION_RANGES


def outside(valid) -> list[float]:
    """Values just outside ``valid`` (and NaN)."""
    out = [valid.low if valid.low_open else valid.low - 0.5, math.nan]
    if valid.high != math.inf:
        out.append(valid.high if valid.high_open else valid.high + 0.5)
    return out


VMAPPABLE = [(name, option) for name in OPTIMIZERS
             for option in get_spec(name).vmappable]


def test_every_vmappable_option_declares_a_range():
    for name, option in VMAPPABLE:
        assert option_range(name, option) is not None, (name, option)


def test_ranges_read_as_intervals():
    assert str(option_range("adam", "b2")) == "in [0, 1)"
    assert str(option_range("adam", "eps")) == ">= 0"
    assert str(option_range("adam", "learning_rate")) == "> 0"
    assert str(option_range("schedule_free_adamw", "b1")) == "in (0, 1)"
    assert 0.0 in option_range("adam", "b1")
    assert 1.0 not in option_range("adam", "b1")


@pytest.mark.parametrize("name,option", VMAPPABLE,
                         ids=[f"{n}.{o}" for n, o in VMAPPABLE])
def test_factories_refuse_out_of_range_values(name, option):
    valid = option_range(name, option)
    assert valid is not None
    default = get_spec(name).vmappable[option]
    assert default in valid
    make_optimizer(name, 0.1, **{option: default})  # accepted
    for bad in outside(valid):
        with pytest.raises(ValueError) as err:
            make_optimizer(name, 0.1, **{option: bad})
        message = str(err.value)
        assert f"{option}={bad:g}" in message and str(valid) in message
        assert "\n" not in message
        # a concrete array is checked too
        with pytest.raises(ValueError, match=f"{option}="):
            make_optimizer(name, 0.1, **{option: jnp.float32(bad)})


def test_adam_b2_message():
    with pytest.raises(ValueError, match=r"^adam option b2=1\.5 is out of "
                       r"range: b2 must be in \[0, 1\)$"):
        optim.adam(1e-3, b2=1.5)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_learning_rate_must_be_positive(name):
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="learning_rate="):
            make_optimizer(name, bad)


def test_traced_values_are_not_checked_when_tracing():
    """Under jit the values are unknown when the factory runs: the factory
    must still build (the sweep's values were checked on the host)."""
    @jax.jit
    def build(b2):
        tx = optim.adam(1e-3, b2=b2)
        return jax.tree.leaves(tx.init(jnp.zeros(3)))[0]

    assert int(build(jnp.float32(0.99))) == 0  # the step count


def test_schedules_and_none_are_not_ranges():
    optim.sgd(lambda count: 0.1)
    optim.adadelta(None)
    assert option_range("adam", "mu_dtype") is None
    assert "mask" not in OPTION_RANGES


@pytest.mark.parametrize("value,message", [
    ("adam.b2=1.5", "adam option b2=1.5 is out of range: b2 must be in [0, 1)"),
    ("adam.b1=2", "adam option b1=2 is out of range: b1 must be in [0, 1)"),
    ("adam.eps=-1", "adam option eps=-1 is out of range: eps must be >= 0"),
    ("adam.b2=0.99,1.5", "adam option b2=1.5 is out of range"),
    ("lion.b2=0.98,1", "lion option b2=1 is out of range"),
    ("schedule_free_adamw.b1=0", "b1 must be in (0, 1)"),
])
def test_cli_refuses_out_of_range_options(value, message, capsys, tmp_path):
    name = value.split(".")[0]
    code = sweep.main(["--optimizers", name, "--optimizer-options", value,
                       "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
