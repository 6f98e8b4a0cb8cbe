"""Stochastic variance-reduced gradient (Johnson & Zhang 2013)."""
from __future__ import annotations

import torch
from torch.optim import Optimizer

from .. import validation as check
from .line_search import evaluate


class SVRG(Optimizer):
    r"""SVRG for finite sums :math:`L(\theta) = \frac1N \sum_i \ell_i(\theta)`.

    Every ``snapshot_every`` steps it stores a snapshot :math:`\tilde\theta`
    and the full gradient :math:`\mu = \nabla L(\tilde\theta)` (from
    ``full_closure``); each step on a mini-batch :math:`B` then uses the
    variance-reduced gradient

    .. math::
        \theta \leftarrow \theta - \eta\,\big(\nabla \ell_B(\theta)
            - \nabla \ell_B(\tilde\theta) + \mu + \lambda\theta\big),

    which is unbiased and whose variance vanishes as :math:`\theta` and
    :math:`\tilde\theta` approach the minimum, so a constant step converges
    linearly on strongly convex sums where SGD stalls at its noise floor.

    :meth:`step` calls its closure twice, at :math:`\theta` and at
    :math:`\tilde\theta`, and both calls must see the same mini-batch (keep
    the closure deterministic: no dropout). ``full_closure`` computes the
    loss on all the data, calls backward and returns the loss
    (:func:`neuroai.optim.full_batch_closure` builds one from a loader).

    Args:
        - params: parameters or parameter groups.
        - full_closure: the full-data closure, called for each snapshot.
        - lr: step size :math:`\eta` (> 0).
        - snapshot_every: steps between snapshots (>= 1; the paper's ``m``,
          typically one or two passes over the data in mini-batches).
        - weight_decay: :math:`\lambda` (>= 0).
    """

    requires_closure = True

    def __init__(self, params, full_closure, lr: float = 1e-2, snapshot_every: int = 100,
                 weight_decay: float = 0.0):
        if not callable(full_closure):
            raise TypeError(f"SVRG: parameter 'full_closure' must be callable () -> loss (calling backward), "
                            f"got {full_closure!r}")
        self.full_closure = full_closure
        self.snapshot_every = check.integer("SVRG", "snapshot_every", snapshot_every, minimum=1)
        super().__init__(params, dict(lr=check.real("SVRG", "lr", lr, positive=True),
                                      weight_decay=check.real("SVRG", "weight_decay", weight_decay,
                                                              nonnegative=True)))
        self.state["svrg"] = {"step": 0}

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    @torch.no_grad()
    def snapshot(self):
        """Store the current parameters and the full gradient there; returns the full loss."""
        loss = evaluate(self.full_closure)
        for p in self._params():
            state = self.state[p]
            state["snapshot"] = p.detach().clone()
            state["full_grad"] = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
        return loss

    @torch.no_grad()
    def step(self, closure=None):
        """One variance-reduced step (after a :meth:`snapshot` every ``snapshot_every`` steps); ``closure``
        computes the mini-batch loss and calls backward (required: it is called at the parameters and at
        the snapshot). Returns the mini-batch loss before the step; ``p.grad`` then holds the
        variance-reduced gradient the step took."""
        if closure is None:
            raise RuntimeError("SVRG.step needs a closure (the mini-batch loss, calling backward); it is "
                               "evaluated at the parameters and at the snapshot")
        counter = self.state["svrg"]
        if counter["step"] % self.snapshot_every == 0:
            self.snapshot()
        counter["step"] += 1
        params = self._params()
        loss = evaluate(closure)
        grads = {p: p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in params}
        current = {p: p.detach().clone() for p in params}
        for p in params:
            p.copy_(self.state[p]["snapshot"])
        evaluate(closure)
        for group in self.param_groups:
            for p in group["params"]:
                p.copy_(current[p])
                at_snapshot = p.grad if p.grad is not None else torch.zeros_like(p)
                update = grads[p].sub_(at_snapshot).add_(self.state[p]["full_grad"])
                p.grad = update.clone()   # (not the snapshot's gradient, the closure's last)
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                p.add_(update, alpha=-group["lr"])
        return loss
