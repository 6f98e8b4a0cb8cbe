"""Backtracking line searches and gradient descent that uses them.

Along a descent direction ``d`` from ``theta`` (slope ``g . d < 0``), with
``phi(t) = L(theta + t d)``, a step length ``t`` satisfies

* the **Armijo** (sufficient decrease) condition if
  ``phi(t) <= phi(0) + c t g.d``;
* the **Goldstein** conditions if, in addition,
  ``phi(t) >= phi(0) + (1 - c) t g.d`` (the step is not too short),
  with ``0 < c < 1/2``;
* the **Armijo full-relaxation** condition (sufficient decrease against the
  second-order model) if
  ``phi(t) <= phi(0) + c (t g.d + t^2 kappa / 2)``, ``0 < c < 1``, where
  ``kappa = d^T H d = phi''(0)``: the actual decrease is at least a fraction
  ``c`` of the decrease the quadratic model
  ``m(t) = phi(0) + t g.d + t^2 kappa / 2`` predicts. Its search starts
  from the full-relaxation step ``t* = -g.d / kappa``, the minimizer of
  ``m`` along the ray (when ``kappa > 0``). In the Russian optimization
  literature a *relaxation* method is one whose every step decreases
  ``L``, and *full* relaxation minimizes ``L`` exactly along the ray
  (Polyak 1987, *Introduction to Optimization*): with ``d = -g`` and
  ``t* = |g|^2 / g^T H g`` this is steepest descent with exact line search
  (Cauchy's step) on a quadratic, where the model is exact and ``t*`` is
  accepted at the first evaluation.

Backtracking tries ``t = lr`` (the full-relaxation condition: ``t*``, or
``lr`` where ``kappa <= 0``), then shrinks it by ``shrink`` while the step
is too long; for Goldstein a step found too short is expanded by
``1 / shrink`` until a too-long one brackets the interval, which is then
bisected (Nocedal & Wright 2006, sec. 3.1; Boyd & Vandenberghe 2004, 9.2).

Curvature comes from differentiating the gradient, so the methods that use
it (the full-relaxation condition here, :mod:`.newton`) need a closure that
calls ``loss.backward(create_graph=True)``; :func:`gradient`,
:func:`hessian_vector_product`, :func:`release_graph` and
:func:`quiet_create_graph` are their shared machinery.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch.optim import Optimizer

from .. import validation as check
from ._flat import assign, flat_values, single_group, unflatten

CONDITIONS = ("armijo", "goldstein", "armijo_full_relaxation")


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
                 tolerance: float = 0.0, curvature: float = 0.0) -> LineSearchResult:
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
        - curvature: ``kappa = phi''(0) = d^T H d`` of the
          ``"armijo_full_relaxation"`` condition, whose sufficient decrease is
          a fraction ``c`` of the quadratic model's ``t slope + t^2 kappa / 2``;
          the other conditions compare with the tangent ``t slope`` and ignore it.
    """
    if not slope < 0:
        raise ValueError(f"backtracking: 'slope' must be negative (a descent direction), got {slope!r}")
    half_curvature = 0.5 * curvature if condition == "armijo_full_relaxation" else 0.0
    lo, hi, t = 0.0, math.inf, step
    for k in range(1, max_evaluations + 1):
        value = phi(t)
        if not math.isfinite(value) or value > loss0 + c * t * (slope + half_curvature * t) + tolerance:
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


def gradient(owner: str, params: list[torch.Tensor], closure,
             create_graph: bool) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """Evaluate ``closure`` at the current parameters; returns the loss, the
    gradients (shaped like ``params``; zeros where missing; with their graph
    when ``create_graph``) and the flat gradient (detached, shape ``[n]``).

    Raises ``RuntimeError`` when ``closure`` is None, or when ``create_graph``
    and no gradient carries a graph (the closure did not call
    ``loss.backward(create_graph=True)``).
    """
    backward = "loss.backward(create_graph=True)" if create_graph else "backward"
    if closure is None:
        raise RuntimeError(f"{owner}.step needs a closure that computes the loss and calls {backward}")
    loss = evaluate(closure)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    if create_graph and not any(g.requires_grad for g in grads):
        raise RuntimeError(f"{owner}: the gradient carries no graph to differentiate; the closure must call "
                           f"{backward} (a loss linear in the parameters has no curvature to measure)")
    return loss, grads, torch.cat([g.detach().reshape(-1) for g in grads])


def hessian_vector_product(params: list[torch.Tensor], grads: list[torch.Tensor],
                           vector: torch.Tensor) -> torch.Tensor:
    """``H v`` (shape ``[n]``) for the flat ``vector`` (shape ``[n]``), by
    differentiating ``grads`` (from :func:`gradient` with ``create_graph``)
    once more; the graph is kept for further products."""
    outputs = [g for g in grads if g.requires_grad]
    pieces = [piece for piece, g in zip(unflatten(params, vector), grads) if g.requires_grad]
    with torch.enable_grad():
        products = torch.autograd.grad(outputs, params, pieces, retain_graph=True, allow_unused=True,
                                       materialize_grads=True)
    return torch.cat([h.reshape(-1) for h in products])


def release_graph(params: list[torch.Tensor]) -> None:
    """Detach ``p.grad``: the graph kept by ``backward(create_graph=True)`` would otherwise live on in it."""
    for p in params:
        if p.grad is not None:
            p.grad = p.grad.detach()


