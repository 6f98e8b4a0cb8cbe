"""Closures that evaluate a model's loss on a whole data set."""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


def full_batch_closure(model: nn.Module, loss_fn: Callable, loader: Iterable, *, create_graph: bool = False,
                       device=None) -> Callable[[], torch.Tensor]:
    """A closure computing the mean loss over every sample of ``loader`` and its gradient.

    The closure zeroes the model's gradients, then for each ``(x, y)`` batch
    back-propagates ``(len(x) / N) * loss_fn(model(x), y)`` (``loss_fn``
    with mean reduction), so the accumulated gradient is that of the mean
    over all ``N`` samples whatever the batch sizes; it returns that mean
    loss (a detached scalar). Use it as the closure of full-batch methods
    (``LineSearchGD``, ``BFGS``, ``LBFGS``, ``Newton`` with
    ``create_graph=True``) or as SVRG's ``full_closure``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"full_batch_closure: parameter 'model' must be a torch.nn.Module, got {type(model).__name__}")
    batches = list(loader)
    if not batches:
        raise ValueError("full_batch_closure: parameter 'loader' yields no batches")
    total = sum(len(x) for x, _ in batches)

    def closure() -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        mean = 0.0
        for x, y in batches:
            if device is not None:
                x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y) * (len(x) / total)
            loss.backward(create_graph=create_graph)
            mean = mean + loss.detach()
        return mean

    return closure
