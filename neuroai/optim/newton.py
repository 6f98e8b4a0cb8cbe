"""Newton's method: damped with the exact Hessian, or Hessian-free Newton-CG.

Both solve ``(H + mu I) d = -g`` (Newton with saddle-free curvature where
``H + mu I`` is indefinite) for the direction ``d`` at the flat
parameter vector ``theta`` (shape ``[n]``) and then take ``theta + t d``
with ``t`` from an Armijo backtracking line search started at ``lr``
(``line_search=False``: ``t = lr``). Newton's direction on a quadratic with
a positive definite Hessian is exact, so one step with ``lr=1`` lands on
the minimum.

Curvature comes from differentiating the gradient, so the closure must
call ``loss.backward(create_graph=True)`` (the :class:`~neuroai.training.Trainer`
does so for optimizers whose ``create_graph`` attribute is true).
"""
from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

from .. import validation as check
from ._flat import flat_values, single_group, unflatten
from .line_search import (check_line_search, gradient, hessian_vector_product, quiet_create_graph, release_graph,
                          search)


class _SecondOrder(Optimizer):
    """Shared machinery: the gradient with its graph, and the step along a direction."""

    requires_closure = True
    create_graph = True

    def __init__(self, params, lr: float, damping: float, line_search: bool, c: float, shrink: float,
                 max_evaluations: int, **extra):
        owner = type(self).__name__
        defaults = dict(lr=check.real(owner, "lr", lr, positive=True),
                        damping=check.real(owner, "damping", damping, nonnegative=True),
                        line_search=check.flag(owner, "line_search", line_search),
                        **check_line_search(owner, c, shrink, max_evaluations, "armijo"), **extra)
        super().__init__(params, defaults)
        single_group(owner, self)

    def step(self, closure=None):
        """One step; ``closure`` computes the loss and calls ``loss.backward(create_graph=True)``."""
        with quiet_create_graph():
            return self._step(closure)

    def _gradient(self, closure):
        """The parameters, the loss, the gradients with their graph, and the flat gradient (detached)."""
        owner = type(self).__name__
        params = single_group(owner, self)
        return (params, *gradient(owner, params, closure, create_graph=True))

    def _move(self, params, closure, loss, grad, direction) -> None:
        group = self.param_groups[0]
        state = self.state[params[0]]
        state["step"] = state.get("step", 0) + 1
        theta = flat_values(params)
        slope = float(grad @ direction)
        if not group["line_search"]:
            state["last_step"] = group["lr"]
            with torch.no_grad():
                for p, d in zip(params, unflatten(params, direction)):
                    p.add_(d, alpha=group["lr"])
            return
        if not slope < 0:  # at a stationary point (or a direction that does not descend)
            state["last_step"] = 0.0
            return
        result = search(params, closure, theta, direction, float(loss.detach()), slope, group["lr"], group)
        release_graph(params)
        state["last_step"] = result.step


def newton_direction(hessian: torch.Tensor, grad: torch.Tensor, damping: float,
                     saddle_free: bool = True) -> tuple[torch.Tensor, bool]:
    """The Newton direction ``d = -(H + mu I)^-1 g`` and whether ``H + mu I`` was indefinite.

    When it is not positive definite and ``saddle_free``, each eigenvalue
    ``lambda`` of ``H`` is replaced by ``max(|lambda|, 1e-6 max|lambda|) + mu``
    (the saddle-free Newton step, Dauphin et al. 2014): curvature keeps its
    magnitude but negative curvature is followed downhill, so the direction
    descends and pushes away from saddles and maxima. Otherwise the system is
    solved as it stands (least squares where singular): pure Newton, which is
    attracted to critical points of every kind.
    """
    eye = torch.eye(len(grad), dtype=grad.dtype, device=grad.device)
    factor, info = torch.linalg.cholesky_ex(hessian + damping * eye)
    if int(info) == 0:
        return -torch.cholesky_solve(grad.unsqueeze(1), factor).squeeze(1), False
    if not saddle_free:
        return -(torch.linalg.pinv(hessian + damping * eye, hermitian=True) @ grad), True
    eigenvalues, vectors = torch.linalg.eigh(hessian)
    floor = max(1e-6 * float(eigenvalues.abs().max()), torch.finfo(grad.dtype).tiny)
    curvature = eigenvalues.abs().clamp_min(floor) + damping
    return -(vectors @ ((vectors.T @ grad) / curvature)), True


