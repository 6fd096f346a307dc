"""Learning-dynamics probes: each against an independent computation."""


import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import jaxmnist as jm
from helpers import synthetic_dataset, take, tree_allclose
from jaxmnist.core import dynamics as D
from jaxmnist.core.activations import REGISTRY
from jaxmnist.optim import adam


def tiny(activation="tanh", seed=0):
    return jm.init_mlp(jax.random.key(seed), (12, 6, 5, 3),
                       jm.activation_index(activation))


def batch(n=40, seed=1):
    rng = np.random.default_rng(seed)
    return (jnp.asarray(rng.normal(size=(n, 12)), jnp.float32),
            jnp.asarray(rng.integers(0, 3, n), jnp.int32))


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "gelu"])
def test_top_hessian_eigenvalue_matches_the_dense_hessian(activation):
    params = tiny(activation)
    x, y = batch()
    flat, unravel = ravel_pytree(params)
    idx = jm.activation_index(activation)
    hessian = jax.hessian(lambda f: jm.loss(unravel(f), idx, x, y))(flat)
    want = float(np.linalg.eigvalsh(np.asarray(hessian, np.float64))[-1])
    # As many reorthogonalised steps as parameters: the Krylov space is the
    # whole space, so the estimate is exact up to float32 rounding of the
    # Hessian-vector products (sums of ~100 terms, eps = 1.2e-7).
    got = float(jm.dynamics.top_hessian_eigenvalue(
        params, activation, x, y, iterations=flat.size))
    assert got == pytest.approx(want, rel=1e-5)


def test_lanczos_top_finds_the_top_eigenpair():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(60, 60)))
    spectrum = np.concatenate([[10.0, 9.0], rng.uniform(-3.0, 8.0, 58)])
    a = jnp.asarray((basis * spectrum) @ basis.T, jnp.float32)
    v0 = {"x": jnp.asarray(rng.normal(size=60), jnp.float32)}
    value, vector = D.lanczos_top(lambda v: {"x": a @ v["x"]}, v0, 15)
    assert float(value) == pytest.approx(10.0, rel=1e-4)
    assert abs(float(jnp.vdot(vector["x"], basis[:, 0]))) > 0.999
    # Warm-started from that vector, a few steps keep it.
    again, _ = D.lanczos_top(lambda v: {"x": a @ v["x"]}, vector, 3)
    assert float(again) == pytest.approx(10.0, rel=1e-4)
    # More steps than dimensions: the Krylov space is exhausted, not NaN.
    small = jnp.diag(jnp.asarray([-1.0, 2.0, 0.5]))
    value, vector = D.lanczos_top(lambda v: small @ v, jnp.ones(3), 8)
    assert float(value) == pytest.approx(2.0, rel=1e-5)
    np.testing.assert_allclose(np.abs(np.asarray(vector)), [0, 1, 0],
                               atol=1e-4)


@pytest.mark.slow  # a long run: many compiles
def test_preconditioned_sharpness_is_the_dense_eigenvalue():
    """With Adam's state: the top eigenvalues of H and P^-1/2 H P^-1/2 (P
    its preconditioner) from the joint Lanczos equal the dense ones."""
    params = tiny("tanh")
    x, y = batch()
    idx = jm.activation_index("tanh")
    tx = adam(1e-2)
    state = tx.init(params)
    for _ in range(3):
        grads = jax.grad(jm.loss)(params, idx, x, y)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    flat, unravel = ravel_pytree(params)
    hessian = np.asarray(jax.hessian(
        lambda f: jm.loss(unravel(f), idx, x, y))(flat), np.float64)
    scale = 1 / np.sqrt(np.asarray(ravel_pytree(
        D.preconditioner(state, {}))[0], np.float64))
    key = jax.random.key(0)
    probe = D.ProbeState(D.random_direction(key, params),
                         D.random_direction(jax.random.fold_in(key, 1),
                                            params))
    # as many steps as parameters: exact up to float32 rounding
    out, _ = D.batch_probes((params, None), (params, None), probe,
                            D.preconditioner(state, {}), idx, x, y,
                            flat.size)
    assert float(out.sharpness) == pytest.approx(
        np.linalg.eigvalsh(hessian)[-1], rel=1e-5)
    assert float(out.preconditioned_sharpness) == pytest.approx(
        np.linalg.eigvalsh(scale[:, None] * hessian * scale)[-1], rel=1e-5)


