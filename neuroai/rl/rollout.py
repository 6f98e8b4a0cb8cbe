"""On-policy rollouts from vectorized environments (shared by PPO and A2C)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import Categorical

from .envs import finished_episodes


@dataclass
class Rollout:
    """``num_steps`` steps of ``N`` environments, time-major: ``obs`` (T, N, obs), ``actions``,
    ``log_probs``, ``values``, ``rewards``, ``dones`` (T, N); ``last_obs`` (N, obs), the observations
    to continue from; ``episodes``: ``(step, return)`` of the episodes that ended."""
    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    last_obs: torch.Tensor
    episodes: list[tuple[int, float]]


@torch.no_grad()
def collect(envs, policy, obs: torch.Tensor, num_steps: int, gamma: float, step: int) -> Rollout:
    """Step ``envs`` ``num_steps`` times with actions sampled from ``policy`` (an ActorCritic),
    starting from ``obs`` (N, obs) at global step ``step``.

    ``dones`` marks both terminations and time-limit truncations (no
    advantage flows across either), and a truncated step's reward gets
    ``gamma V(final observation)`` added, so the cut episode is bootstrapped
    rather than treated as ended by failure.
    """
    device = obs.device
    n = obs.shape[0]
    shape = (num_steps, n)
    out = Rollout(torch.zeros((*shape, *obs.shape[1:]), device=device), torch.zeros(shape, dtype=torch.long,
                  device=device), *(torch.zeros(shape, device=device) for _ in range(4)), obs, [])
    for t in range(num_steps):
        logits, value = policy(obs)
        dist = Categorical(logits=logits)
        action = dist.sample()
        next_obs, reward, terminated, truncated, infos = envs.step(action.cpu().numpy())
        reward = torch.as_tensor(reward, dtype=torch.float32, device=device)
        cut = np.flatnonzero(truncated & ~terminated)
        if cut.size:
            final = torch.as_tensor(np.stack(infos["final_obs"][cut]), dtype=torch.float32, device=device)
            reward[cut] += gamma * policy(final)[1]
        out.obs[t], out.actions[t], out.log_probs[t], out.values[t] = obs, action, dist.log_prob(action), value
        out.rewards[t] = reward
        out.dones[t] = torch.as_tensor(terminated | truncated, dtype=torch.float32, device=device)
        step += n
        out.episodes += [(step, r) for r in finished_episodes(infos)]
        obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device)
    out.last_obs = obs
    return out
