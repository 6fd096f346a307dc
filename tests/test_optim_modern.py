"""Lion, Muon, Schedule-Free AdamW, ADOPT, AdEMAMix and Prodigy: ours
against optax 0.2.8's, step by step, under jit and vmap.

One table, ``CASES``, drives the equivalence tests: each optimizer with its
options, on a pytree of matrices (both orientations), a CNN-style kernel,
a vector and a scalar, in float64 (x64) and float32.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmnist as jm
from helpers import descend, member_values, scan_run, tree_allclose
from jaxmnist import optim
from jaxmnist.dynamics import preconditioner
from jaxmnist.optim import MODERN_OPTIMIZERS, evaluation_params, make_optimizer
from jaxmnist.optim.registry import option_names


class Case(NamedTuple):
    name: str
    options: dict
    lr: float
    slow: bool = False  # a variant that compiles for long: slow marker
    rtol64: float = 1e-10  # float64 agreement with optax

    @property
    def id(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.name}[{opts}]" if opts else self.name


CASES = [
    Case("lion", {}, 0.01),
    Case("lion", {"b1": 0.8, "b2": 0.95, "weight_decay": 0.1}, 0.01),
    Case("muon", {}, 0.01),
    Case("muon", {"nesterov": False}, 0.01, slow=True),
    Case("muon", {"adaptive": True}, 0.01, slow=True),
    Case("muon", {"preconditioning": "spectral"}, 0.01, slow=True),
    Case("muon", {"preconditioning": "aol"}, 0.01, slow=True),
    Case("muon", {"preconditioning": "schatten"}, 0.01, slow=True),
    Case("muon", {"ns_coeffs": "dion", "ns_steps": 5}, 0.01, slow=True),
    Case("muon", {"ns_steps": 3, "beta": 0.9, "eps": 1e-6,
                  "adam_b1": 0.8, "adam_b2": 0.99, "adam_eps_root": 1e-8},
         0.01),
    Case("muon", {"consistent_rms": 0.2, "weight_decay": 0.1,
                  "adam_weight_decay": 0.05, "adam_learning_rate": 0.003},
         0.01),
    Case("schedule_free_adamw", {}, 0.01),
    Case("schedule_free_adamw", {"warmup_steps": 5, "b1": 0.8, "b2": 0.99,
                                 "eps": 1e-6, "weight_decay": 0.1,
                                 "weight_lr_power": 1.0}, 0.01,
         # optax's warm-up schedule is float32 also under x64 (see
         # jaxmnist.optim.schedules); ours is float64
         rtol64=1e-6),
    Case("adopt", {}, 0.01),
    Case("adopt", {"b1": 0.8, "b2": 0.99, "eps": 1e-4, "nesterov": True},
         0.01),
    Case("adopt", {"use_clipping": False}, 0.01),
    Case("ademamix", {}, 0.01),
    Case("ademamix", {"b1": 0.8, "b2": 0.99, "b3": 0.999, "alpha": 2.0,
                      "eps": 1e-6, "eps_root": 1e-8, "weight_decay": 0.1},
         0.01),
    Case("prodigy", {}, 1.0),
    Case("prodigy", {"b1": 0.8, "b2": 0.99, "beta3": 0.9, "eps": 1e-6,
                     "estim_lr0": 1e-3, "estim_lr_coef": 0.5,
                     "weight_decay": 0.1}, 0.5),
    Case("prodigy", {"safeguard_warmup": True}, 1.0),
]
PARAMS = [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow
                       else []) for c in CASES]
#: options our factories take beyond the sweep's (dtypes, masks, functions)
NOT_IN_TABLE = {"mu_dtype", "mask", "weight_decay_mask", "state_dtype",
                "clip_value_fn", "muon_weight_dimension_numbers"}


def tree(key, dtype=jnp.float32):
    """Matrices both ways round, an HWIO kernel, a vector and a scalar."""
    k = jax.random.split(key, 5)
    return {"w": jax.random.normal(k[0], (6, 3)).astype(dtype),
            "v": jax.random.normal(k[1], (3, 5)).astype(dtype),
            "k": jax.random.normal(k[2], (3, 3, 2, 4)).astype(dtype),
            "b": jax.random.normal(k[3], (3,)).astype(dtype),
            "s": jax.random.normal(k[4], ()).astype(dtype)}


def grads_seq(n, dtype=jnp.float32, seed=1):
    return [tree(k, dtype) for k in jax.random.split(jax.random.key(seed), n)]


def run_both(case: Case, params, grads):
    """(ours, optax's) params after each step, and our final state."""
    out = []
    for impl in ("ours", "optax"):
        tx = make_optimizer(case.name, case.lr, impl, **case.options)
        ps, state = jax.jit(lambda tx=tx: scan_run(tx, params, grads))()
        out.append((ps, state))
    return out


def test_the_table_covers_every_option():
    assert {c.name for c in CASES} == set(MODERN_OPTIMIZERS)
    for name in MODERN_OPTIMIZERS:
        used = {k for c in CASES if c.name == name for k in c.options}
        assert used | NOT_IN_TABLE >= set(option_names(name)), name
        assert set(optim.get_spec(name).vmappable) <= used | {"eps"}


@pytest.mark.parametrize("case", PARAMS)
def test_float64_ours_equals_optax(case):
    with jax.enable_x64(True):
        params = tree(jax.random.key(0), jnp.float64)
        (ours, state), (theirs, their_state) = run_both(
            case, params, grads_seq(20, jnp.float64))
        assert ours["w"].dtype == jnp.float64
        tree_allclose(ours, theirs, rtol=case.rtol64, atol=case.rtol64)
        last = jax.tree.map(lambda x: x[-1], ours)
        tree_allclose(evaluation_params(case.name, state, last),
                     evaluation_params(case.name, their_state,
                                       jax.tree.map(lambda x: x[-1], theirs)),
                     rtol=case.rtol64, atol=case.rtol64)


@pytest.mark.parametrize("case", PARAMS)
def test_float32_ours_tracks_optax_and_eager_equals_jit(case):
    params, grads = tree(jax.random.key(0)), grads_seq(10)
    (ours, _), (theirs, _) = run_both(case, params, grads)
    tree_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    tx = make_optimizer(case.name, case.lr, "ours", **case.options)
    p, s = params, tx.init(params)
    for i, g in enumerate(grads[:3]):
        u, s = tx.update(g, s, p)
        p = optax.apply_updates(p, u)
        assert {x.dtype for x in jax.tree.leaves(u)} == {
            jnp.dtype(jnp.float32)}
        tree_allclose(p, jax.tree.map(lambda x, i=i: x[i], ours), 1e-5, 1e-6)


COMPLEX = ["lion", "ademamix", "muon", "schedule_free_adamw"]


@pytest.mark.parametrize("name", COMPLEX)
def test_complex_float64_ours_equals_optax(name):
    case = next(c for c in CASES if c.name == name)
    with jax.enable_x64(True):
        def ctree(key):
            re, im = tree(key, jnp.float64), tree(
                jax.random.fold_in(key, 1), jnp.float64)
            return jax.tree.map(jax.lax.complex, re, im)
        params = ctree(jax.random.key(0))
        grads = [ctree(k) for k in jax.random.split(jax.random.key(1), 10)]
        (ours, _), (theirs, _) = run_both(case, params, grads)
        assert ours["w"].dtype == jnp.complex128
        tree_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------
# vmap over traced learning rates and options (each member alone:
# tests/test_optim_vmap.py)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", MODERN_OPTIMIZERS)
def test_vmapped_options_ours_equals_optax_in_float64(name):
    """Three members with traced float64 rates and options: ours = optax's
    (inject_hyperparams) member by member."""
    case = next(c for c in CASES if c.name == name)
    with jax.enable_x64(True):
        params = tree(jax.random.key(2), jnp.float64)
        grads = grads_seq(8, jnp.float64, seed=3)
        values = {k: member_values(k, d, 2.0)
                  for k, d in optim.get_spec(name).vmappable.items()}
        values["learning_rate"] = [case.lr, case.lr / 3, case.lr * 2]
        arrays = {k: jnp.asarray(v, jnp.float64) for k, v in values.items()}

        def run(hp, impl):
            hp = dict(hp)
            tx = make_optimizer(name, hp.pop("learning_rate"), impl, **hp)
            return scan_run(tx, params, grads)[0]

        ours, theirs = (jax.jit(jax.vmap(lambda hp, i=impl: run(hp, i)))(
            arrays) for impl in ("ours", "optax"))
        assert ours["w"].dtype == jnp.float64
        tree_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


def test_muon_vmapped_members_are_not_a_matrix_axis():
    """Stacked members (a leading axis of 3) under vmap: each member's
    [6, 3] matrix is orthogonalised on its own, its [3] bias goes to Adam,
    exactly as one member alone (a stacked bias is 2-D and would be taken
    for a matrix if the member axis leaked into the shapes)."""
    tx = make_optimizer("muon", 0.01)
    members = [tree(k) for k in jax.random.split(jax.random.key(4), 3)]
    grads = [tree(k) for k in jax.random.split(jax.random.key(5), 3)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *members)
    stacked_g = jax.tree.map(lambda *x: jnp.stack(x), *grads)

    def step(p, g):
        return tx.update(g, tx.init(p), p)[0]

    batched = jax.jit(jax.vmap(step))(stacked, stacked_g)
    for i in range(3):
        solo = jax.jit(step)(members[i], grads[i])
        tree_allclose(jax.tree.map(lambda x, i=i: x[i], batched), solo,
                     rtol=1e-6, atol=1e-7)
        # the matrix step is orthogonal: singular values near lr (the
        # quintic Newton-Schulz lands them in about [0.7, 1.2])
        sv = np.linalg.svd(np.asarray(solo["w"]) / 0.01, compute_uv=False)
        assert 0.5 < sv.min() and sv.max() < 1.5
        # the bias's first (Nesterov) Adam step: lr (1 + b1 / (1 + b1)) sign(g)
        np.testing.assert_allclose(np.abs(solo["b"]), 0.01 * (1 + 0.9 / 1.9),
                                   rtol=1e-4)


@pytest.mark.slow  # a long run: many compiles
def test_muon_folds_cnn_kernels_and_leaves_batch_norm_to_adam():
    params, _ = jm.init_cnn(jax.random.key(0), batch_norm=True)
    grads = jm.init_cnn(jax.random.key(1), batch_norm=True)[0]
    tx = make_optimizer("muon", 0.01)
    u = cast(list, tx.update(grads, tx.init(params), params)[0])
    kernel = np.asarray(u[0]["w"]).reshape(-1, u[0]["w"].shape[-1]) / 0.01
    sv = np.linalg.svd(kernel, compute_uv=False)
    assert 0.5 < sv.min() and sv.max() < 1.5  # [5*5*1, 6]: orthogonalised
    np.testing.assert_allclose(np.abs(u[0]["scale"]), 0.01 * (1 + 0.9 / 1.9),
                               rtol=1e-3)  # Adam's (Nesterov) first step


@pytest.mark.slow  # a long run: many compiles
@pytest.mark.parametrize("name", MODERN_OPTIMIZERS)
def test_trains_in_make_train_with_both_implementations(name, tiny_data):
    """The sweep's path: TrainConfig, a vmappable option taken from the
    member's hparams; ours and optax's give the same run."""
    data = tiny_data._replace(train_images=tiny_data.train_images[:64],
                              train_labels=tiny_data.train_labels[:64])
    spec = optim.get_spec(name)
    option = next(iter(spec.vmappable))
    hp = jm.make_hparams("tanh", spec.learning_rate,
                         optimizer={option: spec.vmappable[option]})
    finals = []
    for impl in ("ours", "optax"):
        cfg = jm.TrainConfig(optimizer=name, epochs=1, implementation=impl,
                             sizes=(784, 8, 10), activations=("tanh",),
                             batch_size=16, vmapped_options=(option,))
        finals.append(jax.jit(jm.make_train(cfg))(jax.random.key(0), hp,
                                                  data))
    tree_allclose(finals[0], finals[1], rtol=1e-4, atol=1e-5)
    assert not bool(finals[0].metrics.diverged[-1])


@pytest.mark.parametrize("impl", ["ours", "optax"])
def test_muon_has_no_diagonal_preconditioner(impl):
    """The sharpness probes' preconditioner must cover every parameter:
    Muon's AdamW part holds MaskedNode in place of the matrices, so Muon
    gets none (it crashed the probes), while plain Adam's is found."""
    params = tree(jax.random.key(0))
    muon = make_optimizer("muon", 0.01, impl)
    assert preconditioner(muon.init(params)) is None
    adam = make_optimizer("adam", 0.01, impl)
    p = preconditioner(adam.init(params))
    assert jax.tree.structure(p) == jax.tree.structure(params)


# --------------------------------------------------------------------------
# Schedule-Free's evaluation point
# --------------------------------------------------------------------------

def test_schedule_free_evaluation_point_is_optax_s():
    params, grads = tree(jax.random.key(0)), grads_seq(5)
    tx = make_optimizer("schedule_free_adamw", 0.01)
    ps, state = scan_run(tx, params, grads)
    y = jax.tree.map(lambda x: x[-1], ps)
    x = evaluation_params("schedule_free_adamw", state, y)
    tree_allclose(x, optax.contrib.schedule_free_eval_params(state, y),
                 rtol=0, atol=0)
    assert not np.allclose(x["w"], y["w"])  # a different point
    # inside a chain (the sweep's L2 in front) it is still found
    chained = optax.chain(optax.add_decayed_weights(0.0), tx)
    _, cstate = scan_run(chained, params, grads)
    tree_allclose(evaluation_params("schedule_free_adamw", cstate, y), x,
                 rtol=1e-6, atol=1e-7)


def test_other_optimizers_evaluate_their_params():
    params = tree(jax.random.key(0))
    tx = make_optimizer("adam", 0.01)
    assert evaluation_params("adam", tx.init(params), params) is params


# --------------------------------------------------------------------------
# The optimum of optax's test problems, with its settings: contrib's
# 30 000 steps (alias_test's 10 000 for Lion), rates and 3e-2 tolerance
# --------------------------------------------------------------------------

#: optax's learning rates and options for these problems
#: (contrib/_common_test.py; lion: _src/alias_test.py)
OPTAX_TEST_LR = {"lion": 1e-2, "muon": 1e-2, "adopt": 1e-2,
                 "ademamix": 1e-3, "prodigy": 1e-1,
                 "schedule_free_adamw": 1e-2}
EXTRA = {"schedule_free_adamw": {"warmup_steps": 5000},
         "lion": {"weight_decay": 1e-4}}
STEPS = {"lion": 10_000}


def parabola(p):
    return jnp.sum(jnp.square(p - jnp.asarray([1.0, -1.0, 1.0])))


def rosenbrock(p):
    return jnp.square(1.0 - p[0]) + 100.0 * jnp.square(p[1] - p[0] ** 2)


TARGET = jnp.asarray([[3.0, -2.0], [1.0, 4.0]])


def matrix_parabola(p):
    return jnp.sum(jnp.square(p - TARGET))


PROBLEMS = {"parabola": (parabola, [-1.0, 10.0, 1.0], [1.0, -1.0, 1.0]),
            "rosenbrock": (rosenbrock, [0.0, 0.0], [1.0, 1.0]),
            "matrix_parabola": (matrix_parabola, [[0.0, 0.0], [0.0, 0.0]],
                                TARGET)}


@pytest.mark.slow
@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("name", MODERN_OPTIMIZERS)
def test_reaches_the_optimum(name, problem):
    fn, start, optimum = PROBLEMS[problem]
    tx = make_optimizer(name, OPTAX_TEST_LR[name], "ours",
                        **EXTRA.get(name, {}))

    @jax.jit
    def run(p):
        p, s = descend(tx, fn, p, STEPS.get(name, 30_000))
        return evaluation_params(name, s, p)

    p = run(jnp.asarray(start, jnp.float32))
    np.testing.assert_allclose(p, optimum, rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("call,message", [
    (lambda: optim.transforms.scale_by_lion(mode="hardd"),
     "unknown lion mode 'hardd' (did you mean 'hard'?); choose from: hard, "
     "smooth, refined"),
    (lambda: make_optimizer("muon", 0.01, preconditioning="frobenious"),
     "unknown muon preconditioning 'frobenious' (did you mean 'frobenius'?);"
     " choose from: frobenius, spectral, aol, schatten"),
    (lambda: make_optimizer("muon", 0.01, ns_coeffs="dino").init(
        jnp.zeros((2, 2))),
     "unknown muon ns_coeffs preset 'dino' (did you mean 'dion'?); choose "
     "from: standard, dion"),
])
def test_unknown_choices_are_one_line(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == message
