"""Returns and advantages from rollouts, time-major: tensors of shape ``(T, N)`` for ``N`` environments.

``dones[t]`` is 1 where the episode ended at step ``t`` (terminated, not
merely truncated by a time limit: a truncated episode is bootstrapped from
the value of the state it stopped in, by the caller). Nothing flows across
an episode boundary.
"""
from __future__ import annotations

import torch

from .. import validation as check


def _series(owner: str, name: str, value, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """A finite floating-point tensor (of ``shape``, if given; else 2-D ``(T, N)``)."""
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        got = f"a {value.dtype} tensor" if isinstance(value, torch.Tensor) else type(value).__name__
        raise TypeError(f"{owner}: parameter '{name}' must be a floating-point torch tensor, got {got}")
    if (tuple(value.shape) != shape) if shape is not None else value.ndim != 2:
        raise ValueError(f"{owner}: parameter '{name}' must have shape {shape if shape else '(T, N)'}, "
                         f"got {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{owner}: parameter '{name}' must be finite everywhere, got NaN or inf")
    return value


def _dones(owner: str, dones, shape: tuple[int, ...]) -> torch.Tensor:
    dones = _series(owner, "dones", dones, shape)
    if not bool(((dones == 0) | (dones == 1)).all()):
        raise ValueError(f"{owner}: parameter 'dones' must hold 0 or 1 (whether each step ended its episode)")
    return dones


def _fraction(owner: str, name: str, value) -> float:
    value = check.real(owner, name, value)
    if not 0 <= value <= 1:
        raise ValueError(f"{owner}: parameter '{name}' must be in [0, 1], got {value!r}")
    return value


def discounted_returns(rewards: torch.Tensor, dones: torch.Tensor, gamma: float,
                       bootstrap: torch.Tensor | None = None) -> torch.Tensor:
    """``G_t = r_t + gamma (1 - done_t) G_{t+1}``, with ``G_T = bootstrap`` (default 0), shape ``(T, N)``.
    ``rewards`` and ``dones`` (0 or 1) are finite float tensors ``(T, N)``, ``bootstrap`` ``(N,)``,
    ``gamma`` in [0, 1]."""
    owner = "discounted_returns"
    rewards = _series(owner, "rewards", rewards)
    dones = _dones(owner, dones, tuple(rewards.shape))
    gamma = _fraction(owner, "gamma", gamma)
    if bootstrap is not None:
        bootstrap = _series(owner, "bootstrap", bootstrap, tuple(rewards.shape[1:]))
    returns = torch.empty_like(rewards)
    running = rewards.new_zeros(rewards.shape[1:]) if bootstrap is None else bootstrap
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * (1.0 - dones[t]) * running
        returns[t] = running
    return returns


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016).

    ``delta_t = r_t + gamma (1 - done_t) V(s_{t+1}) - V(s_t)`` and
    ``A_t = delta_t + gamma lam (1 - done_t) A_{t+1}``, with ``V(s_T) =
    next_value`` (N,). Returns the advantages and the value targets
    ``A + V``, both ``(T, N)``. ``lam = 1`` gives Monte-Carlo returns minus
    the baseline, ``lam = 0`` one-step TD errors. ``rewards``, ``values`` and ``dones`` (0 or 1)
    are finite float tensors ``(T, N)``; ``gamma`` and ``lam`` in [0, 1].
    """
    owner = "gae"
    rewards = _series(owner, "rewards", rewards)
    values = _series(owner, "values", values, tuple(rewards.shape))
    dones = _dones(owner, dones, tuple(rewards.shape))
    next_value = _series(owner, "next_value", next_value, tuple(rewards.shape[1:]))
    gamma, lam = _fraction(owner, "gamma", gamma), _fraction(owner, "lam", lam)
    advantages = torch.empty_like(rewards)
    running = rewards.new_zeros(rewards.shape[1:])
    following = next_value
    for t in range(len(rewards) - 1, -1, -1):
        live = 1.0 - dones[t]
        delta = rewards[t] + gamma * live * following - values[t]
        running = delta + gamma * lam * live * running
        advantages[t] = running
        following = values[t]
    return advantages, advantages + values
