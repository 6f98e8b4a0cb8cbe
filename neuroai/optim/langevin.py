"""Stochastic gradient Langevin dynamics (Welling & Teh 2011)."""
from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

from .. import validation as check


class Langevin(Optimizer):
    r"""Gradient descent with Gaussian noise scaled to a temperature:

    .. math::
        \theta \leftarrow \theta - \eta\,(\nabla L(\theta) + \lambda\theta)
                          + \sqrt{2\,\eta\,T}\;\xi, \qquad \xi \sim \mathcal N(0, I)

    For small steps the iterates sample the Gibbs distribution
    :math:`\propto e^{-L(\theta)/T}`; ``temperature=0`` is plain gradient
    descent (``torch.optim.SGD`` without momentum). The noise comes from a
    generator seeded by ``seed`` (one per device), saved in the state dict.

    Args:
        params: parameters or parameter groups.
        lr: step size :math:`\eta` (> 0).
        temperature: :math:`T` (>= 0), in units of the loss.
        weight_decay: :math:`\lambda` (>= 0).
        seed: seed of the noise generator.
    """

    def __init__(self, params, lr: float = 1e-3, temperature: float = 1e-4, weight_decay: float = 0.0,
                 seed: int = 0):
        lr = check.real("Langevin", "lr", lr, positive=True)
        temperature = check.real("Langevin", "temperature", temperature, nonnegative=True)
        weight_decay = check.real("Langevin", "weight_decay", weight_decay, nonnegative=True)
        self.seed = check.seed("Langevin", seed)
        self._generators: dict[torch.device, torch.Generator] = {}
        super().__init__(params, dict(lr=lr, temperature=temperature, weight_decay=weight_decay))

    def _generator(self, device: torch.device) -> torch.Generator:
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    @torch.no_grad()
    def step(self, closure=None):
        """One Langevin step; ``closure`` re-evaluates the loss (optional)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, temperature, decay = group["lr"], group["temperature"], group["weight_decay"]
            scale = math.sqrt(2.0 * lr * temperature)
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if decay == 0 else p.grad.add(p, alpha=decay)
                p.add_(grad, alpha=-lr)
                if scale > 0:
                    noise = torch.randn(p.shape, generator=self._generator(p.device), device=p.device, dtype=p.dtype)
                    p.add_(noise, alpha=scale)
        return loss

    def state_dict(self):
        """The optimizer's state dict plus ``"generators"``: the noise generators' states, keyed by device."""
        state = super().state_dict()
        state["generators"] = {str(d): g.get_state() for d, g in self._generators.items()}
        return state

    def load_state_dict(self, state_dict):
        """Restore a :meth:`state_dict`, the noise generators included, so the noise continues exactly."""
        state_dict = dict(state_dict)
        generators = state_dict.pop("generators", {})
        super().load_state_dict(state_dict)
        for device, gen_state in generators.items():
            self._generator(torch.device(device)).set_state(gen_state)
