"""Bring your own optimizer and activation: registered from Python or
imported by path, trained in the sweep's groups beside the built-ins,
refused with one line when they cannot work."""

import json
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmnist as jm
from helpers import synthetic_dataset
from jaxmnist import plugins
from jaxmnist.cli import sweep as sweep_cli
from jaxmnist.core import activations as A
from jaxmnist.report.dynamics import unit_quantities
from jaxmnist.sweep.config import SweepConfig, coerce, read_toml, to_toml
from jaxmnist.sweep.group import train_group

#: A plugin module: an optimizer that is optax's SGD (so its members must
#: train exactly as minibatch_sgd with optax's implementation) and an
#: activation that is ReLU with its derivative given (so its members must
#: train exactly as relu's), plus Mish with an autodiff derivative.
PLUGIN = '''
import jax
import jax.numpy as jnp
import optax

import jaxmnist


def plain_sgd(learning_rate, momentum: float = 0.0):
    return optax.sgd(learning_rate, momentum=momentum)


def relu_again(x):
    return jnp.maximum(x, 0)


def mish(x):
    return x * jnp.tanh(jax.nn.softplus(x))


jaxmnist.register_optimizer("plain_sgd", plain_sgd, learning_rate=0.1,
                            batch_size=128, vmappable=("momentum",))
jaxmnist.register_activation("relu_again", relu_again,
                             lambda x: (x > 0).astype(x.dtype))
'''


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for plugin modules; every registration and
    module of the test is forgotten afterwards."""
    counts = plugins.registered_count()
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    plugins.forget_after(counts)
    for name in set(sys.modules) - before:
        if name.startswith("plug_"):
            del sys.modules[name]


def write_module(folder, name: str, text: str) -> str:
    (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return name


def test_import_path_registers_and_the_config_records_it(plugin_dir):
    write_module(plugin_dir, "plug_a", PLUGIN)
    opts = coerce("optimizers", "adam,plug_a:plain_sgd")
    acts = coerce("activations", ["relu", "plug_a:relu_again", "plug_a:mish"])
    assert opts == ("adam", "plain_sgd")
    assert acts == ("relu", "relu_again", "mish")
    cfg = SweepConfig(optimizers=opts, activations=acts, epochs=1)
    # mish is defined in plug_a, not registered by it: its own entry
    assert cfg.plugins == ("plug_a", "plug_a:mish")
    assert cfg.lrs_for("plain_sgd") == (0.1,)
    assert cfg.batch_size_for("plain_sgd") == 128
    path = plugin_dir / "config.toml"
    path.write_text(to_toml(cfg))
    assert SweepConfig(**read_toml(path)) == cfg


def test_the_unit_figure_reads_a_plugin_activation_family(plugin_dir):
    """A plugin activation registered after import is shown as ReLU-like
    (inactive pairs) or saturating (saturated pairs) by its init family."""
    jm.register_activation("late_relu", jax.nn.relu)
    jm.register_activation("late_tanh", jnp.tanh, init_family="glorot")
    assert unit_quantities("late_relu") == ("dead_fraction",
                                            "inactive_fraction")
    assert unit_quantities("late_tanh") == ("dead_fraction",
                                            "saturated_fraction")


@pytest.mark.slow
def test_an_activation_uses_its_given_derivative_else_autodiff(plugin_dir):
    jm.register_activation("twice_slope", lambda x: x,
                           lambda x: 2 * jnp.ones_like(x))
    write_module(plugin_dir, "plug_b", PLUGIN)
    plugins.import_plugins(["plug_b"])
    plugins.resolve("activation", "plug_b:mish")
    xs = jnp.linspace(-3, 3, 13, dtype=jnp.float32)
    grad = jax.vmap(jax.grad(lambda i, x: A.apply_activation(i, x),
                             argnums=1), in_axes=(None, 0))
    twice = jm.activation_index("twice_slope")
    np.testing.assert_array_equal(grad(twice, xs), 2.0)  # the given f'
    mish = jm.activation_index("mish")
    fn = A.REGISTRY[mish].fn
    np.testing.assert_allclose(A.apply_activation(mish, xs), fn(xs),
                               rtol=1e-6)
    np.testing.assert_allclose(grad(mish, xs), jax.vmap(jax.grad(fn))(xs),
                               rtol=1e-5, atol=1e-7)
    # its probes' scale: max |mish'| is 1.08850 (at x = 1.4906)
    assert A.DERIVATIVE_MAX[mish] == pytest.approx(1.08850, abs=1e-5)


@pytest.mark.slow
def test_plugins_train_in_groups_beside_builtins(plugin_dir):
    """The plugin optimizer is optax's SGD and the plugin activation ReLU:
    every member must train exactly as minibatch_sgd x relu does, with
    the plugins as vmapped members of the same compiled groups."""
    write_module(plugin_dir, "plug_c", PLUGIN)
    data = synthetic_dataset(n_train=256, n_val=32, n_test=32)
    cfg = SweepConfig(
        optimizers=coerce("optimizers", "minibatch_sgd,plug_c:plain_sgd"),
        activations=coerce("activations", "relu,plug_c:relu_again"),
        learning_rates=coerce("learning_rates", "plain_sgd=0.1"),
        epochs=2, batch_size=32, implementation="optax", dynamics=False)
    groups = [train_group(spec, data, progress=False)
              for spec in cfg.groups()]
    assert [g.members[0].optimizer for g in groups] == ["minibatch_sgd",
                                                        "plain_sgd"]
    reference = groups[0].history.val_loss[0]  # minibatch_sgd x relu
    for g in groups:
        assert [m.activation for m in g.members] == ["relu", "relu_again"]
        for i in range(len(g.members)):
            np.testing.assert_allclose(g.history.val_loss[i], reference,
                                       rtol=1e-6)


def test_a_vmappable_option_of_a_plugin_is_an_axis(plugin_dir):
    write_module(plugin_dir, "plug_d", PLUGIN)
    cfg = SweepConfig(
        optimizers=coerce("optimizers", "plug_d:plain_sgd"),
        activations=("relu",),
        optimizer_options=coerce("optimizer_options",
                                 "plain_sgd.momentum=0,0.5"), epochs=1)
    (spec,) = cfg.groups()
    assert spec.config.vmapped_options == ("momentum",)
    assert len(spec.cells) == 2


REFUSED = [
    ("optimizers", "adam,plug_none:signum",
     "plugin module 'plug_none' cannot be imported: no module named "
     "'plug_none'"),
    ("optimizers", "adam,plug_e:signum",
     "plug_e:signum: module 'plug_e' registers no optimizer 'signum' (it "
     "registers: plain_sgd"),
    ("plugins", "plug-e", "plugin 'plug-e' is not a module path"),
    ("activations", "relu,plug_e:nothing",
     "module 'plug_e' registers no activation 'nothing'"),
]


@pytest.mark.parametrize("key,value,message", REFUSED,
                         ids=[v for _, v, _ in REFUSED])
def test_bad_plugins_are_one_line_and_exit_2(plugin_dir, capsys, key, value,
                                             message):
    write_module(plugin_dir, "plug_e", PLUGIN)
    out = plugin_dir / "run"
    code = sweep_cli.main([f"--{key}", value, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("jaxmnist.sweep: error:")
    assert not out.exists()


BAD_MODULES = {
    "not_a_transform": (
        "import jaxmnist\n"
        "jaxmnist.register_optimizer('plug_opt', lambda learning_rate: "
        "'sgd', learning_rate=0.1, batch_size=32)\n",
        "plugin module 'plug_f' failed: ValueError: optimizer 'plug_opt': "
        "the factory returned a str, not an optax GradientTransformation"),
    "shape_changing_activation": (
        "import jaxmnist\n"
        "jaxmnist.register_activation('plug_act', lambda x: x.sum(0))\n",
        "plugin module 'plug_f' failed: ValueError: activation 'plug_act': "
        "its fn changes the shape (3, 5) to (5,); it must be elementwise"),
    "raises_on_import": (
        "raise RuntimeError('no GPU here')\n",
        "plugin module 'plug_f' failed: RuntimeError: no GPU here"),
}


@pytest.mark.parametrize("case", list(BAD_MODULES))
def test_a_bad_plugin_module_is_one_line_and_exit_2(plugin_dir, capsys,
                                                     case):
    text, message = BAD_MODULES[case]
    write_module(plugin_dir, "plug_f", text)
    code = sweep_cli.main(["--plugins", "plug_f", "--out",
                           str(plugin_dir / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert message in err, err


def _sgd(learning_rate, momentum: float = 0.9):
    return optax.sgd(learning_rate, momentum=momentum)


def _first_leaf_only(learning_rate):
    """Updates that are not shaped like the params: one leaf of them."""
    return optax.GradientTransformation(
        lambda params: optax.EmptyState(),
        lambda updates, state, params=None: (jax.tree.leaves(updates)[0],
                                             state))


@pytest.mark.parametrize("call,message", [
    (lambda: jm.register_optimizer("adam", _sgd, learning_rate=0.1,
                                   batch_size=32),
     "optimizer 'adam' is already registered"),
    (lambda: jm.register_optimizer("my-sgd", _sgd, learning_rate=0.1,
                                   batch_size=32),
     "optimizer name 'my-sgd' must be letters, digits and underscores"),
    (lambda: jm.register_optimizer("my_sgd", _sgd, learning_rate=0.1,
                                   batch_size=32, vmappable=("nesterov",)),
     "vmappable option 'nesterov' needs a numeric default"),
    (lambda: jm.register_optimizer("my_sgd", _sgd, learning_rate=-1.0,
                                   batch_size=32),
     "learning_rate must be positive and finite, got -1.0"),
    (lambda: jm.register_optimizer(
        "my_sgd", lambda learning_rate: optax.sgd(float(learning_rate)),
        learning_rate=0.1, batch_size=32),
     "one step with a traced learning rate failed"),
    (lambda: jm.register_optimizer("my_sgd", _first_leaf_only,
                                   learning_rate=0.1, batch_size=32),
     "its updates do not have the parameters' shapes and dtypes"),
    (lambda: jm.register_activation("relu", jax.nn.relu),
     "activation 'relu' is already registered"),
    (lambda: jm.register_activation("plug_int", lambda x: x > 0),
     "returns bool, not floats"),
    (lambda: jm.register_activation("plug_d", jax.nn.relu,
                                    lambda x: jnp.ones(3)),
     "its derivative changes the shape (3, 5) to (3,)"),
    (lambda: jm.register_activation("plug_g", jax.nn.relu,
                                    init_family="lecun"),
     "unknown init_family 'lecun'; choose from: he, glorot"),
])
def test_bad_registrations_are_one_line(plugin_dir, call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)
    assert plugins.registered_count() == (len(jm.OPTIMIZERS),
                                          len(jm.ACTIVATIONS))


# --------------------------------------------------------------------------
# The command line, end to end (real data, subprocesses)
# --------------------------------------------------------------------------

def _run(args, cwd, pythonpath):
    import os  # noqa: PLC0415

    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True,
                          text=True, cwd=cwd, env=env)


@pytest.mark.slow
def test_cli_sweep_trains_plugins_and_predict_loads_them(mnist_dirs,
                                                         tmp_path):
    from PIL import Image  # noqa: PLC0415

    from helpers import ROOT  # noqa: PLC0415

    plug = tmp_path / "plug"
    plug.mkdir()
    write_module(plug, "plug_cli", PLUGIN)
    out = tmp_path / "run"
    proc = _run(["jaxmnist.sweep", "--optimizers", "adam,plug_cli:plain_sgd",
                 "--activations", "relu,plug_cli:mish", "--epochs", "1",
                 "--train-subset", "1024", "--manual-dir", mnist_dirs[0],
                 "--data-dir", mnist_dirs[1], "--out", str(out),
                 "--no-progress"], tmp_path, f"{ROOT}:{plug}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "config.toml").read_text().startswith(
        'plugins = ["plug_cli", "plug_cli:mish"]\n')
    rows = [line.split(",")[:2] for line in
            (out / "results.csv").read_text().splitlines()[1:]]
    assert sorted(map(tuple, rows)) == [("adam", "mish"), ("adam", "relu"),
                                        ("plain_sgd", "mish"),
                                        ("plain_sgd", "relu")]
    model = next((out / "models" / "plain_sgd" / "mish").glob("*"))
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["plugins"] == ["plug_cli", "plug_cli:mish"]
    image = tmp_path / "seven.png"
    img = np.full((40, 40), 230, np.uint8)
    img[8:12, 10:30] = 20
    img[12:34, 24:28] = 20
    Image.fromarray(img).save(image)
    ok = _run(["jaxmnist.predict", str(model), str(image)], tmp_path,
              f"{ROOT}:{plug}")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert ok.stdout.startswith(f"{image}: ") and "probability" in ok.stdout
    missing = _run(["jaxmnist.predict", str(model), str(image)], tmp_path,
                   str(ROOT))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1
    assert f"model {str(model)!r}: plugin module 'plug_cli' cannot be " \
        f"imported: no module named 'plug_cli'" in missing.stderr