def test_relu_layer_with_large_negative_biases_is_dead():
    params = tiny("relu")
    params[0]["b"] = jnp.full_like(params[0]["b"], -100.0)
    stats = D.unit_stats(params, "relu", batch()[0])
    assert float(stats.dead_fraction[0]) == 1.0
    assert float(stats.mean_gate[0]) == 0.0


def test_sigmoid_layer_with_huge_weights_saturates():
    params = tiny("sigmoid")
    params[0]["w"] = params[0]["w"] * 1000.0
    stats = D.unit_stats(params, "sigmoid", batch()[0])
    assert float(stats.saturated_fraction[0]) > 0.95
    gentle = D.unit_stats(tiny("sigmoid"), "sigmoid", batch()[0])
    assert float(gentle.saturated_fraction[0]) < 0.05


@pytest.mark.parametrize("activation",
                         ["relu", "leaky_relu", "elu", "gelu", "silu"])
def test_relu_like_units_are_inactive_on_their_off_side_not_saturated(
        activation):
    """The off side (z <= 0) of a ReLU-like unit is counted as inactive,
    the fraction of negative pre-activations counted independently; such a
    unit is never reported as saturated."""
    params, (x, _) = tiny(activation), batch()
    stats = D.unit_stats(params, activation, x)
    fn = REGISTRY[jm.activation_index(activation)].fn
    z1 = x @ params[0]["w"] + params[0]["b"]
    z2 = fn(z1) @ params[1]["w"] + params[1]["b"]
    want = [float(np.mean(np.asarray(z) <= 0)) for z in (z1, z2)]
    np.testing.assert_allclose(stats.inactive_fraction, want, rtol=1e-6)
    assert 0 < want[0] < 1  # a mix of both sides: the test can fail
    assert np.isnan(stats.saturated_fraction).all()


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_saturating_units_have_no_inactive_side(activation):
    params = tiny(activation)
    params[0]["w"] = params[0]["w"] * 1000.0
    stats = D.unit_stats(params, activation, batch()[0])
    assert np.isnan(stats.inactive_fraction).all()
    assert float(stats.saturated_fraction[0]) > 0.95


def test_histograms_count_each_value_in_its_bin_as_numpy_does():
    """Values on the edges fall in the bin they open; beyond the outer
    edges, in the outer bins: NumPy's searchsorted, clipped."""
    edges = D.HIST_EDGES
    z = np.concatenate([edges, edges[:-1] + 0.1, [-100.0, 100.0, -8.01]])
    want = np.bincount(np.clip(np.searchsorted(edges, z, "right") - 1, 0,
                               len(edges) - 2), minlength=len(edges) - 1)
    # two layers of 3 units and 1 unit on 44 images
    got = D.histograms_of([jnp.asarray(z, jnp.float32).reshape(44, 3),
                         jnp.asarray(z[::3], jnp.float32).reshape(44, 1)])
    want = np.stack([want, np.bincount(np.clip(
        np.searchsorted(edges, z[::3], "right") - 1, 0, len(edges) - 2),
        minlength=len(edges) - 1)])
    assert got.shape == (2, 64) and want[0].sum() == len(z)
    np.testing.assert_array_equal(got, want)


def test_loss_windows():
    losses = jnp.arange(10.0)
    mean, top = D.loss_windows(losses, 5)
    np.testing.assert_allclose(mean, [0.5, 2.5, 4.5, 6.5, 8.5])
    np.testing.assert_allclose(top, [1, 3, 5, 7, 9])
    mean3, top3 = D.loss_windows(losses, 3)  # uneven: 4, 3, 3 steps
    np.testing.assert_allclose(mean3, [1.5, 5.0, 8.0])
    np.testing.assert_allclose(top3, [3, 6, 9])


