"""Backtracking line searches and gradient descent that uses them.

Along a descent direction ``d`` from ``theta`` (slope ``g . d < 0``), with
``phi(t) = L(theta + t d)``, a step length ``t`` satisfies

* the **Armijo** (sufficient decrease) condition if
  ``phi(t) <= phi(0) + c t g.d``;
* the **Goldstein** conditions if, in addition,
  ``phi(t) >= phi(0) + (1 - c) t g.d`` (the step is not too short),
  with ``0 < c < 1/2``.

Backtracking tries ``t = lr``, then shrinks it by ``shrink`` while the step
is too long; for Goldstein a step found too short is expanded by
``1 / shrink`` until a too-long one brackets the interval, which is then
bisected (Nocedal & Wright 2006, sec. 3.1; Boyd & Vandenberghe 2004, 9.2).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.optim import Optimizer

from .. import validation as check
from ._flat import assign, flat_grad, flat_values, single_group

CONDITIONS = ("armijo", "goldstein")


@dataclass(frozen=True)
class LineSearchResult:
    """``step``: accepted step length (0 when none was found); ``loss``:
    ``phi(step)``; ``evaluations``: calls of ``phi``; ``success``."""
    step: float
    loss: float
    evaluations: int
    success: bool


def check_line_search(owner: str, c: float, shrink: float, max_evaluations: int, condition: str) -> dict:
    """Validated line-search hyper-parameters, as a dict for param_groups."""
    condition = check.choice(owner, "condition", condition, CONDITIONS)
    c = check.real(owner, "c", c, positive=True)
    upper = 0.5 if condition == "goldstein" else 1.0
    if c >= upper:
        raise ValueError(f"{owner}: parameter 'c' must be in (0, {upper}) for the {condition} condition, got {c!r}")
    shrink = check.real(owner, "shrink", shrink, positive=True)
    if shrink >= 1:
        raise ValueError(f"{owner}: parameter 'shrink' must be in (0, 1), got {shrink!r}")
    max_evaluations = check.integer(owner, "max_evaluations", max_evaluations, minimum=1)
    return dict(c=c, shrink=shrink, max_evaluations=max_evaluations, condition=condition)


def backtracking(phi: Callable[[float], float], loss0: float, slope: float, step: float, *, c: float = 1e-4,
                 shrink: float = 0.5, max_evaluations: int = 30, condition: str = "armijo",
                 tolerance: float = 0.0) -> LineSearchResult:
    """Find a step length along a descent direction (see the module docstring).

    Args:
        - phi: ``t -> L(theta + t d)``; a non-finite value counts as too long.
        - loss0: ``phi(0)``.
        - slope: directional derivative ``g . d`` (< 0).
        - step: first trial step length (> 0).
        - tolerance: rounding error allowed in the sufficient-decrease test (the
          approximate Armijo condition of Hager & Zhang 2005): near a minimum
          the decrease a step promises falls below the precision of the loss,
          and an exact test would reject every step.
    """
    if not slope < 0:
        raise ValueError(f"backtracking: 'slope' must be negative (a descent direction), got {slope!r}")
    lo, hi, t = 0.0, math.inf, step
    for k in range(1, max_evaluations + 1):
        value = phi(t)
        if not math.isfinite(value) or value > loss0 + c * t * slope + tolerance:
            hi = t
        elif condition == "goldstein" and value < loss0 + (1 - c) * t * slope:
            lo = t
        else:
            return LineSearchResult(t, value, k, True)
        t = t / shrink if hi == math.inf else (0.5 * (lo + hi) if lo > 0 else t * shrink)
    return LineSearchResult(0.0, loss0, max_evaluations, False)


def evaluate(closure) -> torch.Tensor:
    """Call a closure (which computes the loss and its gradient) with grad enabled."""
    with torch.enable_grad():
        loss = closure()
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"the closure must return the loss as a one-element tensor, got {loss!r}")
    return loss


def search(params, closure, theta, direction, loss0: float, slope: float, step: float, group: dict) -> LineSearchResult:
    """Line search from the flat point ``theta`` along ``direction``; leaves
    the parameters at the accepted point (or at ``theta`` when it fails)."""
    def phi(t: float) -> float:
        assign(params, theta + t * direction)
        return float(evaluate(closure).detach())

    rounding = 8 * torch.finfo(theta.dtype).eps * abs(loss0)   # the loss's own precision
    result = backtracking(phi, loss0, slope, step, c=group["c"], shrink=group["shrink"],
                          max_evaluations=group["max_evaluations"], condition=group["condition"],
                          tolerance=rounding)
    if not result.success:
        assign(params, theta)
    return result


class LineSearchGD(Optimizer):
    """Gradient descent ``theta <- theta - t grad L`` with ``t`` chosen each
    step by a backtracking line search (Armijo or Goldstein conditions).

    Each step costs one gradient and one loss evaluation per trial step;
    the closure re-evaluates the loss and its gradient (like
    ``torch.optim.LBFGS``'s), on the same data for every call within a step.
    Takes one parameter group. ``state`` records ``step``, the last step
    length ``t`` and the total ``evaluations``.

    Args:
        - params: parameters (one group).
        - lr: first trial step length of every line search (> 0).
        - c: sufficient-decrease constant, in (0, 1) (Armijo) or (0, 1/2) (Goldstein).
        - shrink: factor by which a too-long step is shortened, in (0, 1).
        - max_evaluations: trial steps per line search; when none is
          accepted the parameters stay where they were.
        - condition: ``"armijo"`` or ``"goldstein"``.
    """

    requires_closure = True

    def __init__(self, params, lr: float = 1.0, c: float = 1e-4, shrink: float = 0.5, max_evaluations: int = 30,
                 condition: str = "armijo"):
        owner = type(self).__name__
        lr = check.real(owner, "lr", lr, positive=True)
        super().__init__(params, dict(lr=lr, **check_line_search(owner, c, shrink, max_evaluations, condition)))
        single_group(owner, self)

    @torch.no_grad()
    def step(self, closure=None):
        """One line-search step along ``-grad``; ``closure`` re-evaluates the loss and calls backward
        (required: the line search calls it at each trial point). Returns the loss before the step."""
        if closure is None:
            raise RuntimeError(f"{type(self).__name__}.step needs a closure that re-evaluates the loss and "
                               "calls backward (the line search evaluates the loss at trial points)")
        params = single_group(type(self).__name__, self)
        group = self.param_groups[0]
        loss = evaluate(closure)
        grad, theta = flat_grad(params), flat_values(params)
        state = self.state[params[0]]
        state["step"] = state.get("step", 0) + 1
        slope = -float(grad @ grad)
        if slope == 0:  # a stationary point: nothing to do
            state["last_step"] = 0.0
            return loss
        result = search(params, closure, theta, -grad, float(loss.detach()), slope, group["lr"], group)
        state["last_step"] = result.step
        state["evaluations"] = state.get("evaluations", 0) + 1 + result.evaluations
        return loss
