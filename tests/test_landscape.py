"""Loss landscapes: paths, barriers and filter-normalised slices."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxmnist as jm
from helpers import synthetic_dataset
from jaxmnist import landscape
from jaxmnist.core.train import member_key
from jaxmnist.landscape import initial_params
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.placed import init_keys

ALPHAS = np.linspace(0.0, 1.0, 11)


def _mlp(seed, activation="tanh", sizes=(784, 16, 8, 10)):
    return jm.init_mlp(jax.random.key(seed), sizes,
                       jm.activation_index(activation))


def _double_well(params):
    """Two minima at x = -1 and x = +1 (loss 0), a barrier of height 1 at
    x = 0 between them; the 'accuracy' is 1 at the minima."""
    x = params["x"]
    loss = jnp.sum((x * x - 1.0) ** 2)
    return loss, jnp.asarray(loss == 0, loss.dtype)


def test_path_endpoints_are_the_endpoints_own_losses(tiny_data):
    a, b = _mlp(0), _mlp(1)
    train = (tiny_data.train_images, tiny_data.train_labels)
    val = (tiny_data.val_images, tiny_data.val_labels)
    p = landscape.interpolate(a, b, ALPHAS, "tanh", train, val)
    for end, i in ((a, 0), (b, -1)):
        np.testing.assert_allclose(p.train_loss[i], jm.loss(end, 2, *train),
                                   rtol=1e-6)
        np.testing.assert_allclose(p.val_loss[i], jm.loss(end, 2, *val),
                                   rtol=1e-6)
        np.testing.assert_array_equal(p.val_accuracy[i],
                                      jm.accuracy(end, 2, *val))


def test_barrier_between_identical_params_is_zero(tiny_data):
    a = _mlp(3)
    train = (tiny_data.train_images, tiny_data.train_labels)
    p = landscape.interpolate(a, a, ALPHAS, "tanh", train, train)
    assert float(landscape.barrier(p.alphas, p.train_loss)) == 0.0


def test_barrier_between_the_minima_of_a_double_well_is_its_height():
    with jax.enable_x64(True):
        left, right = {"x": jnp.asarray(-1.0)}, {"x": jnp.asarray(1.0)}
        loss, acc = landscape.path(_double_well, left, right, ALPHAS)
        # the midpoint x = 0 has loss 1; the endpoints have loss 0
        assert float(landscape.barrier(ALPHAS, loss)) == 1.0
        assert acc[0] == acc[-1] == 1.0
        # a tilted well: the straight line between the ends is subtracted
        tilted = lambda p: (_double_well(p)[0] + p["x"], p["x"])
        tl, _ = landscape.path(tilted, left, right, ALPHAS)
        np.testing.assert_allclose(float(landscape.barrier(ALPHAS, tl)), 1.0,
                                   rtol=1e-12)


def test_each_filter_of_a_direction_has_that_filters_norm():
    k = jax.random.split(jax.random.key(0), 3)
    params = [{"w": jax.random.normal(k[0], (5, 5, 3, 4)) * 0.3},  # conv
              {"w": jax.random.normal(k[1], (20, 7)) * jnp.arange(1.0, 8.0),
               "b": jnp.ones(7), "scale": jnp.ones(7)},
              {"w": jax.random.normal(k[2], (7, 10))}]
    d = landscape.filter_normalized_direction(jax.random.key(1), params)
    for p, v in zip(jax.tree.leaves(params), jax.tree.leaves(d)):
        if p.ndim < 2:
            np.testing.assert_array_equal(v, 0.0)
            continue
        axes = tuple(range(p.ndim - 1))
        np.testing.assert_allclose(np.linalg.norm(
            np.asarray(v).reshape(-1, p.shape[-1]), axis=0),
            np.sqrt(np.sum(np.asarray(p) ** 2, axis=axes)), rtol=1e-5)
        assert not np.allclose(v, p)


def test_slice_at_the_origin_is_the_params_loss(tiny_data):
    a = _mlp(4, "relu")
    dirs = landscape.random_directions(jax.random.key(2), a)
    grid = jnp.linspace(-1.0, 1.0, 5)
    s = landscape.slice_2d(a, dirs, grid, "relu", tiny_data.val_images,
                           tiny_data.val_labels, batch_size=4)
    assert s.loss.shape == (5, 5)
    np.testing.assert_allclose(
        s.loss[2, 2], jm.loss(a, 0, tiny_data.val_images,
                              tiny_data.val_labels), rtol=1e-6)
    assert float(s.loss.max()) > float(s.loss[2, 2])


def test_vmapped_equals_alone_in_float64():
    data = synthetic_dataset(n_train=32, n_val=16, n_test=8, dim=12,
                             classes=3)
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        as64 = lambda t: jax.tree.map(lambda x: x.astype(jnp.float64), t)
        acts = jnp.asarray([jm.activation_index(a) for a in
                            ("relu", "sigmoid", "tanh")])
        starts = [as64(_mlp(s, "relu", (12, 6, 5, 3))) for s in range(3)]
        ends = [as64(_mlp(s + 10, "relu", (12, 6, 5, 3))) for s in range(3)]
        stack = lambda ts: jax.tree.map(lambda *x: jnp.stack(x), *ts)
        train = (data.train_images, data.train_labels)
        val = (data.val_images, data.val_labels)
        alphas = jnp.linspace(0.0, 1.0, 7)
        together = jax.vmap(lambda a, b, act: landscape.interpolate(
            a, b, alphas, act, train, val, batch_size=3))(
                stack(starts), stack(ends), acts)
        dirs = [landscape.random_directions(jax.random.key(s), starts[s])
                for s in range(3)]
        grid = jnp.linspace(-0.5, 0.5, 3)
        surfaces = jax.vmap(lambda p, d, act: landscape.slice_2d(
            p, d, grid, act, *val))(stack(starts), stack(dirs), acts)
        for i in range(3):
            alone = landscape.interpolate(starts[i], ends[i], alphas,
                                          acts[i], train, val)
            for x, y in zip(alone, together):
                np.testing.assert_allclose(x, y[i], rtol=1e-10)
            s = landscape.slice_2d(starts[i], dirs[i], grid, acts[i], *val)
            np.testing.assert_allclose(s.loss, surfaces.loss[i], rtol=1e-10)


def test_sweep_redraws_the_initial_params_its_groups_trained_from(
        tiny_data):
    cfg = SweepConfig(activations=("relu", "sigmoid"), optimizers=("adam",),
                      seeds=2, seed=3, hidden=((16,),))
    spec = cfg.groups()[0]
    keys = jnp.stack([member_key(3, m.seed)
                      for m in spec.members])
    hps = jm.stack_hparams([jm.make_hparams(m.activation, m.learning_rate)
                            for m in spec.members])
    state = jax.vmap(jm.make_init(spec.config), in_axes=(0, 0, None))(
        init_keys(keys), hps, tiny_data)
    for i, params in enumerate(initial_params(cfg, spec)):
        for a, b in zip(jax.tree.leaves(params),
                        jax.tree.leaves(state.params)):
            np.testing.assert_array_equal(a, b[i])