@contextmanager
def quiet_create_graph() -> Iterator[None]:
    """Silence torch's warning that ``backward(create_graph=True)`` ties ``p.grad`` to ``p`` in a
    reference cycle (:func:`release_graph` breaks it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Using backward\(\) with create_graph=True", UserWarning)
        yield


def search(params, closure, theta, direction, loss0: float, slope: float, step: float, group: dict,
           curvature: float = 0.0) -> LineSearchResult:
    """Line search from the flat point ``theta`` along ``direction`` (both shape
    ``[n]``; ``curvature``: ``direction^T H direction``, for the
    full-relaxation condition); leaves the parameters at the accepted point
    (or at ``theta`` when it fails)."""
    def phi(t: float) -> float:
        assign(params, theta + t * direction)
        return float(evaluate(closure).detach())

    rounding = 8 * torch.finfo(theta.dtype).eps * abs(loss0)   # the loss's own precision
    result = backtracking(phi, loss0, slope, step, c=group["c"], shrink=group["shrink"],
                          max_evaluations=group["max_evaluations"], condition=group["condition"],
                          tolerance=rounding, curvature=curvature)
    if not result.success:
        assign(params, theta)
    return result


class LineSearchGD(Optimizer):
    """Gradient descent ``theta <- theta - t grad L`` with ``t`` chosen each
    step by a backtracking line search (Armijo, Goldstein or Armijo
    full-relaxation conditions).

    Each step costs one gradient and one loss evaluation per trial step;
    the closure re-evaluates the loss and its gradient (like
    ``torch.optim.LBFGS``'s), on the same data for every call within a step.
    The full-relaxation condition also takes one Hessian-vector product per
    step, ``kappa = g^T H g``, to start its search at ``t* = |g|^2 / kappa``
    (``lr`` where ``kappa <= 0``); it differentiates the gradient, so its
    closure must call ``loss.backward(create_graph=True)`` (the instance's
    ``create_graph`` is then true, and the :class:`~neuroai.training.Trainer`
    does so), and every trial evaluation builds that graph too. On a
    quadratic ``t*`` is accepted at once: steepest descent with exact line
    search, two evaluations and one product per step.

    Takes one parameter group (of ``n`` parameters in all, seen as one flat
    vector ``[n]``). ``state`` records ``step``, the last step length
    ``last_step`` and the total ``evaluations``; with the full-relaxation
    condition also the last ``curvature`` ``kappa`` and
    ``full_relaxation_step`` ``t*`` (``inf`` where ``kappa <= 0``: the
    model is unbounded below along ``-grad``).

    Args:
        - params: parameters (one group).
        - lr: first trial step length of every line search (> 0); for the
          full-relaxation condition, only where ``kappa <= 0``.
        - c: sufficient-decrease constant, in (0, 1) (Armijo, full relaxation) or (0, 1/2) (Goldstein).
        - shrink: factor by which a too-long step is shortened, in (0, 1).
        - max_evaluations: trial steps per line search; when none is
          accepted the parameters stay where they were.
        - condition: ``"armijo"``, ``"goldstein"`` or ``"armijo_full_relaxation"``.
    """

    requires_closure = True
    create_graph = False

    def __init__(self, params, lr: float = 1.0, c: float = 1e-4, shrink: float = 0.5, max_evaluations: int = 30,
                 condition: str = "armijo"):
        owner = type(self).__name__
        lr = check.real(owner, "lr", lr, positive=True)
        settings = check_line_search(owner, c, shrink, max_evaluations, condition)
        super().__init__(params, dict(lr=lr, **settings))
        single_group(owner, self)
        self.create_graph = settings["condition"] == "armijo_full_relaxation"

    def step(self, closure=None):
        """One line-search step along ``-grad``; ``closure`` re-evaluates the loss and calls backward
        (required: the line search calls it at each trial point; with ``create_graph=True`` for the
        full-relaxation condition). Returns the loss before the step."""
        with quiet_create_graph():
            return self._step(closure)

    @torch.no_grad()
    def _step(self, closure):
        params = single_group(type(self).__name__, self)
        group = self.param_groups[0]
        full_relaxation = group["condition"] == "armijo_full_relaxation"
        loss, grads, grad = gradient(type(self).__name__, params, closure, full_relaxation)
        theta = flat_values(params)
        state = self.state[params[0]]
        state["step"] = state.get("step", 0) + 1
        state["evaluations"] = state.get("evaluations", 0) + 1
        slope = -float(grad @ grad)
        if slope == 0:  # a stationary point: nothing to do
            release_graph(params)
            state["last_step"] = 0.0
            return loss
        first, curvature = group["lr"], 0.0
        if full_relaxation:
            curvature = float(grad @ hessian_vector_product(params, grads, grad))
            release_graph(params)
            exact = -slope / curvature if curvature > 0 else math.inf   # t*; inf: the model has no minimum
            state["curvature"], state["full_relaxation_step"] = curvature, exact
            if math.isfinite(exact):
                first = exact
        result = search(params, closure, theta, -grad, float(loss.detach()), slope, first, group, curvature)
        release_graph(params)
        state["last_step"] = result.step
        state["evaluations"] += result.evaluations
        return loss
