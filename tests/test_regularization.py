"""Dropout, L2 weight decay, batch norm, hidden shapes and the CNN: numeric
axes vmap in one program, structural ones make groups, zero means today."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmnist as jm
from helpers import take, tree_allclose
from jaxmnist.cli.sweep import config_from_args
from jaxmnist.core import cnn, layers, model
from jaxmnist.sweep.config import SweepConfig

SMALL = dict(sizes=(784, 16, 8, 10), epochs=2, batch_size=32)


def run(cfg, members, data, key=0):
    train = jax.jit(jax.vmap(jm.make_train(cfg), in_axes=(None, 0, None)))
    return train(jax.random.key(key), jm.stack_hparams(members), data)


@pytest.mark.slow  # a long run: many compiles
def test_dropout_and_decay_change_training_but_not_evaluation(tiny_data):
    cfg = jm.TrainConfig(optimizer="adam", dropout=True, weight_decay=True,
                         **SMALL)
    res = run(cfg, [jm.make_hparams("relu", 3e-3),
                    jm.make_hparams("relu", 3e-3, dropout=0.5),
                    jm.make_hparams("relu", 3e-3, weight_decay=1e-2)],
              tiny_data)
    w1 = np.asarray(res.params[0]["w"])
    assert not np.allclose(w1[0], w1[1]) and not np.allclose(w1[0], w1[2])
    # decay shrinks the weights; dropout's masks leave the biases' norm alone
    assert np.linalg.norm(w1[2]) < np.linalg.norm(w1[0])
    # evaluation never drops: the same params give the same logits
    params = take(res.params, 1)
    x = tiny_data.val_images
    out_a, _, _ = model.apply(params, 0, x, dropout_rate=jnp.float32(0.5),
                              key=jax.random.key(1))
    out_b, _, _ = model.apply(params, 0, x)
    np.testing.assert_array_equal(out_a, out_b)


def test_dropout_zeroes_the_right_share_and_keeps_the_mean():
    x = jnp.ones((2000, 50))
    y = layers.dropout(x, jnp.float32(0.3), jax.random.key(0))
    assert abs(float((y == 0).mean()) - 0.3) < 0.01
    assert abs(float(y.mean()) - 1.0) < 0.02


def test_batch_norm_running_statistics_converge():
    rng = np.random.default_rng(0)
    layer, stats = layers.init_batch_norm(3)
    mean, std = np.asarray([3.0, -1.0, 0.5]), np.asarray([2.0, 0.5, 1.0])
    for _ in range(100):
        z = jnp.asarray(mean + std * rng.normal(size=(256, 3)), jnp.float32)
        out, stats = layers.batch_norm(z, layer, stats, train=True)
    np.testing.assert_allclose(stats["mean"], mean, atol=0.05)
    np.testing.assert_allclose(stats["var"], std ** 2, rtol=0.1)
    # training output: zero mean, unit variance per unit
    np.testing.assert_allclose(np.asarray(out).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out).std(0), 1, atol=1e-3)
    # evaluation uses the running statistics
    ev, _ = layers.batch_norm(z, layer, stats, train=False)
    np.testing.assert_allclose(np.asarray(ev).mean(0), 0, atol=0.2)


def test_batch_norm_mlp_keeps_stats_per_member(tiny_data):
    cfg = jm.TrainConfig(optimizer="momentum", batch_norm=True, **SMALL)
    res = run(cfg, [jm.make_hparams("relu", 0.01),
                    jm.make_hparams("sigmoid", 0.05)], tiny_data)
    assert res.stats is not None and len(res.stats) == 2  # hidden layers
    means = np.asarray(res.stats[0]["mean"])
    assert means.shape == (2, 16) and not np.allclose(means[0], means[1])
    assert set(res.params[0]) == {"w", "scale", "shift"}  # no bias
    assert np.isfinite(np.asarray(res.metrics.val_loss)).all()


@pytest.mark.parametrize("cfg,members", [
    (dict(dropout=True), [jm.make_hparams("relu", 3e-3, dropout=0.2),
                          jm.make_hparams("tanh", 3e-3, dropout=0.5)]),
    (dict(weight_decay=True), [jm.make_hparams("relu", 3e-3, weight_decay=0),
                               jm.make_hparams("elu", 3e-3,
                                               weight_decay=1e-3)]),
    (dict(batch_norm=True), [jm.make_hparams("relu", 3e-3),
                             jm.make_hparams("tanh", 1e-2)]),
    (dict(vmapped_options=("b2",)),
     [jm.make_hparams("relu", 3e-3, optimizer={"b2": 0.99}),
      jm.make_hparams("relu", 3e-3, optimizer={"b2": 0.999})]),
], ids=["dropout", "weight_decay", "batch_norm", "adam_b2"])
@pytest.mark.slow  # a long run: many compiles
def test_vmap_equals_solo_for_every_new_axis(cfg, members, tiny_data):
    """Up to float reassociation in the batched matmuls: parameters and
    losses to 1e-4; an accuracy may differ by one image whose logits tie
    to the last bit (1/64 of the validation split, 1/256 of training)."""
    config = jm.TrainConfig(optimizer="adam", **cfg, **SMALL)
    both = run(config, members, tiny_data, key=5)
    solo = jax.jit(jm.make_train(config))
    for i, hp in enumerate(members):
        one = solo(jax.random.key(5), hp, tiny_data)
        tree_allclose(take(both.params, i), one.params, rtol=1e-4, atol=1e-5)
        for f in jm.Metrics._fields:
            got, want = getattr(both.metrics, f)[i], getattr(one.metrics, f)
            if f.endswith("accuracy"):
                np.testing.assert_allclose(got, want, atol=1.01 / 64)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_optimizer_option_values_do_not_recompile(tiny_data):
    config = jm.TrainConfig(optimizer="momentum", vmapped_options=(
        "momentum",), sizes=(784, 8, 10), epochs=1, batch_size=64)
    traces = []

    def counted(key, hp, data):
        traces.append(1)
        return jm.make_train(config)(key, hp, data)

    f = jax.jit(jax.vmap(counted, in_axes=(None, 0, None)))
    for values in ((0.8, 0.9), (0.5, 0.99)):
        f(jax.random.key(0), jm.stack_hparams([
            jm.make_hparams("relu", 0.01, optimizer={"momentum": v})
            for v in values]), tiny_data)
    assert len(traces) == 1


@pytest.mark.slow  # a long run: many compiles
def test_cnn_gradients_match_finite_differences():
    """In float64, through the convolutions, max pooling and our custom-JVP
    activations: reverse-mode gradients against central differences, one
    weight at a time (a random direction moving every weight at once
    crosses max-pooling's kinks)."""
    act = jm.activation_index("tanh")
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        params, _ = cnn.init_cnn(jax.random.key(0), act)
        params = jax.tree.map(lambda w: w.astype(jnp.float64), params)
        x = jnp.asarray(np.random.default_rng(0).random((2, 784)))
        y = jnp.asarray([3, 7], jnp.int32)

        def loss(p):
            return model.loss_from_logits(cnn.apply_cnn(p, act, x)[0], y)

        grads = jax.grad(loss)(params)
        rng = np.random.default_rng(1)
        for layer in range(len(params)):
            for key in ("w", "b"):
                shape = params[layer][key].shape
                for _ in range(3):
                    idx = tuple(int(rng.integers(n)) for n in shape)
                    bump = lambda d, k=key, i=idx, at=layer: [
                        {**p, k: p[k].at[i].add(d)} if j == at else p
                        for j, p in enumerate(params)]
                    fd = (loss(bump(1e-6)) - loss(bump(-1e-6))) / 2e-6
                    assert float(grads[layer][key][idx]) == pytest.approx(
                        float(fd), rel=1e-5, abs=1e-9), (layer, key, idx)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_cnn_conv_and_pool_equal_xla_ops(padding):
    """The im2col convolution and the reshape max-pool against
    ``lax.conv_general_dilated`` and ``lax.reduce_window``: values and the
    convolution's gradients to float32 tolerance, pooling exactly."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(3, 12, 12, 6)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(5, 5, 6, 16)), jnp.float32)

    def xla_conv(x, kernel):
        return jax.lax.conv_general_dilated(
            x, kernel, (1, 1), padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    ours, theirs = cnn.conv(x, kernel, padding), xla_conv(x, kernel)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)
    cotangent = jnp.asarray(rng.normal(size=ours.shape), jnp.float32)
    ours_vjp = jax.vjp(lambda a, b: cnn.conv(a, b, padding), x, kernel)[1]
    for a, b in zip(ours_vjp(cotangent),
                    jax.vjp(xla_conv, x, kernel)[1](cotangent)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(
        cnn.pool(ours), jax.lax.reduce_window(
            ours, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"))


@pytest.mark.slow  # a long run: many compiles
def test_cnn_evaluates_large_batches_in_chunks(monkeypatch):
    """A batch over ``EVAL_CHUNK`` images (with a remainder) gives the
    logits and pre-activations of one whole pass, in the images' order."""
    params, stats = cnn.init_cnn(jax.random.key(0), 1, batch_norm=True)
    images = jnp.asarray(np.random.default_rng(0).integers(
        0, 256, (2 * cnn.EVAL_CHUNK + 37, 784)), jnp.uint8)
    chunked = cnn.apply_cnn(params, 1, images, stats=stats)
    monkeypatch.setattr(cnn, "EVAL_CHUNK", images.shape[0])
    whole = cnn.apply_cnn(params, 1, images, stats=stats)
    tree_allclose(chunked, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # a long run: many compiles
def test_cnn_shapes_and_training(tiny_data):
    params, stats = cnn.init_cnn(jax.random.key(0), 0)
    assert [p["w"].shape for p in params] == [
        (5, 5, 1, 6), (5, 5, 6, 16), (400, 120), (120, 84), (84, 10)]
    assert stats is None
    out, zs, _ = cnn.apply_cnn(params, 0, tiny_data.val_images[:3])
    assert out.shape == (3, 10)
    assert [z.shape for z in zs] == [(3 * 28 * 28, 6), (3 * 10 * 10, 16),
                                     (3, 120), (3, 84)]
    cfg = jm.TrainConfig(optimizer="adam", model="cnn", batch_norm=True,
                         dropout=True, epochs=3, batch_size=32)
    res = run(cfg, [jm.make_hparams("relu", 1e-3, dropout=0.2),
                    jm.make_hparams("tanh", 1e-3)], tiny_data)
    loss = np.asarray(res.metrics.train_loss)
    assert (loss[:, -1] < loss[:, 0]).all()
    assert float(jm.accuracy(take(res.params, 0) if res.stats is None else
                             jm.sweep.store.with_running_stats(
                                 take(res.params, 0), take(res.stats, 0)),
                             0, tiny_data.val_images,
                             tiny_data.val_labels)) == pytest.approx(
        float(res.metrics.val_accuracy[0, -1]))


def test_sweep_groups_by_structure_and_vmaps_the_rest():
    cfg = SweepConfig(activations=("relu",), optimizers=("adam",),
                      model=("mlp", "cnn"), hidden=((128, 64), (256,)),
                      batch_norm=(False, True), dropout=(0.0, 0.2),
                      weight_decay=(0.0, 1e-4),
                      optimizer_options=(("adam", (("b2", (0.99, 0.999)),
                                                   ("eps", (1e-7,)))),))
    names = [g.name for g in cfg.groups()]
    assert names == ["adam", "adam-bn", "adam-h256", "adam-h256-bn",
                     "adam-cnn", "adam-cnn-bn"]
    adam = cfg.groups()[0]
    assert len(adam.cells) == 2 * 2 * 2  # dropout x decay x b2
    assert adam.config.vmapped_options == ("b2",)
    assert adam.config.optimizer_options == (("eps", 1e-7),)
    assert adam.config.dropout and adam.config.weight_decay
    assert adam.members[0].optimizer_options == "b2=0.99;eps=1e-07"
    with pytest.raises(ValueError, match="batch norm needs batches of 2"):
        SweepConfig(optimizers=("sgd",), batch_norm=(True,)).groups()


@pytest.mark.parametrize("kwargs,message", [
    (dict(dropout=(1.0,)), "dropout must be in [0, 1), got 1.0"),
    (dict(dropout=(-0.1,)), "dropout must be in [0, 1), got -0.1"),
    (dict(weight_decay=(-1e-4,)), "weight_decay must be >= 0"),
    (dict(hidden=((),)), "hidden size () must be one or more positive"),
    (dict(hidden=((128, 0),)), "hidden size (128, 0) must be one or more"),
    (dict(model=("rnx",)), "unknown model 'rnx'; choose from: mlp, cnn"),
    (dict(optimizer_options=(("adam", (("beta2", (0.9,)),)),)),
     "adam has no numeric option 'beta2'"),
])
def test_bad_values_are_one_clear_line(kwargs, message):
    with pytest.raises(ValueError) as e:
        SweepConfig(**kwargs)
    assert message.replace("\\", "") in str(e.value)
    assert "\n" not in str(e.value)


def test_flags_parse(tmp_path):
    cfg, _ = config_from_args([
        "--hidden", "128,64", "256,128", "--batch-norm", "--dropout",
        "0,0.2,0.5", "--weight-decay", "0,1e-4", "--model", "mlp,cnn",
        "--optimizer-options", "adam.b2=0.99,0.999",
        "momentum.momentum=0.8,0.9"])
    assert cfg.hidden == ((128, 64), (256, 128)) and cfg.batch_norm == (True,)
    assert cfg.dropout == (0.0, 0.2, 0.5) and cfg.model == ("mlp", "cnn")
    assert dict(cfg.optimizer_options)["momentum"] == (("momentum",
                                                        (0.8, 0.9)),)
    both, _ = config_from_args(["--batch-norm", "off,on"])
    assert both.batch_norm == (False, True)
    toml = tmp_path / "r.toml"
    toml.write_text('hidden = [[128, 64], [256, 128]]\nbatch_norm = [false, '
                    'true]\ndropout = [0, 0.2]\n[optimizer_options.adam]\n'
                    'b2 = [0.99, 0.999]\n')
    from_file, _ = config_from_args([str(toml)])
    assert from_file.hidden == cfg.hidden and from_file.batch_norm == (
        False, True)
    assert dict(from_file.optimizer_options)["adam"] == (("b2",
                                                          (0.99, 0.999)),)
