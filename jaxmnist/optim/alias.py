"""The named optimizers: short chains of :mod:`jaxmnist.optim.transforms`.

Each takes the same hyperparameter names, defaults and conventions as optax's
built-in of the same name, so the two agree to float tolerance (the tests
check it). ``learning_rate`` may be a float, a traced scalar array (one per
vmapped member) or a schedule ``count -> learning rate``.
"""

from __future__ import annotations

import optax

from jaxmnist.optim import transforms as T
from jaxmnist.optim.transforms import ScalarOrSchedule


def sgd(learning_rate: ScalarOrSchedule, momentum: float | None = None,
        nesterov: bool = False) -> optax.GradientTransformation:
    r"""Stochastic gradient descent: ``p <- p - eta g``.

    With ``momentum=beta``: ``v <- g + beta v``, ``p <- p - eta v`` (and
    ``p <- p - eta (g + beta v)`` with ``nesterov=True``), as ``optax.sgd``.

    Reference: Robbins & Monro (1951); Goodfellow, Bengio & Courville,
    *Deep Learning* (2016), Algorithm 8.1.
    """
    if momentum is None:
        return T.scale_by_learning_rate(learning_rate)
    return optax.chain(T.trace(decay=momentum, nesterov=nesterov),
                       T.scale_by_learning_rate(learning_rate))


def momentum(learning_rate: ScalarOrSchedule,
             momentum: float = 0.9) -> optax.GradientTransformation:
    r"""Heavy-ball momentum: ``v <- g + beta v``, ``p <- p - eta v``.

    Equals ``optax.sgd(learning_rate, momentum=0.9)``. The effective step for
    a constant gradient is ``eta / (1 - beta)``, ten times ``eta`` at 0.9.

    Reference: Polyak (1964); Goodfellow et al. (2016), Algorithm 8.2.
    """
    return sgd(learning_rate, momentum=momentum, nesterov=False)


def nesterov(learning_rate: ScalarOrSchedule,
             momentum: float = 0.9) -> optax.GradientTransformation:
    r"""Nesterov momentum: ``v <- g + beta v``, ``p <- p - eta (g + beta v)``.

    Equals ``optax.sgd(learning_rate, momentum=0.9, nesterov=True)``: the
    look-ahead reformulated on the current gradient, as in PyTorch.

    Reference: Nesterov (1983); Sutskever, Martens, Dahl & Hinton (2013).
    """
    return sgd(learning_rate, momentum=momentum, nesterov=True)


def adam(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-8, eps_root: float = 0.0) -> optax.GradientTransformation:
    r"""Adam: ``p <- p - eta m^ / (sqrt(v^ + eps_root) + eps)``.

    ``m^``, ``v^`` are the bias-corrected first and second moment estimates
    (see :func:`~jaxmnist.optim.transforms.scale_by_adam`); ``eps`` outside
    the root.

    Reference: Kingma & Ba, "Adam: A Method for Stochastic Optimization",
    ICLR 2015.
    """
    return optax.chain(T.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
                       T.scale_by_learning_rate(learning_rate))


def adagrad(learning_rate: ScalarOrSchedule,
            initial_accumulator_value: float = 0.1,
            eps: float = 1e-7) -> optax.GradientTransformation:
    r"""Adagrad: ``G <- G + g^2``, ``p <- p - eta g / sqrt(G + eps)``.

    Conventions (as optax): the accumulator starts at 0.1, not 0, and ``eps``
    is *inside* the square root.

    Reference: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for
    Online Learning and Stochastic Optimization", JMLR 2011.
    """
    return optax.chain(
        T.scale_by_rss(initial_accumulator_value=initial_accumulator_value,
                       eps=eps),
        T.scale_by_learning_rate(learning_rate))


def adadelta(learning_rate: ScalarOrSchedule | None = None, rho: float = 0.9,
             eps: float = 1e-6) -> optax.GradientTransformation:
    r"""Adadelta: ``p <- p - eta sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) g``.

    The paper has no learning rate: ``eta = 1`` reproduces it, and
    ``learning_rate=None`` means exactly that. Surprising conventions
    elsewhere: Keras defaults to ``eta = 0.001``, which makes Adadelta crawl
    (the reason classic notebooks find it "does not learn"); and optax 0.2.8's
    ``optax.adadelta(learning_rate=None)`` skips the sign flip, so it ascends
    the loss. Give an explicit learning rate when comparing with optax.

    Reference: Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012.
    """
    return optax.chain(T.scale_by_adadelta(rho=rho, eps=eps),
                       T.scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate: ScalarOrSchedule, decay: float = 0.9,
            eps: float = 1e-8, initial_scale: float = 0.0
            ) -> optax.GradientTransformation:
    r"""RMSProp: ``nu <- decay nu + (1 - decay) g^2``, ``p <- p - eta g / sqrt(nu + eps)``.

    As ``optax.rmsprop``'s defaults: not centred, no momentum, ``nu_0 = 0``
    and ``eps`` *inside* the square root (PyTorch and Keras add it outside).

    Reference: Hinton, Srivastava & Swersky, *Neural Networks for Machine
    Learning*, Lecture 6e (2012).
    """
    return optax.chain(
        T.scale_by_rms(decay=decay, eps=eps, initial_scale=initial_scale),
        T.scale_by_learning_rate(learning_rate))