def test_update_ratio_and_norms():
    start = [{"w": jnp.full((2, 2), 2.0), "b": jnp.zeros(2)}]
    end = [{"w": jnp.full((2, 2), 3.0), "b": jnp.ones(2)}]
    ratio = float(D.update_ratios(start, end)[0])
    assert ratio == pytest.approx(np.sqrt(4 + 2) / 4.0)


def test_adam_preconditioner_is_sqrt_of_bias_corrected_nu_plus_eps():
    params = {"w": jnp.ones(3)}
    tx = adam(1e-3)
    state = tx.init(params)
    g = {"w": jnp.asarray([0.1, 1.0, 10.0])}
    for _ in range(3):
        _, state = tx.update(g, state, params)
    p = D.preconditioner(state, {})
    nu = (1 - 0.999 ** 3) * np.asarray(g["w"]) ** 2  # constant gradient
    np.testing.assert_allclose(p["w"], np.sqrt(nu / (1 - 0.999 ** 3)) + 1e-8,
                               rtol=1e-5)
    assert D.preconditioner(optax.sgd(0.1).init(params), {}) is None


CFG = dict(sizes=(784, 16, 8, 10), epochs=2, batch_size=32, probe_size=64,
           sharpness_iterations=5, probe_every=1)


@pytest.mark.slow  # a long run: many compiles
def test_the_probes_of_a_vmapped_run(tiny_data):
    """Every probe's shape; the histograms at each epoch's start are those
    of the params it starts from (the initial ones first)."""
    hp = jm.stack_hparams([jm.make_hparams("relu", 1e-3),
                           jm.make_hparams("sigmoid", 3e-3)])
    cfg = jm.TrainConfig(optimizer="adam", dynamics=True,
                         activations=("relu", "sigmoid"), **CFG)
    d = jax.jit(jax.vmap(jm.make_train(cfg), in_axes=(None, 0, None)))(
        jax.random.key(0), hp, tiny_data).dynamics
    assert d.grad_norm.shape == (2, 2, 3) and d.dead_fraction.shape == (2, 2, 2)
    assert d.hist_end.shape == (2, 2, 2, 64)
    assert np.isfinite(np.asarray(d.preconditioned_sharpness)).all()
    # Histograms: at initialisation first, then each epoch's end.
    np.testing.assert_array_equal(d.hist_start[:, 1:], d.hist_end[:, :-1])
    init = jax.jit(jax.vmap(jm.make_init(cfg), in_axes=(None, 0, None)))(
        jax.random.split(jax.random.key(0))[0], hp, tiny_data)
    for i, act in enumerate(("relu", "sigmoid")):
        want = D.preactivation_histograms(
            take(init.params, i), act,
            tiny_data.val_images[:CFG["probe_size"]])
        np.testing.assert_array_equal(d.hist_start[i, 0], want)


@pytest.mark.slow  # a long run: many compiles
def test_vmapped_probes_equal_solo_probes(tiny_data):
    cfg = jm.TrainConfig(optimizer="momentum", dynamics=True,
                         activations=("tanh", "elu"), **CFG)
    train = jm.make_train(cfg)
    members = [jm.make_hparams("tanh", 0.01), jm.make_hparams("elu", 0.05)]
    both = jax.jit(jax.vmap(train, in_axes=(None, 0, None)))(
        jax.random.key(1), jm.stack_hparams(members), tiny_data)
    for i, hp in enumerate(members):
        solo = jax.jit(train)(jax.random.key(1), hp, tiny_data)
        tree_allclose(take(both.dynamics, i), solo.dynamics, rtol=2e-4,
                      atol=1e-6)
    assert np.isnan(np.asarray(both.dynamics.preconditioned_sharpness)).all()


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("n_train,activation,sizes,first_layer,seed", [
    (32, "tanh", (784, 8, 10), "auto", 3),  # one step of the whole batch
    # one step of one example: the rank-one identity, no weight gradient
    (1, "relu", (784, 8, 6, 10), "dense", 4),
])
def test_grad_norm_is_the_gradient_of_the_step(n_train, activation, sizes,
                                               first_layer, seed):
    """One step per epoch: the probe's gradient norms are jax.grad's, for
    a whole batch and for one example (where they come from the rank-one
    identity)."""
    data = synthetic_dataset(n_train=n_train, n_val=16, n_test=16)
    cfg = jm.TrainConfig(optimizer="sgd", batch_size=n_train, epochs=1,
                         activations=(activation,), first_layer=first_layer,
                         sizes=sizes, dynamics=True, probe_size=16,
                         sharpness_iterations=2)
    key, hp = jax.random.key(seed), jm.make_hparams(activation, 0.1)
    res = jax.jit(jm.make_train(cfg))(key, hp, data)
    params = jax.jit(jm.make_init(cfg))(jax.random.split(key)[0], hp,
                                        data).params
    grads = jax.grad(jm.loss)(params, hp.activation, data.train_images,
                              data.train_labels)  # the one batch is all
    want = [float(jnp.linalg.norm(g["w"])) for g in grads]
    np.testing.assert_allclose(res.dynamics.grad_norm[0], want, rtol=1e-5)


