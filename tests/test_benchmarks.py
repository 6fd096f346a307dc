"""The benchmark scripts measure what they say: the plain-JAX reference
trains each member at its own rate and reports the evaluation of the params
it returns, and the timing helpers pair rounds (synthetic data)."""


import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import common, plain_jax, public_path
from helpers import ROOT, take


@pytest.fixture(scope="module")
def reference_run(tiny_data):
    """Two members of one epoch: relu at rate 0, tanh at 1e-2."""
    train = jax.jit(plain_jax.make_train(epochs=1, batch=32))
    key = jax.random.key(3)
    acts = jnp.asarray([0, 2], jnp.int32)
    lrs = jnp.asarray([0.0, 1e-2], jnp.float32)
    with jax.numpy_dtype_promotion("standard"):  # optax's adam mixes
        params, metrics = train(key, acts, lrs, tiny_data)
    return key, acts, params, metrics


def test_reference_reports_the_evaluation_of_its_params(reference_run,
                                                        tiny_data):
    _, acts, params, metrics = reference_run
    assert metrics.shape == (1, 2, 6)
    d = tiny_data
    for m, act in enumerate(np.asarray(acts)):
        one = take(params, m)
        val = plain_jax.loss_and_accuracy(one, act, d.val_images,
                                          d.val_labels)
        test = plain_jax.loss_and_accuracy(one, act, d.test_images,
                                           d.test_labels)
        np.testing.assert_allclose(metrics[0, m, 2:], [*val, *test],
                                   rtol=1e-6)


def test_reference_trains_each_member_at_its_own_rate(reference_run,
                                                      tiny_data):
    key, _, params, _ = reference_run
    start = plain_jax.init_params(jax.random.split(key)[0])
    frozen, moved = take(params, 0), take(params, 1)
    for a, b, c in zip(jax.tree.leaves(start), jax.tree.leaves(frozen),
                       jax.tree.leaves(moved)):
        # rate 0 never moves (to the rounding of the initial draw, jitted
        # or not); a rate of 1e-2 moves every layer by far more
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
        assert np.abs(c - a).max() > 1e-3


def test_alternating_times_each_callable_once_a_round():
    calls = []
    fns = {n: (lambda n=n: calls.append(n)) for n in ("a", "b")}
    times = common.alternating(fns, rounds=3)
    assert calls == ["a", "b"] * 4  # the warm-up, then three rounds
    assert [len(times[n]) for n in "ab"] == [3, 3]
    assert [len(times["cpu"][n]) for n in "ab"] == [3, 3]


def test_median_ratio_is_the_median_of_the_rounds_ratios():
    assert common.median_ratio([2.0, 9.0, 3.0], [1.0, 1.0, 2.0]) == 2.0


def test_members_cycle_the_activations_with_a_rate_per_block():
    acts, lrs = public_path.members(6)
    assert acts == [0, 1, 2, 3, 0, 1]
    assert lrs == pytest.approx([1e-3] * 4 + [2e-3] * 2)


@pytest.mark.slow
def test_public_path_figures_come_from_its_rounds(tiny_data):
    with jax.numpy_dtype_promotion("standard"):  # optax's adam mixes
        f = public_path.measure(jax.device_put(tiny_data), k=2, epochs=1,
                                rounds=2)
    lib, ref = f["library"], f["reference"]
    assert len(lib["seconds"]) == len(ref["seconds"]) == 2
    assert f["speed_ratio"] == pytest.approx(np.mean(
        [r / b for r, b in zip(ref["seconds"], lib["seconds"])]))
    cpu = f["cpu_seconds"]
    assert f["cpu_ratio"] == pytest.approx(np.mean(
        [r / b for r, b in zip(cpu["reference"], cpu["library"])]))
    assert lib["model_epochs_per_s"] == pytest.approx(
        2 / np.median(lib["seconds"]))
    for side in (lib, ref):
        assert 0 <= side["final_test_accuracy_mean"] <= 1


@pytest.mark.slow
def test_peers_figures_come_from_their_rounds(tiny_data):
    from benchmarks import peers  # noqa: PLC0415

    with jax.numpy_dtype_promotion("standard"):  # optax's adam mixes
        f = peers.measure(jax.device_put(tiny_data), members=(2,), rounds=1,
                          samples=64)
    g, = f["groups"]
    approx = pytest.approx
    assert g["group_over_plain"] == approx(g["plain"]["seconds"][0]
                                           / g["group"]["seconds"][0])
    assert g["group_over_python_loop"] == approx(
        g["group"]["model_epochs_per_s"] / f["python_loop"]
        ["model_epochs_per_s"])
    s = f["per_sample_sgd"]
    assert s["numpy_samples_timed"] == 64 and s["train_images"] == 256
    # one round: the ratio of the two model-epoch times
    assert s["group_over_numpy"] == approx(s["numpy_model_epoch_s"]
                                           / s["group_model_epoch_s"])
    row = peers.table(f).splitlines()[2].split()
    assert row[0] == "2" and row[3] == f"{g['group_over_plain']:.2f}"


def test_provenance_names_the_command_commit_and_machine():
    p = common.provenance("benchmarks.x", ["--members", "2"])
    assert p["command"] == "python -m benchmarks.x --members 2"
    assert len(p["commit"].removesuffix("-dirty")) == 40
    assert p["machine"]["jax"] == jax.__version__
    assert len(p["load_average"]) == 3


def _rendered(name: str, record: dict) -> str:
    """A result file's figures as its command printed them."""
    if name == "bench":
        from jaxmnist.cli.bench import table  # noqa: PLC0415

        return table(record)
    from benchmarks import peers  # noqa: PLC0415

    return {"public_path": public_path.table,
            "peers": peers.table}[name](record["figures"])


def test_performance_page_shows_figures_as_their_files_render():
    """Every figure block of docs/performance.md is a result file rendered
    by its script, introduced by the file's name, command, commit, date
    and machine."""
    page = (ROOT / "docs" / "performance.md").read_text()
    blocks = list(re.finditer(r"```text\n(.*?)```", page, re.S))
    assert blocks, "the page shows no figures"
    for block in blocks:
        intro = page[:block.start()].rsplit("\n\n", 2)[-2]
        cited = re.search(r"`benchmarks/results/(\w+)\.json`", intro)
        assert cited, f"no result file before {block.group(1)[:60]!r}"
        record = json.loads((ROOT / cited.group(0).strip("`")).read_text())
        assert block.group(1).rstrip("\n") == _rendered(cited.group(1),
                                                        record)
        intro = " ".join(intro.split())
        for fact in (record["command"], record["commit"][:7],
                     record["date"][:10], record["machine"]["cpu"]):
            assert fact in intro, f"{cited.group(0)}: {fact!r} not cited"
