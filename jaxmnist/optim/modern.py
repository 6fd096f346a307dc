"""The newer optimizers: Lion, Muon, ADOPT and AdEMAMix as chains of our
transforms (Schedule-Free AdamW and Prodigy, which are not chains, live in
their own modules), with optax 0.2.8's names, options and defaults.

As :mod:`jaxmnist.optim.alias`: ``learning_rate`` may be a float, a traced
scalar or a schedule, numeric options Python floats or traced scalars, and
concrete values are range-checked (:mod:`jaxmnist.optim.ranges`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax
from optax.contrib import MuonDimensionNumbers
from optax.transforms import MaskedNode

from jaxmnist.optim import _modern as M
from jaxmnist.optim import _muon
from jaxmnist.optim import transforms as T
from jaxmnist.optim._common import Hyper, ScalarOrSchedule
from jaxmnist.optim._scale import Mask
from jaxmnist.optim.alias import adamw
from jaxmnist.optim.ranges import check_hypers

GT = optax.GradientTransformationExtraArgs


def lion(learning_rate: ScalarOrSchedule, b1: Hyper = 0.9, b2: Hyper = 0.99,
         mu_dtype: Any | None = None, weight_decay: Hyper = 1e-3,
         mask: Mask | None = None) -> GT:
    r"""Lion: ``p <- p - eta (sign(b1 m + (1 - b1) g) + lambda p)``,
    ``m <- b2 m + (1 - b2) g``.

    Only a momentum is kept (half Adam's memory); every coordinate moves by
    ``eta``, so the learning rate is 3-10x below Adam's and the decoupled
    weight decay ``lambda`` (on the leaves ``mask`` selects) 3-10x above.

    Reference: Chen et al., "Symbolic Discovery of Optimization
    Algorithms", NeurIPS 2023.
    """
    check_hypers("lion", learning_rate=learning_rate, b1=b1, b2=b2,
                 weight_decay=weight_decay)
    return optax.chain(M.scale_by_lion(b1=b1, b2=b2, mu_dtype=mu_dtype),
                       T.add_decayed_weights(weight_decay, mask),
                       T.scale_by_learning_rate(learning_rate))


def adopt(learning_rate: ScalarOrSchedule, b1: Hyper = 0.9,
          b2: Hyper = 0.9999, eps: Hyper = 1e-6, mu_dtype: Any | None = None,
          *, nesterov: bool = False, use_clipping: bool = True,
          clip_value_fn: Callable[[jax.Array], jax.Array]
          = M._quarter_power) -> GT:
    r"""ADOPT: ``p <- p - eta m_t``, ``m_t`` the average of gradients
    normalised by the *previous* second moment (see
    :func:`~jaxmnist.optim._modern.scale_by_adopt`).

    Reference: Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any
    beta_2 with the Optimal Rate", NeurIPS 2024.
    """
    check_hypers("adopt", learning_rate=learning_rate, b1=b1, b2=b2, eps=eps)
    return optax.chain(
        M.scale_by_adopt(b1=b1, b2=b2, eps=eps, mu_dtype=mu_dtype,
                         nesterov=nesterov, use_clipping=use_clipping,
                         clip_value_fn=clip_value_fn),
        T.scale_by_learning_rate(learning_rate))


def ademamix(learning_rate: ScalarOrSchedule, b1: Hyper = 0.9,
             b2: Hyper = 0.999, b3: Hyper | Callable = 0.9999,
             alpha: Hyper | Callable = 5.0, eps: Hyper = 1e-8,
             eps_root: Hyper = 0.0, mu_dtype: Any | None = None,
             weight_decay: Hyper = 0.0, mask: Mask | None = None) -> GT:
    r"""AdEMAMix: ``p <- p - eta ((m1^ + alpha m2) / (sqrt(v^ + eps_root)
    + eps) + lambda p)``: Adam plus a slow momentum ``m2`` (decay ``b3``)
    that keeps old gradients relevant for thousands of steps (see
    :func:`~jaxmnist.optim._modern.scale_by_ademamix`).

    Reference: Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer:
    Better, Faster, Older", ICLR 2025.
    """
    check_hypers("ademamix", learning_rate=learning_rate, b1=b1, b2=b2,
                 b3=b3, alpha=alpha, eps=eps, eps_root=eps_root,
                 weight_decay=weight_decay)
    return optax.chain(
        M.scale_by_ademamix(b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps,
                            eps_root=eps_root, mu_dtype=mu_dtype),
        T.add_decayed_weights(weight_decay, mask),
        T.scale_by_learning_rate(learning_rate))


def _is_dims_or_none(x) -> bool:
    return x is None or isinstance(x, (MuonDimensionNumbers, MaskedNode))


def muon_labels(dims: Any | None) -> tuple[Callable, Callable]:
    """(params -> "muon"/"adam" labels, updates -> dimension numbers with
    ``MaskedNode`` on Adam's leaves), as optax's ``muon``: without
    ``dims``, matrices are Muon's and everything else Adam's."""
    if dims is None:
        spec: Any = MuonDimensionNumbers()

        def labels(params):
            return jax.tree.map(lambda x: "muon" if x.ndim == 2 else "adam",
                                params)
    else:
        spec = dims

        def labels(params):
            d = dims(params) if callable(dims) else dims
            return jax.tree.map(lambda dn, x: jax.tree.map(
                lambda _: "adam" if dn is None else "muon", x), d, params,
                is_leaf=_is_dims_or_none)

    def dims_fn(updates):
        d = spec(updates) if callable(spec) else spec
        mask = jax.tree.map(lambda label: label == "muon", labels(updates))
        return jax.tree.map(lambda dn, sub: jax.tree.map(
            lambda m: dn if m else MaskedNode(), sub), d, mask,
            is_leaf=_is_dims_or_none)

    return labels, dims_fn


def muon(learning_rate: ScalarOrSchedule,
         ns_coeffs: Any = _muon.NS_COEFFS, ns_steps: int = 5,
         beta: Hyper = 0.95, eps: Hyper = 1e-8, weight_decay: Hyper = 0.0,
         weight_decay_mask: Mask | None = None, mu_dtype: Any | None = None,
         *, nesterov: bool = True, adaptive: bool = False,
         preconditioning: str = "frobenius", adam_b1: Hyper = 0.9,
         adam_b2: Hyper = 0.999, adam_eps_root: Hyper = 0.0,
         adam_weight_decay: Hyper = 0.0,
         adam_learning_rate: ScalarOrSchedule | None = None,
         muon_weight_dimension_numbers: Any | None = None,
         consistent_rms: Hyper | None = None) -> GT:
    r"""Muon: orthogonalised momentum for weight matrices, AdamW elsewhere.

    For a matrix leaf (or a kernel folded to ``fan_in x fan_out`` by
    ``muon_weight_dimension_numbers``): ``p <- p - eta (s NS(m^) +
    lambda p)`` with ``m^`` the (Nesterov) momentum, ``NS`` a few
    Newton-Schulz steps to its polar factor ``U V^T`` (every singular value
    about 1: the step moves all directions of the matrix equally), ``s =
    sqrt(max(1, fan_out / fan_in))`` (see
    :func:`~jaxmnist.optim._muon.scale_by_muon`). Biases, batch-norm scales
    and any other leaf: AdamW with ``adam_b1``, ``adam_b2``, ``eps``,
    ``adam_eps_root``, ``adam_weight_decay`` at ``adam_learning_rate``
    (default ``learning_rate``).

    Reference: Jordan et al., "Muon: An optimizer for hidden layers in
    neural networks", 2024; Liu et al., "Muon is Scalable for LLM
    Training", 2025 (``consistent_rms``).
    """
    check_hypers("muon", learning_rate=learning_rate, ns_steps=ns_steps,
                 beta=beta, eps=eps, weight_decay=weight_decay,
                 adam_b1=adam_b1, adam_b2=adam_b2, adam_eps_root=adam_eps_root,
                 adam_weight_decay=adam_weight_decay,
                 adam_learning_rate=adam_learning_rate,
                 consistent_rms=consistent_rms)
    labels, dims = muon_labels(muon_weight_dimension_numbers)
    adam_lr = learning_rate if adam_learning_rate is None \
        else adam_learning_rate
    return optax.partition({
        "muon": optax.chain(
            _muon.scale_by_muon(ns_coeffs, ns_steps, beta, eps, mu_dtype,
                                nesterov=nesterov, adaptive=adaptive,
                                preconditioning=preconditioning,
                                weight_dimension_numbers=dims),
            _muon.scale_by_shape(dims, consistent_rms),
            T.add_decayed_weights(weight_decay, weight_decay_mask),
            T.scale_by_learning_rate(learning_rate)),
        "adam": adamw(adam_lr, b1=adam_b1, b2=adam_b2, eps=eps,
                      eps_root=adam_eps_root, weight_decay=adam_weight_decay,
                      mu_dtype=mu_dtype, nesterov=nesterov),
    }, labels)