@pytest.mark.slow  # a long run: many compiles
def test_probe_every_probes_the_first_those_epochs_and_the_last(tiny_data):
    """probe_every=3 over 5 epochs: the probe batch's probes after epochs
    1, 3 and 5 (the first, every third, the last), NaN after 2 and 4; the
    training's every epoch."""
    cfg = jm.TrainConfig(optimizer="momentum", dynamics=True,
                         activations=("tanh",),
                         **{**CFG, "epochs": 5, "probe_every": 3})
    d = jax.jit(jm.make_train(cfg))(jax.random.key(0),
                                    jm.make_hparams("tanh", 0.05),
                                    tiny_data).dynamics
    probed = np.array([True, False, True, False, True])
    for field in ("sharpness", "dead_fraction", "mean_gate", "hist_end"):
        values = np.asarray(getattr(d, field)).reshape(5, -1)
        assert np.isfinite(values[probed]).all(), field
        assert np.isnan(values[~probed]).all(), field
    assert np.isfinite(np.asarray(d.grad_norm)).all()
    assert np.isfinite(np.asarray(d.update_ratio)).all()
    assert np.isnan(np.asarray(d.preconditioned_sharpness)).all()
    with pytest.raises(ValueError, match="probe_every"):
        jm.TrainConfig(probe_every=0)


def test_public_probes_on_your_own_params():
    params = jm.init_mlp(jax.random.key(0), (784, 16, 10),
                         jm.activation_index("relu"))
    data = synthetic_dataset(n_train=8, n_val=8, n_test=8)
    units = jm.dynamics.unit_stats(params, "relu", data.test_images)
    assert units.dead_fraction.shape == (1,)
    top = jm.dynamics.top_hessian_eigenvalue(
        params, "relu", data.test_images, data.test_labels, iterations=5)
    assert np.isfinite(float(top))


@pytest.mark.slow  # a long run: many compiles
def test_public_probes_are_the_core_ones_compiled():
    """jaxmnist.dynamics' probes (compiled) give the numbers of
    jaxmnist.core.dynamics' (op by op), by name or index, and trace inside
    a caller's jit."""
    params, (x, y) = tiny("sigmoid"), batch()
    idx = jm.activation_index("sigmoid")
    units = D.unit_stats(params, "sigmoid", x)
    hists = D.preactivation_histograms(params, "sigmoid", x)
    top = D.top_hessian_eigenvalue(params, "sigmoid", x, y, 12)
    for act in ("sigmoid", jnp.int32(idx)):
        tree_allclose(jm.dynamics.unit_stats(params, act, x), units,
                      rtol=1e-6)
        np.testing.assert_array_equal(
            jm.dynamics.preactivation_histograms(params, act, x), hists)
        np.testing.assert_allclose(
            jm.dynamics.top_hessian_eigenvalue(params, act, x, y, 12), top,
            rtol=1e-5)
    inside = jax.jit(lambda p: jm.dynamics.top_hessian_eigenvalue(
        p, idx, x, y, 12, choices=(idx,)))(params)
    np.testing.assert_allclose(inside, top, rtol=1e-5)
