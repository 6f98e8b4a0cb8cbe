"""Loss-landscape slices (Li et al. 2018) and linear interpolation between models.

Li, Xu, Taylor, Studer & Goldstein (2018), "Visualizing the loss landscape of
neural nets", NeurIPS: plot ``L(theta + a d1 + b d2)`` along random directions
``d`` that are *filter-normalized*: every filter (row along dimension 0 of a
weight tensor: an output unit of a linear layer, an output channel of a
convolution) of ``d`` is rescaled to the norm of the same filter of ``theta``,
and the directions of biases and batch-norm parameters (every parameter with
at most one dimension) are set to zero, i.e. those stay fixed.

The functions set the model's parameters in place while they evaluate, under
``torch.no_grad()``, and always restore every parameter, buffer and the
train/eval mode afterwards (even on error). The model's mode is used as is:
call ``model.eval()`` first for models with dropout or batch norm.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .. import validation as check
from ._objective import (LossFn, ParamSelection, Seed, collect_batches, first_loss, make_generator, scalar_loss,
                         select_parameters)

Direction = dict[str, Tensor]


def random_direction(model: nn.Module, *, normalization: str | None = "filter", ignore_1d: bool = True,
                     seed: Seed = 0, params: ParamSelection = None) -> Direction:
    """A random direction ``{name: tensor shaped like the parameter}``.

    Args:
        - model: gives the parameters ``theta``.
        - normalization: ``"filter"`` (each filter ``d[i]`` scaled to
          ``||theta[i]||``), ``"layer"`` (each tensor scaled to
          ``||theta||`` of that tensor) or ``None`` (raw standard normal).
        - ignore_1d: zero the direction of parameters with ``ndim <= 1``
          (biases, batch-norm scales and shifts), as Li et al.; when
          ``False`` they get a copy of the parameter itself (Li et al.'s
          alternative).
        - seed: int or ``torch.Generator``; entries drawn on the CPU in model order.
        - params: restrict to some named parameters (others get no entry).
    """
    owner = "random_direction"
    check.choice(owner, "normalization", normalization, ("filter", "layer", None))
    ignore_1d = check.flag(owner, "ignore_1d", ignore_1d)
    gen = make_generator(seed, owner)
    direction = {}
    for name, p in select_parameters(model, params, owner=owner).items():
        w = p.detach()
        d = torch.randn(w.shape, generator=gen, dtype=torch.float64).to(w.device, w.dtype)
        if w.ndim <= 1:
            d = torch.zeros_like(w) if ignore_1d else w.clone()
        elif normalization == "filter":
            dims = tuple(range(1, w.ndim))
            d = d * (torch.linalg.vector_norm(w, dim=dims, keepdim=True)
                     / torch.linalg.vector_norm(d, dim=dims, keepdim=True).clamp_min(1e-12))
        elif normalization == "layer":
            d = d * (torch.linalg.vector_norm(w) / torch.linalg.vector_norm(d).clamp_min(1e-12))
        direction[name] = d
    return direction


@contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Context manager: restore ``model``'s parameters, buffers and modes on exit.

    Values are copied back into the same tensors, so optimizers holding the
    parameters stay valid.
    """
    saved = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    modes = {m: m.training for m in model.modules()}
    try:
        yield model
    finally:
        with torch.no_grad():
            for k, v in model.state_dict(keep_vars=True).items():
                v.copy_(saved[k])
        for m, mode in modes.items():
            m.training = mode


def _device(model: nn.Module) -> torch.device | None:
    p = next(model.parameters(), None)
    return None if p is None else p.device


def _mean_loss(owner: str, model: nn.Module, loss_fn: LossFn, batches: list[tuple[Tensor, Tensor]]) -> float:
    return float(sum(float(scalar_loss(owner, loss_fn(model(x), y))) for x, y in batches) / len(batches))


