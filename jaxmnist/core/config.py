"""Static training config (a frozen dataclass) and vmappable hyperparameters."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmnist.core.activations import ACTIVATIONS, activation_index
from jaxmnist.core.model import DEFAULT_SIZES
from jaxmnist.core.net import MODELS, Net, make_net
from jaxmnist.errors import (
    check_choice,
    check_positive_float,
    check_positive_int,
)
from jaxmnist.optim.registry import IMPLEMENTATIONS, get_spec, option_names
from jaxmnist.optim.schedules import SCHEDULES

#: The probes' defaults (see TrainConfig): chosen so that the classic grid
#: with probes costs at most 15% more than without (docs/dynamics.md).
PROBE_EVERY, SHARPNESS_ITERATIONS, PROBE_SIZE = 5, 8, 1000
#: How plain SGD of an MLP may update its first layer (TrainConfig).
FIRST_LAYERS = ("auto", "dense", "transposed", "deferred")
#: The optimizers whose update is ``−η g``, leaf by leaf: those the
#: deferred first layer (:mod:`jaxmnist.core.deferred`) takes.
PLAIN_SGD = ("sgd", "minibatch_sgd")
#: ``first_layer="auto"`` defers up to this batch size: above it the dense
#: step was as fast (docs/performance.md, "Small-batch SGD").
DEFERRED_MAX_BATCH = 16
#: The optimizers whose update of a weight matrix is the same arithmetic on
#: its transpose (element by element, or through sums over all elements):
#: every built-in but Muon, whose orthogonalised step is shaped by the
#: matrix's orientation. ``first_layer="transposed"`` takes these.
TRANSPOSABLE = ("sgd", "minibatch_sgd", "momentum", "nesterov", "adam",
                "adamw", "nadam", "adagrad", "adadelta", "rmsprop", "lion",
                "schedule_free_adamw", "adopt", "ademamix", "prodigy")


def _normalised_arguments(cls):
    """``cls`` (a frozen dataclass) whose ``__init__`` receives its
    arguments normalised: sequences as tuples (hashable, so the config is
    a static ``jax.jit`` argument), the sizes as ints, the optimizer's
    options as ``(name, value)`` pairs (a mapping too), ``batch_size=None``
    as the optimizer's default batch. The dataclass's own ``__init__`` then
    builds it as given: nothing changes it after it is built."""
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        given = signature.bind(self, *args, **kwargs)
        given.apply_defaults()
        values = dict(given.arguments)
        del values["self"]
        if values["batch_size"] is None:  # an unknown optimizer raises
            values["batch_size"] = get_spec(values["optimizer"]).batch_size
        values["sizes"] = tuple(int(s) for s in values["sizes"])
        values["optimizer_options"] = tuple(
            (str(k), v) for k, v in dict(values["optimizer_options"]).items())
        if values["activations"] is not None:
            values["activations"] = tuple(values["activations"])
        values["vmapped_options"] = tuple(values["vmapped_options"])
        init(self, **values)

    cls.__init__ = __init__
    return cls


@_normalised_arguments
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything structural about a training run: ``make_train`` compiles it.

    Attributes:
      optimizer: a sweep optimizer name (see ``jaxmnist.optim.OPTIMIZERS``).
      epochs: passes over the training split.
      batch_size: examples per step; ``None`` takes the optimizer's default
        (1 for ``sgd``, 128 otherwise). The last partial batch of each
        (reshuffled) epoch is dropped.
      sizes: layer widths, input first, classes last.
      implementation: ``"ours"`` or ``"optax"`` (optax's built-in).
      schedule: learning-rate schedule kind (see ``jaxmnist.optim.SCHEDULES``).
      warmup_epochs: warm-up length for ``warmup_cosine``.
      decay_rate: per-epoch factor for ``exponential``.
      optimizer_options: other hyperparameters of the optimizer, as
        ``(("b1", 0.95),)`` pairs (hashable, so the config stays static).
      activations: the activations the compiled program supports (default
        all of ``ACTIVATIONS``). Under ``vmap`` every supported activation is
        computed and one selected, so a group compiles only those it uses
        (4 of 7 in the classic grid: 22% faster for 4 members); each member's
        ``hparams.activation`` must be one of them.
      dynamics: compute the learning-dynamics probes
        (:mod:`jaxmnist.core.dynamics`); they read the training, never
        change it.
      probe_every: with dynamics, the probes of the probe batch (sharpness,
        units, histograms) run after the first epoch, every this many
        epochs and after the last (NaN in the epochs between); the
        training's probes (gradient and weight norms, update ratios, loss
        windows) every epoch.
      sharpness_iterations: Lanczos steps per probe for the sharpness
        (warm-started from the previous probe's top vector, see
        ``dynamics.lanczos_top``).
      probe_size: the probe batch: the first this many validation images.
      model: the model family, ``"mlp"`` (layer ``sizes``) or ``"cnn"``
        (LeNet-5; ``sizes`` unused).
      batch_norm: batch-normalise every hidden layer before its activation
        (running statistics in the train state; not for batches of 1).
      dropout: compile dropout on the hidden outputs, at each member's
        ``hparams.dropout`` rate (off: no dropout code at all).
      weight_decay: compile the L2 penalty ``hparams.weight_decay * w``
        added to the weights' gradients (biases and batch-norm scales are
        not decayed) before the optimizer.
      vmapped_options: optimizer options (of the optimizer's
        ``OptimizerSpec.vmappable``) taken from each member's
        ``hparams.optimizer`` instead of being constants.
      first_layer: how an MLP's first layer is updated, the same updates
        in exact arithmetic, each fastest somewhere: ``"dense"`` at every
        step as stored (``[in, out]``); ``"transposed"`` at every step,
        the weights and their optimizer state carried ``[out, in]``
        through the epoch's steps (one wide matmul for vmapped members
        sharing a batch, with no per-step copy; an MLP with a hidden
        layer and an optimizer of ``TRANSPOSABLE``); ``"deferred"`` over
        blocks of steps (plain SGD without batch norm, dropout or weight
        decay:
        :mod:`jaxmnist.core.deferred`); ``"auto"`` deferred for batches
        of at most ``DEFERRED_MAX_BATCH``, else transposed where it
        applies, else dense (measured fastest: docs/performance.md). See
        :attr:`first_layer_path`.
    """
    optimizer: str = "adam"
    epochs: int = 10
    batch_size: int = None  # type: ignore[assignment]  # None: the default
    sizes: tuple[int, ...] = DEFAULT_SIZES
    implementation: str = "ours"
    schedule: str = "constant"
    warmup_epochs: float = 1.0
    decay_rate: float = 0.8
    optimizer_options: tuple[tuple[str, float], ...] = ()
    activations: tuple[str, ...] | None = None
    dynamics: bool = False
    probe_every: int = PROBE_EVERY
    sharpness_iterations: int = SHARPNESS_ITERATIONS
    probe_size: int = PROBE_SIZE
    model: str = "mlp"
    batch_norm: bool = False
    dropout: bool = False
    weight_decay: bool = False
    vmapped_options: tuple[str, ...] = ()
    first_layer: str = "auto"

    @property
    def activation_choices(self) -> tuple[int, ...] | None:
        """The supported activations as sorted indices (None: all)."""
        if self.activations is None:
            return None
        return tuple(sorted(activation_index(a) for a in self.activations))

    def __post_init__(self):
        """Check the (already normalised: :func:`_normalised_arguments`)
        fields: a one-line ValueError naming the first bad one."""
        spec = get_spec(self.optimizer)  # raises for an unknown name
        check_positive_int("epochs", self.epochs)
        check_positive_int("probe_every", self.probe_every)
        check_positive_int("sharpness_iterations", self.sharpness_iterations)
        check_positive_int("probe_size", self.probe_size)
        check_positive_int("batch_size", self.batch_size)
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ValueError(f"sizes must be two or more positive widths, got "
                             f"{self.sizes}")
        check_choice("implementation", self.implementation, IMPLEMENTATIONS)
        check_choice("schedule", self.schedule, SCHEDULES)
        if not (math.isfinite(self.warmup_epochs) and self.warmup_epochs >= 0):
            raise ValueError(f"warmup_epochs must be >= 0, got "
                             f"{self.warmup_epochs}")
        if not (0 < self.decay_rate <= 1):
            raise ValueError(f"decay_rate must be in (0, 1], got "
                             f"{self.decay_rate}")
        if self.activations is not None:
            if not self.activations:
                raise ValueError("activations must name at least one")
            for a in self.activations:
                check_choice("activation", a, ACTIVATIONS)
        valid = option_names(self.optimizer)
        for key, _ in self.optimizer_options:
            if key not in valid:
                raise ValueError(
                    f"optimizer {self.optimizer!r} has no option {key!r}; "
                    f"choose from: {', '.join(valid) or '(none)'}")
        self._check_structure(spec)

    def _check_structure(self, spec) -> None:
        check_choice("model", self.model, MODELS)
        if self.batch_norm and self.batch_size < 2:
            raise ValueError(f"batch norm needs batches of 2 or more; "
                             f"{self.optimizer} uses batch_size "
                             f"{self.batch_size}")
        for name in self.vmapped_options:
            if name not in spec.vmappable:
                raise ValueError(
                    f"optimizer {self.optimizer!r} cannot vmap option "
                    f"{name!r}; choose from: "
                    f"{', '.join(spec.vmappable) or '(none)'}")
            if name in dict(self.optimizer_options):
                raise ValueError(f"option {name!r} is both constant and "
                                 f"vmapped")
        check_choice("first_layer", self.first_layer, FIRST_LAYERS)
        if self.first_layer == "deferred" and not self._deferrable:
            raise ValueError(
                "first_layer 'deferred' needs plain SGD (sgd, minibatch_sgd) "
                "of an MLP without batch norm, dropout or weight decay; "
                "choose 'auto' or 'dense'")
        if self.first_layer == "transposed" and not self._transposable:
            raise ValueError(
                f"first_layer 'transposed' needs an MLP with a hidden layer "
                f"and an optimizer of {', '.join(TRANSPOSABLE)}; choose "
                f"'auto' or 'dense'")

    @property
    def _deferrable(self) -> bool:
        return (self.model == "mlp" and self.optimizer in PLAIN_SGD
                and not self.batch_norm and not self.dropout
                and not self.weight_decay)

    @property
    def _transposable(self) -> bool:
        return (self.model == "mlp" and len(self.sizes) > 2
                and self.optimizer in TRANSPOSABLE)

    @property
    def first_layer_path(self) -> str:
        """How the epochs update the first layer, ``"dense"``,
        ``"transposed"`` or ``"deferred"``: the one place ``first_layer``
        is resolved (``"auto"``: deferred for plain SGD at batches of at
        most ``DEFERRED_MAX_BATCH``, else transposed where the optimizer
        and model take it, else dense)."""
        if self.first_layer != "auto":
            return self.first_layer
        if self._deferrable and self.batch_size <= DEFERRED_MAX_BATCH:
            return "deferred"
        return "transposed" if self._transposable else "dense"

    @property
    def deferred_first_layer(self) -> bool:
        """Whether the epochs defer the first layer's updates
        (:mod:`jaxmnist.core.deferred`)."""
        return self.first_layer_path == "deferred"

    @property
    def transposed_first_layer(self) -> bool:
        """Whether the epochs' steps carry the first layer's weights
        transposed (:func:`jaxmnist.core.step.make_step`)."""
        return self.first_layer_path == "transposed"

    @property
    def input_size(self) -> int:
        """Pixels per image the model reads."""
        return self.sizes[0] if self.model == "mlp" else 784

    @property
    def net(self) -> Net:
        """The model family with this config's sizes and batch norm."""
        return make_net(self.model, self.sizes, self.batch_norm)


