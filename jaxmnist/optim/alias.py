"""The named optimizers: short chains of :mod:`jaxmnist.optim.transforms`.

Each takes the same hyperparameter names, defaults and conventions as optax's
built-in of the same name, so the two agree to float tolerance (the tests
check it, and ``tests/optax_suite`` runs optax's own tests on ours).
``learning_rate`` may be a float, a traced scalar array (one per vmapped
member) or a schedule ``count -> learning rate``; the numeric hyperparameters
(``momentum``, ``b1``, ``b2``, ``eps``, ``decay``, ``weight_decay``, ...) may
be Python floats or traced scalar arrays. All return
``optax.GradientTransformationExtraArgs`` (``update`` ignores extra keyword
arguments, as optax's).
"""

from __future__ import annotations

from typing import Any

import optax

from jaxmnist.optim import transforms as T
from jaxmnist.optim._common import Hyper
from jaxmnist.optim._scale import Mask
from jaxmnist.optim.ranges import check_hypers
from jaxmnist.optim.transforms import ScalarOrSchedule

GT = optax.GradientTransformationExtraArgs


def sgd(learning_rate: ScalarOrSchedule, momentum: Hyper | None = None,
        nesterov: bool = False, accumulator_dtype: Any | None = None
        ) -> GT:
    r"""Stochastic gradient descent: ``p <- p - eta g``.

    With ``momentum=beta``: ``v <- g + beta v``, ``p <- p - eta v`` (and
    ``p <- p - eta (g + beta v)`` with ``nesterov=True``), as ``optax.sgd``;
    ``v`` is stored in ``accumulator_dtype`` (default: the params').

    Args:
      momentum: ``beta``, or None for plain SGD.
      nesterov: Nesterov's look-ahead form of the momentum.
      accumulator_dtype: dtype of ``v`` (default: the params').

    Reference: Robbins & Monro (1951); Goodfellow, Bengio & Courville,
    *Deep Learning* (2016), Algorithm 8.1.
    """
    check_hypers("sgd", learning_rate=learning_rate, momentum=momentum)
    if momentum is None:
        return optax.with_extra_args_support(
            T.scale_by_learning_rate(learning_rate))
    return optax.chain(T.trace(decay=momentum, nesterov=nesterov,
                               accumulator_dtype=accumulator_dtype),
                       T.scale_by_learning_rate(learning_rate))


def momentum(learning_rate: ScalarOrSchedule, momentum: Hyper = 0.9,
             accumulator_dtype: Any | None = None) -> GT:
    r"""Heavy-ball momentum: ``v <- g + beta v``, ``p <- p - eta v``.

    Equals ``optax.sgd(learning_rate, momentum=0.9)``. The effective step for
    a constant gradient is ``eta / (1 - beta)``, ten times ``eta`` at 0.9.

    Arguments as :func:`sgd`.

    Reference: Polyak (1964); Goodfellow et al. (2016), Algorithm 8.2.
    """
    return sgd(learning_rate, momentum=momentum, nesterov=False,
               accumulator_dtype=accumulator_dtype)


def nesterov(learning_rate: ScalarOrSchedule, momentum: Hyper = 0.9,
             accumulator_dtype: Any | None = None) -> GT:
    r"""Nesterov momentum: ``v <- g + beta v``, ``p <- p - eta (g + beta v)``.

    Equals ``optax.sgd(learning_rate, momentum=0.9, nesterov=True)``: the
    look-ahead reformulated on the current gradient, as in PyTorch.

    Arguments as :func:`sgd`.

    Reference: Nesterov (1983); Sutskever, Martens, Dahl & Hinton (2013).
    """
    return sgd(learning_rate, momentum=momentum, nesterov=True,
               accumulator_dtype=accumulator_dtype)


