"""From a SweepConfig to its groups: what compiles together and what not.

Everything structural (optimizer, model family, hidden shape, batch norm)
makes a group of its own: one compiled program each. Everything numeric
(activation, learning rate, dropout, weight decay, optimizer options with
several values) varies between the members of a group, as arrays. A group's
name is its optimizer, with ``-cnn``, ``-h<widths>`` (a hidden shape other
than 128x64) and ``-bn`` for the structure it does not share with the
classic MLP, so the classic grid's groups keep their optimizer names.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from jaxmnist.core.config import TrainConfig
from jaxmnist.core.model import DEFAULT_SIZES
from jaxmnist.sweep.group import Cell, GroupSpec, hidden_label, setup_name

if TYPE_CHECKING:
    from jaxmnist.sweep.config import SweepConfig

DEFAULT_HIDDEN = DEFAULT_SIZES[1:-1]


def structures(cfg: SweepConfig):
    """(optimizer, model, hidden or None, batch norm) of every group."""
    for opt, model in itertools.product(cfg.optimizers, cfg.model):
        for hidden in (cfg.hidden if model == "mlp" else (None,)):
            for bn in cfg.batch_norm:
                yield opt, model, hidden, bn


def train_config(cfg: SweepConfig, optimizer: str, model: str = "mlp",
                 hidden: tuple[int, ...] | None = DEFAULT_HIDDEN,
                 batch_norm: bool = False) -> TrainConfig:
    """The static config the group (optimizer, model, hidden, batch norm)
    compiles: optimizer options with one value are constants, several
    values are vmapped; dropout and weight decay compile only when some
    member uses them."""
    options = cfg.options_for(optimizer)
    return TrainConfig(
        optimizer=optimizer, epochs=cfg.epochs,
        batch_size=cfg.batch_size_for(optimizer),
        sizes=(784, *(hidden or DEFAULT_HIDDEN), 10),
        implementation=cfg.implementation, schedule=cfg.schedule,
        optimizer_options=tuple((k, v[0]) for k, v in options
                                if len(v) == 1),
        activations=cfg.activations, dynamics=cfg.dynamics,
        probe_every=cfg.probe_every, model=model,
        batch_norm=batch_norm, dropout=any(d > 0 for d in cfg.dropout),
        weight_decay=any(w > 0 for w in cfg.weight_decay),
        vmapped_options=tuple(k for k, v in options if len(v) > 1))


def cells(cfg: SweepConfig, optimizer: str) -> tuple[Cell, ...]:
    """Every numeric combination of ``optimizer``'s group: activation x
    learning rate x dropout x weight decay x optimizer option values."""
    options = cfg.options_for(optimizer)
    names = [k for k, _ in options]
    combos = list(itertools.product(*(v for _, v in options)))
    return tuple(Cell(act, lr, d, w, tuple(zip(names, combo)))
                 for act in cfg.activations for lr in cfg.lrs_for(optimizer)
                 for d in cfg.dropout for w in cfg.weight_decay
                 for combo in combos)


def groups(cfg: SweepConfig) -> list[GroupSpec]:
    """Every group of the sweep, in the config's order."""
    out = []
    for opt, model, hidden, bn in structures(cfg):
        config = train_config(cfg, opt, model, hidden, bn)
        out.append(GroupSpec(setup_name(opt, model, hidden_label(config), bn),
                             config, cells(cfg, opt), tuple(range(cfg.seeds)),
                             cfg.seed))
    return out
