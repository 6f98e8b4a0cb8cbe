"""Rate encoders in torch: a batch of stimulus values becomes spike tensors
on the values' device, for models that encode inside ``forward``.

The front-end encoders (:mod:`neuroai.coding`) draw from a NumPy generator
and feed the :class:`neuroai.Simulator`; these draw from a
``torch.Generator`` so a batch is encoded where it lives. The rules are the
same: :class:`~neuroai.coding.PoissonRate` gives spikes of the same
distribution (another random stream), :class:`~neuroai.coding.RegularRate`
the very same spikes.
"""
from __future__ import annotations

import torch

from ..coding import PoissonRate, RegularRate

ENCODERS = (PoissonRate, RegularRate)


def _per_step(owner: str, max_rate: float, values: torch.Tensor, dt: float) -> torch.Tensor:
    """Expected spikes per step, ``values * max_rate * dt``, in float64, after
    the checks of :mod:`neuroai.coding` (values in [0, 1], at most one spike
    per step)."""
    x = values.detach().to(torch.float64)
    if x.numel():
        low, high = float(x.min()), float(x.max())
        if not (torch.isfinite(x).all() and low >= 0.0 and high <= 1.0):
            raise ValueError(f"{owner}: stimulus values must lie in [0, 1], got values in [{low}, {high}]")
    p = x * (max_rate * dt)
    if p.numel() and float(p.max()) > 1.0:
        raise ValueError(f"{owner}: max_rate * dt = {max_rate * dt} exceeds 1 spike per step; it must be at most 1 "
                         f"(lower max_rate or dt)")
    return p


def encode(encoder, values: torch.Tensor, steps: int, dt: float,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Spikes of ``encoder`` for ``values`` over ``steps`` steps of ``dt`` seconds.

    values: floating tensor (batch, n) in [0, 1] (any shape (..., n) works).
    Returns 0/1 spikes of shape (steps, batch, n), time first, in the dtype
    and on the device of ``values``; no gradient flows to ``values``.

    :class:`~neuroai.coding.PoissonRate`: one Bernoulli draw per step and
    neuron with probability ``value * max_rate * dt``, from ``generator``
    (None: torch's global generator). The uniforms are drawn on the
    generator's device and compared there, so a CPU generator gives the same
    spikes whatever the values' device.
    :class:`~neuroai.coding.RegularRate`: deterministic, equal to
    ``RegularRate.encode`` element for element (computed in float64 as it is).
    """
    if not isinstance(encoder, ENCODERS):
        raise TypeError(f"torch_coding.encode: 'encoder' must be one of {[e.__name__ for e in ENCODERS]}, "
                        f"got {type(encoder).__name__}")
    if not isinstance(values, torch.Tensor) or not values.is_floating_point():
        got = f"tensor of dtype {values.dtype}" if isinstance(values, torch.Tensor) else type(values).__name__
        raise TypeError(f"torch_coding.encode: 'values' must be a floating torch.Tensor, got {got}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"torch_coding.encode: parameter 'steps' must be an integer >= 1, got {steps!r}")
    owner = type(encoder).__name__
    p = _per_step(owner, encoder.max_rate, values, dt)
    if isinstance(encoder, PoissonRate):
        device = values.device if generator is None else generator.device
        u = torch.rand((steps,) + tuple(p.shape), generator=generator, dtype=torch.float64, device=device)
        spikes = u < p.to(device)
    else:  # RegularRate: a phase accumulator, as RegularRate.encode computes it
        k = torch.arange(steps + 1, dtype=torch.float64, device=p.device).reshape((-1,) + (1,) * p.dim())
        spikes = torch.diff(torch.floor(p * k + 1e-9), dim=0) > 0
    return spikes.to(dtype=values.dtype, device=values.device)
