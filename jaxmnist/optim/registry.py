"""The sweep's optimizer names: our factory, optax's built-in, defaults.

``sgd`` and ``minibatch_sgd`` both use :func:`jaxmnist.optim.sgd`; they differ
in batch size (1, the per-sample updates of from-scratch assignments, against
128). Default learning rates are the usual starting points for this MLP on
MNIST; ``--tune-lr`` searches around them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np
import optax
from optax.contrib import MuonDimensionNumbers

from jaxmnist.errors import unknown_name_message
from jaxmnist.optim import alias, modern
from jaxmnist.optim.prodigy import prodigy as _prodigy
from jaxmnist.optim.ranges import check_option as _check_option
from jaxmnist.optim.schedule_free import (
    ScheduleFreeState,
    schedule_free_adamw,
    schedule_free_eval_params,
)


class OptimizerSpec(NamedTuple):
    """One sweep optimizer.

    ``vmappable`` names the numeric options (besides the learning rate) that
    may be given as traced scalars, so a sweep can vmap over them (one
    compile for all values), with their defaults.
    """
    name: str
    ours: Callable[..., optax.GradientTransformation]
    builtin: Callable[..., optax.GradientTransformation]
    learning_rate: float
    batch_size: int
    why: str
    vmappable: dict[str, float]
    per_sample: bool = False  # batch 1 by definition: --batch-size ignored

    def batch_size_for(self, requested: int | None) -> int:
        """The batch size of this optimizer's group when the sweep asks for
        ``requested`` (None: the optimizer's default)."""
        if self.per_sample or requested is None:
            return self.batch_size
        return requested


def model_dimension_numbers(params):
    """Muon's matrices in our models: dense ``w`` ``[in, out]`` as is, the
    CNN's HWIO kernels folded to ``[5*5*in, out]`` (optax's documented
    reshape for convolutions); every other leaf (biases, batch-norm scales
    and shifts) goes to Adam."""
    def dims(x):
        if x.ndim == 2:
            return MuonDimensionNumbers(0, 1)
        if x.ndim == 4:
            return MuonDimensionNumbers((0, 1, 2), 3)
        return None
    return jax.tree.map(dims, params)


def _with_model_dims(muon: Callable) -> Callable:
    """``muon`` whose matrices default to :func:`model_dimension_numbers`."""
    def factory(learning_rate, **options):
        if options.get("muon_weight_dimension_numbers") is None:
            options["muon_weight_dimension_numbers"] = model_dimension_numbers
        return muon(learning_rate, **options)
    factory.__signature__ = inspect.signature(muon)  # type: ignore[attr-defined]
    return factory


def _split_betas(prodigy: Callable) -> Callable:
    """``prodigy`` with ``betas=(b1, b2)`` as two options (each vmappable)."""
    def factory(learning_rate=1.0, b1=0.9, b2=0.999, beta3=None, eps=1e-8,
                estim_lr0=1e-6, estim_lr_coef=1.0, weight_decay=0.0,
                safeguard_warmup: bool = False):
        return prodigy(learning_rate, (b1, b2), beta3, eps, estim_lr0,
                       estim_lr_coef, weight_decay, safeguard_warmup)
    return factory


def _builtin(name: str, ours: Callable, builtin: Callable,
             learning_rate: float, batch_size: int, why: str,
             per_sample: bool = False) -> OptimizerSpec:
    """A built-in's spec: every option of ``ours`` with a float default
    (besides the learning rate) is vmappable, with that default."""
    vmappable = {p.name: p.default
                 for p in inspect.signature(ours).parameters.values()
                 if type(p.default) is float and p.name != "learning_rate"}
    return OptimizerSpec(name, ours, builtin, learning_rate, batch_size, why,
                         vmappable, per_sample)


_SPECS: tuple[OptimizerSpec, ...] = (
    _builtin("sgd", alias.sgd, optax.sgd, 0.01, 1,
             "per-sample SGD: 0.01 is the classic from-scratch choice; at "
             "batch 1 larger steps make the 55k noisy updates diverge",
             per_sample=True),
    _builtin("minibatch_sgd", alias.sgd, optax.sgd, 0.1, 128,
             "batch 128 averages the gradient, so a 10x larger step than "
             "per-sample SGD is stable and ~10x faster per epoch"),
    _builtin("momentum", alias.momentum,
             functools.partial(optax.sgd, momentum=0.9), 0.01, 128,
             "beta 0.9 multiplies the step by 1/(1-beta) = 10, so 0.01 "
             "matches minibatch SGD's effective 0.1"),
    _builtin("nesterov", alias.nesterov, functools.partial(
        optax.sgd, momentum=0.9, nesterov=True), 0.01, 128, "as momentum"),
    _builtin("adam", alias.adam, optax.adam, 1e-3, 128,
             "Kingma & Ba's default, the common default everywhere"),
    _builtin("adamw", alias.adamw, optax.adamw, 1e-3, 128,
             "Adam's step: a 1e-4 decay barely changes the steps, only the "
             "weights' pull towards 0"),
    _builtin("nadam", alias.nadam, optax.nadam, 1e-3, 128,
             "Adam's, as Dozat and Keras: the look-ahead changes the "
             "direction, not the size, of the step"),
    _builtin("adagrad", alias.adagrad, optax.adagrad, 0.01, 128,
             "Duchi et al.'s and PyTorch's default; Keras' 0.001 crawls "
             "because the accumulated squares only grow"),
    _builtin("adadelta", alias.adadelta, optax.adadelta, 1.0, 128,
             "Zeiler's method has no learning rate, i.e. 1.0; Keras' 0.001 "
             "makes it 1000x slower"),
    _builtin("rmsprop", alias.rmsprop, optax.rmsprop, 1e-3, 128,
             "Hinton's lecture and Keras' default"),
    _builtin("lion", modern.lion, optax.lion, 3e-4, 128,
             "sign updates move every weight by the full rate, so Chen et "
             "al. advise 3-10x below Adam's 1e-3"),
    _builtin("muon", _with_model_dims(modern.muon),
             _with_model_dims(optax.contrib.muon), 5e-3, 128,
             "orthogonalised steps have spectral norm ~1 whatever the "
             "gradient's size; 5e-3 also suits the Adam-updated biases"),
    _builtin("schedule_free_adamw", schedule_free_adamw,
             optax.contrib.schedule_free_adamw, 2.5e-3, 128,
             "optax's default 2.5e-3: averaging tolerates a larger step "
             "than Adam's"),
    _builtin("adopt", modern.adopt, optax.contrib.adopt, 1e-3, 128,
             "Adam's scale: the normalised gradient is clipped to t^(1/4), "
             "so steps are Adam-sized"),
    _builtin("ademamix", modern.ademamix, optax.contrib.ademamix, 1e-3, 128,
             "Adam's 1e-3, as the paper uses Adam's rates"),
    _builtin("prodigy", _split_betas(_prodigy),
             _split_betas(optax.contrib.prodigy), 1.0, 128,
             "the rate multiplies the estimated step size: 1.0 is "
             "Prodigy's point, nothing to tune"),
)
#: The newer optimizers, after the classic ones.
MODERN_OPTIMIZERS: tuple[str, ...] = ("lion", "muon", "schedule_free_adamw",
                                      "adopt", "ademamix", "prodigy")

#: The sweep's optimizer names, in display order (then those registered by
#: :func:`add_spec`: a list, appended in place).
OPTIMIZERS: list[str] = [s.name for s in _SPECS]
IMPLEMENTATIONS: tuple[str, ...] = ("ours", "optax")


def get_spec(name: str) -> OptimizerSpec:
    """The registry entry of the sweep optimizer ``name``."""
    for spec in (*_SPECS, *_ADDED):
        if spec.name == name:
            return spec
    raise ValueError(unknown_name_message("optimizer", name, OPTIMIZERS))


def option_names(name: str) -> tuple[str, ...]:
    """The hyperparameters (besides learning_rate) that ``name`` accepts."""
    params = inspect.signature(get_spec(name).ours).parameters
    return tuple(p for p in params if p != "learning_rate")


def _standard_promotion(tx: optax.GradientTransformation
                        ) -> optax.GradientTransformation:
    """Run ``tx`` under standard dtype promotion.

    optax 0.2.8's ``scale_by_adam`` computes ``b1 ** count`` (a Python float
    to an int32 power), which ``jax_numpy_dtype_promotion="strict"`` rejects;
    promotion is decided at trace time, so a context around ``init`` and
    ``update`` lets the built-ins run inside strict code.
    """
    def init_fn(params):
        with jax.numpy_dtype_promotion("standard"):
            return tx.init(params)

    def update_fn(updates, state, params=None):
        with jax.numpy_dtype_promotion("standard"):
            return tx.update(updates, state, params)

    return optax.GradientTransformation(init_fn, update_fn)


def _is_array(value) -> bool:
    """A (possibly traced) array option, as opposed to a Python value."""
    return isinstance(value, (jax.Array, np.ndarray, np.generic))


def make_optimizer(name: str, learning_rate, implementation: str = "ours",
                   **options) -> optax.GradientTransformation:
    """The optimizer ``name`` with ``learning_rate`` (float, array, schedule).

    ``options`` are the optimizer's other hyperparameters (see
    :func:`option_names`); numeric ones may be traced scalars (see
    ``OptimizerSpec.vmappable``). ``implementation="ours"`` uses our
    transforms; ``"optax"`` the built-in, wrapped in
    ``optax.inject_hyperparams`` so the learning rate and every array option
    live in the optimizer state like any other array (traced, vmappable),
    while Python-valued options stay static, as in the plain built-in. The
    built-in runs under standard dtype promotion (see
    :func:`_standard_promotion`).
    """
    spec = get_spec(name)
    if implementation == "ours":
        return spec.ours(learning_rate, **options)
    if implementation == "optax":
        static = tuple(p for p in inspect.signature(spec.builtin).parameters
                       if p != "learning_rate"
                       and not _is_array(options.get(p)))
        return _standard_promotion(optax.inject_hyperparams(
            spec.builtin, static_args=static)(learning_rate=learning_rate,
                                              **options))
    raise ValueError(unknown_name_message("implementation", implementation,
                                          IMPLEMENTATIONS))


#: Optimizers registered at run time (see :mod:`jaxmnist.plugins`).
_ADDED: list[OptimizerSpec] = []


def add_spec(spec: OptimizerSpec) -> None:
    """Make ``spec`` a sweep optimizer, after the built-ins (the checks a
    user's optimizer needs are in :mod:`jaxmnist.plugins`)."""
    if spec.name in OPTIMIZERS:
        raise ValueError(f"optimizer {spec.name!r} is already registered")
    _ADDED.append(spec)
    OPTIMIZERS.append(spec.name)


def remove_specs_after(count: int) -> None:
    """Forget the optimizers added after the first ``count`` (never a
    built-in): undoes :func:`add_spec`, e.g. between tests."""
    count = max(count, len(_SPECS))
    del _ADDED[count - len(_SPECS):]
    del OPTIMIZERS[count:]


def check_option(optimizer: str, name: str, value) -> None:
    """ValueError with one line unless ``value`` is in the declared range of
    ``optimizer``'s option ``name`` (:mod:`jaxmnist.optim.ranges`)."""
    _check_option(get_spec(optimizer).name, name, value)


#: Schedule-Free's state types: ours and optax's.
_SCHEDULE_FREE_STATES = (ScheduleFreeState, optax.contrib.ScheduleFreeState)


def evaluation_params(name: str, opt_state, params):
    """The point to evaluate (validate, test, save) after training with
    ``name``: Schedule-Free's average ``x = (y - (1 - b1) z) / b1``
    (optax's ``schedule_free_eval_params``) from the schedule-free state in
    ``opt_state`` (ours or optax's, also within ``inject_hyperparams`` or a
    chain), the params themselves for every other optimizer."""
    def is_state(node):
        return isinstance(node, _SCHEDULE_FREE_STATES)

    if get_spec(name).name != "schedule_free_adamw":
        return params
    found = [n for n in jax.tree.leaves(opt_state, is_leaf=is_state)
             if is_state(n)]
    return schedule_free_eval_params(found[0], params) if found else params