def adam(learning_rate: ScalarOrSchedule, b1: Hyper = 0.9, b2: Hyper = 0.999,
         eps: Hyper = 1e-8, eps_root: Hyper = 0.0,
         mu_dtype: Any | None = None, *, nesterov: bool = False) -> GT:
    r"""Adam: ``p <- p - eta m^ / (sqrt(v^ + eps_root) + eps)``.

    ``m^``, ``v^`` are the bias-corrected first and second moment estimates
    (see :func:`~jaxmnist.optim.transforms.scale_by_adam`); ``eps`` outside
    the root; ``mu_dtype`` the first moment's dtype; ``nesterov=True`` is
    NAdam (:func:`nadam`).

    Args:
      b1, b2: decays of the first and second moments.
      eps, eps_root: added outside / inside the root of ``v^``.
      mu_dtype: dtype of ``m`` (default: the params').
      nesterov: NAdam's look-ahead first moment.

    Reference: Kingma & Ba, "Adam: A Method for Stochastic Optimization",
    ICLR 2015.
    """
    check_hypers("adam", learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
                 eps_root=eps_root)
    return optax.chain(
        T.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                        mu_dtype=mu_dtype, nesterov=nesterov),
        T.scale_by_learning_rate(learning_rate))


def nadam(learning_rate: ScalarOrSchedule, b1: Hyper = 0.9,
          b2: Hyper = 0.999, eps: Hyper = 1e-8, eps_root: Hyper = 0.0,
          mu_dtype: Any | None = None) -> GT:
    r"""NAdam: Adam with Nesterov momentum (``optax.nadam``).

    ``m^ = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t)`` replaces
    Adam's ``m_t / (1 - b1^t)``: the first moment looks one step ahead.

    Arguments as :func:`adam`.

    Reference: Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016
    workshop.
    """
    return adam(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                mu_dtype=mu_dtype, nesterov=True)


def adamw(learning_rate: ScalarOrSchedule, b1: Hyper = 0.9,
          b2: Hyper = 0.999, eps: Hyper = 1e-8, eps_root: Hyper = 0.0,
          mu_dtype: Any | None = None, weight_decay: Hyper = 1e-4,
          mask: Mask | None = None, *, nesterov: bool = False) -> GT:
    r"""AdamW: ``p <- p - eta (m^ / (sqrt(v^ + eps_root) + eps) + lambda p)``.

    Adam with decoupled weight decay ``lambda = weight_decay`` applied to the
    leaves selected by ``mask`` (all by default); the decay is scaled by the
    learning rate, as ``optax.adamw`` and PyTorch.

    Args:
      b1, b2, eps, eps_root, mu_dtype, nesterov: as :func:`adam`.
      weight_decay: ``lambda`` (float, traced scalar or schedule).
      mask: bools (a prefix of the params' tree) or ``params -> bools``.

    Reference: Loshchilov & Hutter, "Decoupled Weight Decay Regularization",
    ICLR 2019.
    """
    check_hypers("adamw", learning_rate=learning_rate, b1=b1, b2=b2,
                 eps=eps, eps_root=eps_root, weight_decay=weight_decay)
    return optax.chain(
        T.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                        mu_dtype=mu_dtype, nesterov=nesterov),
        T.add_decayed_weights(weight_decay, mask),
        T.scale_by_learning_rate(learning_rate))


def adagrad(learning_rate: ScalarOrSchedule,
            initial_accumulator_value: Hyper = 0.1,
            eps: Hyper = 1e-7) -> GT:
    r"""Adagrad: ``G <- G + g^2``, ``p <- p - eta g / sqrt(G + eps)``.

    Conventions (as optax): the accumulator starts at 0.1, not 0, and ``eps``
    is *inside* the square root.

    Args:
      initial_accumulator_value: ``G_0``.
      eps: added under the root.

    Reference: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for
    Online Learning and Stochastic Optimization", JMLR 2011.
    """
    check_hypers("adagrad", learning_rate=learning_rate, eps=eps,
                 initial_accumulator_value=initial_accumulator_value)
    return optax.chain(
        T.scale_by_rss(initial_accumulator_value=initial_accumulator_value,
                       eps=eps),
        T.scale_by_learning_rate(learning_rate))


