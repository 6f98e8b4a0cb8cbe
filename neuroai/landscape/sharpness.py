"""Sharpness and flatness of a minimum.

* :func:`keskar_sharpness`: the epsilon-sharpness of Keskar et al. (2017),
  "On large-batch training for deep learning: generalization gap and sharp
  minima", ICLR. With ``x`` the (selected, flat) weights and the box
  ``C_eps = {y : |y_i| <= eps (|x_i| + 1)}``,

      phi(x, eps) = 100 * (max_{y in C_eps} L(x + y) - L(x)) / (1 + L(x)),

  the largest loss increase within the box, in percent of ``1 + L(x)``.
  Keskar et al. solve the inner maximization with L-BFGS-B (in the full space
  or a random subspace); here it is projected sign-gradient ascent
  (``y <- clip(y + step * eps (|x| + 1) * sign(grad L(x + y)))``) from a seeded
  random point of the box, keeping the best point seen, which gives a lower
  bound on the true maximum.
* :func:`flatness`: curvature summaries from the Hessian spectrum
  (top eigenvalue, trace, their scale-aware forms).

The model is never modified (everything goes through
:func:`torch.func.functional_call`).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .. import validation as check
from ._objective import LossFn, Objective, ParamSelection, Seed, make_generator
from .spectrum import as_operator, hessian_trace, top_eigenvalues


class Sharpness(NamedTuple):
    """sharpness: ``phi(x, eps)`` in percent; loss: ``L(x)``;
    max_loss: the largest ``L(x + y)`` found; perturbation: that ``y``, shape ``[n]``."""

    sharpness: float
    loss: float
    max_loss: float
    perturbation: Tensor


def keskar_sharpness(model: nn.Module, loss_fn: LossFn, data: Any, *, epsilon: float = 1e-3,
                     steps: int = 20, step_size: float | None = None, random_start: bool = True,
                     seed: Seed = 0, params: ParamSelection = None,
                     num_batches: int | None = None) -> Sharpness:
    """Keskar et al.'s epsilon-sharpness by projected gradient ascent in the box.

    Args:
        - model, loss_fn, data, params, num_batches: the loss ``L`` over the
          selected parameters (see :class:`~neuroai.landscape._objective.Objective`).
        - epsilon: relative box size (Keskar et al. use ``1e-3`` and ``5e-4``); ``>= 0``.
        - steps: ascent steps (each costs one gradient of ``L``).
        - step_size: step as a fraction of the box half-width (default ``2.5 / steps``).
        - random_start: start from a uniform random point of the box (else from ``x``).
        - seed: int or ``torch.Generator`` for the random start.

    Returns:
        :class:`Sharpness`; ``sharpness`` is in percent.
    """
    owner = "keskar_sharpness"
    epsilon = check.real(owner, "epsilon", epsilon, nonnegative=True)
    steps = check.integer(owner, "steps", steps, minimum=1)
    step = 2.5 / steps if step_size is None else check.real(owner, "step_size", step_size, positive=True)
    random_start = check.flag(owner, "random_start", random_start)
    gen = make_generator(seed, owner)
    obj = Objective(model, loss_fn, data, params=params, num_batches=num_batches, owner=owner)
    x = obj.flat_params()
    bound = epsilon * (x.abs() + 1)  # [n], box half-widths
    if random_start:
        u = torch.rand(obj.num_params, generator=gen, dtype=torch.float64).to(x.device, x.dtype)
        y = (2 * u - 1) * bound
    else:
        y = torch.zeros_like(x)
    with torch.no_grad():
        f0 = float(obj.loss(x))
    best, best_y = -math.inf, y
    for _ in range(steps):
        point = (x + y).requires_grad_()
        with torch.enable_grad():   # (plain autograd: several times faster than torch.func on spiking models)
            value = obj.loss(point)
            (g,) = torch.autograd.grad(value, point, materialize_grads=True)
        value = value.detach()
        if float(value) > best:
            best, best_y = float(value), y
        y = torch.maximum(torch.minimum(y + step * bound * torch.sign(g), bound), -bound)
    with torch.no_grad():
        value = float(obj.loss(x + y))
    if value > best:
        best, best_y = value, y
    best = max(best, f0)
    if not (math.isfinite(best) and math.isfinite(float(torch.linalg.vector_norm(best_y)))):
        raise ValueError(f"{owner}: the loss is NaN or infinite within the box of epsilon={epsilon!r}; epsilon must "
                         f"be small enough for the loss to stay finite near the weights")
    return Sharpness(100.0 * (best - f0) / (1.0 + f0), f0, best, best_y.detach())


class Flatness(NamedTuple):
    """Curvature summaries of the loss at the weights ``theta`` (``n`` of them).

    top_eigenvalue: ``lambda_max`` of the Hessian.
    trace: Hutchinson estimate of ``tr H``.
    num_params: ``n``.
    param_norm: ``||theta||``.

    Derived (properties):
      mean_curvature = ``tr H / n``, the mean eigenvalue (flat: small);
      scaled_top = ``lambda_max ||theta||^2 / 2``, the loss increase that the
      quadratic model predicts for a step of relative size 1 (length
      ``||theta||``) along the sharpest direction; unlike ``lambda_max`` it does
      not change when the loss is evaluated with the weights rescaled by a
      constant ``c`` and the inputs by ``1/c`` (for a linear model).
    """

    top_eigenvalue: float
    trace: float
    num_params: int
    param_norm: float

    @property
    def mean_curvature(self) -> float:
        """``tr H / n``, the mean Hessian eigenvalue (flat: small)."""
        return self.trace / self.num_params

    @property
    def scaled_top(self) -> float:
        """``lambda_max ||theta||^2 / 2``, in units of the loss (see the class docstring)."""
        return 0.5 * self.top_eigenvalue * self.param_norm ** 2


def flatness(model: nn.Module, loss_fn: LossFn, data: Any, *, num_probes: int = 100, seed: Seed = 0,
             params: ParamSelection = None, num_batches: int | None = None) -> Flatness:
    """Top Hessian eigenvalue (Lanczos) and trace (Hutchinson, ``num_probes``)
    of the loss at the model's weights; see :class:`Flatness`."""
    owner = "flatness"
    check.integer(owner, "num_probes", num_probes, minimum=1)
    gen = make_generator(seed, owner)
    H = as_operator(model, loss_fn, data, params, num_batches, owner=owner)
    top = top_eigenvalues(H, k=1, seed=gen).eigenvalues[0]
    tr = hessian_trace(H, num_probes=num_probes, seed=gen)
    return Flatness(float(top), tr.trace, H.num_params, float(torch.linalg.vector_norm(H.theta)))
