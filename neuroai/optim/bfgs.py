"""BFGS with a dense inverse-Hessian approximation and a backtracking line search."""
from __future__ import annotations

import torch
from torch.optim import Optimizer

from .. import validation as check
from ._flat import flat_grad, flat_values, single_group
from .line_search import check_line_search, evaluate, search


class BFGS(Optimizer):
    r"""The Broyden–Fletcher–Goldfarb–Shanno quasi-Newton method.

    Keeps a dense approximation :math:`H_k` (``n x n``) of the inverse
    Hessian, steps along :math:`d = -H_k g` with an Armijo backtracking line
    search started at ``lr``, and updates, with :math:`s = \theta_{k+1} -
    \theta_k`, :math:`y = g_{k+1} - g_k`, :math:`\rho = 1 / y^\top s`:

    .. math::
        H_{k+1} = (I - \rho s y^\top) H_k (I - \rho y s^\top) + \rho s s^\top

    (Nocedal & Wright 2006, eq. 6.17). The first update scales the identity
    to :math:`y^\top s / y^\top y` (eq. 6.20). An update whose curvature
    :math:`y^\top s \le` ``curvature_eps`` :math:`|y||s|` is skipped (a
    backtracking search does not enforce the Wolfe curvature condition);
    when :math:`d` does not descend, :math:`H` restarts from the identity.
    One iteration per :meth:`step`; memory ``O(n^2)``: use
    ``torch.optim.LBFGS`` beyond a few thousand parameters.

    Args:
        params: parameters (one group).
        lr: first trial step length of every line search (> 0).
        c, shrink, max_evaluations: of the line search (see :mod:`.line_search`).
        curvature_eps: relative curvature below which an update is skipped (>= 0).

    ``state`` holds ``inverse_hessian``, the previous point and gradient,
    ``step``, ``updates`` and ``last_step``, so ``state_dict`` resumes exactly.
    """

    requires_closure = True

    def __init__(self, params, lr: float = 1.0, c: float = 1e-4, shrink: float = 0.5, max_evaluations: int = 30,
                 curvature_eps: float = 1e-10):
        owner = type(self).__name__
        defaults = dict(lr=check.real(owner, "lr", lr, positive=True),
                        curvature_eps=check.real(owner, "curvature_eps", curvature_eps, nonnegative=True),
                        **check_line_search(owner, c, shrink, max_evaluations, "armijo"))
        super().__init__(params, defaults)
        single_group(owner, self)

    @torch.no_grad()
    def step(self, closure=None):
        """One BFGS iteration (curvature update, then a line search along ``-H g``); ``closure`` re-evaluates
        the loss and calls backward (required: the line search calls it). Returns the loss before the step."""
        if closure is None:
            raise RuntimeError("BFGS.step needs a closure that re-evaluates the loss and calls backward")
        params = single_group("BFGS", self)
        group = self.param_groups[0]
        loss = evaluate(closure)
        grad, theta = flat_grad(params), flat_values(params)
        state = self.state[params[0]]
        if "inverse_hessian" not in state:
            state.update(step=0, updates=0, inverse_hessian=torch.eye(len(grad), dtype=grad.dtype,
                                                                      device=grad.device))
        else:
            self._update(state, theta - state["previous_point"], grad - state["previous_grad"], group)
        direction = -(state["inverse_hessian"] @ grad)
        slope = float(grad @ direction)
        if not slope < 0:
            state["inverse_hessian"] = torch.eye(len(grad), dtype=grad.dtype, device=grad.device)
            direction, slope = -grad, -float(grad @ grad)
        state["step"] += 1
        state["previous_point"], state["previous_grad"] = theta, grad
        if slope == 0:
            state["last_step"] = 0.0
            return loss
        result = search(params, closure, theta, direction, float(loss.detach()), slope, group["lr"], group)
        state["last_step"] = result.step
        if not result.success:
            state["inverse_hessian"] = torch.eye(len(grad), dtype=grad.dtype, device=grad.device)
        return loss

    @staticmethod
    def _update(state: dict, s: torch.Tensor, y: torch.Tensor, group: dict) -> None:
        ys = float(y @ s)
        if ys <= group["curvature_eps"] * float(y.norm() * s.norm()) or ys == 0:
            return
        h = state["inverse_hessian"]
        if state["updates"] == 0:
            h.mul_(ys / float(y @ y))
        rho = 1.0 / ys
        hy = h @ y
        h.addr_(hy, s, alpha=-rho).addr_(s, hy, alpha=-rho).addr_(s, s, alpha=rho * rho * (ys + float(y @ hy)))
        state["updates"] += 1