class HParams(NamedTuple):
    """The numeric hyperparameters a sweep varies: arrays, so vmappable.

    Stack several with :func:`stack_hparams` (or ``jax.tree.map(jnp.stack``)
    to get a leading member axis. ``dropout`` and ``weight_decay`` act only
    when the config compiles them; left out they are ``None`` (no leaves, so
    ``HParams(activation=jnp.array([0, 2]), learning_rate=jnp.array([1e-3,
    3e-3]))`` vmaps with ``in_axes=0``) and mean 0. ``optimizer`` holds the
    values of the config's ``vmapped_options``.

    Nothing is checked when one is built (JAX builds them from tracers and
    ``in_axes`` specs too): ``init``/``train`` check them, see
    :mod:`jaxmnist.core.checks`; :func:`make_hparams` checks its arguments.
    """
    activation: jax.typing.ArrayLike  # integer index into ACTIVATIONS
    learning_rate: jax.typing.ArrayLike  # float32, finite and > 0
    dropout: jax.typing.ArrayLike | None = None  # in [0, 1); None: 0
    weight_decay: jax.typing.ArrayLike | None = None  # >= 0; None: 0
    optimizer: Mapping[str, jax.typing.ArrayLike] = {}


def or_zero(value: jax.typing.ArrayLike | None) -> jax.typing.ArrayLike:
    """An optional hyperparameter's value, 0 (float32) for ``None``."""
    return jnp.zeros([], jnp.float32) if value is None else value


