"""The parameters of a one-group optimizer seen as one flat vector.

Second-order methods (Newton, BFGS, line searches) work on the
concatenation ``theta`` (shape ``[n]``) of all parameters, as
``torch.optim.LBFGS`` does; these helpers convert between that vector and
the parameter tensors without copying more than needed.
"""
from __future__ import annotations

import torch
from torch import Tensor


def single_group(owner: str, optimizer: torch.optim.Optimizer) -> list[Tensor]:
    """The parameters of ``optimizer``, which must have exactly one group."""
    if len(optimizer.param_groups) != 1:
        raise ValueError(f"{owner}: works on the flat vector of all parameters and takes one parameter group, "
                         f"got {len(optimizer.param_groups)} groups")
    return optimizer.param_groups[0]["params"]


def flat_grad(params: list[Tensor]) -> Tensor:
    """Gradients of ``params`` concatenated (zeros where a gradient is missing), shape ``[n]``."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])


def flat_values(params: list[Tensor]) -> Tensor:
    """A copy of the parameter values, concatenated, shape ``[n]``."""
    return torch.cat([p.detach().reshape(-1) for p in params])


def assign(params: list[Tensor], theta: Tensor) -> None:
    """Set the parameters to the flat vector ``theta``."""
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(theta[offset:offset + n].view_as(p))
            offset += n


def unflatten(params: list[Tensor], vector: Tensor) -> list[Tensor]:
    """``vector`` (shape ``[n]``) cut into views shaped like ``params``."""
    pieces, offset = [], 0
    for p in params:
        pieces.append(vector[offset:offset + p.numel()].view_as(p))
        offset += p.numel()
    return pieces
