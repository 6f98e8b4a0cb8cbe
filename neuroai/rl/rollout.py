"""On-policy rollouts from vectorized environments (shared by PPO and A2C)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .envs import finished_episodes


@dataclass
class Rollout:
    """``num_steps`` steps of ``N`` environments, time-major: ``obs`` (T, N, obs), ``actions`` (T, N) indices
    or ``(T, N, *action_shape)`` continuous actions as sampled (before clipping to the bounds), ``log_probs``,
    ``values``, ``rewards``, ``dones``, ``starts`` (T, N; ``starts[t]``: ``obs[t]`` begins an episode);
    ``state``: the policy's recurrent state before ``obs[0]`` (None for feed-forward policies); ``last``: the
    :class:`Cursor` to continue from; ``episodes``: ``(step, return)`` of the episodes that ended."""
    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    starts: torch.Tensor
    state: object
    last: "Cursor"
    episodes: list[tuple[int, float]]


@dataclass
class Cursor:
    """Where a stream of rollouts stands: observations (N, obs), whether each begins an episode
    (N,), the policy's recurrent state, and the global step."""
    obs: torch.Tensor
    starts: torch.Tensor
    state: object
    step: int

    def state_dict(self) -> dict:
        """The cursor as tensors and an int, for a checkpoint (the recurrent state as the policy
        keeps it: None or a tuple of tensors)."""
        return {"obs": self.obs, "starts": self.starts, "state": self.state, "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a :meth:`state_dict`, its tensors moved to this cursor's device."""
        def moved(value):
            if value is None:
                return None
            if isinstance(value, (tuple, list)):
                return tuple(moved(v) for v in value)
            return value.to(self.obs.device)
        self.obs, self.starts, self.state = moved(state["obs"]), moved(state["starts"]), moved(state["state"])
        self.step = int(state["step"])


def cursor(policy, obs, device) -> Cursor:
    """The start of a stream: first observations, all beginning episodes, the initial state."""
    obs = torch.as_tensor(obs, dtype=torch.float32, device=device)
    return Cursor(obs, torch.ones(len(obs), device=device), policy.initial_state(len(obs), device), 0)


@torch.no_grad()
def collect(envs, policy, at: Cursor, num_steps: int, gamma: float, scale_rewards=None,
            noise_every: int = -1) -> Rollout:
    """Step ``envs`` ``num_steps`` times from ``at`` with actions sampled from ``policy``
    (an :class:`~neuroai.rl.ppo.ActorCritic`; continuous actions are clipped to the action space's bounds
    for the environment and stored as sampled).

    ``dones`` marks both terminations and time-limit truncations (no
    advantage flows across either), and a truncated step's reward gets
    ``gamma V(final observation)`` added, so the cut episode is bootstrapped
    rather than treated as ended by failure. ``scale_rewards``: a
    :class:`~neuroai.rl.normalization.RewardScaler` the rewards go through first (the values, and so the
    bootstrap, are then in its units). ``noise_every``: steps between redraws of a state-dependent
    policy's exploration noise (:meth:`~neuroai.rl.policies.ActorCritic.reset_noise`; -1: only at the start).
    """
    obs, starts, state, step = at.obs, at.starts, at.state, at.step
    device, n = obs.device, obs.shape[0]
    shape = (num_steps, n)
    space = envs.single_action_space
    out = Rollout(torch.zeros((*shape, *obs.shape[1:]), device=device),
                  torch.zeros((*shape, *space.shape), device=device) if policy.continuous
                  else torch.zeros(shape, dtype=torch.long, device=device),
                  *(torch.zeros(shape, device=device) for _ in range(5)), state, at, [])
    for t in range(num_steps):
        if t == 0 or (noise_every > 0 and t % noise_every == 0):
            policy.reset_noise(n)
        logits, value, next_state = policy.sequence(obs[None], state, starts[None])
        dist = policy.distribution(logits[0])
        action = policy.sample(logits[0])
        given = action.cpu().numpy()
        if policy.continuous:
            given = np.clip(given, space.low, space.high).astype(space.dtype)
        next_obs, reward, terminated, truncated, infos = envs.step(given)
        reward = torch.as_tensor(reward, dtype=torch.float32, device=device)
        if scale_rewards is not None:
            reward = scale_rewards(reward, torch.as_tensor(terminated | truncated, device=device))
        cut = np.flatnonzero(truncated & ~terminated)
        if cut.size:
            final = torch.as_tensor(np.stack(infos["final_obs"][cut]), dtype=torch.float32, device=device)
            _, final_value, _ = policy.sequence(final[None], policy.select_state(next_state, cut),
                                                torch.zeros(1, len(cut), device=device))
            reward[cut] += gamma * final_value[0]
        out.obs[t], out.actions[t], out.log_probs[t], out.values[t] = obs, action, dist.log_prob(action), value[0]
        out.rewards[t], out.starts[t] = reward, starts
        out.dones[t] = torch.as_tensor(terminated | truncated, dtype=torch.float32, device=device)
        step += n
        out.episodes += [(step, r) for r in finished_episodes(infos)]
        obs, starts, state = torch.as_tensor(next_obs, dtype=torch.float32, device=device), out.dones[t], next_state
    out.last = Cursor(obs, starts, state, step)
    return out


@torch.no_grad()
def bootstrap_value(policy, at: Cursor) -> torch.Tensor:
    """``V`` of the observations a rollout stopped at (N,), for GAE."""
    return policy.sequence(at.obs[None], at.state, at.starts[None])[1][0]