def adadelta(learning_rate: ScalarOrSchedule | None = None,
             rho: Hyper = 0.9, eps: Hyper = 1e-6, weight_decay: Hyper = 0.0,
             weight_decay_mask: Mask | None = None) -> GT:
    r"""Adadelta: ``p <- p - eta sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) g``.

    With ``weight_decay=lambda``, ``g`` is ``g + lambda p`` (on the leaves
    selected by ``weight_decay_mask``) before the scaling, as optax.

    The paper has no learning rate: ``eta = 1`` reproduces it, and
    ``learning_rate=None`` means exactly that. Surprising conventions
    elsewhere: Keras defaults to ``eta = 0.001``, which makes Adadelta crawl
    (the reason classic notebooks find it "does not learn"); and optax 0.2.8's
    ``optax.adadelta(learning_rate=None)`` skips the sign flip, so it ascends
    the loss. Give an explicit learning rate when comparing with optax.

    Args:
      learning_rate: ``eta`` (None: 1.0, descending).
      rho: decay of both running means.
      eps: added under both roots.
      weight_decay: ``lambda``, coupled (added to the gradient).
      weight_decay_mask: bools or ``params -> bools``, as AdamW's ``mask``.

    Reference: Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012.
    """
    check_hypers("adadelta", learning_rate=learning_rate, rho=rho, eps=eps,
                 weight_decay=weight_decay)
    return optax.chain(T.add_decayed_weights(weight_decay, weight_decay_mask),
                       T.scale_by_adadelta(rho=rho, eps=eps),
                       T.scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate: ScalarOrSchedule, decay: Hyper = 0.9,
            eps: Hyper = 1e-8, initial_scale: Hyper = 0.0,
            eps_in_sqrt: bool = True, centered: bool = False,
            momentum: Hyper | None = None, nesterov: bool = False,
            bias_correction: bool = False) -> GT:
    r"""RMSProp: ``nu <- decay nu + (1 - decay) g^2``,
    ``p <- p - eta g / sqrt(nu + eps)``.

    As ``optax.rmsprop``'s defaults: not centred, no momentum, ``nu_0 = 0``
    and ``eps`` *inside* the square root (PyTorch and Keras add it outside:
    ``eps_in_sqrt=False``). Variants, as optax: ``centered=True`` divides by
    ``sqrt(nu - mu^2 + eps)`` with ``mu`` the running mean of ``g`` (Graves
    2013); ``momentum=beta`` adds a (``nesterov``) momentum trace *after*
    the learning rate, ``v <- eta g / sqrt(.) + beta v``, ``p <- p - v``;
    ``bias_correction=True`` divides ``nu`` (and ``mu``) by ``1 - decay^t``.

    Args:
      decay: decay of the running mean(s).
      eps: added inside (``eps_in_sqrt``) or outside the root.
      initial_scale: ``nu_0``.
      eps_in_sqrt: optax's (True) or PyTorch's and Keras' (False) ``eps``.
      centered: divide by the running standard deviation.
      momentum: ``beta`` of a momentum trace after the rate, or None.
      nesterov: Nesterov form of that momentum.
      bias_correction: divide the running means by ``1 - decay^t``.

    Reference: Hinton, Srivastava & Swersky, *Neural Networks for Machine
    Learning*, Lecture 6e (2012); Graves, "Generating Sequences With
    Recurrent Neural Networks", 2013.
    """
    check_hypers("rmsprop", learning_rate=learning_rate, decay=decay, eps=eps,
                 initial_scale=initial_scale, momentum=momentum)
    scaler = T.scale_by_stddev if centered else T.scale_by_rms
    parts = [scaler(decay=decay, eps=eps, initial_scale=initial_scale,
                    eps_in_sqrt=eps_in_sqrt, bias_correction=bias_correction),
             T.scale_by_learning_rate(learning_rate)]
    if momentum is not None:
        parts.append(T.trace(decay=momentum, nesterov=nesterov))
    return optax.chain(*parts)
