"""How a training loop drives an optimizer's step: one protocol for every loop in neuroai.

``torch.optim`` leaves open how a loop must call ``step``: plain first-order
methods want the gradient computed before ``step()``; L-BFGS and line
searches re-evaluate the loss themselves through ``step(closure)``;
sharpness-aware methods in pytorch-optimizer's style take the gradient at
the current point *and* a closure to re-evaluate at the perturbed point;
Hessian-based methods (AdaHessian, Sophia-H, Newton) differentiate the
gradient and need ``loss.backward(create_graph=True)``. An optimizer states
its needs with three attributes, on its class or on the instance:

``requires_closure``
    ``step`` must be given a closure that zeroes the gradients, computes the
    loss, calls ``backward`` and returns the loss.
``gradients_before_step``
    the loop evaluates the closure once (loss and gradient at the current
    point) before calling ``step(closure)``.
``create_graph``
    every ``backward`` is ``loss.backward(create_graph=True)``.

Optimizers that do not carry them are looked up in :data:`KNOWN` (torch's
L-BFGS, pytorch-optimizer's SAM family, AdaHessian and Sophia-H); any other
is driven as a first-order method. To drive a third-party optimizer of
another kind, set the attributes on it, e.g. ``optimizer.requires_closure =
True``. :func:`take_step` carries the protocol out; the
:class:`~neuroai.training.Trainer`, :func:`~neuroai.landscape.trajectory`
and the studies all step through it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.optim import Optimizer

from .line_search import quiet_create_graph, release_graph


@dataclass(frozen=True)
class StepProtocol:
    """What ``step`` needs (see the module docstring)."""
    requires_closure: bool = False
    gradients_before_step: bool = False
    create_graph: bool = False


_CLOSURE = StepProtocol(requires_closure=True)
_PERTURBING = StepProtocol(requires_closure=True, gradients_before_step=True)
_HESSIAN = StepProtocol(create_graph=True)

#: The protocol of optimizers that do not state it, by ``module.QualifiedName``.
KNOWN: dict[str, StepProtocol] = {
    "torch.optim.lbfgs.LBFGS": _CLOSURE,
    "pytorch_optimizer.optimizer.sam.SAM": _PERTURBING,
    "pytorch_optimizer.optimizer.sam.BSAM": _PERTURBING,
    "pytorch_optimizer.optimizer.sam.LookSAM": _PERTURBING,
    "pytorch_optimizer.optimizer.sam.FriendlySAM": _PERTURBING,
    "pytorch_optimizer.optimizer.sam.WSAM": _CLOSURE,
    "pytorch_optimizer.optimizer.alig.AliG": _CLOSURE,
    "pytorch_optimizer.optimizer.adahessian.AdaHessian": _HESSIAN,
    "pytorch_optimizer.optimizer.sophia.SophiaH": _HESSIAN,
}


def step_protocol(optimizer: Optimizer | type[Optimizer]) -> StepProtocol:
    """The protocol of ``optimizer`` (an instance, or a class for its class-level answer): its own
    attributes where it has them, else :data:`KNOWN`'s entry for its class, else first-order."""
    cls = optimizer if isinstance(optimizer, type) else type(optimizer)
    names = (f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__)
    known = next((KNOWN[name] for name in names if name in KNOWN), StepProtocol())
    return StepProtocol(**{name: bool(getattr(optimizer, name, getattr(known, name)))
                           for name in StepProtocol.__dataclass_fields__})


def take_step(optimizer: Optimizer, closure: Callable[[], torch.Tensor], protocol: StepProtocol | None = None):
    """One ``optimizer`` step by its protocol; returns what ``step`` returns (the loss for closure methods).

    ``closure`` zeroes the gradients, computes the loss, calls
    ``loss.backward(create_graph=protocol.create_graph)`` and returns the
    loss; it is evaluated as often as the method needs (once for first-order
    methods). After a ``create_graph`` step the gradients are detached, so the
    graph does not live on in ``p.grad``.
    """
    protocol = step_protocol(optimizer) if protocol is None else protocol
    with quiet_create_graph():
        if protocol.requires_closure:
            if protocol.gradients_before_step:
                closure()
            result = optimizer.step(closure)
        else:
            closure()
            result = optimizer.step()
    if protocol.create_graph:
        release_graph([p for group in optimizer.param_groups for p in group["params"]])
    return result
