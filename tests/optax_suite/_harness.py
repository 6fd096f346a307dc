"""Run optax 0.2.8's own test files against our optimizers.

The test files (``optax/_src/alias_test.py``, ``transform_test.py``,
``float64_test.py``, ``sharding_test.py``) ship in the optax wheel; we
import them from the installed package, never copy them. Before a file is
imported, and while its tests run, the module attributes it looks up
(``alias.adam``, ``transform.scale_by_adam``, ``transforms.trace``,
``optax.adam``, ...) are replaced by ours (:data:`SWAPS`); everything else —
problems, assertions, tolerances, step counts — is optax's. Only the test
cases of optimizers and transforms we ship are collected (:func:`selected`).

``JAXMNIST_OPTAX_SUITE=optax`` runs the same selection against optax's
built-ins instead (a reference, not run in CI).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import types
import unittest
from pathlib import Path

import optax

from jaxmnist.optim import _muon, modern, schedule_free
from jaxmnist.optim import alias as ours
from jaxmnist.optim import transforms as T
from jaxmnist.optim.prodigy import prodigy

PINNED = "0.2.8"
MODE = os.environ.get("JAXMNIST_OPTAX_SUITE", "ours")
FILES = ("alias_test", "transform_test", "float64_test", "sharding_test",
         "contrib/_common_test", "contrib/_muon_test",
         "contrib/_schedule_free_test")

#: our optimizers (optax's names) and transforms
OPTIMIZERS = ("sgd", "adam", "adamw", "nadam", "adagrad", "adadelta",
              "rmsprop", "lion")
#: our optax.contrib optimizers
CONTRIB = ("muon", "adopt", "ademamix", "prodigy", "schedule_free_adamw")
TRANSFORMS = ("scale_by_adam", "scale_by_rms", "scale_by_rss",
              "scale_by_stddev", "scale_by_adadelta", "scale_by_lion", "trace",
              "add_decayed_weights", "scale", "scale_by_schedule")


def _scale(step_size):
    """optax's ``scale``: our constant-rate scaling without the sign flip."""
    return T.scale_by_learning_rate(step_size, flip_sign=False)


def _scale_by_schedule(step_size_fn):
    """optax's ``scale_by_schedule``: our scheduled rate, no sign flip."""
    return T.scale_by_learning_rate(step_size_fn, flip_sign=False)


_OURS = {name: getattr(ours, name) for name in OPTIMIZERS[:-1]}
_OURS.update(lion=modern.lion, muon=modern.muon, adopt=modern.adopt,
             ademamix=modern.ademamix, prodigy=prodigy,
             schedule_free=schedule_free.schedule_free,
             schedule_free_adamw=schedule_free.schedule_free_adamw,
             schedule_free_eval_params=schedule_free.schedule_free_eval_params,
             orthogonalize_via_newton_schulz=_muon.orthogonalize)
_SCHEDULE_FREE = ("schedule_free", "schedule_free_adamw",
                  "schedule_free_eval_params")
_OURS.update({name: getattr(T, name) for name in TRANSFORMS[:-2]})
_OURS.update(scale=_scale, scale_by_schedule=_scale_by_schedule)

#: (module, attribute names) that optax's test files look up
SWAPS = (
    ("optax._src.alias", OPTIMIZERS),
    ("optax._src.transform", TRANSFORMS),
    ("optax.transforms", ("trace", "add_decayed_weights")),
    ("optax", OPTIMIZERS),
    ("optax.contrib", CONTRIB + _SCHEDULE_FREE),
    ("optax.contrib._muon", ("muon", "orthogonalize_via_newton_schulz")),
    ("optax.contrib._adopt", ("adopt",)),
    ("optax.contrib._ademamix", ("ademamix",)),
    ("optax.contrib._prodigy", ("prodigy",)),
    ("optax.contrib._schedule_free", _SCHEDULE_FREE),
)


def skip_reason() -> str | None:
    """Why the suite cannot run here, or None."""
    if optax.__version__ != PINNED:
        return (f"optax {optax.__version__} is installed; the harness runs "
                f"the test files of optax {PINNED}, the pinned version")
    if MODE not in ("ours", "optax"):
        return f"JAXMNIST_OPTAX_SUITE={MODE!r}: expected 'ours' or 'optax'"
    return None


@contextlib.contextmanager
def swapped():
    """Our implementations in optax's modules (nothing in mode 'optax')."""
    saved = []
    try:
        if MODE == "ours":
            for module_name, names in SWAPS:
                module = importlib.import_module(module_name)
                for name in names:
                    saved.append((module, name, getattr(module, name)))
                    setattr(module, name, _OURS[name])
        yield
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)