def make_hparams(activation: str | int, learning_rate: float,
                 dropout: float = 0.0, weight_decay: float = 0.0,
                 optimizer: Mapping[str, float] | None = None) -> HParams:
    """HParams from an activation name (or index), a learning rate, and
    optionally a dropout rate, an L2 weight decay and optimizer options."""
    idx = activation_index(activation) if isinstance(activation, str) \
        else int(activation)
    if not 0 <= idx < len(ACTIVATIONS):
        raise ValueError(f"activation index {idx} is outside 0.."
                         f"{len(ACTIVATIONS) - 1}")
    check_learning_rate(learning_rate)
    check_dropout(dropout)
    check_weight_decay(weight_decay)
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    return HParams(jnp.asarray(idx, jnp.int32), f32(learning_rate),
                   f32(dropout), f32(weight_decay),
                   {k: f32(v) for k, v in (optimizer or {}).items()})


def check_learning_rate(learning_rate: float) -> None:
    """ValueError unless the rate is finite and > 0."""
    check_positive_float("learning rate", float(learning_rate))


def check_dropout(rate: float) -> None:
    """ValueError unless the rate is in [0, 1)."""
    if not (0 <= float(rate) < 1):
        raise ValueError(f"dropout must be in [0, 1), got {rate!r}")


