"""Bring your own optimizer or activation.

:func:`register_optimizer` makes any function ``factory(learning_rate,
**options) -> optax.GradientTransformation`` a sweep optimizer;
:func:`register_activation` makes a jnp function an activation. Both are
appended to the registries the built-ins live in, so their members train in
the same vmapped groups (the learning rate and the ``vmappable`` options
are traced arrays; every activation is one more ``lax.switch`` branch) and
appear in every output.

From the command line and TOML a plugin is named by import path:
``--optimizers adam,mypkg.opt:signum`` imports ``mypkg.opt`` and uses the
optimizer it registered as ``signum`` (``--activations relu,mypkg.act:mish``
also takes a function the module defines without registering it);
``--plugins mypkg.opt`` (TOML ``plugins = ["mypkg.opt"]``) imports modules
that register themselves.
Each registration remembers the module it came from (the one being
imported, else the function's own module), so a saved model records the
import path and :func:`jaxmnist.load_model` imports it again.

Every check raises ValueError with one line naming the bad value.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmnist.core import activations as act
from jaxmnist.errors import (
    check_choice,
    check_positive_float,
    check_positive_int,
)
from jaxmnist.optim import registry

__all__ = ["PluginError", "import_plugins", "register_activation",
           "register_optimizer", "resolve", "source_modules"]



class PluginError(ValueError):
    """A plugin module that cannot be imported: a run or model that needs
    it says so as it is, not as a damaged file."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENTRY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?",
                    re.ASCII)
#: (kind, name) -> the module that registered it (None: not importable).
_SOURCES: dict[tuple[str, str], str | None] = {}
#: The modules :func:`import_plugins` is importing now (innermost last).
_IMPORTING: list[str] = []
#: Where :func:`register_activation` measures max |f'| (probes' scale).
_DERIVATIVE_GRID = np.linspace(-10.0, 10.0, 20001, dtype=np.float32)
_VALUE_SHAPE = (3, 5)


def register_optimizer(name: str, factory: Callable[..., Any], *,
                       learning_rate: float, batch_size: int,
                       vmappable: Sequence[str] = (), why: str = "") -> None:
    """Make ``factory`` the sweep optimizer ``name``.

    ``factory(learning_rate, **options)`` must return an optax
    ``GradientTransformation``; ``learning_rate`` and ``batch_size`` are
    its defaults in the sweep (``--learning-rates`` and tuning start from
    the rate); ``vmappable`` names the numeric options (keyword parameters
    of ``factory`` with numeric defaults) a sweep may vary as vmapped axes
    (``--optimizer-options NAME.OPTION=V1,V2``). ``why`` is the reason for
    the defaults, shown where the registry's are. The factory is called
    once here, with traced arrays as the sweep will, to check it.
    """
    _check_new("optimizer", name, factory, registry.OPTIMIZERS)
    check_positive_float(f"optimizer {name!r}'s learning_rate",
                         learning_rate)
    check_positive_int(f"optimizer {name!r}'s batch_size", batch_size)
    defaults = _numeric_defaults(name, factory, vmappable)
    _check_factory(name, factory, learning_rate, defaults)
    source = _source(factory)
    registry.add_spec(registry.OptimizerSpec(
        name, factory, factory, float(learning_rate), int(batch_size),
        why or f"registered by {source or 'a script'}", defaults))
    _SOURCES["optimizer", name] = source