@contextlib.contextmanager
def _sklearn_stub():
    """alias_test imports sklearn for its L-BFGS tests, which we do not run;
    an empty stand-in lets it import where scikit-learn is not installed."""
    try:
        import sklearn  # noqa: F401, PLC0415  (optional dependency)
        yield
        return
    except ImportError:
        pass
    stub = types.ModuleType("sklearn")
    subs = {f"sklearn.{n}": types.ModuleType(f"sklearn.{n}")
            for n in ("datasets", "linear_model")}
    for full, module in subs.items():
        setattr(stub, full.split(".")[1], module)
    sys.modules.update({"sklearn": stub, **subs})
    try:
        yield
    finally:
        for name in ("sklearn", *subs):
            sys.modules.pop(name, None)


def load(file: str) -> types.ModuleType:
    """optax's ``optax/_src/<file>.py`` (or ``optax/<file>.py`` for a
    ``contrib/`` file), imported with our swaps in place."""
    folder = "" if "/" in file else "_src"
    path = Path(optax.__file__).parent / folder / f"{file}.py"
    spec = importlib.util.spec_from_file_location(
        f"jaxmnist_optax_suite_{MODE}.{file.replace('/', '.')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    xla_flags = os.environ.get("XLA_FLAGS")
    with swapped(), _sklearn_stub():
        spec.loader.exec_module(module)
    if xla_flags is None:  # sharding_test sets it for its own process
        os.environ.pop("XLA_FLAGS", None)
    else:
        os.environ["XLA_FLAGS"] = xla_flags
    return module


def _params_repr(cls, method: str) -> str:
    return getattr(cls, "_test_params_reprs", {}).get(method, "")


def selected(file: str, cls: type, method: str) -> bool:
    """Whether ``cls.method`` of optax's ``file`` tests something we ship."""
    params = _params_repr(cls, method)
    if file == "alias_test":
        if cls.__name__ != "AliasTest":
            return False  # L-BFGS
        if method.startswith("test_explicit_dtype"):
            return True  # sgd with momentum, adam, adamw
        return any(f"opt_name='{n}'" in params for n in OPTIMIZERS)
    if file == "transform_test":
        kept = ("test_scalers_adadelta", "test_scalers_adam",
                "test_scalers_rmsprop", "test_scalers_stddev",
                "test_apply_every", "test_scale", "test_rms_match_adam",
                "test_scalers_lion", "test_lion_modes_variants")
        # not test_lion_invalid_mode_raises: ours refuses the mode when the
        # transform is built, optax's only in update
        return method in kept
    if file == "float64_test":
        name = method.removeprefix("test_mixed_dtype_input_outputs_")
        return name in (*TRANSFORMS, "trace_with_nesterov", "adagrad",
                        "adam", "adamw", "rmsprop", "sgd", "sign_sgd")
    if file == "sharding_test":
        prefixes = ("test_init_with_abstract_input_",
                    "test_state_sharding_type_init_match_update_",
                    "test_state_sharding_type_preserved_with_jit_")
        return any(method.removeprefix(p) in OPTIMIZERS for p in prefixes
                   if method.startswith(p))
    if file == "contrib/_common_test":
        return any(f"opt_name='{n}'" in params for n in CONTRIB) or \
            "wrapper_name='schedule_free'" in params
    if file == "contrib/_muon_test":
        # test_reshape_inverse tests optax's private reshape helper
        return not method.startswith("test_reshape_inverse")
    if file == "contrib/_schedule_free_test":
        # builds sgd(learning_rate=0.0), which our range check refuses
        return method != "test_learning_rate_zero"
    raise ValueError(file)


def test_cases(module: types.ModuleType, file: str
               ) -> list[tuple[type, str]]:
    """(class, method) of every selected test in ``module``."""
    out = []
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, unittest.TestCase):
            names = unittest.TestLoader().getTestCaseNames(value)
            out += [(value, n) for n in names if selected(file, value, n)]
    return out


def restricted(module: types.ModuleType, file: str) -> dict[str, type]:
    """Subclasses of the module's test classes with only the selected
    tests (the others are removed), for pytest to collect."""
    classes: dict[str, type] = {}
    for cls, _ in test_cases(module, file):
        classes.setdefault(cls.__name__, cls)
    out = {}
    for name, cls in classes.items():
        drop = {n: None for n in unittest.TestLoader().getTestCaseNames(cls)
                if not selected(file, cls, n)}
        out[name] = type(name, (cls,), {**drop, "__module__": __name__})
    return out