def check_weight_decay(value: float) -> None:
    """ValueError unless the decay is finite and >= 0."""
    if not (math.isfinite(float(value)) and float(value) >= 0):
        raise ValueError(f"weight_decay must be >= 0 and finite, got "
                         f"{value!r}")


def stack_hparams(members: Sequence[HParams]) -> HParams:
    """Stack HParams along a new leading (member) axis (a ``None`` field
    as 0), after checking each one's values as ``init`` would for the
    default config (see :func:`jaxmnist.core.checks.check_hparams`)."""
    from jaxmnist.core.checks import check_hparams  # noqa: PLC0415  (a cycle)
    for m in members:
        check_hparams(m, TrainConfig())
    f32 = lambda xs: jnp.asarray(xs, jnp.float32)
    keys = [tuple(sorted(m.optimizer)) for m in members]
    if len(set(keys)) > 1:
        raise ValueError(f"members vmap different optimizer options: "
                         f"{sorted(set(keys))}")
    return HParams(
        jnp.asarray([m.activation for m in members], jnp.int32),
        f32([m.learning_rate for m in members]),
        f32([or_zero(m.dropout) for m in members]),
        f32([or_zero(m.weight_decay) for m in members]),
        {k: f32([m.optimizer[k] for m in members]) for k in keys[0]})