def _check_model(owner: str, name: str, model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{owner}: parameter '{name}' must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_loss(owner: str, loss_fn) -> LossFn:
    if not callable(loss_fn):
        raise TypeError(f"{owner}: parameter 'loss_fn' must be callable (output, target) -> loss, "
                        f"got {type(loss_fn).__name__}")
    return loss_fn


def _check_direction(owner: str, direction: Direction, named: dict[str, nn.Parameter], label: str) -> Direction:
    if not isinstance(direction, dict) or not direction:
        raise ValueError(f"{owner}: {label} must be a non-empty dict {{parameter name: tensor}}, "
                         f"got {type(direction).__name__}")
    for name, d in direction.items():
        if not isinstance(name, str) or name not in named:
            raise ValueError(f"{owner}: {label} names an unknown parameter {name!r}; names must be among "
                             f"{list(named)}")
        if not isinstance(d, Tensor) or d.is_complex() or d.dtype == torch.bool:
            raise TypeError(f"{owner}: {label}[{name!r}] must be a real tensor, got {type(d).__name__}")
        if tuple(d.shape) != tuple(named[name].shape):
            raise ValueError(f"{owner}: {label}[{name!r}] has shape {tuple(d.shape)}, "
                             f"the parameter has {tuple(named[name].shape)}; they must agree")
        if not bool(torch.isfinite(d).all()):
            raise ValueError(f"{owner}: {label}[{name!r}] must be finite, got a tensor with NaN or inf")
    return direction


def _grid(owner: str, values: Any, label: str) -> Tensor:
    try:
        t = torch.as_tensor(values, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError, OverflowError):
        t = None
    if isinstance(values, (str, bytes)) or t is None or t.numel() == 0 or not torch.isfinite(t).all():
        raise ValueError(f"{owner}: {label} must be a non-empty sequence of finite numbers, got {values!r}")
    return t


def _checked_data(owner: str, model, loss_fn, data, num_batches) -> list[tuple[Tensor, Tensor]]:
    """The stored batches of ``data``, after checking that the model and ``loss_fn`` take them and give a
    finite scalar loss at the model's weights (see :func:`~._objective.first_loss`)."""
    _check_model(owner, "model", model)
    _check_loss(owner, loss_fn)
    batches = collect_batches(data, num_batches, _device(model), owner=owner)
    first_loss(owner, model, lambda b: loss_fn(model(b[0]), b[1]), batches[0])
    return batches


def _finite(owner: str, value: float, where: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{owner}: the loss is {value} at {where}; the grid must keep the weights where the loss "
                         f"is finite")
    return value


class LossSlice1D(NamedTuple):
    """alphas: ``[A]``; losses: ``[A]``, ``L(theta + alpha d)``; direction: ``d``."""

    alphas: Tensor
    losses: Tensor
    direction: Direction


class LossSlice2D(NamedTuple):
    """alphas ``[A]``, betas ``[B]``; losses ``[A, B]`` with
    ``losses[i, j] = L(theta + alphas[i] d1 + betas[j] d2)``; directions ``(d1, d2)``."""

    alphas: Tensor
    betas: Tensor
    losses: Tensor
    directions: tuple[Direction, Direction]


def loss_slice_1d(model: nn.Module, loss_fn: LossFn, data: Any, *, direction: Direction | None = None,
                  alphas: Any = None, seed: Seed = 0, params: ParamSelection = None,
                  num_batches: int | None = None) -> LossSlice1D:
    """Mean batch loss along ``theta + alpha d`` (Li et al. 2018).

    Args:
        model, loss_fn, data, num_batches: the loss (mean over the batches).
        direction: ``{name: tensor}``; default :func:`random_direction` with ``seed``, ``params``.
        alphas: step sizes, default ``linspace(-1, 1, 21)`` (``0`` is ``theta``).
    """
    owner = "loss_slice_1d"
    alphas = _grid(owner, torch.linspace(-1, 1, 21) if alphas is None else alphas, "alphas")
    batches = _checked_data(owner, model, loss_fn, data, num_batches)
    named = dict(model.named_parameters())
    d = _check_direction(owner, random_direction(model, seed=seed, params=params) if direction is None
                         else direction, named, "direction")
    losses = torch.empty(len(alphas), dtype=torch.float64)
    with preserved(model), torch.no_grad():
        base = {n: named[n].detach().clone() for n in d}
        for i, a in enumerate(alphas.tolist()):
            for n, dn in d.items():
                named[n].copy_(base[n] + a * dn)
            losses[i] = _finite(owner, _mean_loss(owner, model, loss_fn, batches), f"alpha={a!r}")
    return LossSlice1D(alphas, losses, d)


def loss_slice_2d(model: nn.Module, loss_fn: LossFn, data: Any, *,
                  directions: tuple[Direction, Direction] | None = None, alphas: Any = None,
                  betas: Any = None, seed: Seed = 0, params: ParamSelection = None,
                  num_batches: int | None = None) -> LossSlice2D:
    """Mean batch loss on the plane ``theta + alpha d1 + beta d2`` (Li et al. 2018).

    Args:
        - directions: ``(d1, d2)``; default two :func:`random_direction` draws
          from one generator seeded with ``seed``.
        - alphas, betas: default ``linspace(-1, 1, 21)`` each.

        Others as :func:`loss_slice_1d`.
    """
    owner = "loss_slice_2d"
    alphas = _grid(owner, torch.linspace(-1, 1, 21) if alphas is None else alphas, "alphas")
    betas = _grid(owner, torch.linspace(-1, 1, 21) if betas is None else betas, "betas")
    batches = _checked_data(owner, model, loss_fn, data, num_batches)
    named = dict(model.named_parameters())
    if directions is None:
        gen = make_generator(seed, owner)
        directions = (random_direction(model, seed=gen, params=params),
                      random_direction(model, seed=gen, params=params))
    if not isinstance(directions, (tuple, list)) or len(directions) != 2:
        raise ValueError(f"{owner}: directions must be a pair (d1, d2), got {directions!r}")
    d1 = _check_direction(owner, directions[0], named, "directions[0]")
    d2 = _check_direction(owner, directions[1], named, "directions[1]")
    names = list(dict.fromkeys([*d1, *d2]))
    losses = torch.empty(len(alphas), len(betas), dtype=torch.float64)
    with preserved(model), torch.no_grad():
        base = {n: named[n].detach().clone() for n in names}
        zero = {n: torch.zeros_like(base[n]) for n in names}
        for i, a in enumerate(alphas.tolist()):
            for j, b in enumerate(betas.tolist()):
                for n in names:
                    named[n].copy_(base[n] + a * d1.get(n, zero[n]) + b * d2.get(n, zero[n]))
                losses[i, j] = _finite(owner, _mean_loss(owner, model, loss_fn, batches), f"(alpha, beta)={a, b!r}")
    return LossSlice2D(alphas, betas, losses, (d1, d2))


class Interpolation(NamedTuple):
    """ts: ``[T]``; losses: ``[T]``, the loss at ``(1 - t) theta_a + t theta_b``."""

    ts: Tensor
    losses: Tensor


def linear_interpolation(model_a: nn.Module, model_b: nn.Module, loss_fn: LossFn, data: Any, *,
                         ts: Any = None, num_batches: int | None = None) -> Interpolation:
    """Loss along the segment between two models' weights (Goodfellow et al. 2015).

    ``model_a`` and ``model_b`` must have the same parameter and buffer names
    and shapes. Floating parameters and buffers (e.g. batch-norm running
    statistics) are interpolated; other buffers are taken from ``model_a``.
    The evaluation runs on ``model_a``, which is restored afterwards;
    ``model_b`` is not touched.

    Args:
        ts: interpolation coefficients, default ``linspace(0, 1, 21)``
            (``0``: ``model_a``, ``1``: ``model_b``; values outside extrapolate).
    """
    owner = "linear_interpolation"
    ts = _grid(owner, torch.linspace(0, 1, 21) if ts is None else ts, "ts")
    _check_model(owner, "model_b", model_b)
    batches = _checked_data(owner, model_a, loss_fn, data, num_batches)
    sa = model_a.state_dict(keep_vars=True)
    sb = model_b.state_dict(keep_vars=True)
    if list(sa) != list(sb) or any(sa[k].shape != sb[k].shape for k in sa):
        raise ValueError(f"{owner}: model_a and model_b must have the same parameter/buffer names and shapes")
    keys = [k for k in sa if sa[k].is_floating_point()]
    losses = torch.empty(len(ts), dtype=torch.float64)
    with preserved(model_a), torch.no_grad():
        wa = {k: sa[k].detach().clone() for k in keys}
        wb = {k: sb[k].detach().to(sa[k].device, sa[k].dtype) for k in keys}
        for i, t in enumerate(ts.tolist()):
            for k in keys:
                sa[k].copy_((1 - t) * wa[k] + t * wb[k])
            losses[i] = _finite(owner, _mean_loss(owner, model_a, loss_fn, batches), f"t={t!r}")
    return Interpolation(ts, losses)