def register_activation(name: str, fn: Callable[..., Any],
                        derivative: Callable[[jax.Array], jax.Array] | None
                        = None, *, init_family: str = "he",
                        description: str = "") -> None:
    """Make the elementwise jnp function ``fn`` the activation ``name``.

    ``derivative`` (f', elementwise) is used for the backward pass and the
    probes when given; otherwise forward-mode autodiff of ``fn`` computes
    it. ``init_family`` picks the hidden layers' initialisation: ``"he"``
    for ReLU-like functions, ``"glorot"`` for saturating, zero-centred ones.
    ``fn`` (and ``derivative``) must keep the shape of their input.
    """
    _check_new("activation", name, fn, act.ACTIVATIONS)
    check_choice("init_family", init_family, ("he", "glorot"))
    _check_elementwise(name, "fn", fn)
    if derivative is not None:
        _check_elementwise(name, "derivative", derivative)

    def value_and_derivative(x):
        if derivative is not None:
            return fn(x), derivative(x)
        return jax.jvp(fn, (x,), (jnp.ones_like(x),))

    slope = value_and_derivative(jnp.asarray(_DERIVATIVE_GRID))[1]
    peak = float(jnp.max(jnp.abs(slope)))
    if not (np.isfinite(peak) and peak > 0):
        raise ValueError(f"activation {name!r}: its derivative on [-10, 10] "
                         f"is {peak} at most, not a positive number")
    act.add_activation(act.Activation(name, fn, init_family, description
                                      or f"{name} (registered)"),
                       value_and_derivative, peak)
    _SOURCES["activation", name] = _source(fn)


def import_plugins(entries: Iterable[str]) -> None:
    """Import each plugin: a module (which registers its optimizers and
    activations itself), or ``module:function``, an activation the module
    defines without registering it (see :func:`resolve`).

    Raises:
      PluginError: one line when an entry is malformed, a module cannot be
        found or fails while importing (its registrations included).
    """
    for entry in entries:
        if not isinstance(entry, str) or not _ENTRY.fullmatch(entry):
            raise PluginError(f"plugin {entry!r} is not a module path like "
                              f"mypkg.opt (or mypkg.act:function)")
        if ":" in entry:
            resolve("activation", entry)
        else:
            _import_module(entry)


def _import_module(module: str):
    _IMPORTING.append(module)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and (module + ".").startswith(e.name + "."):
            raise PluginError(
                f"plugin module {module!r} cannot be imported: no module "
                f"named {e.name!r} (put its folder on PYTHONPATH or run "
                f"from it)") from e
        raise PluginError(f"plugin module {module!r} cannot be imported: "
                          f"{_one_line(e)}") from e
    except Exception as e:  # anything the user's module raises
        raise PluginError(f"plugin module {module!r} failed: "
                          f"{_one_line(e)}") from e
    finally:
        _IMPORTING.pop()


def resolve(kind: str, entry: str) -> str:
    """The registered name of ``entry``: a name as it is, or
    ``module:name`` after importing ``module``. An activation ``name`` the
    module defines but did not register is registered (He init, autodiff
    derivative), its source then ``module:name``."""
    if ":" not in entry:
        return entry
    module, _, name = entry.partition(":")
    if not _ENTRY.fullmatch(entry):
        raise PluginError(f"{entry!r} is not MODULE:NAME like mypkg.opt:name")
    loaded = _import_module(module)
    names = registry.OPTIMIZERS if kind == "optimizer" else act.ACTIVATIONS
    if name in names:
        return name
    fn = getattr(loaded, name, None)
    if kind == "activation" and callable(fn):
        _IMPORTING.append(entry)
        try:
            register_activation(name, fn)
        finally:
            _IMPORTING.pop()
        return name
    theirs = [n for (k, n), s in _SOURCES.items() if k == kind
              and s == module]
    raise ValueError(f"{entry}: module {module!r} registers no {kind} "
                     f"{name!r} (it registers: {', '.join(theirs) or 'none'};"
                     f" call jaxmnist.register_{kind}({name!r}, ...) in it)")


def source_modules(optimizers: Iterable[str] = (),
                   activations: Iterable[str] = ()) -> tuple[str, ...]:
    """The modules that registered these optimizers and activations (the
    built-ins and those registered from a script have none), in order."""
    out: list[str] = []
    for kind, names in (("optimizer", optimizers),
                        ("activation", activations)):
        for name in names:
            module = _SOURCES.get((kind, name))
            if module and module not in out:
                out.append(module)
    return tuple(out)


def with_sources(plugins: Sequence[str], optimizers: Iterable[str],
                 activations: Iterable[str]) -> tuple[str, ...]:
    """``plugins`` and, after them, the modules that registered these
    optimizers and activations: every import a saved run needs."""
    extra = source_modules(optimizers, activations)
    return (*plugins, *(m for m in extra if m not in plugins))