class Newton(_SecondOrder):
    """Newton's method with the exact Hessian, damped, saddle-free where the Hessian is indefinite.

    The Hessian (``n x n`` for ``n`` parameters, so for small problems: a
    few thousand parameters at most) is the Jacobian of the gradient,
    computed row-batched by ``torch.autograd.grad(..., is_grads_batched=True)``
    (``torch.func.vmap`` over the basis vectors). The direction solves
    ``(H + damping I) d = -g``; where ``H + damping I`` is not positive
    definite, ``saddle_free`` uses ``|H|`` instead (see
    :func:`newton_direction`), so every direction descends, near saddles and
    maxima too. ``saddle_free=False, line_search=False`` is pure Newton:
    it converges to the nearest critical point, saddle or maximum included.

    Args:
        params: parameters (one group).
        lr: first trial step length (1: the full Newton step).
        damping: ``mu >= 0`` added to the Hessian's diagonal (Levenberg).
        saddle_free: replace indefinite curvature by its absolute value.
        line_search: Armijo backtracking from ``lr`` (else a fixed step ``lr``).
        c, shrink, max_evaluations: of the line search (see :mod:`.line_search`).

    ``state`` records ``step``, ``last_step`` (the step length) and
    ``indefinite`` (whether the last step met an indefinite ``H + damping I``).
    """

    def __init__(self, params, lr: float = 1.0, damping: float = 0.0, saddle_free: bool = True,
                 line_search: bool = True, c: float = 1e-4, shrink: float = 0.5, max_evaluations: int = 30):
        super().__init__(params, lr, damping, line_search, c, shrink, max_evaluations, saddle_free=check.flag(type(self).__name__, "saddle_free", saddle_free))

    def _step(self, closure):
        params, loss, grads, grad = self._gradient(closure)
        hessian = hessian_of(params, grads, len(grad))
        release_graph(params)
        group = self.param_groups[0]
        direction, indefinite = newton_direction(0.5 * (hessian + hessian.T), grad, group["damping"],
                                                 group["saddle_free"])
        self._move(params, closure, loss, grad, direction)
        self.state[params[0]]["indefinite"] = indefinite
        return loss


def hessian_of(params, grads, n: int) -> torch.Tensor:
    """The ``n x n`` Hessian from gradients that carry their graph."""
    eye = torch.eye(n, dtype=grads[0].dtype, device=grads[0].device)
    outputs, basis, offset = [], [], 0
    for g in grads:
        if g.requires_grad:
            outputs.append(g)
            basis.append(eye[:, offset:offset + g.numel()].reshape(n, *g.shape))
        offset += g.numel()
    with torch.enable_grad():
        rows = torch.autograd.grad(outputs, params, basis, is_grads_batched=True, allow_unused=True,
                                   materialize_grads=True)
    return torch.cat([r.reshape(n, -1) for r in rows], dim=1)


class NewtonCG(_SecondOrder):
    """Hessian-free (truncated) Newton: the Newton system solved by conjugate
    gradients from Hessian-vector products, never forming the Hessian
    (Nocedal & Wright 2006, Algorithm 7.1).

    CG stops when the residual falls below ``min(0.5, sqrt(|g|)) |g|`` (the
    forcing sequence that makes the method superlinear), after
    ``cg_max_iter`` products, or on negative curvature (then the last
    iterate, or ``-g`` on the first iteration). Each step costs one gradient,
    at most ``cg_max_iter`` Hessian-vector products and the line search.

    Args:
        params: parameters (one group).
        lr, damping, line_search, c, shrink, max_evaluations: as :class:`Newton`.
        cg_max_iter: Hessian-vector products per step (>= 1).

    ``state`` records ``step``, ``last_step`` and ``cg_iterations`` (of the last step).
    """

    def __init__(self, params, lr: float = 1.0, damping: float = 0.0, cg_max_iter: int = 100,
                 line_search: bool = True, c: float = 1e-4, shrink: float = 0.5, max_evaluations: int = 30):
        cg_max_iter = check.integer(type(self).__name__, "cg_max_iter", cg_max_iter, minimum=1)
        super().__init__(params, lr, damping, line_search, c, shrink, max_evaluations, cg_max_iter=cg_max_iter)

    def _step(self, closure):
        params, loss, grads, grad = self._gradient(closure)
        group = self.param_groups[0]

        def hvp(v: torch.Tensor) -> torch.Tensor:
            return hessian_vector_product(params, grads, v) + group["damping"] * v

        direction, iterations = truncated_cg(hvp, grad, group["cg_max_iter"])
        release_graph(params)
        self._move(params, closure, loss, grad, direction)
        self.state[params[0]]["cg_iterations"] = iterations
        return loss


def truncated_cg(hvp, grad: torch.Tensor, max_iter: int) -> tuple[torch.Tensor, int]:
    """Approximate ``-H^-1 g`` by CG from zero; returns it and the products used."""
    norm = float(grad.norm())
    tol = min(0.5, math.sqrt(norm)) * norm
    z = torch.zeros_like(grad)
    r, p = grad.clone(), -grad
    rr = float(r @ r)
    for j in range(max_iter):
        hp = hvp(p)
        curvature = float(p @ hp)
        if curvature <= 0:
            return (-grad if j == 0 else z), j + 1
        alpha = rr / curvature
        z = z + alpha * p
        r = r + alpha * hp
        rr_new = float(r @ r)
        if math.sqrt(rr_new) <= tol:
            return z, j + 1
        p = -r + (rr_new / rr) * p
        rr = rr_new
    return z, max_iter
