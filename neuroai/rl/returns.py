"""Returns and advantages from rollouts, time-major: tensors of shape ``(T, N)`` for ``N`` environments.

``dones[t]`` is 1 where the episode ended at step ``t`` (terminated, not
merely truncated by a time limit: a truncated episode is bootstrapped from
the value of the state it stopped in, by the caller). Nothing flows across
an episode boundary.
"""
from __future__ import annotations

import torch


def discounted_returns(rewards: torch.Tensor, dones: torch.Tensor, gamma: float,
                       bootstrap: torch.Tensor | None = None) -> torch.Tensor:
    """``G_t = r_t + gamma (1 - done_t) G_{t+1}``, with ``G_T = bootstrap`` (default 0), shape ``(T, N)``."""
    returns = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0]) if bootstrap is None else bootstrap
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
    the baseline, ``lam = 0`` one-step TD errors.
    """
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    following = next_value
    for t in range(len(rewards) - 1, -1, -1):
        live = 1.0 - dones[t]
        delta = rewards[t] + gamma * live * following - values[t]
        running = delta + gamma * lam * live * running
        advantages[t] = running
        following = values[t]
    return advantages, advantages + values