def registered_count() -> tuple[int, int]:
    """(optimizers, activations) registered now: with :func:`forget_after`,
    how tests undo their registrations."""
    return len(registry.OPTIMIZERS), len(act.ACTIVATIONS)


def forget_after(counts: tuple[int, int]) -> None:
    """Forget every optimizer and activation registered since
    :func:`registered_count` returned ``counts`` (never a built-in), and
    the compiled programs that might hold their branches."""
    dropped = {("optimizer", n) for n in registry.OPTIMIZERS[counts[0]:]} | {
        ("activation", n) for n in act.ACTIVATIONS[counts[1]:]}
    registry.remove_specs_after(counts[0])
    act.remove_activations_after(counts[1])
    for key in dropped:
        _SOURCES.pop(key, None)
    jax.clear_caches()


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

def _check_new(kind: str, name: object, fn: object,
               taken: Sequence[str]) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{kind} name {name!r} must be letters, digits and "
                         f"underscores, e.g. 'signum'")
    if name in taken:
        raise ValueError(f"{kind} {name!r} is already registered; choose "
                         f"another name")
    if not callable(fn):
        raise ValueError(f"{kind} {name!r}: {fn!r} is not a function")


def _numeric_defaults(name: str, factory: Callable,
                      vmappable: Sequence[str]) -> dict[str, float]:
    """The defaults of the ``vmappable`` options, from the signature."""
    if isinstance(vmappable, str):
        vmappable = (vmappable,)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    out = {}
    for option in vmappable:
        default = params[option].default if option in params else None
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise ValueError(f"optimizer {name!r}: vmappable option "
                             f"{option!r} needs a numeric default in the "
                             f"factory's signature")
        out[option] = float(default)
    return out


def _check_factory(name: str, factory: Callable, learning_rate: float,
                   defaults: dict[str, float]) -> None:
    """Build and run the optimizer once, abstractly, as the sweep will:
    traced learning rate and options, a matrix and a vector."""
    params = {"w": jnp.zeros((3, 2), jnp.float32),
              "b": jnp.zeros((2,), jnp.float32)}

    def one_step(lr, options, p):
        tx = factory(lr, **options)
        if not isinstance(tx, optax.GradientTransformation):
            raise _NotATransform(type(tx).__name__)
        return tx.update(p, tx.init(p), p)[0]

    arrays = {k: jnp.float32(v) for k, v in defaults.items()}
    try:
        updates = jax.eval_shape(one_step, jnp.float32(learning_rate),
                                 arrays, params)
    except _NotATransform as e:
        raise ValueError(f"optimizer {name!r}: the factory returned a {e}, "
                         f"not an optax GradientTransformation") from None
    except Exception as e:  # anything the user's factory raises
        raise ValueError(f"optimizer {name!r}: one step with a traced "
                         f"learning rate failed: {_one_line(e)}") from e
    shapes = jax.tree.map(lambda x: (x.shape, x.dtype), params)
    if jax.tree.map(lambda x: (x.shape, x.dtype), updates) != shapes:
        raise ValueError(f"optimizer {name!r}: its updates do not have the "
                         f"parameters' shapes and dtypes")


class _NotATransform(Exception):
    """A factory returned something else (its type's name)."""


def _check_elementwise(name: str, what: str, fn: Callable) -> None:
    x = jax.ShapeDtypeStruct(_VALUE_SHAPE, jnp.float32)
    try:
        out = jax.eval_shape(fn, x)
    except Exception as e:  # anything the user's function raises
        raise ValueError(f"activation {name!r}: its {what} fails on a "
                         f"float32 array: {_one_line(e)}") from e
    shape = getattr(out, "shape", None)
    if shape != _VALUE_SHAPE:
        raise ValueError(f"activation {name!r}: its {what} changes the shape "
                         f"{_VALUE_SHAPE} to {shape}; it must be elementwise")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"activation {name!r}: its {what} returns "
                         f"{out.dtype}, not floats")


def _source(fn: object) -> str | None:
    """The module a registration comes from: the plugin being imported,
    else the function's module (None for a script's ``__main__``)."""
    if _IMPORTING:
        return _IMPORTING[-1]
    module = getattr(fn, "__module__", None)
    return None if module in (None, "__main__") else module


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
