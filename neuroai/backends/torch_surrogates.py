"""Surrogate spike functions that every ``torch.func`` transform can differentiate.

A surrogate spike function is the Heaviside step in the forward pass and a
smooth function's derivative in the backward pass. snnTorch's
(``snntorch.surrogate.atan()`` and the others) are ``torch.autograd.Function``
subclasses without ``setup_context``, which ``torch.func`` refuses to
transform ("must override the setup_context staticmethod"): ``grad``,
``jvp`` and ``vmap`` through a network that uses them fail, and with them
every Hessian-vector product of :mod:`neuroai.landscape`. The functions here
are one ``autograd.Function`` written for ``torch.func``: ``setup_context``,
a forward-mode rule (``jvp``), a generated ``vmap`` rule, and derivative
rules made of ordinary differentiable torch operations, so that

    spike(x) = H(x),   d spike / dx = s'(x),   d^2 spike / dx^2 = s''(x)

under reverse mode, forward mode, ``vmap``, forward-over-reverse,
reverse-over-forward and double backward alike, with ``H(x) = 1 if x > 0
else 0`` (snnTorch's convention: no spike at exactly 0, none for NaN) and
``s'`` the surrogate derivative. The spikes are bitwise snnTorch's and the
first derivative is snnTorch's surrogate of the same name and parameter;
the second derivative (which snnTorch's functions also give under double
backward) is what makes Hessians of spiking networks, e.g.
:class:`neuroai.landscape.HessianOperator` on a
:class:`neuroai.models.SpikingClassifier`, well defined: the Hessian of the
surrogate-smoothed loss, in which each spike ``H(x)`` is replaced by
``H(x0) + s(x) - s(x0)`` around the current point, that gradient descent
follows. As with snnTorch's, the forward pass computes the step only and the
backward pass the derivative only; outside ``torch.func`` transforms a
plain Function with the same rules runs instead, as fast as snnTorch's.

Each factory (:func:`atan`, :func:`fast_sigmoid`, :func:`sigmoid`) returns a
callable ``x -> spikes``: ``x`` a floating tensor (the membrane potential
minus the threshold, any shape), spikes 0/1 of the same shape, dtype and
device. Pass one as ``TorchNetwork(..., surrogate_fn=...)`` or as an
snnTorch layer's ``spike_grad``; :func:`atan` is the torch backend's default.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import validation as check


class _Spike(torch.autograd.Function):
    """``H(x)`` forward; ``surrogate.derivative(x)`` as its derivative in every mode, ``torch.func`` included."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, surrogate: "Surrogate") -> Tensor:
        return (x > 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, ctx.surrogate = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        return ctx.surrogate.times_derivative(grad, x), None

    @staticmethod
    def jvp(ctx, x_tangent: Tensor, _):
        (x,) = ctx.saved_tensors
        return ctx.surrogate.times_derivative(x_tangent, x)


class _EagerSpike(torch.autograd.Function):
    """The same function for plain autograd, where it is called at every step of every training run: a
    Function with ``setup_context`` costs about twice as much per call in eager mode (torch 2.13: 33 vs
    17 us on a 64 x 100 tensor), which made surrogate-gradient training about 13% slower."""

    @staticmethod
    def forward(ctx, x: Tensor, surrogate: "Surrogate") -> Tensor:
        ctx.surrogate = surrogate
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return (x > 0).to(x.dtype)

    backward = _Spike.backward
    jvp = _Spike.jvp


def _transforming() -> bool:
    """Whether a ``torch.func`` transform is active (then only :class:`_Spike` will do); True where torch no
    longer says, so that the transformable Function is used."""
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return True if active is None else bool(active())


class Surrogate:
    """A spike function ``x -> H(x)`` whose derivative is :meth:`derivative` (see the module docstring).

    Subclasses set ``name`` and ``parameter`` (the name of their one
    parameter, stored as ``self.value``) and define :meth:`derivative`.
    """

    name: str
    parameter: str

    def __init__(self, value: float):
        self.value = check.real(self.name, self.parameter, value, positive=True)

    def derivative(self, x: Tensor) -> Tensor:
        """``s'(x)``, the surrogate gradient (same shape, dtype and device as ``x``), in differentiable ops."""
        raise NotImplementedError

    def times_derivative(self, g: Tensor, x: Tensor) -> Tensor:
        """``g s'(x)``, the chain rule's product (in snnTorch's arithmetic where a subclass says so, so that
        the gradients are its bit for bit)."""
        return g * self.derivative(x)

    def __call__(self, x: Tensor) -> Tensor:
        """Spikes ``H(x)`` (0/1, the shape, dtype and device of ``x``), differentiable through ``s'``."""
        if not isinstance(x, Tensor) or not x.is_floating_point():
            got = f"a tensor of dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
            raise TypeError(f"{self.name}: expected a floating-point tensor (membrane potential minus threshold), "
                            f"got {got}")
        return (_Spike if _transforming() else _EagerSpike).apply(x, self)

    def __repr__(self) -> str:
        return f"{self.name}({self.parameter}={self.value!r})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.value == self.value

    def __hash__(self) -> int:
        return hash((type(self), self.value))


class ATan(Surrogate):
    """Arctangent surrogate (Fang et al. 2021), snnTorch's ``surrogate.atan(alpha)``:

    ``s'(x) = (alpha / 2) / (1 + (pi alpha x / 2)^2)``,
    ``s(x) = arctan(pi alpha x / 2) / pi``; ``s'(0) = alpha / 2``, 1 for the default ``alpha = 2``.
    """

    name, parameter = "atan", "alpha"

    def derivative(self, x: Tensor) -> Tensor:
        """``(alpha / 2) / (1 + (pi alpha x / 2)^2)``."""
        return (self.value / 2) / (1 + ((math.pi / 2 * self.value) * x) ** 2)


class FastSigmoid(Surrogate):
    """Fast-sigmoid surrogate (SuperSpike, Zenke & Ganguli 2018), snnTorch's ``surrogate.fast_sigmoid(slope)``:

    ``s'(x) = 1 / (1 + slope |x|)^2``, ``s(x) = x / (1 + slope |x|)``; ``s'(0) = 1``.
    """

    name, parameter = "fast_sigmoid", "slope"

    def derivative(self, x: Tensor) -> Tensor:
        """``1 / (1 + slope |x|)^2``."""
        return 1.0 / (1.0 + self.value * x.abs()) ** 2

    def times_derivative(self, g: Tensor, x: Tensor) -> Tensor:
        """``g / (slope |x| + 1)^2``, divided as snnTorch divides."""
        return g / (self.value * x.abs() + 1.0) ** 2


class Sigmoid(Surrogate):
    """Logistic surrogate (Zenke & Ganguli 2018), snnTorch's ``surrogate.sigmoid(slope)``:

    ``s'(x) = slope sigma(slope x) (1 - sigma(slope x))`` (snnTorch writes it
    ``slope exp(-slope x) / (1 + exp(-slope x))^2``), ``s(x) = sigma(slope x)``
    with ``sigma`` the logistic function; ``s'(0) = slope / 4``.
    """

    name, parameter = "sigmoid", "slope"

    def derivative(self, x: Tensor) -> Tensor:
        """``slope sigma(slope x) (1 - sigma(slope x))``."""
        sigma = torch.sigmoid(self.value * x)
        return self.value * sigma * (1 - sigma)


def atan(alpha: float = 2.0) -> ATan:
    """The arctangent surrogate spike function (see :class:`ATan`); ``alpha > 0`` (in 1 / the unit of ``x``, the
    membrane potential's) sets the width: larger is sharper."""
    return ATan(alpha)


def fast_sigmoid(slope: float = 25.0) -> FastSigmoid:
    """The fast-sigmoid surrogate spike function (see :class:`FastSigmoid`); ``slope > 0`` (in 1 / the unit of
    ``x``): larger is sharper."""
    return FastSigmoid(slope)


def sigmoid(slope: float = 25.0) -> Sigmoid:
    """The logistic surrogate spike function (see :class:`Sigmoid`); ``slope > 0`` (in 1 / the unit of ``x``):
    larger is sharper."""
    return Sigmoid(slope)
