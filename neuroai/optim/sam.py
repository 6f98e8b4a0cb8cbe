"""Sharpness-aware minimization (SAM) and its adaptive variant (ASAM) around any base optimizer.

SAM (Foret et al. 2021) minimizes the worst loss in a ball around the
weights, ``max_{|e| <= rho} L(w + e)``. To first order the worst
perturbation is ``e = rho g / |g|`` with ``g = grad L(w)``, and each step

1. evaluates ``g`` at ``w``;
2. moves to ``w + e`` and evaluates the gradient ``g_sam = grad L(w + e)`` there;
3. returns to ``w`` and lets the base optimizer step with ``g_sam``.

ASAM (Kwon et al. 2021) measures the ball in weight-relative units, so
that rescaling a layer does not change its sharpness: with the elementwise
operator ``T_w = |w| + eta``, the perturbation is
``e = rho T_w^2 g / |T_w g|`` (``rho`` is then larger: 0.5 where SAM uses
0.05 in Kwon et al.'s CIFAR runs). ``|.|`` is the Euclidean norm over all
parameters of all groups.

Each step costs two forward and backward passes, so the closure is
required; the :class:`~neuroai.training.Trainer` provides it (see
:mod:`neuroai.optim.protocol`).
"""
from __future__ import annotations

import torch
from torch.optim import Optimizer

from .. import validation as check
from .line_search import evaluate
from .protocol import step_protocol


class SAM(Optimizer):
    """Sharpness-aware minimization (``adaptive=True``: ASAM) around a base optimizer.

    Args:
        - params: parameters or param-group dicts (their options are the base optimizer's).
        - base_optimizer: a first-order ``torch.optim.Optimizer`` class or a name of
          :func:`~neuroai.optim.make_optimizer` (default ``torch.optim.SGD``); it is
          built over ``params`` with ``base_hyper`` and shares SAM's param groups
          and state, so learning-rate schedulers and ``state_dict`` see both.
        - rho: radius of the neighbourhood (> 0; units of the weights, or for
          ASAM relative to them).
        - adaptive: ASAM's weight-relative neighbourhood.
        - eta: ASAM's offset in ``T_w = |w| + eta`` (>= 0); unused by SAM.
        - base_hyper: the base optimizer's hyper-parameters (``lr``, ``momentum``, ...).

    ``step(closure)`` returns the loss at the unperturbed weights.
    """

    requires_closure = True

    def __init__(self, params, base_optimizer=torch.optim.SGD, rho: float = 0.05, adaptive: bool = False,
                 eta: float = 0.01, **base_hyper):
        from .registry import make_optimizer  # (the registry names SAM itself)
        owner = type(self).__name__
        options = dict(rho=check.real(owner, "rho", rho, positive=True),
                       adaptive=check.flag(owner, "adaptive", adaptive),
                       eta=check.real(owner, "eta", eta, nonnegative=True))
        if not (isinstance(base_optimizer, str)
                or isinstance(base_optimizer, type) and issubclass(base_optimizer, Optimizer)):
            raise TypeError(f"{owner}: parameter 'base_optimizer' must be a torch.optim.Optimizer class or a name "
                            f"of make_optimizer, got {base_optimizer!r}")
        base = make_optimizer(base_optimizer, params, **base_hyper)
        protocol = step_protocol(base)
        if protocol.requires_closure or protocol.create_graph or isinstance(base, SAM):
            raise ValueError(f"{owner}: parameter 'base_optimizer' must be a first-order method that steps on the "
                             f"gradient it is given, got {type(base).__name__}, which needs a closure or "
                             f"second-order gradients")
        super().__init__(base.param_groups, {**base.defaults, **options})  # the same group dicts as the base's
        self.base_optimizer = base
        self.state = base.state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore SAM's and its base optimizer's state (one ``state_dict`` holds both)."""
        super().load_state_dict(state_dict)
        self.base_optimizer.param_groups = self.param_groups   # torch rebuilt both: share them again
        self.base_optimizer.state = self.state

    def _perturbations(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(p, e)`` for every parameter with a gradient: ``e`` as in the module docstring."""
        scaled = []   # (p, group, T_w g, T_w)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    t = p.abs() + group["eta"] if group["adaptive"] else None
                    scaled.append((p, group, p.grad if t is None else t * p.grad, t))
        if not scaled:
            return []
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(tg) for _, _, tg, _ in scaled]))
        if not bool(norm > 0) or not bool(torch.isfinite(norm)):   # a stationary point: no worst direction
            return []
        return [(p, group["rho"] / norm * (tg if t is None else t * tg)) for p, group, tg, t in scaled]

    @torch.no_grad()
    def step(self, closure=None):
        """One SAM step; ``closure`` zeroes the gradients, computes the loss, calls backward and returns the
        loss (it is evaluated at the weights and at the perturbed weights). Returns the first loss."""
        if closure is None:
            raise RuntimeError(f"{type(self).__name__}.step needs a closure that re-evaluates the loss and calls "
                               "backward (SAM takes the gradient at the weights and at the perturbed weights)")
        loss = evaluate(closure)
        perturbations = self._perturbations()
        if perturbations:
            saved = [p.clone() for p, _ in perturbations]
            for p, e in perturbations:
                p.add_(e)
            evaluate(closure)
            for (p, _), old in zip(perturbations, saved):
                p.copy_(old)
        self.base_optimizer.step()
        return loss
